//! Early-warning triggers: the weekly pipeline over the lake.
//!
//! ```text
//! queries/triggers/<id>.sql ──> fetch_weekly (one DataFusion query: counts per LSOA and ISO week)
//!   ──> area series (place, localities, neighbourhoods, wards; strata for the place)
//!       (data by MSOA or local authority: the place's series alone)   [areas.rs]
//!   ──> evaluate (pure: every method, every evaluated week)          [evaluate.rs]
//!   ──> lake table triggers/evaluations (one file per signal, weeks replaced on re-run)
//!   ──> lifecycle + ranking (pure, from the stored evaluations)      [lifecycle.rs]
//!   ──> lake table triggers/status (the snapshot of each run week)
//! acknowledgements ──> lake table triggers/acks (append-only)
//! ```
//!
//! SQL names once registered by [`crate::Engine::open`]: `trigger_evaluations`, `triggers`,
//! `trigger_acks`.

pub mod areas;
pub mod evaluate;
pub mod lifecycle;
pub mod monthly;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::{Datelike, NaiveDate};
use marmot_lake::Lake;
use marmot_lake::ingest::Progress;
use marmot_lake::store::{self, TableWriter, read_data_file, table_files};
use marmot_model::{Level, SignalDef, SignalMethod, Stratum};
use serde::Serialize;

use crate::indicators::Reference;
use crate::{Engine, EngineError};
pub use evaluate::{AlarmDirection, AreaSeries, Evaluation, WeeklyData, week_label};
pub use lifecycle::{Trigger, TriggerStatus};

/// Lake path of the evaluations table.
pub const EVALUATIONS_PATH: &str = "triggers/evaluations";
/// SQL name of the evaluations table.
pub const EVALUATIONS_TABLE: &str = "trigger_evaluations";
/// Lake path of the trigger snapshots table.
pub const STATUS_PATH: &str = "triggers/status";
/// SQL name of the trigger snapshots table.
pub const STATUS_TABLE: &str = "triggers";
/// Lake path of the acknowledgements table.
pub const ACKS_PATH: &str = "triggers/acks";
/// SQL name of the acknowledgements table.
pub const ACKS_TABLE: &str = "trigger_acks";

/// Weeks of history read before the first evaluated week: five years for Farrington and the
/// baseline (plus their windows), three for the CUSUM's GLM.
pub const HISTORY_WEEKS: i64 = 5 * 52 + 30;

fn arrow_err(e: arrow::error::ArrowError) -> EngineError {
    EngineError::Execution(format!("trigger table: {e}"))
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()).num_days() as i32
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}

/// Parses an ISO week (`2020-W42`) into its Monday.
pub fn parse_week(s: &str) -> Result<NaiveDate, EngineError> {
    let p = marmot_model::Period::parse(s).map_err(|e| EngineError::Query(e.to_string()))?;
    if p.kind != marmot_model::PeriodKind::Week {
        return Err(EngineError::Query(format!(
            "'{s}' is not an ISO week: write it like 2020-W42"
        )));
    }
    Ok(p.start)
}

/// Loads signal definitions: the `.sql` files of `dir/triggers` when a directory is given (or
/// `./queries/triggers` exists), else the shipped ones. Each signal's method parameters are
/// checked here.
pub fn load_signals(dir: Option<&std::path::Path>) -> Result<Vec<SignalDef>, EngineError> {
    let signals = match crate::query_files(dir, "triggers")? {
        None => marmot_model::builtin_signals(),
        Some(files) => marmot_model::signals_from_files(&files),
    }
    .map_err(|e| EngineError::Query(e.to_string()))?;
    for s in &signals {
        evaluate::check_params(s).map_err(|e| EngineError::Query(e.to_string()))?;
    }
    Ok(signals)
}

/// The data version a signal's evaluations come from, e.g. `admissions@3;geography@1`.
pub fn data_version(engine: &Engine, sig: &SignalDef) -> String {
    let mut parts: Vec<String> = engine
        .tables()
        .iter()
        .filter(|t| t.name == sig.dataset || matches!(t.name.as_str(), "geography" | "population"))
        .map(|t| format!("{}@{}", t.name, t.version))
        .collect();
    parts.sort();
    parts.join(";")
}

/// First and last date of a dataset (None when it is empty or not in the lake).
async fn dataset_span(
    engine: &Engine,
    dataset: &str,
) -> Result<Option<(NaiveDate, NaiveDate)>, EngineError> {
    if !engine.tables().iter().any(|t| t.name == dataset) {
        return Ok(None);
    }
    let contract = engine
        .contract(dataset)
        .map_err(|e| EngineError::Query(e.to_string()))?;
    let col = &contract.date_column;
    let b = engine
        .sql(&format!(
            "SELECT MIN({col}) AS lo, MAX({col}) AS hi FROM {dataset}"
        ))
        .await?;
    let Some(b) = b.first() else { return Ok(None) };
    let get = |name: &str| {
        b.column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .and_then(|a| {
                if a.is_valid(0) {
                    a.value_as_date(0)
                } else {
                    None
                }
            })
    };
    Ok(get("lo").zip(get("hi")))
}

fn area_quintile(reference: &Reference, lsoas: &[usize]) -> Option<i32> {
    let (mut w, mut s) = (0.0, 0.0);
    for &i in lsoas {
        let p = reference.population(i, 2019, 0, 90, None);
        w += p;
        s += p * f64::from(reference.lsoas[i].imd_quintile);
    }
    (w > 0.0).then(|| (s / w).round() as i32)
}

