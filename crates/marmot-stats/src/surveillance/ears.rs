//! EARS C1, C2 and C3 (Hutwagner et al. 2003, *The bioterrorism
//! preparedness and response Early Aberration Reporting System (EARS)*,
//! J. Urban Health 80(suppl. 1):i89–i96; Fricker, Hegler & Dunfee 2008,
//! Statistics in Medicine 27:3407–3429), as implemented by R's
//! `surveillance::earsC` (R/earsC.R).
//!
//! * C1: baseline = the `baseline` weeks immediately before `t`;
//!   `U = mean + z * max(sd, min_sigma)`.
//! * C2: the same with a 2-week guard band (lags 3..baseline+2).
//! * C3: `U = y_t + max(sd_t, min_sigma) * (z - (max(0, C2_{t-2} - 1) +
//!   max(0, C2_{t-1} - 1)))`, floored at 0, where `C2_s = (y_s - mean_s) /
//!   max(sd_s, min_sigma)` uses the C2 baseline of week `s`.
//!
//! `z = qnorm(1 - alpha)`; `sd` is the sample standard deviation. Alarm:
//! `observed > upper` (strict). For C3 the bound is undefined (None, no
//! alarm) when a baseline standard deviation is 0 and `min_sigma = 0`.
//!
//! EARS uses only the periods immediately before `t`, so it does not depend
//! on the number of periods per year: on a monthly series
//! ([`WeeklySeries::monthly`]) every "week" here is a month, exactly as R's
//! `earsC` on an `sts` with `freq = 12`.

use std::ops::Range;

use super::dist;
use super::error::{Result, SurveillanceError};
use super::series::WeeklySeries;

/// Which EARS statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarsMethod {
    /// C1: no guard band.
    C1,
    /// C2: 2-week guard band.
    C2,
    /// C3: C2 plus the positive parts of the two previous C2 statistics.
    C3,
}

/// Parameters of [`ears_c`] (R: `control` of `earsC`). `Default` is R's
/// default call: C1, baseline 7, min_sigma 0, alpha 0.001.
#[derive(Debug, Clone, PartialEq)]
pub struct EarsParams {
    /// Method (default C1).
    pub method: EarsMethod,
    /// Number of baseline weeks (>= 3, default 7).
    pub baseline: usize,
    /// One-sided level; `None` means R's method default (0.001 for C1/C2,
    /// 0.025 for C3).
    pub alpha: Option<f64>,
    /// Lower bound for the baseline standard deviation (default 0).
    pub min_sigma: f64,
}

impl Default for EarsParams {
    fn default() -> Self {
        EarsParams {
            method: EarsMethod::C1,
            baseline: 7,
            alpha: None,
            min_sigma: 0.0,
        }
    }
}

/// Result for one evaluated week.
#[derive(Debug, Clone, PartialEq)]
pub struct EarsWeek {
    /// 0-based week index.
    pub index: usize,
    /// Observed count (None if missing).
    pub observed: Option<f64>,
    /// Baseline mean (for C3: of the C2 baseline of week t).
    pub expected: Option<f64>,
    /// Baseline standard deviation, after `min_sigma`.
    pub sigma: Option<f64>,
    /// Upper threshold; None if undefined or data missing.
    pub upper: Option<f64>,
    /// `observed > upper`.
    pub alarm: bool,
    /// The C1/C2 z-score `(y - mean)/sigma` of week t (C3: the C2 score).
    pub score: Option<f64>,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let ss: f64 = v.iter().map(|x| (x - m).powi(2)).sum();
    (m, (ss / (n - 1.0)).sqrt())
}

