//! Dataset contracts: what a partner must send, column by column.
//!
//! A contract is a TOML document (`data/contracts/<dataset>.toml`). The lake's ingest validates
//! every row against it; [`describe_markdown`] renders it for partners; [`Contract::template_rows`]
//! makes a valid example file.

use std::collections::HashSet;

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

use crate::ModelError;

/// The type a column is stored as (and cast to on ingest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// UTF-8 text.
    Utf8,
    /// Calendar date, written `YYYY-MM-DD`.
    Date,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// true/false (also accepted: yes/no, 1/0).
    Boolean,
    /// 64-bit float.
    Float64,
}

impl ColumnType {
    /// The name shown to partners, with the Arrow type it is stored as.
    pub fn describe(self) -> &'static str {
        match self {
            ColumnType::Utf8 => "text (Arrow Utf8)",
            ColumnType::Date => "date YYYY-MM-DD (Arrow Date32)",
            ColumnType::Int32 => "whole number (Arrow Int32)",
            ColumnType::Int64 => "whole number (Arrow Int64)",
            ColumnType::Boolean => "true/false (Arrow Boolean)",
            ColumnType::Float64 => "number (Arrow Float64)",
        }
    }
}

/// A minimum or maximum: a number, a date, or `today` (the day of ingest).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    /// Integer bound.
    Int(i64),
    /// Float bound.
    Float(f64),
    /// `today`, or a date as `YYYY-MM-DD`.
    Text(String),
}

impl Bound {
    /// The bound as a date, given today's date. `None` when it is not a date.
    pub fn as_date(&self, today: NaiveDate) -> Option<NaiveDate> {
        match self {
            Bound::Text(s) if s == "today" => Some(today),
            Bound::Text(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
            _ => None,
        }
    }

    /// The bound as a number. `None` when it is not a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Bound::Int(i) => Some(*i as f64),
            Bound::Float(f) => Some(*f),
            Bound::Text(_) => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Bound::Int(i) => i.to_string(),
            Bound::Float(f) => f.to_string(),
            Bound::Text(s) => s.clone(),
        }
    }
}

/// A shape a text value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueFormat {
    /// An English LSOA code, `E01` and six digits, of 2021 or 2011. Checked against the place's
    /// reference geography on ingest; in a 2021 lake an LSOA 2011 code is converted to its
    /// best-fit LSOA 2021 (docs/geography.md). `lsoa11` and `lsoa21` are read as this.
    #[serde(alias = "lsoa11", alias = "lsoa21")]
    Lsoa,
    /// An ICD-10 code: a letter, two digits, then optionally a dot and one or two digits or X
    /// (`I21`, `I21.9`, `J441`, `U07.1`).
    Icd10,
    /// An ODS GP practice code: a letter and five digits (`F84003`).
    OdsPractice,
    /// An ONS sub-ICB location code, `E38` and six digits (April 2024 boundaries), for datasets
    /// published by sub-ICB (NHS England's Appointments in General Practice). Checked on ingest
    /// against the sub-ICBs the place overlaps.
    SubIcb,
    /// An ONS MSOA 2011 code, `E02` and six digits, for data published by MSOA 2011 (UKHSA's
    /// weekly COVID-19 cases by MSOA, 2020 to 2022). Checked on ingest against the MSOAs of the
    /// place (an MSOA is in it when every one of its LSOAs is).
    Msoa11,
    /// An ONS local authority district code (`E06`, `E07`, `E08` or `E09` and six digits), for
    /// data published by lower-tier local authority (UKHSA's COVID-19 cases by LTLA). Checked on
    /// ingest against the place's authorities, by their 2024 codes or the 2020 codes of the
    /// districts they were made from. `ltla` is read as this.
    #[serde(alias = "ltla")]
    Lad,
    /// The area of a published statistic (OHID Fingertips): a local authority (`E06`-`E09`), a
    /// county (`E10`, `E11`), a region (`E12`, `E13`) or England (`E92000001`). The place's own
    /// authorities and England are kept; counties and regions are set aside.
    PublishedArea,
}

