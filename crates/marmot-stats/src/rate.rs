//! Crude rates with exact Poisson / Byar's confidence intervals.

use crate::ci::{
    ConfidenceLevel, DualInterval, Interval, PoissonMethod, PoissonRule, format_number,
};
use crate::error::{Result, count, multiplier as check_multiplier, positive};

/// A crude rate x/n × multiplier whose CIs can be asked for at any level.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CrudeRate {
    /// Observed events x.
    pub count: f64,
    /// Population (person-years) n.
    pub denominator: f64,
    /// Multiplier (the package default is 100000).
    pub multiplier: f64,
    /// x/n × multiplier.
    pub value: f64,
    /// The method of the CIs: chosen by the rule from the count alone (under the default
    /// [`PoissonRule::Phe`], `Exact` when x < 10, `Byars` otherwise).
    pub method: PoissonMethod,
}

impl CrudeRate {
    /// The CI at `level`: Poisson limits of the count, divided by n, × multiplier.
    pub fn ci(&self, level: ConfidenceLevel) -> Result<Interval> {
        let ci = match self.method {
            PoissonMethod::Exact => crate::ci::exact_poisson_interval(self.count, level)?,
            PoissonMethod::Byars => crate::ci::byars_interval(self.count, level)?,
        };
        Ok(Interval::new(
            ci.lower / self.denominator * self.multiplier,
            ci.upper / self.denominator * self.multiplier,
        ))
    }

    /// The 95% and 99.8% intervals.
    pub fn dual_ci(&self) -> Result<DualInterval> {
        DualInterval::try_from_fn(|level| self.ci(level))
    }

    /// The package's `statistic` label, e.g. `"rate per 100000"`.
    pub fn statistic_label(&self) -> String {
        format!("rate per {}", format_number(self.multiplier))
    }
}

/// A crude rate with exact Poisson (x < 10) or Byar's (x ≥ 10) confidence intervals
/// (Garwood 1936; Breslow & Day 1987; PHEindicatormethods::phe_rate).
///
/// Nothing is suppressed. Errors for negative x, n ≤ 0, non-finite input or a zero multiplier.
pub fn crude_rate(x: f64, n: f64, multiplier: f64) -> Result<CrudeRate> {
    crude_rate_by(x, n, multiplier, PoissonRule::Phe)
}

/// A crude rate whose CIs follow `rule`: [`PoissonRule::Phe`] as [`crude_rate`], or
/// [`PoissonRule::Fingertips`] (exact Poisson at every count, as Fingertips publishes).
pub fn crude_rate_by(x: f64, n: f64, multiplier: f64, rule: PoissonRule) -> Result<CrudeRate> {
    let x = count("count", x)?;
    let n = positive("denominator", n)?;
    let multiplier = check_multiplier(multiplier)?;
    Ok(CrudeRate {
        count: x,
        denominator: n,
        multiplier,
        value: x / n * multiplier,
        method: rule.method_for(x),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_is_by_count() {
        let r = crude_rate(9.0, 100.0, 1000.0);
        assert_eq!(r.map(|r| r.method), Ok(PoissonMethod::Exact));
        let r = crude_rate(10.0, 100.0, 1000.0);
        assert_eq!(r.map(|r| r.method), Ok(PoissonMethod::Byars));
        assert!(crude_rate(1.0, 0.0, 1.0).is_err());
        assert!(crude_rate(-1.0, 10.0, 1.0).is_err());
    }

    #[test]
    fn the_fingertips_rule_stays_exact_above_ten() {
        let phe = crude_rate(500.0, 1e5, 1e5).and_then(|r| r.ci(ConfidenceLevel::P95));
        let ft = crude_rate_by(500.0, 1e5, 1e5, PoissonRule::Fingertips);
        assert_eq!(ft.as_ref().map(|r| r.method), Ok(PoissonMethod::Exact));
        let nan = Interval::new(f64::NAN, f64::NAN);
        let ft = ft.and_then(|r| r.ci(ConfidenceLevel::P95)).unwrap_or(nan);
        let exact = crate::ci::exact_poisson_interval(500.0, ConfidenceLevel::P95).unwrap_or(nan);
        let phe = phe.unwrap_or(nan);
        assert!((ft.lower - exact.lower).abs() < 1e-9 && (ft.upper - exact.upper).abs() < 1e-9);
        assert!(
            ft.lower != phe.lower,
            "Byar's {phe:?} differs from exact {ft:?} at 500 events"
        );
    }

    #[test]
    fn zero_count_has_zero_lower_limit() {
        let ci = crude_rate(0.0, 50.0, 100000.0).and_then(|r| r.ci(ConfidenceLevel::P95));
        let ci = ci.unwrap_or(Interval::new(f64::NAN, f64::NAN));
        assert_eq!(ci.lower, 0.0);
        assert!((ci.upper - 7377.75890822787).abs() < 1e-9);
    }
}
