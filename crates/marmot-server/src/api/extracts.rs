//! Ward-level extracts for partners: an indicator's ward values, or a partner dataset's counts
//! aggregated to wards, as CSV or Parquet, with a metadata sheet (`.json`): definitions,
//! period, data version, licence and the suppression rules applied. Disclosure control is the
//! same as everywhere (one pattern per indicator and period; for datasets, one per dataset and
//! month covering the totals and every breakdown the contract offers). Row-level data and identifiers never appear. Every download is
//! written to the audit log.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, HeaderValue};
use axum::response::Response;
use marmot_engine::indicators::ValuesRequest;
use marmot_model::{Contract, Level, Period, PeriodKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit;
use crate::auth::{Caller, Role};
use crate::disclosure::{CountTable, PUBLIC_LEVELS, Pattern, protect_tables};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{CSV, JSON, PARQUET, fresh, json_bytes, split_ext};
use crate::state::{Shared, Snapshot};
use crate::values::{ValueJson, parse_periods, served_values, values_csv};

/// Licence of every extract.
pub const LICENCE: &str = "Contains public sector information licensed under the Open Government Licence v3.0 \
(ONS geography, MHCLG IMD 2019, ONS population estimates). Partner data: shared under the place's data-sharing agreement; do not republish small numbers.";

/// Query of an extract.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ExtractQuery {
    /// Period label or `latest` (default).
    pub period: Option<String>,
    /// Dataset extracts: a category column to break counts down by (a column with a fixed list
    /// of allowed values, e.g. `advice_category`).
    pub by: Option<String>,
}

/// The metadata sheet of an extract.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractMetadata {
    /// What it is.
    pub title: String,
    /// Definition.
    pub definition: String,
    /// Source dataset.
    pub source: String,
    /// Period.
    pub period: String,
    /// Table versions it was computed from.
    pub data_version: String,
    /// Licence.
    pub licence: String,
    /// The suppression rules applied for this caller.
    pub suppression: String,
    /// Columns and their meaning.
    pub columns: BTreeMap<String, String>,
    /// Cells withheld in this extract.
    pub suppressed_cells: usize,
    /// Role the extract was made for.
    pub role: String,
}

fn rules(caller: &Caller, threshold: u64) -> String {
    if caller.role.suppressed() {
        format!(
            "Counts from 1 to {} are withheld (primary suppression), and further cells are withheld where a \
             withheld count could otherwise be worked out by subtracting from a total, from another \
             geography level or from another breakdown (complementary suppression). Rates and intervals of \
             withheld counts are withheld too. Withheld cells have suppressed = true and empty values.",
            threshold.saturating_sub(1)
        )
    } else {
        "Unsuppressed (analyst role): do not pass on outside the data-sharing agreement. suppressed = true marks \
         what would be withheld from partners."
            .into()
    }
}

fn unknown_format(ext: &str) -> ApiError {
    ApiError::not_found(
        "unknown_format",
        format!("extracts come as .csv, .parquet or .json (metadata), not .{ext}"),
    )
}

