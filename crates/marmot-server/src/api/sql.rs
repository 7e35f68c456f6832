//! Ad-hoc SQL for analysts: one read-only query over the registered tables, with a row limit,
//! a time limit and a memory budget, so that one heavy query cannot take the server down.
//!
//! What it guards, and how:
//! - **Read-only**: only queries; DDL, DML and statements such as `SET` are refused by
//!   DataFusion's `SQLOptions` before planning.
//! - **No identifiers**: the SQL engine registers curated tables without their identifier
//!   columns (pseudonymised ids) or ingest ids; there is no name under which to reach them.
//! - **No row-level partner data, no small groups**: the plan is rewritten by
//!   [`crate::sql_guard`] so that a partner dataset reaches the caller only as groups of at least
//!   K records (the server's disclosure threshold), whatever the SQL; groups withheld are counted
//!   in the response (`withheld_groups`, or the `X-Withheld-Groups` header for CSV). Reference
//!   tables and Marmot's own aggregate tables (the cube, triggers) may be read row by row.
//! - **Limits**: rows beyond `max_rows` are cut (`truncated: true`); a query running longer than
//!   the timeout is cancelled (408); one that needs more memory than the budget fails (413).
//!   Queries run on a runtime of their own, at most `concurrency` at once (429 beyond), so the
//!   rest of the API stays responsive. A cancelled query stops at its operators' next yield
//!   point: a pathological one (a huge cross join inside one operator) can keep its cores busy
//!   until it finishes, which is why the number in flight is capped.

use std::collections::HashMap;

use arrow::record_batch::RecordBatch;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use datafusion::execution::context::SQLOptions;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::audit;
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{CSV, Format, JSON, fresh, json_bytes};
use crate::sql_guard::{self, GuardError, PartnerTable};
use crate::state::Shared;

/// A query.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SqlRequest {
    /// One SQL query.
    pub sql: String,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// A query's result.
#[derive(Debug, Serialize, ToSchema)]
pub struct SqlResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows as objects.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<serde_json::Value>,
    /// Rows returned.
    pub row_count: usize,
    /// More rows existed than the limit allowed.
    pub truncated: bool,
    /// Groups of a partner dataset withheld because they held fewer than K records.
    pub withheld_groups: usize,
    /// Table versions queried.
    pub data_version: String,
}

/// What a query returned.
#[derive(Debug)]
pub struct QueryOutput {
    /// The batches, cut at the row limit.
    pub batches: Vec<RecordBatch>,
    /// More rows existed than the limit allowed.
    pub truncated: bool,
    /// Groups withheld by the minimum-group guard.
    pub withheld_groups: usize,
}

/// The partner datasets of a snapshot, as the guard needs them.
fn partner_tables(snap: &crate::state::Snapshot) -> HashMap<String, PartnerTable> {
    snap.sql_engine
        .tables()
        .iter()
        .filter(|t| t.kind == "curated")
        .map(|t| {
            let count_column = snap
                .sql_engine
                .contract(&t.name)
                .ok()
                .and_then(|c| c.count().map(|c| c.name.clone()));
            (t.name.clone(), PartnerTable { count_column })
        })
        .collect()
}

