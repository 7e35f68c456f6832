//! Indicator values as served: from the cube when it holds them at the current data version,
//! computed live otherwise, then passed through disclosure control for the caller's role, with
//! the provisional flag and data version on every row. Every consumer (JSON, CSV, charts,
//! dashboards, extracts, the report) goes through [`served_values`], so the rules are the same
//! everywhere.

use chrono::{Days, NaiveDate};
use marmot_engine::indicators::{ValueRow, ValuesRequest, data_version, values};
use marmot_model::{Breakdown, IndicatorDef, Level, Period, PeriodKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::disclosure::patterns;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, Snapshot};

/// Recent weeks of any dataset are provisional: late submissions still revise them.
pub const PROVISIONAL_DAYS: u64 = 28;

/// One indicator value as served.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct ValueJson {
    /// Indicator id.
    pub indicator_id: String,
    /// Geography level.
    pub level: String,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// Period label.
    pub period: String,
    /// Breakdown name (empty: none).
    pub breakdown: String,
    /// Breakdown category (empty: none).
    pub category: String,
    /// The value (null when suppressed or not published by the method).
    pub value: Option<f64>,
    /// 95% interval, lower.
    pub lower_95: Option<f64>,
    /// 95% interval, upper.
    pub upper_95: Option<f64>,
    /// 99.8% interval, lower.
    pub lower_99_8: Option<f64>,
    /// 99.8% interval, upper.
    pub upper_99_8: Option<f64>,
    /// Numerator (null when suppressed).
    pub numerator: Option<f64>,
    /// Denominator.
    pub denominator: f64,
    /// Method and statistic (e.g. "DSR per 100,000, Dobson with ESP2013").
    pub method: String,
    /// Benchmark compared with (the parent area's value, or England's for the place).
    pub benchmark: Option<f64>,
    /// Comparison with the benchmark at 95%: Higher, Similar, Lower, Not compared.
    pub comparison: String,
    /// Comparison at 99.8%.
    pub comparison_99_8: String,
    /// Better / Similar / Worse by the indicator's polarity (95%).
    pub judgement: String,
    /// Withheld from this caller by disclosure control (primary or complementary). For
    /// analysts: the value would be withheld from roles below analyst.
    pub suppressed: bool,
    /// The period reaches into the latest four weeks of its source data, which late
    /// submissions may still revise.
    pub provisional: bool,
    /// Table versions the value was computed from.
    pub data_version: String,
}

/// Resolves `latest` or a comma-separated list of period labels for an indicator.
pub fn parse_periods(
    snap: &Snapshot,
    ind: &IndicatorDef,
    spec: Option<&str>,
) -> ApiResult<Vec<Period>> {
    let spec = spec.unwrap_or("latest");
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s == "latest" {
                latest_period(snap, ind, ind.grain)
            } else {
                Period::parse(s).map_err(|e| ApiError::bad("bad_period", e.to_string()))
            }
        })
        .collect::<ApiResult<Vec<_>>>()
        .and_then(|v| {
            if v.is_empty() {
                Err(ApiError::bad("bad_period", "no period given"))
            } else {
                Ok(v)
            }
        })
}

/// The latest period of a grain that ends on or before `day` (the one containing `day` if it
/// ends there, else the one before).
pub fn complete_period(kind: PeriodKind, day: NaiveDate) -> Option<Period> {
    let p = Period::containing(kind, day)?;
    if p.end <= day {
        Some(p)
    } else {
        p.start.pred_opt().and_then(|d| Period::containing(kind, d))
    }
}

/// The last data date of a dataset (404 when it has none).
pub fn data_end(snap: &Snapshot, dataset: &str) -> ApiResult<NaiveDate> {
    snap.data_end.get(dataset).copied().ok_or_else(|| {
        ApiError::not_found("no_data", format!("the {dataset} dataset has no data yet"))
    })
}

/// The latest complete period of a grain in the indicator's source data.
pub fn latest_period(snap: &Snapshot, ind: &IndicatorDef, kind: PeriodKind) -> ApiResult<Period> {
    let end = data_end(snap, &ind.source)?;
    complete_period(kind, end)
        .ok_or_else(|| ApiError::Internal(format!("no complete {kind:?} period before {end}")))
}

/// Values of one table for the caller: one level, one period, one breakdown.
pub async fn table(
    state: &AppState,
    snap: &Snapshot,
    caller: &Caller,
    ind: &IndicatorDef,
    level: Level,
    period: &Period,
    by: Option<Breakdown>,
) -> ApiResult<Vec<ValueJson>> {
    let req = ValuesRequest {
        level,
        periods: vec![period.clone()],
        by,
    };
    served_values(state, snap, caller, ind, &req).await
}

/// Whether a period is provisional for a dataset.
pub fn is_provisional(snap: &Snapshot, source: &str, period: &Period) -> bool {
    snap.data_end
        .get(source)
        .and_then(|e| e.checked_sub_days(Days::new(PROVISIONAL_DAYS)))
        .is_some_and(|cut: NaiveDate| period.end > cut)
}

