//! Indicators over datasets published for areas other than LSOAs: sub-ICB locations (NHS
//! England's Appointments in General Practice). Such data has no LSOA, so it neither rolls up
//! through wards to the place nor breaks down by deprivation, sex or age. An indicator over it is
//! computed for each area the data gives (level `sub_icb`), from the numerator and denominator
//! its SQL returns, with the same statistics as every other indicator (a proportion's Wilson
//! score limits, named in `method`). How much of each sub-ICB the place is lives in the lake's
//! `sub_icb` reference table.
//!
//! The indicator's SQL returns `area_code`, `event_date` (DATE), `numerator` and `denominator`
//! (`[denominator] kind = "dataset"`).

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Array, Date32Array, Float64Array, StringArray};
use chrono::NaiveDate;
use marmot_model::{AreaKind, DenominatorKind, IndicatorDef, Level, Period, PeriodKind};
use marmot_stats::BenchmarkComparison;

use crate::indicators::{ValueRow, ValuesRequest, measure_totals};
use crate::{Engine, EngineError};

/// The kind of area an indicator's source dataset is published for (LSOA for most).
pub fn area_kind(engine: &Engine, ind: &IndicatorDef) -> AreaKind {
    engine
        .contracts()
        .iter()
        .find(|c| c.name == ind.source)
        .map_or(AreaKind::Lsoa, |c| c.area_kind())
}

/// Whether an indicator is over a dataset published for areas other than LSOAs.
pub fn is_area_indicator(engine: &Engine, ind: &IndicatorDef) -> bool {
    area_kind(engine, ind) != AreaKind::Lsoa
}

/// The level an area dataset's values are at. Data by MSOA or local authority adds up to the
/// place, which is where its trigger signals watch it; indicators over it are not offered yet
/// ([`fetch`] says so).
pub fn level_of(kind: AreaKind) -> Level {
    match kind {
        AreaKind::Lsoa => Level::Lsoa,
        AreaKind::SubIcb => Level::SubIcb,
        AreaKind::Msoa | AreaKind::LocalAuthority | AreaKind::Published => Level::Place,
    }
}

/// Why an indicator has no values at a level, if it has none: an indicator over data published
/// by sub-ICB has values at `sub_icb` only, one counted by LSOA everywhere but `sub_icb`. The
/// CLI and the API refuse such a request with this message.
pub fn level_problem(engine: &Engine, ind: &IndicatorDef, level: Level) -> Option<String> {
    let own = level_of(area_kind(engine, ind));
    if own == Level::Lsoa {
        return (level == Level::SubIcb).then(|| {
            format!(
                "{} is counted by LSOA: its levels are lsoa, ward, neighbourhood, locality and \
                 place (sub_icb is for data published by sub-ICB location)",
                ind.id
            )
        });
    }
    (level != own).then(|| {
        format!(
            "{} is counted from {}, which is published by sub-ICB location (no LSOA, so no \
             wards and no total for the place): ask for level={}",
            ind.id,
            ind.source,
            own.name()
        )
    })
}

/// An area indicator's monthly totals: (area code, first day of the month) -> (numerator,
/// denominator).
#[derive(Debug, Default)]
pub struct AreaCells {
    months: BTreeMap<(String, NaiveDate), (f64, f64)>,
}

impl AreaCells {
    /// The first and last month with data.
    pub fn span(&self) -> Option<(NaiveDate, NaiveDate)> {
        let first = self.months.keys().map(|k| k.1).min()?;
        let last = self.months.keys().map(|k| k.1).max()?;
        Some((first, last))
    }
}

fn check(ind: &IndicatorDef) -> Result<(), EngineError> {
    if !ind.breakdowns.is_empty() {
        return Err(EngineError::Query(format!(
            "indicator {}: {} is published for areas larger than LSOAs, so it has no \
             deprivation, sex or age breakdown; remove `breakdowns`",
            ind.id, ind.source
        )));
    }
    if ind.denominator.kind != DenominatorKind::Dataset {
        return Err(EngineError::Query(format!(
            "indicator {}: over {} (published for areas larger than LSOAs, without a \
             population) the denominator comes from the data: `[denominator] kind = \"dataset\"`",
            ind.id, ind.source
        )));
    }
    Ok(())
}

