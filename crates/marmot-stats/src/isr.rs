//! Indirectly standardised ratios (SMR-style) and rates.

use crate::ci::{
    ConfidenceLevel, DualInterval, Interval, PoissonMethod, format_number, poisson_count_interval,
};
use crate::error::{Result, StatsError, count, multiplier as check_multiplier, positive};

/// One age band of an indirect standardisation.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IsrBand {
    /// Observed events in the band for the area.
    pub count: f64,
    /// Population of the band for the area.
    pub population: f64,
    /// Reference events in the band; `None` (missing) counts as 0 in the expected count and is
    /// left out of the reference-rate numerator.
    pub reference_count: Option<f64>,
    /// Reference population of the band (must be > 0).
    pub reference_population: f64,
}

/// Expected events E = Σ (x_refᵢ / n_refᵢ) · nᵢ (missing x_ref counts as 0), the expected count
/// of indirect standardisation (Breslow & Day 1987; PHEindicatormethods::calculate_ISRatio).
pub fn expected_events(bands: &[IsrBand]) -> Result<f64> {
    let mut e = 0.0;
    for b in bands {
        let xr = count("reference count", b.reference_count.unwrap_or(0.0))?;
        let nr = positive("reference population", b.reference_population)?;
        let n = count("population", b.population)?;
        e += xr / nr * n;
    }
    Ok(e)
}

fn observed_events(bands: &[IsrBand]) -> Result<f64> {
    let mut o = 0.0;
    for b in bands {
        o += count("count", b.count)?;
    }
    Ok(o)
}

/// An indirectly standardised ratio or rate: O/E × scale, with CIs from the Poisson limits of
/// O divided by E and scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IndirectlyStandardised {
    /// Observed events O.
    pub observed: f64,
    /// Expected events E.
    pub expected: f64,
    /// The factor O/E is multiplied by: the reference value for a ratio, the reference rate
    /// for a rate.
    pub scale: f64,
    /// O/E × scale.
    pub value: f64,
    /// `Exact` for O < 10, `Byars` otherwise.
    pub method: PoissonMethod,
}

impl IndirectlyStandardised {
    /// The CI at `level`.
    pub fn ci(&self, level: ConfidenceLevel) -> Result<Interval> {
        let (ci, _) = poisson_count_interval(self.observed, level)?;
        Ok(Interval::new(
            ci.lower / self.expected * self.scale,
            ci.upper / self.expected * self.scale,
        ))
    }

    /// The 95% and 99.8% intervals.
    pub fn dual_ci(&self) -> Result<DualInterval> {
        DualInterval::try_from_fn(|level| self.ci(level))
    }
}

/// The result of [`indirectly_standardised_ratio`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IsRatio {
    /// O, E, value and method; `scale` is the reference value.
    pub estimate: IndirectlyStandardised,
    /// Reference value (1 for a ratio, 100 for an SMR × 100).
    pub refvalue: f64,
}

impl IsRatio {
    /// The package's label, e.g. `"indirectly standardised ratio x 100"`.
    pub fn statistic_label(&self) -> String {
        format!(
            "indirectly standardised ratio x {}",
            format_number(self.refvalue)
        )
    }
}

/// The result of [`indirectly_standardised_rate`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IsRate {
    /// O, E, value and method; `scale` is the reference rate.
    pub estimate: IndirectlyStandardised,
    /// Reference rate Σx_ref/Σn_ref × multiplier.
    pub reference_rate: f64,
    /// Multiplier.
    pub multiplier: f64,
}

impl IsRate {
    /// The package's label, e.g. `"indirectly standardised rate per 100000"`.
    pub fn statistic_label(&self) -> String {
        format!(
            "indirectly standardised rate per {}",
            format_number(self.multiplier)
        )
    }
}

fn build(observed: f64, expected: f64, scale: f64) -> Result<IndirectlyStandardised> {
    if expected <= 0.0 {
        return Err(StatsError::NonPositiveDenominator {
            name: "expected events",
            value: expected,
        });
    }
    Ok(IndirectlyStandardised {
        observed,
        expected,
        scale,
        value: observed / expected * scale,
        method: PoissonMethod::for_count(observed),
    })
}

/// Indirectly standardised ratio O/E × refvalue with exact (O < 10) or Byar's (O ≥ 10)
/// limits (Breslow & Day 1987; PHEindicatormethods::calculate_ISRatio,
/// `refpoptype = "field"`). Nothing is suppressed.
pub fn indirectly_standardised_ratio(bands: &[IsrBand], refvalue: f64) -> Result<IsRatio> {
    let refvalue = check_multiplier(refvalue)?;
    let estimate = build(observed_events(bands)?, expected_events(bands)?, refvalue)?;
    Ok(IsRatio { estimate, refvalue })
}

/// Indirectly standardised rate O/E × reference rate, with reference rate
/// Σx_ref/Σn_ref × multiplier (missing x_ref dropped from the numerator, its n_ref kept), and
/// exact/Byar's limits (PHEindicatormethods::calculate_ISRate). Nothing is suppressed.
pub fn indirectly_standardised_rate(bands: &[IsrBand], multiplier: f64) -> Result<IsRate> {
    let multiplier = check_multiplier(multiplier)?;
    let mut ref_x = 0.0;
    let mut ref_n = 0.0;
    for b in bands {
        if let Some(x) = b.reference_count {
            ref_x += count("reference count", x)?;
        }
        ref_n += positive("reference population", b.reference_population)?;
    }
    if ref_n <= 0.0 {
        return Err(StatsError::InsufficientData(
            "an indirectly standardised rate needs at least one band".into(),
        ));
    }
    let reference_rate = ref_x / ref_n * multiplier;
    let estimate = build(
        observed_events(bands)?,
        expected_events(bands)?,
        reference_rate,
    )?;
    Ok(IsRate {
        estimate,
        reference_rate,
        multiplier,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_expected_is_an_error() {
        let b = [IsrBand {
            count: 1.0,
            population: 100.0,
            reference_count: Some(0.0),
            reference_population: 1000.0,
        }];
        assert!(indirectly_standardised_ratio(&b, 1.0).is_err());
    }

    #[test]
    fn smr_of_expected_equals_refvalue() {
        let b = [IsrBand {
            count: 20.0,
            population: 1000.0,
            reference_count: Some(200.0),
            reference_population: 10000.0,
        }];
        let r = indirectly_standardised_ratio(&b, 100.0).map(|r| r.estimate.value);
        assert_eq!(r, Ok(100.0));
    }
}
