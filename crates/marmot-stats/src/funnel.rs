//! Funnel plot control limits, chart points and significance (PHE Fingertips funnel method).

use crate::dist::{Tail, chi_squared_quantile, normal_quantile};
use crate::error::{Result, StatsError, count, multiplier as check_multiplier, positive, same_len};

/// Which side of a funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The lower limit.
    Low,
    /// The upper limit.
    High,
}

/// How a ratio funnel is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RatioType {
    /// O/E − 1 (a count ratio centred on 0).
    Count,
    /// O/E × 100 (an indirectly standardised ratio).
    Isr,
}

/// Which rate a rate funnel is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RateType {
    /// A crude rate.
    Crude,
    /// A directly standardised rate.
    Dsr,
}

/// One row of a rate funnel's input.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RateFunnelRow {
    /// Events (numerator).
    pub events: f64,
    /// The rate (per multiplier); required when events > 0.
    pub rate: Option<f64>,
    /// The denominator; required for crude rates with 0 events.
    pub denominator: Option<f64>,
}

/// Auxiliary values of a ratio or rate funnel row: expected events (ratio) or the population
/// per year (rate) at which each limit lies.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FunnelAux {
    /// For the lower 2σ (95%) limit.
    pub lower_2s: f64,
    /// For the upper 2σ (95%) limit.
    pub upper_2s: f64,
    /// For the lower 3σ (99.8%) limit.
    pub lower_3s: f64,
    /// For the upper 3σ (99.8%) limit.
    pub upper_3s: f64,
}

/// One of the 100 points of a funnel's control limits.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FunnelLimit {
    /// x-axis value: population (proportion), observed events (ratio) or events (rate).
    pub axis_value: f64,
    /// Lower 2σ (p = 0.025) limit.
    pub lower_2s: f64,
    /// Upper 2σ limit.
    pub upper_2s: f64,
    /// Lower 3σ (p = 0.001) limit.
    pub lower_3s: f64,
    /// Upper 3σ limit.
    pub upper_3s: f64,
    /// Average × multiplier (`None` for ratios).
    pub baseline: Option<f64>,
    /// Expected events (ratio) or population per year (rate); `None` for proportions.
    pub aux: Option<FunnelAux>,
}

/// The significance of one area against the funnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FunnelSignificance {
    /// Above the 99.8% limit.
    High001,
    /// Above the 95% limit.
    High025,
    /// Below the 99.8% limit.
    Low001,
    /// Below the 95% limit.
    Low025,
    /// Within the 95% limits.
    NotSignificant,
    /// DSR with fewer than 10 events.
    NotApplicableDsrUnder10,
}

impl FunnelSignificance {
    /// The package's label, e.g. `"High (0.001)"`.
    pub fn label(self) -> &'static str {
        match self {
            FunnelSignificance::High001 => "High (0.001)",
            FunnelSignificance::High025 => "High (0.025)",
            FunnelSignificance::Low001 => "Low (0.001)",
            FunnelSignificance::Low025 => "Low (0.025)",
            FunnelSignificance::NotSignificant => "Not significant",
            FunnelSignificance::NotApplicableDsrUnder10 => {
                "Not applicable for events less than 10 for dsrs"
            }
        }
    }
}

/// Charting values of one rate row.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FunnelPoint {
    /// The rate to chart (`None` for DSRs with fewer than 10 events).
    pub rate_chart: Option<f64>,
    /// The derived denominator per year (`None` for DSRs with fewer than 10 events).
    pub denominator_derived: Option<f64>,
}

