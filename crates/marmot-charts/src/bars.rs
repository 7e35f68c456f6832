//! Bar charts: values by deprivation quantile (with the SII line) and areas compared with a
//! benchmark (horizontal bars).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::axis::{
    Axis, Mesh, category_axes, fitted_labels, plot, thin_step, tick_style, ticks_for, x_label_area,
};
use crate::render::{Chart, OrDraw, render};
use crate::series::{Stroke, finite, interval, line, note, shade_slot, whisker};
use crate::style::{
    Key, Mark, Theme, colour, fit, font, frame, no_data, outcome_colour, outcome_keys, text_height,
};
use crate::{ChartError, Format, Outcome, Rendered, Size};

/// One bar: a quantile's or an area's value with its confidence interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bar {
    /// The category (quantile or area name).
    pub label: String,
    /// The value; `None` (or non-finite) draws no bar.
    pub value: Option<f64>,
    /// Lower confidence limit.
    pub lower: Option<f64>,
    /// Upper confidence limit.
    pub upper: Option<f64>,
    /// The comparison with the benchmark (the bar's colour).
    pub outcome: Outcome,
    /// The value is suppressed: no bar, a "suppressed" note instead.
    pub suppressed: bool,
}

impl Bar {
    fn shown(&self) -> Option<f64> {
        finite(self.value).filter(|_| !self.suppressed)
    }

    fn ci(&self) -> Option<(f64, f64)> {
        interval(self.lower, self.upper).filter(|_| !self.suppressed)
    }
}

/// Vertical bars by deprivation quantile, in the order given (most deprived first, labels as
/// given), coloured by outcome, with confidence whiskers, a dashed benchmark line and the SII
/// regression line from `(left edge, sii_line.0)` to `(right edge, sii_line.1)`.
pub fn quantiles(
    title: &str,
    y_label: &str,
    bars: &[Bar],
    sii_line: Option<(f64, f64)>,
    benchmark: Option<f64>,
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    let sii_line = sii_line.filter(|(a, b)| a.is_finite() && b.is_finite());
    let chart = Quantiles {
        title,
        y_label,
        bars,
        sii_line,
        benchmark: finite(benchmark),
    };
    render(&chart, size, format)
}

/// Areas compared with a benchmark: horizontal bars (first area at the top, names on the
/// axis) coloured by outcome, with confidence whiskers, a dashed benchmark line and a legend of
/// outcomes. Many areas need a tall image: about 16 pixels per area keeps every name.
pub fn compare(
    title: &str,
    y_label: &str,
    bars: &[Bar],
    benchmark: Option<f64>,
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(
        &Compare {
            title,
            value_label: y_label,
            bars,
            benchmark: finite(benchmark),
        },
        size,
        format,
    )
}

struct Quantiles<'a> {
    title: &'a str,
    y_label: &'a str,
    bars: &'a [Bar],
    sii_line: Option<(f64, f64)>,
    benchmark: Option<f64>,
}

struct Compare<'a> {
    title: &'a str,
    value_label: &'a str,
    bars: &'a [Bar],
    benchmark: Option<f64>,
}

/// The legend of bar charts: outcomes drawn, then the extra lines.
fn bar_keys(bars: &[Bar], mut extra: Vec<Key>) -> Vec<Key> {
    let mut keys = outcome_keys(
        bars.iter()
            .filter(|b| b.shown().is_some())
            .map(|b| b.outcome),
        false,
    );
    keys.append(&mut extra);
    if bars.iter().any(|b| b.suppressed) {
        keys.push(Key::new(
            Mark::Fill(colour::SUPPRESSED),
            "Suppressed (small numbers)",
        ));
    }
    keys
}

/// Every value the value axis must cover.
fn extent(bars: &[Bar], more: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut values: Vec<f64> = bars.iter().filter_map(Bar::shown).collect();
    values.extend(bars.iter().filter_map(Bar::ci).flat_map(|(a, b)| [a, b]));
    values.extend(more);
    values
}

