//! Error type shared by all detection algorithms.

use thiserror::Error;

/// Errors returned by the surveillance algorithms.
///
/// No function in this module panics on caller input; every invalid input is
/// reported through this enum.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SurveillanceError {
    /// The series has no observations.
    #[error("the series is empty")]
    EmptySeries,
    /// A count is negative, NaN or infinite.
    #[error("invalid count {value} at index {index}: counts must be finite and >= 0")]
    InvalidCount {
        /// 0-based week index concerned.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Two parallel vectors (counts, dates, population, mu0) differ in length.
    #[error("length mismatch for {what}: expected {expected}, got {actual}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// Dates are not strictly increasing or are otherwise unusable.
    #[error("invalid dates: {0}")]
    InvalidDates(String),
    /// A date string or calendar date could not be parsed / is impossible.
    #[error("invalid date: {0}")]
    InvalidDate(String),
    /// A population value is not finite and > 0.
    #[error("invalid population {value} at index {index}: must be finite and > 0")]
    InvalidPopulation {
        /// 0-based week index concerned.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// The method needs a population offset but the series has none.
    #[error("the series has no population but population_offset was requested")]
    MissingPopulation,
    /// The evaluation range is empty or exceeds the series.
    #[error("invalid evaluation range {start}..{end} for a series of length {len}")]
    InvalidRange {
        /// Start of the range.
        start: usize,
        /// End of the range (exclusive).
        end: usize,
        /// Length of the series.
        len: usize,
    },
    /// Not enough history before the first evaluated week.
    #[error(
        "not enough history to evaluate week index {index}: the first evaluable index is {first_evaluable}"
    )]
    InsufficientHistory {
        /// 0-based week index concerned.
        index: usize,
        /// First week that has enough history.
        first_evaluable: usize,
    },
    /// A reference week (same week in a previous year) is not in the series.
    #[error(
        "reference week for index {index} ({years_back} year(s) back) is not in the series; decrease b or postpone the range"
    )]
    ReferenceWeekMissing {
        /// 0-based week index concerned.
        index: usize,
        /// How many years back the missing reference week is.
        years_back: usize,
    },
    /// A parameter is out of its admissible domain.
    #[error("invalid parameter {name}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// A missing observation where the method cannot cope with one.
    #[error("missing observation at index {index}")]
    MissingValue {
        /// 0-based week index concerned.
        index: usize,
    },
    /// The Poisson / quasi-Poisson GLM could not be fitted.
    #[error("GLM fit failed: {0}")]
    GlmFailure(String),
}

/// Convenience alias.
pub type Result<T> = std::result::Result<T, SurveillanceError>;