/// Cumulative Poisson probability P(x_a ≤ X ≤ x_b) for mean z, summed term by term from 0
/// with rescaling, stopping once past z and the terms fall below 1e-10 of the total (the
/// `poisson_cis` routine of the PHE funnel plot tool, as in PHEindicatormethods).
pub fn poisson_cumulative_between(z: f64, x_a: f64, x_b: f64) -> f64 {
    let mut q = 1.0;
    let mut tot = 0.0;
    let mut s = 0.0;
    let mut k = 0.0;
    while k <= z || q > tot * 1e-10 {
        tot += q;
        if k >= x_a && k <= x_b {
            s += q;
        }
        if tot > 1e30 {
            s /= 1e30;
            tot /= 1e30;
            q /= 1e30;
        }
        k += 1.0;
        q = q * z / k;
    }
    s / tot
}

/// Expected count E at which an observed count O sits on a Poisson funnel limit, by bisection
/// on v ∈ (0, 1) with E = (1 + O)v/(1 − v) and step halved from 0.5 while > 1e-7
/// (PHE funnel plot tool; PHEindicatormethods `poisson_funnel`).
///
/// `Side::Low` solves P(X ≥ O | E) = p (the E of the upper ratio limit); `Side::High` solves
/// P(X ≤ O | E) = p (the E of the lower ratio limit). The bisection is replicated step by step,
/// so results agree with the package to the last digit rather than to the exact root (≈1e-6).
/// Each of the 23 steps sums about E + a few √E Poisson terms, so the cost grows linearly with
/// the count.
pub fn poisson_funnel(obs: f64, p: f64, side: Side) -> f64 {
    let mut v = 0.5;
    let mut dv = 0.5;
    while dv > 1e-7 {
        dv /= 2.0;
        let e = (1.0 + obs) * v / (1.0 - v);
        let go_down = match side {
            Side::Low => poisson_cumulative_between(e, obs, 1e10) > p,
            Side::High => poisson_cumulative_between(e, 0.0, obs) < p,
        };
        if go_down {
            v -= dv;
        } else {
            v += dv;
        }
    }
    (1.0 + obs) * v / (1.0 - v)
}

/// Proportion funnel limit at population n around the average proportion, inverting the
/// Wilson score interval (PHE funnel plot tool; PHEindicatormethods `sigma_adjustment`).
/// `p` is 0.975 for 2σ and 0.999 for 3σ. Returns the limit × multiplier (not clipped).
pub fn sigma_adjustment(
    p: f64,
    population: f64,
    average_proportion: f64,
    side: Side,
    multiplier: f64,
) -> f64 {
    let z = normal_quantile(p);
    let z2 = z * z;
    let av = average_proportion;
    let first_part = av * (population / z2 + 1.0);
    let adj = ((-8.0 * av * (population / z2 + 1.0)).powi(2)
        - 64.0
            * (1.0 / z2 + 1.0 / population)
            * av
            * (population * (av * (population / z2 + 2.0) - 1.0) + z2 * (av - 1.0)))
        .sqrt();
    let last_part = 1.0 / z2 + 1.0 / population;
    let limit = match side {
        Side::Low => (first_part - adj / 8.0) / last_part,
        Side::High => (first_part + adj / 8.0) / last_part,
    };
    (limit / population) * multiplier
}

/// Bound of a ratio O/E at confidence `p` (0.95 or 0.998) for the significance test: exact
/// chi-squared (O < 10) or Byar's (O ≥ 10) limit of O, divided by E
/// (PHEindicatormethods `funnel_ratio_significance`). `Side::Low` gives the lower bound.
pub fn funnel_ratio_bound(obs: f64, expected: f64, p: f64, side: Side) -> Result<f64> {
    let cv = 0.5 + p / 2.0;
    let stat = if obs == 0.0 && side == Side::Low {
        0.0
    } else if obs < 10.0 {
        match side {
            Side::Low => chi_squared_quantile(cv, 2.0 * obs, Tail::Upper)? / 2.0,
            Side::High => chi_squared_quantile(cv, 2.0 * obs + 2.0, Tail::Lower)? / 2.0,
        }
    } else {
        let z = normal_quantile(cv);
        match side {
            Side::Low => obs * (1.0 - 1.0 / (9.0 * obs) - z / 3.0 / obs.sqrt()).powi(3),
            Side::High => {
                let o = obs + 1.0;
                o * (1.0 - 1.0 / (9.0 * o) + z / 3.0 / o.sqrt()).powi(3)
            }
        }
    };
    Ok(stat / expected)
}