impl Chart for Quantiles<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let bars = self.bars;
        let mut extra = Vec::new();
        if self.sii_line.is_some() {
            extra.push(Key::new(Mark::Line(colour::SII), "SII"));
        }
        if self.benchmark.is_some() {
            extra.push(Key::new(Mark::Dash(colour::BENCHMARK), "Benchmark"));
        }
        let keys = if bars.is_empty() {
            Vec::new()
        } else {
            bar_keys(bars, extra)
        };
        let area = frame(root, theme, self.title, &keys, self.y_label)?;
        if bars.is_empty() {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }
        let sii = self.sii_line.map(|(a, b)| [a, b]).into_iter().flatten();
        let values = extent(bars, sii.chain(self.benchmark));
        let labels = bars.iter().map(|b| b.label.clone()).collect();
        let (x, y) = category_axes(&area, theme, labels, values, true, true);
        let (left, right) = x.ends();
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
        let slot = f64::from(chart.plotting_area().dim_in_pixel().0) / bars.len() as f64;
        for (i, bar) in bars.iter().enumerate() {
            let x = i as f64;
            if bar.suppressed {
                shade_slot(&chart, i, colour::SUPPRESSED, false)?;
                let text = fit("suppressed", &note_style, slot - 4.0);
                note(
                    &chart,
                    &text,
                    &note_style,
                    (x, 0.0),
                    (0, -theme.px(4.0)),
                    (HPos::Center, VPos::Bottom),
                )?;
            }
            if let Some(v) = bar.shown() {
                let fill = outcome_colour(bar.outcome).filled();
                chart
                    .plotting_area()
                    .draw(&Rectangle::new([(x - 0.35, 0.0), (x + 0.35, v)], fill))
                    .or_draw()?;
            }
            if let Some((lo, hi)) = bar.ci() {
                whisker(&chart, theme, (x, lo), (x, hi), (0.1, 0.0), colour::WHISKER)?;
            }
        }
        if let Some(b) = self.benchmark {
            line(
                &chart,
                theme,
                vec![(left, b), (right, b)],
                colour::BENCHMARK,
                1.5,
                Stroke::Dashed,
            )?;
        }
        if let Some((a, b)) = self.sii_line {
            line(
                &chart,
                theme,
                vec![(left, a), (right, b)],
                colour::SII,
                2.5,
                Stroke::Solid,
            )?;
        }
        Ok(Vec::new())
    }
}

impl Chart for Compare<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let bars = self.bars;
        let extra = self
            .benchmark
            .map(|_| Key::new(Mark::Dash(colour::BENCHMARK), "Benchmark"));
        let keys = if bars.is_empty() {
            Vec::new()
        } else {
            bar_keys(bars, extra.into_iter().collect())
        };
        let area = frame(root, theme, self.title, &keys, "")?;
        if bars.is_empty() {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }
        let (w, h) = area.dim_in_pixel();
        let n = bars.len();
        let style = tick_style(theme);

        // Names on the y axis, first area at the top (category n-1), cut to 38% of the width
        // and thinned if the rows are too low for them.
        let names = bars.iter().rev().map(|b| b.label.clone());
        let (names, _) = fitted_labels(names, &style, f64::from(w) * 0.38);
        let plot_h =
            f64::from(h) - f64::from(x_label_area(theme, self.value_label)) - theme.pxf(4.0);
        let step = thin_step(n, plot_h / n as f64, text_height(&style), 1.0);
        let y = Axis::categories(names, step);
        let values = extent(bars, self.benchmark);
        let x = Axis::numeric(values, true, ticks_for(f64::from(w) * 0.6, theme.pxf(90.0)));
        let (bottom, top) = y.ends();
        let mesh = Mesh {
            x_grid: true,
            y_grid: false,
            x_desc: self.value_label,
        };
        let chart = plot(&area, theme, x, y, mesh)?;

        let note_style = theme.text(font::NOTE, colour::MUTED);
        let row_px = f64::from(chart.plotting_area().dim_in_pixel().1) / n as f64;
        let note_fits = row_px >= text_height(&note_style);
        for (i, bar) in bars.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            if bar.suppressed {
                shade_slot(&chart, n - 1 - i, colour::SUPPRESSED, true)?;
            }
            if bar.suppressed && note_fits {
                note(
                    &chart,
                    "suppressed",
                    &note_style,
                    (0.0, y),
                    (theme.px(4.0), 0),
                    (HPos::Left, VPos::Center),
                )?;
            }
            if let Some(v) = bar.shown() {
                let fill = outcome_colour(bar.outcome).filled();
                chart
                    .plotting_area()
                    .draw(&Rectangle::new([(0.0, y - 0.35), (v, y + 0.35)], fill))
                    .or_draw()?;
            }
            if let Some((lo, hi)) = bar.ci() {
                whisker(&chart, theme, (lo, y), (hi, y), (0.0, 0.2), colour::WHISKER)?;
            }
        }
        if let Some(b) = self.benchmark {
            line(
                &chart,
                theme,
                vec![(b, bottom), (b, top)],
                colour::BENCHMARK,
                1.5,
                Stroke::Dashed,
            )?;
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressed_bars_are_not_values() {
        let bar = Bar {
            value: Some(5.0),
            lower: Some(1.0),
            upper: Some(9.0),
            suppressed: true,
            ..Bar::default()
        };
        assert_eq!(bar.shown(), None);
        assert_eq!(bar.ci(), None);
        assert_eq!(extent(&[bar], [2.0]), vec![2.0]);
    }
}
