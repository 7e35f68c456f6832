//! Early-warning triggers: the ranked list of a week, the weeks run, a trigger's weekly history,
//! acknowledgements. Analysts and admins (trigger rows carry small weekly counts).

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use marmot_engine::triggers::{self, ListedTrigger};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{JSON, cached, json_bytes};
use crate::state::Shared;

/// Query of `/triggers`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TriggersQuery {
    /// ISO week (`2020-W42`) or `latest` (default: the latest run week).
    pub week: Option<String>,
    /// Only opened and ongoing triggers.
    pub active: Option<bool>,
    /// Only this signal.
    pub signal: Option<String>,
    /// Triggers per page (default 1,000).
    pub limit: Option<usize>,
    /// Where to continue (`next_cursor`).
    pub cursor: Option<String>,
}

/// A week's trigger list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerList {
    /// Run week.
    pub week: String,
    /// Ranked triggers with acknowledgements.
    #[schema(value_type = Vec<Object>)]
    pub triggers: Vec<ListedTrigger>,
    /// Cursor of the next page (null: last page).
    pub next_cursor: Option<String>,
}

/// The ranked triggers of a week (the run week's snapshot), with acknowledgements.
pub async fn week_list(
    state: &Shared,
    week: Option<&str>,
) -> ApiResult<(String, Vec<ListedTrigger>)> {
    let week = match week {
        None | Some("latest") => None,
        Some(w) => {
            Some(triggers::parse_week(w).map_err(|e| ApiError::bad("bad_week", e.to_string()))?)
        }
    };
    match triggers::list(&state.lake, week).await {
        Ok(r) => Ok(r),
        Err(marmot_engine::EngineError::Query(m)) => Err(ApiError::not_found("no_trigger_run", m)),
        Err(e) => Err(e.into()),
    }
}

/// Triggers for a week, ranked (analysts).
#[utoipa::path(get, path = "/api/v1/triggers", tag = "triggers", params(TriggersQuery),
    responses((status = 200, body = TriggerList), (status = 400, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<TriggersQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Analyst, "triggers")?;
    if let Some(s) = &q.signal
        && !state.signals.iter().any(|x| &x.id == s)
    {
        return Err(ApiError::not_found(
            "unknown_signal",
            format!("no trigger signal '{s}'"),
        ));
    }
    let key = format!(
        "triggers|{:?}|{:?}|{:?}|{:?}|{:?}",
        q.week, q.active, q.signal, q.limit, q.cursor
    );
    let st = state.clone();
    cached(&state, &caller, &headers, &key, async move {
        let (week, all) = week_list(&st, q.week.as_deref()).await?;
        let triggers: Vec<ListedTrigger> = all
            .into_iter()
            .filter(|t| !q.active.unwrap_or(false) || t.status != "closed")
            .filter(|t| q.signal.as_ref().is_none_or(|s| &t.signal == s))
            .collect();
        let page = crate::http::PageQuery {
            limit: q.limit,
            cursor: q.cursor.clone(),
        };
        // Ranks are unique within a week; zero-padded so the key order is the rank order.
        let (triggers, next_cursor) =
            crate::http::page_by_key(triggers, |t| format!("{:09}", t.rank), false, &page)?;
        Ok((
            JSON,
            json_bytes(&TriggerList {
                week,
                triggers,
                next_cursor,
            })?,
        ))
    })
    .await
}

/// The weeks with a trigger run, ascending.
#[utoipa::path(get, path = "/api/v1/triggers/weeks", tag = "triggers",
    responses((status = 200, body = [String]), (status = 403, body = ErrorBody)))]
pub async fn weeks(State(state): State<Shared>, caller: Caller) -> ApiResult<Json<Vec<String>>> {
    caller.require(Role::Analyst, "triggers")?;
    Ok(Json(triggers::snapshot_weeks(&state.lake).await?))
}

/// Query of a trigger's history.
#[derive(Debug, Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Signal id.
    pub signal: String,
    /// Area code (default: the place).
    pub area: Option<String>,
    /// Stratum (`all` default, or e.g. `local_imd_quintile=1`, as in the trigger list).
    pub stratum: Option<String>,
    /// Method (default: the signal's first).
    pub method: Option<String>,
    /// Last week (default: the latest evaluated).
    pub to: Option<String>,
    /// Weeks of history (default 52, at most 520).
    pub weeks: Option<u32>,
}

