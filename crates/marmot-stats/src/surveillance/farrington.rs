//! The Farrington family of outbreak detection algorithms.
//!
//! * [`farrington_flexible`]: the improved Farrington algorithm of
//!   Noufaily et al. (2013), *An improved algorithm for outbreak detection in
//!   multiple surveillance systems*, Statistics in Medicine 32(7):1206–1222,
//!   as implemented by R's `surveillance::farringtonFlexible`
//!   (R/farringtonFlexible.R, surveillance 1.20.3). With
//!   [`FarringtonFlexibleParams::farrington_1996`] it runs the original
//!   settings through the flexible code.
//! * [`farrington_classic`]: the original algorithm of Farrington, Andrews,
//!   Beale & Catchpole (1996), *A statistical algorithm for the early
//!   detection of outbreaks of infectious disease*, JRSS A 159(3):547–563,
//!   as implemented by R's `surveillance::algo.farrington` (the function
//!   behind `surveillance::farrington`, R/algo_farrington.R) with
//!   `fitFun = "algo.farrington.fitGLM.fast"`.
//!
//! Both fit, for every evaluated week `t`, a quasi-Poisson GLM with log link
//! (optionally with a linear time trend, seasonal factor levels and a
//! population offset) to baseline weeks from the `b` previous years around
//! the same time of year, down-weight past outbreaks with Anscombe-residual
//! based weights, and compare the count in week `t` with an upper threshold
//! of the predictive distribution.
//!
//! # Weekly and monthly series
//!
//! Both follow the series' number of periods per year
//! ([`WeeklySeries::periods_per_year`], R's `freq`): 52 for weekly series
//! (the default) and 12 for monthly ones ([`WeeklySeries::monthly`]), as R
//! does with `freq = 12`. Then every "week" below is a month: `w`,
//! `past_weeks_not_included` and `limit54.period` count months, and the
//! reference months are exactly `12 * j` months back for undated series, or
//! the same calendar month `j` years back for dated ones. The R defaults of
//! `w`, `no_periods` and `past_weeks_not_included` are meant for weekly data;
//! choose monthly values explicitly (e.g. `w = 2`, `no_periods = 4`,
//! `past_weeks_not_included = 6`; see the monthly reference fixtures).
//! Dated series need 52, 12 or 365 periods per year (R's `epochAsDate =
//! TRUE` supports only these).
//!
//! # Lower threshold (detecting drops)
//!
//! Every evaluated week also reports a `lower` threshold and
//! `lower_alarm = observed < lower`. The lower threshold is the package's own
//! (discarded) lower limit of the same prediction interval:
//! * `Delta`: `max(0, (mu0^e - z * se)^(1/e))` with the power `e` of the
//!   transformation (`e = 2/3`: `max(0, 2 E^(2/3) - U^(2/3))^(3/2)`), NaN
//!   (negative base) mapped to 0;
//! * `NbPlugin` / `Muan`: `qnbinom(alpha, size = mu0/(phi-1), prob = 1/phi)`,
//!   or `qpois(alpha, mu0)` when `phi == 1`.
//!
//! The lower bound is never suppressed by `limit54`.

use std::ops::Range;

use super::dist;
use super::error::{Result, SurveillanceError};
use super::glm::{Design, GlmFit, fit_poisson, fit_poisson_no_hat};
use super::series::WeeklySeries;

/// Checks that a dated series has a frequency R's `surveillance` can find
/// reference dates for (week, month or day), and returns the frequency.
fn checked_frequency(series: &WeeklySeries) -> Result<usize> {
    let freq = series.periods_per_year();
    if series.dates().is_some() && !matches!(freq, 12 | 52 | 365) {
        return Err(SurveillanceError::InvalidParameter {
            name: "periods_per_year",
            reason: format!(
                "a dated series needs 52 (weekly), 12 (monthly) or 365 (daily) periods per \
                 year, got {freq}; drop the dates to use exactly {freq} periods per year"
            ),
        });
    }
    Ok(freq)
}

/// How the upper threshold is computed from the fitted model
/// (R: `thresholdMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdMethod {
    /// Farrington et al. (1996): normal approximation on a power-transformed
    /// scale with the delta-method variance (`"delta"`).
    Delta,
    /// Noufaily et al. (2013): negative binomial quantile with the plug-in
    /// mean `exp(eta0)` and dispersion `phi` (`"nbPlugin"`).
    NbPlugin,
    /// Negative binomial quantile with the mean replaced by the
    /// `(1-alpha)` quantile of its approximate log-normal distribution
    /// (`"muan"`).
    Muan,
}

/// Power transformation used by the `Delta` threshold (R: `powertrans`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerTransform {
    /// `"2/3"` (the default, Farrington 1996).
    TwoThirds,
    /// `"1/2"`.
    Half,
    /// `"none"`.
    None,
}

impl PowerTransform {
    fn exponent(self) -> f64 {
        match self {
            PowerTransform::TwoThirds => 2.0 / 3.0,
            PowerTransform::Half => 0.5,
            PowerTransform::None => 1.0,
        }
    }
}

/// "No alarm unless at least `cases` were reported in the last `period`
/// weeks (months for a monthly series), current one included"
/// (R: `limit54 = c(cases, period)`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit54 {
    /// Minimum number of cases (R default 5).
    pub cases: f64,
    /// Number of periods (weeks, or months for a monthly series), including
    /// the current one (R default 4).
    pub period: usize,
}

impl Default for Limit54 {
    fn default() -> Self {
        Limit54 {
            cases: 5.0,
            period: 4,
        }
    }
}

/// Which dispersion the flexible algorithm uses for the trend t-test and the
/// standard error of the prediction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InferenceDispersion {
    /// As `surveillance::farringtonFlexible` (default): after reweighting,
    /// the package overwrites the GLM working weights with the prior weights
    /// `omega`, so `summary.glm` / `predict.glm` use
    /// `D* = sum(omega_i * ((y_i - mu_i)/mu_i)^2) / (n - p)`. Without
    /// reweighting this is the ordinary Pearson estimate.
    RCompatible,
    /// Textbook variant: the Pearson estimate of the weighted fit,
    /// `sum(omega_i * (y_i - mu_i)^2 / mu_i) / (n - p)` (not floored).
    Pearson,
}

