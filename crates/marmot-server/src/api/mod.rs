//! The HTTP surface: `/api/v1/...` (JSON, described by the OpenAPI document generated from
//! these handlers), `/api/v1/charts/...` and `/charts/...` (PNG/SVG), `/dashboards/...` and
//! `/views/...` (HTML), `/reports/weekly/...` (HTML).

pub mod data;
pub mod extracts;
pub mod indicators;
pub mod published;
pub mod sql;
pub mod triggers;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Caller, Role};
use crate::charts::{self, ChartQuery};
use crate::dashboards::{self, Dashboard, SavedView, ViewInput};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{HTML, cached, split_ext};
use crate::pages;
use crate::state::{Shared, parse_versions};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Marmot API",
        description = "Population-health indicators, inequalities and early-warning triggers for an English place. \
Send `Authorization: Bearer <token>` (`marmot tokens add`); without one you are a viewer. \
Errors are `{\"error\": {\"code\", \"message\"}}`. Values below the analyst role pass disclosure control."
    ),
    tags(
        (name = "service"), (name = "geography"), (name = "indicators"), (name = "triggers"),
        (name = "dashboards"), (name = "extracts"), (name = "data"), (name = "sql"), (name = "charts")
    )
)]
struct ApiDoc;

/// The API routes with their OpenAPI document.
pub fn api_router() -> OpenApiRouter<Shared> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(data::health))
        .routes(routes!(data::ready))
        .routes(routes!(indicators::areas))
        .routes(routes!(indicators::catalogue))
        .routes(routes!(indicators::indicator))
        .routes(routes!(indicators::values))
        .routes(routes!(indicators::trend))
        .routes(routes!(indicators::inequalities))
        .routes(routes!(published::published))
        .routes(routes!(triggers::list))
        .routes(routes!(triggers::weeks))
        .routes(routes!(triggers::history))
        .routes(routes!(triggers::ack))
        .routes(routes!(list_dashboards))
        .routes(routes!(get_dashboard))
        .routes(routes!(list_views, create_view))
        .routes(routes!(get_view, update_view, delete_view))
        .routes(routes!(data::datasets))
        .routes(routes!(data::ingests))
        .routes(routes!(data::upload))
        .routes(routes!(data::audit_log))
        .routes(routes!(extracts::ward_extract))
        .routes(routes!(extracts::dataset_extract))
        .routes(routes!(sql::sql))
        .routes(routes!(chart))
}

/// Chart path.
#[derive(Debug, Deserialize)]
pub struct ChartPath {
    /// Kind.
    pub kind: String,
    /// `<name>.png` or `<name>.svg`.
    pub file: String,
}

/// A chart as PNG or SVG: `trend/{indicator}` (`area`, `grain`, `from`, `to`), `trigger/{signal}`
/// (`area`, `stratum`, `method`, `period` = last week, `weeks`), `quintiles/{indicator}`
/// (`period`, `level`, `area`, `by`), `compare/{indicator}` (`period`, `level`),
/// `funnel/{indicator}` (`period`, `level`), `spine/{area}` (`period`), `map/{indicator}`
/// (`period`). Sizes: `width`, `height`. The same suppression as the data applies.
#[utoipa::path(get, path = "/api/v1/charts/{kind}/{file}", tag = "charts",
    params(("kind" = String, Path, description = "trend, trigger, quintiles, compare, funnel, spine, map"),
        ("file" = String, Path, description = "`<indicator, signal or area>.png` or `.svg`"), ChartQuery),
    responses((status = 200, description = "image/png or image/svg+xml"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn chart(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(p): Path<ChartPath>,
    Query(q): Query<ChartQuery>,
) -> ApiResult<Response> {
    let (name, ext) = split_ext(&p.file)?;
    let format = marmot_charts::Format::parse(&ext).map_err(|_| {
        ApiError::not_found(
            "unknown_format",
            format!("charts are .png or .svg, not .{ext}"),
        )
    })?;
    let key = format!("chart|{}|{}|{q:?}", p.kind, p.file);
    let st = state.clone();
    let c = caller.clone();
    let name = name.to_string();
    cached(&state, &caller, &headers, &key, async move {
        let r = charts::render(&st, &c, &p.kind, &name, format, &q).await?;
        Ok((r.format.content_type(), r.bytes))
    })
    .await
}

/// Every dashboard the caller may open.
#[utoipa::path(get, path = "/api/v1/dashboards", tag = "dashboards",
    responses((status = 200, body = [Dashboard])))]