/// Audits the download, then sends it as an attachment.
async fn send(
    state: &Shared,
    caller: &Caller,
    headers: &HeaderMap,
    file: &str,
    detail: &str,
    (content_type, body): (&'static str, Vec<u8>),
) -> ApiResult<Response> {
    audit::record(state, caller, "extract", detail).await?;
    let mut resp = fresh(headers, content_type, body);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    resp.headers_mut().insert(CONTENT_DISPOSITION, disposition);
    Ok(resp)
}

/// An indicator's ward-level values: `{id}.csv`, `{id}.parquet`, or `{id}.json` (metadata).
#[utoipa::path(get, path = "/api/v1/extracts/ward/{file}", tag = "extracts",
    params(("file" = String, Path, description = "`<indicator>.csv`, `<indicator>.parquet` or `<indicator>.json` (metadata sheet)"), ExtractQuery),
    responses((status = 200, description = "CSV, Parquet or the metadata sheet"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn ward_extract(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<ExtractQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Partner, "extracts")?;
    let (id, ext) = split_ext(&file)?;
    let ind = state.indicator(id)?.clone();
    let snap = state.snapshot();
    let periods = parse_periods(&snap, &ind, q.period.as_deref())?;
    let rows = served_values(
        &state,
        &snap,
        &caller,
        &ind,
        &ValuesRequest {
            level: Level::Ward,
            periods: periods.clone(),
            by: None,
        },
    )
    .await?;
    let label = periods
        .iter()
        .map(|p| p.label.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let meta = ExtractMetadata {
        title: format!("{} by ward", ind.title),
        definition: ind.definition.clone(),
        source: ind.source.clone(),
        period: label.clone(),
        data_version: marmot_engine::indicators::data_version(&snap.engine, &ind),
        licence: LICENCE.into(),
        suppression: rules(&caller, ind.disclosure_threshold),
        columns: value_columns(),
        suppressed_cells: rows
            .iter()
            .filter(|r| r.value.is_none() && r.numerator.is_none())
            .count(),
        role: caller.role.name().into(),
    };
    let (ct, body) = match ext.as_str() {
        "csv" => (CSV, values_csv(&rows)?),
        "parquet" => (PARQUET, values_parquet(&rows, &meta)?),
        "json" => (JSON, json_bytes(&meta)?),
        other => return Err(unknown_format(other)),
    };
    let detail = format!("ward/{file} period={label}");
    send(&state, &caller, &headers, &file, &detail, (ct, body)).await
}

fn value_columns() -> BTreeMap<String, String> {
    [
        ("area_code", "ward code (ONS WD20)"),
        ("value", "the indicator value (empty when suppressed)"),
        ("lower_95 / upper_95", "95% confidence interval"),
        ("lower_99_8 / upper_99_8", "99.8% confidence interval"),
        ("numerator", "events counted (empty when suppressed)"),
        ("denominator", "population or dataset total"),
        (
            "comparison",
            "against the parent area at 95%: Higher, Similar, Lower",
        ),
        (
            "judgement",
            "Better, Similar or Worse by the indicator's polarity",
        ),
        ("suppressed", "withheld by disclosure control"),
        (
            "provisional",
            "the period is within the latest four weeks of data",
        ),
        ("data_version", "table versions the value was computed from"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn write_parquet(batch: &RecordBatch, meta: &ExtractMetadata) -> ApiResult<Vec<u8>> {
    use parquet::arrow::ArrowWriter;
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "marmot.extract".to_string(),
            serde_json::to_string(meta).map_err(|e| ApiError::Internal(e.to_string()))?,
        )]))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))
        .map_err(|e| ApiError::Internal(format!("parquet: {e}")))?;
    w.write(batch)
        .map_err(|e| ApiError::Internal(format!("parquet: {e}")))?;
    w.close()
        .map_err(|e| ApiError::Internal(format!("parquet: {e}")))?;
    Ok(buf)
}

fn values_parquet(rows: &[ValueJson], meta: &ExtractMetadata) -> ApiResult<Vec<u8>> {
    let s = |f: &dyn Fn(&ValueJson) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let o = |f: &dyn Fn(&ValueJson) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let b = |f: &dyn Fn(&ValueJson) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("indicator_id", s(&|r| r.indicator_id.clone())),
        ("level", s(&|r| r.level.clone())),
        ("area_code", s(&|r| r.area_code.clone())),
        ("area_name", s(&|r| r.area_name.clone())),
        ("period", s(&|r| r.period.clone())),
        ("value", o(&|r| r.value)),
        ("lower_95", o(&|r| r.lower_95)),
        ("upper_95", o(&|r| r.upper_95)),
        ("lower_99_8", o(&|r| r.lower_99_8)),
        ("upper_99_8", o(&|r| r.upper_99_8)),
        ("numerator", o(&|r| r.numerator)),
        ("denominator", o(&|r| Some(r.denominator))),
        ("method", s(&|r| r.method.clone())),
        ("benchmark", o(&|r| r.benchmark)),
        ("comparison", s(&|r| r.comparison.clone())),
        ("comparison_99_8", s(&|r| r.comparison_99_8.clone())),
        ("judgement", s(&|r| r.judgement.clone())),
        ("suppressed", b(&|r| r.suppressed)),
        ("provisional", b(&|r| r.provisional)),
        ("data_version", s(&|r| r.data_version.clone())),
    ];
    let schema = Schema::new(
        cols.iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|c| c.1).collect())
        .map_err(|e| ApiError::Internal(format!("arrow: {e}")))?;
    write_parquet(&batch, meta)
}

