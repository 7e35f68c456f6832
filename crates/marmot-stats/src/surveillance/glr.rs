//! Poisson GLR detector for a change in the intercept (Höhle & Paul 2008,
//! *Count data regression charts for the monitoring of surveillance time
//! series*, Computational Statistics & Data Analysis 52(9):4357–4368), as
//! implemented by R's `surveillance::glrpois` / `algo.glrnb` with
//! `alpha = 0`, `change = "intercept"`, `theta = NULL`, `ret = "value"`
//! (R/algo_glrnb.R and the C routines `glr_cusum` / `glr_cusum_window`).
//!
//! For time `n` since the last (re)start, the statistic is
//! `GLR_n = max_{k} sup_kappa sum_{t=k}^{n} log f_kappa(x_t) / f_0(x_t)`
//! with `f_kappa = Poisson(mu0_t exp(kappa))`; the MLE is
//! `kappa = log(sum x / sum mu0)`, truncated at 0 from below (`Increase`)
//! or above (`Decrease`). An alarm is raised when `GLR_n >= c_arl`; the chart
//! then restarts at the next week. Decreases therefore detect drops.
//!
//! Not implemented: `ret = "cases"`, the known-`theta` LR CUSUM, the
//! negative binomial (`alpha > 0`) and epidemic (`change = "epi"`) charts,
//! and refitting `mu0` after alarms.

use std::f64::consts::PI;
use std::ops::Range;

use super::error::{Result, SurveillanceError};
use super::glm::{Design, fit_poisson_no_hat};
use super::series::WeeklySeries;

/// Direction of the change to detect (R: `dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `"inc"`: increases (outbreaks).
    Increase,
    /// `"dec"`: decreases (drops).
    Decrease,
}

/// In-control mean specification (R: `mu0`).
#[derive(Debug, Clone, PartialEq)]
pub enum Mu0 {
    /// `mu0 = NULL` / a list: Poisson GLM
    /// `y ~ 1 [+ t] + sum_{s=1}^{harmonics} cos(2 pi s t/freq) + sin(2 pi s t/freq)`
    /// fitted to the weeks before the window with `t` = 1-based index and
    /// `freq` the series' periods per year (52 weekly, 12 monthly; R: `freq`).
    Estimate {
        /// Number of harmonics `S` (R default 1).
        harmonics: usize,
        /// Linear trend (R default false).
        trend: bool,
    },
    /// Given in-control means, one per week of the evaluation range.
    Given(Vec<f64>),
}

/// Parameters of [`glr_pois`]. `Default` equals the R defaults used in the
/// reference (`c.ARL = 5`, `Mtilde = 1`, `M = -1`, `dir = "inc"`, one
/// harmonic, no trend).
#[derive(Debug, Clone, PartialEq)]
pub struct GlrPoisParams {
    /// Alarm threshold (R: `c.ARL`).
    pub c_arl: f64,
    /// Direction.
    pub direction: Direction,
    /// Number of observations needed before a change can be estimated
    /// (R: `Mtilde`, default 1).
    pub mtilde: usize,
    /// Window limitation: only change points within the last `m` weeks
    /// (R: `M`; `None` = -1 = unlimited).
    pub m: Option<usize>,
    /// In-control mean.
    pub mu0: Mu0,
}

impl Default for GlrPoisParams {
    fn default() -> Self {
        GlrPoisParams {
            c_arl: 5.0,
            direction: Direction::Increase,
            mtilde: 1,
            m: None,
            mu0: Mu0::Estimate {
                harmonics: 1,
                trend: false,
            },
        }
    }
}

/// Result for one evaluated week.
#[derive(Debug, Clone, PartialEq)]
pub struct GlrWeek {
    /// 0-based week index.
    pub index: usize,
    /// Observed count (as the integer used by the chart).
    pub observed: f64,
    /// In-control mean `mu0_t`.
    pub expected: f64,
    /// GLR statistic (R's `upperbound` with `ret = "value"`), floored at 0.
    pub glr_statistic: f64,
    /// `glr_statistic >= c_arl`; the chart restarts afterwards.
    pub alarm: bool,
}

/// GLR at n over change points k in `k_lo..=k_hi`, accumulating backwards
/// from n (C: `glr` / `glr_window`).
fn glr_at(x: &[f64], mu0: &[f64], n: usize, dir: f64, window: Option<(usize, usize)>) -> f64 {
    let mut max_glr = -1e99_f64;
    let mut sumx = 0.0;
    let mut summu0 = 0.0;
    let (k_hi, k_lo) = match window {
        None => (n as i64, 0i64),
        Some((m, mtilde)) => {
            for l in (n + 1 - mtilde)..=n {
                sumx += x[l];
                summu0 += mu0[l];
            }
            (n as i64 - mtilde as i64, (n as i64 - m as i64).max(0))
        }
    };
    let mut k = k_hi;
    while k >= k_lo {
        let ku = k as usize;
        sumx += x[ku];
        summu0 += mu0[ku];
        let kappa = dir * (dir * (sumx / summu0).ln()).max(0.0);
        let s = kappa * sumx + (1.0 - kappa.exp()) * summu0;
        if s > max_glr {
            max_glr = s;
        }
        k -= 1;
    }
    max_glr
}

fn fmax0(v: f64) -> f64 {
    // C's fmax(0, v) ignores NaN
    if v.is_nan() { 0.0 } else { v.max(0.0) }
}