/// Counts a signal's events per ISO week and area from the Monday `from` to the Sunday after
/// `to` (both Mondays), clipped to the dataset's first full week. One DataFusion query.
pub async fn fetch_weekly(
    engine: &Engine,
    reference: &Reference,
    sig: &SignalDef,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<WeeklyData, EngineError> {
    let span = dataset_span(engine, &sig.dataset).await?;
    let Some((first, last)) = span else {
        return Ok(WeeklyData {
            weeks: Vec::new(),
            series: Vec::new(),
            last_date: None,
        });
    };
    // The first full week of data: a partial first week would look like a drop.
    let first_full = if first.weekday() == chrono::Weekday::Mon {
        first
    } else {
        monday(first) + chrono::Days::new(7)
    };
    let from = from.max(first_full);
    let mut weeks = Vec::new();
    let mut w = from;
    while w <= to {
        weeks.push(w);
        w = w + chrono::Days::new(7);
    }
    let end = to + chrono::Days::new(6);
    if areas::area_kind(engine, sig) != marmot_model::AreaKind::Lsoa {
        return areas::place_series(engine, reference, sig, weeks, end, last).await;
    }
    let sql = format!(
        "SELECT lsoa_code, wk, SUM(num) AS num FROM ( \
           SELECT lsoa_code, CAST(date_trunc('week', CAST(event_date AS TIMESTAMP)) AS DATE) AS wk, \
                  CAST(numerator AS DOUBLE) AS num \
           FROM ({inner}) AS s WHERE event_date >= DATE '{from}' AND event_date <= DATE '{end}') AS t \
         GROUP BY lsoa_code, wk",
        inner = sig.sql
    );
    let batches = engine.sql(&sql).await.map_err(|e| match e {
        EngineError::Query(m) => EngineError::Query(format!("signal {}: {m}", sig.id)),
        other => other,
    })?;
    let n = weeks.len();
    let mut per_lsoa: HashMap<usize, Vec<f64>> = HashMap::new();
    for b in &batches {
        let l = b
            .column_by_name("lsoa_code")
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| {
                EngineError::Query(format!("signal {}: lsoa_code must be text", sig.id))
            })?;
        let wk = b
            .column_by_name("wk")
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .ok_or_else(|| EngineError::Execution("wk".into()))?;
        let num = b
            .column_by_name("num")
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
            .ok_or_else(|| EngineError::Execution("num".into()))?;
        for r in 0..b.num_rows() {
            if l.is_null(r) || wk.is_null(r) || num.is_null(r) {
                continue;
            }
            let Some(i) = reference.lsoa_index(l.value(r)) else {
                continue;
            };
            let Some(d) = wk.value_as_date(r) else {
                continue;
            };
            let idx = (d - from).num_days() / 7;
            if idx < 0 || idx as usize >= n {
                continue;
            }
            per_lsoa.entry(i).or_insert_with(|| vec![0.0; n])[idx as usize] += num.value(r);
        }
    }
    // Group LSOAs into the areas of each level, and strata of the place.
    // (level, area code, stratum) -> (area name, LSOAs, stratum quintile)
    type Group = (String, Vec<usize>, Option<i32>);
    let mut groups: BTreeMap<(Level, String, String), Group> = BTreeMap::new();
    for (i, _) in reference.lsoas.iter().enumerate() {
        for &level in &sig.levels {
            let (code, name) = reference.area(i, level);
            groups
                .entry((level, code, "all".into()))
                .or_insert_with(|| (name, Vec::new(), None))
                .1
                .push(i);
        }
        for st in &sig.strata {
            let q = match st {
                Stratum::LocalImdQuintile => reference.lsoas[i].local_imd_quintile,
                Stratum::ImdQuintile => reference.lsoas[i].imd_quintile,
            };
            let (code, name) = reference.area(i, Level::Place);
            groups
                .entry((Level::Place, code, format!("{}={q}", st.name())))
                .or_insert_with(|| (name, Vec::new(), Some(q)))
                .1
                .push(i);
        }
    }
    let series = groups
        .into_iter()
        .map(|((level, code, stratum), (name, lsoas, q))| {
            let mut counts = vec![0.0; n];
            for i in &lsoas {
                if let Some(c) = per_lsoa.get(i) {
                    for (a, b) in counts.iter_mut().zip(c) {
                        *a += b;
                    }
                }
            }
            AreaSeries {
                level,
                area_code: code,
                area_name: name,
                stratum,
                population: lsoas
                    .iter()
                    .map(|&i| reference.population(i, 2019, 0, 90, None))
                    .sum(),
                imd_quintile: q.or_else(|| area_quintile(reference, &lsoas)),
                counts,
            }
        })
        .collect();
    Ok(WeeklyData {
        weeks,
        series,
        last_date: Some(last),
    })
}

/// Evaluates one signal on the weeks `from..=to` (Mondays). The provisional weeks are the
/// signal's last `provisional_weeks` up to `to`, and any week not complete in the data.
pub async fn evaluate_signal(
    engine: &Engine,
    reference: &Reference,
    sig: &SignalDef,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(WeeklyData, Vec<Evaluation>), EngineError> {
    let history_from = from - chrono::Days::new(7 * HISTORY_WEEKS as u64);
    let data = fetch_weekly(engine, reference, sig, history_from, to).await?;
    let Some(&first) = data.weeks.first() else {
        return Ok((data, Vec::new()));
    };
    let idx = |d: NaiveDate| ((d - first).num_days() / 7).max(0) as usize;
    let start = idx(from);
    let end = data.weeks.len();
    let mut provisional_from = end.saturating_sub(sig.provisional_weeks);
    if let Some(last) = data.last_date {
        // Weeks ending after the last date of the data are incomplete.
        if let Some(p) = data
            .weeks
            .iter()
            .position(|w| *w + chrono::Days::new(6) > last)
        {
            provisional_from = provisional_from.min(p);
        }
    }
    let sig2 = sig.clone();
    let dv = data_version(engine, sig);
    // The series move into the worker and come back with the evaluations (no copy).
    let (data, evals) = tokio::task::spawn_blocking(move || {
        let evals = evaluate::evaluate(&sig2, &data, start..end, provisional_from);
        (data, evals)
    })
    .await
    .map_err(|e| EngineError::Execution(format!("trigger worker: {e}")))?;
    let mut evals = evals.map_err(|e| EngineError::Query(e.to_string()))?;
    for e in &mut evals {
        e.data_version.clone_from(&dv);
    }
    Ok((data, evals))
}

// ---------------------------------------------------------------- tables

/// Schema of `triggers/evaluations`.
pub fn evaluations_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        s("signal", false),
        s("level", false),
        s("area_code", false),
        s("area_name", false),
        s("stratum", false),
        s("week", false),
        Field::new("week_start", DataType::Date32, false),
        s("method", false),
        Field::new("observed", DataType::Float64, false),
        f("expected"),
        f("lower"),
        f("upper"),
        f("score"),
        f("percent_difference"),
        Field::new("alarm", DataType::Boolean, false),
        s("direction", true),
        Field::new("severity", DataType::Int32, false),
        Field::new("provisional", DataType::Boolean, false),
        Field::new("population", DataType::Float64, false),
        Field::new("imd_quintile", DataType::Int32, true),
        s("data_version", false),
    ]))
}

