//! Marks drawn on a [`Plot`]: lines with gaps, bands, shaded columns, dots, whiskers and notes.

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::ChartError;
use crate::axis::{Plot, runs};
use crate::render::OrDraw;
use crate::style::{Theme, anchor, text_height, text_width};

/// A finite number, or nothing.
pub(crate) fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

/// Both ends finite, in order.
pub(crate) fn interval(lower: Option<f64>, upper: Option<f64>) -> Option<(f64, f64)> {
    match (finite(lower), finite(upper)) {
        (Some(a), Some(b)) => Some((a.min(b), a.max(b))),
        _ => None,
    }
}

/// How a line is stroked.
#[derive(Clone, Copy)]
pub(crate) enum Stroke {
    Solid,
    Dashed,
}

/// A straight or dashed line through `points` (data coordinates).
pub(crate) fn line<DB: DrawingBackend>(
    plot: &Plot<DB>,
    theme: &Theme,
    points: Vec<(f64, f64)>,
    colour: RGBColor,
    width: f64,
    stroke: Stroke,
) -> Result<(), ChartError> {
    let style = colour.stroke_width(theme.px(width).max(1) as u32);
    let area = plot.plotting_area();
    match stroke {
        Stroke::Solid => area.draw(&PathElement::new(points, style)),
        Stroke::Dashed => area.draw(&DashedPathElement::new(
            points,
            theme.px(6.0),
            theme.px(4.0),
            style,
        )),
    }
    .or_draw()
}

/// A line through category `i` at `values[i]`, broken where a value is missing. An isolated
/// value gets a short horizontal stroke when `isolated` (a dot marks it otherwise).
pub(crate) fn broken_line<DB: DrawingBackend>(
    plot: &Plot<DB>,
    theme: &Theme,
    values: &[Option<f64>],
    colour: RGBColor,
    stroke: Stroke,
    isolated: bool,
) -> Result<(), ChartError> {
    for run in runs(values.len(), |i| values[i].is_some()) {
        let points: Vec<(f64, f64)> = run
            .clone()
            .filter_map(|i| values[i].map(|v| (i as f64, v)))
            .collect();
        if let [(x, v)] = points[..] {
            if isolated {
                line(
                    plot,
                    theme,
                    vec![(x - 0.3, v), (x + 0.3, v)],
                    colour,
                    2.0,
                    stroke,
                )?;
            }
        } else {
            line(plot, theme, points, colour, 2.0, stroke)?;
        }
    }
    Ok(())
}

/// A shaded band over categories from `bounds[i].0` to `bounds[i].1`, broken where missing.
pub(crate) fn band<DB: DrawingBackend>(
    plot: &Plot<DB>,
    bounds: &[Option<(f64, f64)>],
    colour: RGBColor,
) -> Result<(), ChartError> {
    for run in runs(bounds.len(), |i| bounds[i].is_some()) {
        let edge: Vec<(f64, (f64, f64))> = run
            .clone()
            .filter_map(|i| bounds[i].map(|b| (i as f64, b)))
            .collect();
        let outline: Vec<(f64, f64)> = if let [(x, (lo, hi))] = edge[..] {
            vec![
                (x - 0.12, lo),
                (x + 0.12, lo),
                (x + 0.12, hi),
                (x - 0.12, hi),
            ]
        } else {
            let upper = edge.iter().map(|&(x, (_, hi))| (x, hi));
            let lower = edge.iter().rev().map(|&(x, (lo, _))| (x, lo));
            upper.chain(lower).collect()
        };
        plot.plotting_area()
            .draw(&Polygon::new(outline, colour.filled()))
            .or_draw()?;
    }
    Ok(())
}

/// Shades the slot of category `i` across the plot: a column on a category x axis, a row on a
/// category y axis (`across_y`).
pub(crate) fn shade_slot<DB: DrawingBackend>(
    plot: &Plot<DB>,
    i: usize,
    colour: RGBColor,
    across_y: bool,
) -> Result<(), ChartError> {
    let (c, x, y) = (i as f64, plot.x_range(), plot.y_range());
    let corners = if across_y {
        [(x.start, c - 0.5), (x.end, c + 0.5)]
    } else {
        [(c - 0.5, y.start), (c + 0.5, y.end)]
    };
    plot.plotting_area()
        .draw(&Rectangle::new(corners, colour.filled()))
        .or_draw()
}

/// Filled circles of radius `radius` (scaled pixels) with a thin `rim`.
pub(crate) fn dots<DB: DrawingBackend>(
    plot: &Plot<DB>,
    theme: &Theme,
    points: impl IntoIterator<Item = (f64, f64)>,
    radius: f64,
    (colour, rim): (RGBColor, RGBColor),
) -> Result<(), ChartError> {
    let r = theme.px(radius).max(2);
    for p in points {
        let area = plot.plotting_area();
        area.draw(&Circle::new(p, r, colour.filled())).or_draw()?;
        area.draw(&Circle::new(p, r, rim.stroke_width(1)))
            .or_draw()?;
    }
    Ok(())
}

/// A confidence interval from `a` to `b` (data coordinates) with end caps `cap` wide across
/// the interval's direction (in the other axis's data units).
pub(crate) fn whisker<DB: DrawingBackend>(
    plot: &Plot<DB>,
    theme: &Theme,
    a: (f64, f64),
    b: (f64, f64),
    cap: (f64, f64),
    colour: RGBColor,
) -> Result<(), ChartError> {
    line(plot, theme, vec![a, b], colour, 1.3, Stroke::Solid)?;
    for end in [a, b] {
        let ends = vec![
            (end.0 - cap.0, end.1 - cap.1),
            (end.0 + cap.0, end.1 + cap.1),
        ];
        line(plot, theme, ends, colour, 1.3, Stroke::Solid)?;
    }
    Ok(())
}

/// Text at data point `at`, shifted by `offset` pixels, anchored by `h`/`v`.
pub(crate) fn note<DB: DrawingBackend>(
    plot: &Plot<DB>,
    text: &str,
    style: &TextStyle<'static>,
    at: (f64, f64),
    offset: (i32, i32),
    (h, v): (HPos, VPos),
) -> Result<(), ChartError> {
    if text.is_empty() {
        return Ok(());
    }
    let element = EmptyElement::at(at) + Text::new(text.to_string(), offset, anchor(style, h, v));
    plot.plotting_area().draw(&element).or_draw()
}

/// A [`note`] on a white box, readable over lines.
pub(crate) fn boxed_note<DB: DrawingBackend>(
    plot: &Plot<DB>,
    text: &str,
    style: &TextStyle<'static>,
    at: (f64, f64),
    offset: (i32, i32),
    (h, v): (HPos, VPos),
) -> Result<(), ChartError> {
    let (w, t) = (text_width(text, style) as i32, text_height(style) as i32);
    let x0 = match h {
        HPos::Left => offset.0,
        HPos::Center => offset.0 - w / 2,
        HPos::Right => offset.0 - w,
    };
    let y0 = match v {
        VPos::Top => offset.1,
        VPos::Center => offset.1 - t / 2,
        VPos::Bottom => offset.1 - t,
    };
    let pad = 2;
    let backing = EmptyElement::at(at)
        + Rectangle::new(
            [(x0 - pad, y0 - pad), (x0 + w + pad, y0 + t + pad)],
            WHITE.filled(),
        );
    plot.plotting_area().draw(&backing).or_draw()?;
    note(plot, text, style, at, offset, (h, v))
}