/// Number of characters R's `nchar()` gives for a non-negative whole number (its digits; R
/// may print round numbers such as 1e+05 in scientific form, but rounding to a power of ten
/// of any finer granularity gives the same axis value for those numbers).
fn digits(x: f64) -> i32 {
    if x < 1.0 {
        1
    } else {
        format!("{x:.0}").len() as i32
    }
}

fn signif_floor(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let n = digits((x * 0.95).floor()) - 1;
    let scale = 10f64.powi(n);
    (x * 0.95 / scale).floor() * scale
}

fn signif_ceiling(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let n = digits((x * 1.05).ceil()) - 2;
    let scale = 10f64.powi(n);
    (x * 1.05 / scale).ceil() * scale
}

fn axis(axis_minimum: f64, axis_maximum: f64, ratio: bool) -> Vec<f64> {
    let mut xs = Vec::with_capacity(100);
    xs.push(axis_minimum.max(1.0));
    for j in 2..=100 {
        let offset = if ratio { j - 1 } else { j };
        let prev = xs[xs.len() - 1];
        let next = ((axis_maximum / prev).powf(1.0 / (101 - offset) as f64) * prev)
            .round_ties_even()
            .max(prev + 1.0);
        xs.push(next);
    }
    xs
}

fn min_max(values: impl Iterator<Item = f64>) -> Result<(f64, f64)> {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo.is_finite() && hi.is_finite() {
        Ok((lo, hi))
    } else {
        Err(StatsError::InsufficientData(
            "a funnel needs at least one denominator".into(),
        ))
    }
}

fn validate_pairs(numerators: &[f64], denominators: &[f64], proportion: bool) -> Result<()> {
    same_len(
        "numerators and denominators",
        numerators.len(),
        denominators.len(),
    )?;
    if numerators.is_empty() {
        return Err(StatsError::InsufficientData(
            "a funnel needs at least one row".into(),
        ));
    }
    for (&x, &n) in numerators.iter().zip(denominators) {
        count("numerator", x)?;
        positive("denominator", n)?;
        if proportion && x > n {
            return Err(StatsError::NumeratorExceedsDenominator {
                numerator: x,
                denominator: n,
            });
        }
    }
    Ok(())
}

/// Control limits for a proportion funnel plot at 100 population values: the Wilson interval
/// inverted around the average Σx/Σn, × multiplier, clipped to [0, 100] (PHE funnel plot
/// tool; PHEindicatormethods::calculate_funnel_limits, `statistic = "proportion"`).
pub fn proportion_funnel_limits(
    numerators: &[f64],
    denominators: &[f64],
    multiplier: f64,
) -> Result<Vec<FunnelLimit>> {
    let multiplier = check_multiplier(multiplier)?;
    validate_pairs(numerators, denominators, true)?;
    let av = numerators.iter().sum::<f64>() / denominators.iter().sum::<f64>();
    let (min_d, max_d) = min_max(denominators.iter().copied())?;
    let axis_min = if max_d > 2.0 * min_d {
        0.0
    } else {
        signif_floor(min_d)
    };
    let axis_max = signif_ceiling(max_d);
    Ok(axis(axis_min, axis_max, false)
        .into_iter()
        .map(|pop| FunnelLimit {
            axis_value: pop,
            lower_2s: sigma_adjustment(0.975, pop, av, Side::Low, multiplier).max(0.0),
            upper_2s: sigma_adjustment(0.975, pop, av, Side::High, multiplier).min(100.0),
            lower_3s: sigma_adjustment(0.999, pop, av, Side::Low, multiplier).max(0.0),
            upper_3s: sigma_adjustment(0.999, pop, av, Side::High, multiplier).min(100.0),
            baseline: Some(av * multiplier),
            aux: None,
        })
        .collect())
}

