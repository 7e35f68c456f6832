//! Dashboards and saved views. A dashboard is a TOML file in `dashboards/` (read on every
//! request, so editing one needs no restart): a title and panels, each naming an indicator,
//! level, period, breakdown and chart type. A saved view is one panel saved by an analyst
//! through the API, validated against the catalogue and stored in the lake
//! (`_marmot/views/<id>.json`).

use std::path::Path;

use object_store::ObjectStoreExt as _;

use marmot_model::{Breakdown, Level, PeriodKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a panel shows.
pub const PANEL_KINDS: [&str; 11] = [
    "trend",
    "compare",
    "quintiles",
    "funnel",
    "spine",
    "map",
    "table",
    "inequalities",
    "triggers",
    "trigger",
    "matrix",
];

/// One panel of a dashboard (or a saved view).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Heading.
    pub title: String,
    /// trend, compare, quintiles, funnel, spine, map, table, inequalities, triggers, trigger,
    /// matrix.
    pub chart: String,
    /// Indicator (all but spine, triggers, matrix); for `trigger`, the signal id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indicator: Option<String>,
    /// Indicators (matrix; default: every indicator offering an IMD breakdown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indicators: Vec<String>,
    /// Level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// Period or `latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// Breakdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Area code (trend, spine, trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    /// Grain of a trend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grain: Option<String>,
    /// Start of a trend (YYYY-MM-DD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Stratum of a trigger chart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratum: Option<String>,
}

/// A dashboard.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Id (the file name without `.toml`).
    #[serde(default)]
    pub id: String,
    /// Title.
    pub title: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Viewers (the public) may open it; otherwise analysts and above.
    #[serde(default)]
    pub public: bool,
    /// Panels, in order.
    #[serde(rename = "panel")]
    pub panels: Vec<Panel>,
}

/// The shipped dashboards, used when the dashboards directory does not exist (a binary run
/// outside a checkout).
pub const BUILTIN_DASHBOARDS: [(&str, &str); 7] = [
    (
        "community-hub",
        include_str!("../../../dashboards/community-hub.toml"),
    ),
    (
        "early-warning",
        include_str!("../../../dashboards/early-warning.toml"),
    ),
    (
        "inequalities",
        include_str!("../../../dashboards/inequalities.toml"),
    ),
    (
        "locality-overview",
        include_str!("../../../dashboards/locality-overview.toml"),
    ),
    (
        "neighbourhood-profile",
        include_str!("../../../dashboards/neighbourhood-profile.toml"),
    ),
    (
        "partner-activity",
        include_str!("../../../dashboards/partner-activity.toml"),
    ),
    (
        "prioritisation",
        include_str!("../../../dashboards/prioritisation.toml"),
    ),
];

fn parse_dashboard(state: &AppState, id: &str, what: &str, text: &str) -> ApiResult<Dashboard> {
    let mut d: Dashboard =
        toml::from_str(text).map_err(|e| ApiError::Internal(format!("dashboard {what}: {e}")))?;
    d.id = id.to_string();
    for (i, p) in d.panels.iter().enumerate() {
        validate_panel(state, p)
            .map_err(|e| ApiError::Internal(format!("dashboard {what} panel {}: {e}", i + 1)))?;
    }
    Ok(d)
}

/// Reads every dashboard (sorted by id); a broken file is an error naming it.
pub fn load_dashboards(state: &AppState) -> ApiResult<Vec<Dashboard>> {
    let dir = &state.config.dashboards;
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return BUILTIN_DASHBOARDS
                .iter()
                .map(|(id, text)| parse_dashboard(state, id, id, text))
                .collect();
        }
        Err(e) => return Err(ApiError::Internal(format!("{}: {e}", dir.display()))),
    };
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "toml") {
            out.push(read_dashboard(state, &p)?);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn read_dashboard(state: &AppState, path: &Path) -> ApiResult<Dashboard> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    parse_dashboard(state, &id, &path.display().to_string(), &text)
}

/// One dashboard by id (404 otherwise).
pub fn dashboard(state: &AppState, id: &str) -> ApiResult<Dashboard> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid && !state.config.dashboards.is_dir() {
        return match BUILTIN_DASHBOARDS.iter().find(|(b, _)| *b == id) {
            Some((b, text)) => parse_dashboard(state, b, b, text),
            None => Err(ApiError::not_found(
                "unknown_dashboard",
                format!("no dashboard '{id}' (GET /api/v1/dashboards lists them)"),
            )),
        };
    }
    let path = state.config.dashboards.join(format!("{id}.toml"));
    if !valid || !path.is_file() {
        return Err(ApiError::not_found(
            "unknown_dashboard",
            format!("no dashboard '{id}' (GET /api/v1/dashboards lists them)"),
        ));
    }
    read_dashboard(state, &path)
}

