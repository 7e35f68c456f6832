//! Slope and Relative Index of Inequality (SII / RII) with simulated confidence intervals.

use crate::ci::{ConfidenceLevel, Interval};
use crate::dist::normal_quantile;
use crate::error::{Result, StatsError, finite, multiplier as check_multiplier, positive};
use crate::rng::Xoshiro256StarStar;

/// What kind of indicator the quantile values are (the package's `value_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SiiValueType {
    /// 0: any normally distributed indicator; no transformation.
    Normal,
    /// 1: a rate; simulated on the log scale.
    Rate,
    /// 2: a proportion (0–1); simulated on the logit scale.
    Proportion,
}

impl SiiValueType {
    /// The package's code: 0, 1 or 2.
    pub fn code(self) -> u8 {
        match self {
            SiiValueType::Normal => 0,
            SiiValueType::Rate => 1,
            SiiValueType::Proportion => 2,
        }
    }

    /// From the package's code 0, 1 or 2.
    pub fn from_code(code: u8) -> Result<Self> {
        match code {
            0 => Ok(SiiValueType::Normal),
            1 => Ok(SiiValueType::Rate),
            2 => Ok(SiiValueType::Proportion),
            _ => Err(StatsError::InvalidArgument(format!(
                "value_type should be 0, 1 or 2, got {code}"
            ))),
        }
    }

    /// The package's `indicator_type` label: normal, rate or proportion.
    pub fn label(self) -> &'static str {
        match self {
            SiiValueType::Normal => "normal",
            SiiValueType::Rate => "rate",
            SiiValueType::Proportion => "proportion",
        }
    }

    fn forward(self, v: f64) -> f64 {
        match self {
            SiiValueType::Normal => v,
            SiiValueType::Rate => v.ln(),
            SiiValueType::Proportion => (v / (1.0 - v)).ln(),
        }
    }

    fn inverse(self, t: f64) -> f64 {
        match self {
            SiiValueType::Normal => t,
            SiiValueType::Rate => t.exp(),
            SiiValueType::Proportion => {
                if t >= 0.0 {
                    1.0 / (1.0 + (-t).exp())
                } else {
                    let e = t.exp();
                    e / (1.0 + e)
                }
            }
        }
    }
}

/// The indicator value of one quantile.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SiiValue {
    /// The value itself (on the natural scale: rate, proportion 0–1, score...).
    Value(f64),
    /// A count x; the value is x / population. Only for [`SiiValueType::Proportion`].
    Count(f64),
}

/// The uncertainty of one quantile's value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SiiUncertainty {
    /// A standard error, on the simulation scale (log for rates, logit for proportions).
    StandardError(f64),
    /// 95% confidence limits on the natural scale; se = (T(upper) − T(lower)) / (2 × 1.959964).
    ConfidenceLimits {
        /// Lower 95% limit.
        lower: f64,
        /// Upper 95% limit.
        upper: f64,
    },
}

/// One quantile's input row.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SiiQuantile {
    /// The quantile number; rows are ordered by it (1 = first on the x axis).
    pub quantile: u32,
    /// Population of the quantile (must be > 0).
    pub population: f64,
    /// Indicator value or count.
    pub value: SiiValue,
    /// Standard error or 95% limits.
    pub uncertainty: SiiUncertainty,
}

/// Options for [`sii`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SiiOptions {
    /// Indicator type.
    pub value_type: SiiValueType,
    /// Fit on the log/logit scale (needs a rate or proportion and 95% limits, not an se).
    pub transform: bool,
    /// Multiplier for the SII (negative flips polarity and inverts the RII).
    pub multiplier: f64,
    /// Simulation repetitions (at least 1000; the package default is 100000).
    pub repetitions: usize,
    /// Confidence levels for the simulated limits.
    pub confidence: Vec<ConfidenceLevel>,
    /// Seed for the deterministic PRNG (xoshiro256**).
    pub seed: u64,
}

impl SiiOptions {
    /// The package's `transform` output label: `"log"`, `"logit"` or `"none"`.
    pub fn transform_label(&self) -> &'static str {
        match (self.transform, self.value_type) {
            (true, SiiValueType::Rate) => "log",
            (true, SiiValueType::Proportion) => "logit",
            _ => "none",
        }
    }
}