fn poisson_es(obs: f64) -> FunnelAux {
    FunnelAux {
        lower_2s: poisson_funnel(obs, 0.025, Side::High),
        upper_2s: poisson_funnel(obs, 0.025, Side::Low),
        lower_3s: poisson_funnel(obs, 0.001, Side::High),
        upper_3s: poisson_funnel(obs, 0.001, Side::Low),
    }
}

/// Control limits for a ratio funnel plot at 100 observed-count values: O/E with E from the
/// Poisson bisection, then − 1 (`Count`) or × 100 (`Isr`) (PHE funnel plot tool;
/// PHEindicatormethods::calculate_funnel_limits, `statistic = "ratio"`). The axis comes from
/// the expected counts.
pub fn ratio_funnel_limits(
    observed: &[f64],
    expected: &[f64],
    ratio_type: RatioType,
) -> Result<Vec<FunnelLimit>> {
    validate_pairs(observed, expected, false)?;
    let (min_d, max_d) = min_max(expected.iter().copied())?;
    let axis_min = if max_d > 2.0 * min_d {
        0.0
    } else {
        signif_floor(min_d)
    };
    let axis_max = signif_ceiling(max_d);
    let finish = |r: f64| match ratio_type {
        RatioType::Count => r - 1.0,
        RatioType::Isr => r * 100.0,
    };
    Ok(axis(axis_min, axis_max, true)
        .into_iter()
        .map(|o| {
            let e = poisson_es(o);
            FunnelLimit {
                axis_value: o,
                lower_2s: finish(o / e.lower_2s),
                upper_2s: finish(o / e.upper_2s),
                lower_3s: finish(o / e.lower_3s),
                upper_3s: finish(o / e.upper_3s),
                baseline: None,
                aux: Some(e),
            }
        })
        .collect())
}

/// Derived denominators as `calculate_funnel_limits` computes them (m·events/rate; crude rows
/// with 0 events use the supplied denominator; DSR rows with 0 events are missing).
fn derived_denominators(
    rows: &[RateFunnelRow],
    rate_type: RateType,
    multiplier: f64,
    order_events_first: bool,
) -> Result<Vec<Option<f64>>> {
    rows.iter()
        .map(|r| {
            let events = count("events", r.events)?;
            if events == 0.0 {
                return match rate_type {
                    RateType::Dsr => Ok(None),
                    RateType::Crude => match r.denominator {
                        Some(d) => Ok(Some(positive("denominator", d)?)),
                        None => Err(StatsError::InvalidArgument(
                            "crude rate rows with 0 events need a denominator".into(),
                        )),
                    },
                };
            }
            let rate = match r.rate {
                Some(rate) => positive("rate", rate)?,
                None => {
                    return Err(StatsError::InvalidArgument(
                        "rows with events > 0 need a rate".into(),
                    ));
                }
            };
            Ok(Some(if order_events_first {
                multiplier * events / rate
            } else {
                events / rate * multiplier
            }))
        })
        .collect()
}

fn check_years(years_of_data: f64) -> Result<f64> {
    positive("years of data", years_of_data)
}