/// One row of a dataset extract.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct CountRow {
    /// Level (ward, neighbourhood, locality, place).
    pub level: String,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// Period.
    pub period: String,
    /// Category column (empty: none).
    pub breakdown: String,
    /// Category.
    pub category: String,
    /// Records (or the dataset's `count` column summed); empty when suppressed.
    pub count: Option<f64>,
    /// Withheld by disclosure control.
    pub suppressed: bool,
    /// Table versions.
    pub data_version: String,
}

/// The columns a dataset may be broken down by: a fixed list of allowed values, not an
/// identifier.
fn offered_breakdowns(c: &Contract) -> Vec<&str> {
    c.columns
        .iter()
        .filter(|col| col.allowed.is_some() && !col.identifier)
        .map(|col| col.name.as_str())
        .collect()
}

/// A dataset's counts in a period by LSOA and every offered breakdown at once:
/// (LSOA, one category per breakdown, count). One query serves the totals and every breakdown,
/// so they all come from the same rows.
async fn dataset_cells(
    snap: &Snapshot,
    c: &Contract,
    breakdowns: &[&str],
    period: &Period,
) -> ApiResult<Vec<(String, Vec<String>, f64)>> {
    let count_expr = match c.count() {
        Some(col) => format!("sum(\"{}\")", col.name),
        None => "count(*)".to_string(),
    };
    let cats: String = breakdowns
        .iter()
        .enumerate()
        .map(|(i, b)| format!(", CAST(\"{b}\" AS VARCHAR) AS c{i}"))
        .collect();
    // lsoa is column 1, n column 2, the categories from column 3.
    let group: String = (0..breakdowns.len())
        .map(|i| format!(", {}", i + 3))
        .collect();
    let sql = format!(
        "SELECT \"{geo}\" AS lsoa, CAST({count_expr} AS DOUBLE) AS n{cats} \
         FROM \"{t}\" WHERE \"{d}\" >= DATE '{from}' AND \"{d}\" <= DATE '{to}' GROUP BY 1{group}",
        geo = c.geography_column,
        t = c.name,
        d = c.date_column,
        from = period.start,
        to = period.end,
    );
    let batches = snap.engine.sql(&sql).await?;
    let json = crate::api::sql::batches_json(&batches)?;
    Ok(json
        .into_iter()
        .filter_map(|row| {
            let lsoa = row["lsoa"].as_str()?.to_string();
            let n = row["n"].as_f64()?;
            let cats = (0..breakdowns.len())
                .map(|i| row[format!("c{i}")].as_str().unwrap_or("").to_string())
                .collect();
            Some((lsoa, cats, n))
        })
        .collect())
}

/// Cells rolled up to every public level for one breakdown (`None`: totals), with every
/// allowed category present (zeros too): (level, area code, area name, category, count).
fn roll_up(
    snap: &Snapshot,
    c: &Contract,
    cells: &[(String, Vec<String>, f64)],
    breakdowns: &[&str],
    by: Option<&str>,
) -> Vec<(Level, String, String, String, f64)> {
    let r = &snap.reference;
    let index = by.and_then(|b| breakdowns.iter().position(|x| *x == b));
    let allowed: Vec<String> = by
        .and_then(|b| c.column(b))
        .and_then(|col| col.allowed.clone())
        .unwrap_or_else(|| vec![String::new()]);
    let mut acc: BTreeMap<(usize, String), BTreeMap<String, f64>> = BTreeMap::new();
    let mut names: BTreeMap<(usize, String), String> = BTreeMap::new();
    for i in 0..r.lsoas.len() {
        for (li, level) in PUBLIC_LEVELS.iter().enumerate() {
            let (code, name) = r.area(i, *level);
            names.entry((li, code.clone())).or_insert(name);
            let e = acc.entry((li, code)).or_default();
            for a in &allowed {
                e.entry(a.clone()).or_insert(0.0);
            }
        }
    }
    for (lsoa, cats, n) in cells {
        let Some(i) = r.lsoa_index(lsoa) else {
            continue;
        };
        let cat = index.map(|k| cats[k].clone()).unwrap_or_default();
        for (li, level) in PUBLIC_LEVELS.iter().enumerate() {
            *acc.entry((li, r.area(i, *level).0))
                .or_default()
                .entry(cat.clone())
                .or_insert(0.0) += n;
        }
    }
    let mut out = Vec::new();
    for ((li, code), cats) in acc {
        let name = names.get(&(li, code.clone())).cloned().unwrap_or_default();
        for (cat, n) in cats {
            out.push((PUBLIC_LEVELS[li], code.clone(), name.clone(), cat, n));
        }
    }
    out
}