fn evaluations_batch(evals: &[Evaluation]) -> Result<RecordBatch, EngineError> {
    let s = |f: &dyn Fn(&Evaluation) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(evals.iter().map(f)))
    };
    let o = |f: &dyn Fn(&Evaluation) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(evals.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|e| e.signal.clone()),
        s(&|e| e.level.name().to_string()),
        s(&|e| e.area_code.clone()),
        s(&|e| e.area_name.clone()),
        s(&|e| e.stratum.clone()),
        s(&|e| week_label(e.week_start)),
        Arc::new(Date32Array::from_iter_values(
            evals.iter().map(|e| days(e.week_start)),
        )),
        s(&|e| e.method.name().to_string()),
        Arc::new(Float64Array::from_iter_values(
            evals.iter().map(|e| e.observed),
        )),
        o(&|e| e.expected),
        o(&|e| e.lower),
        o(&|e| e.upper),
        o(&|e| e.score),
        o(&|e| e.percent_difference),
        Arc::new(BooleanArray::from_iter(evals.iter().map(|e| Some(e.alarm)))),
        Arc::new(StringArray::from_iter(
            evals.iter().map(|e| e.direction.map(|d| d.name())),
        )),
        Arc::new(Int32Array::from_iter_values(
            evals.iter().map(|e| i32::from(e.severity)),
        )),
        Arc::new(BooleanArray::from_iter(
            evals.iter().map(|e| Some(e.provisional)),
        )),
        Arc::new(Float64Array::from_iter_values(
            evals.iter().map(|e| e.population),
        )),
        Arc::new(Int32Array::from_iter(evals.iter().map(|e| e.imd_quintile))),
        s(&|e| e.data_version.clone()),
    ];
    RecordBatch::try_new(evaluations_schema(), cols).map_err(arrow_err)
}

struct Cols<'a>(&'a RecordBatch);

impl Cols<'_> {
    fn get<T: 'static>(&self, name: &str) -> Result<&T, EngineError> {
        self.0
            .column_by_name(name)
            .and_then(|c| c.as_any().downcast_ref::<T>())
            .ok_or_else(|| EngineError::Execution(format!("trigger table: column {name}")))
    }
    fn s(&self, name: &str) -> Result<&StringArray, EngineError> {
        self.get::<StringArray>(name)
    }
    fn f(&self, name: &str) -> Result<&Float64Array, EngineError> {
        self.get::<Float64Array>(name)
    }
    fn i(&self, name: &str) -> Result<&Int32Array, EngineError> {
        self.get::<Int32Array>(name)
    }
}

fn opt_f(a: &Float64Array, r: usize) -> Option<f64> {
    a.is_valid(r).then(|| a.value(r))
}

fn opt_s(a: &StringArray, r: usize) -> Option<&str> {
    a.is_valid(r).then(|| a.value(r))
}

fn bad(what: &str, v: &str) -> EngineError {
    EngineError::Execution(format!("trigger table: bad {what} '{v}'"))
}

fn evaluations_from_batch(b: &RecordBatch, out: &mut Vec<Evaluation>) -> Result<(), EngineError> {
    let c = Cols(b);
    let (signal, level, code, name, stratum) = (
        c.s("signal")?,
        c.s("level")?,
        c.s("area_code")?,
        c.s("area_name")?,
        c.s("stratum")?,
    );
    let week = c.get::<Date32Array>("week_start")?;
    let method = c.s("method")?;
    let (observed, expected, lower, upper, score, pct) = (
        c.f("observed")?,
        c.f("expected")?,
        c.f("lower")?,
        c.f("upper")?,
        c.f("score")?,
        c.f("percent_difference")?,
    );
    let alarm = c.get::<BooleanArray>("alarm")?;
    let direction = c.s("direction")?;
    let severity = c.i("severity")?;
    let provisional = c.get::<BooleanArray>("provisional")?;
    let population = c.f("population")?;
    let q = c.i("imd_quintile")?;
    let dv = c.s("data_version")?;
    for r in 0..b.num_rows() {
        out.push(Evaluation {
            signal: signal.value(r).to_string(),
            level: Level::parse(level.value(r)).map_err(|_| bad("level", level.value(r)))?,
            area_code: code.value(r).to_string(),
            area_name: name.value(r).to_string(),
            stratum: stratum.value(r).to_string(),
            week_start: week.value_as_date(r).ok_or_else(|| bad("week", ""))?,
            method: SignalMethod::parse(method.value(r))
                .map_err(|_| bad("method", method.value(r)))?,
            observed: observed.value(r),
            expected: opt_f(expected, r),
            lower: opt_f(lower, r),
            upper: opt_f(upper, r),
            score: opt_f(score, r),
            percent_difference: opt_f(pct, r),
            alarm: alarm.value(r),
            direction: opt_s(direction, r).and_then(AlarmDirection::parse),
            severity: severity.value(r).clamp(0, 3) as u8,
            provisional: provisional.value(r),
            population: population.value(r),
            imd_quintile: q.is_valid(r).then(|| q.value(r)),
            data_version: dv.value(r).to_string(),
        });
    }
    Ok(())
}

/// Schema of `triggers/status` (one snapshot per run week).
pub fn status_schema() -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let i = |n: &str, null: bool| Field::new(n, DataType::Int32, null);
    Arc::new(Schema::new(vec![
        s("as_of_week", false),
        i("rank", false),
        s("trigger_id", false),
        s("signal", false),
        s("level", false),
        s("area_code", false),
        s("area_name", false),
        s("stratum", false),
        s("direction", false),
        s("status", false),
        s("opened_week", false),
        s("opened_by", false),
        s("last_alarm_week", false),
        s("closed_week", true),
        s("methods", false),
        i("severity", false),
        i("max_severity", false),
        i("alarm_weeks", false),
        i("weeks_open", false),
        Field::new("population", DataType::Float64, false),
        i("imd_quintile", true),
        Field::new("provisional", DataType::Boolean, false),
        Field::new("leads_place_weeks", DataType::Int64, true),
        s("note", false),
        s("data_version", false),
    ]))
}

fn methods_text(m: &[SignalMethod]) -> String {
    m.iter().map(|x| x.name()).collect::<Vec<_>>().join(",")
}

fn parse_methods(s: &str) -> Vec<SignalMethod> {
    s.split(',')
        .filter_map(|m| SignalMethod::parse(m.trim()).ok())
        .collect()
}