/// Runs the indicator's SQL and sums it by area and month.
pub async fn fetch(engine: &Engine, ind: &IndicatorDef) -> Result<AreaCells, EngineError> {
    check(ind)?;
    let kind = area_kind(engine, ind);
    if kind != AreaKind::SubIcb {
        return Err(EngineError::Query(format!(
            "indicator {}: {} is published by {}, without a population to divide by; Marmot \
             watches such data with trigger signals at place level and offers no indicators \
             over it yet",
            ind.id,
            ind.source,
            kind.describe()
        )));
    }
    // Totals are kept by month: a weekly indicator would put each month's count in one week.
    if ind.grain == PeriodKind::Week {
        return Err(EngineError::Query(format!(
            "indicator {}: {} is published for areas larger than LSOAs and counted by month \
             here; give it grain = \"month\"",
            ind.id, ind.source
        )));
    }
    let sql = format!(
        "SELECT CAST(area_code AS VARCHAR) AS area_code, \
         CAST(date_trunc('month', event_date) AS DATE) AS month, \
         CAST(sum(numerator) AS DOUBLE) AS num, CAST(sum(denominator) AS DOUBLE) AS den \
         FROM ({}) q WHERE area_code IS NOT NULL GROUP BY 1, 2",
        ind.sql.trim().trim_end_matches(';')
    );
    let mut cells = AreaCells::default();
    for b in engine.sql(&sql).await? {
        let col = |i: usize| b.column(i).as_any();
        let bad = || EngineError::Execution(format!("indicator {}: area totals", ind.id));
        let code = col(0).downcast_ref::<StringArray>().ok_or_else(bad)?;
        let month = col(1).downcast_ref::<Date32Array>().ok_or_else(bad)?;
        let num = col(2).downcast_ref::<Float64Array>().ok_or_else(bad)?;
        let den = col(3).downcast_ref::<Float64Array>().ok_or_else(bad)?;
        for r in 0..b.num_rows() {
            let Some(m) = month.value_as_date(r).filter(|_| month.is_valid(r)) else {
                continue;
            };
            let v = |a: &Float64Array| if a.is_valid(r) { a.value(r) } else { 0.0 };
            let e = cells
                .months
                .entry((code.value(r).to_string(), m))
                .or_default();
            e.0 += v(num);
            e.1 += v(den);
        }
    }
    Ok(cells)
}

/// One row per area with data in each period (a period's value is the sum of its months).
pub fn rows(
    ind: &IndicatorDef,
    level: Level,
    cells: &AreaCells,
    periods: &[Period],
) -> Vec<ValueRow> {
    let names = marmot_lake::reference::nhs::sub_icbs().ok();
    let areas: BTreeSet<&String> = cells.months.keys().map(|k| &k.0).collect();
    let threshold = ind.disclosure_threshold as f64;
    let mut out = Vec::new();
    for area in areas {
        let name = names
            .and_then(|n| n.by_code.get(area.as_str()))
            .map_or_else(|| area.clone(), |s| s.name.clone());
        for p in periods {
            let in_period = cells
                .months
                .range((area.clone(), p.start)..=(area.clone(), p.end))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>();
            if in_period.is_empty() {
                continue;
            }
            let (num, den) = in_period
                .iter()
                .fold((0.0, 0.0), |a, v| (a.0 + v.0, a.1 + v.1));
            let (value, dual, method, denominator) = measure_totals(ind, num, den);
            out.push(ValueRow {
                indicator_id: ind.id.clone(),
                level: level.name(),
                area_code: area.clone(),
                area_name: name.clone(),
                period: p.label.clone(),
                category: String::new(),
                value,
                ci95: dual.map(|d| (d.ci95.lower, d.ci95.upper)),
                ci99_8: dual.map(|d| (d.ci99_8.lower, d.ci99_8.upper)),
                numerator: num,
                denominator,
                method,
                benchmark: None,
                comparison: BenchmarkComparison::NotCompared,
                comparison_99_8: BenchmarkComparison::NotCompared,
                judgement: String::new(),
                suppressed: num > 0.0 && num < threshold,
            });
        }
    }
    out
}

/// Values of an area indicator. At its own level (`sub_icb`) one row per area and period; at
/// the place's levels none (the data does not divide into wards or add up to the place), so
/// pages that list every indicator for the place skip it rather than fail.
pub async fn values(
    engine: &Engine,
    ind: &IndicatorDef,
    req: &ValuesRequest,
) -> Result<Vec<ValueRow>, EngineError> {
    let level = level_of(area_kind(engine, ind));
    if req.level != level {
        return Ok(Vec::new());
    }
    if let Some(p) = req.periods.iter().find(|p| p.kind == PeriodKind::Week) {
        return Err(EngineError::Query(format!(
            "indicator {} is counted by month ({} is monthly data): it has months, quarters, \
             financial years and rolling 12 months, not weeks ({})",
            ind.id, ind.source, p.label
        )));
    }
    let cells = fetch(engine, ind).await?;
    Ok(rows(ind, level, &cells, &req.periods))
}
