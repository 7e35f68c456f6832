//! # marmot-model
//!
//! The vocabulary every other Marmot crate shares, with no IO: **dataset contracts** (what a
//! partner must send, column by column), **indicator definitions** (`queries/indicators/*.sql`:
//! metadata and numerator SQL), **trigger signals** (`queries/triggers/*.sql`), **periods** (`2020-W42`, `2020-04`, `2020-Q2`, `FY2020/21`,
//! `R12-2020-06`), **places** (which local authorities, localities and
//! neighbourhoods a lake covers) and the geography **levels**.
//!
//! Contracts and places are data, not code: the shipped ones live in `data/contracts/*.toml` and
//! `data/places/*.toml` and are embedded here at compile time ([`builtin_contracts`],
//! [`builtin_place`]); [`Contract::from_toml`] and [`PlaceConfig::from_toml`] read any other.
//!
//! ```
//! let admissions = marmot_model::builtin_contract("admissions").unwrap();
//! assert_eq!(admissions.date_column, "admission_date");
//! assert!(admissions.column("patient_id").unwrap().identifier);
//! ```
#![warn(missing_docs)]

mod contract;
mod error;
mod geography;
mod indicator;
mod mapping;
mod period;
mod place;
mod signal;

pub use contract::{
    AreaKind, BUILTIN_CONTRACTS, Bound, ColumnSpec, ColumnType, Contract, OutsidePlace, Precision,
    ValueFormat, builtin_contract, builtin_contracts, describe_markdown, is_dataset_name,
};
pub use error::ModelError;
pub use geography::{
    DEPRIVATION_DOMAINS, Vintage, decile_of_rank, is_lsoa_code, quintile_of_decile,
};
pub use indicator::{
    BUILTIN_INDICATORS, Breakdown, DEFAULT_AGE_BANDS, Denominator, DenominatorKind,
    ETHNIC_GROUP_CATEGORIES, FingertipsLink, IndicatorDef, Measure, PoissonLimits, Polarity,
    builtin_indicators, indicators_from_files, nhs_ethnic_group, parse_age_band,
};
pub use mapping::{BUILTIN_MAPPINGS, Mapping, ReaderOptions, WideToLong, builtin_mappings};
pub use period::{Period, PeriodKind};
pub use place::{
    BUILTIN_PLACES, Level, LocalityConfig, NeighbourhoodConfig, PlaceConfig, builtin_place,
};
pub use signal::{
    BUILTIN_SIGNALS, Escalation, EscalationPer, Frequency, SignalDef, SignalDirection,
    SignalMethod, Stratum, builtin_signals, signals_from_files,
};