fn status_batch(
    as_of: NaiveDate,
    triggers: &[Trigger],
    versions: &HashMap<String, String>,
) -> Result<RecordBatch, EngineError> {
    let s = |f: &dyn Fn(&Trigger) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(triggers.iter().map(f)))
    };
    let i = |f: &dyn Fn(&Trigger) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(triggers.iter().map(f)))
    };
    let label = week_label(as_of);
    let cols: Vec<ArrayRef> = vec![
        s(&|_| label.clone()),
        i(&|t| t.rank as i32),
        s(&|t| t.id.clone()),
        s(&|t| t.signal.clone()),
        s(&|t| t.level.name().to_string()),
        s(&|t| t.area_code.clone()),
        s(&|t| t.area_name.clone()),
        s(&|t| t.stratum.clone()),
        s(&|t| t.direction.name().to_string()),
        s(&|t| t.status.name().to_string()),
        s(&|t| week_label(t.opened_week)),
        s(&|t| methods_text(&t.opened_by)),
        s(&|t| week_label(t.last_alarm_week)),
        Arc::new(StringArray::from_iter(
            triggers.iter().map(|t| t.closed_week.map(week_label)),
        )),
        s(&|t| methods_text(&t.methods)),
        i(&|t| i32::from(t.severity)),
        i(&|t| i32::from(t.max_severity)),
        i(&|t| t.alarm_weeks as i32),
        i(&|t| t.weeks_open as i32),
        Arc::new(Float64Array::from_iter_values(
            triggers.iter().map(|t| t.population),
        )),
        Arc::new(Int32Array::from_iter(
            triggers.iter().map(|t| t.imd_quintile),
        )),
        Arc::new(BooleanArray::from_iter(
            triggers.iter().map(|t| Some(t.provisional)),
        )),
        Arc::new(Int64Array::from_iter(
            triggers.iter().map(|t| t.leads_place_weeks),
        )),
        s(&|t| t.note.clone()),
        s(&|t| versions.get(&t.signal).cloned().unwrap_or_default()),
    ];
    RecordBatch::try_new(status_schema(), cols).map_err(arrow_err)
}

/// A trigger as listed: the snapshot row and its acknowledgements.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ListedTrigger {
    /// Rank in the week's list.
    pub rank: i32,
    /// Trigger id.
    pub trigger_id: String,
    /// Signal id.
    pub signal: String,
    /// Level.
    pub level: String,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// `all` or the stratum.
    pub stratum: String,
    /// `up` / `down`.
    pub direction: String,
    /// `opened` / `ongoing` / `closed`.
    pub status: String,
    /// First alarm week.
    pub opened_week: String,
    /// Methods alarming in the opening week.
    pub opened_by: Vec<String>,
    /// Latest alarm week.
    pub last_alarm_week: String,
    /// Week it closed.
    pub closed_week: Option<String>,
    /// Methods that alarmed during the trigger.
    pub methods: Vec<String>,
    /// Severity in the latest alarm week (1-3).
    pub severity: i32,
    /// Highest severity so far.
    pub max_severity: i32,
    /// Weeks with an alarm.
    pub alarm_weeks: i32,
    /// Weeks since opening.
    pub weeks_open: i32,
    /// Population of the area or stratum.
    pub population: f64,
    /// Deprivation quintile of the area or stratum.
    pub imd_quintile: Option<i32>,
    /// The latest alarm week is provisional.
    pub provisional: bool,
    /// Weeks the most deprived quintile alarmed before the place.
    pub leads_place_weeks: Option<i64>,
    /// Note.
    pub note: String,
    /// Data version of the evaluations.
    pub data_version: String,
    /// Acknowledgements, oldest first.
    pub acknowledgements: Vec<Ack>,
}

/// An acknowledgement of a trigger.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ack {
    /// Trigger id.
    pub trigger_id: String,
    /// Who.
    pub by: String,
    /// The note.
    pub note: String,
    /// When (RFC 3339).
    pub at: String,
}

fn listed_from_batch(b: &RecordBatch, out: &mut Vec<ListedTrigger>) -> Result<(), EngineError> {
    let c = Cols(b);
    let txt =
        |n: &str, r: usize| -> Result<String, EngineError> { Ok(c.s(n)?.value(r).to_string()) };
    let num = |n: &str, r: usize| -> Result<i32, EngineError> { Ok(c.i(n)?.value(r)) };
    let leads = c.get::<Int64Array>("leads_place_weeks")?;
    let q = c.i("imd_quintile")?;
    let closed = c.s("closed_week")?;
    for r in 0..b.num_rows() {
        out.push(ListedTrigger {
            rank: num("rank", r)?,
            trigger_id: txt("trigger_id", r)?,
            signal: txt("signal", r)?,
            level: txt("level", r)?,
            area_code: txt("area_code", r)?,
            area_name: txt("area_name", r)?,
            stratum: txt("stratum", r)?,
            direction: txt("direction", r)?,
            status: txt("status", r)?,
            opened_week: txt("opened_week", r)?,
            opened_by: parse_methods(&txt("opened_by", r)?)
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            last_alarm_week: txt("last_alarm_week", r)?,
            closed_week: opt_s(closed, r).map(str::to_string),
            methods: parse_methods(&txt("methods", r)?)
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            severity: num("severity", r)?,
            max_severity: num("max_severity", r)?,
            alarm_weeks: num("alarm_weeks", r)?,
            weeks_open: num("weeks_open", r)?,
            population: c.f("population")?.value(r),
            imd_quintile: q.is_valid(r).then(|| q.value(r)),
            provisional: c.get::<BooleanArray>("provisional")?.value(r),
            leads_place_weeks: leads.is_valid(r).then(|| leads.value(r)),
            note: txt("note", r)?,
            data_version: txt("data_version", r)?,
            acknowledgements: Vec::new(),
        });
    }
    Ok(())
}

/// Schema of `triggers/acks`.
pub fn acks_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("trigger_id", DataType::Utf8, false),
        Field::new("acknowledged_by", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, false),
        Field::new("acknowledged_at", DataType::Utf8, false),
    ]))
}

/// The key a data file was written for: `part-<key>.<stamp>-NNNNN.zstd.parquet`.
fn file_key(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let name = name.strip_prefix("part-").unwrap_or(name);
    name.split('.').next().unwrap_or(name)
}

/// The evaluations in one data file of the evaluations table.
async fn read_evaluations(
    table: &deltalake::DeltaTable,
    path: &str,
) -> Result<Vec<Evaluation>, EngineError> {
    let mut rows = Vec::new();
    for b in read_data_file(table, path).await? {
        evaluations_from_batch(&b, &mut rows)?;
    }
    Ok(rows)
}

// ---------------------------------------------------------------- run

/// What `marmot triggers run` does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The week (Monday) the run is for.
    pub week: NaiveDate,
    /// How many weeks up to `week` are (re)evaluated (1 = only that week).
    pub weeks: usize,
    /// Only these signals are (re)evaluated (empty: all). The week's trigger list still covers
    /// every signal, from the stored evaluations of the others.
    pub only: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// The run week.
    pub week: String,
    /// Weeks evaluated (first..=last).
    pub evaluated_from: String,
    /// Evaluation rows written.
    pub evaluations: usize,
    /// Of which alarms.
    pub alarms: usize,
    /// Per signal: (id, series evaluated, alarms in the run week).
    pub signals: Vec<(String, usize, usize)>,
    /// Signals skipped, with the reason (e.g. no data for the dataset).
    pub skipped: Vec<(String, String)>,
    /// Triggers in the week's snapshot, ranked.
    pub triggers: usize,
    /// Of which opened this week.
    pub opened: usize,
    /// Delta version of the evaluations table.
    pub evaluations_version: Option<u64>,
    /// Delta version of the snapshot table.
    pub status_version: Option<u64>,
}

