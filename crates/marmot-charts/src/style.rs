//! Colours, fonts, text fitting, legends and the common frame (title, key, y-axis title) that
//! every chart draws first.

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontDesc, FontFamily, FontStyle};

use crate::render::OrDraw;
use crate::{ChartError, Outcome, Size};

/// Chart colours (everything not data-driven).
pub(crate) mod colour {
    use plotters::style::RGBColor;

    pub(crate) const TEXT: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
    pub(crate) const MUTED: RGBColor = RGBColor(0x59, 0x59, 0x59);
    pub(crate) const GRID: RGBColor = RGBColor(0xE3, 0xE3, 0xE3);
    pub(crate) const AXIS: RGBColor = RGBColor(0x80, 0x80, 0x80);
    pub(crate) const BAND_ALT: RGBColor = RGBColor(0xF5, 0xF5, 0xF5);
    /// The main series (trend values, observed counts).
    pub(crate) const VALUE: RGBColor = RGBColor(0x1F, 0x5A, 0xA6);
    pub(crate) const CI: RGBColor = RGBColor(0xC6, 0xD8, 0xEF);
    pub(crate) const BENCHMARK: RGBColor = RGBColor(0x1A, 0x1A, 0x1A);
    pub(crate) const EXPECTED: RGBColor = RGBColor(0x59, 0x59, 0x59);
    pub(crate) const THRESHOLD: RGBColor = RGBColor(0xFC, 0xE4, 0xC0);
    pub(crate) const ALARM: RGBColor = RGBColor(0xC0, 0x00, 0x00);
    pub(crate) const ALARM_WEEK: RGBColor = RGBColor(0xF8, 0xD7, 0xD7);
    pub(crate) const SUPPRESSED: RGBColor = RGBColor(0xEC, 0xEC, 0xEC);
    pub(crate) const WHISKER: RGBColor = RGBColor(0x33, 0x33, 0x33);
    pub(crate) const SII: RGBColor = RGBColor(0x70, 0x30, 0xA0);
    pub(crate) const LIMIT: RGBColor = RGBColor(0x59, 0x59, 0x59);
    pub(crate) const RANGE: RGBColor = RGBColor(0xD4, 0xD4, 0xD4);
    pub(crate) const IQR: RGBColor = RGBColor(0x8C, 0x8C, 0x8C);
    pub(crate) const NO_DATA: RGBColor = RGBColor(0xF0, 0xF0, 0xF0);
    pub(crate) const HATCH: RGBColor = RGBColor(0x9A, 0x9A, 0x9A);
    pub(crate) const OUTLINE: RGBColor = RGBColor(0x5A, 0x5A, 0x5A);
    /// A 5-class sequential scale (ColorBrewer YlGnBu), light to dark.
    pub(crate) const SEQUENTIAL: [RGBColor; 5] = [
        RGBColor(0xFF, 0xFF, 0xCC),
        RGBColor(0xA1, 0xDA, 0xB4),
        RGBColor(0x41, 0xB6, 0xC4),
        RGBColor(0x2C, 0x7F, 0xB8),
        RGBColor(0x25, 0x34, 0x94),
    ];
}

/// Font sizes (plotters units, about 1.24 x the cap-to-descender height in pixels) at 900x500.
pub(crate) mod font {
    pub(crate) const TITLE: f64 = 22.0;
    pub(crate) const LABEL: f64 = 14.0;
    pub(crate) const TICK: f64 = 13.0;
    pub(crate) const KEY: f64 = 13.0;
    pub(crate) const NOTE: f64 = 12.0;
    pub(crate) const NO_DATA: f64 = 17.0;
}

/// The Fingertips colour of an outcome.
pub(crate) fn outcome_colour(outcome: Outcome) -> RGBColor {
    match outcome {
        Outcome::Better => RGBColor(0x92, 0xD0, 0x50),
        Outcome::Similar => RGBColor(0xFF, 0xC0, 0x00),
        Outcome::Worse => RGBColor(0xC0, 0x00, 0x00),
        Outcome::Higher => RGBColor(0xBE, 0xD2, 0xFF),
        Outcome::Lower => RGBColor(0x55, 0x55, 0xE6),
        Outcome::NotCompared => RGBColor(0xC0, 0xC0, 0xC0),
    }
}