impl ValueFormat {
    /// Whether `s` has this shape.
    pub fn check(self, s: &str) -> bool {
        let b = s.as_bytes();
        match self {
            ValueFormat::Lsoa => crate::is_lsoa_code(s),
            ValueFormat::SubIcb => {
                b.len() == 9 && s.starts_with("E38") && b[3..].iter().all(u8::is_ascii_digit)
            }
            ValueFormat::Msoa11 => {
                b.len() == 9 && s.starts_with("E02") && b[3..].iter().all(u8::is_ascii_digit)
            }
            ValueFormat::Lad => {
                b.len() == 9
                    && ["E06", "E07", "E08", "E09"]
                        .iter()
                        .any(|p| s.starts_with(p))
                    && b[3..].iter().all(u8::is_ascii_digit)
            }
            ValueFormat::PublishedArea => {
                b.len() == 9
                    && [
                        "E06", "E07", "E08", "E09", "E10", "E11", "E12", "E13", "E92",
                    ]
                    .iter()
                    .any(|p| s.starts_with(p))
                    && b[3..].iter().all(u8::is_ascii_digit)
            }
            ValueFormat::OdsPractice => {
                b.len() == 6 && b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit)
            }
            ValueFormat::Icd10 => {
                if b.len() < 3
                    || !b[0].is_ascii_uppercase()
                    || !b[1].is_ascii_digit()
                    || !b[2].is_ascii_digit()
                {
                    return false;
                }
                let rest = if b.get(3) == Some(&b'.') {
                    &b[4..]
                } else {
                    &b[3..]
                };
                if b.get(3) == Some(&b'.') && rest.is_empty() {
                    return false;
                }
                rest.len() <= 2 && rest.iter().all(|c| c.is_ascii_digit() || *c == b'X')
            }
        }
    }

    /// The kind of area a geography format names (None: not a format of areas).
    pub fn area_kind(self) -> Option<AreaKind> {
        match self {
            ValueFormat::Lsoa => Some(AreaKind::Lsoa),
            ValueFormat::SubIcb => Some(AreaKind::SubIcb),
            ValueFormat::Msoa11 => Some(AreaKind::Msoa),
            ValueFormat::Lad => Some(AreaKind::LocalAuthority),
            ValueFormat::PublishedArea => Some(AreaKind::Published),
            ValueFormat::Icd10 | ValueFormat::OdsPractice => None,
        }
    }

    /// What the format is, for error messages and documentation.
    pub fn describe(self) -> &'static str {
        match self {
            ValueFormat::Lsoa => "an LSOA 2021 or 2011 code (E01 and six digits) in the place",
            ValueFormat::Icd10 => "an ICD-10 code (e.g. I21.9 or J441)",
            ValueFormat::OdsPractice => "an ODS practice code (a letter and five digits)",
            ValueFormat::SubIcb => {
                "a sub-ICB location code (E38 and six digits) overlapping the place"
            }
            ValueFormat::Msoa11 => "an MSOA 2011 code (E02 and six digits) in the place",
            ValueFormat::Lad => {
                "a local authority district code (E06, E07, E08 or E09 and six digits) of the place"
            }
            ValueFormat::PublishedArea => {
                "the code of a local authority, county, region or England (E06 to E13 or E92, and \
                 six digits)"
            }
        }
    }
}

/// The kind of area a dataset's rows are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaKind {
    /// Lower-layer super output areas: rows roll up to wards, neighbourhoods, localities and
    /// the place, and are stratified by deprivation.
    Lsoa,
    /// Sub-ICB locations (NHS): counts published for an NHS area that may be larger than the
    /// place (a lookup says how much of it the place is).
    SubIcb,
    /// Middle-layer super output areas (2011): counts for areas inside the place, which add up
    /// to the place but not to its wards.
    Msoa,
    /// Lower-tier local authorities: counts for the place's own authorities.
    LocalAuthority,
    /// Areas of published statistics (Fingertips): the place's authorities and England, whose
    /// values are compared with Marmot's own, not added up.
    Published,
}

impl AreaKind {
    /// The areas, in words (for messages).
    pub fn describe(self) -> &'static str {
        match self {
            AreaKind::Lsoa => "LSOA",
            AreaKind::SubIcb => "sub-ICB location",
            AreaKind::Msoa => "MSOA (2011)",
            AreaKind::LocalAuthority => "local authority",
            AreaKind::Published => "published area (local authority or England)",
        }
    }
}