/// Control limits for a rate funnel plot at 100 event counts: the population at which each
/// Poisson limit lies is E/av, the limit is events/population × multiplier, and the auxiliary
/// value is that population per year (PHE funnel plot tool;
/// PHEindicatormethods::calculate_funnel_limits, `statistic = "rate"`).
pub fn rate_funnel_limits(
    rows: &[RateFunnelRow],
    rate_type: RateType,
    multiplier: f64,
    years_of_data: f64,
) -> Result<Vec<FunnelLimit>> {
    let multiplier = check_multiplier(multiplier)?;
    let years = check_years(years_of_data)?;
    let derived = derived_denominators(rows, rate_type, multiplier, true)?;
    let total_events: f64 = rows.iter().map(|r| r.events).sum();
    let total_den: f64 = derived.iter().flatten().sum();
    let av = total_events / total_den;
    if !(av.is_finite() && av > 0.0) {
        return Err(StatsError::InsufficientData(
            "a rate funnel needs events and a positive total denominator".into(),
        ));
    }
    let (min_d, max_d) = min_max(derived.iter().flatten().copied())?;
    let axis_min = if max_d > 2.0 * min_d {
        0.0
    } else {
        signif_floor(min_d / years) * years
    };
    let axis_max = signif_ceiling(max_d / years) * years;
    let axis_min = (axis_min * av).floor();
    let axis_max = (axis_max * av).ceil();
    Ok(axis(axis_min, axis_max, false)
        .into_iter()
        .map(|o| {
            let e = poisson_es(o);
            let pops = FunnelAux {
                lower_2s: e.lower_2s / av,
                upper_2s: e.upper_2s / av,
                lower_3s: e.lower_3s / av,
                upper_3s: e.upper_3s / av,
            };
            FunnelLimit {
                axis_value: o,
                lower_2s: o / pops.lower_2s * multiplier,
                upper_2s: o / pops.upper_2s * multiplier,
                lower_3s: o / pops.lower_3s * multiplier,
                upper_3s: o / pops.upper_3s * multiplier,
                baseline: Some(av * multiplier),
                aux: Some(FunnelAux {
                    lower_2s: pops.lower_2s / years,
                    upper_2s: pops.upper_2s / years,
                    lower_3s: pops.lower_3s / years,
                    upper_3s: pops.upper_3s / years,
                }),
            }
        })
        .collect())
}

/// Significance of each area in a proportion funnel: x/n against the Wilson-inverted limits
/// around Σx/Σn at n, 0.001 before 0.025 and low before high
/// (PHEindicatormethods::assign_funnel_significance, `statistic = "proportion"`).
pub fn proportion_funnel_significance(
    numerators: &[f64],
    denominators: &[f64],
) -> Result<Vec<FunnelSignificance>> {
    validate_pairs(numerators, denominators, true)?;
    let average = numerators.iter().sum::<f64>() / denominators.iter().sum::<f64>();
    Ok(numerators
        .iter()
        .zip(denominators)
        .map(|(&x, &n)| {
            let p = x / n;
            if p < sigma_adjustment(0.999, n, average, Side::Low, 1.0) {
                FunnelSignificance::Low001
            } else if p < sigma_adjustment(0.975, n, average, Side::Low, 1.0) {
                FunnelSignificance::Low025
            } else if p > sigma_adjustment(0.999, n, average, Side::High, 1.0) {
                FunnelSignificance::High001
            } else if p > sigma_adjustment(0.975, n, average, Side::High, 1.0) {
                FunnelSignificance::High025
            } else {
                FunnelSignificance::NotSignificant
            }
        })
        .collect())
}

fn ratio_significance(target: f64, obs: f64, den: f64) -> Result<FunnelSignificance> {
    Ok(
        if target < funnel_ratio_bound(obs, den, 0.998, Side::Low)? {
            FunnelSignificance::High001
        } else if target < funnel_ratio_bound(obs, den, 0.95, Side::Low)? {
            FunnelSignificance::High025
        } else if target > funnel_ratio_bound(obs, den, 0.998, Side::High)? {
            FunnelSignificance::Low001
        } else if target > funnel_ratio_bound(obs, den, 0.95, Side::High)? {
            FunnelSignificance::Low025
        } else {
            FunnelSignificance::NotSignificant
        },
    )
}

/// Significance of each area in a ratio funnel: 1 against the exact (O < 10) or Byar's
/// (O ≥ 10) bounds of O/E at 99.8% and 95%
/// (PHEindicatormethods::assign_funnel_significance, `statistic = "ratio"`).
pub fn ratio_funnel_significance(
    observed: &[f64],
    expected: &[f64],
) -> Result<Vec<FunnelSignificance>> {
    validate_pairs(observed, expected, false)?;
    observed
        .iter()
        .zip(expected)
        .map(|(&o, &e)| ratio_significance(1.0, o, e))
        .collect()
}

