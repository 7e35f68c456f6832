//! Fingertips-style spine charts: many indicators for one area against the comparator areas.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::axis::format_value;
use crate::render::{Chart, OrDraw, render};
use crate::series::finite;
use crate::style::{
    Key, Mark, Theme, anchor, colour, draw_text, fit, font, frame, no_data, outcome_colour,
    outcome_keys, text_height,
};
use crate::{ChartError, Format, Outcome, Rendered, Size};

/// One indicator of a spine chart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpineRow {
    /// The indicator's name.
    pub indicator: String,
    /// The area's value.
    pub value: Option<f64>,
    /// The benchmark's value (the centre line).
    pub benchmark: Option<f64>,
    /// The worst value among the comparator areas.
    pub worst: Option<f64>,
    /// The 25th percentile of the comparator areas (the 25th percentile from the worst end,
    /// whichever way the indicator points; only the pair matters).
    pub q25: Option<f64>,
    /// The 75th percentile of the comparator areas.
    pub q75: Option<f64>,
    /// The best value among the comparator areas.
    pub best: Option<f64>,
    /// The area's comparison with the benchmark (the circle's colour).
    pub outcome: Outcome,
    /// The area's value is suppressed: no circle, "suppressed" in the value column.
    pub suppressed: bool,
}

/// A spine chart for `area`: one row per indicator with its name, the area's value and the
/// benchmark's value as text, then the spine: the benchmark on the centre line, a light bar
/// from worst to best of the comparator areas, a darker bar from the 25th to the 75th
/// percentile, and a circle for the area coloured by outcome.
///
/// Each row is scaled so the benchmark is centred: position = 0.5 + 0.5 * (v - benchmark) /
/// max(|worst - benchmark|, |best - benchmark|), mirrored when worst > best so that worst is
/// always on the left. Missing benchmarks fall back to the middle of worst and best; a zero or
/// missing spread falls back to the other values' spread; positions are clamped to the spine.
/// Many indicators need a tall image: about 24 pixels per row reads well.
pub fn spine(
    title: &str,
    area: &str,
    rows: &[SpineRow],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(&Spine { title, area, rows }, size, format)
}

struct Spine<'a> {
    title: &'a str,
    area: &'a str,
    rows: &'a [SpineRow],
}

/// How a row's values map to 0..=1 across the spine.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RowScale {
    centre: f64,
    half: f64,
    sign: f64,
}

impl RowScale {
    fn of(row: &SpineRow) -> Option<RowScale> {
        let (worst, best) = (finite(row.worst), finite(row.best));
        let value = finite(row.value).filter(|_| !row.suppressed);
        let middle = worst.zip(best).map(|(w, b)| (w + b) / 2.0);
        let centre = finite(row.benchmark).or(middle).or(value)?;
        let sign = match (worst, best) {
            (Some(w), Some(b)) if w > b => -1.0,
            _ => 1.0,
        };
        let spread = |values: &[Option<f64>]| {
            values
                .iter()
                .flatten()
                .map(|v| (v - centre).abs())
                .fold(0.0, f64::max)
        };
        let mut half = spread(&[worst, best]);
        if half <= 0.0 {
            half = spread(&[finite(row.q25), finite(row.q75), value]);
        }
        if half <= 0.0 {
            half = 1.0;
        }
        Some(RowScale { centre, half, sign })
    }

    fn position(&self, v: f64) -> f64 {
        (0.5 + 0.5 * self.sign * (v - self.centre) / self.half).clamp(0.0, 1.0)
    }
}