/// One column of a contract.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name, exactly as in the header (matched case-insensitively, spaces trimmed).
    pub name: String,
    /// Other header names read as this column (e.g. `lsoa_code`, `lsoa21cd` for `lsoa_code`);
    /// at most one of the name and its aliases may appear in a file.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Stored type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// A value must be present (not empty). Optional columns may also be left out entirely.
    #[serde(default)]
    pub required: bool,
    /// Identifies a person: replaced on ingest by a keyed hash; the clear value is never stored.
    #[serde(default)]
    pub identifier: bool,
    /// Must not repeat within one file.
    #[serde(default)]
    pub unique: bool,
    /// Allowed values (text columns; matched case-insensitively and stored as listed).
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// Smallest allowed value.
    #[serde(default)]
    pub min: Option<Bound>,
    /// Largest allowed value.
    #[serde(default)]
    pub max: Option<Bound>,
    /// Shape a text value must have.
    #[serde(default)]
    pub format: Option<ValueFormat>,
    /// For dates: must not be before this other date column of the same row.
    #[serde(default)]
    pub not_before: Option<String>,
    /// Small-number markers the source writes instead of a suppressed count (e.g. `-99`, `*`,
    /// `<5`; `""` for a blank): such a cell is read as suppressed, not as zero or as an error.
    /// The value is stored as null and the row's `<name>_suppressed` column is true. Numeric
    /// columns only.
    #[serde(default)]
    pub suppressed: Vec<String>,
    /// What the column means, for partners.
    pub description: String,
}

impl ColumnSpec {
    /// The rules on this column, in words, for documentation.
    pub fn rules(&self) -> String {
        let mut r = Vec::new();
        r.push(if self.required {
            "required".to_string()
        } else {
            "optional".to_string()
        });
        if let Some(a) = &self.allowed {
            r.push(format!("one of {}", a.join(", ")));
        }
        match (&self.min, &self.max) {
            (Some(lo), Some(hi)) => r.push(format!("{} to {}", lo.describe(), hi.describe())),
            (Some(lo), None) => r.push(format!("at least {}", lo.describe())),
            (None, Some(hi)) => r.push(format!("at most {}", hi.describe())),
            (None, None) => {}
        }
        if let Some(f) = self.format {
            r.push(f.describe().to_string());
        }
        if let Some(c) = &self.not_before {
            r.push(format!("not before {c}"));
        }
        if self.unique {
            r.push("unique within a file".into());
        }
        if self.identifier {
            r.push("pseudonymised on ingest".into());
        }
        if !self.suppressed.is_empty() {
            r.push(format!(
                "{} read as suppressed (stored empty, with {}_suppressed true)",
                self.suppressed
                    .iter()
                    .map(|m| if m.trim().is_empty() {
                        "blank".to_string()
                    } else {
                        format!("`{m}`")
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                self.name
            ));
        }
        r.join("; ")
    }
}

/// How finely a dataset's date column dates its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The day of the event (the default).
    #[default]
    Day,
    /// The week: the date is the week's Monday.
    Week,
    /// The calendar month: the date is the month's first day (e.g. police.uk's `Month`).
    Month,
}

impl Precision {
    /// `day`, `week` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Day => "day",
            Precision::Week => "week",
            Precision::Month => "month",
        }
    }
}

/// What ingest does with a row whose LSOA is a real English LSOA outside the lake's place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutsidePlace {
    /// Rejected to quarantine like any other invalid row (the default: a partner's own feed
    /// should only hold the place's residents).
    #[default]
    Reject,
    /// Set aside and counted apart, not an error: published files cover a force or a region
    /// (police.uk, UKHSA), so rows for neighbouring areas are expected.
    /// `rows read = accepted + rejected + out of area`.
    SetAside,
}

/// A dataset contract.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Dataset (and curated table) name.
    pub name: String,
    /// Display title.
    pub title: String,
    /// What one row is and where it comes from.
    pub description: String,
    /// Partner name used when an ingest does not name one.
    pub default_partner: String,
    /// The column that dates a row (and defines submission periods).
    pub date_column: String,
    /// The area column: LSOA codes (2021 or 2011; format `lsoa`) for record-level and small-area
    /// data, or sub-ICB location codes (format `sub_icb`) for data published by sub-ICB.
    pub geography_column: String,
    /// How finely `date_column` dates a row (day, week or month). Monthly data feeds monthly
    /// indicators and monthly trigger signals and is refused by weekly ones.
    #[serde(default)]
    pub precision: Precision,
    /// For aggregate datasets (counts by area x period x categories): the whole-number column
    /// holding each row's count. Indicators and trigger signals sum it; without one, each row
    /// is one event.
    #[serde(default)]
    pub count_column: Option<String>,
    /// What to do with rows for real LSOAs outside the place (default: reject).
    #[serde(default)]
    pub outside_place: OutsidePlace,
    /// Columns in file order.
    pub columns: Vec<ColumnSpec>,
}