pub async fn list_dashboards(
    State(state): State<Shared>,
    caller: Caller,
) -> ApiResult<Json<Vec<Dashboard>>> {
    let all = dashboards::load_dashboards(&state)?;
    Ok(Json(
        all.into_iter()
            .filter(|d| d.public || caller.role >= Role::Analyst)
            .collect(),
    ))
}

/// One dashboard's definition (its page is `/dashboards/{id}.html`).
#[utoipa::path(get, path = "/api/v1/dashboards/{id}", tag = "dashboards",
    params(("id" = String, Path, description = "dashboard id")),
    responses((status = 200, body = Dashboard), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_dashboard(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Dashboard>> {
    let d = dashboards::dashboard(&state, &id)?;
    if !d.public {
        caller.require(Role::Analyst, "this dashboard")?;
    }
    Ok(Json(d))
}

/// Saved views (analysts).
#[utoipa::path(get, path = "/api/v1/views", tag = "dashboards",
    responses((status = 200, body = [SavedView]), (status = 403, body = ErrorBody)))]
pub async fn list_views(
    State(state): State<Shared>,
    caller: Caller,
) -> ApiResult<Json<Vec<SavedView>>> {
    caller.require(Role::Analyst, "saved views")?;
    Ok(Json(dashboards::list_views(&state).await?))
}

