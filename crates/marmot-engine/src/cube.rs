//! The indicator cube: every indicator x level x period x breakdown, materialised as the Delta
//! table `cube/indicator_values` (registered for SQL as `indicator_values`), each row stamped
//! with the data version it was computed from.
//!
//! - **What it holds.** For each indicator, over the span of its data: every month, quarter and
//!   financial year (and every ISO week for weekly indicators); all five levels without a
//!   breakdown; each offered breakdown at place, locality and neighbourhood level (weekly: place).
//!   Other requests (rolling 12 months, breakdowns of small areas) are computed live.
//! - **Incremental.** One data file per indicator. A refresh recomputes only indicators whose data
//!   version (their source table's and the reference tables' Delta versions) changed, and
//!   replaces their files in one atomic commit.
//! - **Reads.** [`lookup`] answers a request from the cube when every period asked for is there
//!   at the current data version; otherwise the caller computes live.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use marmot_lake::Lake;
use marmot_lake::ingest::Progress;
use marmot_lake::store::{self, TableWriter, table_files};
use marmot_model::{Breakdown, IndicatorDef, Level, Period, PeriodKind};
use marmot_stats::BenchmarkComparison;

use crate::indicators::{
    Reference, Templates, ValueRow, ValuesRequest, categories, data_version, fetch_cells,
    values_from_cells,
};
use crate::{Engine, EngineError};

/// Lake path of the cube table.
pub const CUBE_PATH: &str = "cube/indicator_values";
/// SQL name of the cube table.
pub const CUBE_TABLE: &str = "indicator_values";

/// Schema of the cube.
pub fn cube_schema() -> SchemaRef {
    let s = |n: &str| Field::new(n, DataType::Utf8, false);
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        s("indicator_id"),
        s("level"),
        s("area_code"),
        s("area_name"),
        s("period"),
        s("period_kind"),
        s("breakdown"),
        s("category"),
        f("value"),
        f("lower_95"),
        f("upper_95"),
        f("lower_99_8"),
        f("upper_99_8"),
        f("numerator"),
        f("denominator"),
        s("method"),
        f("benchmark"),
        s("comparison"),
        s("comparison_99_8"),
        s("judgement"),
        Field::new("suppressed", DataType::Boolean, false),
        s("data_version"),
    ]))
}

fn batch(
    rows: &[ValueRow],
    kinds: &HashMap<String, PeriodKind>,
    by: Option<Breakdown>,
    dv: &str,
) -> Result<RecordBatch, EngineError> {
    let s = |f: &dyn Fn(&ValueRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let o = |f: &dyn Fn(&ValueRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let cols: Vec<ArrayRef> = vec![
        s(&|r| r.indicator_id.clone()),
        s(&|r| r.level.to_string()),
        s(&|r| r.area_code.clone()),
        s(&|r| r.area_name.clone()),
        s(&|r| r.period.clone()),
        s(&|r| {
            kinds
                .get(&r.period)
                .map(|k| k.name())
                .unwrap_or("")
                .to_string()
        }),
        s(&|_| by.map(|b| b.name()).unwrap_or("").to_string()),
        s(&|r| r.category.clone()),
        o(&|r| r.value),
        o(&|r| r.ci95.map(|c| c.0)),
        o(&|r| r.ci95.map(|c| c.1)),
        o(&|r| r.ci99_8.map(|c| c.0)),
        o(&|r| r.ci99_8.map(|c| c.1)),
        o(&|r| Some(r.numerator)),
        o(&|r| Some(r.denominator)),
        s(&|r| r.method.clone()),
        o(&|r| r.benchmark),
        s(&|r| r.comparison.label().to_string()),
        s(&|r| r.comparison_99_8.label().to_string()),
        s(&|r| r.judgement.clone()),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.suppressed).collect::<Vec<_>>(),
        )),
        s(&|_| dv.to_string()),
    ];
    RecordBatch::try_new(cube_schema(), cols).map_err(|e| EngineError::Execution(e.to_string()))
}