/// Sizes scale with the image so that a 1800x1000 chart looks like a 900x500 one, doubled.
pub(crate) struct Theme {
    scale: f64,
    pub(crate) width: u32,
    pub(crate) height: u32,
}

impl Theme {
    pub(crate) fn new(size: Size) -> Theme {
        let scale = (f64::from(size.width) / 900.0).min(f64::from(size.height) / 500.0);
        Theme {
            scale: scale.clamp(0.75, 2.5),
            width: size.width,
            height: size.height,
        }
    }

    /// A length in pixels, scaled.
    pub(crate) fn px(&self, base: f64) -> i32 {
        (base * self.scale).round() as i32
    }

    /// A length in pixels, scaled, unrounded.
    pub(crate) fn pxf(&self, base: f64) -> f64 {
        base * self.scale
    }

    /// Regular text, anchored at its top-left corner.
    pub(crate) fn text(&self, size: f64, colour: RGBColor) -> TextStyle<'static> {
        self.style(size, colour, FontStyle::Normal)
    }

    /// Regular text of `size` (scaled) but no taller than `max_px` pixels.
    pub(crate) fn text_within(
        &self,
        size: f64,
        max_px: f64,
        colour: RGBColor,
    ) -> TextStyle<'static> {
        let mut style = self.text(size, colour);
        let limit = (max_px * 1.24).max(6.0);
        if style.font.get_size() > limit {
            style.font = FontDesc::new(FontFamily::SansSerif, limit, FontStyle::Normal);
        }
        style
    }

    /// Bold text, anchored at its top-left corner.
    pub(crate) fn bold(&self, size: f64, colour: RGBColor) -> TextStyle<'static> {
        self.style(size, colour, FontStyle::Bold)
    }

    fn style(&self, size: f64, colour: RGBColor, style: FontStyle) -> TextStyle<'static> {
        TextStyle {
            font: FontDesc::new(FontFamily::SansSerif, size * self.scale, style),
            color: colour.to_backend_color(),
            pos: Pos::new(HPos::Left, VPos::Top),
        }
    }
}

/// `style` anchored at another point of the text box.
pub(crate) fn anchor(style: &TextStyle<'static>, h: HPos, v: VPos) -> TextStyle<'static> {
    let mut anchored = style.clone();
    anchored.pos = Pos::new(h, v);
    anchored
}

/// Width of `text` in pixels.
pub(crate) fn text_width(text: &str, style: &TextStyle) -> f64 {
    match style.font.box_size(text) {
        Ok((w, _)) => f64::from(w),
        Err(_) => text.chars().count() as f64 * style.font.get_size() * 0.55,
    }
}

/// Height of a line of text in pixels.
pub(crate) fn text_height(style: &TextStyle) -> f64 {
    (style.font.get_size() / 1.24).ceil()
}

/// `text` cut to fit `max_px` pixels, ending with "…" when cut.
pub(crate) fn fit(text: &str, style: &TextStyle, max_px: f64) -> String {
    let text = text.trim();
    if text_width(text, style) <= max_px {
        return text.to_string();
    }
    let chars: Vec<char> = text.chars().collect();
    let cut = |n: usize| format!("{}…", chars[..n].iter().collect::<String>().trim_end());
    // The longest prefix that fits, by bisection on the number of characters kept.
    let (mut lo, mut hi) = (0usize, chars.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if text_width(&cut(mid), style) <= max_px {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if lo == 0 && text_width("…", style) > max_px {
        String::new()
    } else {
        cut(lo)
    }
}

/// Draws `text` at pixel `(x, y)` of `area` with `style` (its anchor included).
pub(crate) fn draw_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle<'static>,
    at: (i32, i32),
) -> Result<(), ChartError> {
    if text.is_empty() {
        return Ok(());
    }
    area.draw(&Text::new(text.to_string(), at, style.clone()))
        .or_draw()
}

/// The symbol drawn before a legend entry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mark {
    /// A filled box.
    Fill(RGBColor),
    /// A solid line.
    Line(RGBColor),
    /// A dashed line.
    Dash(RGBColor),
    /// A filled circle.
    Dot(RGBColor),
    /// An upward triangle.
    Triangle(RGBColor),
    /// A light grey box with diagonal hatching (no data).
    Hatch,
}

/// A legend entry.
pub(crate) struct Key {
    pub(crate) mark: Mark,
    pub(crate) text: String,
}

impl Key {
    pub(crate) fn new(mark: Mark, text: impl Into<String>) -> Key {
        Key {
            mark,
            text: text.into(),
        }
    }
}

/// One key per distinct outcome present, in legend order.
pub(crate) fn outcome_keys(outcomes: impl IntoIterator<Item = Outcome>, dots: bool) -> Vec<Key> {
    let present: Vec<Outcome> = outcomes.into_iter().collect();
    Outcome::ALL
        .into_iter()
        .filter(|o| present.contains(o))
        .map(|o| {
            let c = outcome_colour(o);
            Key::new(if dots { Mark::Dot(c) } else { Mark::Fill(c) }, o.label())
        })
        .collect()
}

const MARK_W: f64 = 22.0;
const MARK_H: f64 = 12.0;

fn key_style(theme: &Theme) -> TextStyle<'static> {
    theme.text(font::KEY, colour::TEXT)
}

