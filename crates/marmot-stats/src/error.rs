//! The crate's single error type.

use thiserror::Error;

/// Invalid input to one of the indicator methods.
///
/// Every public function validates the caller-controlled input and returns one of these
/// instead of panicking or silently producing `NaN`.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum StatsError {
    /// A value that must be a finite number was `NaN` or infinite.
    #[error("{name} must be a finite number, got {value}")]
    NotFinite {
        /// Which argument.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A count (numerator, events, observed) was negative.
    #[error("{name} must be greater than or equal to zero, got {value}")]
    NegativeCount {
        /// Which argument.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A denominator (population, sample size, expected) was zero or negative.
    #[error("{name} must be greater than zero, got {value}")]
    NonPositiveDenominator {
        /// Which argument.
        name: &'static str,
        /// The offending value.
        value: f64,
    },
    /// A proportion numerator exceeded its denominator.
    #[error("numerator {numerator} must be less than or equal to denominator {denominator}")]
    NumeratorExceedsDenominator {
        /// The numerator x.
        numerator: f64,
        /// The denominator n.
        denominator: f64,
    },
    /// A confidence level outside the accepted range.
    #[error("confidence level must be a fraction in (0, 1) or a percentage in (1, 100), got {0}")]
    InvalidConfidence(f64),
    /// A multiplier that cannot be used (zero, or not finite).
    #[error("multiplier must be a finite non-zero number, got {0}")]
    InvalidMultiplier(f64),
    /// Two inputs that must have the same length do not.
    #[error("{name}: lengths differ ({left} vs {right})")]
    LengthMismatch {
        /// What was being compared.
        name: &'static str,
        /// Length of the first input.
        left: usize,
        /// Length of the second input.
        right: usize,
    },
    /// Not enough data for the method (e.g. a mean of fewer than two values).
    #[error("{0}")]
    InsufficientData(String),
    /// Any other invalid argument, with an explanation.
    #[error("{0}")]
    InvalidArgument(String),
}

/// Shorthand for `Result<T, StatsError>`.
pub type Result<T> = std::result::Result<T, StatsError>;

pub(crate) fn finite(name: &'static str, value: f64) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::NotFinite { name, value })
    }
}

pub(crate) fn count(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value < 0.0 {
        Err(StatsError::NegativeCount { name, value })
    } else {
        Ok(value)
    }
}

pub(crate) fn positive(name: &'static str, value: f64) -> Result<f64> {
    finite(name, value)?;
    if value <= 0.0 {
        Err(StatsError::NonPositiveDenominator { name, value })
    } else {
        Ok(value)
    }
}

pub(crate) fn multiplier(value: f64) -> Result<f64> {
    if value.is_finite() && value != 0.0 {
        Ok(value)
    } else {
        Err(StatsError::InvalidMultiplier(value))
    }
}

pub(crate) fn same_len(name: &'static str, left: usize, right: usize) -> Result<()> {
    if left == right {
        Ok(())
    } else {
        Err(StatsError::LengthMismatch { name, left, right })
    }
}
