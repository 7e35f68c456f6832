//! Series over time: an indicator's trend and an early-warning trigger series.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::axis::{Mesh, category_axes, plot, runs, span};
use crate::render::{Chart, OrDraw, render};
use crate::series::{
    Stroke, band, boxed_note, broken_line, dots, finite, interval, note, shade_slot,
};
use crate::style::{Key, Mark, Theme, colour, fit, font, frame, no_data, text_width};
use crate::{ChartError, Format, Rendered, Size};

/// One period of an indicator's trend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrendPoint {
    /// The period, as shown on the x axis (`2019/20`, `2024-W05`, ...).
    pub label: String,
    /// The value; `None` (or non-finite) leaves a gap.
    pub value: Option<f64>,
    /// Lower confidence limit.
    pub lower: Option<f64>,
    /// Upper confidence limit.
    pub upper: Option<f64>,
    /// The benchmark's value in this period (dashed line).
    pub benchmark: Option<f64>,
    /// The value is suppressed (small numbers): drawn as a gap with a "suppressed" note.
    pub suppressed: bool,
    /// A marker (a trigger alarm, say): a red triangle at the point with this text above it.
    pub marker: Option<String>,
}

/// A line chart of `points` in order: the values, a shaded confidence band, a dashed benchmark
/// line, triangle markers with their text, and suppressed periods shaded with a note.
pub fn trend(
    title: &str,
    y_label: &str,
    points: &[TrendPoint],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(
        &Trend {
            title,
            y_label,
            points,
        },
        size,
        format,
    )
}

/// One week (or other period) of an early-warning series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriggerPoint {
    /// The period, as shown on the x axis.
    pub label: String,
    /// The observed count or rate.
    pub observed: Option<f64>,
    /// The expected value (baseline).
    pub expected: Option<f64>,
    /// Lower alarm threshold.
    pub lower: Option<f64>,
    /// Upper alarm threshold.
    pub upper: Option<f64>,
    /// The method raised an alarm for this period (highlighted in red).
    pub alarm: bool,
}

/// The observed series (line and dots), the expected line (dashed), the threshold band
/// `lower..upper` shaded, and alarm periods highlighted in red.
pub fn trigger(
    title: &str,
    points: &[TriggerPoint],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(&Trigger { title, points }, size, format)
}

struct Trend<'a> {
    title: &'a str,
    y_label: &'a str,
    points: &'a [TrendPoint],
}

struct Trigger<'a> {
    title: &'a str,
    points: &'a [TriggerPoint],
}

/// Adds room above the values for markers drawn over them.
fn with_headroom(mut values: Vec<f64>, fraction: f64) -> Vec<f64> {
    let (lo, hi) = span(values.iter().copied(), false);
    values.push(hi + (hi - lo) * fraction);
    values
}