/// Saves a view, validated against the catalogue (201; 409 when the id is taken).
#[utoipa::path(post, path = "/api/v1/views", tag = "dashboards", request_body = ViewInput,
    responses((status = 201, body = SavedView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_view(
    State(state): State<Shared>,
    caller: Caller,
    Json(input): Json<ViewInput>,
) -> ApiResult<(StatusCode, Json<SavedView>)> {
    caller.require(Role::Analyst, "saving views")?;
    let id = input
        .id
        .clone()
        .unwrap_or_else(|| dashboards::slug(&input.name));
    dashboards::check_view_id(&id)?;
    if input.name.trim().is_empty() {
        return Err(ApiError::bad("bad_view", "a view needs a name"));
    }
    dashboards::validate_panel(&state, &input.panel)?;
    if dashboards::get_view(&state, &id).await.is_ok() {
        return Err(ApiError::Conflict(format!(
            "a view '{id}' exists already (PUT to change it)"
        )));
    }
    let now = chrono::Utc::now().to_rfc3339();
    let v = SavedView {
        id,
        name: input.name,
        owner: caller.id.clone(),
        created: now.clone(),
        updated: now,
        panel: input.panel,
    };
    dashboards::put_view(&state, &v).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// One saved view.
#[utoipa::path(get, path = "/api/v1/views/{id}", tag = "dashboards",
    params(("id" = String, Path, description = "view id")),
    responses((status = 200, body = SavedView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_view(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SavedView>> {
    caller.require(Role::Analyst, "saved views")?;
    Ok(Json(dashboards::get_view(&state, &id).await?))
}

/// Changes a view (its owner, or an admin).
#[utoipa::path(put, path = "/api/v1/views/{id}", tag = "dashboards", request_body = ViewInput,
    params(("id" = String, Path, description = "view id")),
    responses((status = 200, body = SavedView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_view(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
    Json(input): Json<ViewInput>,
) -> ApiResult<Json<SavedView>> {
    caller.require(Role::Analyst, "saved views")?;
    let mut v = dashboards::get_view(&state, &id).await?;
    if v.owner != caller.id && caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only the view's owner (or an admin) may change it".into(),
        ));
    }
    dashboards::validate_panel(&state, &input.panel)?;
    v.name = input.name;
    v.panel = input.panel;
    v.updated = chrono::Utc::now().to_rfc3339();
    dashboards::put_view(&state, &v).await?;
    Ok(Json(v))
}

/// Deletes a view (its owner, or an admin).
#[utoipa::path(delete, path = "/api/v1/views/{id}", tag = "dashboards",
    params(("id" = String, Path, description = "view id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_view(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Role::Analyst, "saved views")?;
    let v = dashboards::get_view(&state, &id).await?;
    if v.owner != caller.id && caller.role < Role::Admin {
        return Err(ApiError::Forbidden(
            "only the view's owner (or an admin) may delete it".into(),
        ));
    }
    dashboards::delete_view(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `/dashboards` and `/dashboards/index.html`: the list.
pub async fn dashboards_index(State(state): State<Shared>, caller: Caller) -> ApiResult<Response> {
    let all = dashboards::load_dashboards(&state)?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, HTML)],
        pages::dashboards_index(&caller, &all),
    )
        .into_response())
}

/// `/dashboards/{id}.html`.
pub async fn dashboard_page(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    if file == "index.html" {
        return dashboards_index(State(state), caller).await;
    }
    let id = pages::html_name(&file)?;
    let d = dashboards::dashboard(&state, id)?;
    // The definition is part of the key: an edited file is a new page.
    let key = format!("dash|{}", serde_json::to_string(&d).unwrap_or_default());
    let st = state.clone();
    let c = caller.clone();
    cached(&state, &caller, &headers, &key, async move {
        Ok((HTML, pages::dashboard_page(&st, &c, &d).await?.into_bytes()))
    })
    .await
}

/// `/views/{id}.html`: a saved view as a page.
pub async fn view_page(
    State(state): State<Shared>,
    caller: Caller,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    caller.require(Role::Analyst, "saved views")?;
    let id = pages::html_name(&file)?;
    let v = dashboards::get_view(&state, id).await?;
    let body = format!(
        "<h1>{}</h1><p class=\"meta\">Saved view · data version {}</p>{}",
        pages::esc(&v.name),
        pages::esc(&state.snapshot().versions),
        pages::panel_html(&state, &caller, &v.panel).await
    );
    Ok((
        [(axum::http::header::CONTENT_TYPE, HTML)],
        pages::page(&v.name, &body),
    )
        .into_response())
}

/// Query of a report.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ReportQuery {
    /// Make the report from these table versions (`name@version;...`, as a report names them).
    pub versions: Option<String>,
}

/// `/reports/weekly/{iso_week}.html` (or `latest.html`: the latest trigger run week).
pub async fn weekly_report(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(file): Path<String>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    caller.require(Role::Analyst, "the weekly SOC report")?;
    let week = pages::html_name(&file)?.to_string();
    let week = if week == "latest" {
        marmot_engine::triggers::snapshot_weeks(&state.lake)
            .await?
            .pop()
            .ok_or_else(|| {
                ApiError::not_found(
                    "no_trigger_run",
                    "no trigger run yet: the latest report needs one",
                )
            })?
    } else {
        week
    };
    match q.versions.as_deref() {
        Some(v) => {
            let pins = parse_versions(v)?;
            let pinned: Shared = std::sync::Arc::new(
                crate::state::AppState::pinned(state.config.clone(), &pins).await?,
            );
            let html = crate::report::weekly(&pinned, &caller, &week).await?;
            Ok(crate::http::fresh(&headers, HTML, html.into_bytes()))
        }
        None => {
            let st = state.clone();
            let c = caller.clone();
            cached(
                &state,
                &caller,
                &headers,
                &format!("report|{week}"),
                async move {
                    Ok((
                        HTML,
                        crate::report::weekly(&st, &c, &week).await?.into_bytes(),
                    ))
                },
            )
            .await
        }
    }
}
