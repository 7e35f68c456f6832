//! Outbreak and early-warning detection for weekly (or monthly) surveillance
//! counts.
//!
//! Pure-Rust re-implementations of algorithms of the R package
//! `surveillance` (Salmon, Schumacher & Höhle 2016, *Monitoring Count Time
//! Series in R: Aberration Detection in Public Health Surveillance*,
//! J. Stat. Softw. 70(10)), validated against surveillance 1.20.3:
//!
//! | function | method | R function |
//! |---|---|---|
//! | [`farrington_flexible`] | Noufaily et al. (2013) improved Farrington | `farringtonFlexible` |
//! | [`farrington_classic`] | Farrington et al. (1996) | `algo.farrington` / `farrington` |
//! | [`ears_c`] | EARS C1, C2, C3 | `earsC` |
//! | [`cusum()`] | Rossi et al. (1999) approximate Poisson CUSUM | `algo.cusum` |
//! | [`glr_pois`] | Höhle & Paul (2008) Poisson GLR chart | `glrpois` / `glrnb` (alpha = 0) |
//! | [`baseline_comparison`] | comparison with the same weeks of previous years (5-year average), negative binomial prediction interval | – (routine surveillance reports) |
//! | [`escalation_levels`] | OPEL-style threshold escalation with persistence over K weeks | – (NHS England OPEL framework) |
//!
//! [`detect`] is the text-in/text-out engine of `marmot detect` (CSV series
//! in, CSV/JSON rows out) over the methods above.
//!
//! Inputs are a [`WeeklySeries`] (counts with optional missing values,
//! optional week-start dates, optional population, and a number of periods
//! per year: 52 by default, 12 for a monthly series built with
//! [`WeeklySeries::monthly`] or [`WeeklySeries::with_frequency`]) and a
//! 0-based half-open range of week (month) indices to evaluate. The R-derived
//! methods follow the frequency exactly as R's `surveillance` follows an
//! `sts` object's `freq`. Each function returns one result per
//! evaluated week with `observed`, `expected`, thresholds and `alarm`, plus
//! method-specific fields. Lower thresholds / drop detection:
//! [`FarringtonWeek::lower`] and [`Direction::Decrease`] for the GLR chart.
//!
//! No IO is performed; no function panics on caller input.

mod dist;
mod glm;

pub mod baseline;
pub mod cusum;
pub mod detect;
pub mod ears;
pub mod error;
pub mod escalation;
pub mod farrington;
pub mod glr;
pub mod series;

pub use baseline::{BaselineInterval, BaselineParams, BaselineWeek, baseline_comparison};
pub use cusum::{CusumParams, CusumReference, CusumTransform, CusumWeek, cusum};
pub use detect::{
    DetectError, DetectResult, DetectRow, Method, MethodParams, SeriesInput, parse_param_arg,
    parse_params, parse_series_csv, parse_series_csv_with_frequency, to_csv, to_json,
};
pub use ears::{EarsMethod, EarsParams, EarsWeek, ears_c};
pub use error::{Result, SurveillanceError};
pub use escalation::{EscalationDirection, EscalationParams, EscalationWeek, escalation_levels};
pub use farrington::{
    FarringtonClassicParams, FarringtonFlexibleParams, FarringtonWeek, InferenceDispersion,
    Limit54, PowerTransform, ThresholdMethod, farrington_classic, farrington_flexible,
};
pub use glr::{Direction, GlrPoisParams, GlrWeek, Mu0, glr_pois};
pub use series::{Date, MONTHLY, WEEKLY, WeeklySeries};