/// What the cube stores in its `data_version` column and matches on: the indicator's data
/// version and a fingerprint of its definition (`;definition=` and 16 hex digits), so that an
/// edited indicator file (its SQL, denominator, method, ...) is never answered from values
/// computed under the old definition. The data version shown to users comes from
/// [`data_version`] alone.
pub fn cube_key(engine: &Engine, ind: &IndicatorDef) -> String {
    format!(
        "{};definition={:016x}",
        data_version(engine, ind),
        definition_fingerprint(ind)
    )
}

/// FNV-1a (64-bit) of the parsed definition: stable across runs and builds of one Marmot
/// version (a change of its layout between versions only recomputes the cube).
fn definition_fingerprint(ind: &IndicatorDef) -> u64 {
    format!("{ind:?}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

/// What a refresh did.
#[derive(Debug, Clone, Default)]
pub struct CubeReport {
    /// Indicators recomputed, with their row counts.
    pub computed: Vec<(String, usize)>,
    /// Indicators whose data and definition had not changed.
    pub unchanged: Vec<String>,
    /// Cube table version committed (None when nothing changed).
    pub version: Option<u64>,
    /// Where the time went.
    pub phases: CubePhases,
}

/// Time spent in each phase of a refresh, summed over the indicators recomputed (two are
/// computed at once, so the sum of the first four can exceed the wall time).
#[derive(Debug, Clone, Copy, Default)]
pub struct CubePhases {
    /// The indicators' numerator SQL in DataFusion, grouped by LSOA, period and category.
    pub numerators: std::time::Duration,
    /// Roll-ups to every level and period, denominators, standardisation, intervals and
    /// comparisons (Marmot's own arithmetic).
    pub statistics: std::time::Duration,
    /// Turning the rows into Arrow batches of the cube's schema.
    pub batches: std::time::Duration,
    /// Encoding and writing the Parquet files.
    pub write: std::time::Duration,
    /// The Delta commit of every indicator's files at once.
    pub commit: std::time::Duration,
}

impl CubePhases {
    fn add(&mut self, o: &CubePhases) {
        self.numerators += o.numerators;
        self.statistics += o.statistics;
        self.batches += o.batches;
        self.write += o.write;
        self.commit += o.commit;
    }
}

impl std::fmt::Display for CubePhases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "numerator SQL {:.1} s, roll-ups and statistics {:.1} s, Arrow batches {:.1} s, \
             Parquet write {:.1} s, Delta commit {:.1} s",
            self.numerators.as_secs_f64(),
            self.statistics.as_secs_f64(),
            self.batches.as_secs_f64(),
            self.write.as_secs_f64(),
            self.commit.as_secs_f64()
        )
    }
}