impl Contract {
    /// Parses and checks a contract. `what` names the document in errors.
    pub fn from_toml(what: &str, text: &str) -> Result<Contract, ModelError> {
        let c: Contract = toml::from_str(text).map_err(|e| ModelError::Parse {
            what: what.to_string(),
            message: e.to_string(),
        })?;
        c.check().map_err(|message| ModelError::Invalid {
            what: what.to_string(),
            message,
        })?;
        Ok(c)
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Names of the columns that identify a person.
    pub fn identifier_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns.iter().filter(|c| c.identifier)
    }

    /// The record key: the first identifier column (e.g. `spell_id`, `contact_id`). A record
    /// sent again with the same key is an update of the earlier one. None for datasets without
    /// identifiers (aggregate feeds), which can only add rows or replace a period.
    pub fn record_key(&self) -> Option<&ColumnSpec> {
        self.identifier_columns().next()
    }

    /// The kind of area a row is for: the format of the geography column.
    pub fn area_kind(&self) -> AreaKind {
        self.column(&self.geography_column)
            .and_then(|c| c.format)
            .and_then(ValueFormat::area_kind)
            .unwrap_or(AreaKind::Lsoa)
    }

    /// The column holding each row's count (aggregate datasets): `count_column`, else a column
    /// named `count`.
    pub fn count(&self) -> Option<&ColumnSpec> {
        match &self.count_column {
            Some(c) => self.column(c),
            None => self.column("count"),
        }
    }

    fn check(&self) -> Result<(), String> {
        if !is_dataset_name(&self.name) {
            return Err(format!(
                "name '{}': a dataset name is a lowercase letter then lowercase letters, digits \
                 or _ (at most 40), as it becomes a SQL table name",
                self.name
            ));
        }
        let mut seen = HashSet::new();
        for c in &self.columns {
            if !seen.insert(c.name.to_ascii_lowercase()) {
                return Err(format!("column '{}' appears twice", c.name));
            }
            let is_text = c.ty == ColumnType::Utf8;
            if (c.allowed.is_some() || c.format.is_some() || c.identifier || c.unique) && !is_text {
                return Err(format!(
                    "column '{}': allowed/format/identifier/unique need type utf8",
                    c.name
                ));
            }
            for b in [&c.min, &c.max].into_iter().flatten() {
                let ok = match c.ty {
                    ColumnType::Date => b.as_date(NaiveDate::MIN).is_some(),
                    ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64 => {
                        b.as_f64().is_some()
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!(
                        "column '{}': bound '{}' does not fit its type",
                        c.name,
                        b.describe()
                    ));
                }
            }
            if !c.suppressed.is_empty() {
                if !matches!(
                    c.ty,
                    ColumnType::Int32 | ColumnType::Int64 | ColumnType::Float64
                ) {
                    return Err(format!(
                        "column '{}': suppressed markers need a numeric column",
                        c.name
                    ));
                }
                let flag = format!("{}_suppressed", c.name).to_ascii_lowercase();
                if self
                    .columns
                    .iter()
                    .any(|o| o.name.to_ascii_lowercase() == flag)
                {
                    return Err(format!(
                        "column '{}': its suppression flag {flag} is also a column",
                        c.name
                    ));
                }
            }
            if let Some(other) = &c.not_before {
                match self.column(other) {
                    Some(o) if o.ty == ColumnType::Date && c.ty == ColumnType::Date => {}
                    _ => {
                        return Err(format!(
                            "column '{}': not_before must name another date column",
                            c.name
                        ));
                    }
                }
            }
        }
        match self.column(&self.date_column) {
            Some(c) if c.ty == ColumnType::Date && c.required => {}
            _ => {
                return Err(format!(
                    "date_column '{}' must be a required date column",
                    self.date_column
                ));
            }
        }
        match self.column(&self.geography_column) {
            Some(c) if c.format.and_then(ValueFormat::area_kind).is_some() && c.required => {}
            _ => {
                return Err(format!(
                    "geography_column '{}' must be a required column with format lsoa, sub_icb, \
                     msoa11, lad or published_area",
                    self.geography_column
                ));
            }
        }
        // Published statistics are values to compare, not counts to add up.
        if !matches!(self.area_kind(), AreaKind::Lsoa | AreaKind::Published)
            && self.count().is_none()
        {
            return Err(format!(
                "a dataset by {} holds counts: it needs a count_column",
                self.area_kind().describe()
            ));
        }
        if let Some(name) = &self.count_column {
            match self.column(name) {
                Some(c) if matches!(c.ty, ColumnType::Int32 | ColumnType::Int64) => {}
                _ => {
                    return Err(format!(
                        "count_column '{name}' must name a whole-number (int32 or int64) column"
                    ));
                }
            }
        }
        Ok(())
    }

