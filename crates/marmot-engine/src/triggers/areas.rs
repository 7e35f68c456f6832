//! Weekly signals over data published for areas other than LSOAs: MSOAs (UKHSA's weekly
//! COVID-19 cases) and local authorities. Such data adds up to the place (MSOAs nest in local
//! authorities, and ingest keeps only the place's own), but not to its wards or deprivation
//! strata, so the signal has one series: the place's, the sum of every area's weekly count.
//!
//! The signal's SQL returns `area_code`, `event_date` (DATE) and `numerator`. Suppressed counts
//! (a publisher's small-number marker, stored empty) add nothing to the week's total: the series
//! is a lower bound by at most the publisher's threshold per suppressed cell, as the source's own
//! totals are. Data by sub-ICB location (larger than the place) is refused: its counts are not
//! the place's.

use arrow::array::{Array, Date32Array, Float64Array};
use chrono::NaiveDate;
use marmot_model::{AreaKind, Level, SignalDef};

use super::evaluate::{AreaSeries, WeeklyData};
use crate::indicators::Reference;
use crate::{Engine, EngineError};

/// The kind of area the signal's dataset is published for (LSOA for most).
pub fn area_kind(engine: &Engine, sig: &SignalDef) -> AreaKind {
    engine
        .contract(&sig.dataset)
        .map_or(AreaKind::Lsoa, |c| c.area_kind())
}

/// Why a signal cannot run over its dataset's areas, if it cannot.
pub fn check(engine: &Engine, sig: &SignalDef) -> Result<(), EngineError> {
    let kind = area_kind(engine, sig);
    match kind {
        AreaKind::Lsoa => Ok(()),
        AreaKind::Published => Err(EngineError::Query(format!(
            "signal {}: {} holds published statistics (values, not events to count)",
            sig.id, sig.dataset
        ))),
        AreaKind::SubIcb => Err(EngineError::Query(format!(
            "signal {}: {} is published by sub-ICB location, an area that may be larger than \
             the place, so its counts are not the place's; watch it with an indicator at level \
             sub_icb instead",
            sig.id, sig.dataset
        ))),
        AreaKind::Msoa | AreaKind::LocalAuthority => {
            if sig.levels != [Level::Place] || !sig.strata.is_empty() {
                return Err(EngineError::Query(format!(
                    "signal {}: {} is published by {}, which adds up to the place but not to \
                     its wards, localities or deprivation strata: give it levels = [\"place\"] \
                     and no strata",
                    sig.id,
                    sig.dataset,
                    kind.describe()
                )));
            }
            Ok(())
        }
    }
}

/// The place's weekly series of an area signal over `weeks` (consecutive Mondays, `end` the
/// Sunday after the last). One DataFusion query.
pub async fn place_series(
    engine: &Engine,
    reference: &Reference,
    sig: &SignalDef,
    weeks: Vec<NaiveDate>,
    end: NaiveDate,
    last_date: NaiveDate,
) -> Result<WeeklyData, EngineError> {
    check(engine, sig)?;
    let Some(&from) = weeks.first() else {
        return Ok(WeeklyData {
            weeks,
            series: Vec::new(),
            last_date: Some(last_date),
        });
    };
    let sql = format!(
        "SELECT wk, SUM(num) AS num FROM ( \
           SELECT CAST(date_trunc('week', CAST(event_date AS TIMESTAMP)) AS DATE) AS wk, \
                  CAST(numerator AS DOUBLE) AS num \
           FROM ({inner}) AS s WHERE event_date >= DATE '{from}' AND event_date <= DATE '{end}') AS t \
         GROUP BY wk",
        inner = sig.sql
    );
    let batches = engine.sql(&sql).await.map_err(|e| match e {
        EngineError::Query(m) => EngineError::Query(format!("signal {}: {m}", sig.id)),
        other => other,
    })?;
    let mut counts = vec![0.0; weeks.len()];
    for b in &batches {
        let wk = b
            .column_by_name("wk")
            .and_then(|c| c.as_any().downcast_ref::<Date32Array>())
            .ok_or_else(|| EngineError::Execution("wk".into()))?;
        let num = b
            .column_by_name("num")
            .and_then(|c| c.as_any().downcast_ref::<Float64Array>())
            .ok_or_else(|| EngineError::Execution("num".into()))?;
        for r in 0..b.num_rows() {
            let (Some(d), true) = (wk.value_as_date(r), num.is_valid(r)) else {
                continue;
            };
            let idx = (d - from).num_days() / 7;
            if let Some(c) = usize::try_from(idx).ok().and_then(|i| counts.get_mut(i)) {
                *c += num.value(r);
            }
        }
    }
    let all: Vec<usize> = (0..reference.lsoas.len()).collect();
    let (code, name) = match reference.lsoas.first() {
        Some(_) => reference.area(0, Level::Place),
        None => (String::new(), String::new()),
    };
    Ok(WeeklyData {
        weeks,
        series: vec![AreaSeries {
            level: Level::Place,
            area_code: code,
            area_name: name,
            stratum: "all".into(),
            population: all
                .iter()
                .map(|&i| reference.population(i, 2019, 0, 90, None))
                .sum(),
            imd_quintile: super::area_quintile(reference, &all),
            counts,
        }],
        last_date: Some(last_date),
    })
}