/// Parameters of [`farrington_flexible`] (R: `control` of
/// `farringtonFlexible`). `Default` gives the Noufaily et al. (2013)
/// settings used in the reference calls. All window lengths count periods
/// of the series: weeks, or months for a monthly series.
#[derive(Debug, Clone, PartialEq)]
pub struct FarringtonFlexibleParams {
    /// Number of past years (R: `b`, default 5).
    pub b: usize,
    /// Half window width around reference weeks (months for a monthly
    /// series) (R: `w`, default 3).
    pub w: usize,
    /// Down-weight past outbreaks (R: `reweight`, default true).
    pub reweight: bool,
    /// Anscombe-residual threshold for down-weighting
    /// (R: `weightsThreshold`, default 2.58).
    pub weights_threshold: f64,
    /// Try a linear time trend (R: `trend`, default true).
    pub trend: bool,
    /// Trend kept only if its p-value is below this
    /// (R: `pThresholdTrend`, default 0.05).
    pub p_threshold_trend: f64,
    /// Number of seasonal factor levels (R: `noPeriods`, default 10; 1 = no
    /// factor, only windows around reference weeks).
    pub no_periods: usize,
    /// Number of most recent weeks (months for a monthly series) before the
    /// current one left out of the baseline (R: `pastWeeksNotIncluded`,
    /// default 26).
    pub past_weeks_not_included: usize,
    /// Threshold method (R: `thresholdMethod`, default `NbPlugin`).
    pub threshold_method: ThresholdMethod,
    /// One-sided level of the prediction interval (R: `alpha`, default 0.05).
    pub alpha: f64,
    /// Low-count rule (R: `limit54`, default 5 cases in 4 weeks).
    pub limit54: Limit54,
    /// Power transformation for `Delta` (R: `powertrans`, default 2/3).
    pub powertrans: PowerTransform,
    /// Use `log(population)` as a GLM offset (R: `populationOffset`).
    pub population_offset: bool,
    /// Dispersion for the trend test and prediction standard error.
    pub inference_dispersion: InferenceDispersion,
}

impl Default for FarringtonFlexibleParams {
    fn default() -> Self {
        Self::noufaily_2013()
    }
}

impl FarringtonFlexibleParams {
    /// Noufaily et al. (2013): b=5, w=3, reweight, weightsThreshold=2.58,
    /// trend with pThresholdTrend=0.05, noPeriods=10,
    /// pastWeeksNotIncluded=26, nbPlugin, alpha=0.05, limit54=(5,4).
    pub fn noufaily_2013() -> Self {
        FarringtonFlexibleParams {
            b: 5,
            w: 3,
            reweight: true,
            weights_threshold: 2.58,
            trend: true,
            p_threshold_trend: 0.05,
            no_periods: 10,
            past_weeks_not_included: 26,
            threshold_method: ThresholdMethod::NbPlugin,
            alpha: 0.05,
            limit54: Limit54::default(),
            powertrans: PowerTransform::TwoThirds,
            population_offset: false,
            inference_dispersion: InferenceDispersion::RCompatible,
        }
    }

    /// The original Farrington (1996) settings run through the flexible
    /// code: weightsThreshold=1, noPeriods=1, pastWeeksNotIncluded=3,
    /// delta threshold with the 2/3 power transformation.
    pub fn farrington_1996() -> Self {
        FarringtonFlexibleParams {
            weights_threshold: 1.0,
            no_periods: 1,
            past_weeks_not_included: 3,
            threshold_method: ThresholdMethod::Delta,
            ..Self::noufaily_2013()
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |name: &'static str, reason: &str| {
            Err(SurveillanceError::InvalidParameter {
                name,
                reason: reason.to_string(),
            })
        };
        if self.b == 0 {
            return bad("b", "must be >= 1");
        }
        if self.no_periods == 0 {
            return bad("no_periods", "must be >= 1");
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad("alpha", "must be in (0, 1)");
        }
        if !(self.weights_threshold.is_finite() && self.weights_threshold > 0.0) {
            return bad("weights_threshold", "must be finite and > 0");
        }
        if self.p_threshold_trend.is_nan() {
            return bad("p_threshold_trend", "must not be NaN");
        }
        check_limit54(&self.limit54)
    }
}

fn check_limit54(l: &Limit54) -> Result<()> {
    if l.cases.is_nan() || l.cases < 0.0 || l.period == 0 {
        return Err(SurveillanceError::InvalidParameter {
            name: "limit54",
            reason: "cases >= 0 and period > 0 required".into(),
        });
    }
    Ok(())
}

/// Parameters of [`farrington_classic`] (R: `control` of `algo.farrington`).
/// `Default` gives the R defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct FarringtonClassicParams {
    /// Number of past years (default 5).
    pub b: usize,
    /// Half window width (default 3).
    pub w: usize,
    /// Down-weight past outbreaks, threshold 1 on the Anscombe residuals
    /// (default true).
    pub reweight: bool,
    /// Two-sided level: the threshold uses `qnorm(1 - alpha/2)`
    /// (default 0.05).
    pub alpha: f64,
    /// Try a linear trend, kept if p < 0.05, b >= 3 and no extrapolation
    /// (default true).
    pub trend: bool,
    /// Low-count rule (default 5 cases in 4 weeks).
    pub limit54: Limit54,
    /// Power transformation (default 2/3).
    pub powertrans: PowerTransform,
}

impl Default for FarringtonClassicParams {
    fn default() -> Self {
        FarringtonClassicParams {
            b: 5,
            w: 3,
            reweight: true,
            alpha: 0.05,
            trend: true,
            limit54: Limit54::default(),
            powertrans: PowerTransform::TwoThirds,
        }
    }
}

