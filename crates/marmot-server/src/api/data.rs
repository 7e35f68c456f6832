//! Health and readiness, data versions, ingest history, partner uploads and the audit log.

use std::collections::BTreeMap;
use std::io::Write;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use marmot_lake::ingest::{IngestRequest, IngestSummary, NoProgress, Period, ingest, table_path};
use marmot_lake::store::table_history;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::audit::{self, AuditEvent};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::Shared;

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// Marmot's version.
    pub version: String,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/v1/health", tag = "service", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready` or `unavailable`.
    pub status: String,
    /// The lake.
    pub lake: String,
    /// Table versions served.
    pub data_version: String,
    /// Why not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Readiness: the lake is reachable and a snapshot is loaded (503 otherwise).
#[utoipa::path(get, path = "/api/v1/ready", tag = "service",
    responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn ready(State(state): State<Shared>) -> (StatusCode, Json<Ready>) {
    let snap = state.snapshot();
    let problem = match state.lake.manifest().await {
        Ok(Some(_)) => None,
        Ok(None) => Some("the lake has no manifest".to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: lake unreachable");
            Some("the lake is unreachable".to_string())
        }
    };
    let status = if problem.is_none() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Ready {
            status: if problem.is_none() {
                "ready"
            } else {
                "unavailable"
            }
            .into(),
            lake: state.lake.url().to_string(),
            data_version: snap.versions.clone(),
            problem,
        }),
    )
}

/// A table and its data version.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetJson {
    /// SQL name.
    pub name: String,
    /// `curated`, `reference`, `cube` or `triggers`.
    pub kind: String,
    /// Delta version served.
    pub version: u64,
    /// Last date in the data (curated datasets).
    pub data_end: Option<String>,
}

/// Every table with the version served: the data versions behind every answer.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "data",
    responses((status = 200, body = [DatasetJson])))]
pub async fn datasets(State(state): State<Shared>, _caller: Caller) -> Json<Vec<DatasetJson>> {
    let snap = state.snapshot();
    Json(
        snap.engine
            .tables()
            .iter()
            .map(|t| DatasetJson {
                name: t.name.clone(),
                kind: t.kind.into(),
                version: t.version,
                data_end: snap.data_end.get(&t.name).map(|d| d.to_string()),
            })
            .collect(),
    )
}

/// One ingest, as its partner may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestJson {
    /// Table version the ingest made.
    pub version: u64,
    /// Commit time (RFC 3339).
    pub committed_at: Option<String>,
    /// Ingest id.
    pub ingest_id: String,
    /// Dataset.
    pub dataset: String,
    /// Partner.
    pub partner: String,
    /// File name.
    pub file: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Rows read.
    pub rows_read: u64,
    /// Rows accepted.
    pub accepted: u64,
    /// Rows quarantined.
    pub rejected: u64,
    /// Rejections by reason.
    pub reasons: BTreeMap<String, u64>,
    /// Rows set aside as outside the place (contracts that expect them, such as police.uk's
    /// force-wide files): `rows_read = accepted + rejected + out_of_area`.
    pub out_of_area: u64,
    /// Cells read as suppressed small numbers (source markers such as `-99`): stored empty
    /// and flagged, not zero.
    pub suppressed_cells: u64,
    /// The source mapping that read the file, `name@version`, if any.
    pub mapping: Option<String>,
    /// Example rejections (row, column, reason).
    pub examples: Vec<String>,
    /// Period covered.
    pub period: Option<String>,
    /// Rows of earlier submissions taken out (`updated_rows + removed_rows`).
    pub replaced_rows: u64,
    /// `append` or `replace`.
    pub mode: String,
    /// Accepted rows that are new records.
    pub added_rows: u64,
    /// Earlier rows sent again (same record key), replaced by the new version.
    pub updated_rows: u64,
    /// Earlier rows taken out without a new version (replace mode).
    pub removed_rows: u64,
    /// Nothing was committed: what the upload would have done.
    pub dry_run: bool,
    /// Who ingested.
    pub user: String,
}