fn key_width(theme: &Theme, key: &Key) -> i32 {
    theme.px(MARK_W + 6.0) + text_width(&key.text, &key_style(theme)) as i32
}

fn key_row_height(theme: &Theme) -> i32 {
    (text_height(&key_style(theme)) as i32).max(theme.px(MARK_H)) + theme.px(6.0)
}

/// Draws a legend mark in the box whose left edge is `x` and vertical centre `yc`.
pub(crate) fn draw_mark<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    mark: Mark,
    (x, yc): (i32, i32),
) -> Result<(), ChartError> {
    let (w, h) = (theme.px(MARK_W), theme.px(MARK_H));
    let (x1, y0, y1) = (x + w, yc - h / 2, yc + h / 2);
    let line = |c: RGBColor| c.stroke_width(theme.px(2.0).max(1) as u32);
    match mark {
        Mark::Fill(c) => area.draw(&Rectangle::new([(x, y0), (x1, y1)], c.filled())),
        Mark::Line(c) => area.draw(&PathElement::new(vec![(x, yc), (x1, yc)], line(c))),
        Mark::Dash(c) => area.draw(&DashedPathElement::new(
            vec![(x, yc), (x1, yc)],
            theme.px(5.0),
            theme.px(3.0),
            line(c),
        )),
        Mark::Dot(c) => {
            let r = theme.px(5.0);
            area.draw(&Circle::new((x + w / 2, yc), r, c.filled()))
                .or_draw()?;
            area.draw(&Circle::new(
                (x + w / 2, yc),
                r,
                colour::OUTLINE.stroke_width(1),
            ))
        }
        Mark::Triangle(c) => area.draw(&TriangleMarker::new(
            (x + w / 2, yc),
            theme.px(6.0),
            c.filled(),
        )),
        Mark::Hatch => {
            let ring = [(x, y0), (x1, y0), (x1, y1), (x, y1)]
                .map(|(a, b)| (f64::from(a), f64::from(b)))
                .to_vec();
            draw_hatched(area, theme, &[ring])?;
            area.draw(&Rectangle::new(
                [(x, y0), (x1, y1)],
                colour::OUTLINE.stroke_width(1),
            ))
        }
    }
    .or_draw()
}

