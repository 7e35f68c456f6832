//! Proportions with Wilson score confidence intervals.

use crate::ci::{ConfidenceLevel, DualInterval, Interval, format_number};
use crate::error::{Result, StatsError, count, multiplier as check_multiplier, positive};

/// Wilson score interval for x successes out of n, without continuity correction, on the
/// 0–1 scale: (2x + z² ∓ z·√(z² + 4x(1 − x/n))) / (2(n + z²)).
///
/// Wilson score interval (Wilson 1927; Newcombe & Altman 2000;
/// PHEindicatormethods `wilson_lower` / `wilson_upper`, used by `phe_proportion`).
/// x = 0 gives a lower limit of exactly 0 and x = n an upper limit of exactly 1.
pub fn wilson_interval(x: f64, n: f64, level: ConfidenceLevel) -> Result<Interval> {
    let (x, n) = validate(x, n)?;
    let z = level.z();
    let z2 = z * z;
    let root = z * (z2 + 4.0 * x * (1.0 - (x / n))).sqrt();
    let mut lower = (2.0 * x + z2 - root) / 2.0 / (n + z2);
    let mut upper = (2.0 * x + z2 + root) / 2.0 / (n + z2);
    if x == 0.0 {
        lower = 0.0;
    }
    if x == n {
        upper = 1.0;
    }
    Ok(Interval::new(lower.max(0.0), upper.min(1.0)))
}

fn validate(x: f64, n: f64) -> Result<(f64, f64)> {
    let x = count("numerator", x)?;
    let n = positive("denominator", n)?;
    if x > n {
        return Err(StatsError::NumeratorExceedsDenominator {
            numerator: x,
            denominator: n,
        });
    }
    Ok((x, n))
}

/// A proportion x/n scaled by a multiplier, whose CIs can be asked for at any level.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Proportion {
    /// Numerator x.
    pub numerator: f64,
    /// Denominator n.
    pub denominator: f64,
    /// Multiplier (1 for a proportion, 100 for a percentage).
    pub multiplier: f64,
    /// x/n × multiplier.
    pub value: f64,
}

impl Proportion {
    /// The Wilson score interval at `level`, × multiplier.
    pub fn ci(&self, level: ConfidenceLevel) -> Result<Interval> {
        Ok(wilson_interval(self.numerator, self.denominator, level)?.scaled(self.multiplier))
    }

    /// The 95% and 99.8% Wilson intervals, × multiplier.
    pub fn dual_ci(&self) -> Result<DualInterval> {
        DualInterval::try_from_fn(|level| self.ci(level))
    }

    /// The package's `statistic` label: `"percentage"` for multiplier 100, otherwise
    /// `"proportion of <multiplier>"`.
    pub fn statistic_label(&self) -> String {
        if self.multiplier == 100.0 {
            "percentage".to_string()
        } else {
            format!("proportion of {}", format_number(self.multiplier))
        }
    }

    /// The method label, `"Wilson"`.
    pub fn method_label(&self) -> &'static str {
        "Wilson"
    }
}

/// A proportion x/n × multiplier with Wilson score CIs (Wilson 1927;
/// PHEindicatormethods::phe_proportion).
///
/// Errors for negative x, n ≤ 0, x > n, non-finite input or a zero multiplier. For grouped
/// data, sum x and n per group first (as the package does).
pub fn proportion(x: f64, n: f64, multiplier: f64) -> Result<Proportion> {
    let (x, n) = validate(x, n)?;
    let multiplier = check_multiplier(multiplier)?;
    Ok(Proportion {
        numerator: x,
        denominator: n,
        multiplier,
        value: x / n * multiplier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_cases() {
        let ci =
            wilson_interval(0.0, 50.0, ConfidenceLevel::P95).unwrap_or(Interval::new(9.0, 9.0));
        assert_eq!(ci.lower, 0.0);
        assert!((ci.upper - 0.0713475991333587).abs() < 1e-15);
        let ci =
            wilson_interval(50.0, 50.0, ConfidenceLevel::P95).unwrap_or(Interval::new(9.0, 9.0));
        assert_eq!(ci.upper, 1.0);
        let ci = wilson_interval(1.0, 1.0, ConfidenceLevel::P95).unwrap_or(Interval::new(9.0, 9.0));
        assert_eq!(ci.upper, 1.0);
        assert!(ci.lower > 0.0);
    }

    #[test]
    fn invalid_input() {
        assert!(matches!(
            proportion(-1.0, 10.0, 1.0),
            Err(StatsError::NegativeCount { .. })
        ));
        assert!(matches!(
            proportion(1.0, 0.0, 1.0),
            Err(StatsError::NonPositiveDenominator { .. })
        ));
        assert!(matches!(
            proportion(11.0, 10.0, 1.0),
            Err(StatsError::NumeratorExceedsDenominator { .. })
        ));
        assert!(matches!(
            proportion(f64::NAN, 10.0, 1.0),
            Err(StatsError::NotFinite { .. })
        ));
        assert!(matches!(
            proportion(1.0, 10.0, 0.0),
            Err(StatsError::InvalidMultiplier(_))
        ));
    }

    #[test]
    fn labels() {
        let p = proportion(1.0, 2.0, 100.0).unwrap_or(Proportion {
            numerator: 0.0,
            denominator: 1.0,
            multiplier: 1.0,
            value: 0.0,
        });
        assert_eq!(p.statistic_label(), "percentage");
        assert_eq!(p.value, 50.0);
        let p = proportion(1.0, 2.0, 1.0).unwrap_or(p);
        assert_eq!(p.statistic_label(), "proportion of 1");
    }
}