    /// `n` rows of valid example values (as text, in column order) for a template file.
    /// `areas` are the place's codes of the contract's [`AreaKind`] (LSOAs, or the sub-ICBs it
    /// overlaps); `today` bounds the dates.
    pub fn template_rows(&self, n: usize, areas: &[String], today: NaiveDate) -> Vec<Vec<String>> {
        let base = NaiveDate::from_ymd_opt(2020, 4, 1)
            .unwrap_or(today)
            .min(today);
        (0..n)
            .map(|i| {
                self.columns
                    .iter()
                    .map(|c| example_value(self, c, i, areas, base))
                    .collect()
            })
            .collect()
    }
}

fn example_value(
    contract: &Contract,
    c: &ColumnSpec,
    i: usize,
    areas: &[String],
    base: NaiveDate,
) -> String {
    let date = base + chrono::Days::new((i % 28) as u64);
    if c.identifier {
        return format!(
            "{}-{:06}",
            c.name.trim_end_matches("_id").to_ascii_uppercase(),
            i + 1
        );
    }
    if let Some(a) = &c.allowed {
        return a[i % a.len()].clone();
    }
    match (c.format, c.ty) {
        (
            Some(
                ValueFormat::Lsoa
                | ValueFormat::SubIcb
                | ValueFormat::Msoa11
                | ValueFormat::Lad
                | ValueFormat::PublishedArea,
            ),
            _,
        ) => areas
            .get(i % areas.len().max(1))
            .cloned()
            .unwrap_or_default(),
        (Some(ValueFormat::Icd10), _) => {
            ["I21.9", "J44.1", "E11.9", "S72.0", "U07.1"][i % 5].to_string()
        }
        (Some(ValueFormat::OdsPractice), _) => format!("F84{:03}", 1 + i % 40),
        (None, ColumnType::Date) if c.name == contract.date_column => {
            // A dated row of a weekly or monthly dataset starts its period.
            match contract.precision {
                Precision::Day => date.to_string(),
                Precision::Week => (date
                    - chrono::Days::new(u64::from(date.weekday().num_days_from_monday())))
                .to_string(),
                Precision::Month => date.with_day(1).unwrap_or(date).to_string(),
            }
        }
        (None, ColumnType::Date) => {
            if c.not_before.is_some() {
                (date + chrono::Days::new(3)).to_string()
            } else {
                date.to_string()
            }
        }
        (None, ColumnType::Boolean) => {
            if i.is_multiple_of(3) { "true" } else { "false" }.to_string()
        }
        (None, ColumnType::Int32 | ColumnType::Int64) => {
            let lo = c.min.as_ref().and_then(Bound::as_f64).unwrap_or(0.0) as i64;
            let hi = c.max.as_ref().and_then(Bound::as_f64).unwrap_or(100.0) as i64;
            let span = (hi - lo).clamp(1, 90);
            (lo + (i as i64 * 17 + date.day() as i64) % span).to_string()
        }
        (None, ColumnType::Float64) => format!("{:.1}", (i % 10) as f64 + 0.5),
        (None, ColumnType::Utf8) => format!("{}-{}", contract.name, i + 1),
    }
}