/// Evaluates the signals (all of `signals`, or `opts.only`) for the weeks up to `opts.week`,
/// stores the evaluations (replacing those of the same weeks), and stores the week's ranked
/// trigger snapshot, derived from the stored evaluations of every signal. Two commits: the
/// evaluations, then the snapshot (re-running the same week repairs a failed second commit).
pub async fn run(
    engine: &Engine,
    lake: &Lake,
    signals: &[SignalDef],
    opts: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunReport, EngineError> {
    let week = monday(opts.week);
    let from = week - chrono::Days::new(7 * (opts.weeks.max(1) as u64 - 1));
    let reference = Reference::load(engine).await?;
    let mut report = RunReport {
        week: week_label(week),
        evaluated_from: week_label(from),
        ..RunReport::default()
    };
    let existing = lake.load_table(EVALUATIONS_PATH, None).await?;
    let files = match &existing {
        Some(t) => table_files(t, EVALUATIONS_TABLE)?,
        None => Vec::new(),
    };
    let stamp = marmot_lake::ingest::new_ingest_id();
    let mut adds = Vec::new();
    let mut removes = Vec::new();
    let mut all_evals: Vec<Evaluation> = Vec::new();
    let mut versions = HashMap::new();
    for id in &opts.only {
        match signals.iter().find(|s| &s.id == id) {
            None => return Err(EngineError::Query(format!("unknown signal '{id}'"))),
            Some(s) if s.frequency == marmot_model::Frequency::Month => {
                return Err(EngineError::Query(format!(
                    "signal '{id}' is monthly: run it with `marmot triggers monthly --signal {id}`"
                )));
            }
            Some(_) => {}
        }
    }
    let all_signals = signals;
    // Monthly signals run on their own (`monthly::evaluate_monthly`); a weekly signal over
    // monthly data is refused with the reason.
    let chosen: Vec<&SignalDef> = signals
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.contains(&s.id))
        .filter(|s| s.frequency == marmot_model::Frequency::Week)
        .collect();
    for s in &chosen {
        monthly::check_frequency(engine, s)?;
        areas::check(engine, s)?;
    }
    let signals = chosen.as_slice();
    progress.begin("trigger signals", signals.len() as u64);
    // Two signals at a time: one's DataFusion query overlaps the other's detection work.
    use futures::StreamExt;
    let reference_ref = &reference;
    let mut evaluated = futures::stream::iter(signals.iter().map(|&sig| async move {
        if engine.tables().iter().any(|t| t.name == sig.dataset) {
            evaluate_signal(engine, reference_ref, sig, from, week)
                .await
                .map(|(_, e)| Some(e))
        } else {
            Ok(None)
        }
    }))
    .buffered(2);
    let mut k = 0u64;
    for &sig in signals {
        let Some(result) = evaluated.next().await else {
            break;
        };
        k += 1;
        progress.advance_to(k);
        let Some(new) = result? else {
            report.skipped.push((
                sig.id.clone(),
                format!("no {} data in the lake", sig.dataset),
            ));
            continue;
        };
        versions.insert(sig.id.clone(), data_version(engine, sig));
        let series: std::collections::BTreeSet<(Level, &str, &str)> = new
            .iter()
            .map(|e| (e.level, e.area_code.as_str(), e.stratum.as_str()))
            .collect();
        let alarms_now = new
            .iter()
            .filter(|e| e.alarm && e.week_start == week)
            .count();
        report
            .signals
            .push((sig.id.clone(), series.len(), alarms_now));
        report.evaluations += new.len();
        report.alarms += new.iter().filter(|e| e.alarm).count();
        // Keep this signal's stored weeks outside the run; replace the rest.
        let mut kept = Vec::new();
        if let Some(table) = &existing {
            for f in files.iter().filter(|f| file_key(&f.path) == sig.id) {
                let rows = read_evaluations(table, &f.path).await?;
                kept.extend(
                    rows.into_iter()
                        .filter(|e| e.week_start < from || e.week_start > week),
                );
                removes.push(f.remove.clone());
            }
        }
        kept.extend(new);
        kept.sort_by(|a, b| {
            (a.week_start, a.level, &a.area_code, &a.stratum, a.method).cmp(&(
                b.week_start,
                b.level,
                &b.area_code,
                &b.stratum,
                b.method,
            ))
        });
        let mut w = TableWriter::new(
            lake.table_store(EVALUATIONS_PATH),
            evaluations_schema(),
            &format!("{}.{stamp}", sig.id),
        );
        for chunk in kept.chunks(64 * 1024) {
            w.write(&evaluations_batch(chunk)?).await?;
        }
        adds.extend(w.finish().await?.0);
        all_evals.extend(kept);
    }
    drop(evaluated);
    progress.end();
    let mut table = lake
        .open_or_create_table(EVALUATIONS_PATH, EVALUATIONS_TABLE, &evaluations_schema())
        .await?;
    let meta = serde_json::json!({"triggers": {"week": report.week, "from": report.evaluated_from, "rows": report.evaluations}});
    report.evaluations_version =
        Some(store::commit(&mut table, EVALUATIONS_TABLE, adds, removes, meta, None).await?);
    // The other signals' stored evaluations: the week's list covers every signal.
    if let Some(table) = &existing {
        for f in &files {
            let key = file_key(&f.path);
            if signals.iter().any(|s| s.id == key) {
                continue;
            }
            let rows = read_evaluations(table, &f.path).await?;
            if let Some(latest) = rows.iter().max_by_key(|e| e.week_start) {
                versions
                    .entry(latest.signal.clone())
                    .or_insert_with(|| latest.data_version.clone());
            }
            all_evals.extend(rows);
        }
    }
    // Lifecycle from the whole stored history.
    let close: HashMap<&str, usize> = all_signals
        .iter()
        .map(|s| (s.id.as_str(), s.close_after))
        .collect();
    let close_after = |id: &str| close.get(id).copied().unwrap_or(3);
    let all = lifecycle::derive(&all_evals, &close_after, week);
    let snap = lifecycle::snapshot(all, week);
    report.triggers = snap.len();
    report.opened = snap
        .iter()
        .filter(|t| t.status == TriggerStatus::Opened)
        .count();
    report.status_version = Some(write_snapshot(lake, week, &snap, &versions).await?);
    Ok(report)
}

