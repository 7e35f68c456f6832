//! Means with Student's t confidence intervals.

use crate::ci::{ConfidenceLevel, DualInterval, Interval};
use crate::dist::{Tail, students_t_quantile};
use crate::error::{Result, StatsError, finite};

/// A mean whose Student's t CIs can be asked for at any level.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mean {
    /// Σ values.
    pub sum: f64,
    /// Number of values n.
    pub count: usize,
    /// Sample standard deviation (n − 1 degrees of freedom).
    pub std_dev: f64,
    /// The mean.
    pub value: f64,
}

impl Mean {
    /// mean ∓ t(1 − α/2; n − 1) · sd / √n.
    pub fn ci(&self, level: ConfidenceLevel) -> Result<Interval> {
        if self.count < 2 {
            return Err(StatsError::InsufficientData(
                "a confidence interval for a mean needs at least 2 values".into(),
            ));
        }
        let df = (self.count - 1) as f64;
        let t = students_t_quantile(level.tail_probability(), df, Tail::Upper)?;
        let half = t * self.std_dev / (self.count as f64).sqrt();
        Ok(Interval::new(self.value - half, self.value + half))
    }

    /// The 95% and 99.8% intervals.
    pub fn dual_ci(&self) -> Result<DualInterval> {
        DualInterval::try_from_fn(|level| self.ci(level))
    }

    /// The package's `statistic` label, `"mean"`.
    pub fn statistic_label(&self) -> &'static str {
        "mean"
    }

    /// The package's `method` label, `"Student's t-distribution"`.
    pub fn method_label(&self) -> &'static str {
        "Student's t-distribution"
    }
}

/// Mean with a Student's t confidence interval (Student 1908; PHEindicatormethods::phe_mean).
///
/// Needs at least two finite values (the standard deviation has n − 1 degrees of freedom).
pub fn mean(values: &[f64]) -> Result<Mean> {
    if values.len() < 2 {
        return Err(StatsError::InsufficientData(format!(
            "a mean with a confidence interval needs at least 2 values, got {}",
            values.len()
        )));
    }
    let mut sum = 0.0;
    for &v in values {
        sum += finite("value", v)?;
    }
    let n = values.len() as f64;
    let value = sum / n;
    // Two-pass variance.
    let ss: f64 = values.iter().map(|v| (v - value).powi(2)).sum();
    let std_dev = (ss / (n - 1.0)).sqrt();
    Ok(Mean {
        sum,
        count: values.len(),
        std_dev,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_values_have_zero_width() {
        let m = mean(&[3.0, 3.0, 3.0]).and_then(|m| m.ci(ConfidenceLevel::P95));
        assert_eq!(m, Ok(Interval::new(3.0, 3.0)));
    }

    #[test]
    fn needs_two_values() {
        assert!(mean(&[1.0]).is_err());
        assert!(mean(&[1.0, f64::NAN]).is_err());
    }
}
