//! Axes: ranges that include every value drawn, "nice" ticks, number formatting, category
//! labels thinned to fit, and the plot (axes, grid) every Cartesian chart is built on.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::ChartError;
use crate::render::OrDraw;
use crate::style::{Theme, colour, fit, font, text_height, text_width};

/// A linear axis with its own tick positions and labels (numbers or categories).
#[derive(Debug, Clone)]
pub(crate) struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Labels,
}

#[derive(Debug, Clone)]
enum Labels {
    Numbers { decimals: usize },
    Categories(Vec<String>),
}

impl Axis {
    /// A value axis covering every finite value in `values` (and zero if `include_zero`),
    /// extended to whole ticks, with at most about `max_ticks` ticks.
    pub(crate) fn numeric(
        values: impl IntoIterator<Item = f64>,
        include_zero: bool,
        max_ticks: usize,
    ) -> Axis {
        let (lo, hi) = span(values, include_zero);
        let step = nice_step(hi - lo, max_ticks.max(2));
        let lo_edge = (lo / step).floor() * step;
        let hi_edge = (hi / step).ceil() * step;
        let first = (lo_edge / step).round() as i64;
        let last = (hi_edge / step).round() as i64;
        let ticks = (first..=last).map(|k| k as f64 * step + 0.0).collect();
        Axis {
            lo: lo_edge,
            hi: hi_edge,
            ticks,
            labels: Labels::Numbers {
                decimals: decimals_of(step),
            },
        }
    }

    /// A category axis: category `i` sits at `i`, the range is -0.5..n-0.5, and every
    /// `step`-th category is labelled.
    pub(crate) fn categories(labels: Vec<String>, step: usize) -> Axis {
        let n = labels.len().max(1);
        Axis {
            lo: -0.5,
            hi: n as f64 - 0.5,
            ticks: (0..labels.len())
                .step_by(step.max(1))
                .map(|i| i as f64)
                .collect(),
            labels: Labels::Categories(labels),
        }
    }

    /// The lower and upper ends of the axis.
    pub(crate) fn ends(&self) -> (f64, f64) {
        (self.lo, self.hi)
    }

    /// The label at a tick.
    pub(crate) fn label(&self, value: f64) -> String {
        match &self.labels {
            Labels::Numbers { decimals } => format_number(value, *decimals),
            Labels::Categories(labels) => {
                let i = value.round();
                if i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            }
        }
    }

    /// The width in pixels of the widest tick label.
    pub(crate) fn widest_label(&self, style: &TextStyle) -> f64 {
        self.ticks
            .iter()
            .map(|&t| text_width(&self.label(t), style))
            .fold(0.0, f64::max)
    }
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        let px = f64::from(limit.0) + t * f64::from(limit.1 - limit.0);
        // Far-off values (clipped elsewhere) stay representable.
        px.clamp(-1.0e6, 1.0e6).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

/// The smallest and largest finite values (with zero if asked); never an empty range.
pub(crate) fn span(values: impl IntoIterator<Item = f64>, include_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if include_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()) {
        if lo == 0.0 {
            return (0.0, 1.0);
        }
        let d = lo.abs() * 0.1;
        return (lo - d, hi + d);
    }
    (lo, hi)
}

/// A step of 1, 2, 2.5 or 5 times a power of ten giving at most `max_ticks` intervals.
fn nice_step(width: f64, max_ticks: usize) -> f64 {
    let raw = width / max_ticks as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * magnitude)
}

/// Decimal places needed to write multiples of `step`.
fn decimals_of(step: f64) -> usize {
    (0..=10)
        .find(|&d| {
            let scaled = step * 10f64.powi(d as i32);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
        })
        .unwrap_or(10)
}

/// `value` with `decimals` places, thousands grouped with commas (1,000 and over).
pub(crate) fn format_number(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return String::new();
    }
    let text = format!("{:.*}", decimals, value);
    let text = if text.trim_start_matches(['-', '0', '.']).is_empty() {
        format!("{:.*}", decimals, 0.0)
    } else {
        text
    };
    let (sign, digits) = text
        .strip_prefix('-')
        .map_or(("", text.as_str()), |d| ("-", d));
    let (int, frac) = digits
        .split_once('.')
        .map_or((digits, None), |(i, f)| (i, Some(f)));
    let int = if int.len() > 3 {
        let mut grouped = String::with_capacity(int.len() + int.len() / 3);
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        grouped
    } else {
        int.to_string()
    };
    match frac {
        Some(f) => format!("{sign}{int}.{f}"),
        None => format!("{sign}{int}"),
    }
}

/// A value for reading (not an axis tick): decimals by magnitude.
pub(crate) fn format_value(value: f64) -> String {
    let a = value.abs();
    let decimals = if a >= 100.0 || a == 0.0 {
        0
    } else if a >= 1.0 {
        1
    } else if a >= 0.1 {
        2
    } else {
        (2.0 - a.log10().floor()).clamp(0.0, 8.0) as usize
    };
    format_number(value, decimals)
}