/// An ingest report: `ts` is the Delta commit's timestamp where the log gives it (history),
/// else the summary's own commit time (a fresh upload).
fn ingest_json(s: IngestSummary, version: u64, ts: Option<i64>) -> IngestJson {
    IngestJson {
        version,
        committed_at: ts
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339())
            .or(s.committed_at),
        ingest_id: s.ingest_id,
        dataset: s.dataset,
        partner: s.partner,
        file: s.file,
        sha256: s.sha256,
        rows_read: s.rows_read,
        accepted: s.accepted,
        rejected: s.rejected,
        reasons: s.reasons,
        out_of_area: s.out_of_area,
        suppressed_cells: s.suppressed_cells,
        mapping: s.mapping.map(|m| format!("{}@{}", m.name, m.version)),
        examples: s.examples,
        period: s.period.map(|p| format!("{}..{}", p.from, p.to)),
        replaced_rows: s.replaced_rows,
        mode: s.mode.name().into(),
        added_rows: s.added_rows,
        updated_rows: s.updated_rows,
        removed_rows: s.removed_rows,
        dry_run: s.dry_run,
        user: s.user,
    }
}

/// Query of `/ingests`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct IngestsQuery {
    /// Only this dataset.
    pub dataset: Option<String>,
    /// Items per page (default 1,000).
    pub limit: Option<usize>,
    /// Where to continue (`X-Next-Cursor`).
    pub cursor: Option<String>,
}

/// Ingest history, newest first: partners see only their own ingests. Paged (`X-Next-Cursor`).
#[utoipa::path(get, path = "/api/v1/ingests", tag = "data", params(IngestsQuery),
    responses((status = 200, body = [IngestJson]), (status = 403, body = ErrorBody)))]
pub async fn ingests(
    State(state): State<Shared>,
    caller: Caller,
    Query(q): Query<IngestsQuery>,
) -> ApiResult<axum::response::Response> {
    caller.require(Role::Partner, "ingest reports")?;
    let contracts = state.snapshot().engine.contracts().to_vec();
    let mut out = Vec::new();
    for c in &contracts {
        if q.dataset.as_ref().is_some_and(|d| d != &c.name) {
            continue;
        }
        let Some(table) = state.lake.load_table(&table_path(&c.name), None).await? else {
            continue;
        };
        for rec in table_history(&table, &c.name).await? {
            let Some(m) = rec.marmot else { continue };
            let Ok(s) = serde_json::from_value::<IngestSummary>(m) else {
                continue;
            };
            if caller.role == Role::Partner && caller.org.as_deref() != Some(s.partner.as_str()) {
                continue;
            }
            out.push(ingest_json(s, rec.version, rec.timestamp));
        }
    }
    if let Some(d) = &q.dataset
        && !contracts.iter().any(|c| &c.name == d)
    {
        return Err(ApiError::not_found(
            "unknown_dataset",
            format!("no dataset '{d}'"),
        ));
    }
    let key = |i: &IngestJson| {
        format!(
            "{}|{}",
            i.committed_at.clone().unwrap_or_default(),
            i.ingest_id
        )
    };
    out.sort_by_key(|i| std::cmp::Reverse(key(i)));
    let page = crate::http::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let (items, next) = crate::http::page_by_key(out, key, true, &page)?;
    crate::http::json_page(&items, next)
}

/// Query of an upload.
#[derive(Debug, Deserialize, IntoParams)]
pub struct UploadQuery {
    /// The file's name (recorded; its extension says CSV or Parquet; default `upload.csv`).
    pub filename: Option<String>,
    /// Declared period `YYYY-MM` or `YYYY-MM..YYYY-MM` (rows outside it are quarantined).
    pub period: Option<String>,
    /// Partner (analysts and admins only; a partner token uploads as its own organisation).
    pub partner: Option<String>,
    /// `append` (default: new records added, a record key sent before is an update) or
    /// `replace` (every earlier row of the partner in `period` taken out; `period` required).
    pub mode: Option<String>,
    /// Work out what the upload would add, update, remove and quarantine; change nothing.
    pub dry_run: Option<bool>,
    /// Ingest even if these exact bytes were ingested before, and let a replacement take out
    /// more than twice the rows it brings.
    pub force: Option<bool>,
    /// Source mapping that reads the file (e.g. `police-uk`), when it is in the partner's own
    /// layout rather than the contract's.
    pub mapping: Option<String>,
}