/// Checks a panel against the catalogue: every name must exist and fit together.
pub fn validate_panel(state: &AppState, p: &Panel) -> ApiResult<()> {
    let bad = |m: String| ApiError::bad("bad_panel", m);
    if !PANEL_KINDS.contains(&p.chart.as_str()) {
        return Err(bad(format!(
            "chart '{}' is not one of {}",
            p.chart,
            PANEL_KINDS.join(", ")
        )));
    }
    let needs_indicator = !matches!(p.chart.as_str(), "spine" | "triggers" | "matrix");
    if p.chart == "trigger" {
        let s = p
            .indicator
            .as_deref()
            .ok_or_else(|| bad("a trigger panel needs indicator = <signal id>".into()))?;
        if !state.signals.iter().any(|x| x.id == s) {
            return Err(bad(format!("no trigger signal '{s}'")));
        }
    } else if needs_indicator {
        let id = p
            .indicator
            .as_deref()
            .ok_or_else(|| bad(format!("a {} panel needs an indicator", p.chart)))?;
        let ind = state.indicator(id)?;
        if let Some(b) = &p.by {
            let b = Breakdown::parse(b)?;
            if !ind.offers(b) {
                return Err(bad(format!(
                    "indicator {id} has no breakdown '{}'",
                    b.name()
                )));
            }
        }
    }
    for id in &p.indicators {
        state.indicator(id)?;
    }
    if let Some(l) = &p.level {
        Level::parse(l)?;
    }
    if let Some(g) = &p.grain {
        PeriodKind::parse(g)?;
    }
    if let Some(period) = &p.period {
        for s in period.split(',') {
            if s.trim() != "latest" {
                marmot_model::Period::parse(s.trim())
                    .map_err(|e| ApiError::bad("bad_period", e.to_string()))?;
            }
        }
    }
    if let Some(f) = &p.from {
        chrono::NaiveDate::parse_from_str(f, "%Y-%m-%d")
            .map_err(|_| bad(format!("from '{f}' is not a date (YYYY-MM-DD)")))?;
    }
    if let Some(a) = &p.area {
        crate::api::indicators::level_of(&state.snapshot(), a)?;
    }
    if p.chart == "spine" && p.area.is_none() {
        return Err(bad("a spine panel needs an area".into()));
    }
    Ok(())
}

/// A saved view.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct SavedView {
    /// Id (lower-case letters, digits, `-`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Token id of the analyst who saved it.
    pub owner: String,
    /// Created (RFC 3339).
    pub created: String,
    /// Last updated (RFC 3339).
    pub updated: String,
    /// What it shows.
    pub panel: Panel,
}

/// What a client sends to save or update a view.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewInput {
    /// Id (create only; default derived from the name).
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// What it shows.
    pub panel: Panel,
}

/// Lake prefix of saved views.
pub const VIEWS_PREFIX: &str = "_marmot/views";

/// Checks a view id.
pub fn check_view_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad(
            "bad_view_id",
            format!("view id '{id}' must be 1-64 lower-case letters, digits and -"),
        ))
    }
}

/// An id from a name: `Frailty in Hackney!` -> `frailty-in-hackney`.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    s.trim_end_matches('-').chars().take(64).collect()
}

/// Every saved view.
pub async fn list_views(state: &AppState) -> ApiResult<Vec<SavedView>> {
    use futures::TryStreamExt;
    let metas: Vec<_> = state
        .lake
        .store()
        .list(Some(&object_store::path::Path::from(VIEWS_PREFIX)))
        .try_collect()
        .await
        .map_err(|e| ApiError::Internal(format!("views: {e}")))?;
    let mut out = Vec::new();
    for m in metas {
        if let Some(v) = state
            .lake
            .get_json::<SavedView>(m.location.as_ref())
            .await?
        {
            out.push(v);
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// One view.
pub async fn get_view(state: &AppState, id: &str) -> ApiResult<SavedView> {
    check_view_id(id)?;
    state
        .lake
        .get_json::<SavedView>(&format!("{VIEWS_PREFIX}/{id}.json"))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_view", format!("no saved view '{id}'")))
}

/// Writes a view.
pub async fn put_view(state: &AppState, v: &SavedView) -> ApiResult<()> {
    Ok(state
        .lake
        .put_json(&format!("{VIEWS_PREFIX}/{}.json", v.id), v)
        .await?)
}

/// Deletes a view.
pub async fn delete_view(state: &AppState, id: &str) -> ApiResult<()> {
    get_view(state, id).await?;
    state
        .lake
        .store()
        .delete(&object_store::path::Path::from(format!(
            "{VIEWS_PREFIX}/{id}.json"
        )))
        .await
        .map_err(|e| ApiError::Internal(format!("views: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_ids() {
        assert_eq!(slug("Frailty in Hackney!"), "frailty-in-hackney");
        assert_eq!(slug("  COPD -- by ward "), "copd-by-ward");
        assert!(check_view_id("copd-by-ward").is_ok());
        for bad in ["", "Upper", "../x", "a b", &"x".repeat(65)] {
            assert!(check_view_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shipped_dashboards_parse() {
        for (id, text) in BUILTIN_DASHBOARDS {
            let d: Dashboard = toml::from_str(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(!d.panels.is_empty(), "{id}");
            assert!(
                d.panels
                    .iter()
                    .all(|p| PANEL_KINDS.contains(&p.chart.as_str())),
                "{id}"
            );
        }
        assert_eq!(BUILTIN_DASHBOARDS.len(), 7);
    }
}