/// The one suppression pattern of a dataset in a month: every public level, without a
/// breakdown and by every breakdown the contract offers, protected together, so that no
/// extract a partner can download (whatever `by=`) publishes a cell another withholds. Cached
/// by data version like the indicators' patterns.
fn dataset_pattern(
    state: &Shared,
    snap: &Snapshot,
    c: &Contract,
    cells: &[(String, Vec<String>, f64)],
    breakdowns: &[&str],
    period: &Period,
) -> ApiResult<Arc<Pattern>> {
    let key = format!("dataset:{}|{}|{}", c.name, period.label, snap.versions);
    if let Some(p) = state
        .patterns
        .lock()
        .ok()
        .and_then(|m| m.get(&key).cloned())
    {
        return Ok(p);
    }
    let mut tables = Vec::new();
    for by in std::iter::once(None).chain(breakdowns.iter().copied().map(Some)) {
        let rows = roll_up(snap, c, cells, breakdowns, by);
        for level in PUBLIC_LEVELS {
            tables.push(CountTable {
                level,
                by: by.unwrap_or("").to_string(),
                cells: rows
                    .iter()
                    .filter(|r| r.0 == level)
                    .map(|r| (r.1.clone(), r.3.clone(), r.4, None))
                    .collect(),
            });
        }
    }
    let pattern = Arc::new(protect_tables(
        &snap.reference,
        &tables,
        state.config.disclosure_threshold,
    ));
    state
        .patterns
        .lock()
        .map_err(|_| ApiError::Internal("pattern cache poisoned".into()))?
        .insert(key, pattern.clone());
    Ok(pattern)
}