async fn write_snapshot(
    lake: &Lake,
    week: NaiveDate,
    snap: &[Trigger],
    versions: &HashMap<String, String>,
) -> Result<u64, EngineError> {
    let label = week_label(week);
    let existing = lake.load_table(STATUS_PATH, None).await?;
    let removes = match &existing {
        Some(t) => table_files(t, STATUS_TABLE)?
            .into_iter()
            .filter(|f| file_key(&f.path) == label)
            .map(|f| f.remove)
            .collect(),
        None => Vec::new(),
    };
    let stamp = marmot_lake::ingest::new_ingest_id();
    let mut w = TableWriter::new(
        lake.table_store(STATUS_PATH),
        status_schema(),
        &format!("{label}.{stamp}"),
    );
    w.write(&status_batch(week, snap, versions)?).await?;
    let (adds, _) = w.finish().await?;
    let mut table = lake
        .open_or_create_table(STATUS_PATH, STATUS_TABLE, &status_schema())
        .await?;
    let meta = serde_json::json!({"triggers": {"as_of_week": label, "triggers": snap.len()}});
    Ok(store::commit(&mut table, STATUS_TABLE, adds, removes, meta, None).await?)
}

/// The weeks with a stored snapshot, ascending.
pub async fn snapshot_weeks(lake: &Lake) -> Result<Vec<String>, EngineError> {
    let Some(table) = lake.load_table(STATUS_PATH, None).await? else {
        return Ok(Vec::new());
    };
    let mut weeks: Vec<String> = table_files(&table, STATUS_TABLE)?
        .iter()
        .map(|f| file_key(&f.path).to_string())
        .collect();
    weeks.sort();
    weeks.dedup();
    Ok(weeks)
}

/// The ranked trigger list of a week's snapshot (the latest run week when `week` is None),
/// with acknowledgements. Errors when no run has been made for that week.
pub async fn list(
    lake: &Lake,
    week: Option<NaiveDate>,
) -> Result<(String, Vec<ListedTrigger>), EngineError> {
    let weeks = snapshot_weeks(lake).await?;
    let label = match week {
        Some(w) => week_label(monday(w)),
        None => weeks.last().cloned().ok_or_else(|| {
            EngineError::Query(
                "no trigger run in this lake yet: run `marmot triggers run --week <YYYY-Www>`"
                    .into(),
            )
        })?,
    };
    if !weeks.contains(&label) {
        return Err(EngineError::Query(format!(
            "no trigger run for {label}: run `marmot triggers run --week {label}` (runs stored: {})",
            if weeks.is_empty() {
                "none".to_string()
            } else {
                weeks.join(", ")
            }
        )));
    }
    let Some(table) = lake.load_table(STATUS_PATH, None).await? else {
        return Ok((label, Vec::new()));
    };
    let mut out = Vec::new();
    for f in table_files(&table, STATUS_TABLE)? {
        if file_key(&f.path) != label {
            continue;
        }
        for b in read_data_file(&table, &f.path).await? {
            listed_from_batch(&b, &mut out)?;
        }
    }
    out.sort_by_key(|t| t.rank);
    let acks = load_acks(lake).await?;
    for t in &mut out {
        t.acknowledgements = acks
            .iter()
            .filter(|a| a.trigger_id == t.trigger_id)
            .cloned()
            .collect();
    }
    Ok((label, out))
}