/// Draws keys left to right from `(x, y)`, wrapping at `x + max_width`, at most `max_rows`
/// rows. Returns the height used.
pub(crate) fn draw_key_rows<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    keys: &[Key],
    (x, y): (i32, i32),
    max_width: i32,
    max_rows: i32,
) -> Result<i32, ChartError> {
    if keys.is_empty() || max_rows < 1 {
        return Ok(0);
    }
    let row_h = key_row_height(theme);
    let gap = theme.px(18.0);
    let (mut cx, mut row) = (x, 0);
    for key in keys {
        let w = key_width(theme, key).min(max_width);
        if cx > x && cx + w > x + max_width {
            row += 1;
            cx = x;
        }
        if row >= max_rows {
            break;
        }
        draw_key(
            area,
            theme,
            key,
            (cx, y + row * row_h + row_h / 2),
            max_width,
        )?;
        cx += w + gap;
    }
    Ok((row.min(max_rows - 1) + 1) * row_h)
}

/// Draws keys one per row from `(x, y)`, each at most `max_width` wide. Returns the height used.
pub(crate) fn draw_key_column<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    keys: &[Key],
    (x, y): (i32, i32),
    max_width: i32,
) -> Result<i32, ChartError> {
    let row_h = key_row_height(theme);
    for (i, key) in keys.iter().enumerate() {
        draw_key(
            area,
            theme,
            key,
            (x, y + i as i32 * row_h + row_h / 2),
            max_width,
        )?;
    }
    Ok(keys.len() as i32 * row_h)
}

fn draw_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    key: &Key,
    (x, yc): (i32, i32),
    max_width: i32,
) -> Result<(), ChartError> {
    draw_mark(area, theme, key.mark, (x, yc))?;
    let style = key_style(theme);
    let tx = x + theme.px(MARK_W + 6.0);
    let text = fit(&key.text, &style, f64::from(max_width - (tx - x)));
    draw_text(
        area,
        &text,
        &anchor(&style, HPos::Left, VPos::Center),
        (tx, yc),
    )
}

/// Fills the background and draws the title, the key and the y-axis title (horizontal, above
/// the axis); returns the area left for the plot.
pub(crate) fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    theme: &Theme,
    title: &str,
    keys: &[Key],
    y_label: &str,
) -> Result<DrawingArea<DB, Shift>, ChartError> {
    root.fill(&WHITE).or_draw()?;
    let (w, h) = (theme.width as i32, theme.height as i32);
    let margin = theme.px(14.0);
    let inner_w = w - 2 * margin;
    let mut y = theme.px(10.0);

    let title_style = theme.bold(font::TITLE, colour::TEXT);
    draw_text(
        root,
        &fit(title, &title_style, f64::from(inner_w)),
        &title_style,
        (margin, y),
    )?;
    y += text_height(&title_style) as i32 + theme.px(12.0);

    // The key may take what is left of the top 40% of the image.
    let rows_left = (h * 2 / 5 - y) / key_row_height(theme).max(1);
    let used = draw_key_rows(root, theme, keys, (margin, y), inner_w, rows_left.max(1))?;
    if used > 0 {
        y += used + theme.px(4.0);
    }

    if !y_label.trim().is_empty() {
        let style = theme.text(font::LABEL, colour::MUTED);
        draw_text(
            root,
            &fit(y_label, &style, f64::from(inner_w)),
            &style,
            (margin, y),
        )?;
        y += text_height(&style) as i32 + theme.px(8.0);
    }
    Ok(root.margin(y.min(h / 2), theme.px(8.0), margin / 2, margin))
}

/// Writes a "No data" note in the middle of `area`.
pub(crate) fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
) -> Result<(), ChartError> {
    note(area, theme, &["No data"])
}

/// Writes `lines` centred in the middle of `area`, one under another, each cut to the width.
pub(crate) fn note<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    lines: &[&str],
) -> Result<(), ChartError> {
    let (w, h) = area.dim_in_pixel();
    let style = anchor(
        &theme.text(font::NO_DATA, colour::MUTED),
        HPos::Center,
        VPos::Center,
    );
    let step = text_height(&style) as i32 + theme.px(6.0);
    let top = h as i32 / 2 - step * (lines.len() as i32 - 1) / 2;
    for (i, line) in lines.iter().enumerate() {
        let text = fit(line, &style, f64::from(w) - f64::from(theme.px(16.0)));
        draw_text(area, &text, &style, (w as i32 / 2, top + step * i as i32))?;
    }
    Ok(())
}