/// Uploads a partner file (the request body, CSV or Parquet): validated against the dataset's
/// contract and committed atomically, exactly as `marmot ingest`. Answers the ingest summary:
/// 200 when every row was accepted, 202 when some were quarantined (see `rejected`).
#[utoipa::path(post, path = "/api/v1/ingest/{dataset}", tag = "data",
    params(("dataset" = String, Path, description = "dataset (contract) name"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = IngestJson), (status = 202, body = IngestJson),
        (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn upload(
    State(state): State<Shared>,
    caller: Caller,
    Path(dataset): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<IngestJson>)> {
    if caller.role != Role::Partner && caller.role < Role::Analyst {
        return Err(ApiError::Forbidden(
            "uploads need a partner, analyst or admin token".into(),
        ));
    }
    state.snapshot().engine.contract(&dataset)?;
    let partner = match caller.role {
        Role::Partner => {
            if q.partner
                .as_ref()
                .is_some_and(|p| Some(p) != caller.org.as_ref())
            {
                return Err(ApiError::Forbidden(
                    "a partner token uploads as its own organisation only".into(),
                ));
            }
            caller.org.clone()
        }
        _ => q.partner.clone(),
    };
    if body.is_empty() {
        return Err(ApiError::bad(
            "empty_file",
            "the request body (the file) is empty",
        ));
    }
    let name = q.filename.clone().unwrap_or_else(|| "upload.csv".into());
    let base = std::path::Path::new(&name)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .filter(|n| !n.is_empty() && !n.starts_with('.'))
        .ok_or_else(|| ApiError::bad("bad_filename", format!("'{name}' is not a file name")))?;
    let period = q
        .period
        .as_deref()
        .map(Period::parse)
        .transpose()
        .map_err(|e| ApiError::bad("bad_period", e.to_string()))?;
    let dir = tempfile::tempdir().map_err(|e| ApiError::Internal(format!("temp dir: {e}")))?;
    let path = dir.path().join(&base);
    std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(&body))
        .map_err(|e| ApiError::Internal(format!("writing the upload: {e}")))?;
    let pseudonymiser = marmot_lake::Pseudonymiser::from_env_or_file(
        &marmot_lake::Pseudonymiser::default_key_file(),
    )
    .map_err(|e| ApiError::Internal(format!("pseudonymisation key: {e}")))?
    .0;
    let mode = marmot_lake::ingest::SubmissionMode::parse(q.mode.as_deref().unwrap_or("append"))
        .map_err(|e| ApiError::bad("bad_mode", e.to_string()))?;
    let req = IngestRequest {
        dataset: dataset.clone(),
        path,
        partner,
        period,
        force: q.force.unwrap_or(false),
        mode,
        dry_run: q.dry_run.unwrap_or(false),
        display_name: Some(base.clone()),
        user: format!("api:{}", caller.id),
        today: chrono::Utc::now().date_naive(),
        mapping: q.mapping.clone(),
        threads: None,
    };
    // One writer at a time: the ingest's commit and the cube refresh after it.
    let guard = state.write_lock.lock().await;
    // The ingest and cube futures are not Send (they hold the CLI's progress trait object across
    // awaits): they run on a blocking thread of their own, driven by this runtime.
    let handle = tokio::runtime::Handle::current();
    let st = state.clone();
    let summary = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let summary = ingest(&st.lake, &pseudonymiser, &req, &NoProgress).await?;
            if !summary.already_ingested
                && !summary.dry_run
                && summary.accepted + summary.replaced_rows > 0
            {
                // Fold the new data into the cube before it is served, on the server's engine.
                let engine = marmot_engine::Engine::open_with(
                    &st.lake,
                    &marmot_engine::EngineOptions {
                        engine: st.config.engine.clone(),
                        ..Default::default()
                    },
                )
                .await?;
                marmot_engine::cube::refresh(&engine, &st.lake, &st.indicators, &NoProgress)
                    .await?;
            }
            Ok::<_, ApiError>(summary)
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("ingest task: {e}")))??;
    drop(guard);
    audit::record(
        &state,
        &caller,
        "upload",
        &format!(
            "{dataset} file={} sha256={} mode={} dry_run={} accepted={} rejected={} added={} updated={} removed={} ingest={}",
            summary.file,
            summary.sha256,
            summary.mode.name(),
            summary.dry_run,
            summary.accepted,
            summary.rejected,
            summary.added_rows,
            summary.updated_rows,
            summary.removed_rows,
            summary.ingest_id
        ),
    )
    .await?;
    state.reload().await?;
    let status = if summary.rejected > 0 {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let version = summary.table_version.unwrap_or(0);
    Ok((status, Json(ingest_json(summary, version, None))))
}

/// The audit log (admins).
#[utoipa::path(get, path = "/api/v1/audit", tag = "data",
    responses((status = 200, body = [AuditEvent]), (status = 403, body = ErrorBody)))]
pub async fn audit_log(
    State(state): State<Shared>,
    caller: Caller,
) -> ApiResult<Json<Vec<AuditEvent>>> {
    caller.require(Role::Admin, "the audit log")?;
    Ok(Json(audit::events(&state).await?))
}
