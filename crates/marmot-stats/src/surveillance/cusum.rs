//! Poisson CUSUM on standardised counts (Rossi, Lampugnani & Marchi 1999,
//! *An approximate CUSUM procedure for surveillance of health events*,
//! Statistics in Medicine 18:2111–2122), as implemented by R's
//! `surveillance::algo.cusum` (R/algo_cusum.R).
//!
//! With reference mean `m_t`, standardised values `z_t = trans(y_t, m_t)`,
//! `S_0 = 0` just before the window and `S_t = max(0, S_{t-1} + z_t - k)`;
//! alarm when `S_t >= h` (note: `>=`). The chart is **not** reset after an
//! alarm. The reported `upper` is the smallest count that would have given
//! `S_t >= h` (back-transformed), floored at 0.
//!
//! Not implemented: R's `trans = "anscombeNegBin"` (it relies on a tabulated
//! hypergeometric function).

use std::f64::consts::PI;
use std::ops::Range;

use super::error::{Result, SurveillanceError};
use super::glm::{Design, fit_poisson_no_hat};
use super::series::WeeklySeries;

/// How the in-control mean `m` is obtained (R: `m`).
#[derive(Debug, Clone, PartialEq)]
pub enum CusumReference {
    /// `NULL`: the mean of all counts before the window (default).
    PreWindowMean,
    /// A fixed value.
    Fixed(f64),
    /// `"glm"`: Poisson GLM `1 + cos(2 pi t/freq) + sin(2 pi t/freq)` fitted
    /// to the weeks before the window, predicted for each week in the window,
    /// with `t = start_week + index` (index 0-based) and `freq` the series'
    /// periods per year (52 weekly, 12 monthly; R: `freq`).
    Glm,
}

/// Standardisation (R: `trans`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CusumTransform {
    /// `(y - m)/sqrt(m)` (default).
    Standard,
    /// Rossi: `(y - 3m + 2 sqrt(y m)) / (2 sqrt(m))`.
    Rossi,
    /// Anscombe: `3/2 (y^(2/3) - m^(2/3)) / m^(1/6)`.
    Anscombe,
    /// Second-order Anscombe (Pierce & Schafer).
    Anscombe2nd,
    /// Pearson residuals of a negative binomial with variance
    /// `m + alpha m^2`.
    PearsonNegBin {
        /// Overdispersion (R `alpha`, default 0.1).
        alpha: f64,
    },
    /// No transformation.
    None,
}

/// Parameters of [`cusum`]. `Default` equals R's defaults
/// (k = 1.04, h = 2.26, m = NULL, trans = "standard").
#[derive(Debug, Clone, PartialEq)]
pub struct CusumParams {
    /// Reference value.
    pub k: f64,
    /// Decision interval.
    pub h: f64,
    /// In-control mean.
    pub m: CusumReference,
    /// Standardisation.
    pub trans: CusumTransform,
    /// Week-of-year (month for a monthly series) of the first observation
    /// (R: `start[2]`, default 1); only used by `CusumReference::Glm`.
    pub start_week: u32,
}

impl Default for CusumParams {
    fn default() -> Self {
        CusumParams {
            k: 1.04,
            h: 2.26,
            m: CusumReference::PreWindowMean,
            trans: CusumTransform::Standard,
            start_week: 1,
        }
    }
}

/// Result for one evaluated week.
#[derive(Debug, Clone, PartialEq)]
pub struct CusumWeek {
    /// 0-based week index.
    pub index: usize,
    /// Observed count.
    pub observed: f64,
    /// Reference mean `m_t`.
    pub expected: f64,
    /// Standardised observation `z_t`.
    pub standardized: f64,
    /// CUSUM statistic `S_t`.
    pub cusum: f64,
    /// Count needed for an alarm given `S_{t-1}`, floored at 0.
    pub upper: f64,
    /// `S_t >= h`.
    pub alarm: bool,
}

fn poisson_harmonic_fit(
    series: &WeeklySeries,
    end: usize,
    start_week: u32,
    range: &Range<usize>,
) -> Result<Vec<f64>> {
    let time = |i: usize| f64::from(start_week) + i as f64;
    let freq = series.periods_per_year() as f64;
    let row = |t: f64| {
        [
            1.0,
            (2.0 * PI / freq * t).cos(),
            (2.0 * PI / freq * t).sin(),
        ]
    };
    let mut x = Vec::with_capacity(end * 3);
    let mut y = Vec::with_capacity(end);
    for i in 0..end {
        x.extend(row(time(i)));
        y.push(series.require(i)?);
    }
    let design = Design { n: end, p: 3, x };
    let fit = fit_poisson_no_hat(&design, &y, None, None).map_err(SurveillanceError::GlmFailure)?;
    Ok(range
        .clone()
        .map(|i| fit.linear_predictor(&row(time(i))).exp())
        .collect())
}