/// The ranked trigger list of a run week as registered in `engine`, with the acknowledgements
/// registered there: read at the engine's pinned table versions, so a report naming those
/// versions shows exactly the same list when it is made again.
pub async fn list_in(engine: &Engine, week: &str) -> Result<Vec<ListedTrigger>, EngineError> {
    let has = |t: &str| engine.tables().iter().any(|x| x.name == t);
    let none = || {
        EngineError::Query(format!(
            "no trigger run for {week}: run `marmot triggers run --week {week}`"
        ))
    };
    if !has(STATUS_TABLE) {
        return Err(none());
    }
    let q = week.replace('\'', "''");
    let batches = engine
        .sql(&format!(
            "SELECT * FROM {STATUS_TABLE} WHERE as_of_week = '{q}' ORDER BY rank"
        ))
        .await?;
    let mut out = Vec::new();
    for b in &batches {
        listed_from_batch(b, &mut out)?;
    }
    if out.is_empty() {
        return Err(none());
    }
    if has(ACKS_TABLE) {
        let acks = engine
            .sql(&format!(
                "SELECT trigger_id, acknowledged_by, note, acknowledged_at FROM {ACKS_TABLE} ORDER BY acknowledged_at"
            ))
            .await?;
        for b in &acks {
            let c = Cols(b);
            for r in 0..b.num_rows() {
                let id = c.s("trigger_id")?.value(r);
                if let Some(t) = out.iter_mut().find(|t| t.trigger_id == id) {
                    t.acknowledgements.push(Ack {
                        trigger_id: id.to_string(),
                        by: c.s("acknowledged_by")?.value(r).to_string(),
                        note: c.s("note")?.value(r).to_string(),
                        at: c.s("acknowledged_at")?.value(r).to_string(),
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Every acknowledgement, oldest first.
pub async fn load_acks(lake: &Lake) -> Result<Vec<Ack>, EngineError> {
    let Some(table) = lake.load_table(ACKS_PATH, None).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for f in table_files(&table, ACKS_TABLE)? {
        for b in read_data_file(&table, &f.path).await? {
            let c = Cols(&b);
            for r in 0..b.num_rows() {
                out.push(Ack {
                    trigger_id: c.s("trigger_id")?.value(r).to_string(),
                    by: c.s("acknowledged_by")?.value(r).to_string(),
                    note: c.s("note")?.value(r).to_string(),
                    at: c.s("acknowledged_at")?.value(r).to_string(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}

/// Records an acknowledgement of a trigger that appears in a stored snapshot. Returns the
/// Delta version of the acknowledgements table.
pub async fn acknowledge(
    lake: &Lake,
    trigger_id: &str,
    by: &str,
    note: &str,
) -> Result<u64, EngineError> {
    if note.trim().is_empty() {
        return Err(EngineError::Query(
            "an acknowledgement needs a note (what was done or decided)".into(),
        ));
    }
    let mut known = false;
    if let Some(table) = lake.load_table(STATUS_PATH, None).await? {
        'files: for f in table_files(&table, STATUS_TABLE)? {
            for b in read_data_file(&table, &f.path).await? {
                let ids = Cols(&b).s("trigger_id")?.clone();
                if ids.iter().flatten().any(|i| i == trigger_id) {
                    known = true;
                    break 'files;
                }
            }
        }
    }
    if !known {
        return Err(EngineError::Query(format!(
            "unknown trigger '{trigger_id}': see `marmot triggers list` for the ids"
        )));
    }
    let at = chrono::Utc::now().to_rfc3339();
    let batch = RecordBatch::try_new(
        acks_schema(),
        vec![
            Arc::new(StringArray::from(vec![trigger_id])),
            Arc::new(StringArray::from(vec![by])),
            Arc::new(StringArray::from(vec![note])),
            Arc::new(StringArray::from(vec![at.as_str()])),
        ],
    )
    .map_err(arrow_err)?;
    let stamp = marmot_lake::ingest::new_ingest_id();
    let mut w = TableWriter::new(
        lake.table_store(ACKS_PATH),
        acks_schema(),
        &format!("ack.{stamp}"),
    );
    w.write(&batch).await?;
    let (adds, _) = w.finish().await?;
    let mut table = lake
        .open_or_create_table(ACKS_PATH, ACKS_TABLE, &acks_schema())
        .await?;
    let meta = serde_json::json!({"ack": {"trigger": trigger_id, "by": by}});
    Ok(store::commit(&mut table, ACKS_TABLE, adds, Vec::new(), meta, None).await?)
}

// ---------------------------------------------------------------- backtest

/// A window in which a planted (or known) signal is present.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlantedWindow {
    /// Id of the planted signal.
    pub id: String,
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// `up` / `down`.
    pub direction: String,
}

/// Detection of one planted window by one method in one series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Detection {
    /// Planted signal id.
    pub planted: String,
    /// Method.
    pub method: String,
    /// Level.
    pub level: String,
    /// Area code.
    pub area_code: String,
    /// Stratum.
    pub stratum: String,
    /// The first week of a new alarm episode (an alarm in the planted direction after a week
    /// without one) from two weeks before the onset to the end of the window.
    pub first_alarm: Option<String>,
    /// Days from the onset to the start of that week (negative: the week began before it).
    pub delay_days: Option<i64>,
    /// When the series was already alarming at the onset (an episode begun earlier, e.g. by
    /// another planted signal), the week that episode began.
    pub alarming_since: Option<String>,
}

/// Alarms of one method over the backtest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MethodSummary {
    /// Method.
    pub method: String,
    /// Series-weeks evaluated.
    pub evaluated: usize,
    /// Alarm series-weeks.
    pub alarms: usize,
    /// Series-weeks outside every planted window.
    pub quiet_weeks: usize,
    /// Alarms among them.
    pub false_alarms: usize,
    /// `false_alarms / quiet_weeks`.
    pub false_alarm_rate: Option<f64>,
    /// The same at the place level (all strata).
    pub place_false_alarm_rate: Option<f64>,
    /// Alarm weeks of the place as a whole.
    pub place_alarm_weeks: Vec<String>,
}

/// What `marmot triggers backtest` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BacktestReport {
    /// Signal id.
    pub signal: String,
    /// First week evaluated.
    pub from: String,
    /// Last week evaluated.
    pub to: String,
    /// Series evaluated.
    pub series: usize,
    /// Planted windows used.
    pub planted: Vec<PlantedWindow>,
    /// Per method.
    pub methods: Vec<MethodSummary>,
    /// Per planted window, method and series.
    pub detections: Vec<Detection>,
}

/// Whether a week (Monday) overlaps a window.
fn overlaps(week: NaiveDate, w: &PlantedWindow) -> bool {
    week <= w.to && week + chrono::Days::new(6) >= w.from
}

/// Summarises evaluations against planted windows (pure). Weeks overlapping a window count as
/// planted; the others are quiet weeks, where an alarm is a false alarm.
pub fn summarise(signal: &str, evals: &[Evaluation], planted: &[PlantedWindow]) -> BacktestReport {
    let weeks: Vec<NaiveDate> = {
        let mut w: Vec<NaiveDate> = evals.iter().map(|e| e.week_start).collect();
        w.sort();
        w.dedup();
        w
    };
    let series: std::collections::BTreeSet<(Level, &str, &str)> = evals
        .iter()
        .map(|e| (e.level, e.area_code.as_str(), e.stratum.as_str()))
        .collect();
    let quiet = |e: &Evaluation| !planted.iter().any(|w| overlaps(e.week_start, w));
    let mut methods: Vec<SignalMethod> = evals.iter().map(|e| e.method).collect();
    methods.sort();
    methods.dedup();
    let rate = |a: usize, n: usize| (n > 0).then(|| a as f64 / n as f64);
    let summaries = methods
        .iter()
        .map(|&m| {
            let mine: Vec<&Evaluation> = evals.iter().filter(|e| e.method == m).collect();
            let q: Vec<&&Evaluation> = mine.iter().filter(|e| quiet(e)).collect();
            let place_q: Vec<&&&Evaluation> =
                q.iter().filter(|e| e.level == Level::Place).collect();
            let mut place_alarm_weeks: Vec<String> = mine
                .iter()
                .filter(|e| e.level == Level::Place && e.stratum == "all" && e.alarm)
                .map(|e| week_label(e.week_start))
                .collect();
            place_alarm_weeks.dedup();
            MethodSummary {
                method: m.name().to_string(),
                evaluated: mine.len(),
                alarms: mine.iter().filter(|e| e.alarm).count(),
                quiet_weeks: q.len(),
                false_alarms: q.iter().filter(|e| e.alarm).count(),
                false_alarm_rate: rate(q.iter().filter(|e| e.alarm).count(), q.len()),
                place_false_alarm_rate: rate(
                    place_q.iter().filter(|e| e.alarm).count(),
                    place_q.len(),
                ),
                place_alarm_weeks,
            }
        })
        .collect();
    let mut detections = Vec::new();
    for w in planted {
        let dir = AlarmDirection::parse(&w.direction);
        let look_from = w.from - chrono::Days::new(14);
        for &m in &methods {
            for (level, code, stratum) in &series {
                let alarmed: std::collections::BTreeSet<NaiveDate> = evals
                    .iter()
                    .filter(|e| {
                        e.method == m
                            && e.level == *level
                            && e.area_code == *code
                            && e.stratum == *stratum
                            && e.alarm
                            && (dir.is_none() || e.direction == dir)
                    })
                    .map(|e| e.week_start)
                    .collect();
                let prev = |d: NaiveDate| d - chrono::Days::new(7);
                let first = alarmed
                    .iter()
                    .copied()
                    .filter(|d| {
                        *d + chrono::Days::new(6) >= look_from
                            && *d <= w.to
                            && !alarmed.contains(&prev(*d))
                    })
                    .min();
                // An episode already running when the look-back window opens began earlier.
                let opening = look_from
                    - chrono::Days::new(u64::from(look_from.weekday().num_days_from_monday()));
                let since =
                    (alarmed.contains(&opening) && alarmed.contains(&prev(opening))).then(|| {
                        let mut d = opening;
                        while alarmed.contains(&prev(d)) {
                            d = prev(d);
                        }
                        week_label(d)
                    });
                detections.push(Detection {
                    planted: w.id.clone(),
                    method: m.name().to_string(),
                    level: level.name().to_string(),
                    area_code: code.to_string(),
                    stratum: stratum.to_string(),
                    first_alarm: first.map(week_label),
                    delay_days: first.map(|f| (f - w.from).num_days()),
                    alarming_since: since,
                });
            }
        }
    }
    BacktestReport {
        signal: signal.to_string(),
        from: weeks.first().map(|w| week_label(*w)).unwrap_or_default(),
        to: weeks.last().map(|w| week_label(*w)).unwrap_or_default(),
        series: series.len(),
        planted: planted.to_vec(),
        methods: summaries,
        detections,
    }
}

/// The planted windows of a demo lake for one signal (none for other lakes).
pub async fn planted_windows(lake: &Lake, signal: &str) -> Result<Vec<PlantedWindow>, EngineError> {
    let planted: Option<Vec<marmot_lake::demo::PlantedSignal>> = lake
        .get_json(marmot_lake::demo::SIGNALS_PATH)
        .await
        .ok()
        .flatten();
    let mut out = Vec::new();
    for p in planted.unwrap_or_default() {
        if !p.signals.iter().any(|s| s == signal) {
            continue;
        }
        let (Ok(from), Ok(to)) = (p.from.parse(), p.to.parse()) else {
            continue;
        };
        out.push(PlantedWindow {
            id: p.id,
            from,
            to,
            direction: p.direction,
        });
    }
    Ok(out)
}

/// Evaluates one signal over `from..=to` (clipped to the last complete week of data) without
/// storing anything, and summarises its alarms against the planted windows.
pub async fn backtest(
    engine: &Engine,
    lake: &Lake,
    sig: &SignalDef,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(BacktestReport, Vec<Evaluation>), EngineError> {
    if !engine.tables().iter().any(|t| t.name == sig.dataset) {
        return Err(EngineError::Query(format!(
            "signal {}: no {} data in the lake",
            sig.id, sig.dataset
        )));
    }
    let reference = Reference::load(engine).await?;
    let mut to_week = monday(to);
    if let Some((_, last)) = dataset_span(engine, &sig.dataset).await?
        && to_week + chrono::Days::new(6) > last
    {
        // Only complete weeks: a backtest judges settled data.
        to_week = monday(last)
            - chrono::Days::new(if last.weekday() == chrono::Weekday::Sun {
                0
            } else {
                7
            });
    }
    let from_week = monday(from);
    if to_week < from_week {
        return Err(EngineError::Query(format!(
            "no complete week of {} data between {from} and {to}",
            sig.dataset
        )));
    }
    let mut quiet_sig = sig.clone();
    quiet_sig.provisional_weeks = 0;
    let (_, evals) = evaluate_signal(engine, &reference, &quiet_sig, from_week, to_week).await?;
    let planted = planted_windows(lake, &sig.id).await?;
    Ok((summarise(&sig.id, &evals, &planted), evals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_name_the_signal_or_week() {
        assert_eq!(
            file_key("part-covid_admissions.20261123T101010-abcd1234-00000.zstd.parquet"),
            "covid_admissions"
        );
        assert_eq!(
            file_key("part-2020-W42.20261123T1-00000.zstd.parquet"),
            "2020-W42"
        );
    }

    #[test]
    fn weeks_parse_and_other_periods_are_refused() {
        assert_eq!(
            parse_week("2020-W42").expect("week"),
            NaiveDate::from_ymd_opt(2020, 10, 12).expect("date")
        );
        let e = parse_week("2020-10").expect_err("a month");
        assert!(e.to_string().contains("2020-W42"), "{e}");
    }

    #[test]
    fn evaluations_round_trip_through_arrow() {
        let e = Evaluation {
            signal: "s".into(),
            level: Level::Ward,
            area_code: "E05".into(),
            area_name: "Ward".into(),
            stratum: "all".into(),
            week_start: NaiveDate::from_ymd_opt(2020, 10, 12).expect("date"),
            method: SignalMethod::Cusum,
            observed: 3.0,
            expected: Some(1.5),
            lower: None,
            upper: Some(2.5),
            score: Some(1.5),
            percent_difference: Some(100.0),
            alarm: true,
            direction: Some(AlarmDirection::Up),
            severity: 2,
            provisional: true,
            population: 12000.0,
            imd_quintile: None,
            data_version: "police@2".into(),
        };
        let b = evaluations_batch(std::slice::from_ref(&e)).expect("batch");
        let mut back = Vec::new();
        evaluations_from_batch(&b, &mut back).expect("read");
        assert_eq!(back, vec![e]);
    }

    #[test]
    fn backtest_summary_counts_false_alarms_outside_planted_windows_only() {
        let week =
            |i: u64| NaiveDate::from_ymd_opt(2020, 1, 6).expect("d") + chrono::Days::new(7 * i);
        let evals: Vec<Evaluation> = (0..20)
            .map(|i| Evaluation {
                signal: "s".into(),
                level: Level::Place,
                area_code: "P".into(),
                area_name: "P".into(),
                stratum: "all".into(),
                week_start: week(i),
                method: SignalMethod::FarringtonFlexible,
                observed: 1.0,
                expected: Some(1.0),
                lower: None,
                upper: None,
                score: None,
                percent_difference: None,
                alarm: [2, 10, 11].contains(&i),
                direction: [2, 10, 11].contains(&i).then_some(AlarmDirection::Up),
                severity: 1,
                provisional: false,
                population: 1.0,
                imd_quintile: None,
                data_version: String::new(),
            })
            .collect();
        let planted = vec![PlantedWindow {
            id: "p".into(),
            from: week(10) + chrono::Days::new(3),
            to: week(12),
            direction: "up".into(),
        }];
        let r = summarise("s", &evals, &planted);
        let m = &r.methods[0];
        assert_eq!((m.alarms, m.quiet_weeks, m.false_alarms), (3, 17, 1));
        let d = &r.detections[0];
        assert_eq!(d.first_alarm.as_deref(), Some("2020-W12"));
        assert_eq!(d.delay_days, Some(-3));
    }
}
