//! # marmot-stats
//!
//! Pure statistics for Marmot's population-health indicators: the methods of the OHID
//! (formerly PHE) Fingertips technical guidance as implemented by the R package
//! **PHEindicatormethods**, validated against that package's outputs. This crate owns the
//! arithmetic only: no IO, no data frames, no grouping. Callers pass numbers (already grouped
//! per area) and get values, confidence intervals and labels back.
//!
//! | module | method | source |
//! |---|---|---|
//! | [`ci`] | confidence levels (0.95 or 95), z = Φ⁻¹(1 − α/2), 95% + 99.8% pairs, exact Poisson and Byar's count limits | Garwood 1936; Breslow & Day 1987 |
//! | [`proportion`](mod@proportion) | proportion with Wilson score CI (no continuity correction) | Wilson 1927; `phe_proportion` |
//! | [`rate`] | crude rate, exact (x < 10) / Byar's (x ≥ 10) CI | `phe_rate` |
//! | [`dsr`](mod@dsr) | directly standardised rate, Dobson CI, suppression below 10, non-independent events | Dobson et al. 1991; `calculate_dsr` |
//! | [`isr`] | indirectly standardised ratio and rate, exact/Byar's CI | Breslow & Day 1987; `calculate_ISRatio`, `calculate_ISRate` |
//! | [`mean`](mod@mean) | mean with Student's t CI | `phe_mean` |
//! | [`quantile`] | quantile assignment (invert, min-rank ties) | `phe_quantile` |
//! | [`sii`](mod@sii) | slope / relative index of inequality, CIs by seeded simulation | Low & Low 2004; `phe_sii` |
//! | [`funnel`] | funnel plot limits (proportion, ratio, rate), points, significance | PHE funnel plot tool; `calculate_funnel_limits`, `assign_funnel_significance`, `calculate_funnel_points` |
//! | [`benchmark`] | comparison with a benchmark and RAG judgement by polarity | Fingertips technical guidance |
//! | [`disclosure`] | small-number suppression of linked count tables: primary threshold suppression, line rule, exact linear-algebra audit of complements; [`disclosure::Family`] builds the area-hierarchy constraints | Hundepool et al. 2012, *Statistical Disclosure Control* |
//! | [`dist`] | normal (AS 241), gamma / chi-squared and Student's t quantiles | Wichura 1988 |
//! | [`surveillance`] | outbreak detection on weekly counts: Farrington flexible (Noufaily et al. 2013) and classic (Farrington et al. 1996), EARS C1/C2/C3, CUSUM, GLR Poisson, with lower bounds for drops | R package `surveillance` (Salmon, Schumacher & Höhle 2016) |
//!
//! Invalid input returns [`StatsError`]; nothing panics on caller-controlled input.
//! Reference: PHEindicatormethods 2.1.0 (UKHSA), GPL-3; only its published methods are
//! reimplemented here, and its outputs are used as test data.
#![warn(missing_docs)]

pub mod benchmark;
pub mod ci;
pub mod disclosure;
pub mod dist;
pub mod dsr;
mod error;
pub mod funnel;
pub mod isr;
pub mod mean;
pub mod proportion;
pub mod quantile;
pub mod rate;
mod rng;
pub mod sii;
pub mod surveillance;

pub use benchmark::{
    BenchmarkComparison, BenchmarkJudgement, Polarity, compare_with_benchmark, judge,
};
pub use ci::{ConfidenceLevel, DualInterval, Interval, PoissonMethod, PoissonRule, StandardLevel};
pub use dsr::{
    DsrBand, DsrEstimate, DsrMethod, DsrResult, ESP2013, NonIndependentBand, dsr,
    dsr_non_independent,
};
pub use error::{Result, StatsError};
pub use isr::{
    IndirectlyStandardised, IsRate, IsRatio, IsrBand, indirectly_standardised_rate,
    indirectly_standardised_ratio,
};
pub use mean::{Mean, mean};
pub use proportion::{Proportion, proportion, wilson_interval};
pub use quantile::quantiles;
pub use rate::{CrudeRate, crude_rate, crude_rate_by};
pub use sii::{
    Sii, SiiInterval, SiiOptions, SiiQuantile, SiiUncertainty, SiiValue, SiiValueType, sii,
};
