//! The backend choice: every chart is drawn once, generically, then rasterised to PNG or written
//! as SVG. Fonts are registered here before any drawing.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::style::Theme;
use crate::{ChartError, Format, Rendered, Size};

/// A chart that can draw itself on any plotters backend.
pub(crate) trait Chart {
    /// Draws the whole chart on `root` (already sized). Returns one title per filled polygon,
    /// in drawing order, for charts whose polygons are areas (the SVG gets a `<title>` in each
    /// of the first polygons); most charts return an empty list.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<Vec<String>, ChartError>;
}

/// Maps any displayable plotters error to [`ChartError::Draw`].
pub(crate) trait OrDraw<T> {
    fn or_draw(self) -> Result<T, ChartError>;
}

impl<T, E: std::fmt::Display> OrDraw<T> for Result<T, E> {
    fn or_draw(self) -> Result<T, ChartError> {
        self.map_err(|e| ChartError::Draw(e.to_string()))
    }
}

/// Registers DejaVu Sans (regular and bold) as "sans-serif", once per process.
pub(crate) fn register_fonts() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular()).is_ok()
            && register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold()).is_ok()
    });
    if *ok { Ok(()) } else { Err(ChartError::Font) }
}

/// Renders `chart` at `size` in `format`.
pub(crate) fn render(
    chart: &impl Chart,
    size: Size,
    format: Format,
) -> Result<Rendered, ChartError> {
    let size = size.validate()?;
    register_fonts()?;
    let theme = Theme::new(size);
    let dims = (size.width, size.height);
    let bytes = match format {
        Format::Png => {
            let pixels = size.width as usize * size.height as usize * 3;
            let mut buffer = vec![0u8; pixels];
            {
                let root = BitMapBackend::with_buffer(&mut buffer, dims).into_drawing_area();
                chart.draw(&root, &theme)?;
                root.present().or_draw()?;
            }
            encode_png(&buffer, size)?
        }
        Format::Svg => {
            let mut text = String::new();
            let titles = {
                let root = SVGBackend::with_string(&mut text, dims).into_drawing_area();
                let titles = chart.draw(&root, &theme)?;
                root.present().or_draw()?;
                titles
            };
            title_polygons(&text, &titles).into_bytes()
        }
    };
    Ok(Rendered { format, bytes })
}

fn encode_png(rgb: &[u8], size: Size) -> Result<Vec<u8>, ChartError> {
    let encode = |e: png::EncodingError| ChartError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size.width, size.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(encode)?;
    writer.write_image_data(rgb).map_err(encode)?;
    writer.finish().map_err(encode)?;
    Ok(out)
}

/// Puts `<title>` (a tooltip, and the area's code as text in the document) into the first
/// `titles.len()` `<polygon .../>` elements of an SVG written by plotters.
fn title_polygons(svg: &str, titles: &[String]) -> String {
    if titles.is_empty() {
        return svg.to_string();
    }
    let mut out =
        String::with_capacity(svg.len() + titles.iter().map(|t| t.len() + 30).sum::<usize>());
    let mut rest = svg;
    for title in titles {
        let Some(start) = rest.find("<polygon") else {
            break;
        };
        let Some(end) = rest[start..].find("/>").map(|e| start + e) else {
            break;
        };
        out.push_str(&rest[..end]);
        out.push_str("><title>");
        push_escaped(&mut out, title);
        out.push_str("</title></polygon>");
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_go_into_polygons_in_order() {
        let svg = "<svg>\n<rect/>\n<polygon points=\"1,2\" fill=\"#000\"/>\n<polygon points=\"3,4\"/>\n</svg>";
        let titled = title_polygons(svg, &["A&B".to_string(), "C".to_string()]);
        assert_eq!(
            titled,
            "<svg>\n<rect/>\n<polygon points=\"1,2\" fill=\"#000\"><title>A&amp;B</title></polygon>\n\
             <polygon points=\"3,4\"><title>C</title></polygon>\n</svg>"
        );
    }
}
