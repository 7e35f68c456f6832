//! Confidence levels, intervals and the Poisson count limits shared by several methods.

use crate::dist::{Tail, gamma_quantile, normal_quantile};
use crate::error::{Result, StatsError, count};

/// A two-sided confidence level, stored as a fraction in (0, 1).
///
/// Accepts either a fraction (`0.95`) or a percentage (`95`), like PHEindicatormethods. The
/// critical value is z = Φ⁻¹(1 − α/2), computed as R does: `qnorm(c + (1 - c) / 2)`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConfidenceLevel(f64);

impl ConfidenceLevel {
    /// 95% (two sided, z = 1.959964).
    pub const P95: ConfidenceLevel = ConfidenceLevel(0.95);
    /// 99.8% (two sided, z = 3.090232).
    pub const P99_8: ConfidenceLevel = ConfidenceLevel(0.998);

    /// A confidence level from a fraction in (0, 1) or a percentage in (1, 100).
    pub fn new(level: f64) -> Result<Self> {
        if level.is_finite() && level > 0.0 && level < 1.0 {
            Ok(ConfidenceLevel(level))
        } else if level.is_finite() && level > 1.0 && level < 100.0 {
            Ok(ConfidenceLevel(level / 100.0))
        } else {
            Err(StatsError::InvalidConfidence(level))
        }
    }

    /// The level as a fraction, e.g. 0.95.
    pub fn fraction(self) -> f64 {
        self.0
    }

    /// α = 1 − level.
    pub fn alpha(self) -> f64 {
        1.0 - self.0
    }

    /// α/2, the probability in each tail, computed as `(1 - c) / 2`.
    pub fn tail_probability(self) -> f64 {
        (1.0 - self.0) / 2.0
    }

    /// The probability `c + (1 - c) / 2` = 1 − α/2.
    pub fn upper_probability(self) -> f64 {
        self.0 + (1.0 - self.0) / 2.0
    }

    /// The two-sided normal critical value z = Φ⁻¹(1 − α/2).
    pub fn z(self) -> f64 {
        normal_quantile(self.upper_probability())
    }

    /// A label like `"95%"` or `"99.8%"` (as the PHEindicatormethods `confidence` column).
    pub fn label(self) -> String {
        format!("{}%", format_number(self.0 * 100.0))
    }
}

impl TryFrom<f64> for ConfidenceLevel {
    type Error = StatsError;
    fn try_from(value: f64) -> Result<Self> {
        ConfidenceLevel::new(value)
    }
}

/// Format a number the way the package's labels do: no trailing zeros, no exponent for
/// ordinary magnitudes (e.g. `100000`, `99.8`, `0.5`).
pub(crate) fn format_number(x: f64) -> String {
    let rounded = (x * 1e9).round() / 1e9;
    if rounded == rounded.trunc() && rounded.abs() < 1e15 {
        format!("{}", rounded as i64)
    } else {
        let s = format!("{rounded:.9}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A confidence interval: lower and upper limits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Interval {
    /// Lower confidence limit.
    pub lower: f64,
    /// Upper confidence limit.
    pub upper: f64,
}

impl Interval {
    /// An interval from its two limits.
    pub fn new(lower: f64, upper: f64) -> Self {
        Interval { lower, upper }
    }

    /// Both limits multiplied by `factor` (limits swap when `factor` is negative).
    pub fn scaled(self, factor: f64) -> Self {
        let (a, b) = (self.lower * factor, self.upper * factor);
        if factor < 0.0 {
            Interval::new(b, a)
        } else {
            Interval::new(a, b)
        }
    }

    /// upper − lower.
    pub fn width(self) -> f64 {
        self.upper - self.lower
    }

    /// Whether `value` lies within [lower, upper] (limits included).
    pub fn contains(self, value: f64) -> bool {
        value >= self.lower && value <= self.upper
    }
}

/// The two intervals the engine always reports: 95% and 99.8%.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DualInterval {
    /// The 95% interval (`lower95_0cl`, `upper95_0cl`).
    pub ci95: Interval,
    /// The 99.8% interval (`lower99_8cl`, `upper99_8cl`).
    pub ci99_8: Interval,
}

impl DualInterval {
    /// Compute both intervals with a function of the confidence level.
    pub fn try_from_fn(mut f: impl FnMut(ConfidenceLevel) -> Result<Interval>) -> Result<Self> {
        Ok(DualInterval {
            ci95: f(ConfidenceLevel::P95)?,
            ci99_8: f(ConfidenceLevel::P99_8)?,
        })
    }

    /// The interval for one of the two standard levels.
    pub fn get(&self, level: StandardLevel) -> Interval {
        match level {
            StandardLevel::P95 => self.ci95,
            StandardLevel::P99_8 => self.ci99_8,
        }
    }
}

/// One of the two confidence levels Fingertips reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum StandardLevel {
    /// 95%.
    P95,
    /// 99.8%.
    P99_8,
}