/// A partner dataset aggregated to wards (and localities and the place, so totals are there):
/// `{dataset}.csv`, `.parquet` or `.json` (metadata).
#[utoipa::path(get, path = "/api/v1/extracts/datasets/{file}", tag = "extracts",
    params(("file" = String, Path, description = "`<dataset>.csv`, `<dataset>.parquet` or `<dataset>.json`"), ExtractQuery),
    responses((status = 200, description = "CSV, Parquet or the metadata sheet"), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn dataset_extract(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<ExtractQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Partner, "extracts")?;
    let (name, ext) = split_ext(&file)?;
    let c = state.snapshot().engine.contract(name)?.clone();
    if c.area_kind() != marmot_model::AreaKind::Lsoa {
        return Err(ApiError::bad(
            "not_by_lsoa",
            format!(
                "{name} is published by {} (an area that may be larger than the place), so it                  has no ward-level extract; its indicators are served at that level",
                c.area_kind().describe()
            ),
        ));
    }
    let breakdowns = offered_breakdowns(&c);
    if let Some(b) = &q.by
        && !breakdowns.contains(&b.as_str())
    {
        return Err(ApiError::bad(
            "unknown_breakdown",
            format!(
                "{name} cannot be broken down by '{b}' (offered: {})",
                breakdowns.join(", ")
            ),
        ));
    }
    let snap = state.snapshot();
    if !snap.engine.tables().iter().any(|t| t.name == c.name) {
        return Err(ApiError::not_found(
            "no_data",
            format!("{name} has no data yet"),
        ));
    }
    let period = match q.period.as_deref() {
        None | Some("latest") => {
            let end = crate::values::data_end(&snap, &c.name)?;
            crate::values::complete_period(PeriodKind::Month, end)
                .ok_or_else(|| ApiError::Internal(format!("no complete month before {end}")))?
        }
        Some(s) => Period::parse(s).map_err(|e| ApiError::bad("bad_period", e.to_string()))?,
    };
    if caller.role.suppressed() && period.kind != PeriodKind::Month {
        return Err(ApiError::Forbidden(format!(
            "dataset extracts are by calendar month below the analyst role, not {}: periods of \
             different lengths nest, and comparing them would undo small-number suppression",
            period.label
        )));
    }
    let cells = dataset_cells(&snap, &c, &breakdowns, &period).await?;
    let counts = roll_up(&snap, &c, &cells, &breakdowns, q.by.as_deref());
    let threshold = state.config.disclosure_threshold;
    let pattern = if caller.role.suppressed() {
        Some(dataset_pattern(
            &state,
            &snap,
            &c,
            &cells,
            &breakdowns,
            &period,
        )?)
    } else {
        None
    };
    let dv = format!(
        "{}@{}",
        c.name,
        snap.version_of(&c.name).unwrap_or_default()
    );
    let by = q.by.clone().unwrap_or_default();
    let rows: Vec<CountRow> = counts
        .iter()
        .map(|(level, code, area_name, cat, n)| {
            let hide = pattern
                .as_ref()
                .is_some_and(|p| p.hides_cell(*level, code, &by, cat));
            CountRow {
                level: level.name().into(),
                area_code: code.clone(),
                area_name: area_name.clone(),
                period: period.label.clone(),
                breakdown: by.clone(),
                category: cat.clone(),
                count: (!hide).then_some(*n),
                suppressed: hide,
                data_version: dv.clone(),
            }
        })
        .collect();
    let meta = ExtractMetadata {
        title: format!("{} aggregated to wards, localities and the place", c.title),
        definition: c.description.clone(),
        source: c.name.clone(),
        period: period.label.clone(),
        data_version: dv.clone(),
        licence: LICENCE.into(),
        suppression: rules(&caller, threshold),
        columns: [
            (
                "count",
                "records in the period (the dataset's count column summed where it has one)",
            ),
            ("category", "the value of the breakdown column"),
            ("suppressed", "withheld by disclosure control"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        suppressed_cells: rows.iter().filter(|r| r.suppressed).count(),
        role: caller.role.name().into(),
    };
    let (ct, body) = match ext.as_str() {
        "csv" => {
            let mut w = csv::Writer::from_writer(Vec::new());
            for r in &rows {
                w.serialize(r)
                    .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
            }
            (
                CSV,
                w.into_inner()
                    .map_err(|e| ApiError::Internal(format!("csv: {e}")))?,
            )
        }
        "parquet" => {
            let s = |f: &dyn Fn(&CountRow) -> String| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
            };
            let schema = Schema::new(vec![
                Field::new("level", DataType::Utf8, false),
                Field::new("area_code", DataType::Utf8, false),
                Field::new("area_name", DataType::Utf8, false),
                Field::new("period", DataType::Utf8, false),
                Field::new("breakdown", DataType::Utf8, false),
                Field::new("category", DataType::Utf8, false),
                Field::new("count", DataType::Float64, true),
                Field::new("suppressed", DataType::Boolean, false),
                Field::new("data_version", DataType::Utf8, false),
            ]);
            let batch = RecordBatch::try_new(
                Arc::new(schema),
                vec![
                    s(&|r| r.level.clone()),
                    s(&|r| r.area_code.clone()),
                    s(&|r| r.area_name.clone()),
                    s(&|r| r.period.clone()),
                    s(&|r| r.breakdown.clone()),
                    s(&|r| r.category.clone()),
                    Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.count))),
                    Arc::new(BooleanArray::from(
                        rows.iter().map(|r| r.suppressed).collect::<Vec<_>>(),
                    )),
                    s(&|r| r.data_version.clone()),
                ],
            )
            .map_err(|e| ApiError::Internal(format!("arrow: {e}")))?;
            (PARQUET, write_parquet(&batch, &meta)?)
        }
        "json" => (JSON, json_bytes(&meta)?),
        other => return Err(unknown_format(other)),
    };
    let detail = format!("datasets/{file} period={} by={by}", period.label);
    send(&state, &caller, &headers, &file, &detail, (ct, body)).await
}