/// Cube key (see [`cube_key`]) and files of each indicator in the current cube.
fn current(files: &[store::DataFile]) -> HashMap<String, (String, Vec<usize>)> {
    let mut m: HashMap<String, (String, Vec<usize>)> = HashMap::new();
    for (i, f) in files.iter().enumerate() {
        let get = |which: &str, col: &str| {
            f.stats
                .as_ref()
                .and_then(|s| s.get(which))
                .and_then(|v| v.get(col))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        if let (Some(id), Some(dv)) = (
            get("minValues", "indicator_id"),
            get("minValues", "data_version"),
        ) {
            m.entry(id).or_insert_with(|| (dv, Vec::new())).1.push(i);
        }
    }
    m
}

/// The period groups the cube holds for an indicator over a span (one group per bucket kind).
pub fn cube_periods(ind: &IndicatorDef, from: NaiveDate, to: NaiveDate) -> Vec<Vec<Period>> {
    let mut month_based = Vec::new();
    for kind in [
        PeriodKind::Month,
        PeriodKind::Quarter,
        PeriodKind::FinancialYear,
    ] {
        month_based.extend(Period::series(kind, from, to));
    }
    let mut groups = vec![month_based];
    if ind.grain == PeriodKind::Week {
        groups.push(Period::series(PeriodKind::Week, from, to));
    }
    groups
}

/// Recomputes the cube for indicators whose data or definition changed; one atomic commit.
pub async fn refresh(
    engine: &Engine,
    lake: &Lake,
    indicators: &[IndicatorDef],
    progress: &dyn Progress,
) -> Result<CubeReport, EngineError> {
    use futures::StreamExt;
    let reference = Arc::new(Reference::load(engine).await?);
    let existing = lake.load_table(CUBE_PATH, None).await?;
    let files = match &existing {
        Some(t) => table_files(t, "indicator_values")?,
        None => Vec::new(),
    };
    let have = current(&files);
    let mut report = CubeReport::default();
    let mut removes = Vec::new();
    let stamp = marmot_lake::ingest::new_ingest_id();
    let mut todo = Vec::new();
    for ind in indicators {
        let dv = cube_key(engine, ind);
        if !engine.tables().iter().any(|t| t.name == ind.source) {
            continue;
        }
        if have.get(&ind.id).is_some_and(|(v, _)| *v == dv) {
            report.unchanged.push(ind.id.clone());
            continue;
        }
        if let Some((_, idx)) = have.get(&ind.id) {
            removes.extend(idx.iter().map(|&i| files[i].remove.clone()));
        }
        todo.push((ind, dv));
    }
    // Indicators are independent: two at a time, so DataFusion's scans of one overlap the
    // roll-up arithmetic of the other.
    progress.begin("indicator cube", todo.len() as u64);
    let mut done = 0u64;
    let mut results = futures::stream::iter(todo.into_iter().map(|(ind, dv)| {
        let reference = reference.clone();
        let stamp = stamp.clone();
        async move { refresh_one(engine, lake, reference, ind, dv, &stamp).await }
    }))
    .buffer_unordered(2);
    let mut adds = Vec::new();
    while let Some(r) = results.next().await {
        let (id, rows, a, phases) = r?;
        report.phases.add(&phases);
        adds.extend(a);
        report.computed.push((id, rows));
        done += 1;
        progress.advance_to(done);
    }
    drop(results);
    progress.end();
    report.computed.sort();
    if adds.is_empty() && removes.is_empty() {
        return Ok(report);
    }
    let mut table = lake
        .open_or_create_table(CUBE_PATH, CUBE_TABLE, &cube_schema())
        .await?;
    let meta = serde_json::json!({
        "cube": {"computed": report.computed.iter().map(|(i, n)| serde_json::json!({"indicator": i, "rows": n})).collect::<Vec<_>>(), "unchanged": report.unchanged.len()}
    });
    let started = Instant::now();
    report.version = Some(store::commit(&mut table, CUBE_TABLE, adds, removes, meta, None).await?);
    report.phases.commit = started.elapsed();
    Ok(report)
}

/// One indicator's part of the cube: its id, rows, files (not yet committed) and timings.
type Computed = (String, usize, Vec<deltalake::kernel::Add>, CubePhases);

/// Computes and writes one indicator's part of the cube (not yet committed).
async fn refresh_one(
    engine: &Engine,
    lake: &Lake,
    reference: Arc<Reference>,
    ind: &IndicatorDef,
    dv: String,
    stamp: &str,
) -> Result<Computed, EngineError> {
    if crate::area::is_area_indicator(engine, ind) {
        return refresh_area(engine, lake, ind, dv, stamp).await;
    }
    // Monthly cells over every month a row may have (2000 to a year from now): the span of the
    // data comes from them, so no separate scan is needed.
    let today = chrono::Utc::now().date_naive();
    let horizon = today + chrono::Days::new(366);
    let all_months = Period::series(
        PeriodKind::Month,
        NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or(today),
        horizon,
    );
    let mut phases = CubePhases::default();
    let started = Instant::now();
    let monthly = Arc::new(fetch_cells(engine, &reference, ind, &all_months).await?);
    phases.numerators += started.elapsed();
    let Some((from, to)) = monthly.span() else {
        return Ok((ind.id.clone(), 0, Vec::new(), phases));
    };
    let mut writer = TableWriter::new(
        lake.table_store(CUBE_PATH),
        cube_schema(),
        &format!("{}-{stamp}", ind.id),
    );
    let mut rows_written = 0;
    for group in cube_periods(ind, from, to) {
        if group.is_empty() {
            continue;
        }
        let weekly = group.iter().all(|p| p.kind == PeriodKind::Week);
        let cells = if weekly {
            let started = Instant::now();
            let c = Arc::new(fetch_cells(engine, &reference, ind, &group).await?);
            phases.numerators += started.elapsed();
            c
        } else {
            monthly.clone()
        };
        let (reference, ind_owned, dv) = (reference.clone(), ind.clone(), dv.clone());
        // The roll-up is CPU work: keep it off the async workers DataFusion needs.
        let batches = tokio::task::spawn_blocking(
            move || -> Result<(usize, Vec<RecordBatch>, CubePhases), EngineError> {
                let mut phases = CubePhases::default();
                let kinds: HashMap<String, PeriodKind> =
                    group.iter().map(|p| (p.label.clone(), p.kind)).collect();
                let mut cache = Templates::default();
                let mut requests: Vec<(Level, Option<Breakdown>)> = Level::ALL
                    .iter()
                    .filter(|l| !(weekly && **l == Level::Lsoa))
                    .map(|l| (*l, None))
                    .collect();
                let breakdown_levels: &[Level] = if weekly {
                    &[Level::Place]
                } else {
                    &[Level::Place, Level::Locality, Level::Neighbourhood]
                };
                for l in breakdown_levels {
                    for b in &ind_owned.breakdowns {
                        requests.push((*l, Some(*b)));
                    }
                }
                let mut out = Vec::new();
                let mut n = 0;
                for (level, by) in requests {
                    let req = ValuesRequest {
                        level,
                        periods: group.clone(),
                        by,
                    };
                    let started = Instant::now();
                    let rows = values_from_cells(&reference, &ind_owned, &cells, &req, &mut cache)?;
                    phases.statistics += started.elapsed();
                    n += rows.len();
                    let started = Instant::now();
                    out.push(batch(&rows, &kinds, by, &dv)?);
                    phases.batches += started.elapsed();
                }
                Ok((n, out, phases))
            },
        )
        .await
        .map_err(|e| EngineError::Execution(format!("cube worker: {e}")))??;
        rows_written += batches.0;
        phases.add(&batches.2);
        let started = Instant::now();
        for b in &batches.1 {
            writer.write(b).await?;
        }
        phases.write += started.elapsed();
    }
    let started = Instant::now();
    let (adds, _) = writer.finish().await?;
    phases.write += started.elapsed();
    Ok((ind.id.clone(), rows_written, adds, phases))
}

/// One area indicator's part of the cube (data published by sub-ICB: one level, no
/// breakdowns; see [`crate::area`]).
async fn refresh_area(
    engine: &Engine,
    lake: &Lake,
    ind: &IndicatorDef,
    dv: String,
    stamp: &str,
) -> Result<Computed, EngineError> {
    let level = crate::area::level_of(crate::area::area_kind(engine, ind));
    let mut phases = CubePhases::default();
    let started = Instant::now();
    let cells = crate::area::fetch(engine, ind).await?;
    phases.numerators += started.elapsed();
    let Some((from, to)) = cells.span() else {
        return Ok((ind.id.clone(), 0, Vec::new(), phases));
    };
    let mut writer = TableWriter::new(
        lake.table_store(CUBE_PATH),
        cube_schema(),
        &format!("{}-{stamp}", ind.id),
    );
    let mut rows_written = 0;
    for group in cube_periods(ind, from, to) {
        let kinds: HashMap<String, PeriodKind> =
            group.iter().map(|p| (p.label.clone(), p.kind)).collect();
        let started = Instant::now();
        let rows = crate::area::rows(ind, level, &cells, &group);
        phases.statistics += started.elapsed();
        if rows.is_empty() {
            continue;
        }
        rows_written += rows.len();
        let started = Instant::now();
        let b = batch(&rows, &kinds, None, &dv)?;
        phases.batches += started.elapsed();
        let started = Instant::now();
        writer.write(&b).await?;
        phases.write += started.elapsed();
    }
    let started = Instant::now();
    let (adds, _) = writer.finish().await?;
    phases.write += started.elapsed();
    Ok((ind.id.clone(), rows_written, adds, phases))
}

fn comparison(label: &str) -> BenchmarkComparison {
    match label {
        "Higher" => BenchmarkComparison::Higher,
        "Similar" => BenchmarkComparison::Similar,
        "Lower" => BenchmarkComparison::Lower,
        _ => BenchmarkComparison::NotCompared,
    }
}

/// Answers a request from the cube, when every requested period is there at the current data
/// version; `None` means "compute it live".
pub async fn lookup(
    engine: &Engine,
    ind: &IndicatorDef,
    req: &ValuesRequest,
) -> Result<Option<Vec<ValueRow>>, EngineError> {
    if !engine.tables().iter().any(|t| t.name == CUBE_TABLE) {
        return Ok(None);
    }
    let quote = |s: &str| s.replace('\'', "''");
    let periods: Vec<String> = req
        .periods
        .iter()
        .map(|p| format!("'{}'", quote(&p.label)))
        .collect();
    let sql = format!(
        "SELECT * FROM {CUBE_TABLE} WHERE indicator_id = '{}' AND level = '{}' AND breakdown = '{}' AND data_version = '{}' AND period IN ({}) ORDER BY area_code, period, category",
        quote(&ind.id),
        req.level.name(),
        req.by.map(|b| b.name()).unwrap_or(""),
        quote(&cube_key(engine, ind)),
        periods.join(", ")
    );
    let batches = engine.sql(&sql).await?;
    let mut rows = Vec::new();
    for b in &batches {
        let s = |n: &str| {
            b.column_by_name(n)
                .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                .ok_or_else(|| EngineError::Execution(format!("cube column {n}")))
        };
        let f = |n: &str| {
            b.column_by_name(n)
                .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
                .ok_or_else(|| EngineError::Execution(format!("cube column {n}")))
        };
        let (code, name, period, cat, method, cmp, cmp998, judgement) = (
            s("area_code")?,
            s("area_name")?,
            s("period")?,
            s("category")?,
            s("method")?,
            s("comparison")?,
            s("comparison_99_8")?,
            s("judgement")?,
        );
        let (value, l95, u95, l998, u998, num, den, bench) = (
            f("value")?,
            f("lower_95")?,
            f("upper_95")?,
            f("lower_99_8")?,
            f("upper_99_8")?,
            f("numerator")?,
            f("denominator")?,
            f("benchmark")?,
        );
        let sup = b
            .column_by_name("suppressed")
            .and_then(|c| c.as_any().downcast_ref::<BooleanArray>())
            .ok_or_else(|| EngineError::Execution("cube column suppressed".into()))?;
        let opt = |a: &Float64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..b.num_rows() {
            rows.push(ValueRow {
                indicator_id: ind.id.clone(),
                level: req.level.name(),
                area_code: code.value(i).into(),
                area_name: name.value(i).into(),
                period: period.value(i).into(),
                category: cat.value(i).into(),
                value: opt(value, i),
                ci95: opt(l95, i).zip(opt(u95, i)),
                ci99_8: opt(l998, i).zip(opt(u998, i)),
                numerator: num.value(i),
                denominator: den.value(i),
                method: method.value(i).into(),
                benchmark: opt(bench, i),
                comparison: comparison(cmp.value(i)),
                comparison_99_8: comparison(cmp998.value(i)),
                judgement: judgement.value(i).into(),
                suppressed: sup.value(i),
            });
        }
    }
    let found: std::collections::HashSet<&str> = rows.iter().map(|r| r.period.as_str()).collect();
    if found.len() != req.periods.len() {
        return Ok(None);
    }
    // Same order as a live computation: period by period, then area and category.
    let order: HashMap<&str, usize> = req
        .periods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.label.as_str(), i))
        .collect();
    let cats = categories(ind, req.by);
    let cat_order = |c: &str| cats.iter().position(|x| x == c);
    rows.sort_by(|a, b| {
        (
            order.get(a.period.as_str()),
            &a.area_code,
            cat_order(&a.category),
        )
            .cmp(&(
                order.get(b.period.as_str()),
                &b.area_code,
                cat_order(&b.category),
            ))
    });
    Ok(Some(rows))
}