impl From<StandardLevel> for ConfidenceLevel {
    fn from(level: StandardLevel) -> Self {
        match level {
            StandardLevel::P95 => ConfidenceLevel::P95,
            StandardLevel::P99_8 => ConfidenceLevel::P99_8,
        }
    }
}

/// Which Poisson method produced a count interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PoissonMethod {
    /// Exact limits from the chi-squared distribution (counts below 10).
    Exact,
    /// Byar's approximation (counts of 10 or more).
    Byars,
}

impl PoissonMethod {
    /// The rule used by `phe_rate` and `calculate_ISRatio`: `Exact` for x < 10, else `Byars`.
    pub fn for_count(x: f64) -> Self {
        if x < 10.0 {
            PoissonMethod::Exact
        } else {
            PoissonMethod::Byars
        }
    }

    /// The package's label: `"Exact"` or `"Byars"`.
    pub fn label(self) -> &'static str {
        match self {
            PoissonMethod::Exact => "Exact",
            PoissonMethod::Byars => "Byars",
        }
    }
}

/// The rule that picks a count's Poisson method: the two rules published indicators use.
///
/// Both give exact limits for small counts; they differ from 10 events upwards, where
/// PHEindicatormethods switches to Byar's approximation and Fingertips' published crude rates
/// stay exact. The difference is in the fifth or sixth significant figure, enough to stop a
/// user reconciling Marmot's numbers with Fingertips' digit for digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PoissonRule {
    /// PHEindicatormethods (`phe_rate`, `calculate_ISRatio`): exact below 10 events, Byar's
    /// from 10. Marmot's default.
    #[default]
    Phe,
    /// Fingertips' published crude rates: exact Poisson (Garwood 1936) limits at every count.
    /// Checked against a real Fingertips export (indicator 93356, "All ages" County & UA rows:
    /// 1 to 1,910 events, every limit reproduced to 1e-6 relative; see
    /// `tests/reference/fingertips`).
    Fingertips,
}

impl PoissonRule {
    /// The method this rule uses for a count of `x`.
    pub fn method_for(self, x: f64) -> PoissonMethod {
        match self {
            PoissonRule::Phe => PoissonMethod::for_count(x),
            PoissonRule::Fingertips => PoissonMethod::Exact,
        }
    }

    /// The rule's name in indicator files and docs: `phe` or `fingertips`.
    pub fn name(self) -> &'static str {
        match self {
            PoissonRule::Phe => "phe",
            PoissonRule::Fingertips => "fingertips",
        }
    }
}

/// Byar's lower limit for an observed count: x(1 − 1/(9x) − z/(3√x))³.
///
/// Byar's approximation to the exact Poisson limits (Breslow & Day 1987, vol. II;
/// PHEindicatormethods `byars_lower`). For x = 0 it returns 0. For very small counts at high
/// confidence the formula goes negative (the package returns `NA`); this returns 0 instead.
pub fn byars_lower(x: f64, level: ConfidenceLevel) -> Result<f64> {
    let x = count("count", x)?;
    if x == 0.0 {
        return Ok(0.0);
    }
    let z = level.z();
    let lower = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * x.sqrt())).powi(3);
    Ok(lower.max(0.0))
}

/// Byar's upper limit for an observed count: (x+1)(1 − 1/(9(x+1)) + z/(3√(x+1)))³.
///
/// Byar's approximation (Breslow & Day 1987, vol. II; PHEindicatormethods `byars_upper`).
pub fn byars_upper(x: f64, level: ConfidenceLevel) -> Result<f64> {
    let x = count("count", x)?;
    let z = level.z();
    let x1 = x + 1.0;
    Ok(x1 * (1.0 - 1.0 / (9.0 * x1) + z / (3.0 * x1.sqrt())).powi(3))
}

