//! Monthly trigger signals: data dated by month (police.uk street-level crime) watched month by
//! month, as R `surveillance` does with `freq = 12`.
//!
//! A signal with `frequency = "month"` counts its events per calendar month and area (one
//! DataFusion query, grouped by month) and runs Farrington flexible (Noufaily et al. 2013
//! settings adapted to 12 periods a year: `b = 5` years, `w = 2` months either side, 4 factor
//! levels, the last 6 months left out of the baseline) and EARS C1, C2 and C3 (7-month
//! baseline) on each series, with the series' frequency 12 ([`WeeklySeries::monthly`]); the
//! methods themselves are checked month by month against R in
//! `crates/marmot-stats/tests/monthly_reference.rs`. A method that needs more history than
//! the data holds says so instead of guessing.
//!
//! Monthly signals are not part of the weekly SOC run (`marmot triggers run`), and a weekly
//! signal over monthly data is refused there ([`check_frequency`]).

use std::collections::BTreeMap;

use arrow::array::{Array, Date32Array, Float64Array, StringArray};
use chrono::{Datelike, NaiveDate};
use marmot_model::{Frequency, Level, Period, PeriodKind, Precision, SignalDef, SignalMethod};
use marmot_stats::surveillance::{Date, WeeklySeries, detect};
use serde::Serialize;

use crate::indicators::Reference;
use crate::{Engine, EngineError};

/// Parameters a monthly Farrington flexible run starts from (a signal's own `[params]` for the
/// method override them): Noufaily et al. (2013) with windows in months.
pub const MONTHLY_FARRINGTON: [(&str, &str); 4] = [
    ("b", "5"),
    ("w", "2"),
    ("no_periods", "4"),
    ("past_weeks_not_included", "6"),
];

/// One area's month under one method.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthlyEvaluation {
    /// Signal id.
    pub signal: String,
    /// Geography level.
    pub level: String,
    /// Area GSS code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Method name (`farrington-flexible`, `ears-c1`...).
    pub method: String,
    /// Events counted in the month.
    pub observed: f64,
    /// Expected count (the method's baseline mean).
    pub expected: Option<f64>,
    /// Upper threshold.
    pub upper: Option<f64>,
    /// The count is above the threshold.
    pub alarm: bool,
}

/// A method that could not run on a series, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotRun {
    /// Signal id.
    pub signal: String,
    /// Method name.
    pub method: String,
    /// Geography level and area code.
    pub area: String,
    /// Why.
    pub reason: String,
}

/// What a monthly run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MonthlyReport {
    /// First and last month of data (`YYYY-MM`).
    pub months: Option<(String, String)>,
    /// Every evaluated area-month-method.
    pub evaluations: Vec<MonthlyEvaluation>,
    /// Methods that could not run, with the reason.
    pub not_run: Vec<NotRun>,
}

/// Refuses a weekly signal over a dataset dated by month (and the reverse): weekly counts of
/// monthly data would put each month's events in its first week.
pub fn check_frequency(engine: &Engine, sig: &SignalDef) -> Result<(), EngineError> {
    let Ok(contract) = engine.contract(&sig.dataset) else {
        return Ok(());
    };
    match (sig.frequency, contract.precision) {
        (Frequency::Week, Precision::Month) => Err(EngineError::Query(format!(
            "signal {} counts {} by week, but {} is dated by month (precision = \"month\" in \
             its contract): weekly counts would put each month's events in its first week. \
             Give the signal frequency = \"month\" and run it with `marmot triggers monthly`",
            sig.id, sig.dataset, sig.dataset
        ))),
        _ => Ok(()),
    }
}

/// The smallest 0-based index a method can evaluate (its baseline must lie inside the series).
fn first_evaluable(method: SignalMethod, pairs: &[(String, String)]) -> usize {
    let get = |k: &str, default: usize| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(default)
    };
    match method {
        SignalMethod::FarringtonFlexible => 12 * get("b", 5) + get("w", 2),
        SignalMethod::EarsC1 => get("baseline", 7),
        SignalMethod::EarsC2 => get("baseline", 7) + 2,
        _ => get("baseline", 7) + 4,
    }
}

