//! A chart that cannot be drawn, saying why: the title it would have had and a short message in
//! its place (a map of a lake with no boundaries, say), so that a dashboard or report that
//! embeds the image shows the reason rather than a broken image.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::render::{Chart, render};
use crate::style::{Theme, frame, note};
use crate::{ChartError, Format, Rendered, Size};

/// An image titled `title` with `lines` centred where the chart would be (each line cut with
/// "…" if it is wider than the image).
pub fn notice(
    title: &str,
    lines: &[&str],
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    render(&Notice { title, lines }, size, format)
}

struct Notice<'a> {
    title: &'a str,
    lines: &'a [&'a str],
}

impl Chart for Notice<'_> {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError> {
        let area = frame(root, theme, self.title, &[], "")?;
        note(&area, theme, self.lines)?;
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_writes_its_title_and_every_line() {
        let out = notice(
            "Emergency admissions by ward",
            &[
                "No ward boundaries in this lake",
                "attach them with marmot init",
            ],
            Size::default(),
            Format::Svg,
        )
        .expect("svg");
        let svg = String::from_utf8(out.bytes).expect("utf-8");
        for text in [
            "Emergency admissions by ward",
            "No ward boundaries in this lake",
            "attach them with marmot init",
        ] {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
        assert!(notice("t", &["x"], Size::default(), Format::Png).is_ok());
    }
}