impl Default for SiiOptions {
    fn default() -> Self {
        SiiOptions {
            value_type: SiiValueType::Normal,
            transform: false,
            multiplier: 1.0,
            repetitions: 100_000,
            confidence: vec![ConfidenceLevel::P95, ConfidenceLevel::P99_8],
            seed: 1,
        }
    }
}

/// Simulated limits at one confidence level.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SiiInterval {
    /// The confidence level.
    pub level: ConfidenceLevel,
    /// Limits of the SII.
    pub sii: Interval,
    /// Limits of the RII.
    pub rii: Interval,
}

/// The SII, RII and intercept with simulated CIs.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Sii {
    /// Slope index of inequality, × multiplier.
    pub sii: f64,
    /// Relative index of inequality (inverted when the multiplier is negative).
    pub rii: f64,
    /// Fitted value at x = 0: c when `transform = false` (not multiplied);
    /// T⁻¹(c)·|multiplier| when `transform = true`.
    pub intercept: f64,
    /// One entry per requested confidence level, in the order given.
    pub intervals: Vec<SiiInterval>,
}

struct Prepared {
    /// Transformed values T(value).
    t_values: Vec<f64>,
    /// Standard errors on the simulation scale.
    se: Vec<f64>,
    /// Weights so that intercept c = Σ wc·y.
    wc: Vec<f64>,
    /// Weights so that slope s = Σ ws·y.
    ws: Vec<f64>,
}

fn prepare(rows: &[SiiQuantile], opts: &SiiOptions) -> Result<Prepared> {
    let vt = opts.value_type;
    if opts.transform && vt == SiiValueType::Normal {
        return Err(StatsError::InvalidArgument(
            "value_type should be rate or proportion when transform is true".into(),
        ));
    }
    let mut sorted: Vec<&SiiQuantile> = rows.iter().collect();
    sorted.sort_by_key(|r| r.quantile);
    if sorted.windows(2).any(|w| w[0].quantile == w[1].quantile) {
        return Err(StatsError::InvalidArgument(
            "each quantile must appear once".into(),
        ));
    }
    if !(5..=100).contains(&sorted.len()) {
        return Err(StatsError::InvalidArgument(format!(
            "number of quantiles must be between 5 and 100, got {}",
            sorted.len()
        )));
    }
    let z95 = normal_quantile(0.975);
    let check_scale = |name: &'static str, v: f64| -> Result<f64> {
        finite(name, v)?;
        let ok = match vt {
            SiiValueType::Normal => true,
            SiiValueType::Rate => v > 0.0,
            SiiValueType::Proportion => v > 0.0 && v < 1.0,
        };
        if ok {
            Ok(v)
        } else {
            Err(StatsError::InvalidArgument(format!(
                "{name} {v} cannot be transformed for a {}",
                vt.label()
            )))
        }
    };
    let mut pops = Vec::with_capacity(sorted.len());
    let mut t_values = Vec::with_capacity(sorted.len());
    let mut se = Vec::with_capacity(sorted.len());
    for r in &sorted {
        let pop = positive("population", r.population)?;
        let value = match r.value {
            SiiValue::Value(v) => v,
            SiiValue::Count(x) => {
                if vt != SiiValueType::Proportion {
                    return Err(StatsError::InvalidArgument(
                        "a count x can only be given for a proportion (value_type 2)".into(),
                    ));
                }
                finite("x", x)? / pop
            }
        };
        t_values.push(vt.forward(check_scale("value", value)?));
        let s = match r.uncertainty {
            SiiUncertainty::StandardError(s) => {
                if opts.transform {
                    return Err(StatsError::InvalidArgument(
                        "transform = true needs confidence limits, not a standard error".into(),
                    ));
                }
                finite("standard error", s)?;
                if s < 0.0 {
                    return Err(StatsError::NegativeCount {
                        name: "standard error",
                        value: s,
                    });
                }
                s
            }
            SiiUncertainty::ConfidenceLimits { lower, upper } => {
                let l = vt.forward(check_scale("lower limit", lower)?);
                let u = vt.forward(check_scale("upper limit", upper)?);
                (u - l) / z95 / 2.0
            }
        };
        se.push(s);
        pops.push(pop);
    }
    // a = population share; b = midpoint of the cumulative share.
    let total: f64 = pops.iter().sum();
    let a: Vec<f64> = pops.iter().map(|p| p / total).collect();
    let mut b = Vec::with_capacity(a.len());
    let mut cum = 0.0;
    for &ai in &a {
        b.push(ai / 2.0 + cum);
        cum += ai;
    }
    // Weighted least squares of y on b with weights a, written as linear weights on y.
    let sa: f64 = a.iter().sum();
    let bbar: f64 = a.iter().zip(&b).map(|(ai, bi)| ai * bi).sum::<f64>() / sa;
    let sbb: f64 = a
        .iter()
        .zip(&b)
        .map(|(ai, bi)| ai * (bi - bbar).powi(2))
        .sum();
    let ws: Vec<f64> = a
        .iter()
        .zip(&b)
        .map(|(ai, bi)| ai * (bi - bbar) / sbb)
        .collect();
    let wc: Vec<f64> = a
        .iter()
        .zip(&ws)
        .map(|(ai, wsi)| ai / sa - bbar * wsi)
        .collect();
    Ok(Prepared {
        t_values,
        se,
        wc,
        ws,
    })
}