/// Label every `step`-th of `count` slots `slot_px` wide so that labels `label_px` wide do not
/// touch.
pub(crate) fn thin_step(count: usize, slot_px: f64, label_px: f64, gap_px: f64) -> usize {
    if count == 0 || slot_px <= 0.0 {
        return 1;
    }
    ((label_px + gap_px) / slot_px)
        .ceil()
        .clamp(1.0, count as f64) as usize
}

/// The widest label in pixels, each cut to `max_px`.
pub(crate) fn fitted_labels(
    labels: impl IntoIterator<Item = String>,
    style: &TextStyle,
    max_px: f64,
) -> (Vec<String>, f64) {
    let labels: Vec<String> = labels.into_iter().map(|l| fit(&l, style, max_px)).collect();
    let widest = labels
        .iter()
        .map(|l| text_width(l, style))
        .fold(0.0, f64::max);
    (labels, widest)
}

/// Maximal runs of consecutive indices in `0..n` where `keep` holds.
pub(crate) fn runs(n: usize, keep: impl Fn(usize) -> bool) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for i in 0..=n {
        match (start, i < n && keep(i)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The parts of a polyline inside the box `x`..`y` (Liang-Barsky on each segment).
pub(crate) fn clip_polyline(
    points: &[(f64, f64)],
    x: (f64, f64),
    y: (f64, f64),
) -> Vec<Vec<(f64, f64)>> {
    let mut parts: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for pair in points.windows(2) {
        match clip_segment(pair[0], pair[1], x, y) {
            Some((a, b)) => {
                if current.last() != Some(&a) {
                    if current.len() >= 2 {
                        parts.push(std::mem::take(&mut current));
                    }
                    current = vec![a];
                }
                current.push(b);
            }
            None => {
                if current.len() >= 2 {
                    parts.push(std::mem::take(&mut current));
                }
                current.clear();
            }
        }
    }
    if current.len() >= 2 {
        parts.push(current);
    }
    parts
}

fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    x: (f64, f64),
    y: (f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x.0),
        (dx, x.1 - a.0),
        (-dy, a.1 - y.0),
        (dy, y.1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 || !t0.is_finite() || !t1.is_finite() {
        return None;
    }
    let at = |t: f64| {
        if t == 0.0 {
            a
        } else if t == 1.0 {
            b
        } else {
            (a.0 + t * dx, a.1 + t * dy)
        }
    };
    Some((at(t0), at(t1)))
}

/// A Cartesian plot on our own axes.
pub(crate) type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;

/// How the axes of a plot look.
pub(crate) struct Mesh<'t> {
    /// Vertical grid lines at the x ticks.
    pub(crate) x_grid: bool,
    /// Horizontal grid lines at the y ticks.
    pub(crate) y_grid: bool,
    /// The x-axis title, written below the axis ("" for none).
    pub(crate) x_desc: &'t str,
}

/// Pixels the x-axis labels (and the x-axis title, if any) need below the plot.
pub(crate) fn x_label_area(theme: &Theme, x_desc: &str) -> i32 {
    let tick = text_height(&theme.text(font::TICK, colour::MUTED)) as i32 + theme.px(12.0);
    if x_desc.is_empty() {
        tick
    } else {
        tick + text_height(&theme.text(font::LABEL, colour::MUTED)) as i32 + theme.px(8.0)
    }
}

/// Pixels the y-axis tick labels of `axis` need left of the plot.
pub(crate) fn y_label_area(theme: &Theme, axis: &Axis) -> i32 {
    axis.widest_label(&tick_style(theme)) as i32 + theme.px(14.0)
}

/// The style of tick labels.
pub(crate) fn tick_style(theme: &Theme) -> TextStyle<'static> {
    theme.text(font::TICK, colour::MUTED)
}

/// At most this many ticks fit `px` pixels with `spacing` pixels between them.
pub(crate) fn ticks_for(px: f64, spacing: f64) -> usize {
    (px / spacing.max(1.0)).floor().clamp(2.0, 10.0) as usize
}

/// Builds a plot on `area` with `x` and `y` and draws its axes, tick labels and grid.
pub(crate) fn plot<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    theme: &Theme,
    x: Axis,
    y: Axis,
    mesh: Mesh,
) -> Result<Plot<'a, DB>, ChartError> {
    let y_area = y_label_area(theme, &y);
    let x_area = x_label_area(theme, mesh.x_desc);
    let (xa, ya) = (x.clone(), y.clone());
    let mut chart = ChartBuilder::on(area)
        .margin_right(right_margin(theme, &x))
        .margin_top(theme.px(4.0))
        .x_label_area_size(x_area)
        .y_label_area_size(y_area)
        .build_cartesian_2d(x, y)
        .or_draw()?;
    let x_fmt = |v: &f64| xa.label(*v);
    let y_fmt = |v: &f64| ya.label(*v);
    let mut style = chart.configure_mesh();
    style
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .axis_style(colour::AXIS)
        .bold_line_style(colour::GRID)
        .label_style(tick_style(theme))
        .axis_desc_style(theme.text(font::LABEL, colour::MUTED))
        .set_all_tick_mark_size(theme.px(4.0));
    if !mesh.x_grid {
        style.disable_x_mesh();
    }
    if !mesh.y_grid {
        style.disable_y_mesh();
    }
    if !mesh.x_desc.is_empty() {
        style.x_desc(mesh.x_desc);
    }
    style.draw().or_draw()?;
    Ok(chart)
}

