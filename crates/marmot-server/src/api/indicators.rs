//! Areas, the indicator catalogue, values, trends and inequality measures.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use marmot_engine::indicators::ValuesRequest;
use marmot_model::{Breakdown, IndicatorDef, Level, Period, PeriodKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{
    self, CSV, Format, JSON, cached, decode_cursor, encode_cursor, json_bytes, page_limit,
};
use crate::state::{Shared, Snapshot};
use crate::values::{ValueJson, latest_period, parse_periods, served_values, values_csv};

/// An area of the place.
#[derive(Debug, Serialize, ToSchema)]
pub struct AreaJson {
    /// Level.
    pub level: String,
    /// Code (ONS code for LSOAs and wards; the name for configured areas).
    pub code: String,
    /// Name.
    pub name: String,
    /// Codes of the areas containing it, by level (`ward`, `neighbourhood`, `locality`, `place`).
    pub parents: BTreeMap<String, String>,
    /// LSOAs it contains.
    pub lsoas: usize,
    /// National IMD 2019 quintile (LSOAs only; 1 = most deprived).
    pub imd_quintile: Option<i32>,
}

/// Query of `/areas`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct AreasQuery {
    /// Only this level.
    pub level: Option<String>,
    /// Items per page (default 1,000).
    pub limit: Option<usize>,
    /// Where to continue (`X-Next-Cursor`).
    pub cursor: Option<String>,
}

/// Every area of the place with its parents (the geography hierarchy), finest level first;
/// paged (`X-Next-Cursor`).
#[utoipa::path(get, path = "/api/v1/areas", params(AreasQuery), tag = "geography",
    responses((status = 200, body = [AreaJson]), (status = 400, body = ErrorBody)))]
pub async fn areas(
    State(state): State<Shared>,
    _caller: Caller,
    Query(q): Query<AreasQuery>,
) -> ApiResult<Response> {
    let levels = match q.level.as_deref() {
        Some(l) => vec![Level::parse(l)?],
        None => Level::ALL.to_vec(),
    };
    let snap = state.snapshot();
    let rank = |l: &str| Level::ALL.iter().position(|x| x.name() == l).unwrap_or(9);
    let page = http::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let (items, next) = http::page_by_key(
        area_list(&snap, &levels),
        |a| format!("{}|{}", rank(&a.level), a.code),
        false,
        &page,
    )?;
    http::json_page(&items, next)
}

/// The areas of some levels.
pub fn area_list(snap: &Snapshot, levels: &[Level]) -> Vec<AreaJson> {
    let r = &snap.reference;
    let mut out: BTreeMap<(usize, String), AreaJson> = BTreeMap::new();
    for (li, level) in Level::ALL.iter().enumerate() {
        if !levels.contains(level) {
            continue;
        }
        for i in 0..r.lsoas.len() {
            let (code, name) = r.area(i, *level);
            let e = out.entry((li, code.clone())).or_insert_with(|| AreaJson {
                level: level.name().into(),
                code,
                name,
                parents: Level::ALL[li + 1..]
                    .iter()
                    .map(|p| (p.name().to_string(), r.area(i, *p).0))
                    .collect(),
                lsoas: 0,
                imd_quintile: (*level == Level::Lsoa).then_some(r.lsoas[i].imd_quintile),
            });
            e.lsoas += 1;
        }
    }
    out.into_values().collect()
}

/// An area named by its code (GSS code where it has one: `E09000012`) or, as an alias, by its
/// name (`Hackney`, any case): its level (the finest that has it), code and name.
pub fn level_of(snap: &Snapshot, code: &str) -> ApiResult<(Level, String, String)> {
    let r = &snap.reference;
    for by_name in [false, true] {
        for level in Level::ALL {
            for i in 0..r.lsoas.len() {
                let (c, n) = r.area(i, level);
                if (!by_name && c == code) || (by_name && n.eq_ignore_ascii_case(code.trim())) {
                    return Ok((level, c, n));
                }
            }
        }
    }
    Err(ApiError::not_found(
        "unknown_area",
        format!("no area '{code}' in this place (GET /api/v1/areas lists them)"),
    ))
}

/// An indicator in the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorJson {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Definition in words.
    pub definition: String,
    /// Source dataset.
    pub source: String,
    /// Measure (rate, dsr, proportion, count...).
    pub measure: String,
    /// Per 100 / 1,000 / 100,000.
    pub multiplier: f64,
    /// Polarity: which direction is better.
    pub polarity: String,
    /// Grain it is meant for.
    pub grain: String,
    /// Breakdowns offered.
    pub breakdowns: Vec<String>,
    /// Counts from 1 to this minus one are withheld below analyst.
    pub disclosure_threshold: u64,
    /// The latest complete period in the data.
    pub latest_period: Option<String>,
    /// The numerator SQL (in `/indicators/{id}` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// Links to this indicator's resources.
    pub links: BTreeMap<String, String>,
}