/// Result for one evaluated week of a Farrington-type algorithm.
#[derive(Debug, Clone, PartialEq)]
pub struct FarringtonWeek {
    /// 0-based week index in the series.
    pub index: usize,
    /// Observed count (None if missing; then no alarm).
    pub observed: Option<f64>,
    /// Predictive mean (R's `expected` before `limit54` masking; R reports
    /// NA when `limit54_suppressed`).
    pub expected: Option<f64>,
    /// Upper threshold; None when `limit54` suppresses the week (R: NA in
    /// `farringtonFlexible`, 0 in `algo.farrington`) or the fit failed.
    pub upper: Option<f64>,
    /// Upper threshold ignoring `limit54`.
    pub upper_unsuppressed: Option<f64>,
    /// Lower threshold (see the module docs), never suppressed.
    pub lower: Option<f64>,
    /// Outbreak alarm (`observed > upper`, via the exceedance score).
    pub alarm: bool,
    /// Drop alarm: `observed < lower`.
    pub lower_alarm: bool,
    /// True when fewer than `limit54.cases` were seen in the last
    /// `limit54.period` weeks.
    pub limit54_suppressed: bool,
    /// Exceedance score `(y - fit)/(U - fit)` (R's `score`; for the
    /// negative binomial methods `fit` is the log-scale predictor, a quirk of
    /// the package). Never masked by `limit54`.
    pub score: Option<f64>,
    /// P(Y >= y) under the predictive distribution (flexible only).
    pub p_value: Option<f64>,
    /// `pnorm(y^e; mu0^e, se)` on the transformed scale (Delta only; R's
    /// `control$pd[,1]` in `algo.farrington`).
    pub transformed_cdf: Option<f64>,
    /// Dispersion, floored at 1.
    pub phi: Option<f64>,
    /// Mean plugged into the negative binomial (`exp(eta0)` for NbPlugin,
    /// the log-normal quantile for Muan, the predictive mean for Delta).
    pub mu0: Option<f64>,
    /// Whether the time trend was kept.
    pub trend_included: bool,
    /// Trend coefficient per week (log scale) when kept.
    pub trend_coef: Option<f64>,
    /// Population used in the offset (only with `population_offset`).
    pub population: Option<f64>,
    /// False when the GLM could not be fitted (no convergence with or
    /// without trend); all model outputs are then None and there is no alarm.
    pub fitted: bool,
}

impl FarringtonWeek {
    fn unfitted(index: usize, observed: Option<f64>, population: Option<f64>) -> Self {
        FarringtonWeek {
            index,
            observed,
            expected: None,
            upper: None,
            upper_unsuppressed: None,
            lower: None,
            alarm: false,
            lower_alarm: false,
            limit54_suppressed: false,
            score: None,
            p_value: None,
            transformed_cdf: None,
            phi: None,
            mu0: None,
            trend_included: false,
            trend_coef: None,
            population,
            fitted: false,
        }
    }
}

fn finite(x: f64) -> Option<f64> {
    if x.is_nan() { None } else { Some(x) }
}

/// Anscombe residuals standardised by `sqrt(phi (1 - h))`
/// (R: `anscombe.residuals`).
fn anscombe_residuals(m: &GlmFit, phi: f64) -> Vec<f64> {
    m.y.iter()
        .zip(&m.mu)
        .zip(&m.hat)
        .map(|((&y, &mu), &h)| {
            let a = 1.5 * (y.powf(2.0 / 3.0) * mu.powf(-1.0 / 6.0) - mu.sqrt());
            a / (phi * (1.0 - h)).sqrt()
        })
        .collect()
}

/// Farrington weights: `gamma * s^-2` above the threshold, `gamma` below,
/// with `gamma` making the weights sum to n
/// (R: `algo.farrington.assign.weights`).
fn assign_weights(s: &[f64], threshold: f64) -> Vec<f64> {
    let denom: f64 = s
        .iter()
        .map(|&si| if si > threshold { si.powi(-2) } else { 1.0 })
        .sum();
    let gamma = s.len() as f64 / denom;
    s.iter()
        .map(|&si| {
            if si > threshold {
                gamma * si.powi(-2)
            } else {
                gamma
            }
        })
        .collect()
}

/// Delta-method threshold on the power-transformed scale
/// (R: `algo.farrington.threshold[.farrington]`).
struct DeltaThreshold {
    lower: f64,
    upper: f64,
    upper_tail: f64,
    cdf: f64,
}

fn delta_threshold(
    mu0: f64,
    se_fit: f64,
    phi: f64,
    trans: PowerTransform,
    z: f64,
    y: f64,
) -> DeltaThreshold {
    let tau = phi + se_fit * se_fit / mu0;
    let e = trans.exponent();
    let se = match trans {
        PowerTransform::None => (mu0 * tau).sqrt(),
        PowerTransform::Half => (0.25 * tau).sqrt(),
        PowerTransform::TwoThirds => (4.0 / 9.0 * mu0.powf(1.0 / 3.0) * tau).sqrt(),
    };
    let m = mu0.powf(e);
    let a = (m - z * se).powf(1.0 / e);
    let b = (m + z * se).powf(1.0 / e);
    // R: sort(c(a, b), na.last = FALSE); lu[1] <- max(0, lu[1], na.rm = TRUE)
    let (lo, up) = match (a.is_nan(), b.is_nan()) {
        (false, false) => (a.min(b), a.max(b)),
        (true, false) => (f64::NAN, b),
        (false, true) => (f64::NAN, a),
        (true, true) => (f64::NAN, f64::NAN),
    };
    let lower = if lo.is_nan() { 0.0 } else { lo.max(0.0) };
    let ye = y.powf(e);
    DeltaThreshold {
        lower,
        upper: up,
        upper_tail: 1.0 - dist::pnorm(ye, m, se),
        cdf: dist::pnorm(ye, m, se),
    }
}

fn limit54_enough(series: &WeeklySeries, k: usize, l: &Limit54) -> bool {
    let from = (k + 1).saturating_sub(l.period);
    let s: f64 = (from..=k).filter_map(|i| series.count(i)).sum();
    s >= l.cases
}

// ---------------------------------------------------------------------------
// Flexible
// ---------------------------------------------------------------------------