impl Chart for Trend<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let points = self.points;
        let values: Vec<Option<f64>> = points
            .iter()
            .map(|p| finite(p.value).filter(|_| !p.suppressed))
            .collect();
        let cis: Vec<Option<(f64, f64)>> = points
            .iter()
            .map(|p| interval(p.lower, p.upper).filter(|_| !p.suppressed))
            .collect();
        let benchmarks: Vec<Option<f64>> = points.iter().map(|p| finite(p.benchmark)).collect();
        let has_marker = points.iter().any(|p| p.marker.is_some());

        let mut keys = vec![Key::new(Mark::Line(colour::VALUE), "Value")];
        if cis.iter().any(Option::is_some) {
            keys.push(Key::new(Mark::Fill(colour::CI), "Confidence interval"));
        }
        if benchmarks.iter().any(Option::is_some) {
            keys.push(Key::new(Mark::Dash(colour::BENCHMARK), "Benchmark"));
        }
        if has_marker {
            keys.push(Key::new(Mark::Triangle(colour::ALARM), "Alarm"));
        }
        if points.iter().any(|p| p.suppressed) {
            keys.push(Key::new(
                Mark::Fill(colour::SUPPRESSED),
                "Suppressed (small numbers)",
            ));
        }
        if points.is_empty() {
            keys.clear();
        }
        let area = frame(root, theme, self.title, &keys, self.y_label)?;
        if points.is_empty() {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }

        let mut ys: Vec<f64> = values
            .iter()
            .chain(&benchmarks)
            .flatten()
            .copied()
            .collect();
        ys.extend(cis.iter().flatten().flat_map(|&(a, b)| [a, b]));
        let nothing = ys.is_empty();
        if has_marker {
            ys = with_headroom(ys, 0.2);
        }
        let labels = points.iter().map(|p| p.label.clone()).collect();
        let (x, y) = category_axes(&area, theme, labels, ys, false, false);
        let chart = plot(
            &area,
            theme,
            x,
            y,
            Mesh {
                x_grid: false,
                y_grid: true,
                x_desc: "",
            },
        )?;

        let note_style = theme.text(font::NOTE, colour::MUTED);
        let slot = f64::from(chart.plotting_area().dim_in_pixel().0) / points.len() as f64;
        let bottom = chart.y_range().start;
        // Suppressed periods: shaded columns, and a note centred on each run of them where it
        // does not run into the previous note.
        let note_w = text_width("suppressed", &note_style);
        let mut free_from = f64::NEG_INFINITY;
        for run in runs(points.len(), |i| points[i].suppressed) {
            for i in run.clone() {
                shade_slot(&chart, i, colour::SUPPRESSED, false)?;
            }
            let middle = (run.start + run.end - 1) as f64 / 2.0;
            let centre_px = (middle + 0.5) * slot;
            if centre_px - note_w / 2.0 >= free_from {
                let pos = (HPos::Center, VPos::Bottom);
                note(
                    &chart,
                    "suppressed",
                    &note_style,
                    (middle, bottom),
                    (0, -theme.px(4.0)),
                    pos,
                )?;
                free_from = centre_px + note_w / 2.0 + theme.pxf(8.0);
            }
        }
        band(&chart, &cis, colour::CI)?;
        broken_line(
            &chart,
            theme,
            &benchmarks,
            colour::BENCHMARK,
            Stroke::Dashed,
            true,
        )?;
        broken_line(&chart, theme, &values, colour::VALUE, Stroke::Solid, false)?;
        let valued = values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.map(|v| (i as f64, v)));
        dots(&chart, theme, valued, 3.5, (colour::VALUE, WHITE))?;

        let marker_style = theme.text(font::NOTE, colour::ALARM);
        for (i, p) in points.iter().enumerate() {
            let Some(text) = &p.marker else { continue };
            let at = (i as f64, values[i].unwrap_or(bottom));
            let lift = theme.px(9.0);
            let triangle = EmptyElement::at(at)
                + TriangleMarker::new((0, -lift), theme.px(6.0), colour::ALARM.filled());
            chart.plotting_area().draw(&triangle).or_draw()?;
            let text = fit(text, &marker_style, theme.pxf(140.0).max(slot));
            boxed_note(
                &chart,
                &text,
                &marker_style,
                at,
                (0, -lift - theme.px(8.0)),
                (HPos::Center, VPos::Bottom),
            )?;
        }
        if nothing {
            no_data(&chart.plotting_area().strip_coord_spec(), theme)?;
        }
        Ok(Vec::new())
    }
}

impl Chart for Trigger<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let points = self.points;
        let observed: Vec<Option<f64>> = points.iter().map(|p| finite(p.observed)).collect();
        let expected: Vec<Option<f64>> = points.iter().map(|p| finite(p.expected)).collect();
        let thresholds: Vec<Option<(f64, f64)>> =
            points.iter().map(|p| interval(p.lower, p.upper)).collect();

        let mut keys = vec![
            Key::new(Mark::Line(colour::VALUE), "Observed"),
            Key::new(Mark::Dash(colour::EXPECTED), "Expected"),
            Key::new(Mark::Fill(colour::THRESHOLD), "Threshold band"),
        ];
        if points.iter().any(|p| p.alarm) {
            keys.push(Key::new(Mark::Dot(colour::ALARM), "Alarm"));
        }
        if points.is_empty() {
            keys.clear();
        }
        let area = frame(root, theme, self.title, &keys, "")?;
        if points.is_empty() {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }

        let mut ys: Vec<f64> = observed
            .iter()
            .chain(&expected)
            .flatten()
            .copied()
            .collect();
        ys.extend(thresholds.iter().flatten().flat_map(|&(a, b)| [a, b]));
        let nothing = ys.is_empty();
        let labels = points.iter().map(|p| p.label.clone()).collect();
        let (x, y) = category_axes(&area, theme, labels, ys, true, false);
        let chart = plot(
            &area,
            theme,
            x,
            y,
            Mesh {
                x_grid: false,
                y_grid: true,
                x_desc: "",
            },
        )?;

        for (i, _) in points.iter().enumerate().filter(|(_, p)| p.alarm) {
            shade_slot(&chart, i, colour::ALARM_WEEK, false)?;
        }
        band(&chart, &thresholds, colour::THRESHOLD)?;
        broken_line(
            &chart,
            theme,
            &expected,
            colour::EXPECTED,
            Stroke::Dashed,
            true,
        )?;
        broken_line(
            &chart,
            theme,
            &observed,
            colour::VALUE,
            Stroke::Solid,
            false,
        )?;
        let at = |alarm: bool| {
            move |(i, v): (usize, &Option<f64>)| {
                v.filter(|_| points[i].alarm == alarm)
                    .map(|v| (i as f64, v))
            }
        };
        dots(
            &chart,
            theme,
            observed.iter().enumerate().filter_map(at(false)),
            3.0,
            (colour::VALUE, WHITE),
        )?;
        dots(
            &chart,
            theme,
            observed.iter().enumerate().filter_map(at(true)),
            5.0,
            (colour::ALARM, WHITE),
        )?;
        if nothing {
            no_data(&chart.plotting_area().strip_coord_spec(), theme)?;
        }
        Ok(Vec::new())
    }
}