/// Runs a query under the limits and the minimum-group guard.
pub async fn run_query(state: &Shared, sql: &str) -> ApiResult<QueryOutput> {
    let limits = state.config.sql;
    let threshold = state.config.disclosure_threshold;
    let snap = state.snapshot();
    let partner = partner_tables(&snap);
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let ctx = snap.sql_engine.context().clone();
    let sql = sql.to_string();
    let work = async move {
        let df = ctx
            .sql_with_options(&sql, options)
            .await
            .map_err(|e| ApiError::bad("bad_query", e.to_string()))?;
        let guarded =
            sql_guard::guard(df.into_parts().1, &partner, threshold).map_err(|e| match e {
                GuardError::Plan(e) => ApiError::bad("bad_query", e.to_string()),
                other => ApiError::bad("row_level_data", other.to_string()),
            })?;
        let withheld = guarded.withheld;
        let df = ctx
            .execute_logical_plan(guarded.plan)
            .await
            .map_err(|e| ApiError::bad("bad_query", e.to_string()))?;
        let mut stream = df.execute_stream().await.map_err(query_failure)?;
        let mut out = Vec::new();
        let mut rows = 0usize;
        let mut truncated = false;
        while let Some(b) = stream.next().await {
            let b = b.map_err(query_failure)?;
            if rows + b.num_rows() > limits.max_rows {
                out.push(b.slice(0, limits.max_rows - rows));
                truncated = true;
                break;
            }
            rows += b.num_rows();
            out.push(b);
        }
        Ok::<_, ApiError>(QueryOutput {
            batches: out,
            truncated,
            withheld_groups: withheld.load(std::sync::atomic::Ordering::Relaxed),
        })
    };
    // On a runtime of its own: DataFusion's operators can run for long stretches without
    // yielding, and on the server's runtime they would hold every worker thread, so not even
    // the timeout could fire. Aborting the task on timeout drops the query's streams.
    let permit = state.sql_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::Busy(format!(
            "{} ad-hoc queries are running already (the limit); try again shortly",
            limits.concurrency
        ))
    })?;
    let handle = query_runtime()?.spawn(async move {
        let r = work.await;
        drop(permit);
        r
    });
    let abort = handle.abort_handle();
    match tokio::time::timeout(limits.timeout, handle).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ApiError::Internal(format!("query task: {e}"))),
        Err(_) => {
            abort.abort();
            Err(ApiError::Timeout(format!(
                "the query ran longer than {} s and was cancelled",
                limits.timeout.as_secs()
            )))
        }
    }
}

/// The runtime ad-hoc queries run on (made once, never dropped). It has more worker threads
/// than DataFusion has partitions (one per core), so a thread is always free to act on a
/// cancellation while the partitions' operators are busy.
fn query_runtime() -> ApiResult<&'static tokio::runtime::Runtime> {
    static RT: std::sync::OnceLock<Result<tokio::runtime::Runtime, String>> =
        std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
                    + 2,
            )
            .thread_name("marmot-sql")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| ApiError::Internal(format!("query runtime: {e}")))
}

/// A failure while a query ran: told apart by DataFusion's error variant, not its text.
fn query_failure(e: datafusion::error::DataFusionError) -> ApiError {
    if matches!(
        e.find_root(),
        datafusion::error::DataFusionError::ResourcesExhausted(_)
    ) {
        ApiError::TooLarge(format!(
            "the query needs more memory than the server allows per query: {e}"
        ))
    } else {
        ApiError::bad("query_failed", e.to_string())
    }
}

/// Batches as JSON objects.
pub fn batches_json(batches: &[RecordBatch]) -> ApiResult<Vec<serde_json::Value>> {
    let mut w = arrow::json::ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    w.write_batches(&refs)
        .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
    w.finish()
        .map_err(|e| ApiError::Internal(format!("json: {e}")))?;
    let bytes = w.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(format!("json: {e}")))
}

/// Batches as CSV.
pub fn batches_csv(batches: &[RecordBatch]) -> ApiResult<Vec<u8>> {
    let mut w = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(Vec::new());
    for b in batches {
        w.write(b)
            .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
    }
    Ok(w.into_inner())
}

/// Ad-hoc SQL (analysts): read-only, aggregated partner data only, limited.
#[utoipa::path(post, path = "/api/v1/sql", tag = "sql", request_body = SqlRequest,
    responses((status = 200, body = SqlResult), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 408, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn sql(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<SqlRequest>,
) -> ApiResult<Response> {
    caller.require(Role::Analyst, "ad-hoc SQL")?;
    let format = Format::parse(req.format.as_deref())?;
    let QueryOutput {
        batches,
        truncated,
        withheld_groups,
    } = run_query(&state, &req.sql).await?;
    audit::record(&state, &caller, "sql", &req.sql).await?;
    match format {
        Format::Csv => {
            let mut r = fresh(&headers, CSV, batches_csv(&batches)?);
            r.headers_mut()
                .insert("x-withheld-groups", withheld_groups.into());
            Ok(r)
        }
        Format::Json => {
            let columns = batches
                .first()
                .map(|b| {
                    b.schema()
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect()
                })
                .unwrap_or_default();
            let rows = batches_json(&batches)?;
            let body = SqlResult {
                columns,
                row_count: rows.len(),
                rows,
                truncated,
                withheld_groups,
                data_version: state.snapshot().versions.clone(),
            };
            Ok(fresh(&headers, JSON, json_bytes(&body)?))
        }
    }
}
