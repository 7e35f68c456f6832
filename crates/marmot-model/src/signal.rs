//! Trigger signal definitions: one file per signal in `queries/triggers/`, a TOML metadata
//! block in a leading `/* ... */` comment followed by SQL returning one row per event (or per
//! pre-counted cell) with `lsoa_code`, `event_date` (DATE) and `numerator` — the same contract
//! as an indicator's numerator SQL. The trigger pipeline counts the rows per ISO week and area
//! and runs the detection methods named in the metadata.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::ModelError;
use crate::place::Level;

include!(concat!(env!("OUT_DIR"), "/signals.rs"));

/// Which way a signal is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalDirection {
    /// Rises only (outbreaks, surges).
    Up,
    /// Drops only (activity "storing up" below previous years).
    Down,
    /// Both.
    Both,
}

impl SignalDirection {
    /// Name as in the metadata.
    pub fn name(self) -> &'static str {
        match self {
            SignalDirection::Up => "up",
            SignalDirection::Down => "down",
            SignalDirection::Both => "both",
        }
    }

    /// Whether rises are watched.
    pub fn watches_up(self) -> bool {
        matches!(self, SignalDirection::Up | SignalDirection::Both)
    }

    /// Whether drops are watched.
    pub fn watches_down(self) -> bool {
        matches!(self, SignalDirection::Down | SignalDirection::Both)
    }
}

/// A detection method a signal runs every week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignalMethod {
    /// Farrington flexible (Noufaily et al. 2013 settings), upper and lower thresholds.
    FarringtonFlexible,
    /// Original Farrington (1996) settings, upper and lower thresholds.
    Farrington,
    /// EARS C1 (rises only).
    EarsC1,
    /// EARS C2 (rises only).
    EarsC2,
    /// EARS C3 (rises only).
    EarsC3,
    /// CUSUM over the last weeks against a seasonal Poisson GLM (rises only).
    Cusum,
    /// The same ISO weeks of previous years, with a prediction interval (both ways).
    Baseline,
    /// OPEL-style escalation levels (from the `[escalation]` table).
    Escalation,
}

impl SignalMethod {
    /// Every method.
    pub const ALL: [SignalMethod; 8] = [
        SignalMethod::FarringtonFlexible,
        SignalMethod::Farrington,
        SignalMethod::EarsC1,
        SignalMethod::EarsC2,
        SignalMethod::EarsC3,
        SignalMethod::Cusum,
        SignalMethod::Baseline,
        SignalMethod::Escalation,
    ];

    /// Name as in the metadata and in outputs.
    pub fn name(self) -> &'static str {
        match self {
            SignalMethod::FarringtonFlexible => "farrington-flexible",
            SignalMethod::Farrington => "farrington",
            SignalMethod::EarsC1 => "ears-c1",
            SignalMethod::EarsC2 => "ears-c2",
            SignalMethod::EarsC3 => "ears-c3",
            SignalMethod::Cusum => "cusum",
            SignalMethod::Baseline => "baseline",
            SignalMethod::Escalation => "escalation",
        }
    }

    /// Parses a method name.
    pub fn parse(s: &str) -> Result<SignalMethod, ModelError> {
        SignalMethod::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| ModelError::Invalid {
                what: format!("method '{s}'"),
                message: format!(
                    "unknown; one of {}",
                    SignalMethod::ALL.map(|m| m.name()).join(", ")
                ),
            })
    }

    /// Whether the method can see drops.
    pub fn sees_drops(self) -> bool {
        matches!(
            self,
            SignalMethod::FarringtonFlexible
                | SignalMethod::Farrington
                | SignalMethod::Baseline
                | SignalMethod::Escalation
        )
    }
}

/// What an escalation threshold applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationPer {
    /// The weekly count.
    Count,
    /// The weekly count per 100,000 population of the area.
    Rate100k,
}

/// OPEL-style escalation: the weekly value crossing `thresholds` (levels 1, 2, 3...) for
/// `consecutive` weeks.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    /// Level thresholds, strictly increasing (a falling signal: strictly decreasing).
    pub thresholds: Vec<f64>,
    /// Weeks in a row a threshold must be met.
    pub consecutive: usize,
    /// Count or rate per 100,000.
    pub per: EscalationPer,
}

/// Breaking a series into strata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stratum {
    /// The place's LSOAs in population-weighted fifths by national IMD rank (1 = most deprived).
    LocalImdQuintile,
    /// National IMD 2019 quintile of the LSOA.
    ImdQuintile,
}