impl Chart for Spine<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let rows = self.rows;
        let mut keys = vec![
            Key::new(Mark::Fill(colour::RANGE), "Worst to best"),
            Key::new(Mark::Fill(colour::IQR), "25th to 75th percentile"),
            Key::new(Mark::Line(colour::BENCHMARK), "Benchmark"),
        ];
        keys.extend(outcome_keys(
            rows.iter()
                .filter(|r| !r.suppressed && finite(r.value).is_some())
                .map(|r| r.outcome),
            true,
        ));
        if rows.is_empty() {
            keys.clear();
        }
        let area = frame(root, theme, self.title, &keys, "")?;
        if rows.is_empty() {
            no_data(&area, theme)?;
            return Ok(Vec::new());
        }

        let (w, h) = area.dim_in_pixel();
        let (w, h) = (f64::from(w), f64::from(h));
        let head = theme.bold(font::NOTE, colour::MUTED);
        let top_gap = theme.pxf(6.0);
        let head_h = top_gap + text_height(&head) + theme.pxf(10.0);
        let row_h = ((h - head_h) / rows.len() as f64).min(theme.pxf(30.0));
        let body = theme.text_within(font::TICK, row_h * 0.8, colour::TEXT);
        let muted = theme.text_within(font::TICK, row_h * 0.8, colour::MUTED);

        // Columns: name | area value | benchmark value | spine.
        let name_w = w * 0.36;
        let value_r = name_w + w * 0.11;
        let bench_r = value_r + w * 0.11;
        let spine_x0 = bench_r + theme.pxf(18.0);
        let spine_x1 = w - theme.pxf(10.0);
        let spine_w = (spine_x1 - spine_x0).max(1.0);
        let col_w = w * 0.11 - theme.pxf(8.0);
        let px = |x: f64| x.round() as i32;

        let top = (HPos::Left, VPos::Top);
        let top_right = (HPos::Right, VPos::Top);
        let headers = [
            ("Indicator", 0.0, top, name_w),
            (self.area, value_r, top_right, col_w),
            ("Benchmark", bench_r, top_right, col_w),
            ("Worst", spine_x0, top, spine_w / 2.0),
            ("Best", spine_x1, top_right, spine_w / 2.0),
        ];
        for (text, x, (hp, vp), max_w) in headers {
            draw_text(
                &area,
                &fit(text, &head, max_w),
                &anchor(&head, hp, vp),
                (px(x), px(top_gap)),
            )?;
        }

        let row_y = |i: usize| head_h + i as f64 * row_h;
        let at_x = |scale: &RowScale, v: f64| spine_x0 + scale.position(v) * spine_w;
        for (i, row) in rows.iter().enumerate() {
            let (y0, yc) = (row_y(i), row_y(i) + row_h / 2.0);
            // Centred text sits a little high with ab_glyph's metrics.
            let text_y = px(yc + text_height(&body) * 0.1);
            if i % 2 == 0 {
                let band = Rectangle::new(
                    [(0, px(y0)), (px(w), px(y0 + row_h))],
                    colour::BAND_ALT.filled(),
                );
                area.draw(&band).or_draw()?;
            }
            let left = anchor(&body, HPos::Left, VPos::Center);
            draw_text(
                &area,
                &fit(&row.indicator, &body, name_w - theme.pxf(8.0)),
                &left,
                (theme.px(4.0), text_y),
            )?;
            let value_text = match finite(row.value) {
                _ if row.suppressed => ("suppressed".to_string(), &muted),
                Some(v) => (format_value(v), &body),
                None => ("–".to_string(), &muted),
            };
            let bench_text = finite(row.benchmark).map_or("–".to_string(), format_value);
            for ((text, style), right) in [(value_text, value_r), ((bench_text, &body), bench_r)] {
                let style = anchor(style, HPos::Right, VPos::Center);
                draw_text(
                    &area,
                    &fit(&text, &style, col_w),
                    &style,
                    (px(right), text_y),
                )?;
            }

            let Some(scale) = RowScale::of(row) else {
                continue;
            };
            let bar_h = row_h * 0.56;
            let bars = [
                (row.worst, row.best, colour::RANGE),
                (row.q25, row.q75, colour::IQR),
            ];
            for (a, b, fill) in bars {
                if let (Some(a), Some(b)) = (finite(a), finite(b)) {
                    let (xa, xb) = (at_x(&scale, a), at_x(&scale, b));
                    let corners = [
                        (px(xa.min(xb)), px(yc - bar_h / 2.0)),
                        (px(xa.max(xb)), px(yc + bar_h / 2.0)),
                    ];
                    area.draw(&Rectangle::new(corners, fill.filled()))
                        .or_draw()?;
                }
            }
        }

        let centre = px(spine_x0 + spine_w / 2.0);
        let centre_line = vec![(centre, px(head_h)), (centre, px(row_y(rows.len())))];
        area.draw(&PathElement::new(
            centre_line,
            colour::BENCHMARK.stroke_width(theme.px(2.0).max(1) as u32),
        ))
        .or_draw()?;

        let radius = (row_h * 0.3).min(theme.pxf(7.0)).max(2.0).round() as i32;
        for (i, row) in rows.iter().enumerate() {
            let (Some(scale), Some(v)) = (RowScale::of(row), finite(row.value)) else {
                continue;
            };
            if row.suppressed {
                continue;
            }
            let c = (px(at_x(&scale, v)), px(row_y(i) + row_h / 2.0));
            area.draw(&Circle::new(
                c,
                radius,
                outcome_colour(row.outcome).filled(),
            ))
            .or_draw()?;
            area.draw(&Circle::new(c, radius, colour::OUTLINE.stroke_width(1)))
                .or_draw()?;
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(value: f64, benchmark: f64, worst: f64, best: f64) -> SpineRow {
        SpineRow {
            value: Some(value),
            benchmark: Some(benchmark),
            worst: Some(worst),
            best: Some(best),
            ..SpineRow::default()
        }
    }

    #[test]
    fn benchmark_is_centred_and_worst_is_left() {
        let s = RowScale::of(&row(60.0, 50.0, 10.0, 70.0)).unwrap();
        assert_eq!(s.position(50.0), 0.5);
        assert_eq!(s.position(10.0), 0.0);
        assert!((s.position(70.0) - 0.75).abs() < 1e-12);
        assert!((s.position(60.0) - 0.625).abs() < 1e-12);
        // Lower is better: worst is the largest value, still on the left.
        let s = RowScale::of(&row(40.0, 50.0, 90.0, 30.0)).unwrap();
        assert_eq!(s.position(90.0), 0.0);
        assert_eq!(s.position(30.0), 0.75);
    }

    #[test]
    fn degenerate_rows_do_not_divide_by_zero() {
        let s = RowScale::of(&row(5.0, 5.0, 5.0, 5.0)).unwrap();
        assert_eq!(s.position(5.0), 0.5);
        let lonely = SpineRow {
            value: Some(3.0),
            ..SpineRow::default()
        };
        assert_eq!(RowScale::of(&lonely).unwrap().position(3.0), 0.5);
        assert_eq!(RowScale::of(&SpineRow::default()), None);
        let nan = SpineRow {
            value: Some(f64::NAN),
            benchmark: Some(f64::NAN),
            ..SpineRow::default()
        };
        assert_eq!(RowScale::of(&nan), None);
    }
}
