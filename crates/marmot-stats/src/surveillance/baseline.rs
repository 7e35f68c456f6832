//! Comparison with a baseline of previous years ("compared to the average of
//! the same weeks in the previous five years").
//!
//! The descriptive comparison used in routine surveillance reports (e.g.
//! UKHSA/ONS weekly reports: "compared with the 5-year average"): for week
//! `t`, the reference weeks are the same ISO week ± `window` weeks in each of
//! the previous `years` years, the expected count is their mean, and the
//! observed count is judged against a 95% prediction interval for a new
//! observation. See [`baseline_comparison`].
//!
//! # Reference weeks
//!
//! * Dated series: week `t` starts on date `d` in ISO week `W` of ISO year
//!   `Y` (ISO 8601 weeks, Monday start). The centre of year `j` is the date
//!   with the same ISO weekday in ISO week `W` of ISO year `Y - j` (week 53
//!   maps to week 52 in years without a week 53); the reference weeks are
//!   that date ± 7, 14, ... days up to `window` weeks. Dates that are not in
//!   the series (gaps) count as missing weeks.
//! * Undated series: the centre of year `j` is exactly `freq * j` periods
//!   back, `freq` being the series' periods per year
//!   ([`WeeklySeries::periods_per_year`]: 52 weekly, 12 monthly).
//! * Dated monthly series (12 periods per year): the centre of year `j` is
//!   the same calendar month `j` years earlier, the reference months that
//!   date ± 1, 2, ... months up to `window` months. Other dated frequencies
//!   than 52 and 12 are an error.
//!
//! Missing counts among the reference weeks are dropped.

use std::ops::Range;

use super::dist;
use super::error::{Result, SurveillanceError};
use super::series::{Date, WeeklySeries};

/// Prediction interval used by [`baseline_comparison`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineInterval {
    /// Negative binomial plug-in prediction interval (default; see
    /// [`baseline_comparison`]). Method: the quasi-Poisson/negative binomial
    /// threshold of Noufaily et al. (2013), Statistics in Medicine
    /// 32(7):1206–1222, applied to the reference-week mean and variance.
    NegativeBinomial,
    /// Normal-theory prediction interval for a new observation,
    /// `mean ± t(n-1, 1-alpha/2) · sd · sqrt(1 + 1/n)`, lower bound clipped
    /// at 0 (textbook interval for an i.i.d. normal sample, e.g. Hahn & Meeker
    /// 1991, *Statistical Intervals*, §4.6).
    Normal,
}

/// Parameters of [`baseline_comparison`] (baseline of previous years).
/// `Default`: 5 years, ± 2 weeks, 95% level, negative binomial interval,
/// no population offset.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineParams {
    /// Number of previous years in the baseline (1..=100).
    pub years: usize,
    /// Weeks either side of the reference week (0..=25, so that the
    /// windows of consecutive years do not overlap).
    pub window: usize,
    /// Coverage of the prediction interval, in (0, 1) (default 0.95).
    pub level: f64,
    /// Prediction interval method.
    pub interval: BaselineInterval,
    /// Scale by population: each reference count is converted to a rate and
    /// multiplied by the population of week `t` (needs a population on the
    /// series).
    pub population_offset: bool,
}

impl Default for BaselineParams {
    fn default() -> Self {
        BaselineParams {
            years: 5,
            window: 2,
            level: 0.95,
            interval: BaselineInterval::NegativeBinomial,
            population_offset: false,
        }
    }
}

/// Result of the baseline-of-previous-years comparison for one week.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineWeek {
    /// 0-based week index.
    pub index: usize,
    /// Observed count (None if missing).
    pub observed: Option<f64>,
    /// Expected count: mean of the (population-scaled) reference counts.
    /// None when fewer than 2 reference counts are available.
    pub expected: Option<f64>,
    /// Lower limit of the prediction interval.
    pub lower: Option<f64>,
    /// Upper limit of the prediction interval.
    pub upper: Option<f64>,
    /// `(observed - expected) / expected * 100`; None when expected is 0
    /// or either value is missing.
    pub percent_difference: Option<f64>,
    /// `observed > upper`.
    pub alarm_up: bool,
    /// `observed < lower`.
    pub alarm_down: bool,
    /// Number of non-missing reference counts used.
    pub n_reference: usize,
    /// Sample standard deviation of the (scaled) reference counts.
    pub sd: Option<f64>,
    /// Dispersion `max(1, variance / mean)` (negative binomial interval only).
    pub phi: Option<f64>,
}

