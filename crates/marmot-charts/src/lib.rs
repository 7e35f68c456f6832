//! Marmot's chart renderers.
//!
//! This crate owns pure renderers: plain data structs in, PNG bytes or SVG text out. It does
//! no IO and knows nothing of the lake or the engine; callers (the server, the CLI) turn
//! indicator values, trigger series and boundaries into the structs below.
//!
//! Charts:
//! - [`trend`]: an indicator over time, with its confidence band, benchmark and alarm markers;
//! - [`trigger`]: an early-warning series (observed, expected, threshold band, alarm weeks);
//! - [`quantiles`]: values by deprivation quintile/decile with the SII line;
//! - [`compare`]: areas compared with a benchmark, coloured by outcome (horizontal bars);
//! - [`funnel`]: a funnel plot with 95% and 99.8% control limits;
//! - [`spine`]: a Fingertips-style spine chart of many indicators for one area;
//! - [`choropleth`]: a map of areas on a 5-class sequential scale (boundaries from
//!   [`areas_from_geojson`]).
//!
//! Every chart is drawn once by a function generic over plotters' `DrawingBackend`, then either
//! rasterised (`BitMapBackend`, encoded to PNG in memory) or written as SVG (`SVGBackend`).
//!
//! Fonts: DejaVu Sans (regular and bold, from the `dejavu` crate) is registered with plotters
//! under the family `"sans-serif"` once, before any drawing, so text renders with no system
//! fonts. Only that family is used. Rotated text is avoided (plotters' `ab_glyph` drops its
//! spaces): the y-axis title is written horizontally above the axis.
//!
//! Every chart copes with empty input (a "No data" note), missing and non-finite values,
//! all-equal values and long labels (truncated with "…"). Suppressed values are never drawn
//! as values: they leave a gap and a "suppressed" note.
#![warn(missing_docs)]

mod axis;
mod bars;
mod funnel;
mod map;
mod notice;
mod render;
mod series;
mod spine;
mod style;
mod trend;

use std::fmt;

pub use bars::{Bar, compare, quantiles};
pub use funnel::{FunnelLimits, FunnelPoint, funnel};
pub use map::{MapArea, areas_from_geojson, choropleth};
pub use notice::notice;
pub use spine::{SpineRow, spine};
pub use trend::{TrendPoint, TriggerPoint, trend, trigger};

/// Why a chart could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// The requested image size is outside [`Size::MIN`]..=[`Size::MAX`] in either dimension.
    #[error("chart size {width}x{height} is out of range: each side must be {min}..={max} pixels", min = Size::MIN, max = Size::MAX)]
    BadSize {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// The requested output format is not one of `png` or `svg`.
    #[error("unknown chart format {0:?}: expected \"png\" or \"svg\"")]
    BadFormat(String),
    /// The embedded fonts could not be registered with plotters.
    #[error("the embedded DejaVu fonts could not be registered")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
    /// A GeoJSON document could not be read as a FeatureCollection of (Multi)Polygons.
    #[error("invalid GeoJSON: {0}")]
    GeoJson(String),
}

/// Output format of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A PNG image (RGB, 8 bits per channel).
    Png,
    /// An SVG document (UTF-8 text).
    Svg,
}

impl Format {
    /// Parses `"png"` or `"svg"` (case-insensitive, surrounding spaces ignored).
    pub fn parse(text: &str) -> Result<Format, ChartError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            _ => Err(ChartError::BadFormat(text.to_string())),
        }
    }

    /// The HTTP content type: `image/png` or `image/svg+xml`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Svg => "image/svg+xml",
        }
    }

    /// The file extension, without the dot: `png` or `svg`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = ChartError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Format::parse(text)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// Image size in pixels (SVG: the `width`/`height` of the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl Size {
    /// Smallest accepted width or height.
    pub const MIN: u32 = 200;
    /// Largest accepted width or height.
    pub const MAX: u32 = 4000;

    /// A size with both sides within [`Size::MIN`]..=[`Size::MAX`], else [`ChartError::BadSize`].
    pub fn new(width: u32, height: u32) -> Result<Size, ChartError> {
        let ok = |v: u32| (Size::MIN..=Size::MAX).contains(&v);
        if ok(width) && ok(height) {
            Ok(Size { width, height })
        } else {
            Err(ChartError::BadSize { width, height })
        }
    }

    /// Checks a size built field by field (every renderer calls this).
    pub fn validate(self) -> Result<Size, ChartError> {
        Size::new(self.width, self.height)
    }
}

impl Default for Size {
    /// 900 x 500 pixels.
    fn default() -> Self {
        Size {
            width: 900,
            height: 500,
        }
    }
}

/// A rendered chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The format of `bytes`.
    pub format: Format,
    /// The PNG file or the SVG document (UTF-8).
    pub bytes: Vec<u8>,
}

impl Rendered {
    /// The HTTP content type of `bytes`.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

/// Outcome of comparing a value with its benchmark; it picks the colour (Fingertips palette).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// Significantly better than the benchmark (green).
    Better,
    /// Not significantly different (amber).
    Similar,
    /// Significantly worse (red).
    Worse,
    /// Significantly higher, for indicators with no polarity (light blue).
    Higher,
    /// Significantly lower, for indicators with no polarity (dark blue).
    Lower,
    /// Not compared (grey).
    #[default]
    NotCompared,
}

impl Outcome {
    /// Every outcome, in legend order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Better,
        Outcome::Similar,
        Outcome::Worse,
        Outcome::Higher,
        Outcome::Lower,
        Outcome::NotCompared,
    ];

    /// Parses `Better`, `Similar`, `Worse`, `Higher` or `Lower` (case-insensitive); anything
    /// else is [`Outcome::NotCompared`].
    pub fn parse(text: &str) -> Outcome {
        match text.trim().to_ascii_lowercase().as_str() {
            "better" => Outcome::Better,
            "similar" => Outcome::Similar,
            "worse" => Outcome::Worse,
            "higher" => Outcome::Higher,
            "lower" => Outcome::Lower,
            _ => Outcome::NotCompared,
        }
    }

    /// The legend text: `Better`, ..., `Not compared`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Better => "Better",
            Outcome::Similar => "Similar",
            Outcome::Worse => "Worse",
            Outcome::Higher => "Higher",
            Outcome::Lower => "Lower",
            Outcome::NotCompared => "Not compared",
        }
    }

    /// The fill colour as `#RRGGBB` (for HTML legends beside the charts).
    pub fn hex(self) -> &'static str {
        match self {
            Outcome::Better => "#92D050",
            Outcome::Similar => "#FFC000",
            Outcome::Worse => "#C00000",
            Outcome::Higher => "#BED2FF",
            Outcome::Lower => "#5555E6",
            Outcome::NotCompared => "#C0C0C0",
        }
    }
}
