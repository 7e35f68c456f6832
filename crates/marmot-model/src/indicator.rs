//! Indicator definitions: one file per indicator in `queries/indicators/`, a TOML metadata
//! block in a leading `/* ... */` comment followed by the numerator SQL.
//!
//! The SQL returns one row per event (or per pre-aggregated cell) with these columns:
//! `lsoa_code`, `event_date` (DATE), `numerator` (number), and optionally `age` (whole years:
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
#[serde(try_from = "String")]
pub enum Breakdown {
    /// National IMD quintile of the LSOA (1 = most deprived): IMD 2025 in a 2021 lake, IMD
    /// 2019 in a 2011 lake.
    ImdQuintile,
    /// National IMD decile of the LSOA (1 = most deprived), same index.
    ImdDecile,
    /// Local quintile: the place's LSOAs split into population-weighted fifths by IMD rank
    /// (1 = most deprived).
    LocalImdQuintile,
    /// National quintile of one of the IMD's seven domains (1 = most deprived), by its index in
    /// [`crate::DEPRIVATION_DOMAINS`] (1 = income ... 7 = living environment).
    DomainQuintile(u8),
    /// National IMD 2019 quintile, in a 2021 lake through the LSOA 2011 -> 2021 lookup (so a
    /// trend across the 2019 and 2025 indices can be read).
    Imd2019Quintile,
    /// Sex.
    Sex,
    /// Age band.
    AgeBand,
    /// Census 2021 high-level ethnic group ([`ETHNIC_GROUP_CATEGORIES`]): needs an
    /// `ethnic_group` column in the indicator's SQL (`nhs_ethnic_group(ethnic_category)`), and
    /// takes Census 2021 usual residents of each group (all ages) as denominators.
    EthnicGroup,
}

/// The categories of the `ethnic_group` breakdown: the Census 2021 high-level ethnic groups, and
/// "Not stated" (records without a stated ethnic category: counted, shown, no denominator).
pub const ETHNIC_GROUP_CATEGORIES: [&str; 6] =
    ["Asian", "Black", "Mixed", "White", "Other", "Not stated"];

/// The Census 2021 high-level ethnic group of an NHS ethnic category code, as the SQL function
/// `nhs_ethnic_group(ethnic_category)` computes it.
///
/// The code is the NHS Data Dictionary's ETHNIC CATEGORY (the 2001 Census categories, A to S):
/// A-C White; D-G Mixed; H-L Asian, and R (Chinese), which Census 2021 moved into its Asian
/// group; M-P Black; S Other. Anything else (Z "not stated", 99 "not known", a blank or NULL, a
/// code this list does not know) is "Not stated". The code must match exactly, as it is sent.
pub fn nhs_ethnic_group(code: Option<&str>) -> &'static str {
    match code {
        Some("A" | "B" | "C") => "White",
        Some("D" | "E" | "F" | "G") => "Mixed",
        Some("H" | "J" | "K" | "L" | "R") => "Asian",
        Some("M" | "N" | "P") => "Black",
        Some("S") => "Other",
        _ => "Not stated",
    }
}

const DOMAIN_QUINTILES: [&str; 7] = [
    "imd_income_quintile",
    "imd_employment_quintile",
    "imd_education_quintile",
    "imd_health_quintile",
    "imd_crime_quintile",
    "imd_barriers_quintile",
    "imd_living_env_quintile",
];

impl Breakdown {
    /// All breakdowns.
    pub const ALL: [Breakdown; 14] = [
        Breakdown::ImdQuintile,
        Breakdown::ImdDecile,
        Breakdown::LocalImdQuintile,
        Breakdown::DomainQuintile(1),
        Breakdown::DomainQuintile(2),
        Breakdown::DomainQuintile(3),
        Breakdown::DomainQuintile(4),
        Breakdown::DomainQuintile(5),
        Breakdown::DomainQuintile(6),
        Breakdown::DomainQuintile(7),
        Breakdown::Imd2019Quintile,
        Breakdown::Sex,
        Breakdown::AgeBand,
        Breakdown::EthnicGroup,
    ];

