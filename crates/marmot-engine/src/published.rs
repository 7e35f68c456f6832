//! Published indicator values (OHID Fingertips) beside Marmot's own: the lake's
//! `published_indicators` table (a Fingertips data export read with the `fingertips-export`
//! mapping), held in memory with the reference data.
//!
//! An indicator that names its Fingertips counterpart (`[fingertips] id = 93356`, with the
//! export's `sex` and `age`, by default `Persons` and `All ages`) gets, for each period Marmot
//! has that Fingertips also publishes ([`marmot_model::Period::from_fingertips`]: a calendar year
//! is the rolling 12 months to its December, a financial year and a financial quarter are
//! themselves), England's published value as the place's benchmark (Fingertips' own comparison
//! method: the place is Higher or Lower when England's value lies outside its interval), and
//! the place's own published values to show beside Marmot's. Only the overall rows (no
//! category) are used. When an export is ingested twice, the later ingest's row wins.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, Float64Array, Int64Array, StringArray};
use marmot_model::{FingertipsLink, Period};
use serde::Serialize;

use crate::{Engine, EngineError};

/// The lake table of published indicators.
pub const TABLE: &str = "published_indicators";

/// England's ONS code (the one ingest keeps published rows for).
pub use marmot_lake::reference::areas::ENGLAND;

/// One published value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedValue {
    /// The time period as published (`2017`, `2017/18`...).
    pub time_period: String,
    /// Marmot's period for it (`R12-2017-12`, `FY2017/18`...), when Marmot has one.
    pub period: Option<String>,
    /// Area code (`E92000001` for England).
    pub area_code: String,
    /// Area name as published.
    pub area_name: String,
    /// The value (None where Fingertips publishes none).
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

/// The published values of the lake, by (Fingertips id, sex, age), in period order.
#[derive(Debug, Clone, Default)]
pub struct Published {
    by_link: HashMap<(i64, String, String), Vec<PublishedValue>>,
}

impl Published {
    /// Reads the overall rows of `published_indicators` (empty when the lake has none).
    pub async fn load(engine: &Engine) -> Result<Published, EngineError> {
        let mut out = Published::default();
        if !engine.tables().iter().any(|t| t.name == TABLE) {
            return Ok(out);
        }
        let batches = engine
            .sql(&format!(
                "SELECT indicator_id, sex, age, time_period, area_code, area_name, value, \
                        lower_95, upper_95, lower_99_8, upper_99_8, published_count, denominator, \
                        value_note, compared_to_england \
                 FROM {TABLE} WHERE category_type IS NULL \
                 ORDER BY period_start, _ingest_id"
            ))
            .await?;
        // (link, time period, area) -> value; a later ingest replaces an earlier one.
        let mut latest: BTreeMap<(i64, String, String, String, String), PublishedValue> =
            BTreeMap::new();
        let mut order: Vec<(i64, String, String, String, String)> = Vec::new();
        for b in &batches {
            let s = |n: &str| {
                b.column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                    .ok_or_else(|| EngineError::Execution(format!("{TABLE}.{n}")))
            };
            let f = |n: &str| {
                b.column_by_name(n)
                    .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
                    .ok_or_else(|| EngineError::Execution(format!("{TABLE}.{n}")))
            };
            let id = b
                .column_by_name("indicator_id")
                .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                .ok_or_else(|| EngineError::Execution(format!("{TABLE}.indicator_id")))?;
            let (sex, age, tp, code, name) = (
                s("sex")?,
                s("age")?,
                s("time_period")?,
                s("area_code")?,
                s("area_name")?,
            );
            let (note, cmp) = (s("value_note")?, s("compared_to_england")?);
            let (v, l95, u95, l99, u99, n, d) = (
                f("value")?,
                f("lower_95")?,
                f("upper_95")?,
                f("lower_99_8")?,
                f("upper_99_8")?,
                f("published_count")?,
                f("denominator")?,
            );
            let opt_f = |a: &Float64Array, r: usize| a.is_valid(r).then(|| a.value(r));
            let opt_s = |a: &StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_string());
            for r in 0..b.num_rows() {
                let key = (
                    id.value(r),
                    sex.value(r).to_string(),
                    age.value(r).to_string(),
                    tp.value(r).to_string(),
                    code.value(r).to_string(),
                );
                let value = PublishedValue {
                    time_period: tp.value(r).to_string(),
                    period: Period::from_fingertips(tp.value(r)).map(|p| p.label),
                    area_code: code.value(r).to_string(),
                    area_name: opt_s(name, r).unwrap_or_default(),
                    value: opt_f(v, r),
                    lower_95: opt_f(l95, r),
                    upper_95: opt_f(u95, r),
                    lower_99_8: opt_f(l99, r),
                    upper_99_8: opt_f(u99, r),
                    count: opt_f(n, r),
                    denominator: opt_f(d, r),
                    value_note: opt_s(note, r),
                    compared_to_england: opt_s(cmp, r),
                };
                if latest.insert(key.clone(), value).is_none() {
                    order.push(key);
                }
            }
        }
        for key in order {
            if let Some(v) = latest.remove(&key) {
                out.by_link
                    .entry((key.0, key.1, key.2))
                    .or_default()
                    .push(v);
            }
        }
        Ok(out)
    }

    /// The published values matching an indicator's Fingertips link, in period order (England
    /// and the place's authorities).
    pub fn values(&self, link: &FingertipsLink) -> &[PublishedValue] {
        self.by_link
            .get(&(link.id, link.sex.clone(), link.age.clone()))
            .map_or(&[], Vec::as_slice)
    }

    /// England's published value for Marmot's period `label`, if Fingertips has one.
    pub fn england(&self, link: &FingertipsLink, label: &str) -> Option<f64> {
        self.values(link)
            .iter()
            .find(|v| v.area_code == ENGLAND && v.period.as_deref() == Some(label))
            .and_then(|v| v.value)
    }
}
