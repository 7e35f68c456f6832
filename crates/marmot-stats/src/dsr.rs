//! Directly standardised rates (Dobson method), including the non-independent-events variant.

use crate::ci::{ConfidenceLevel, DualInterval, Interval, byars_lower, byars_upper, format_number};
use crate::error::{Result, StatsError, count, finite, multiplier as check_multiplier, positive};

/// The European Standard Population 2013 in 19 five-year bands (0–4, 5–9, …, 85–89, 90+),
/// as the package's `esp2013` vector. Sums to 100000.
pub const ESP2013: [f64; 19] = [
    5000.0, 5500.0, 5500.0, 5500.0, 6000.0, 6000.0, 6500.0, 7000.0, 7000.0, 7000.0, 7000.0, 6500.0,
    6000.0, 5500.0, 5000.0, 4000.0, 2500.0, 1500.0, 1000.0,
];

/// Counts below this total are suppressed (value and limits not published).
pub const DSR_SUPPRESSION_THRESHOLD: f64 = 10.0;

/// One age band of a DSR calculation.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DsrBand {
    /// Events in the band; `None` (missing) counts as 0.
    pub count: Option<f64>,
    /// Population of the band (must be > 0).
    pub population: f64,
    /// Standard population weight of the band (e.g. [`ESP2013`]).
    pub standard_population: f64,
}

/// One age band for the non-independent-events DSR: individuals grouped by how many events
/// each had.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct NonIndependentBand {
    /// Population of the band (must be > 0).
    pub population: f64,
    /// Standard population weight of the band.
    pub standard_population: f64,
    /// `(event frequency f, number of individuals with f events)`; a missing number counts as 0.
    pub individuals_by_frequency: Vec<(f64, Option<f64>)>,
}

/// Which DSR variance was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DsrMethod {
    /// Dobson et al. (1991), events assumed independent.
    Dobson,
    /// Dobson, with the variance adjusted for individuals having several events.
    DobsonNonIndependent,
}

impl DsrMethod {
    /// The package's `method` label.
    pub fn label(self) -> &'static str {
        match self {
            DsrMethod::Dobson => "Dobson",
            DsrMethod::DobsonNonIndependent => {
                "Dobson, with confidence adjusted for non-independent events"
            }
        }
    }
}

/// A published (not suppressed) DSR whose CIs can be asked for at any level.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DsrEstimate {
    /// Total events O.
    pub total_count: f64,
    /// Total population Σn.
    pub total_population: f64,
    /// The DSR, × multiplier.
    pub value: f64,
    /// Variance of the (unscaled) DSR: Σ(xᵢ(wᵢ/nᵢ)²)/(Σw)² (or its non-independent form).
    pub variance: f64,
    /// Multiplier (the package default is 100000).
    pub multiplier: f64,
    /// Variance method.
    pub method: DsrMethod,
}

impl DsrEstimate {
    /// Dobson CI at `level`: value + √(var/O)·(B(O) − O)·m, with B the Byar limits of O.
    pub fn ci(&self, level: ConfidenceLevel) -> Result<Interval> {
        let o = self.total_count;
        let scale = (self.variance / o).sqrt();
        let lower = self.value + scale * (byars_lower(o, level)? - o) * self.multiplier;
        let upper = self.value + scale * (byars_upper(o, level)? - o) * self.multiplier;
        Ok(Interval::new(lower, upper))
    }

    /// The 95% and 99.8% intervals.
    pub fn dual_ci(&self) -> Result<DualInterval> {
        DualInterval::try_from_fn(|level| self.ci(level))
    }

    /// The package's `statistic` label, e.g. `"dsr per 100000"`.
    pub fn statistic_label(&self) -> String {
        format!("dsr per {}", format_number(self.multiplier))
    }
}

/// The result of a DSR: published, or suppressed because the total count is below 10.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DsrResult {
    /// Total count ≥ 10: value and CIs are published.
    Published(DsrEstimate),
    /// Total count < 10 (0 included): nothing is published.
    Suppressed {
        /// Total events O.
        total_count: f64,
        /// Total population Σn.
        total_population: f64,
        /// Variance method that would have been used.
        method: DsrMethod,
    },
}

impl DsrResult {
    /// The estimate, if published.
    pub fn estimate(&self) -> Option<&DsrEstimate> {
        match self {
            DsrResult::Published(e) => Some(e),
            DsrResult::Suppressed { .. } => None,
        }
    }

    /// Whether the result is suppressed.
    pub fn is_suppressed(&self) -> bool {
        matches!(self, DsrResult::Suppressed { .. })
    }

    /// Total events O.
    pub fn total_count(&self) -> f64 {
        match self {
            DsrResult::Published(e) => e.total_count,
            DsrResult::Suppressed { total_count, .. } => *total_count,
        }
    }

    /// Total population Σn.
    pub fn total_population(&self) -> f64 {
        match self {
            DsrResult::Published(e) => e.total_population,
            DsrResult::Suppressed {
                total_population, ..
            } => *total_population,
        }
    }

    /// The package's `statistic` label; `"dsr NA for total count < 10"` when suppressed.
    pub fn statistic_label(&self) -> String {
        match self {
            DsrResult::Published(e) => e.statistic_label(),
            DsrResult::Suppressed { .. } => "dsr NA for total count < 10".to_string(),
        }
    }
}

fn check_band(population: f64, standard_population: f64) -> Result<()> {
    positive("population", population)?;
    count("standard population", standard_population)?;
    Ok(())
}