fn indicator_json(snap: &Snapshot, ind: &IndicatorDef, with_sql: bool) -> IndicatorJson {
    let base = format!("/api/v1/indicators/{}", ind.id);
    IndicatorJson {
        id: ind.id.clone(),
        title: ind.title.clone(),
        definition: ind.definition.clone(),
        source: ind.source.clone(),
        measure: ind.measure.name().into(),
        multiplier: ind.multiplier,
        polarity: format!("{:?}", ind.polarity),
        grain: ind.grain.name().into(),
        breakdowns: ind
            .breakdowns
            .iter()
            .map(|b| b.name().to_string())
            .collect(),
        disclosure_threshold: ind.disclosure_threshold,
        latest_period: latest_period(snap, ind, ind.grain).ok().map(|p| p.label),
        sql: with_sql.then(|| ind.sql.clone()),
        links: [
            ("self", base.clone()),
            ("values", format!("{base}/values?level=ward&period=latest")),
            ("trend", format!("{base}/trend")),
            ("inequalities", format!("{base}/inequalities?period=latest")),
            (
                "extract_csv",
                format!("/api/v1/extracts/ward/{}.csv?period=latest", ind.id),
            ),
            (
                "chart_trend",
                format!("/api/v1/charts/trend/{}.png", ind.id),
            ),
        ]
        .into_iter()
        .chain(
            ind.fingertips
                .is_some()
                .then(|| ("published", format!("{base}/published"))),
        )
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
    }
}

/// The indicator catalogue.
#[utoipa::path(get, path = "/api/v1/indicators", tag = "indicators",
    responses((status = 200, body = [IndicatorJson])))]
pub async fn catalogue(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let st = state.clone();
    cached(&state, &caller, &headers, "catalogue", async move {
        let snap = st.snapshot();
        let list: Vec<IndicatorJson> = st
            .indicators
            .iter()
            .map(|i| indicator_json(&snap, i, false))
            .collect();
        Ok((JSON, json_bytes(&list)?))
    })
    .await
}

/// One indicator with its metadata and the SQL that defines it.
#[utoipa::path(get, path = "/api/v1/indicators/{id}", tag = "indicators",
    params(("id" = String, Path, description = "indicator id")),
    responses((status = 200, body = IndicatorJson), (status = 404, body = ErrorBody)))]
pub async fn indicator(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<IndicatorJson>> {
    let ind = state.indicator(&id)?;
    Ok(axum::Json(indicator_json(&state.snapshot(), ind, true)))
}

/// Query of `/values`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ValuesQuery {
    /// `lsoa`, `ward`, `neighbourhood`, `locality` or `place` (default `ward`).
    pub level: Option<String>,
    /// Period labels, comma-separated (`2020-W42`, `2020-04`, `2020-Q2`, `FY2020/21`,
    /// `R12-2020-06`), or `latest` (default): the latest complete period of the indicator's grain.
    pub period: Option<String>,
    /// Breakdown: `imd_quintile`, `imd_decile`, `local_imd_quintile`, `sex`, `age_band`.
    pub by: Option<String>,
    /// Only this area (code).
    pub area: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// Rows per JSON page (default 1,000, at most 10,000; CSV is never paged).
    pub limit: Option<usize>,
    /// Where to continue (from `next_cursor`).
    pub cursor: Option<String>,
}

/// A page of values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValuesPage {
    /// Indicator id.
    pub indicator: String,
    /// Level.
    pub level: String,
    /// Periods.
    pub periods: Vec<String>,
    /// Breakdown (null: none).
    pub breakdown: Option<String>,
    /// Data version of the values.
    pub data_version: String,
    /// Rows.
    pub rows: Vec<ValueJson>,
    /// Cursor of the next page (null: last page).
    pub next_cursor: Option<String>,
}