/// Whether `s` can name a dataset (and so a SQL table): a lowercase ASCII letter, then lowercase
/// letters, digits or `_`, at most 40 characters.
pub fn is_dataset_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// The shipped contracts: (dataset name, TOML).
pub const BUILTIN_CONTRACTS: &[(&str, &str)] = &[
    (
        "admissions",
        include_str!("../../../data/contracts/admissions.toml"),
    ),
    (
        "ccg_activity",
        include_str!("../../../data/contracts/ccg_activity.toml"),
    ),
    ("cab", include_str!("../../../data/contracts/cab.toml")),
    (
        "police",
        include_str!("../../../data/contracts/police.toml"),
    ),
    (
        "community_hub",
        include_str!("../../../data/contracts/community_hub.toml"),
    ),
    (
        "contact_tracing",
        include_str!("../../../data/contracts/contact_tracing.toml"),
    ),
    (
        "street_crime",
        include_str!("../../../data/contracts/street_crime.toml"),
    ),
    (
        "gp_appointments",
        include_str!("../../../data/contracts/gp_appointments.toml"),
    ),
    (
        "covid_cases_msoa",
        include_str!("../../../data/contracts/covid_cases_msoa.toml"),
    ),
    (
        "covid_cases_ltla",
        include_str!("../../../data/contracts/covid_cases_ltla.toml"),
    ),
    (
        "published_indicators",
        include_str!("../../../data/contracts/published_indicators.toml"),
    ),
];

/// Every shipped contract, parsed.
pub fn builtin_contracts() -> Result<Vec<Contract>, ModelError> {
    BUILTIN_CONTRACTS
        .iter()
        .map(|(name, text)| Contract::from_toml(&format!("data/contracts/{name}.toml"), text))
        .collect()
}