impl Stratum {
    /// Name as in the metadata and in stratum labels (`local_imd_quintile=1`).
    pub fn name(self) -> &'static str {
        match self {
            Stratum::LocalImdQuintile => "local_imd_quintile",
            Stratum::ImdQuintile => "imd_quintile",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    id: String,
    title: String,
    dataset: String,
    levels: Vec<String>,
    #[serde(default)]
    strata: Vec<Stratum>,
    methods: Vec<String>,
    direction: SignalDirection,
    #[serde(default)]
    population_offset: bool,
    #[serde(default = "two")]
    provisional_weeks: usize,
    #[serde(default = "three")]
    close_after: usize,
    #[serde(default = "default_severity")]
    severity: Vec<f64>,
    #[serde(default = "default_min_count")]
    min_weekly_count: f64,
    #[serde(default)]
    escalation: Option<Escalation>,
    #[serde(default)]
    params: BTreeMap<String, BTreeMap<String, toml::Value>>,
    #[serde(default)]
    frequency: Frequency,
}

/// How often a signal counts its events: weekly (the weekly SOC pipeline) or monthly (data
/// dated by month, such as police.uk's; `marmot triggers monthly`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// ISO weeks, 52 periods a year (the default).
    #[default]
    Week,
    /// Calendar months, 12 periods a year.
    Month,
}

impl Frequency {
    /// `week` or `month`.
    pub fn name(self) -> &'static str {
        match self {
            Frequency::Week => "week",
            Frequency::Month => "month",
        }
    }
}

fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn default_severity() -> Vec<f64> {
    vec![1.5, 3.0]
}
fn default_min_count() -> f64 {
    1.0
}

/// One trigger signal: metadata and the SQL of its events.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalDef {
    /// Identifier (the file name without `.sql`).
    pub id: String,
    /// Display title.
    pub title: String,
    /// The dataset it reads (its data version stamps the evaluations).
    pub dataset: String,
    /// Area levels evaluated (place, locality, neighbourhood, ward).
    pub levels: Vec<Level>,
    /// Strata evaluated for the place as a whole.
    pub strata: Vec<Stratum>,
    /// Methods run every week (escalation is added when an `[escalation]` table is given).
    pub methods: Vec<SignalMethod>,
    /// Direction watched.
    pub direction: SignalDirection,
    /// Use the area's population as an offset (Farrington and the baseline).
    pub population_offset: bool,
    /// The most recent weeks still filling in: flagged provisional, and a drop there opens no
    /// trigger.
    pub provisional_weeks: usize,
    /// Quiet weeks after which a trigger closes.
    pub close_after: usize,
    /// Exceedance scores at which an alarm becomes severity 2 and 3 (an alarm is 1).
    pub severity: [f64; 2],
    /// An area series is evaluated only when its mean weekly count is at least this ("ward
    /// where counts allow").
    pub min_weekly_count: f64,
    /// OPEL-style escalation, if any.
    pub escalation: Option<Escalation>,
    /// Method parameters overriding the defaults, as `marmot detect --param` pairs.
    pub params: BTreeMap<SignalMethod, Vec<(String, String)>>,
    /// Weekly (default) or monthly counts.
    pub frequency: Frequency,
    /// Event SQL.
    pub sql: String,
}

impl SignalDef {
    /// Parses a signal file. `file` names it in errors and must be `<id>.sql`.
    pub fn parse(file: &str, text: &str) -> Result<SignalDef, ModelError> {
        let invalid = |m: String| ModelError::Invalid {
            what: file.to_string(),
            message: m,
        };
        let (m, sql): (Meta, String) =
            crate::indicator::parse_query_file(file, text, |m: &Meta| &m.id)?;
        let mut levels = Vec::new();
        for l in &m.levels {
            let level = Level::parse(l)?;
            if level == Level::Lsoa {
                return Err(invalid(
                    "LSOA series are too small to watch: use ward or above".into(),
                ));
            }
            levels.push(level);
        }
        if levels.is_empty() {
            return Err(invalid("levels: at least one level".into()));
        }
        let mut methods = Vec::new();
        for name in &m.methods {
            let method = SignalMethod::parse(name).map_err(|e| invalid(e.to_string()))?;
            if method == SignalMethod::Escalation {
                return Err(invalid(
                    "escalation is configured with an [escalation] table, not in methods".into(),
                ));
            }
            methods.push(method);
        }
        if m.direction == SignalDirection::Down && !methods.iter().any(|x| x.sees_drops()) {
            return Err(invalid(
                "direction \"down\" needs a method that sees drops (farrington-flexible, farrington or baseline)".into(),
            ));
        }
        if let Some(e) = &m.escalation {
            if e.thresholds.is_empty() || e.consecutive == 0 {
                return Err(invalid(
                    "escalation: at least one threshold and consecutive >= 1".into(),
                ));
            }
            methods.push(SignalMethod::Escalation);
        }
        if methods.is_empty() {
            return Err(invalid("methods: at least one method".into()));
        }
        if m.frequency == Frequency::Month
            && let Some(x) = methods.iter().find(|x| {
                !matches!(
                    x,
                    SignalMethod::FarringtonFlexible
                        | SignalMethod::EarsC1
                        | SignalMethod::EarsC2
                        | SignalMethod::EarsC3
                )
            })
        {
            return Err(invalid(format!(
                "{} does not run on monthly signals: use farrington-flexible, ears-c1, ears-c2 \
                 or ears-c3",
                x.name()
            )));
        }
        let severity = match m.severity.as_slice() {
            [a, b] if *a >= 1.0 && b > a => [*a, *b],
            _ => {
                return Err(invalid(
                    "severity: two exceedance scores [medium, high], 1 <= medium < high".into(),
                ));
            }
        };
        if m.close_after == 0 {
            return Err(invalid("close_after: at least 1 quiet week".into()));
        }
        let mut params = BTreeMap::new();
        for (name, table) in m.params {
            let method = SignalMethod::parse(&name).map_err(|e| invalid(e.to_string()))?;
            let pairs = table
                .into_iter()
                .map(|(k, v)| {
                    let s = match v {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, s)
                })
                .collect();
            params.insert(method, pairs);
        }
        Ok(SignalDef {
            id: m.id,
            title: m.title,
            dataset: m.dataset,
            levels,
            strata: m.strata,
            methods,
            direction: m.direction,
            population_offset: m.population_offset,
            provisional_weeks: m.provisional_weeks,
            close_after: m.close_after,
            severity,
            min_weekly_count: m.min_weekly_count,
            escalation: m.escalation,
            params,
            frequency: m.frequency,
            sql,
        })
    }
}