/// Significance of each area in a rate funnel: the weighted average Σevents/Σderived
/// denominator against each area's exact/Byar's bounds of events/derived denominator; DSR
/// rows with fewer than 10 events are not assessed
/// (PHEindicatormethods::assign_funnel_significance, `statistic = "rate"`).
pub fn rate_funnel_significance(
    rows: &[RateFunnelRow],
    rate_type: RateType,
    multiplier: f64,
) -> Result<Vec<FunnelSignificance>> {
    let multiplier = check_multiplier(multiplier)?;
    let derived = derived_denominators(rows, rate_type, multiplier, false)?;
    let total_events: f64 = rows.iter().map(|r| r.events).sum();
    let total_den: f64 = derived.iter().flatten().sum();
    let weighted_average = total_events / total_den;
    rows.iter()
        .zip(&derived)
        .map(|(r, d)| {
            if rate_type == RateType::Dsr && r.events < 10.0 {
                return Ok(FunnelSignificance::NotApplicableDsrUnder10);
            }
            match d {
                Some(d) => ratio_significance(weighted_average, r.events, *d),
                None => Ok(FunnelSignificance::NotSignificant),
            }
        })
        .collect()
}

/// Rate and per-year derived denominator to chart each area on a rate funnel; DSRs with fewer
/// than 10 events are left out (PHEindicatormethods::calculate_funnel_points).
pub fn rate_funnel_points(
    rows: &[RateFunnelRow],
    rate_type: RateType,
    multiplier: f64,
    years_of_data: f64,
) -> Result<Vec<FunnelPoint>> {
    let multiplier = check_multiplier(multiplier)?;
    let years = check_years(years_of_data)?;
    rows.iter()
        .map(|r| {
            let events = count("events", r.events)?;
            match rate_type {
                RateType::Dsr if events < 10.0 => Ok(FunnelPoint {
                    rate_chart: None,
                    denominator_derived: None,
                }),
                _ if events == 0.0 && rate_type == RateType::Crude => {
                    let d = r.denominator.ok_or_else(|| {
                        StatsError::InvalidArgument(
                            "crude rate rows with 0 events need a denominator".into(),
                        )
                    })?;
                    Ok(FunnelPoint {
                        rate_chart: r.rate,
                        denominator_derived: Some(positive("denominator", d)? / years),
                    })
                }
                _ => {
                    let rate = positive(
                        "rate",
                        r.rate.ok_or_else(|| {
                            StatsError::InvalidArgument("rows with events need a rate".into())
                        })?,
                    )?;
                    Ok(FunnelPoint {
                        rate_chart: Some(rate),
                        denominator_derived: Some((multiplier * events / rate) / years),
                    })
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signif_rounding() {
        assert_eq!(signif_ceiling(19872.0), 21000.0);
        assert_eq!(signif_ceiling(534.575), 570.0);
        assert_eq!(signif_ceiling(165600.0), 180000.0);
        assert_eq!(signif_floor(245.0), 200.0);
        assert_eq!(digits(99999.0), 5);
        assert_eq!(digits(100000.0), 6);
        assert_eq!(digits(0.0), 1);
    }

    #[test]
    fn poisson_sum_is_a_probability() {
        let p = poisson_cumulative_between(3.0, 0.0, 1e10);
        assert!((p - 1.0).abs() < 1e-12);
        let p0 = poisson_cumulative_between(2.0, 0.0, 0.0);
        // Terms below 1e-10 of the total are not summed.
        assert!((p0 - (-2.0f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn mismatched_lengths() {
        assert!(matches!(
            proportion_funnel_limits(&[1.0], &[1.0, 2.0], 100.0),
            Err(StatsError::LengthMismatch { .. })
        ));
    }
}