    /// The column name it adds.
    pub fn name(self) -> &'static str {
        match self {
            Breakdown::ImdQuintile => "imd_quintile",
            Breakdown::ImdDecile => "imd_decile",
            Breakdown::LocalImdQuintile => "local_imd_quintile",
            Breakdown::DomainQuintile(d) => DOMAIN_QUINTILES
                .get(usize::from(d).wrapping_sub(1))
                .copied()
                .unwrap_or("imd_domain_quintile"),
            Breakdown::Imd2019Quintile => "imd2019_quintile",
            Breakdown::Sex => "sex",
            Breakdown::AgeBand => "age_band",
            Breakdown::EthnicGroup => "ethnic_group",
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
        !matches!(
            self,
            Breakdown::Sex | Breakdown::AgeBand | Breakdown::EthnicGroup
        )
    }

    /// How many deprivation quantiles it has (None: not by deprivation).
    pub fn quantiles(self) -> Option<usize> {
        match self {
            Breakdown::ImdDecile => Some(10),
            Breakdown::Sex | Breakdown::AgeBand | Breakdown::EthnicGroup => None,
            _ => Some(5),
        }
    }
}

impl TryFrom<String> for Breakdown {
    type Error = ModelError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Breakdown::parse(&s)
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

/// The indicator's counterpart in OHID's Fingertips, read from a published-indicators table
/// (`published_indicators`, from a Fingertips data export): its England value for a period is
/// the place's benchmark, and its published values are served beside Marmot's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FingertipsLink {
    /// Fingertips indicator ID (the export's `Indicator ID`).
    pub id: i64,
    /// The export's `Sex` of the matching rows.
    #[serde(default = "persons")]
    pub sex: String,
    /// The export's `Age` of the matching rows.
    #[serde(default = "all_ages")]
    pub age: String,
}

fn persons() -> String {
    "Persons".into()
}

fn all_ages() -> String {
    "All ages".into()
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
    #[serde(default)]
    fingertips: Option<FingertipsLink>,
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
    /// England value to compare the place with, when one is supplied (a published England
    /// value for the period, through `fingertips`, wins over it).
    pub england_value: Option<f64>,
    /// The indicator's counterpart in Fingertips, if it has one.
    pub fingertips: Option<FingertipsLink>,
    /// Denominator.
    pub denominator: Denominator,
    /// The rule for exact / Byar's Poisson limits of rates and counts.
    pub poisson_limits: PoissonLimits,
    /// Numerator SQL.
    pub sql: String,
}

/// The declared breakdowns with those they imply: an indicator broken down by IMD quintile is
/// also broken down by the quintile of each of the seven domains and by the IMD 2019 quintile.
/// Expanded here, once, so the cube, the API and the disclosure control all see the same list.
fn with_implied(declared: Vec<Breakdown>) -> Vec<Breakdown> {
    let mut out = declared;
    if out.contains(&Breakdown::ImdQuintile) {
        for b in Breakdown::ALL {
            if matches!(b, Breakdown::DomainQuintile(_) | Breakdown::Imd2019Quintile)
                && !out.contains(&b)
            {
                out.push(b);
            }
        }
    }
    out
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
        if m.breakdowns.contains(&Breakdown::EthnicGroup)
            && m.denominator.kind == DenominatorKind::Population
            && (m.denominator.age_min.is_some()
                || m.denominator.age_max.is_some()
                || m.denominator.sex.is_some())
        {
            return Err(invalid("an ethnic_group breakdown needs an all-ages, all-persons population denominator: Census 2021 residents by ethnic group have no age or sex".into()));
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
            breakdowns: with_implied(m.breakdowns),
            age_bands: m
                .age_bands
                .unwrap_or_else(|| DEFAULT_AGE_BANDS.iter().map(|s| s.to_string()).collect()),
            england_value: m.england_value,
            fingertips: m.fingertips,
            denominator: m.denominator,
            poisson_limits: m.poisson_limits,
            sql,
        })
    }

    /// Whether the indicator can be broken down by `b`.
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
        for b in [
            "imd_health_quintile",
            "imd_living_env_quintile",
            "imd2019_quintile",
        ] {
            let b = Breakdown::parse(b).expect("a breakdown");
            assert!(b.is_deprivation() && b.quantiles() == Some(5));
            assert!(copd.offers(b), "implied by imd_quintile: {}", b.name());
        }
        for ind in &all {
            let implied = ind.offers(Breakdown::DomainQuintile(4));
            assert_eq!(implied, ind.offers(Breakdown::ImdQuintile), "{}", ind.id);
        }
        assert_eq!(Breakdown::ImdDecile.quantiles(), Some(10));
        assert!(Breakdown::parse("imd_weather_quintile").is_err());
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
