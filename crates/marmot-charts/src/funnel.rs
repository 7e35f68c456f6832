//! Funnel plots: values against their denominators with control limits around a target.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::axis::{Axis, Mesh, clip_polyline, plot, ticks_for, x_label_area};
use crate::render::{Chart, render};
use crate::series::{Stroke, dots, line};
use crate::style::{Key, Mark, Theme, colour, frame, no_data, outcome_colour, outcome_keys};
use crate::{ChartError, Format, Outcome, Rendered, Size};

/// An area on a funnel plot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelPoint {
    /// The area's name.
    pub label: String,
    /// The denominator (population, episodes...): the x position.
    pub denominator: f64,
    /// The value: the y position.
    pub value: f64,
    /// The comparison with the limits (the point's colour).
    pub outcome: Outcome,
}

/// The control limits at one denominator (the curves join these, in denominator order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunnelLimits {
    /// The denominator.
    pub denominator: f64,
    /// Lower 95% limit.
    pub lower_95: f64,
    /// Upper 95% limit.
    pub upper_95: f64,
    /// Lower 99.8% limit.
    pub lower_99_8: f64,
    /// Upper 99.8% limit.
    pub upper_99_8: f64,
}

/// A funnel plot: x = denominator, y = value; the target line, the 95% (dashed) and 99.8%
/// (solid) limit curves, clipped to the plot, and the points coloured by outcome. The value
/// axis covers the points, the target and the limits over the points' denominators (the
/// limits at tiny denominators would flatten everything else).
pub fn funnel(
    title: &str,
    y_label: &str,
    target: f64,
    points: &[FunnelPoint],
    limits: &[FunnelLimits],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(
        &Funnel {
            title,
            y_label,
            target,
            points,
            limits,
        },
        size,
        format,
    )
}

struct Funnel<'a> {
    title: &'a str,
    y_label: &'a str,
    target: f64,
    points: &'a [FunnelPoint],
    limits: &'a [FunnelLimits],
}

const X_DESC: &str = "Denominator";

impl Chart for Funnel<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let points: Vec<&FunnelPoint> = self
            .points
            .iter()
            .filter(|p| p.denominator.is_finite() && p.value.is_finite())
            .collect();
        let mut limits: Vec<&FunnelLimits> = self
            .limits
            .iter()
            .filter(|l| l.denominator.is_finite())
            .collect();
        limits.sort_by(|a, b| a.denominator.total_cmp(&b.denominator));
        let target = Some(self.target).filter(|t| t.is_finite());

        let mut keys = Vec::new();
        if target.is_some() {
            keys.push(Key::new(Mark::Line(colour::BENCHMARK), "Target"));
        }
        if !limits.is_empty() {
            keys.push(Key::new(Mark::Dash(colour::LIMIT), "95% limits"));
            keys.push(Key::new(Mark::Line(colour::LIMIT), "99.8% limits"));
        }
        keys.extend(outcome_keys(points.iter().map(|p| p.outcome), true));
        let empty = points.is_empty() && limits.is_empty();
        if empty {
            keys.clear();
        }
        let area = frame(root, theme, self.title, &keys, self.y_label)?;
        if empty {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }

        let curves: [Vec<(f64, f64)>; 4] = [
            limits.iter().map(|l| (l.denominator, l.lower_95)).collect(),
            limits.iter().map(|l| (l.denominator, l.upper_95)).collect(),
            limits
                .iter()
                .map(|l| (l.denominator, l.lower_99_8))
                .collect(),
            limits
                .iter()
                .map(|l| (l.denominator, l.upper_99_8))
                .collect(),
        ];
        let smallest = points
            .iter()
            .map(|p| p.denominator)
            .fold(f64::INFINITY, f64::min);
        let in_view = |d: f64| !smallest.is_finite() || d >= smallest;
        let mut ys: Vec<f64> = points.iter().map(|p| p.value).chain(target).collect();
        ys.extend(
            curves
                .iter()
                .flatten()
                .filter(|(d, _)| in_view(*d))
                .map(|&(_, v)| v),
        );

        let (w, h) = area.dim_in_pixel();
        let plot_h = f64::from(h) - f64::from(x_label_area(theme, X_DESC));
        let y = Axis::numeric(ys, false, ticks_for(plot_h, theme.pxf(48.0)));
        let denominators = points
            .iter()
            .map(|p| p.denominator)
            .chain(limits.iter().map(|l| l.denominator));
        let x = Axis::numeric(
            denominators,
            true,
            ticks_for(f64::from(w) * 0.85, theme.pxf(90.0)),
        );
        let (x_ends, y_ends) = (x.ends(), y.ends());
        let chart = plot(
            &area,
            theme,
            x,
            y,
            Mesh {
                x_grid: true,
                y_grid: true,
                x_desc: X_DESC,
            },
        )?;

        for (i, curve) in curves.into_iter().enumerate() {
            let finite: Vec<(f64, f64)> =
                curve.into_iter().filter(|(_, v)| v.is_finite()).collect();
            let stroke = if i < 2 { Stroke::Dashed } else { Stroke::Solid };
            for part in clip_polyline(&finite, x_ends, y_ends) {
                line(&chart, theme, part, colour::LIMIT, 1.5, stroke)?;
            }
        }
        if let Some(t) = target {
            line(
                &chart,
                theme,
                vec![(x_ends.0, t), (x_ends.1, t)],
                colour::BENCHMARK,
                2.0,
                Stroke::Solid,
            )?;
        }
        for p in &points {
            let fill = outcome_colour(p.outcome);
            dots(
                &chart,
                theme,
                [(p.denominator, p.value)],
                4.5,
                (fill, colour::OUTLINE),
            )?;
        }
        Ok(Vec::new())
    }
}