/// Values for the caller: cube or live, then disclosure control and flags.
pub async fn served_values(
    state: &AppState,
    snap: &Snapshot,
    caller: &Caller,
    ind: &IndicatorDef,
    req: &ValuesRequest,
) -> ApiResult<Vec<ValueJson>> {
    if caller.role.suppressed() && req.level == Level::Lsoa {
        return Err(ApiError::Forbidden(
            "LSOA-level values are for analysts; partners and viewers get wards and above".into(),
        ));
    }
    // Periods of different lengths nest (three months make a quarter), so a suppressed month
    // could be worked out from its quarter: below analyst, one grain per indicator.
    if caller.role.suppressed()
        && let Some(p) = req.periods.iter().find(|p| p.kind != ind.grain)
    {
        return Err(ApiError::Forbidden(format!(
            "{} is published by {} below the analyst role, not as {} ({}): periods of different \
             lengths nest, and comparing them would undo small-number suppression",
            ind.id,
            ind.grain.name(),
            p.kind.name(),
            p.label
        )));
    }
    // Data published by sub-ICB has one level of its own and no breakdowns, so there is no
    // set of nested tables to protect together: below the analyst role its small numerators
    // are withheld one by one.
    let area = marmot_engine::area::is_area_indicator(&snap.engine, ind);
    if let Some(why) = marmot_engine::area::level_problem(&snap.engine, ind, req.level) {
        return Err(ApiError::bad("bad_level", why));
    }
    let rows = match marmot_engine::cube::lookup(&snap.engine, ind, req).await? {
        Some(rows) => rows,
        None => values(&snap.engine, &snap.reference, ind, req).await?,
    };
    let pats = if caller.role.suppressed() && !area {
        Some(patterns(state, snap, ind, &req.periods).await?)
    } else {
        None
    };
    let dv = data_version(&snap.engine, ind);
    let provisional: std::collections::HashMap<&str, bool> = req
        .periods
        .iter()
        .map(|p| (p.label.as_str(), is_provisional(snap, &ind.source, p)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let hide = if area {
                caller.role.suppressed() && r.suppressed
            } else {
                pats.as_ref()
                    .and_then(|p| p.get(&r.period))
                    .is_some_and(|p| p.hides(&r, req.by))
            };
            to_json(r, req.by, hide, &provisional, &dv)
        })
        .collect())
}

fn to_json(
    r: ValueRow,
    by: Option<Breakdown>,
    hide: bool,
    provisional: &std::collections::HashMap<&str, bool>,
    dv: &str,
) -> ValueJson {
    let ci = |c: Option<(f64, f64)>| {
        if hide {
            (None, None)
        } else {
            (c.map(|c| c.0), c.map(|c| c.1))
        }
    };
    let (l95, u95) = ci(r.ci95);
    let (l998, u998) = ci(r.ci99_8);
    let not_compared = || "Not compared".to_string();
    ValueJson {
        provisional: provisional.get(r.period.as_str()).copied().unwrap_or(false),
        indicator_id: r.indicator_id,
        level: r.level.to_string(),
        area_code: r.area_code,
        area_name: r.area_name,
        period: r.period,
        breakdown: by.map(|b| b.name()).unwrap_or("").to_string(),
        category: r.category,
        value: if hide { None } else { r.value },
        lower_95: l95,
        upper_95: u95,
        lower_99_8: l998,
        upper_99_8: u998,
        numerator: (!hide).then_some(r.numerator),
        denominator: r.denominator,
        method: r.method,
        benchmark: r.benchmark,
        comparison: if hide {
            not_compared()
        } else {
            r.comparison.label().to_string()
        },
        comparison_99_8: if hide {
            not_compared()
        } else {
            r.comparison_99_8.label().to_string()
        },
        judgement: if hide { not_compared() } else { r.judgement },
        suppressed: hide || r.suppressed,
        data_version: dv.to_string(),
    }
}

/// The CSV of value rows (same columns as the JSON).
pub fn values_csv(rows: &[ValueJson]) -> ApiResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r)
            .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    }
    if rows.is_empty() {
        w.write_record(VALUE_COLUMNS)
            .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    }
    w.into_inner()
        .map_err(|e| ApiError::Internal(format!("csv: {e}")))
}

/// Column names of [`ValueJson`] in order (for an empty CSV's header).
pub const VALUE_COLUMNS: [&str; 22] = [
    "indicator_id",
    "level",
    "area_code",
    "area_name",
    "period",
    "breakdown",
    "category",
    "value",
    "lower_95",
    "upper_95",
    "lower_99_8",
    "upper_99_8",
    "numerator",
    "denominator",
    "method",
    "benchmark",
    "comparison",
    "comparison_99_8",
    "judgement",
    "suppressed",
    "provisional",
    "data_version",
];
