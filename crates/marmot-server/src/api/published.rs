//! Marmot's values beside the published ones: `/api/v1/indicators/{id}/published`, for an
//! indicator that names its counterpart in OHID's Fingertips (`[fingertips] id = ...`) in a lake
//! holding a Fingertips export (`published_indicators`). Published statistics are public; the
//! Marmot values beside them are served through `served_values`, so they are suppressed for the
//! caller exactly as everywhere else.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use marmot_engine::indicators::ValuesRequest;
use marmot_engine::published::{ENGLAND, PublishedValue};
use marmot_model::{Level, Period};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::http::{JSON, cached, json_bytes};
use crate::state::Shared;
use crate::values::{ValueJson, served_values};

/// One published value (as Fingertips publishes it).
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedJson {
    /// Area code (`E92000001`: England).
    pub area_code: String,
    /// Area name as published.
    pub area_name: String,
    /// The value (null where Fingertips publishes none; see `value_note`).
    pub value: Option<f64>,
    /// Lower 95% limit.
    pub lower_95: Option<f64>,
    /// Upper 95% limit.
    pub upper_95: Option<f64>,
    /// Lower 99.8% limit.
    pub lower_99_8: Option<f64>,
    /// Upper 99.8% limit.
    pub upper_99_8: Option<f64>,
    /// Published count.
    pub count: Option<f64>,
    /// Published denominator.
    pub denominator: Option<f64>,
    /// Fingertips' note on the value.
    pub value_note: Option<String>,
    /// Fingertips' own comparison with England.
    pub compared_to_england: Option<String>,
}

impl From<&PublishedValue> for PublishedJson {
    fn from(v: &PublishedValue) -> Self {
        PublishedJson {
            area_code: v.area_code.clone(),
            area_name: v.area_name.clone(),
            value: v.value,
            lower_95: v.lower_95,
            upper_95: v.upper_95,
            lower_99_8: v.lower_99_8,
            upper_99_8: v.upper_99_8,
            count: v.count,
            denominator: v.denominator,
            value_note: v.value_note.clone(),
            compared_to_england: v.compared_to_england.clone(),
        }
    }
}

/// One published time period with Marmot's value for the place beside it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedPeriod {
    /// The time period as published (`2017`, `2017/18`...).
    pub time_period: String,
    /// Marmot's period for it (`R12-2017-12`, `FY2017/18`...; null: Marmot has none, e.g.
    /// pooled years).
    pub period: Option<String>,
    /// Marmot's value for the place, its benchmark being England's published value (null when
    /// Marmot has no such period or its data does not cover it).
    pub marmot: Option<ValueJson>,
    /// Why there is no Marmot value, when there is none.
    pub marmot_note: Option<String>,
    /// The published values of the place's authorities.
    pub published: Vec<PublishedJson>,
    /// England's published value.
    pub england: Option<PublishedJson>,
}

/// Marmot's values beside the published ones.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedPage {
    /// Indicator id.
    pub indicator: String,
    /// Fingertips indicator ID.
    pub fingertips_id: i64,
    /// The export's sex and age of the rows shown.
    pub sex: String,
    /// Age group.
    pub age: String,
    /// Data version of Marmot's values.
    pub data_version: String,
    /// Time periods, oldest first.
    pub periods: Vec<PublishedPeriod>,
}

/// Marmot's place values beside the values OHID publishes in Fingertips for the place's
/// authorities and England, period by period (from the lake's `published_indicators`).
#[utoipa::path(get, path = "/api/v1/indicators/{id}/published", tag = "indicators",
    params(("id" = String, Path, description = "indicator id")),
    responses((status = 200, body = PublishedPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn published(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let ind = state.indicator(&id)?.clone();
    let Some(link) = ind.fingertips.clone() else {
        return Err(ApiError::bad(
            "no_fingertips",
            format!(
                "indicator {id} names no Fingertips counterpart: add `[fingertips] id = ...` \
                 (the export's Indicator ID) to its definition"
            ),
        ));
    };
    let snap = state.snapshot();
    let key = format!("published|{id}");
    let st = state.clone();
    let c = caller.clone();
    if snap.reference.published.values(&link).is_empty() {
        return Err(ApiError::not_found(
            "no_published_data",
            format!(
                "the lake holds no published values of Fingertips indicator {} ({}, {}) for \
                 {id}: ingest a Fingertips export with `--mapping fingertips-export`",
                link.id, link.sex, link.age
            ),
        ));
    }
    cached(&state, &caller, &headers, &key, async move {
        let values = snap.reference.published.values(&link);
        // Time periods in the order published (period start, then ingest).
        let mut labels: Vec<&str> = Vec::new();
        for v in values {
            if !labels.contains(&v.time_period.as_str()) {
                labels.push(&v.time_period);
            }
        }
        // Marmot's periods that its data covers.
        let covered = |p: &Period| {
            snap.data_start
                .get(&ind.source)
                .zip(snap.data_end.get(&ind.source))
                .is_some_and(|(s, e)| *s <= p.start && p.end <= *e)
        };
        // Below the analyst role an indicator is served at its own grain only (periods of
        // different lengths nest: comparing them would undo suppression).
        let allowed = |p: &Period| !c.role.suppressed() || p.kind == ind.grain;
        let note = |p: Option<&Period>| -> Option<String> {
            match p {
                None => Some("Marmot has no period for this time period".into()),
                Some(p) if !allowed(p) => Some(format!(
                    "{} is served by {} below the analyst role, not as {}",
                    ind.id,
                    ind.grain.name(),
                    p.kind.name()
                )),
                Some(p) if !covered(p) => {
                    Some(format!("{}'s data does not cover {}", ind.source, p.label))
                }
                Some(_) => None,
            }
        };
        let ours: Vec<Period> = labels
            .iter()
            .filter_map(|l| Period::from_fingertips(l))
            .filter(|p| note(Some(p)).is_none())
            .collect();
        let rows = if ours.is_empty() {
            Vec::new()
        } else {
            let req = ValuesRequest {
                level: Level::Place,
                periods: ours,
                by: None,
            };
            served_values(&st, &snap, &c, &ind, &req).await?
        };
        let periods = labels
            .iter()
            .map(|l| {
                let of = values.iter().filter(|v| v.time_period == *l);
                let ours = Period::from_fingertips(l);
                let period = ours.as_ref().map(|p| p.label.clone());
                PublishedPeriod {
                    time_period: (*l).to_string(),
                    marmot: period
                        .as_ref()
                        .and_then(|p| rows.iter().find(|r| &r.period == p).cloned()),
                    marmot_note: note(ours.as_ref()),
                    period,
                    published: of
                        .clone()
                        .filter(|v| v.area_code != ENGLAND)
                        .map(PublishedJson::from)
                        .collect(),
                    england: of
                        .clone()
                        .find(|v| v.area_code == ENGLAND)
                        .map(PublishedJson::from),
                }
            })
            .collect();
        let page = PublishedPage {
            indicator: ind.id.clone(),
            fingertips_id: link.id,
            sex: link.sex.clone(),
            age: link.age.clone(),
            data_version: marmot_engine::indicators::data_version(&snap.engine, &ind),
            periods,
        };
        Ok((JSON, json_bytes(&page)?))
    })
    .await
}
