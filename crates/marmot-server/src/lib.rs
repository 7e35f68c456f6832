//! # marmot-server
//!
//! Owns serving: the HTTP API (axum) and everything users see over it. It knows nothing of
//! Parquet or Delta layout; it asks `marmot-engine` for values and passes every answer through
//! the same rules:
//!
//! ```text
//! request ─> request id, time limit, body limit ─> Caller (token -> role) ─> handler
//!   handler ─> values::served_values (cube or live) ─> disclosure (roles below analyst)
//!           ─> JSON / CSV / Parquet / PNG / SVG / HTML ─> ETag + cache ─> gzip / br
//! ```
//!
//! - `api`: the `/api/v1` handlers; the OpenAPI document is generated from them (utoipa), so
//!   it cannot drift from the code.
//! - `auth`: tokens (stored hashed) and roles. `disclosure`: small-number suppression with
//!   complementary suppression across linked tables. `values`: what every consumer serves.
//! - `charts`, `pages`, `dashboards`, `report`: charts (via `marmot-charts`), HTML pages,
//!   dashboard definitions and saved views, the weekly SOC report.
//! - `audit`: every extract download and upload, in the lake.
#![warn(missing_docs)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod dashboards;
pub mod disclosure;
pub mod error;
pub mod http;
pub mod pages;
pub mod report;
pub mod sql_guard;
pub mod state;
pub mod values;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::get;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use auth::{AuthError, Caller, Role, TokenStore};
pub use error::{ApiError, ApiResult};
pub use state::{AppState, ServerConfig, Shared};

const REQUEST_ID: &str = "x-request-id";

/// The whole application: API, charts, pages, middleware.
pub fn router(state: Shared) -> Router {
    let (api, openapi) = api::api_router().split_for_parts();
    let openapi = Arc::new(openapi);
    let doc = {
        let openapi = openapi.clone();
        move || {
            let openapi = openapi.clone();
            async move { axum::Json((*openapi).clone()) }
        }
    };
    let max_body = state.config.max_body;
    let request_id = HeaderName::from_static(REQUEST_ID);
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(doc))
        .route("/charts/{kind}/{file}", get(api::chart))
        .route("/dashboards", get(api::dashboards_index))
        .route("/dashboards/{file}", get(api::dashboard_page))
        .route("/views/{file}", get(api::view_page))
        .route("/reports/weekly/{file}", get(api::weekly_report))
        .route("/", get(|| async { axum::response::Redirect::temporary("/dashboards") }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::time_limit,
        ))
        .layer(axum::middleware::from_fn(http::json_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    // The path only: a page's query may carry a token.
                    tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_response(
                    tower_http::trace::DefaultOnResponse::new()
                        .level(tracing::Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Micros),
                ),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves until Ctrl-C or SIGTERM, then finishes in-flight requests. `ready` is told the bound
/// address once the socket listens.
pub async fn serve(
    config: ServerConfig,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), ApiError> {
    let addr = config.addr.clone();
    let reload_every = config.reload_every;
    let state: Shared = Arc::new(AppState::new(config).await?);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| ApiError::Internal(format!("cannot listen on {addr}: {e}")))?;
    let local = listener
        .local_addr()
        .map_err(|e| ApiError::Internal(format!("listener: {e}")))?;
    // Pick up ingests made by the CLI or another server: re-open when a table version changes.
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(reload_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = state.reload().await {
                    tracing::warn!(error = %e, "reload failed; serving the previous snapshot");
                }
            }
        })
    };
    ready(local);
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| ApiError::Internal(format!("server: {e}")));
    watcher.abort();
    result
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