/// The shipped signals, parsed.
pub fn builtin_signals() -> Result<Vec<SignalDef>, ModelError> {
    BUILTIN_SIGNALS
        .iter()
        .map(|(f, t)| SignalDef::parse(&format!("queries/triggers/{f}"), t))
        .collect()
}

/// Signals from `(file, text)` pairs (sorted by id).
pub fn signals_from_files(files: &[(String, String)]) -> Result<Vec<SignalDef>, ModelError> {
    let mut out: Vec<SignalDef> = files
        .iter()
        .map(|(f, t)| SignalDef::parse(f, t))
        .collect::<Result<_, _>>()?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_signals_parse_and_cover_the_issue_list() {
        let all = builtin_signals().expect("shipped signals parse");
        for id in [
            "covid_admissions",
            "high_risk_non_covid_admissions",
            "mi_admissions",
            "ihd_admissions",
            "heart_failure_admissions",
            "copd_admissions",
            "asthma_admissions",
            "diabetes_admissions",
            "cellulitis_admissions",
            "sepsis_admissions",
            "paediatric_injury_admissions",
            "ed_attendances",
            "cab_housing",
            "cab_employment",
            "police_domestic_abuse",
            "hub_food_requests",
            "contact_tracing_not_contacted",
        ] {
            assert!(all.iter().any(|s| s.id == id), "missing {id}");
        }
        let covid = all
            .iter()
            .find(|s| s.id == "covid_admissions")
            .expect("covid");
        assert_eq!(covid.direction, SignalDirection::Up);
        assert!(covid.methods.contains(&SignalMethod::Escalation));
        assert_eq!(covid.strata, vec![Stratum::LocalImdQuintile]);
    }

    #[test]
    fn bad_files_are_explained() {
        let ok = "/*\nid = \"x\"\ntitle = \"X\"\ndataset = \"police\"\nlevels = [\"place\"]\nmethods = [\"ears-c2\"]\ndirection = \"up\"\n*/\nSELECT 1";
        assert!(SignalDef::parse("x.sql", ok).is_ok());
        let cases = [
            (ok.replace("ears-c2", "magic"), "unknown"),
            (ok.replace("\"up\"", "\"down\""), "sees drops"),
            (ok.replace("[\"place\"]", "[\"lsoa\"]"), "too small"),
            (ok.replace("SELECT 1", ""), "no SQL"),
            (ok.replace("id = \"x\"", "id = \"y\""), "must match"),
        ];
        for (text, want) in cases {
            let e = SignalDef::parse("x.sql", &text).expect_err(want);
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
        }
    }

    #[test]
    fn method_parameters_are_kept_as_detect_pairs() {
        let text = "/*\nid = \"x\"\ntitle = \"X\"\ndataset = \"police\"\nlevels = [\"place\"]\nmethods = [\"farrington-flexible\"]\ndirection = \"both\"\n[params.farrington-flexible]\nb = 3\nthreshold_method = \"muan\"\n*/\nSELECT 1";
        let s = SignalDef::parse("x.sql", text).expect("parses");
        let p = &s.params[&SignalMethod::FarringtonFlexible];
        assert!(p.contains(&("b".to_string(), "3".to_string())));
        assert!(p.contains(&("threshold_method".to_string(), "muan".to_string())));
    }
}