/// R's `pmax` for two numbers: NaN propagates.
fn pmax(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn opt(x: f64) -> Option<f64> {
    if x.is_nan() { None } else { Some(x) }
}

/// Mean and sd of the baseline weeks `t - hi ..= t - lo`; None if any missing.
fn baseline_stats(
    series: &WeeklySeries,
    t: usize,
    lo: usize,
    hi: usize,
    min_sigma: f64,
) -> Option<(f64, f64)> {
    let v: Option<Vec<f64>> = (lo..=hi).map(|l| series.count(t - l)).collect();
    let (m, s) = mean_sd(&v?);
    Some((m, pmax(s, min_sigma)))
}

/// Runs EARS C1/C2/C3 (Hutwagner et al. 2003; R: `surveillance::earsC`) on
/// `range` (0-based, half-open) of a weekly or monthly series.
///
/// Errors: `baseline < 3`, `min_sigma < 0`, invalid alpha or range, and
/// `InsufficientHistory` when the first evaluated week has fewer than
/// `baseline` (C1), `baseline + 2` (C2) or `baseline + 4` (C3) earlier
/// weeks. Weeks with missing data get `upper = None` and no alarm.
pub fn ears_c(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &EarsParams,
) -> Result<Vec<EarsWeek>> {
    series.check_range(&range)?;
    if params.baseline < 3 {
        return Err(SurveillanceError::InvalidParameter {
            name: "baseline",
            reason: "minimum baseline is 3".into(),
        });
    }
    if !params.min_sigma.is_finite() || params.min_sigma < 0.0 {
        return Err(SurveillanceError::InvalidParameter {
            name: "min_sigma",
            reason: "must be finite and >= 0".into(),
        });
    }
    let alpha = params.alpha.unwrap_or(match params.method {
        EarsMethod::C1 | EarsMethod::C2 => 0.001,
        EarsMethod::C3 => 0.025,
    });
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(SurveillanceError::InvalidParameter {
            name: "alpha",
            reason: "must be in (0, 1)".into(),
        });
    }
    let z = dist::qnorm_std(1.0 - alpha);
    let b = params.baseline;
    let max_lag = match params.method {
        EarsMethod::C1 => b,
        EarsMethod::C2 => b + 2,
        EarsMethod::C3 => b + 4,
    };
    if range.start < max_lag {
        return Err(SurveillanceError::InsufficientHistory {
            index: range.start,
            first_evaluable: max_lag,
        });
    }
    let ms = params.min_sigma;
    let c2_score = |s: usize| -> f64 {
        match (series.count(s), baseline_stats(series, s, 3, b + 2, ms)) {
            (Some(y), Some((m, sd))) => (y - m) / sd,
            _ => f64::NAN,
        }
    };
    let mut out = Vec::with_capacity(range.len());
    for t in range {
        let observed = series.count(t);
        let y = observed.unwrap_or(f64::NAN);
        let (lo, hi) = match params.method {
            EarsMethod::C1 => (1, b),
            EarsMethod::C2 | EarsMethod::C3 => (3, b + 2),
        };
        let stats = baseline_stats(series, t, lo, hi, ms);
        let (mean, sd) = stats.unwrap_or((f64::NAN, f64::NAN));
        let upper = match params.method {
            EarsMethod::C1 | EarsMethod::C2 => mean + z * sd,
            EarsMethod::C3 => {
                let lag2 = pmax(0.0, c2_score(t - 2) - 1.0);
                let lag1 = pmax(0.0, c2_score(t - 1) - 1.0);
                pmax(0.0, y + sd * (z - (lag2 + lag1)))
            }
        };
        let upper = opt(upper);
        out.push(EarsWeek {
            index: t,
            observed,
            expected: opt(mean),
            sigma: opt(sd),
            upper,
            alarm: matches!((observed, upper), (Some(o), Some(u)) if o > u),
            score: opt((y - mean) / sd),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(v: &[f64]) -> WeeklySeries {
        WeeklySeries::new(v.to_vec()).unwrap()
    }

    #[test]
    fn c1_hand_computed() {
        let s = series(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 20.0]);
        let r = ears_c(&s, 7..8, &EarsParams::default()).unwrap();
        let sd = (28.0f64 / 6.0).sqrt(); // sd of 1..7
        let u = 4.0 + dist::qnorm_std(0.999) * sd;
        assert!((r[0].upper.unwrap() - u).abs() < 1e-12);
        assert!(r[0].alarm);
    }

    #[test]
    fn too_short_history_is_error() {
        let s = series(&[1.0; 10]);
        let p = EarsParams {
            method: EarsMethod::C3,
            ..Default::default()
        };
        assert!(matches!(
            ears_c(&s, 5..10, &p),
            Err(SurveillanceError::InsufficientHistory {
                first_evaluable: 11,
                ..
            })
        ));
        assert!(ears_c(&s, 0..0, &EarsParams::default()).is_err());
        let p = EarsParams {
            baseline: 2,
            ..Default::default()
        };
        assert!(ears_c(&s, 5..10, &p).is_err());
    }

    #[test]
    fn c3_constant_baseline_is_undefined_not_panic() {
        let s = series(&[2.0; 20]);
        let p = EarsParams {
            method: EarsMethod::C3,
            ..Default::default()
        };
        let r = ears_c(&s, 11..20, &p).unwrap();
        assert!(r.iter().all(|w| w.upper.is_none() && !w.alarm));
        // min_sigma makes it defined
        let p = EarsParams {
            method: EarsMethod::C3,
            min_sigma: 0.5,
            ..Default::default()
        };
        let r = ears_c(&s, 11..20, &p).unwrap();
        assert!(r.iter().all(|w| w.upper.is_some()));
    }

    #[test]
    fn missing_values_give_no_bound() {
        let mut v: Vec<Option<f64>> = vec![Some(3.0); 12];
        v[8] = None;
        let s = WeeklySeries::with_missing(v).unwrap();
        let r = ears_c(&s, 9..12, &EarsParams::default()).unwrap();
        assert!(r[0].upper.is_none() && !r[0].alarm);
    }
}