/// Runs the CUSUM of R's `surveillance::algo.cusum` on `range` (0-based,
/// half-open). All counts in the window (and, for estimated `m`, before it)
/// must be present.
///
/// Errors: invalid range or parameters; `InsufficientHistory` when `m` must
/// be estimated but the window starts at index 0; `MissingValue`.
pub fn cusum(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &CusumParams,
) -> Result<Vec<CusumWeek>> {
    series.check_range(&range)?;
    if !params.k.is_finite() || !params.h.is_finite() {
        return Err(SurveillanceError::InvalidParameter {
            name: "k/h",
            reason: "must be finite".into(),
        });
    }
    let start = range.start;
    let m: Vec<f64> = match &params.m {
        CusumReference::Fixed(v) => {
            if !(v.is_finite() && *v > 0.0) {
                return Err(SurveillanceError::InvalidParameter {
                    name: "m",
                    reason: "must be finite and > 0".into(),
                });
            }
            vec![*v; range.len()]
        }
        CusumReference::PreWindowMean | CusumReference::Glm if start == 0 => {
            return Err(SurveillanceError::InsufficientHistory {
                index: 0,
                first_evaluable: 1,
            });
        }
        CusumReference::PreWindowMean => {
            let mut s = 0.0;
            for i in 0..start {
                s += series.require(i)?;
            }
            vec![s / start as f64; range.len()]
        }
        CusumReference::Glm => poisson_harmonic_fit(series, start, params.start_week, &range)?,
    };
    let (k, h) = (params.k, params.h);
    let mut s_prev = 0.0;
    let mut out = Vec::with_capacity(range.len());
    for (j, t) in range.enumerate() {
        let x = series.require(t)?;
        let m = m[j];
        let z = match params.trans {
            CusumTransform::Standard => (x - m) / m.sqrt(),
            CusumTransform::Rossi => (x - 3.0 * m + 2.0 * (x * m).sqrt()) / (2.0 * m.sqrt()),
            CusumTransform::Anscombe => {
                1.5 * (x.powf(2.0 / 3.0) - m.powf(2.0 / 3.0)) / m.powf(1.0 / 6.0)
            }
            CusumTransform::Anscombe2nd => {
                (x.powf(2.0 / 3.0) - (m.powf(2.0 / 3.0) - m.powf(-1.0 / 3.0) / 9.0))
                    / (2.0 / 3.0 * m.powf(1.0 / 6.0))
            }
            CusumTransform::PearsonNegBin { alpha } => (x - m) / (m + alpha * m * m).sqrt(),
            CusumTransform::None => x,
        };
        // R: cusum[t+1] <- max(0, cusum[t] + (z - k)); NaN propagates there.
        let s = {
            let v = s_prev + (z - k);
            if v.is_nan() { f64::NAN } else { v.max(0.0) }
        };
        let c = s_prev;
        let upper = match params.trans {
            CusumTransform::Standard => (m.sqrt() * (h + k - c) + m).ceil(),
            CusumTransform::Rossi => {
                2.0 * h * m.sqrt() + 2.0 * k * m.sqrt() - 2.0 * c * m.sqrt() + 5.0 * m
                    - 2.0
                        * (4.0 * m * m + 2.0 * m.powf(1.5) * h + 2.0 * m.powf(1.5) * k
                            - 2.0 * m.powf(1.5) * c)
                            .sqrt()
            }
            CusumTransform::Anscombe => {
                let v = 2.0 / 3.0 * m.powf(1.0 / 6.0) * (h + k - c) + m.powf(2.0 / 3.0);
                if v < 0.0 { 0.0 } else { v.powf(1.5) }
            }
            CusumTransform::Anscombe2nd => {
                let v = 2.0 / 3.0 * m.powf(1.0 / 6.0) * (h + k - c)
                    + (m.powf(2.0 / 3.0) - m.powf(1.0 / 3.0) / 9.0);
                if v < 0.0 { 0.0 } else { v.powf(1.5) }
            }
            CusumTransform::PearsonNegBin { alpha } => (m + alpha * m * m).sqrt() * (h + k - c) + m,
            CusumTransform::None => h - s,
        };
        let upper = if upper.is_nan() || upper < 0.0 {
            0.0
        } else {
            upper
        };
        out.push(CusumWeek {
            index: t,
            observed: x,
            expected: m,
            standardized: z,
            cusum: s,
            upper,
            alarm: s >= h,
        });
        s_prev = s;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reset_after_alarm_and_ge() {
        // m = 4 (mean of the first 4 weeks), standard transform
        let s = WeeklySeries::new(vec![4.0, 4.0, 4.0, 4.0, 12.0, 4.0, 4.0]).unwrap();
        let r = cusum(&s, 4..7, &CusumParams::default()).unwrap();
        // z = (12-4)/2 = 4 -> S = 2.96 >= 2.26
        assert!((r[0].cusum - 2.96).abs() < 1e-12 && r[0].alarm);
        // z = 0 -> S = 1.92, no reset to 0
        assert!((r[1].cusum - 1.92).abs() < 1e-12 && !r[1].alarm);
        // upper for the first week: ceiling(2*(2.26+1.04)+4) = 11
        assert_eq!(r[0].upper, 11.0);
    }

    #[test]
    fn needs_history() {
        let s = WeeklySeries::new(vec![1.0; 5]).unwrap();
        assert!(cusum(&s, 0..5, &CusumParams::default()).is_err());
        let p = CusumParams {
            m: CusumReference::Fixed(1.0),
            ..Default::default()
        };
        assert!(cusum(&s, 0..5, &p).is_ok());
        let p = CusumParams {
            m: CusumReference::Fixed(-1.0),
            ..Default::default()
        };
        assert!(cusum(&s, 0..5, &p).is_err());
    }
}