/// Indices of the current period and the same period 1..=b years back
/// (R: `algo.farrington.referencetimepoints`): dated series by calendar year,
/// snapped to the weekday of the current week for weekly series; undated
/// series exactly `freq * j` periods back.
fn reference_points(series: &WeeklySeries, k: usize, b: usize) -> Result<Vec<usize>> {
    let freq = series.periods_per_year();
    let mut refs = Vec::with_capacity(b + 1);
    match series.dates() {
        Some(dates) => {
            let d0 = dates[k];
            for j in 0..=b {
                let back = d0.minus_years(j as i64);
                let target = if freq == 52 {
                    back.closest_same_weekday(d0)
                } else {
                    back
                };
                let idx = dates.binary_search(&target).map_err(|_| {
                    SurveillanceError::ReferenceWeekMissing {
                        index: k,
                        years_back: j,
                    }
                })?;
                refs.push(idx);
            }
        }
        None => {
            for j in 0..=b {
                let idx =
                    k.checked_sub(freq * j)
                        .ok_or(SurveillanceError::ReferenceWeekMissing {
                            index: k,
                            years_back: j,
                        })?;
                refs.push(idx);
            }
        }
    }
    Ok(refs)
}

/// Factor levels per week (R: `blocks`): level `p` for the windows around
/// the reference weeks (and the current week), levels `1..p-1` for the
/// near-equal blocks between windows.
fn blocks(n: usize, refs: &[usize], w: usize, p: usize) -> Result<Vec<Option<usize>>> {
    let mut f: Vec<Option<usize>> = vec![None; n];
    let mut set = |from: i64, to: i64, v: usize| {
        let (lo, hi) = if to >= from { (from, to) } else { (to, from) };
        for i in lo..=hi {
            if i >= 0 && (i as usize) < n {
                f[i as usize] = Some(v);
            }
        }
    };
    let now = refs[0] as i64;
    let w = w as i64;
    set(now - w, now, p);
    for i in 1..refs.len() {
        let rw = refs[i] as i64;
        set(rw - w, rw + w, p);
        if p != 1 {
            let pi = p as i64;
            let period = refs[i - 1] as i64 - 2 * w - 1 - rw;
            if period < pi - (2 * w + 1) {
                return Err(SurveillanceError::InvalidParameter {
                    name: "no_periods",
                    reason: "number of factor levels too big for the gap between windows".into(),
                });
            }
            let len = period.div_euclid(pi - 1);
            let rest = period.rem_euclid(pi - 1);
            let mut cum = vec![0i64];
            for j in 0..(pi - 1) {
                let l = len + i64::from(j < rest);
                cum.push(cum[j as usize] + l);
            }
            for j in 1..pi {
                let from = rw + w + 1 + cum[(j - 1) as usize];
                let to = rw + w + 1 + cum[j as usize] - 1;
                set(from, to, j as usize);
            }
        }
    }
    Ok(f)
}

struct FlexData {
    y: Vec<f64>,
    wtime: Vec<f64>,
    levels: Vec<usize>,
    offset: Option<Vec<f64>>,
    wtime_now: f64,
    offset_now: f64,
    distinct_levels: Vec<usize>,
}

struct FlexFit {
    glm: GlmFit,
    phi: f64,
    omega: Option<Vec<f64>>,
    has_trend: bool,
}

impl FlexData {
    fn design(&self, trend: bool, factors: bool) -> Design {
        let n = self.y.len();
        let mut x = Vec::new();
        let mut p = 0;
        for i in 0..n {
            let r = self.row(trend, factors, self.wtime[i], self.levels[i]);
            p = r.len();
            x.extend(r);
        }
        Design { n, p, x }
    }

    fn row(&self, trend: bool, factors: bool, wtime: f64, level: usize) -> Vec<f64> {
        let mut r = vec![1.0];
        if trend {
            r.push(wtime);
        }
        if factors {
            for &l in self.distinct_levels.iter().skip(1) {
                r.push(if l == level { 1.0 } else { 0.0 });
            }
        }
        r
    }
}

fn flex_fit(d: &FlexData, trend: bool, p: &FarringtonFlexibleParams) -> Option<FlexFit> {
    let factors = p.no_periods != 1;
    let off = d.offset.as_deref();
    let mut has_trend = trend;
    let mut design = d.design(has_trend, factors);
    let mut m = fit_poisson(&design, &d.y, None, off)
        .ok()
        .filter(|m| m.converged);
    if m.is_none() && trend {
        has_trend = false;
        design = d.design(false, factors);
        m = fit_poisson(&design, &d.y, None, off)
            .ok()
            .filter(|m| m.converged);
    }
    let mut m = m?;
    let disp = m.pearson_dispersion();
    if disp.is_nan() {
        return None;
    }
    let mut phi = disp.max(1.0);
    let mut omega = None;
    if p.reweight {
        let s = anscombe_residuals(&m, phi);
        let om = assign_weights(&s, p.weights_threshold);
        if om.iter().any(|w| !w.is_finite()) {
            return None;
        }
        m = fit_poisson_no_hat(&design, &d.y, Some(&om), off).ok()?;
        let disp = m.pearson_dispersion();
        if disp.is_nan() {
            return None;
        }
        phi = disp.max(1.0);
        omega = Some(om);
    }
    Some(FlexFit {
        glm: m,
        phi,
        omega,
        has_trend,
    })
}

fn inference_dispersion(f: &FlexFit, p: &FarringtonFlexibleParams) -> f64 {
    match (p.inference_dispersion, &f.omega) {
        (InferenceDispersion::RCompatible, Some(om)) => f.glm.dispersion_with(om),
        _ => f.glm.pearson_dispersion(),
    }
}