fn finish(
    total_count: f64,
    total_population: f64,
    weighted_sum: f64,
    variance: f64,
    multiplier: f64,
    method: DsrMethod,
) -> DsrResult {
    if total_count < DSR_SUPPRESSION_THRESHOLD {
        return DsrResult::Suppressed {
            total_count,
            total_population,
            method,
        };
    }
    DsrResult::Published(DsrEstimate {
        total_count,
        total_population,
        value: weighted_sum * multiplier,
        variance,
        multiplier,
        method,
    })
}

/// Directly standardised rate with Dobson confidence limits (Dobson et al. 1991, Statistics
/// in Medicine 10:457–462; PHEindicatormethods::calculate_dsr, `independent_events = TRUE`).
///
/// value = Σ(xᵢwᵢ/nᵢ)/Σwᵢ × m; var = Σ(xᵢ(wᵢ/nᵢ)²)/(Σwᵢ)²; Byar limits of O = Σxᵢ are always
/// used. Totals below 10 are [`DsrResult::Suppressed`]. A missing count counts as 0; every band
/// needs population > 0.
pub fn dsr(bands: &[DsrBand], multiplier: f64) -> Result<DsrResult> {
    let multiplier = check_multiplier(multiplier)?;
    if bands.is_empty() {
        return Err(StatsError::InsufficientData(
            "a DSR needs at least one age band".into(),
        ));
    }
    let mut total_count = 0.0;
    let mut total_population = 0.0;
    let mut weight_sum = 0.0;
    let mut rate_sum = 0.0;
    let mut var_sum = 0.0;
    for band in bands {
        check_band(band.population, band.standard_population)?;
        let x = count("count", band.count.unwrap_or(0.0))?;
        let (w, n) = (band.standard_population, band.population);
        total_count += x;
        total_population += n;
        weight_sum += w;
        rate_sum += x * w / n;
        var_sum += x * (w / n).powi(2);
    }
    positive("sum of standard population", weight_sum)?;
    Ok(finish(
        total_count,
        total_population,
        rate_sum / weight_sum,
        var_sum / weight_sum.powi(2),
        multiplier,
        DsrMethod::Dobson,
    ))
}

/// Directly standardised rate for non-independent events (individuals can have several
/// events), Dobson method with adjusted variance (PHEindicatormethods::calculate_dsr,
/// `independent_events = FALSE`; Fingertips technical guidance).
///
/// Events per band = Σ f·x_f; the value is the DSR of the events; var = Σ_f f²·var_f, where
/// var_f is the Dobson variance of the individuals with frequency f; O = total events.
/// Totals below 10 events are suppressed.
pub fn dsr_non_independent(bands: &[NonIndependentBand], multiplier: f64) -> Result<DsrResult> {
    let multiplier = check_multiplier(multiplier)?;
    if bands.is_empty() {
        return Err(StatsError::InsufficientData(
            "a DSR needs at least one age band".into(),
        ));
    }
    let mut total_count = 0.0;
    let mut total_population = 0.0;
    let mut weight_sum = 0.0;
    let mut rate_sum = 0.0;
    let mut var_sum = 0.0;
    for band in bands {
        check_band(band.population, band.standard_population)?;
        let (w, n) = (band.standard_population, band.population);
        total_population += n;
        weight_sum += w;
        let mut events = 0.0;
        for &(f, individuals) in &band.individuals_by_frequency {
            let f = count("event frequency", finite("event frequency", f)?)?;
            let x = count("individuals", individuals.unwrap_or(0.0))?;
            events += f * x;
            var_sum += f * f * x * (w / n).powi(2);
        }
        total_count += events;
        rate_sum += events * w / n;
    }
    positive("sum of standard population", weight_sum)?;
    Ok(finish(
        total_count,
        total_population,
        rate_sum / weight_sum,
        var_sum / weight_sum.powi(2),
        multiplier,
        DsrMethod::DobsonNonIndependent,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bands(counts: &[f64]) -> Vec<DsrBand> {
        counts
            .iter()
            .zip(ESP2013)
            .map(|(&x, w)| DsrBand {
                count: Some(x),
                population: 1000.0,
                standard_population: w,
            })
            .collect()
    }

    #[test]
    fn suppression_boundary() {
        let mut c = [0.0; 19];
        c[3] = 9.0;
        let r = dsr(&bands(&c), 100000.0);
        assert!(r.as_ref().map(|r| r.is_suppressed()).unwrap_or(false));
        assert_eq!(
            r.map(|r| r.statistic_label()),
            Ok("dsr NA for total count < 10".into())
        );
        c[3] = 10.0;
        let r = dsr(&bands(&c), 100000.0);
        assert!(r.map(|r| !r.is_suppressed()).unwrap_or(false));
        let r = dsr(&bands(&[0.0; 19]), 100000.0);
        assert!(r.map(|r| r.is_suppressed()).unwrap_or(false));
    }

    #[test]
    fn esp_sums_to_100000() {
        assert_eq!(ESP2013.iter().sum::<f64>(), 100000.0);
    }

    #[test]
    fn invalid_bands() {
        let mut b = bands(&[1.0; 19]);
        b[0].population = 0.0;
        assert!(dsr(&b, 1.0).is_err());
        let mut b = bands(&[1.0; 19]);
        b[0].count = Some(-1.0);
        assert!(dsr(&b, 1.0).is_err());
        assert!(dsr(&[], 1.0).is_err());
    }
}
