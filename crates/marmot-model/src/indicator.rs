//! Indicator definitions: one file per indicator in `queries/indicators/`, a TOML metadata
//! block in a leading `/* ... */` comment followed by the numerator SQL.
//!
//! The SQL returns one row per event (or per pre-aggregated cell) with these columns:
//! `lsoa11cd`, `event_date` (DATE), `numerator` (number), and optionally `age` (whole years:
//! needed for age standardisation and age-band breakdowns), `age_band` (the indicator's own
//! bands, when the data has bands instead of ages), `sex` (`male`/`female`) and, for
//! proportions of a dataset, `denominator`. The engine does the rest: periods, roll-up,
//! denominators, standardisation, confidence intervals, breakdowns and comparisons.

use serde::Deserialize;

use crate::ModelError;
use crate::period::PeriodKind;

include!(concat!(env!("OUT_DIR"), "/indicators.rs"));

/// What an indicator measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// A count, with an exact/Byar's Poisson interval.
    Count,
    /// Events per population x multiplier; exact Poisson CI below 10 events, Byar's from 10.
    CrudeRate,
    /// Directly standardised rate (ESP2013, Dobson CI; not published below 10 events).
    Dsr,
    /// numerator / denominator x multiplier with a Wilson score CI.
    Proportion,
}

impl Measure {
    /// Name as in the metadata.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Count => "count",
            Measure::CrudeRate => "crude_rate",
            Measure::Dsr => "dsr",
            Measure::Proportion => "proportion",
        }
    }
}

/// Whether higher values are better, worse, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    /// Higher is better.
    HigherIsBetter,
    /// Lower is better.
    LowerIsBetter,
    /// No judgement.
    NoJudgement,
}

/// Which rule picks the Poisson method of a rate's or a count's confidence limits
/// (`poisson_limits` in an indicator file; see `marmot_stats::PoissonRule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PoissonLimits {
    /// PHEindicatormethods: exact below 10 events, Byar's from 10 (the default).
    #[default]
    Phe,
    /// Fingertips' published crude rates: exact Poisson at every count.
    Fingertips,
}

/// A breakdown of an indicator's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Breakdown {
    /// National IMD 2019 quintile of the LSOA (1 = most deprived).
    ImdQuintile,
    /// National IMD 2019 decile of the LSOA (1 = most deprived).
    ImdDecile,
    /// Local quintile: the place's LSOAs split into population-weighted fifths by IMD rank
    /// (1 = most deprived).
    LocalImdQuintile,
    /// Sex.
    Sex,
    /// Age band.
    AgeBand,
}

impl Breakdown {
    /// All breakdowns.
    pub const ALL: [Breakdown; 5] = [
        Breakdown::ImdQuintile,
        Breakdown::ImdDecile,
        Breakdown::LocalImdQuintile,
        Breakdown::Sex,
        Breakdown::AgeBand,
    ];

    /// The column name it adds.
    pub fn name(self) -> &'static str {
        match self {
            Breakdown::ImdQuintile => "imd_quintile",
            Breakdown::ImdDecile => "imd_decile",
            Breakdown::LocalImdQuintile => "local_imd_quintile",
            Breakdown::Sex => "sex",
            Breakdown::AgeBand => "age_band",
        }
    }

    /// Parses a breakdown name.
    pub fn parse(s: &str) -> Result<Breakdown, ModelError> {
        Breakdown::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| ModelError::Unknown {
                kind: "breakdown",
                name: s.to_string(),
                known: Breakdown::ALL.map(Breakdown::name).join(", "),
            })
    }

    /// Whether this breakdown is by deprivation.
    pub fn is_deprivation(self) -> bool {
        matches!(
            self,
            Breakdown::ImdQuintile | Breakdown::ImdDecile | Breakdown::LocalImdQuintile
        )
    }
}

/// Where the denominator comes from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denominator {
    /// `population` (mid-year estimates) or `dataset` (the SQL's `denominator` column).
    pub kind: DenominatorKind,
    /// Youngest age counted (population denominators).
    #[serde(default)]
    pub age_min: Option<u32>,
    /// Oldest age counted (90 = 90 and over).
    #[serde(default)]
    pub age_max: Option<u32>,
    /// Restrict to one sex.
    #[serde(default)]
    pub sex: Option<String>,
}