/// Runs the Poisson GLR chart on `range` (0-based, half-open).
///
/// Errors: invalid range/parameters, `InsufficientHistory` when `mu0` must
/// be estimated from fewer weeks than model parameters, missing counts,
/// `LengthMismatch` for a given `mu0` of the wrong length. Counts are
/// truncated to integers as R's `as.integer` does.
pub fn glr_pois(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &GlrPoisParams,
) -> Result<Vec<GlrWeek>> {
    series.check_range(&range)?;
    if !params.c_arl.is_finite() || params.c_arl <= 0.0 {
        return Err(SurveillanceError::InvalidParameter {
            name: "c_arl",
            reason: "must be finite and > 0".into(),
        });
    }
    if params.mtilde == 0 {
        return Err(SurveillanceError::InvalidParameter {
            name: "mtilde",
            reason: "must be >= 1".into(),
        });
    }
    if let Some(m) = params.m
        && m < params.mtilde
    {
        return Err(SurveillanceError::InvalidParameter {
            name: "m",
            reason: "must be >= mtilde".into(),
        });
    }
    let mu0: Vec<f64> = match &params.mu0 {
        Mu0::Given(v) => {
            if v.len() != range.len() {
                return Err(SurveillanceError::LengthMismatch {
                    what: "mu0",
                    expected: range.len(),
                    actual: v.len(),
                });
            }
            if v.iter().any(|m| !(m.is_finite() && *m > 0.0)) {
                return Err(SurveillanceError::InvalidParameter {
                    name: "mu0",
                    reason: "must be finite and > 0".into(),
                });
            }
            v.clone()
        }
        Mu0::Estimate { harmonics, trend } => {
            let freq = series.periods_per_year() as f64;
            let row = |t: f64| {
                let mut r = vec![1.0];
                if *trend {
                    r.push(t);
                }
                for s in 1..=*harmonics {
                    let a = 2.0 * s as f64 * PI / freq * t;
                    r.push(a.cos());
                    r.push(a.sin());
                }
                r
            };
            let np = 1 + usize::from(*trend) + 2 * harmonics;
            if range.start < np {
                return Err(SurveillanceError::InsufficientHistory {
                    index: range.start,
                    first_evaluable: np,
                });
            }
            let mut rows = Vec::new();
            let mut y = Vec::new();
            for i in 0..range.start {
                rows.push(row((i + 1) as f64));
                y.push(series.require(i)?);
            }
            let fit = fit_poisson_no_hat(&Design::new(&rows), &y, None, None)
                .map_err(SurveillanceError::GlmFailure)?;
            range
                .clone()
                .map(|i| fit.linear_predictor(&row((i + 1) as f64)).exp())
                .collect()
        }
    };
    let mut x = Vec::with_capacity(range.len());
    for i in range.clone() {
        x.push(series.require(i)?.trunc());
    }
    let dir = match params.direction {
        Direction::Increase => 1.0,
        Direction::Decrease => -1.0,
    };
    let len = x.len();
    let mut stat = vec![0.0; len];
    let mut alarm = vec![false; len];
    let mut start = 0;
    while start < len {
        let xs = &x[start..];
        let ms = &mu0[start..];
        let lx = xs.len();
        let mut n = match params.m {
            None => params.mtilde - 1,
            Some(_) => params.mtilde,
        };
        let mut stopped = None;
        while n < lx {
            let g = glr_at(xs, ms, n, dir, params.m.map(|m| (m, params.mtilde)));
            stat[start + n] = g;
            if g >= params.c_arl {
                stopped = Some(n);
                break;
            }
            n += 1;
        }
        match stopped {
            Some(nn) => {
                alarm[start + nn] = true;
                start += nn + 1;
            }
            None => break,
        }
    }
    Ok(range
        .enumerate()
        .map(|(j, i)| GlrWeek {
            index: i,
            observed: x[j],
            expected: mu0[j],
            glr_statistic: fmax0(stat[j]),
            alarm: alarm[j],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_increase_and_restarts() {
        let mut v = vec![5.0; 20];
        v.extend([5.0, 15.0, 16.0, 5.0, 5.0]);
        let s = WeeklySeries::new(v).unwrap();
        let p = GlrPoisParams {
            mu0: Mu0::Given(vec![5.0; 5]),
            ..Default::default()
        };
        let r = glr_pois(&s, 20..25, &p).unwrap();
        assert_eq!(r[0].glr_statistic, 0.0);
        // 15 vs 5: 15 log 3 - 10 = 6.48 >= 5
        assert!((r[1].glr_statistic - (15.0 * 3.0f64.ln() - 10.0)).abs() < 1e-12);
        assert!(r[1].alarm);
        // restarted: week 22 uses only itself
        assert!((r[2].glr_statistic - (16.0 * 3.2f64.ln() - 11.0)).abs() < 1e-12);
    }

    #[test]
    fn decrease_detects_drop_symmetrically() {
        let s = WeeklySeries::new(vec![10.0, 10.0, 1.0, 0.0, 1.0]).unwrap();
        let inc = GlrPoisParams {
            mu0: Mu0::Given(vec![10.0; 3]),
            ..Default::default()
        };
        let dec = GlrPoisParams {
            direction: Direction::Decrease,
            ..inc.clone()
        };
        let ri = glr_pois(&s, 2..5, &inc).unwrap();
        let rd = glr_pois(&s, 2..5, &dec).unwrap();
        assert!(ri.iter().all(|w| !w.alarm && w.glr_statistic == 0.0));
        assert!(rd.iter().any(|w| w.alarm));
    }

    #[test]
    fn errors() {
        let s = WeeklySeries::new(vec![1.0; 10]).unwrap();
        assert!(glr_pois(&s, 1..10, &GlrPoisParams::default()).is_err());
        let p = GlrPoisParams {
            mu0: Mu0::Given(vec![1.0; 2]),
            ..Default::default()
        };
        assert!(glr_pois(&s, 5..10, &p).is_err());
    }
}