/// Indicator values by level, period and breakdown, with intervals, comparison, suppression,
/// provisional flag and data version on every row.
#[utoipa::path(get, path = "/api/v1/indicators/{id}/values", tag = "indicators",
    params(("id" = String, Path, description = "indicator id"), ValuesQuery),
    responses((status = 200, body = ValuesPage), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn values(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ValuesQuery>,
) -> ApiResult<Response> {
    let ind = state.indicator(&id)?.clone();
    let format = Format::parse(q.format.as_deref())?;
    let limit = page_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let snap = state.snapshot();
    let level = Level::parse(q.level.as_deref().unwrap_or("ward"))?;
    if let Some(why) = marmot_engine::area::level_problem(&snap.engine, &ind, level) {
        return Err(ApiError::bad("bad_level", why));
    }
    let by = q.by.as_deref().map(Breakdown::parse).transpose()?;
    let periods = parse_periods(&snap, &ind, q.period.as_deref())?;
    // Areas of the place's hierarchy are found by code or name; a sub-ICB (not part of it) is
    // taken by its code, and one the data does not have is a 404 below.
    let area = match &q.area {
        Some(a) if level == Level::SubIcb => Some(a.trim().to_string()),
        Some(a) => Some(level_of(&snap, a)?.1),
        None => None,
    };
    let key = format!(
        "values|{id}|{}|{}|{:?}|{:?}|{:?}|{limit}|{:?}",
        level.name(),
        periods
            .iter()
            .map(|p| p.label.as_str())
            .collect::<Vec<_>>()
            .join(","),
        by,
        q.area,
        format,
        q.cursor
    );
    let st = state.clone();
    let c = caller.clone();
    cached(&state, &caller, &headers, &key, async move {
        let req = ValuesRequest {
            level,
            periods: periods.clone(),
            by,
        };
        let rows = served_values(&st, &snap, &c, &ind, &req).await?;
        let order: BTreeMap<&str, usize> = periods
            .iter()
            .enumerate()
            .map(|(i, p)| (p.label.as_str(), i))
            .collect();
        let key_of = |r: &ValueJson| {
            (
                order.get(r.period.as_str()).copied().unwrap_or(usize::MAX),
                r.area_code.clone(),
                r.category.clone(),
            )
        };
        let after_key = after.as_ref().map(|a| {
            (
                a.first()
                    .and_then(|p| order.get(p.as_str()).copied())
                    .unwrap_or(usize::MAX),
                a.get(1).cloned().unwrap_or_default(),
                a.get(2).cloned().unwrap_or_default(),
            )
        });
        let paged = format == Format::Json;
        if let Some(a) = &area
            && !rows.is_empty()
            && !rows.iter().any(|r| &r.area_code == a)
        {
            return Err(ApiError::not_found(
                "unknown_area",
                format!(
                    "{id} has no values for '{a}' at level {} (it has: {})",
                    level.name(),
                    rows.iter()
                        .map(|r| r.area_code.as_str())
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let mut rows: Vec<ValueJson> = rows
            .into_iter()
            .filter(|r| area.as_ref().is_none_or(|a| &r.area_code == a))
            .filter(|r| !paged || after_key.as_ref().is_none_or(|k| key_of(r) > *k))
            .collect();
        rows.sort_by_key(|r| key_of(r));
        let more = paged && rows.len() > limit;
        if paged {
            rows.truncate(limit);
        }
        let next = match (more, rows.last()) {
            (true, Some(r)) => Some(encode_cursor(&[&r.period, &r.area_code, &r.category])),
            _ => None,
        };
        match format {
            // CSV is the whole result, unpaged: it is for spreadsheets.
            Format::Csv => Ok((CSV, values_csv(&rows)?)),
            Format::Json => {
                let page = ValuesPage {
                    indicator: ind.id.clone(),
                    level: level.name().into(),
                    periods: periods.iter().map(|p| p.label.clone()).collect(),
                    breakdown: by.map(|b| b.name().to_string()),
                    data_version: marmot_engine::indicators::data_version(&snap.engine, &ind),
                    rows,
                    next_cursor: next,
                };
                Ok((JSON, json_bytes(&page)?))
            }
        }
    })
    .await
}

/// Query of `/trend`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TrendQuery {
    /// Area code (default: the place).
    pub area: Option<String>,
    /// Grain: week, month, quarter, financial_year, rolling12 (default: the indicator's).
    pub grain: Option<String>,
    /// First date (YYYY-MM-DD; default: the start of the data).
    pub from: Option<String>,
    /// Last date (default: the end of the latest complete period).
    pub to: Option<String>,
    /// Breakdown.
    pub by: Option<String>,
    /// `json` or `csv`.
    pub format: Option<String>,
}

/// A trend request resolved.
pub struct Trend {
    /// Indicator.
    pub ind: IndicatorDef,
    /// Level of the area.
    pub level: Level,
    /// Area code.
    pub area: String,
    /// Periods.
    pub periods: Vec<Period>,
    /// Breakdown.
    pub by: Option<Breakdown>,
}

/// Resolves a trend request.
pub async fn resolve_trend(
    state: &Shared,
    snap: &Snapshot,
    id: &str,
    q: &TrendQuery,
) -> ApiResult<Trend> {
    let ind = state.indicator(id)?.clone();
    let area = q
        .area
        .clone()
        .unwrap_or_else(|| snap.reference.place.clone());
    let (level, area, _) = level_of(snap, &area)?;
    let grain = q
        .grain
        .as_deref()
        .map(PeriodKind::parse)
        .transpose()?
        .unwrap_or(ind.grain);
    let date = |s: &str| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| ApiError::bad("bad_date", format!("'{s}' is not a date (YYYY-MM-DD)")))
    };
    let last = latest_period(snap, &ind, grain)?;
    let to = q.to.as_deref().map(date).transpose()?.unwrap_or(last.end);
    let first = first_date(snap, &ind).await?;
    let from = q.from.as_deref().map(date).transpose()?.unwrap_or(first);
    if from > to {
        return Err(ApiError::bad("bad_date", "from is after to"));
    }
    let periods: Vec<Period> = Period::series(grain, from, to)
        .into_iter()
        .filter(|p| p.end <= last.end)
        .collect();
    if periods.len() > 400 {
        return Err(ApiError::bad(
            "too_many_periods",
            format!(
                "{} periods asked for; at most 400 per trend (narrow from/to or use a coarser grain)",
                periods.len()
            ),
        ));
    }
    let by = q.by.as_deref().map(Breakdown::parse).transpose()?;
    Ok(Trend {
        ind,
        level,
        area,
        periods,
        by,
    })
}

async fn first_date(snap: &Snapshot, ind: &IndicatorDef) -> ApiResult<chrono::NaiveDate> {
    let c = snap.engine.contract(&ind.source)?;
    let b = snap
        .engine
        .sql(&format!(
            "SELECT CAST(min(\"{}\") AS DATE) FROM \"{}\"",
            c.date_column, c.name
        ))
        .await?;
    crate::state::first_date(&b)
        .ok_or_else(|| ApiError::not_found("no_data", format!("{} has no data", ind.source)))
}

/// The values of a trend.
pub async fn trend_values(state: &Shared, caller: &Caller, t: &Trend) -> ApiResult<Vec<ValueJson>> {
    let snap = state.snapshot();
    let req = ValuesRequest {
        level: t.level,
        periods: t.periods.clone(),
        by: t.by,
    };
    let rows = served_values(state, &snap, caller, &t.ind, &req).await?;
    Ok(rows.into_iter().filter(|r| r.area_code == t.area).collect())
}

/// An area's values over time (a stable "latest" form: no dates gives the whole span).
#[utoipa::path(get, path = "/api/v1/indicators/{id}/trend", tag = "indicators",
    params(("id" = String, Path, description = "indicator id"), TrendQuery),
    responses((status = 200, body = [ValueJson]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn trend(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TrendQuery>,
) -> ApiResult<Response> {
    let format = Format::parse(q.format.as_deref())?;
    let snap = state.snapshot();
    let t = resolve_trend(&state, &snap, &id, &q).await?;
    let key = format!(
        "trend|{id}|{}|{}|{}|{:?}|{:?}",
        t.area,
        t.periods.first().map(|p| p.label.as_str()).unwrap_or(""),
        t.periods.last().map(|p| p.label.as_str()).unwrap_or(""),
        t.by,
        format
    );
    let st = state.clone();
    let c = caller.clone();
    cached(&state, &caller, &headers, &key, async move {
        let rows = trend_values(&st, &c, &t).await?;
        match format {
            Format::Csv => Ok((CSV, values_csv(&rows)?)),
            Format::Json => Ok((JSON, json_bytes(&rows)?)),
        }
    })
    .await
}

/// Query of `/inequalities`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct InequalitiesQuery {
    /// Period(s) or `latest`.
    pub period: Option<String>,
    /// Level (default `place`; LSOA not allowed).
    pub level: Option<String>,
    /// `imd_quintile` (default), `imd_decile` or `local_imd_quintile`.
    pub by: Option<String>,
}

/// An interval estimate.
#[derive(Debug, Serialize, ToSchema)]
pub struct EstimateJson {
    /// Estimate.
    pub value: f64,
    /// 95% lower.
    pub lower_95: f64,
    /// 95% upper.
    pub upper_95: f64,
    /// 99.8% lower.
    pub lower_99_8: f64,
    /// 99.8% upper.
    pub upper_99_8: f64,
}

/// Inequality measures of one area and period.
#[derive(Debug, Serialize, ToSchema)]
pub struct InequalityJson {
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// Period.
    pub period: String,
    /// Breakdown.
    pub breakdown: String,
    /// Quantile values, most deprived first (null: not published or suppressed).
    pub quantile_values: Vec<Option<f64>>,
    /// Slope index of inequality (null when not computed or suppressed).
    pub sii: Option<EstimateJson>,
    /// Relative index of inequality.
    pub rii: Option<EstimateJson>,
    /// Most minus least deprived.
    pub gap_absolute: Option<f64>,
    /// Most over least deprived.
    pub gap_relative: Option<f64>,
    /// How it was computed (or why not).
    pub method: String,
    /// Some quantile value is withheld, so the measures are too.
    pub suppressed: bool,
    /// Data version.
    pub data_version: String,
}

/// Inequality measures (quantile values, SII, RII, gaps) for the caller.
pub async fn inequality_rows(
    state: &Shared,
    caller: &Caller,
    ind: &IndicatorDef,
    level: Level,
    periods: &[Period],
    by: Breakdown,
) -> ApiResult<Vec<InequalityJson>> {
    let snap = state.snapshot();
    if level == Level::Lsoa {
        return Err(ApiError::bad(
            "bad_level",
            "inequalities are measured over areas containing many LSOAs, not one LSOA",
        ));
    }
    if !ind.offers(by) {
        return Err(ApiError::bad(
            "unknown_breakdown",
            format!("indicator {} has no breakdown '{}'", ind.id, by.name()),
        ));
    }
    let rows = marmot_engine::inequalities::inequalities(
        &snap.engine,
        &snap.reference,
        ind,
        level,
        periods,
        by,
    )
    .await?;
    // Which area-periods have a withheld quantile value for this caller.
    let served = served_values(
        state,
        &snap,
        caller,
        ind,
        &ValuesRequest {
            level,
            periods: periods.to_vec(),
            by: Some(by),
        },
    )
    .await?;
    let hidden: std::collections::HashSet<(String, String)> = served
        .iter()
        .filter(|r| r.value.is_none() && r.numerator.is_none())
        .map(|r| (r.area_code.clone(), r.period.clone()))
        .collect();
    let dv = marmot_engine::indicators::data_version(&snap.engine, ind);
    let est = |e: Option<marmot_engine::inequalities::Estimate>| {
        e.map(|e| EstimateJson {
            value: e.value,
            lower_95: e.ci95.0,
            upper_95: e.ci95.1,
            lower_99_8: e.ci99_8.0,
            upper_99_8: e.ci99_8.1,
        })
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let hide = hidden.contains(&(r.area_code.clone(), r.period.clone()));
            InequalityJson {
                area_code: r.area_code,
                area_name: r.area_name,
                period: r.period,
                breakdown: by.name().into(),
                quantile_values: if hide {
                    vec![None; r.quantile_values.len()]
                } else {
                    r.quantile_values
                },
                sii: if hide { None } else { est(r.sii) },
                rii: if hide { None } else { est(r.rii) },
                gap_absolute: if hide { None } else { r.gap_absolute },
                gap_relative: if hide { None } else { r.gap_relative },
                method: r.method,
                suppressed: hide,
                data_version: dv.clone(),
            }
        })
        .collect())
}

/// Inequality measures: values by deprivation quantile, SII and RII with intervals, gaps.
#[utoipa::path(get, path = "/api/v1/indicators/{id}/inequalities", tag = "indicators",
    params(("id" = String, Path, description = "indicator id"), InequalitiesQuery),
    responses((status = 200, body = [InequalityJson]), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn inequalities(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<InequalitiesQuery>,
) -> ApiResult<Response> {
    let ind = state.indicator(&id)?.clone();
    let snap = state.snapshot();
    let level = Level::parse(q.level.as_deref().unwrap_or("place"))?;
    let by = Breakdown::parse(q.by.as_deref().unwrap_or("imd_quintile"))?;
    let periods = parse_periods(&snap, &ind, q.period.as_deref())?;
    let key = format!(
        "ineq|{id}|{}|{}|{}",
        level.name(),
        by.name(),
        periods
            .iter()
            .map(|p| p.label.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    let st = state.clone();
    let c = caller.clone();
    cached(&state, &caller, &headers, &key, async move {
        let rows = inequality_rows(&st, &c, &ind, level, &periods, by).await?;
        Ok((JSON, json_bytes(&rows)?))
    })
    .await
}

/// Re-exported for the router.
pub use http::split_ext;