fn fit(wc: &[f64], ws: &[f64], y: &[f64]) -> (f64, f64) {
    let c = wc.iter().zip(y).map(|(w, y)| w * y).sum();
    let s = ws.iter().zip(y).map(|(w, y)| w * y).sum();
    (c, s)
}

/// Position (1-based) of a limit among `r` sorted draws: round(r · p), kept in 1..=r.
fn position(r: usize, p: f64) -> usize {
    let pos = (r as f64 * p).round_ties_even();
    (pos.max(1.0) as usize).min(r)
}

/// Slope Index of Inequality and Relative Index of Inequality, with confidence limits by
/// simulation (Low & Low 2004, "Measuring the gap: quantifying and comparing local health
/// inequalities", J Public Health 26:388–395; PHEindicatormethods::phe_sii).
///
/// Quantiles are ordered by number; aᵢ = popᵢ/Σpop, bᵢ = cumulative share midpoint; the
/// intercept c and slope s come from a weighted least-squares fit of y on b with weights a.
/// Without transform: SII = s·m, RII = (c+s)/c (inverted when m < 0), intercept = c. With
/// transform (log for rates, logit for proportions): SII = (T⁻¹(c+s) − T⁻¹(c))·m,
/// RII = T⁻¹(c+s)/T⁻¹(c), intercept = T⁻¹(c)·|m|.
///
/// CIs: each quantile is drawn `repetitions` times from N(T(value), se) with a seeded
/// xoshiro256** generator (so limits are reproducible here but not bit-identical to R's
/// Mersenne-Twister stream), refitted, and the sorted draws at positions round(R·α/2) and
/// round(R·(1−α/2)) are the limits. With transform the simulated slope limits are
/// back-transformed around the midpoint c + s/2.
///
/// Differences from the package: a negative multiplier swaps the transformed (log) limits
/// when m < 0 (the package tests m < 1 for rates, which swaps them for 0 < m < 1 too).
pub fn sii(rows: &[SiiQuantile], options: &SiiOptions) -> Result<Sii> {
    let m = check_multiplier(options.multiplier)?;
    if options.repetitions < 1000 {
        return Err(StatsError::InvalidArgument(format!(
            "repetitions must be at least 1000, got {}",
            options.repetitions
        )));
    }
    let vt = options.value_type;
    let prep = prepare(rows, options)?;
    let n = prep.t_values.len();

    // Point estimates.
    let y: Vec<f64> = if options.transform {
        prep.t_values.clone()
    } else {
        prep.t_values.iter().map(|&t| vt.inverse(t)).collect()
    };
    let (c, s) = fit(&prep.wc, &prep.ws, &y);
    let (sii_value, rii_value, intercept) = if options.transform {
        let at0 = vt.inverse(c);
        let at1 = vt.inverse(c + s);
        let rii = at1 / at0;
        (
            (at1 - at0) * m,
            if m < 0.0 { 1.0 / rii } else { rii },
            at0 * m.abs(),
        )
    } else {
        let rii = (c + s) / c;
        (m * s, if m < 0.0 { 1.0 / rii } else { rii }, c)
    };

    // Simulation.
    let reps = options.repetitions;
    let mut rng = Xoshiro256StarStar::seed_from_u64(options.seed);
    let mut first = Vec::with_capacity(reps);
    let mut second = Vec::with_capacity(reps);
    let mut draw = vec![0.0; n];
    for _ in 0..reps {
        for (i, d) in draw.iter_mut().enumerate() {
            let t = prep.t_values[i] + prep.se[i] * rng.next_normal();
            *d = if options.transform { t } else { vt.inverse(t) };
        }
        let (cr, sr) = fit(&prep.wc, &prep.ws, &draw);
        if options.transform {
            first.push(sr);
        } else {
            first.push(m * sr);
            let rii = (sr + cr) / cr;
            second.push(if m < 0.0 { 1.0 / rii } else { rii });
        }
    }
    first.sort_unstable_by(f64::total_cmp);
    second.sort_unstable_by(f64::total_cmp);

    let mid = (c + (c + s)) / 2.0;
    let mut intervals = Vec::with_capacity(options.confidence.len());
    for &level in &options.confidence {
        let lo = position(reps, 1.0 - level.upper_probability()) - 1;
        let hi = position(reps, level.upper_probability()) - 1;
        let interval = if options.transform {
            let (sl, su) = (first[lo], first[hi]);
            let i_l = vt.inverse(mid - sl / 2.0);
            let i_u = vt.inverse(mid - su / 2.0);
            let x1_l = vt.inverse(mid + sl / 2.0);
            let x1_u = vt.inverse(mid + su / 2.0);
            if m < 0.0 {
                SiiInterval {
                    level,
                    sii: Interval::new((x1_u - i_u) * m, (x1_l - i_l) * m),
                    rii: Interval::new(1.0 / (x1_u / i_u), 1.0 / (x1_l / i_l)),
                }
            } else {
                SiiInterval {
                    level,
                    sii: Interval::new((x1_l - i_l) * m, (x1_u - i_u) * m),
                    rii: Interval::new(x1_l / i_l, x1_u / i_u),
                }
            }
        } else {
            SiiInterval {
                level,
                sii: Interval::new(first[lo], first[hi]),
                rii: Interval::new(second[lo], second[hi]),
            }
        };
        intervals.push(interval);
    }
    Ok(Sii {
        sii: sii_value,
        rii: rii_value,
        intercept,
        intervals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(values: &[f64]) -> Vec<SiiQuantile> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| SiiQuantile {
                quantile: i as u32 + 1,
                population: 1000.0,
                value: SiiValue::Value(v),
                uncertainty: SiiUncertainty::StandardError(0.5),
            })
            .collect()
    }

    #[test]
    fn linear_gradient_gives_exact_slope() {
        // Equal populations: b = 0.1, 0.3, ..., 0.9; y = 10 + 20 b.
        let v: Vec<f64> = (0..5)
            .map(|i| 10.0 + 20.0 * (0.1 + 0.2 * i as f64))
            .collect();
        let opts = SiiOptions {
            repetitions: 2000,
            ..SiiOptions::default()
        };
        let r = sii(&rows(&v), &opts);
        let r = r.unwrap_or(Sii {
            sii: 0.0,
            rii: 0.0,
            intercept: 0.0,
            intervals: vec![],
        });
        assert!((r.sii - 20.0).abs() < 1e-12);
        assert!((r.intercept - 10.0).abs() < 1e-12);
        assert!((r.rii - 3.0).abs() < 1e-12);
        assert_eq!(r.intervals.len(), 2);
        assert!(r.intervals[0].sii.contains(20.0));
        // Same seed, same limits.
        let again = sii(&rows(&v), &opts).map(|s| s.intervals);
        assert_eq!(again, Ok(r.intervals));
    }

    #[test]
    fn invalid_inputs() {
        let opts = SiiOptions::default();
        assert!(sii(&rows(&[1.0, 2.0, 3.0, 4.0]), &opts).is_err());
        let mut r = rows(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        r[1].quantile = 1;
        assert!(sii(&r, &opts).is_err());
        let opts = SiiOptions {
            transform: true,
            ..SiiOptions::default()
        };
        assert!(sii(&rows(&[1.0, 2.0, 3.0, 4.0, 5.0]), &opts).is_err());
        let opts = SiiOptions {
            repetitions: 10,
            ..SiiOptions::default()
        };
        assert!(sii(&rows(&[1.0, 2.0, 3.0, 4.0, 5.0]), &opts).is_err());
    }
}