/// Runs the flexible Farrington algorithm (Noufaily et al. 2013;
/// R: `surveillance::farringtonFlexible`) on the weeks in `range`
/// (0-based, half-open).
///
/// Baseline: for each of the `b` previous years, the reference week (same
/// calendar week; exactly `freq` periods per year for undated series, see
/// [`WeeklySeries::periods_per_year`]) and `w` weeks either side; with
/// `no_periods > 1` all weeks between the first window and the current week
/// enter, split into `no_periods` factor levels. The
/// `past_weeks_not_included` weeks before the current one (and the current
/// week) are excluded. Missing counts are dropped from the baseline.
///
/// Monthly series ([`WeeklySeries::monthly`], 12 periods per year) run
/// exactly as R's `farringtonFlexible` on an `sts` with `freq = 12`: every
/// "week" is then a month (see the [module docs](self)).
///
/// Errors: invalid parameters/range, reference weeks that are not in the
/// series (too little history: R stops with the same condition),
/// `population_offset` without population, a dated series whose frequency
/// is not 52, 12 or 365.
pub fn farrington_flexible(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &FarringtonFlexibleParams,
) -> Result<Vec<FarringtonWeek>> {
    series.check_range(&range)?;
    params.validate()?;
    checked_frequency(series)?;
    if params.population_offset && series.population().is_none() {
        return Err(SurveillanceError::MissingPopulation);
    }
    let n = series.len();
    let z = dist::qnorm_std(1.0 - params.alpha);
    let mut out = Vec::with_capacity(range.len());
    for k in range {
        let refs = reference_points(series, k, params.b)?;
        let oldest = *refs.last().unwrap_or(&k);
        if oldest < params.w {
            return Err(SurveillanceError::InsufficientHistory {
                index: k,
                first_evaluable: k + params.w - oldest,
            });
        }
        let mut blk = blocks(n, &refs, params.w, params.no_periods)?;
        let excl_from = k.saturating_sub(params.past_weeks_not_included);
        for b in blk.iter_mut().take(k + 1).skip(excl_from) {
            *b = None;
        }
        let idx: Vec<usize> = (0..n)
            .filter(|&i| blk[i].is_some() && series.count(i).is_some())
            .collect();
        let population_now = if params.population_offset {
            series.population().map(|p| p[k])
        } else {
            None
        };
        let observed = series.count(k);
        if idx.is_empty() {
            out.push(FarringtonWeek::unfitted(k, observed, population_now));
            continue;
        }
        let origin = idx[0];
        let time_of = |i: usize| -> f64 {
            match series.dates() {
                Some(d) if d.len() > 1 => {
                    let unit = (d[1].days_since_epoch() - d[0].days_since_epoch()) as f64;
                    (d[i].days_since_epoch() - d[origin].days_since_epoch()) as f64 / unit
                }
                _ => (i + 1) as f64,
            }
        };
        let mut distinct: Vec<usize> = idx.iter().filter_map(|&i| blk[i]).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let pop = series.population();
        let data = FlexData {
            y: idx.iter().filter_map(|&i| series.count(i)).collect(),
            wtime: idx.iter().map(|&i| time_of(i)).collect(),
            levels: idx.iter().filter_map(|&i| blk[i]).collect(),
            offset: match (params.population_offset, pop) {
                (true, Some(p)) => Some(idx.iter().map(|&i| p[i].ln()).collect()),
                _ => None,
            },
            wtime_now: time_of(k),
            offset_now: population_now.map_or(0.0, f64::ln),
            distinct_levels: distinct,
        };
        if params.no_periods != 1 && !data.distinct_levels.contains(&params.no_periods) {
            out.push(FarringtonWeek::unfitted(k, observed, population_now));
            continue;
        }
        let factors = params.no_periods != 1;
        let ymax = data.y.iter().copied().fold(f64::NEG_INFINITY, f64::max);

        let Some(mut fit) = flex_fit(&data, params.trend, params) else {
            out.push(FarringtonWeek::unfitted(k, observed, population_now));
            continue;
        };
        let mut do_trend = false;
        if fit.has_trend {
            let x0 = data.row(true, factors, data.wtime_now, params.no_periods);
            let pred = (fit.glm.linear_predictor(&x0) + data.offset_now).exp();
            let disp = inference_dispersion(&fit, params);
            let se = (fit.glm.cov_unscaled[1][1] * disp).sqrt();
            let pval = dist::t_test_p_value(fit.glm.coef[1] / se, fit.glm.df_residual);
            let significant = pval < params.p_threshold_trend;
            do_trend = params.b >= 3 && significant && pred <= ymax;
            if !do_trend {
                match flex_fit(&data, false, params) {
                    Some(f) => fit = f,
                    None => {
                        out.push(FarringtonWeek::unfitted(k, observed, population_now));
                        continue;
                    }
                }
            }
        }
        let x0 = data.row(fit.has_trend, factors, data.wtime_now, params.no_periods);
        let eta0 = fit.glm.linear_predictor(&x0) + data.offset_now;
        let disp = inference_dispersion(&fit, params);
        let se_eta = (fit.glm.quad_form(&x0) * disp).sqrt();
        let phi = fit.phi;
        let y = observed;
        let yv = y.unwrap_or(f64::NAN);

        let (fit_value, expected, lower, upper, p_value, cdf, mu0) = match params.threshold_method {
            ThresholdMethod::Delta => {
                let mu = eta0.exp();
                let se_fit = se_eta * mu;
                let t = delta_threshold(mu, se_fit, phi, params.powertrans, z, yv);
                (mu, mu, t.lower, t.upper, t.upper_tail, t.cdf, mu)
            }
            ThresholdMethod::NbPlugin | ThresholdMethod::Muan => {
                let mu0q = if params.threshold_method == ThresholdMethod::NbPlugin {
                    eta0.exp()
                } else {
                    dist::qnorm(1.0 - params.alpha, eta0, se_eta).exp()
                };
                let (lo, up, pv) = if !mu0q.is_finite() {
                    (f64::NAN, f64::NAN, f64::NAN)
                } else if phi > 1.0 {
                    let size = mu0q / (phi - 1.0);
                    let prob = 1.0 / phi;
                    (
                        dist::qnbinom(params.alpha, size, prob),
                        dist::qnbinom(1.0 - params.alpha, size, prob),
                        dist::nbinom_upper_tail(yv, size, prob),
                    )
                } else {
                    (
                        dist::qpois(params.alpha, mu0q),
                        dist::qpois(1.0 - params.alpha, mu0q),
                        dist::pois_upper_tail(yv, mu0q),
                    )
                };
                let lo = if lo.is_nan() { lo } else { lo.max(0.0) };
                (eta0, eta0.exp(), lo, up, pv, f64::NAN, mu0q)
            }
        };
        let score = (yv - fit_value) / (upper - fit_value);
        let enough = limit54_enough(series, k, &params.limit54);
        let alarm = enough && score > 1.0 && y.is_some_and(|v| v != 0.0);
        let trend_coef = if do_trend && fit.has_trend {
            Some(fit.glm.coef[1])
        } else {
            None
        };
        out.push(FarringtonWeek {
            index: k,
            observed: y,
            expected: if upper.is_nan() { None } else { Some(expected) },
            upper: if enough { finite(upper) } else { None },
            upper_unsuppressed: finite(upper),
            lower: finite(lower),
            alarm,
            lower_alarm: y.is_some_and(|v| v < lower),
            limit54_suppressed: !enough,
            score: finite(score),
            p_value: finite(p_value),
            transformed_cdf: finite(cdf),
            phi: Some(phi),
            mu0: finite(mu0),
            trend_included: do_trend && fit.has_trend,
            trend_coef,
            population: population_now,
            fitted: true,
        });
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Classic
// ---------------------------------------------------------------------------

/// Baseline indices of `algo.farrington`: `w` periods either side of the
/// same period in each of the `b` previous years; periods before the start of
/// the series (or dates not in the series) are skipped. Undated: exactly
/// `freq * j` periods back. Dated (R: `refvalIdxByDate`): the date `j`
/// calendar years back, stepped by weeks (snapped to the current weekday),
/// months (moved to the current day of month) or days.
fn classic_reference_indices(series: &WeeklySeries, k: usize, b: usize, w: usize) -> Vec<usize> {
    let freq = series.periods_per_year();
    let mut out = Vec::new();
    match series.dates() {
        Some(dates) => {
            let d0 = dates[k];
            let (_, _, day0) = d0.ymd();
            for j in 1..=b {
                let rp = d0.minus_years(j as i64);
                for d in -(w as i64)..=(w as i64) {
                    let target = match freq {
                        52 => rp.add_days(7 * d).closest_same_weekday(d0),
                        12 => {
                            let m = rp.add_months(d);
                            let (_, _, day) = m.ymd();
                            m.add_days(i64::from(day0) - i64::from(day))
                        }
                        _ => rp.add_days(d),
                    };
                    if let Ok(i) = dates.binary_search(&target) {
                        out.push(i);
                    }
                }
            }
        }
        None => {
            for j in (1..=b).rev() {
                for d in -(w as i64)..=(w as i64) {
                    let i = k as i64 - (freq * j) as i64 + d;
                    if i >= 0 {
                        out.push(i as usize);
                    }
                }
            }
        }
    }
    out
}

struct ClassicFit {
    glm: GlmFit,
    phi: f64,
    has_trend: bool,
}

fn classic_fit(y: &[f64], wtime: &[f64], trend: bool, reweight: bool) -> Result<ClassicFit> {
    let design = |t: bool| {
        Design::new(
            &wtime
                .iter()
                .map(|&w| if t { vec![1.0, w] } else { vec![1.0] })
                .collect::<Vec<_>>(),
        )
    };
    let mut has_trend = trend;
    let mut d = design(trend);
    let mut m = fit_poisson(&d, y, None, None);
    let failed = m.as_ref().map_or(true, |m| !m.converged);
    if failed && trend {
        has_trend = false;
        d = design(false);
        m = fit_poisson(&d, y, None, None);
    }
    let mut m = m.map_err(SurveillanceError::GlmFailure)?;
    let disp = m.pearson_dispersion();
    if disp.is_nan() {
        return Err(SurveillanceError::GlmFailure(
            "no residual degrees of freedom".into(),
        ));
    }
    let mut phi = disp.max(1.0);
    if reweight {
        let s = anscombe_residuals(&m, phi);
        let om = assign_weights(&s, 1.0);
        m = fit_poisson_no_hat(&d, y, Some(&om), None).map_err(SurveillanceError::GlmFailure)?;
        phi = m.pearson_dispersion().max(1.0);
    }
    Ok(ClassicFit {
        glm: m,
        phi,
        has_trend,
    })
}

/// Runs the original Farrington et al. (1996) algorithm as implemented by
/// R's `surveillance::algo.farrington` (and the `farrington` wrapper) on the
/// weeks in `range` (0-based, half-open). Follows the series' frequency like
/// [`farrington_flexible`] (monthly series: months instead of weeks).
///
/// Differences from [`farrington_flexible`] with
/// [`FarringtonFlexibleParams::farrington_1996`]: reweighting threshold 1,
/// two-sided `z = qnorm(1 - alpha/2)`, trend significance fixed at 0.05, the
/// prediction standard error uses the floored dispersion, missing reference
/// weeks are skipped instead of being an error, and alarms do not require a
/// non-zero count. Missing counts in the baseline are dropped.
///
/// Errors: invalid parameters/range; a dated series whose frequency is not
/// 52, 12 or 365; a week whose baseline has too few observations to fit the
/// model gives `InsufficientHistory`.
pub fn farrington_classic(
    series: &WeeklySeries,
    range: Range<usize>,
    params: &FarringtonClassicParams,
) -> Result<Vec<FarringtonWeek>> {
    series.check_range(&range)?;
    if params.b == 0 {
        return Err(SurveillanceError::InvalidParameter {
            name: "b",
            reason: "must be >= 1".into(),
        });
    }
    if !(params.alpha > 0.0 && params.alpha < 1.0) {
        return Err(SurveillanceError::InvalidParameter {
            name: "alpha",
            reason: "must be in (0, 1)".into(),
        });
    }
    check_limit54(&params.limit54)?;
    let freq = checked_frequency(series)?;
    let z = dist::qnorm_std(1.0 - params.alpha / 2.0);
    let mut out = Vec::with_capacity(range.len());
    for k in range {
        let idx: Vec<usize> = classic_reference_indices(series, k, params.b, params.w)
            .into_iter()
            .filter(|&i| series.count(i).is_some())
            .collect();
        let needed = 2 + usize::from(params.trend);
        if idx.len() < needed {
            return Err(SurveillanceError::InsufficientHistory {
                index: k,
                first_evaluable: freq * params.b.saturating_sub(1) + params.w + 1,
            });
        }
        let y: Vec<f64> = idx.iter().filter_map(|&i| series.count(i)).collect();
        let wtime: Vec<f64> = idx.iter().map(|&i| (i + 1) as f64).collect();
        let k1 = (k + 1) as f64;
        let ymax = y.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut fit = classic_fit(&y, &wtime, params.trend, params.reweight)?;
        let mut do_trend = params.trend;
        if fit.has_trend {
            let disp = fit.glm.pearson_dispersion();
            let se = (fit.glm.cov_unscaled[1][1] * disp).sqrt();
            let pval = dist::t_test_p_value(fit.glm.coef[1] / se, fit.glm.df_residual);
            let mu_hat = fit.glm.linear_predictor(&[1.0, k1]).exp();
            if !(params.b >= 3 && pval < 0.05 && mu_hat <= ymax) {
                do_trend = false;
                fit = classic_fit(&y, &wtime, false, params.reweight)?;
            }
        } else {
            do_trend = false;
        }
        let x0 = if fit.has_trend {
            vec![1.0, k1]
        } else {
            vec![1.0]
        };
        let mu = fit.glm.linear_predictor(&x0).exp();
        let se_fit = (fit.glm.quad_form(&x0) * fit.phi).sqrt() * mu;
        let observed = series.count(k);
        let yv = observed.unwrap_or(f64::NAN);
        let t = delta_threshold(mu, se_fit, fit.phi, params.powertrans, z, yv);
        let enough = limit54_enough(series, k, &params.limit54);
        let score = (yv - mu) / (t.upper - mu);
        out.push(FarringtonWeek {
            index: k,
            observed,
            expected: Some(mu),
            upper: if enough { finite(t.upper) } else { None },
            upper_unsuppressed: finite(t.upper),
            lower: finite(t.lower),
            alarm: enough && score > 1.0,
            lower_alarm: observed.is_some_and(|v| v < t.lower),
            limit54_suppressed: !enough,
            score: finite(score),
            p_value: finite(t.upper_tail),
            transformed_cdf: finite(t.cdf),
            phi: Some(fit.phi),
            mu0: Some(mu),
            trend_included: do_trend && fit.has_trend,
            trend_coef: if do_trend && fit.has_trend {
                Some(fit.glm.coef[1])
            } else {
                None
            },
            population: None,
            fitted: true,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::surveillance::series::Date;

    /// Deterministic seasonal counts (no RNG dependency).
    fn seasonal(n: usize) -> Vec<f64> {
        let mut state: u64 = 12345;
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 33) as f64 / (1u64 << 31) as f64; // [0,1)
                let mean = 20.0 + 8.0 * (2.0 * std::f64::consts::PI * i as f64 / 52.0).sin();
                (mean + (u - 0.5) * 2.0 * mean.sqrt() * 1.7)
                    .round()
                    .max(0.0)
            })
            .collect()
    }

    fn series(n: usize) -> WeeklySeries {
        WeeklySeries::new(seasonal(n)).unwrap()
    }

    #[test]
    fn too_little_history_is_an_error() {
        let s = series(300);
        let p = FarringtonFlexibleParams::default();
        // 5 * 52 + 3 = 263 is the first evaluable 0-based index
        assert!(matches!(
            farrington_flexible(&s, 200..210, &p),
            Err(SurveillanceError::ReferenceWeekMissing {
                index: 200,
                years_back: 4
            })
        ));
        assert!(matches!(
            farrington_flexible(&s, 262..270, &p),
            Err(SurveillanceError::InsufficientHistory {
                first_evaluable: 263,
                ..
            })
        ));
        assert!(farrington_flexible(&s, 263..300, &p).is_ok());
        let c = FarringtonClassicParams::default();
        assert!(farrington_classic(&s, 0..5, &c).is_err());
    }

    #[test]
    fn parameter_and_population_errors() {
        let s = series(400);
        let bad = FarringtonFlexibleParams {
            alpha: 1.5,
            ..Default::default()
        };
        assert!(farrington_flexible(&s, 300..310, &bad).is_err());
        let bad = FarringtonFlexibleParams {
            limit54: Limit54 {
                cases: 5.0,
                period: 0,
            },
            ..Default::default()
        };
        assert!(farrington_flexible(&s, 300..310, &bad).is_err());
        let pop = FarringtonFlexibleParams {
            population_offset: true,
            ..Default::default()
        };
        assert_eq!(
            farrington_flexible(&s, 300..310, &pop),
            Err(SurveillanceError::MissingPopulation)
        );
        let bad = FarringtonFlexibleParams {
            no_periods: 60,
            ..Default::default()
        };
        assert!(farrington_flexible(&s, 300..310, &bad).is_err());
    }

    #[test]
    fn thresholds_bracket_the_expected_value() {
        let s = series(420);
        let methods = [
            ThresholdMethod::Delta,
            ThresholdMethod::NbPlugin,
            ThresholdMethod::Muan,
        ];
        let trans = [
            PowerTransform::TwoThirds,
            PowerTransform::Half,
            PowerTransform::None,
        ];
        for m in methods {
            for t in trans {
                let p = FarringtonFlexibleParams {
                    threshold_method: m,
                    powertrans: t,
                    ..Default::default()
                };
                for w in farrington_flexible(&s, 300..420, &p).unwrap() {
                    let (lo, e, up) = (
                        w.lower.unwrap(),
                        w.expected.unwrap(),
                        w.upper_unsuppressed.unwrap(),
                    );
                    assert!(
                        lo >= 0.0 && lo <= e && e <= up + 1.0,
                        "{m:?} {t:?}: {lo} {e} {up}"
                    );
                    assert!(!(w.alarm && w.lower_alarm));
                }
            }
        }
    }

    #[test]
    fn delta_without_transform_is_symmetric() {
        // With powertrans = none the lower and upper limits are
        // mu0 -/+ z * se: symmetric around the expected value.
        let s = series(420);
        let p = FarringtonFlexibleParams {
            threshold_method: ThresholdMethod::Delta,
            powertrans: PowerTransform::None,
            ..Default::default()
        };
        for w in farrington_flexible(&s, 300..420, &p).unwrap() {
            let (lo, e, up) = (
                w.lower.unwrap(),
                w.expected.unwrap(),
                w.upper_unsuppressed.unwrap(),
            );
            if lo > 0.0 {
                assert!(((e - lo) - (up - e)).abs() < 1e-9 * up);
            }
        }
    }

    #[test]
    fn spike_alarms_and_drop_gives_lower_alarm() {
        let mut v = seasonal(420);
        v[400] = 200.0;
        v[410] = 0.0;
        v[411] = 0.0;
        let s = WeeklySeries::new(v).unwrap();
        for p in [
            FarringtonFlexibleParams::default(),
            FarringtonFlexibleParams::farrington_1996(),
        ] {
            let r = farrington_flexible(&s, 395..420, &p).unwrap();
            let at = |i: usize| r.iter().find(|w| w.index == i).unwrap();
            assert!(at(400).alarm && !at(400).lower_alarm);
            assert!(at(410).lower_alarm && !at(410).alarm);
        }
        let r = farrington_classic(&s, 395..420, &FarringtonClassicParams::default()).unwrap();
        assert!(r.iter().find(|w| w.index == 400).unwrap().alarm);
    }

    #[test]
    fn muan_is_more_conservative_than_plugin() {
        let s = series(420);
        let nb = FarringtonFlexibleParams::default();
        let mu = FarringtonFlexibleParams {
            threshold_method: ThresholdMethod::Muan,
            ..Default::default()
        };
        let a = farrington_flexible(&s, 300..420, &nb).unwrap();
        let b = farrington_flexible(&s, 300..420, &mu).unwrap();
        for (x, y) in a.iter().zip(&b) {
            assert!(y.upper_unsuppressed.unwrap() >= x.upper_unsuppressed.unwrap());
        }
    }

    #[test]
    fn textbook_dispersion_variant_runs() {
        let s = series(420);
        let p = FarringtonFlexibleParams {
            inference_dispersion: InferenceDispersion::Pearson,
            ..Default::default()
        };
        let r = farrington_flexible(&s, 300..420, &p).unwrap();
        assert!(r.iter().all(|w| w.fitted));
    }

    #[test]
    fn limit54_suppresses_low_counts() {
        let mut v = seasonal(420);
        for x in v.iter_mut().skip(405).take(4) {
            *x = 1.0;
        }
        let s = WeeklySeries::new(v).unwrap();
        let r = farrington_flexible(&s, 408..409, &FarringtonFlexibleParams::default()).unwrap();
        assert!(r[0].limit54_suppressed && r[0].upper.is_none() && !r[0].alarm);
        assert!(r[0].upper_unsuppressed.is_some());
        let r = farrington_classic(&s, 408..409, &FarringtonClassicParams::default()).unwrap();
        assert!(r[0].limit54_suppressed && r[0].upper.is_none() && !r[0].alarm);
    }

    #[test]
    fn missing_values_and_zero_series() {
        let mut v: Vec<Option<f64>> = seasonal(420).into_iter().map(Some).collect();
        v[300] = None; // inside a baseline
        v[410] = None; // evaluated week
        let s = WeeklySeries::with_missing(v).unwrap();
        let r = farrington_flexible(&s, 405..420, &FarringtonFlexibleParams::default()).unwrap();
        let w = r.iter().find(|w| w.index == 410).unwrap();
        assert!(w.observed.is_none() && !w.alarm && !w.lower_alarm);
        let r = farrington_flexible(&s, 352..360, &FarringtonFlexibleParams::farrington_1996())
            .unwrap();
        assert!(r.iter().all(|w| w.fitted));

        let z = WeeklySeries::new(vec![0.0; 420]).unwrap();
        for p in [
            FarringtonFlexibleParams::default(),
            FarringtonFlexibleParams::farrington_1996(),
        ] {
            let r = farrington_flexible(&z, 400..420, &p).unwrap();
            assert!(r.iter().all(|w| !w.alarm));
        }
        let r = farrington_classic(&z, 400..420, &FarringtonClassicParams::default()).unwrap();
        assert!(r.iter().all(|w| !w.alarm));
    }

    #[test]
    fn monthly_series_follow_their_frequency() {
        let p = FarringtonFlexibleParams {
            w: 2,
            no_periods: 4,
            past_weeks_not_included: 6,
            ..Default::default()
        };
        let s = WeeklySeries::monthly(seasonal(100)).unwrap();
        // 5 * 12 + 2 = 62 is the first evaluable 0-based index
        assert!(matches!(
            farrington_flexible(&s, 61..70, &p),
            Err(SurveillanceError::InsufficientHistory {
                first_evaluable: 62,
                ..
            })
        ));
        assert!(farrington_flexible(&s, 62..100, &p).is_ok());
        assert_eq!(
            reference_points(&s, 80, 5).unwrap(),
            [80, 68, 56, 44, 32, 20]
        );
        // dated monthly (1st of each month): same calendar month j years back
        let d0 = Date::from_ymd(2001, 1, 1).unwrap();
        let dated = s
            .clone()
            .dated((0..100).map(|i| d0.add_months(i)).collect())
            .unwrap();
        assert_eq!(
            reference_points(&dated, 80, 5).unwrap(),
            [80, 68, 56, 44, 32, 20]
        );
        let mut c = classic_reference_indices(&dated, 80, 2, 1);
        assert_eq!(c, [67, 68, 69, 55, 56, 57]);
        c = classic_reference_indices(&s, 80, 2, 1);
        assert_eq!(c, [55, 56, 57, 67, 68, 69]);
        // a dated series with a frequency R cannot date is an error
        let q = WeeklySeries::new(seasonal(100))
            .unwrap()
            .with_frequency(4)
            .unwrap()
            .dated((0..100).map(|i| d0.add_months(3 * i)).collect())
            .unwrap();
        for r in [
            farrington_flexible(&q, 90..100, &p),
            farrington_classic(&q, 90..100, &FarringtonClassicParams::default()),
        ] {
            assert!(matches!(
                r,
                Err(SurveillanceError::InvalidParameter {
                    name: "periods_per_year",
                    ..
                })
            ));
        }
        // undated quarterly data are fine: exactly 4 periods per year
        let q = WeeklySeries::new(seasonal(40))
            .unwrap()
            .with_frequency(4)
            .unwrap();
        let p = FarringtonFlexibleParams {
            w: 0,
            no_periods: 1,
            past_weeks_not_included: 0,
            ..p
        };
        assert!(farrington_flexible(&q, 30..40, &p).is_ok());
    }

    #[test]
    fn weights_sum_to_n() {
        let s = [0.5, 3.0, -1.0, 4.0];
        let w = assign_weights(&s, 1.0);
        assert!((w.iter().sum::<f64>() - 4.0).abs() < 1e-12);
        assert!(w[1] < w[0] && w[3] < w[1]);
    }
}