/// One shipped contract by dataset name.
pub fn builtin_contract(name: &str) -> Result<Contract, ModelError> {
    let (_, text) = BUILTIN_CONTRACTS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| ModelError::Unknown {
            kind: "dataset",
            name: name.to_string(),
            known: BUILTIN_CONTRACTS
                .iter()
                .map(|c| c.0)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    Contract::from_toml(&format!("data/contracts/{name}.toml"), text)
}

/// A Markdown page describing contracts for partners (the source of `docs/datasets.md`).
pub fn describe_markdown(contracts: &[Contract]) -> String {
    let mut s = String::from(
        "# Datasets: what to send\n\n\
         Generated from `data/contracts/*.toml` by `marmot datasets describe`; do not edit by hand.\n\n\
         Send CSV (UTF-8, with or without BOM; a header row; comma-separated; fields may be quoted; \
         LF or CRLF line ends) or Parquet. Column names are matched case-insensitively; the order \
         does not matter; extra columns are ignored and reported. Empty fields are missing values. \
         `marmot datasets template <dataset>` writes a valid example file.\n\n\
         Rows that break a rule are not lost: they are kept in quarantine with the row number, \
         column and reason, and the rest of the file is accepted. Columns marked *pseudonymised* \
         are replaced on arrival by a keyed hash (HMAC-SHA256 with the lake's secret key); the \
         clear value is never stored in a table.\n\n",
    );
    for c in contracts {
        s.push_str(&format!(
            "## `{}`: {}\n\n{}\n\n",
            c.name, c.title, c.description
        ));
        s.push_str(&format!(
            "Date column: `{}` (submission periods are calendar months of this date{}). \
             Geography column: `{}`.{}{}\n\n",
            c.date_column,
            match c.precision {
                Precision::Day => String::new(),
                Precision::Week => "; weekly data: each date is a Monday".into(),
                Precision::Month => "; monthly data: each date is the first of its month".into(),
            },
            c.geography_column,
            match c.count() {
                Some(col) => format!(
                    " Aggregate data: each row is a count, in `{}`; indicators sum it.",
                    col.name
                ),
                None => String::new(),
            },
            match c.outside_place {
                OutsidePlace::Reject => String::new(),
                OutsidePlace::SetAside => format!(
                    " Rows for {}s outside the place are expected (the file covers a wider \
                     area): they are set aside and counted as out of area, not rejected.",
                    c.area_kind().describe()
                ),
            }
        ));
        s.push_str("| column | type | rules | description |\n|---|---|---|---|\n");
        for col in &c.columns {
            s.push_str(&format!(
                "| `{}` | {} | {} | {} |\n",
                col.name,
                col.ty.describe(),
                col.rules(),
                col.description
            ));
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_builtin_contracts_parse_and_are_consistent() {
        let all = builtin_contracts().expect("shipped contracts parse");
        assert_eq!(all.len(), 11);
        for c in &all {
            assert!(c.column(&c.date_column).is_some());
            assert!(
                c.column(&c.geography_column)
                    .is_some_and(|g| g.format.is_some())
            );
        }
        let covid = all
            .iter()
            .find(|c| c.name == "covid_cases_msoa")
            .expect("covid");
        assert_eq!(covid.area_kind(), AreaKind::Msoa);
        assert_eq!(covid.precision, Precision::Week);
        let gp = all
            .iter()
            .find(|c| c.name == "gp_appointments")
            .expect("gp");
        assert_eq!(gp.area_kind(), AreaKind::SubIcb);
        assert_eq!(gp.count().map(|c| c.name.as_str()), Some("appointments"));
        let md = describe_markdown(&all);
        assert!(md.contains("## `contact_tracing`"));
        assert!(md.contains("pseudonymised on ingest"));
    }

    #[test]
    fn formats() {
        for ok in ["I21", "I21.9", "J441", "U07.1", "S72.X", "E11.65"] {
            assert!(ValueFormat::Icd10.check(ok), "{ok}");
        }
        for bad in ["I2", "i21.9", "121.9", "I21.", "I21.999", "I21-9", ""] {
            assert!(!ValueFormat::Icd10.check(bad), "{bad}");
        }
        assert!(ValueFormat::SubIcb.check("E38000168"));
        assert!(!ValueFormat::SubIcb.check("E54000029") && !ValueFormat::SubIcb.check("99G"));
        assert!(ValueFormat::Lsoa.check("E01001714"));
        assert!(!ValueFormat::Lsoa.check("E05009367"));
        assert!(!ValueFormat::Lsoa.check("E0100171"));
        assert!(ValueFormat::OdsPractice.check("F84003"));
        assert!(!ValueFormat::OdsPractice.check("F8400"));
        assert!(ValueFormat::Msoa11.check("E02000001"));
        assert!(!ValueFormat::Msoa11.check("E01000001") && !ValueFormat::Msoa11.check("E0200001"));
        for ok in ["E06000033", "E07000118", "E08000026", "E09000001"] {
            assert!(ValueFormat::Lad.check(ok), "{ok}");
        }
        for bad in ["E10000002", "E05009367", "E0900001", "W06000015"] {
            assert!(!ValueFormat::Lad.check(bad), "{bad}");
        }
    }

    #[test]
    fn template_dates_start_the_period_of_weekly_and_monthly_datasets() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).expect("date");
        let lsoas = vec!["E01000001".to_string()];
        for c in builtin_contracts().expect("contracts") {
            let k = c
                .columns
                .iter()
                .position(|col| col.name == c.date_column)
                .expect("date column");
            for row in c.template_rows(30, &lsoas, today) {
                let d = NaiveDate::parse_from_str(&row[k], "%Y-%m-%d").expect("a date");
                match c.precision {
                    Precision::Day => {}
                    Precision::Week => assert_eq!(d.weekday(), chrono::Weekday::Mon, "{}", c.name),
                    Precision::Month => assert_eq!(d.day(), 1, "{}", c.name),
                }
            }
        }
    }

    #[test]
    fn inconsistent_contract_is_rejected_with_reason() {
        let text = r#"
name = "x"
title = "X"
description = "d"
default_partner = "p"
date_column = "when"
geography_column = "lsoa_code"
[[columns]]
name = "when"
type = "utf8"
required = true
description = "not a date"
[[columns]]
name = "lsoa_code"
type = "utf8"
required = true
format = "lsoa"
description = "g"
"#;
        let err = Contract::from_toml("x.toml", text).expect_err("date column must be a date");
        assert!(err.to_string().contains("date_column 'when'"), "{err}");
    }

    #[test]
    fn template_rows_have_every_column() {
        let c = builtin_contract("admissions").expect("shipped");
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
        let rows = c.template_rows(5, &["E01001714".to_string()], today);
        assert_eq!(rows.len(), 5);
        assert!(rows.iter().all(|r| r.len() == c.columns.len()));
    }
}