fn weekday_mon0(d: Date) -> i64 {
    i64::from((d.weekday_sunday0() + 6) % 7)
}

/// Monday of ISO week 1 of ISO year `y`.
fn iso_week1_monday(y: i64) -> Result<Date> {
    let year = i32::try_from(y).map_err(|_| SurveillanceError::InvalidDate(format!("year {y}")))?;
    let jan4 = Date::from_ymd(year, 1, 4)?;
    Ok(jan4.add_days(-weekday_mon0(jan4)))
}

/// (ISO year, ISO week) of a date.
fn iso_year_week(d: Date) -> Result<(i64, i64)> {
    let thursday = d.add_days(3 - weekday_mon0(d));
    let (y, _, _) = thursday.ymd();
    let w1 = iso_week1_monday(y)?;
    Ok((
        y,
        (thursday.days_since_epoch() - w1.days_since_epoch()) / 7 + 1,
    ))
}

fn iso_weeks_in_year(y: i64) -> Result<i64> {
    Ok((iso_week1_monday(y + 1)?.days_since_epoch() - iso_week1_monday(y)?.days_since_epoch()) / 7)
}

/// The date with the weekday of `d` in the same ISO week `years_back` ISO
/// years earlier (week 53 becomes 52 where the earlier year has no week 53).
fn same_iso_week(d: Date, years_back: i64) -> Result<Date> {
    let (y, w) = iso_year_week(d)?;
    let y0 = y - years_back;
    let w0 = w.min(iso_weeks_in_year(y0)?);
    Ok(iso_week1_monday(y0)?.add_days(7 * (w0 - 1) + weekday_mon0(d)))
}

/// Reference week indices (None = week not in the series) for week `t`, or
/// None when the oldest reference window starts before the series.
fn reference_indices(
    series: &WeeklySeries,
    t: usize,
    p: &BaselineParams,
) -> Result<Option<Vec<Option<usize>>>> {
    let w = p.window as i64;
    let freq = series.periods_per_year();
    let mut out = Vec::with_capacity(p.years * (2 * p.window + 1));
    match series.dates() {
        Some(dates) if freq == 12 => {
            let first = dates[0];
            for j in 1..=p.years {
                let centre = dates[t].add_months(-12 * j as i64);
                if centre.add_months(-w) < first {
                    return Ok(None);
                }
                for o in -w..=w {
                    out.push(dates.binary_search(&centre.add_months(o)).ok());
                }
            }
        }
        Some(_) if freq != 52 => {
            return Err(SurveillanceError::InvalidParameter {
                name: "periods_per_year",
                reason: format!(
                    "a dated series needs 52 (weekly) or 12 (monthly) periods per year, got {freq}"
                ),
            });
        }
        Some(dates) => {
            let first = dates[0];
            for j in 1..=p.years {
                let centre = same_iso_week(dates[t], j as i64)?;
                if centre.add_days(-7 * w) < first {
                    return Ok(None);
                }
                for o in -w..=w {
                    out.push(dates.binary_search(&centre.add_days(7 * o)).ok());
                }
            }
        }
        None => {
            let need = freq * p.years + p.window;
            if t < need {
                return Ok(None);
            }
            for j in 1..=p.years {
                let centre = t - freq * j;
                out.extend((centre - p.window..=centre + p.window).map(Some));
            }
        }
    }
    Ok(Some(out))
}

fn validate(p: &BaselineParams) -> Result<()> {
    let bad = |name: &'static str, reason: &str| {
        Err(SurveillanceError::InvalidParameter {
            name,
            reason: reason.to_string(),
        })
    };
    if !(1..=100).contains(&p.years) {
        return bad("years", "must be in 1..=100");
    }
    if p.window > 25 {
        return bad("window", "must be <= 25 weeks");
    }
    if !(p.level > 0.0 && p.level < 1.0) {
        return bad("level", "must be in (0, 1)");
    }
    Ok(())
}