/// One evaluated week.
#[derive(Debug, Serialize, ToSchema, Clone, PartialEq)]
pub struct EvaluationJson {
    /// Week.
    pub week: String,
    /// Week start (Monday).
    pub week_start: String,
    /// Observed count.
    pub observed: f64,
    /// Expected count.
    pub expected: Option<f64>,
    /// Lower threshold.
    pub lower: Option<f64>,
    /// Upper threshold.
    pub upper: Option<f64>,
    /// Alarm.
    pub alarm: bool,
    /// Provisional week.
    pub provisional: bool,
}

/// A signal's weekly evaluations for one area and stratum.
pub async fn history_rows(
    state: &Shared,
    q: &HistoryQuery,
) -> ApiResult<(String, Vec<EvaluationJson>)> {
    let sig = state
        .signals
        .iter()
        .find(|s| s.id == q.signal)
        .ok_or_else(|| {
            ApiError::not_found(
                "unknown_signal",
                format!("no trigger signal '{}'", q.signal),
            )
        })?;
    let snap = state.snapshot();
    let area = q
        .area
        .clone()
        .unwrap_or_else(|| snap.reference.place.clone());
    let method = match &q.method {
        Some(m) => m.clone(),
        None => sig
            .methods
            .first()
            .map(|m| m.name().to_string())
            .unwrap_or_default(),
    };
    let weeks = q.weeks.unwrap_or(52).min(520);
    let esc = |s: &str| s.replace('\'', "''");
    if !snap
        .engine
        .tables()
        .iter()
        .any(|t| t.name == triggers::EVALUATIONS_TABLE)
    {
        return Err(ApiError::not_found(
            "no_trigger_run",
            "no trigger evaluations yet: run `marmot triggers run --week <YYYY-Www>`",
        ));
    }
    let to = match &q.to {
        Some(w) => format!(
            "AND week_start <= DATE '{}'",
            triggers::parse_week(w).map_err(|e| ApiError::bad("bad_week", e.to_string()))?
        ),
        None => String::new(),
    };
    let sql = format!(
        "SELECT week, CAST(week_start AS VARCHAR) AS week_start, observed, expected, lower, upper, alarm, provisional \
         FROM {} WHERE signal = '{}' AND area_code = '{}' AND stratum = '{}' AND method = '{}' {to} \
         ORDER BY week_start DESC LIMIT {weeks}",
        triggers::EVALUATIONS_TABLE,
        esc(&sig.id),
        esc(&area),
        esc(q.stratum.as_deref().unwrap_or("all")),
        esc(&method),
    );
    let batches = snap.engine.sql(&sql).await?;
    let json = crate::api::sql::batches_json(&batches)?;
    let mut out: Vec<EvaluationJson> = json
        .into_iter()
        .map(|v| EvaluationJson {
            week: v["week"].as_str().unwrap_or_default().to_string(),
            week_start: v["week_start"].as_str().unwrap_or_default().to_string(),
            observed: v["observed"].as_f64().unwrap_or(0.0),
            expected: v["expected"].as_f64(),
            lower: v["lower"].as_f64(),
            upper: v["upper"].as_f64(),
            alarm: v["alarm"].as_bool().unwrap_or(false),
            provisional: v["provisional"].as_bool().unwrap_or(false),
        })
        .collect();
    out.reverse();
    Ok((method, out))
}

/// A signal's weekly history for an area and stratum: observed, expected, thresholds, alarms.
#[utoipa::path(get, path = "/api/v1/triggers/history", tag = "triggers", params(HistoryQuery),
    responses((status = 200, body = [EvaluationJson]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    State(state): State<Shared>,
    caller: Caller,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Vec<EvaluationJson>>> {
    caller.require(Role::Analyst, "trigger history")?;
    Ok(Json(history_rows(&state, &q).await?.1))
}

/// An acknowledgement.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AckRequest {
    /// Trigger id (from the list).
    pub trigger_id: String,
    /// What was done or decided.
    pub note: String,
}

/// Acknowledges a trigger (recorded with the token's id and organisation).
#[utoipa::path(post, path = "/api/v1/triggers/ack", tag = "triggers", request_body = AckRequest,
    responses((status = 200, body = Object), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn ack(
    State(state): State<Shared>,
    caller: Caller,
    Json(req): Json<AckRequest>,
) -> ApiResult<Json<serde_json::Value>> {
    caller.require(Role::Analyst, "acknowledging triggers")?;
    let by = match &caller.org {
        Some(o) => format!("{o} ({})", caller.id),
        None => format!("token {}", caller.id),
    };
    let version = {
        let _guard = state.write_lock.lock().await;
        triggers::acknowledge(&state.lake, &req.trigger_id, &by, &req.note).await?
    };
    state.reload().await?;
    Ok(Json(
        serde_json::json!({"trigger_id": req.trigger_id, "by": by, "acks_version": version}),
    ))
}
