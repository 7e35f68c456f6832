//! The audit log: one JSON object per event under `_marmot/audit/<date>/` in the lake (an object
//! per event, so it works the same on S3, where nothing can be appended to). Every extract
//! download and every upload is recorded, with who, what, when and the data version.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Where events go, relative to the lake root.
pub const AUDIT_PREFIX: &str = "_marmot/audit";

/// One audited event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AuditEvent {
    /// Unique id.
    #[serde(default)]
    pub id: String,
    /// RFC 3339 time.
    pub at: String,
    /// `extract`, `upload`, `sql`...
    pub action: String,
    /// Token id (`anonymous` without one).
    pub token: String,
    /// Role.
    pub role: String,
    /// Organisation.
    pub org: Option<String>,
    /// What: the path and parameters, dataset, ingest id...
    pub detail: String,
    /// Table versions at the time.
    pub data_version: String,
}

/// Records an event. A failure to audit fails the request: an unaudited download must not
/// happen.
pub async fn record(
    state: &AppState,
    caller: &Caller,
    action: &str,
    detail: &str,
) -> ApiResult<()> {
    let now = chrono::Utc::now();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let ev = AuditEvent {
        id: id.clone(),
        at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        action: action.into(),
        token: caller.id.clone(),
        role: caller.role.name().into(),
        org: caller.org.clone(),
        detail: detail.into(),
        data_version: state.snapshot().versions.clone(),
    };
    let path = format!(
        "{AUDIT_PREFIX}/{}/{}-{id}.json",
        now.format("%Y-%m-%d"),
        now.format("%H%M%S%.6f"),
    );
    state
        .lake
        .put_json(&path, &ev)
        .await
        .map_err(|e| ApiError::Internal(format!("audit log: {e}")))
}

/// Every event, oldest first.
pub async fn events(state: &AppState) -> ApiResult<Vec<AuditEvent>> {
    use futures::TryStreamExt;
    let store = state.lake.store();
    let prefix = object_store::path::Path::from(AUDIT_PREFIX);
    let metas: Vec<_> = store
        .list(Some(&prefix))
        .try_collect()
        .await
        .map_err(|e| ApiError::Internal(format!("audit log: {e}")))?;
    let mut out = Vec::new();
    for m in metas {
        let rel = m.location.to_string();
        if let Some(ev) = state
            .lake
            .get_json::<AuditEvent>(&rel)
            .await
            .map_err(|e| ApiError::Internal(format!("audit log: {e}")))?
        {
            out.push(ev);
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at));
    Ok(out)
}