/// Compares each week in `range` (0-based, half-open) with a baseline of
/// previous years (the "5-year average" comparison of routine surveillance
/// reports; reference weeks as described in the [module docs](self)).
///
/// * `expected` = mean `m` of the `n` reference counts (with
///   `population_offset`: of `y_i · pop_t / pop_i`, i.e. the rate of each
///   reference week times the population of week `t`).
/// * Prediction interval at `level` (default 95%), by
///   [`BaselineInterval`]:
///   - `NegativeBinomial` (default): dispersion `phi = max(1, s²/m)` from
///     the reference sample variance `s²`, predictive variance
///     `V = phi · m · (1 + 1/n)` (new observation plus the uncertainty of
///     the estimated mean), and the limits are the `(1-level)/2` and
///     `(1+level)/2` quantiles of the negative binomial with mean `m` and
///     variance `V` (`size = m/(phi(1+1/n) - 1)`, `prob = 1/(phi(1+1/n))`).
///     Why: weekly counts are discrete, skewed at low levels and
///     overdispersed. The normal interval is symmetric, so at small counts it
///     gives negative lower limits (clipped to 0, so drops can never be
///     flagged) and upper limits that are too low (too many alarms). The
///     negative binomial keeps the limits non-negative and integer, has the
///     right skew, reduces to Poisson when the baseline is not overdispersed,
///     and is the threshold Noufaily et al. (2013) found to perform better
///     than the normal approximation in the Farrington algorithm.
///     `m = 0` (no case in any reference week) gives limits 0 and 0.
///   - `Normal`: `m ± t(n-1, (1+level)/2) · s · sqrt(1 + 1/n)`, lower limit
///     clipped at 0.
/// * `percent_difference = (observed - expected)/expected · 100` (None when
///   expected is 0); `alarm_up = observed > upper`,
///   `alarm_down = observed < lower`.
///
/// Weeks with fewer than 2 non-missing reference counts get no expected
/// value or limits and no alarms.
///
/// Errors: invalid range or parameters (`years` in 1..=100, `window <= 25`,
/// `level` in (0, 1)); `population_offset` without population;
/// `InsufficientHistory` when the oldest reference window of a week in the
/// range starts before the series (undated: the first evaluable index is
/// `freq · years + window`, `freq` = 52 weekly, 12 monthly);
/// `ReferenceWeekMissing` if no later week of the series has enough history
/// either; `InvalidParameter` for a dated series that is neither weekly nor
/// monthly.
pub fn baseline_comparison(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &BaselineParams,
) -> Result<Vec<BaselineWeek>> {
    series.check_range(&range)?;
    validate(params)?;
    let pop = match (params.population_offset, series.population()) {
        (true, None) => return Err(SurveillanceError::MissingPopulation),
        (true, Some(p)) => Some(p),
        (false, _) => None,
    };
    let alpha = 1.0 - params.level;
    let mut out = Vec::with_capacity(range.len());
    for t in range {
        let Some(refs) = reference_indices(series, t, params)? else {
            for k in t + 1..series.len() {
                if reference_indices(series, k, params)?.is_some() {
                    return Err(SurveillanceError::InsufficientHistory {
                        index: t,
                        first_evaluable: k,
                    });
                }
            }
            return Err(SurveillanceError::ReferenceWeekMissing {
                index: t,
                years_back: params.years,
            });
        };
        let values: Vec<f64> = refs
            .iter()
            .flatten()
            .filter_map(|&i| {
                let y = series.count(i)?;
                Some(match pop {
                    Some(p) => y * p[t] / p[i],
                    None => y,
                })
            })
            .collect();
        out.push(evaluate(
            t,
            series.count(t),
            &values,
            alpha,
            params.interval,
        )?);
    }
    Ok(out)
}