/// Kind of denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenominatorKind {
    /// Mid-year population estimates of the LSOAs.
    Population,
    /// The `denominator` column of the numerator SQL.
    Dataset,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    id: String,
    title: String,
    definition: String,
    source: String,
    measure: Measure,
    #[serde(default = "one")]
    multiplier: f64,
    polarity: Polarity,
    grain: String,
    #[serde(default = "default_threshold")]
    disclosure_threshold: u64,
    #[serde(default)]
    breakdowns: Vec<Breakdown>,
    #[serde(default)]
    age_bands: Option<Vec<String>>,
    #[serde(default)]
    england_value: Option<f64>,
    denominator: Denominator,
    #[serde(default)]
    poisson_limits: PoissonLimits,
}

fn one() -> f64 {
    1.0
}

fn default_threshold() -> u64 {
    8
}

/// Default age bands for age breakdowns of data with single years of age.
pub const DEFAULT_AGE_BANDS: [&str; 5] = ["0-17", "18-39", "40-64", "65-74", "75+"];

/// One indicator: metadata and numerator SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct IndicatorDef {
    /// Identifier (the file name without `.sql`).
    pub id: String,
    /// Display title.
    pub title: String,
    /// Definition in words.
    pub definition: String,
    /// Source dataset.
    pub source: String,
    /// Measure.
    pub measure: Measure,
    /// Per 100 / 1,000 / 100,000...
    pub multiplier: f64,
    /// Polarity.
    pub polarity: Polarity,
    /// The grain it is meant for.
    pub grain: PeriodKind,
    /// Counts from 1 to this minus one are disclosive (suppressed below the analyst role).
    pub disclosure_threshold: u64,
    /// Breakdowns offered.
    pub breakdowns: Vec<Breakdown>,
    /// Age bands of the age breakdown.
    pub age_bands: Vec<String>,
    /// England value to compare the place with, when one is supplied.
    pub england_value: Option<f64>,
    /// Denominator.
    pub denominator: Denominator,
    /// The rule for exact / Byar's Poisson limits of rates and counts.
    pub poisson_limits: PoissonLimits,
    /// Numerator SQL.
    pub sql: String,
}

impl IndicatorDef {
    /// Parses an indicator file. `file` names it in errors and must be `<id>.sql`.
    pub fn parse(file: &str, text: &str) -> Result<IndicatorDef, ModelError> {
        let invalid = |m: String| ModelError::Invalid {
            what: file.to_string(),
            message: m,
        };
        let (m, sql): (Meta, String) = parse_query_file(file, text, |m: &Meta| &m.id)?;
        if !m
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(invalid(format!(
                "id '{}' must be lower-case letters, digits and _",
                m.id
            )));
        }
        if (m.measure == Measure::Proportion) != (m.denominator.kind == DenominatorKind::Dataset) {
            return Err(invalid("proportions take their denominator from the dataset (denominator.kind = \"dataset\"), rates from the population".into()));
        }
        if m.multiplier.is_nan() || m.multiplier <= 0.0 {
            return Err(invalid("multiplier must be positive".into()));
        }
        Ok(IndicatorDef {
            id: m.id,
            title: m.title,
            definition: m.definition,
            source: m.source,
            measure: m.measure,
            multiplier: m.multiplier,
            polarity: m.polarity,
            grain: PeriodKind::parse(&m.grain)?,
            disclosure_threshold: m.disclosure_threshold,
            breakdowns: m.breakdowns,
            age_bands: m
                .age_bands
                .unwrap_or_else(|| DEFAULT_AGE_BANDS.iter().map(|s| s.to_string()).collect()),
            england_value: m.england_value,
            denominator: m.denominator,
            poisson_limits: m.poisson_limits,
            sql,
        })
    }

    /// Whether the indicator offers a breakdown.
    pub fn offers(&self, b: Breakdown) -> bool {
        self.breakdowns.contains(&b)
    }
}