/// Exact Poisson limits for an observed count: χ²⁻¹(α/2; 2x)/2 and χ²⁻¹(1 − α/2; 2x + 2)/2.
///
/// The exact (Garwood 1936) interval used by PHEindicatormethods `phe_rate` for x < 10.
/// The lower limit is 0 when x = 0.
pub fn exact_poisson_interval(x: f64, level: ConfidenceLevel) -> Result<Interval> {
    let x = count("count", x)?;
    let a2 = level.tail_probability();
    let lower = if x == 0.0 {
        0.0
    } else {
        gamma_quantile(a2, x, Tail::Lower)?
    };
    let upper = gamma_quantile(a2, x + 1.0, Tail::Upper)?;
    Ok(Interval::new(lower, upper))
}

/// Byar's interval for an observed count (both limits; see [`byars_lower`], [`byars_upper`]).
pub fn byars_interval(x: f64, level: ConfidenceLevel) -> Result<Interval> {
    Ok(Interval::new(
        byars_lower(x, level)?,
        byars_upper(x, level)?,
    ))
}

/// Poisson interval for a count with the PHE switch: exact for x < 10, Byar's for x ≥ 10
/// (PHEindicatormethods `phe_rate`, `calculate_ISRatio`, `calculate_ISRate`).
pub fn poisson_count_interval(x: f64, level: ConfidenceLevel) -> Result<(Interval, PoissonMethod)> {
    poisson_count_interval_by(x, level, PoissonRule::Phe)
}

/// Poisson interval for a count with the method `rule` picks (see [`PoissonRule`]).
pub fn poisson_count_interval_by(
    x: f64,
    level: ConfidenceLevel,
    rule: PoissonRule,
) -> Result<(Interval, PoissonMethod)> {
    let method = rule.method_for(count("count", x)?);
    let ci = match method {
        PoissonMethod::Exact => exact_poisson_interval(x, level)?,
        PoissonMethod::Byars => byars_interval(x, level)?,
    };
    Ok((ci, method))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confidence_accepts_fraction_or_percent() {
        assert_eq!(ConfidenceLevel::new(95.0), Ok(ConfidenceLevel::P95));
        assert_eq!(ConfidenceLevel::new(0.95), Ok(ConfidenceLevel::P95));
        assert!(
            (ConfidenceLevel::new(99.8)
                .map(|c| c.fraction())
                .unwrap_or(0.0)
                - 0.998)
                .abs()
                < 1e-15
        );
        assert!(ConfidenceLevel::new(1.0).is_err());
        assert!(ConfidenceLevel::new(100.0).is_err());
        assert!(ConfidenceLevel::new(0.0).is_err());
        assert!(ConfidenceLevel::new(f64::NAN).is_err());
        assert!((ConfidenceLevel::P95.z() - 1.959963984540054).abs() < 1e-15);
        assert!((ConfidenceLevel::P99_8.z() - 3.090232306167813).abs() < 1e-14);
        assert_eq!(ConfidenceLevel::P95.label(), "95%");
        assert_eq!(ConfidenceLevel::P99_8.label(), "99.8%");
        assert_eq!(
            ConfidenceLevel::new(0.9).map(|c| c.label()),
            Ok("90%".to_string())
        );
    }

    #[test]
    fn poisson_switch_and_zero() {
        let (ci, m) = poisson_count_interval(0.0, ConfidenceLevel::P95)
            .unwrap_or((Interval::new(1.0, 1.0), PoissonMethod::Byars));
        assert_eq!(m, PoissonMethod::Exact);
        assert_eq!(ci.lower, 0.0);
        // Upper exact limit for 0 events is -ln(0.025).
        assert!((ci.upper - 3.688879454113936).abs() < 1e-13);
        assert_eq!(PoissonMethod::for_count(9.0), PoissonMethod::Exact);
        assert_eq!(PoissonMethod::for_count(10.0), PoissonMethod::Byars);
        assert!(poisson_count_interval(-1.0, ConfidenceLevel::P95).is_err());
    }

    #[test]
    fn interval_scaling_swaps_for_negative_factor() {
        let i = Interval::new(1.0, 2.0).scaled(-1.0);
        assert_eq!(i, Interval::new(-2.0, -1.0));
    }
}