fn evaluate(
    index: usize,
    observed: Option<f64>,
    values: &[f64],
    alpha: f64,
    interval: BaselineInterval,
) -> Result<BaselineWeek> {
    let n = values.len();
    let mut week = BaselineWeek {
        index,
        observed,
        expected: None,
        lower: None,
        upper: None,
        percent_difference: None,
        alarm_up: false,
        alarm_down: false,
        n_reference: n,
        sd: None,
        phi: None,
    };
    if n < 2 {
        return Ok(week);
    }
    let nf = n as f64;
    let m = values.iter().sum::<f64>() / nf;
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (nf - 1.0);
    let sd = var.sqrt();
    let (lower, upper) = match interval {
        BaselineInterval::NegativeBinomial => {
            if m > 0.0 {
                let phi = (var / m).max(1.0);
                week.phi = Some(phi);
                let inflation = phi * (1.0 + 1.0 / nf);
                let size = m / (inflation - 1.0);
                let prob = 1.0 / inflation;
                (
                    dist::qnbinom(alpha / 2.0, size, prob),
                    dist::qnbinom(1.0 - alpha / 2.0, size, prob),
                )
            } else {
                (0.0, 0.0)
            }
        }
        BaselineInterval::Normal => {
            let q = crate::dist::students_t_quantile(
                1.0 - alpha / 2.0,
                nf - 1.0,
                crate::dist::Tail::Lower,
            )
            .map_err(|e| SurveillanceError::InvalidParameter {
                name: "level",
                reason: e.to_string(),
            })?;
            let half = q * sd * (1.0 + 1.0 / nf).sqrt();
            ((m - half).max(0.0), m + half)
        }
    };
    let finite = |x: f64| if x.is_finite() { Some(x) } else { None };
    week.expected = Some(m);
    week.sd = Some(sd);
    week.lower = finite(lower);
    week.upper = finite(upper);
    if let Some(y) = observed {
        if m != 0.0 {
            week.percent_difference = Some((y - m) / m * 100.0);
        }
        week.alarm_up = week.upper.is_some_and(|u| y > u);
        week.alarm_down = week.lower.is_some_and(|l| y < l);
    }
    Ok(week)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        Date::parse_iso(s).unwrap()
    }

    #[test]
    fn iso_weeks() {
        assert_eq!(iso_year_week(d("2021-01-04")).unwrap(), (2021, 1));
        assert_eq!(iso_year_week(d("2021-01-03")).unwrap(), (2020, 53));
        assert_eq!(iso_year_week(d("2019-12-30")).unwrap(), (2020, 1));
        assert_eq!(iso_weeks_in_year(2020).unwrap(), 53);
        assert_eq!(iso_weeks_in_year(2021).unwrap(), 52);
        // ISO week 10 of 2024 (Monday 2024-03-04) -> week 10 of 2023
        assert_eq!(same_iso_week(d("2024-03-04"), 1).unwrap(), d("2023-03-06"));
        // week 53 of 2020 -> week 52 of 2019
        assert_eq!(same_iso_week(d("2020-12-28"), 1).unwrap(), d("2019-12-23"));
        // Sunday-start weeks keep their weekday
        assert_eq!(same_iso_week(d("2024-03-10"), 1).unwrap(), d("2023-03-12"));
    }

    fn undated(n: usize, f: impl Fn(usize) -> f64) -> WeeklySeries {
        WeeklySeries::new((0..n).map(f).collect()).unwrap()
    }

    #[test]
    fn monthly_reference_months() {
        let p = BaselineParams {
            years: 2,
            window: 1,
            ..Default::default()
        };
        let s = WeeklySeries::monthly((0..40).map(|i| i as f64).collect()).unwrap();
        let want: Vec<Option<usize>> = [12, 13, 14, 0, 1, 2].map(Some).to_vec();
        assert_eq!(reference_indices(&s, 25, &p).unwrap().unwrap(), want);
        assert_eq!(reference_indices(&s, 24, &p).unwrap(), None);
        let d0 = d("2001-01-01");
        let dated = s
            .clone()
            .dated((0..40).map(|i| d0.add_months(i)).collect())
            .unwrap();
        assert_eq!(reference_indices(&dated, 25, &p).unwrap().unwrap(), want);
        assert_eq!(reference_indices(&dated, 24, &p).unwrap(), None);
        let q = s
            .with_frequency(4)
            .unwrap()
            .dated((0..40).map(|i| d0.add_months(3 * i)).collect());
        assert!(baseline_comparison(&q.unwrap(), 30..40, &p).is_err());
    }

    #[test]
    fn undated_hand_computed_normal_and_nb() {
        // reference weeks of t = 262 (years 5, window 2): 52j back +- 2
        let s = undated(263, |i| if i == 262 { 40.0 } else { (i % 5) as f64 + 8.0 });
        let t = 262;
        let mut vals = Vec::new();
        for j in 1..=5 {
            for o in 0..5 {
                vals.push(((t - 52 * j - 2 + o) % 5) as f64 + 8.0);
            }
        }
        let n = vals.len() as f64;
        let m = vals.iter().sum::<f64>() / n;
        let var = vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
        let p = BaselineParams {
            interval: BaselineInterval::Normal,
            ..Default::default()
        };
        let r = baseline_comparison(&s, t..t + 1, &p).unwrap();
        let w = &r[0];
        assert_eq!(w.n_reference, 25);
        assert!((w.expected.unwrap() - m).abs() < 1e-12);
        let q = 2.063_898_561_628_021; // qt(0.975, 24)
        let half = q * var.sqrt() * (1.0 + 1.0 / n).sqrt();
        assert!((w.upper.unwrap() - (m + half)).abs() < 1e-8);
        assert!((w.lower.unwrap() - (m - half)).abs() < 1e-8);
        assert!(w.alarm_up && !w.alarm_down);
        assert!((w.percent_difference.unwrap() - (40.0 - m) / m * 100.0).abs() < 1e-9);

        let r = baseline_comparison(&s, t..t + 1, &BaselineParams::default()).unwrap();
        let w = &r[0];
        // var (2.083) / mean (10) < 1: Poisson-like, phi floored at 1
        assert_eq!(w.phi, Some(1.0));
        let infl = 1.0 + 1.0 / n;
        let (size, prob) = (m / (infl - 1.0), 1.0 / infl);
        assert_eq!(w.upper.unwrap(), dist::qnbinom(0.975, size, prob));
        assert_eq!(w.lower.unwrap(), dist::qnbinom(0.025, size, prob));
        assert!(w.upper.unwrap().fract() == 0.0 && w.upper.unwrap() > m);
        assert!(w.alarm_up);
    }

    #[test]
    fn drop_and_zero_baseline() {
        let s = undated(270, |i| if i == 265 { 0.0 } else { 50.0 + (i % 3) as f64 });
        let r = baseline_comparison(&s, 264..270, &BaselineParams::default()).unwrap();
        assert!(r[1].alarm_down && !r[1].alarm_up);
        assert!((r[1].percent_difference.unwrap() + 100.0).abs() < 1e-12);
        assert!(!r[0].alarm_down && !r[0].alarm_up);

        let s = undated(270, |i| if i == 269 { 1.0 } else { 0.0 });
        let r = baseline_comparison(&s, 268..270, &BaselineParams::default()).unwrap();
        assert_eq!(r[0].expected, Some(0.0));
        assert_eq!((r[0].lower, r[0].upper), (Some(0.0), Some(0.0)));
        assert_eq!(r[0].percent_difference, None);
        assert!(!r[0].alarm_up && r[1].alarm_up);
    }

    #[test]
    fn insufficient_history_and_params() {
        let s = undated(300, |_| 5.0);
        assert_eq!(
            baseline_comparison(&s, 200..300, &BaselineParams::default()),
            Err(SurveillanceError::InsufficientHistory {
                index: 200,
                first_evaluable: 262
            })
        );
        assert!(baseline_comparison(&s, 262..300, &BaselineParams::default()).is_ok());
        let short = undated(100, |_| 5.0);
        assert!(matches!(
            baseline_comparison(&short, 99..100, &BaselineParams::default()),
            Err(SurveillanceError::ReferenceWeekMissing { .. })
        ));
        for p in [
            BaselineParams {
                years: 0,
                ..Default::default()
            },
            BaselineParams {
                window: 26,
                ..Default::default()
            },
            BaselineParams {
                level: 1.0,
                ..Default::default()
            },
            BaselineParams {
                population_offset: true,
                ..Default::default()
            },
        ] {
            assert!(baseline_comparison(&s, 262..300, &p).is_err());
        }
    }

    #[test]
    fn dated_uses_iso_weeks_and_population() {
        // weekly Mondays from 2015-01-05 (ISO 2015-W02) to 2021-12-27
        let start = d("2015-01-05");
        let n = 365;
        let dates: Vec<Date> = (0..n).map(|i| start.add_days(7 * i as i64)).collect();
        let counts: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 3.0 + 10.0).collect();
        let pop: Vec<f64> = (0..n).map(|i| 1000.0 + i as f64).collect();
        let s = WeeklySeries::new(counts.clone())
            .unwrap()
            .dated(dates.clone())
            .unwrap()
            .with_population(pop.clone())
            .unwrap();
        let t = n - 1; // 2021-12-27, ISO 2021-W52
        let p = BaselineParams {
            population_offset: true,
            ..Default::default()
        };
        let r = baseline_comparison(&s, t..t + 1, &p).unwrap();
        let mut vals = Vec::new();
        for j in 1..=5 {
            let c = same_iso_week(dates[t], j).unwrap();
            let (_, wk) = iso_year_week(c).unwrap();
            assert_eq!(wk, 52);
            for o in -2..=2 {
                let i = dates.binary_search(&c.add_days(7 * o)).unwrap();
                vals.push(counts[i] * pop[t] / pop[i]);
            }
        }
        let m = vals.iter().sum::<f64>() / 25.0;
        assert!((r[0].expected.unwrap() - m).abs() < 1e-9);
        // the first evaluable week is five ISO years + 2 weeks in
        let early = baseline_comparison(&s, 100..101, &p);
        assert!(matches!(
            early,
            Err(SurveillanceError::InsufficientHistory { index: 100, first_evaluable }) if first_evaluable > 250 && first_evaluable < 270
        ));
    }
}