/// A value axis (y) for `values` and a category axis (x) for `labels`, for the plot that will
/// be built on `area`. Labels are cut to their slot (`fit_slot`, for a few categories) or to
/// a fixed width, then thinned so that they do not touch.
pub(crate) fn category_axes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    labels: Vec<String>,
    values: Vec<f64>,
    include_zero: bool,
    fit_slot: bool,
) -> (Axis, Axis) {
    let (w, h) = area.dim_in_pixel();
    let plot_h = f64::from(h) - f64::from(x_label_area(theme, "")) - theme.pxf(4.0);
    let y = Axis::numeric(values, include_zero, ticks_for(plot_h, theme.pxf(48.0)));
    let style = tick_style(theme);
    let slot = plot_width(w, theme, &y) / labels.len().max(1) as f64;
    let gap = theme.pxf(14.0);
    let max_px = if fit_slot {
        (slot - gap).max(theme.pxf(30.0))
    } else {
        theme.pxf(150.0)
    };
    let (labels, widest) = fitted_labels(labels, &style, max_px);
    let step = thin_step(labels.len(), slot, widest, gap);
    (Axis::categories(labels, step), y)
}

/// Room right of the plot: enough for half the last tick label of a numeric x axis (category
/// labels sit half a slot in).
fn right_margin(theme: &Theme, x: &Axis) -> i32 {
    let half_label = match x.labels {
        Labels::Numbers { .. } => (x.widest_label(&tick_style(theme)) / 2.0) as i32 + 2,
        Labels::Categories(_) => 0,
    };
    theme.px(16.0).max(half_label)
}

/// The pixel width of the plotting area `plot` will build on `area` with a category x axis
/// (before building it).
pub(crate) fn plot_width(area_width: u32, theme: &Theme, y: &Axis) -> f64 {
    f64::from(area_width) - f64::from(y_label_area(theme, y)) - theme.pxf(16.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_never_collapse_and_cover_the_values() {
        assert_eq!(span([], false), (0.0, 1.0));
        assert_eq!(span([f64::NAN, f64::INFINITY], true), (0.0, 1.0));
        assert_eq!(span([0.0, 0.0], true), (0.0, 1.0));
        let (lo, hi) = span([5.0, 5.0], false);
        assert!(lo < 5.0 && hi > 5.0);
        let axis = Axis::numeric([3.2, 7.9, f64::NAN], false, 6);
        let (lo, hi) = axis.ends();
        assert!(lo <= 3.2 && hi >= 7.9 && lo >= 0.0, "{lo}..{hi}");
        let bars = Axis::numeric([12.0, 80.0], true, 6);
        assert_eq!(bars.ends().0, 0.0);
        let negative = Axis::numeric([-4.0, -1.0], true, 5);
        assert_eq!(negative.ends().1, 0.0);
    }

    #[test]
    fn numbers_are_written_for_reading() {
        assert_eq!(format_number(12345.0, 0), "12,345");
        assert_eq!(format_number(-1234567.25, 1), "-1,234,567.2");
        assert_eq!(format_number(1234.0, 0), "1,234");
        assert_eq!(format_number(999.5, 0), "1,000");
        assert_eq!(format_number(-0.0001, 2), "0.00");
        assert_eq!(format_value(0.01234), "0.0123");
        assert_eq!(format_value(45.67), "45.7");
        assert_eq!(decimals_of(0.25), 2);
        assert_eq!(decimals_of(20.0), 0);
    }

    #[test]
    fn runs_and_clipping() {
        assert_eq!(runs(6, |i| i != 2 && i != 3), vec![0..2, 4..6]);
        assert_eq!(runs(0, |_| true), Vec::<Range<usize>>::new());
        let parts = clip_polyline(
            &[(0.0, 10.0), (1.0, 0.5), (2.0, 0.5), (3.0, 10.0)],
            (0.0, 3.0),
            (0.0, 1.0),
        );
        assert_eq!(parts.len(), 1);
        let part = &parts[0];
        assert!(part.iter().all(|p| p.1 <= 1.0 + 1e-12));
        assert_eq!(thin_step(52, 12.0, 50.0, 10.0), 5);
    }
}