/// Light grey fill with diagonal hatching over the even-odd interior of `rings` (pixels).
pub(crate) fn draw_hatched<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    rings: &[Vec<(f64, f64)>],
) -> Result<(), ChartError> {
    for ring in rings {
        let points: Vec<(i32, i32)> = ring
            .iter()
            .map(|&(x, y)| (x.round() as i32, y.round() as i32))
            .collect();
        area.draw(&Polygon::new(points, colour::NO_DATA.filled()))
            .or_draw()?;
    }
    draw_hatch_lines(area, theme, rings)
}

/// Diagonal hatching (lines only) over the even-odd interior of `rings` (pixels).
pub(crate) fn draw_hatch_lines<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    theme: &Theme,
    rings: &[Vec<(f64, f64)>],
) -> Result<(), ChartError> {
    for [a, b] in hatch_segments(rings, theme.pxf(6.0)) {
        let seg = vec![
            (a.0.round() as i32, a.1.round() as i32),
            (b.0.round() as i32, b.1.round() as i32),
        ];
        area.draw(&PathElement::new(seg, colour::HATCH.stroke_width(1)))
            .or_draw()?;
    }
    Ok(())
}

/// Segments of the lines x + y = c (every `spacing` pixels) inside `rings` (even-odd rule).
pub(crate) fn hatch_segments(rings: &[Vec<(f64, f64)>], spacing: f64) -> Vec<[(f64, f64); 2]> {
    let edges: Vec<((f64, f64), (f64, f64))> = rings
        .iter()
        .filter(|r| r.len() >= 3)
        .flat_map(|r| {
            r.iter()
                .zip(r.iter().cycle().skip(1))
                .map(|(a, b)| (*a, *b))
        })
        .collect();
    let sums = edges.iter().map(|(a, _)| a.0 + a.1);
    let (lo, hi) = sums.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| {
        (lo.min(s), hi.max(s))
    });
    if !(lo.is_finite() && hi.is_finite()) || spacing <= 0.0 {
        return Vec::new();
    }
    let mut segments = Vec::new();
    let mut c = (lo / spacing).ceil() * spacing;
    while c <= hi {
        let mut xs: Vec<f64> = edges
            .iter()
            .filter_map(|&(a, b)| {
                let (ua, ub) = (a.0 + a.1, b.0 + b.1);
                // Half-open rule: a vertex on the line counts once.
                if (ua <= c) == (ub <= c) {
                    return None;
                }
                let t = (c - ua) / (ub - ua);
                Some(a.0 + t * (b.0 - a.0))
            })
            .collect();
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks_exact(2) {
            segments.push([(pair[0], c - pair[0]), (pair[1], c - pair[1])]);
        }
        c += spacing;
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hatching_stays_inside_a_square_and_skips_its_hole() {
        let square = vec![(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)];
        let segments = hatch_segments(std::slice::from_ref(&square), 2.0);
        assert!(!segments.is_empty());
        for [a, b] in &segments {
            for p in [a, b] {
                assert!(
                    (-1e-9..=10.0 + 1e-9).contains(&p.0) && (-1e-9..=10.0 + 1e-9).contains(&p.1)
                );
            }
        }
        let hole = vec![(4.0, 4.0), (6.0, 4.0), (6.0, 6.0), (4.0, 6.0)];
        let with_hole = hatch_segments(&[square, hole], 2.0);
        // The line x + y = 10 crosses the hole: two pieces instead of one.
        let on_10 = with_hole
            .iter()
            .filter(|[a, _]| (a.0 + a.1 - 10.0).abs() < 1e-9)
            .count();
        assert_eq!(on_10, 2);
    }
}