/// Evaluates a monthly signal over every month of its data (the last `months` only, when
/// given), for each of the signal's levels.
pub async fn evaluate_monthly(
    engine: &Engine,
    reference: &Reference,
    sig: &SignalDef,
    months: Option<usize>,
) -> Result<MonthlyReport, EngineError> {
    if sig.frequency != Frequency::Month {
        return Err(EngineError::Query(format!(
            "signal {} is weekly: it runs in `marmot triggers run`",
            sig.id
        )));
    }
    if !engine.tables().iter().any(|t| t.name == sig.dataset) {
        return Err(EngineError::Query(format!(
            "signal {}: no {} data in the lake",
            sig.id, sig.dataset
        )));
    }
    let sql = format!(
        "SELECT lsoa_code, CAST(date_trunc('month', CAST(event_date AS TIMESTAMP)) AS DATE) AS m, \
                CAST(SUM(numerator) AS DOUBLE) AS num \
         FROM ({inner}) AS s WHERE event_date IS NOT NULL GROUP BY 1, 2",
        inner = sig.sql
    );
    let batches = engine.sql(&sql).await.map_err(|e| match e {
        EngineError::Query(m) => EngineError::Query(format!("signal {}: {m}", sig.id)),
        other => other,
    })?;
    // (lsoa index, month) -> count
    let mut cells: Vec<(usize, NaiveDate, f64)> = Vec::new();
    for b in &batches {
        let text = |name: &str| {
            b.column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| {
                    EngineError::Query(format!("signal {}: {name} must be text", sig.id))
                })
        };
        let l = text("lsoa_code")?;
        let m = b
            .column_by_name("m")
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .ok_or_else(|| EngineError::Execution("m".into()))?;
        let num = b
            .column_by_name("num")
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
            .ok_or_else(|| EngineError::Execution("num".into()))?;
        for r in 0..b.num_rows() {
            if l.is_null(r) || m.is_null(r) || num.is_null(r) {
                continue;
            }
            let (Some(i), Some(d)) = (reference.lsoa_index(l.value(r)), m.value_as_date(r)) else {
                continue;
            };
            // Already the month's first day (date_trunc above).
            cells.push((i, d, num.value(r)));
        }
    }
    let mut report = MonthlyReport::default();
    let (Some(first), Some(last)) = (
        cells.iter().map(|c| c.1).min(),
        cells.iter().map(|c| c.1).max(),
    ) else {
        return Ok(report);
    };
    let all_months: Vec<NaiveDate> = Period::series(PeriodKind::Month, first, last)
        .iter()
        .map(|p| p.start)
        .collect();
    let n = all_months.len();
    let index = |d: NaiveDate| -> usize {
        ((d.year() - first.year()) * 12 + d.month() as i32 - first.month() as i32) as usize
    };
    report.months = Some((
        first.format("%Y-%m").to_string(),
        last.format("%Y-%m").to_string(),
    ));
    // (level, area code) -> (name, counts)
    let mut series: BTreeMap<(Level, String), (String, Vec<f64>)> = BTreeMap::new();
    for i in 0..reference.lsoas.len() {
        for &level in &sig.levels {
            let (code, name) = reference.area(i, level);
            series
                .entry((level, code))
                .or_insert_with(|| (name, vec![0.0; n]));
        }
    }
    for (i, d, v) in cells {
        for &level in &sig.levels {
            let (code, _) = reference.area(i, level);
            if let Some((_, counts)) = series.get_mut(&(level, code)) {
                counts[index(d)] += v;
            }
        }
    }
    let dates: Vec<Date> = all_months
        .iter()
        .map(|d| Date::from_ymd(d.year(), d.month(), 1))
        .collect::<Result<_, _>>()
        .map_err(|e| EngineError::Execution(e.to_string()))?;
    let window_from = months.map_or(0, |k| n.saturating_sub(k));
    for ((level, code), (name, counts)) in &series {
        for &method in &sig.methods {
            let mut pairs: Vec<(String, String)> = match method {
                SignalMethod::FarringtonFlexible => MONTHLY_FARRINGTON
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                _ => Vec::new(),
            };
            if let Some(own) = sig.params.get(&method) {
                pairs.extend(own.iter().cloned());
            }
            let area = format!("{} {code}", level.name());
            let not_run = |reason: String| NotRun {
                signal: sig.id.clone(),
                method: method.name().to_string(),
                area: area.clone(),
                reason,
            };
            let from = window_from.max(first_evaluable(method, &pairs));
            if from >= n {
                report.not_run.push(not_run(format!(
                    "needs more than {} months of data before the first month it judges; the \
                     data has {n}",
                    first_evaluable(method, &pairs)
                )));
                continue;
            }
            let result = (|| -> Result<Vec<detect::DetectRow>, String> {
                let m = detect::Method::parse(method.name()).map_err(|e| e.to_string())?;
                let params = detect::parse_params(m, &pairs).map_err(|e| e.to_string())?;
                let s = WeeklySeries::monthly(counts.clone())
                    .and_then(|s| s.dated(dates.clone()))
                    .map_err(|e| e.to_string())?;
                let input =
                    detect::SeriesInput::new(s, (from..n).collect()).map_err(|e| e.to_string())?;
                detect::run(&input, m, &params).map_err(|e| e.to_string())
            })();
            match result {
                Ok(rows) => {
                    for r in rows.into_iter().filter(|r| r.t >= 1 && r.t <= n) {
                        report.evaluations.push(MonthlyEvaluation {
                            signal: sig.id.clone(),
                            level: level.name().to_string(),
                            area_code: code.clone(),
                            area_name: name.clone(),
                            month: all_months[r.t - 1].format("%Y-%m").to_string(),
                            method: method.name().to_string(),
                            observed: r.observed.unwrap_or(0.0),
                            expected: r.expected,
                            upper: r.upper,
                            alarm: r.alarm,
                        });
                    }
                }
                Err(reason) => report.not_run.push(not_run(reason)),
            }
        }
    }
    Ok(report)
}