/// Splits a query file (`queries/indicators/*.sql`, `queries/triggers/*.sql`) into its TOML
/// metadata block, parsed as `M`, and its SQL (trimmed, without a final `;`), checking that the
/// metadata's id is the file name and that there is SQL.
pub(crate) fn parse_query_file<M: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
    id: impl Fn(&M) -> &str,
) -> Result<(M, String), ModelError> {
    let invalid = |m: String| ModelError::Invalid {
        what: file.to_string(),
        message: m,
    };
    let rest = text
        .trim_start()
        .strip_prefix("/*")
        .ok_or_else(|| invalid("must start with a /* ... */ block of TOML metadata".into()))?;
    let (meta, sql) = rest
        .split_once("*/")
        .ok_or_else(|| invalid("the metadata block is not closed with */".into()))?;
    let m: M = toml::from_str(meta).map_err(|e| ModelError::Parse {
        what: file.to_string(),
        message: e.to_string(),
    })?;
    let stem = file
        .rsplit('/')
        .next()
        .unwrap_or(file)
        .trim_end_matches(".sql");
    if id(&m) != stem {
        return Err(invalid(format!(
            "id '{}' must match the file name '{stem}.sql'",
            id(&m)
        )));
    }
    let sql = sql.trim().trim_end_matches(';').to_string();
    if sql.is_empty() {
        return Err(invalid("no SQL after the metadata block".into()));
    }
    Ok((m, sql))
}

/// Parses an age band label (`18-39`, `75+`) into inclusive years (90 = 90 and over).
pub fn parse_age_band(label: &str) -> Option<(u32, u32)> {
    if let Some(lo) = label.strip_suffix('+') {
        return Some((lo.trim().parse().ok()?, 90));
    }
    let (a, b) = label.split_once('-')?;
    Some((
        a.trim().parse().ok()?,
        b.trim().parse::<u32>().ok()?.min(90),
    ))
}

/// The shipped indicators, parsed.
pub fn builtin_indicators() -> Result<Vec<IndicatorDef>, ModelError> {
    BUILTIN_INDICATORS
        .iter()
        .map(|(f, t)| IndicatorDef::parse(&format!("queries/indicators/{f}"), t))
        .collect()
}

/// Indicators from a directory of `.sql` files (sorted by file name).
pub fn indicators_from_files(files: &[(String, String)]) -> Result<Vec<IndicatorDef>, ModelError> {
    let mut out: Vec<IndicatorDef> = files
        .iter()
        .map(|(f, t)| IndicatorDef::parse(f, t))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_indicators_parse_and_cover_every_dataset() {
        let all = builtin_indicators().expect("shipped indicators parse");
        assert!(all.len() >= 20, "{}", all.len());
        for ds in [
            "admissions",
            "ccg_activity",
            "cab",
            "police",
            "community_hub",
            "contact_tracing",
        ] {
            assert!(all.iter().any(|i| i.source == ds), "no indicator over {ds}");
        }
        let copd = all
            .iter()
            .find(|i| i.id == "emergency_admissions_copd")
            .expect("copd");
        assert_eq!(copd.measure, Measure::Dsr);
        assert!(copd.sql.starts_with("SELECT"));
    }

    #[test]
    fn bad_files_are_explained() {
        let e = IndicatorDef::parse("x.sql", "SELECT 1")
            .expect_err("no metadata")
            .to_string();
        assert!(e.contains("TOML metadata"), "{e}");
        let e = IndicatorDef::parse("x.sql", "/*\nid = \"y\"\n*/ SELECT 1")
            .expect_err("bad meta")
            .to_string();
        assert!(e.contains("x.sql"), "{e}");
        let text = "/*\nid=\"x\"\ntitle=\"t\"\ndefinition=\"d\"\nsource=\"s\"\nmeasure=\"proportion\"\npolarity=\"no_judgement\"\ngrain=\"month\"\n[denominator]\nkind=\"population\"\n*/ SELECT 1";
        let e = IndicatorDef::parse("x.sql", text)
            .expect_err("proportion needs dataset")
            .to_string();
        assert!(e.contains("dataset"), "{e}");
    }

    #[test]
    fn age_bands() {
        assert_eq!(parse_age_band("18-39"), Some((18, 39)));
        assert_eq!(parse_age_band("75+"), Some((75, 90)));
        assert_eq!(parse_age_band("x"), None);
    }
}
