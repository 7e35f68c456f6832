//! Disclosure control in the serving path. For roles below analyst, every value of an indicator
//! in a period is published from ONE suppression pattern covering all the tables that period can
//! be asked for: wards, neighbourhoods, localities and the place, each without a breakdown and
//! by every breakdown the indicator offers. The pattern comes from
//! [`marmot_stats::disclosure::protect`] (primary suppression of counts 1 to threshold-1, then
//! complementary suppression until no hidden count can be recovered by differencing), over the
//! additive relations between those tables:
//!
//! - a coarser area equals the sum of the finer areas whose LSOAs exactly partition it (same
//!   category), for every pair of published levels;
//! - an area's total equals the sum of its breakdown categories, where they add up (sex and age
//!   band do not when some records lack them; then no relation is claimed because none holds).
//!
//! Periods of different lengths nest too (three months make a quarter), so below analyst each
//! indicator is served at its own grain only (`values::served_values` refuses others), and
//! dataset extracts by calendar month only; tables of one grain do not overlap.
//!
//! For proportions the complement (denominator minus numerator) is protected the same way and
//! the two patterns are joined. LSOA-level values are never served below analyst. Suppressed
//! rows lose their value, intervals, numerator and comparison; the denominator (a population or
//! a published total) stays.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use marmot_engine::indicators::{
    Cells, Reference, Templates, ValueRow, ValuesRequest, fetch_cells, values_from_cells,
};
use marmot_model::{Breakdown, IndicatorDef, Level, Measure, Period};
use marmot_stats::disclosure::{Constraint, Suppression, protect};

use crate::error::ApiResult;
use crate::state::{AppState, Snapshot};

/// Levels published to roles below analyst, finest first.
pub const PUBLIC_LEVELS: [Level; 4] = [
    Level::Ward,
    Level::Neighbourhood,
    Level::Locality,
    Level::Place,
];

/// The hidden cells of one family of tables: keys `level|area|breakdown|category`.
#[derive(Debug, Default)]
pub struct Pattern {
    hidden: HashSet<String>,
    /// Primary suppressions (counts 1..threshold-1).
    pub primary: usize,
    /// Complementary suppressions.
    pub secondary: usize,
}

/// The key of a cell.
pub fn cell_key(level: &str, area: &str, by: Option<Breakdown>, category: &str) -> String {
    key(level, area, by.map(|b| b.name()).unwrap_or(""), category)
}

fn key(level: &str, area: &str, by: &str, category: &str) -> String {
    format!("{level}|{area}|{by}|{category}")
}

impl Pattern {
    /// Whether a row is hidden.
    pub fn hides(&self, row: &ValueRow, by: Option<Breakdown>) -> bool {
        self.hidden
            .contains(&cell_key(row.level, &row.area_code, by, &row.category))
    }

    /// Whether a cell is hidden (`by` empty: no breakdown).
    pub fn hides_cell(&self, level: Level, area: &str, by: &str, category: &str) -> bool {
        self.hidden.contains(&key(level.name(), area, by, category))
    }
}

/// One published count table: a level, a breakdown (empty: none) and its cells.
#[derive(Debug, Clone)]
pub struct CountTable {
    /// Level (one of [`PUBLIC_LEVELS`]).
    pub level: Level,
    /// Breakdown name (empty: none).
    pub by: String,
    /// Cells: (area code, category, count, complement). The complement (denominator minus
    /// numerator, for proportions) is protected too when given.
    pub cells: Vec<(String, String, f64, Option<f64>)>,
}

/// Builds the pattern of a family of linked count tables (pure).
pub fn protect_tables(reference: &Reference, tables: &[CountTable], threshold: u64) -> Pattern {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut nums = Vec::new();
    let mut comps = Vec::new();
    // Categories of each breakdown, as they appear.
    let mut cats: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for t in tables {
        for (area, cat, n, c) in &t.cells {
            let k = key(t.level.name(), area, &t.by, cat);
            if index.contains_key(&k) {
                continue;
            }
            index.insert(k, nums.len());
            nums.push(*n);
            comps.push(c.unwrap_or(0.0).max(0.0));
            let list = cats.entry(t.by.as_str()).or_default();
            if !list.contains(&cat.as_str()) {
                list.push(cat);
            }
        }
    }
    let has_complement = tables.iter().any(|t| t.cells.iter().any(|c| c.3.is_some()));
    // LSOA sets of every area of every published level.
    let mut areas: BTreeMap<(usize, String), HashSet<usize>> = BTreeMap::new();
    for (li, level) in PUBLIC_LEVELS.iter().enumerate() {
        for i in 0..reference.lsoas.len() {
            areas
                .entry((li, reference.area(i, *level).0))
                .or_default()
                .insert(i);
        }
    }
    let mut constraints = Vec::new();
    // Coarse = sum of finer areas that partition it, per breakdown and category.
    for ((cl, coarse), lsoas) in &areas {
        for (fl, fine_level) in PUBLIC_LEVELS.iter().enumerate().take(*cl) {
            let parts: Vec<&String> = areas
                .iter()
                .filter(|((l, _), s)| *l == fl && s.is_subset(lsoas))
                .map(|((_, code), _)| code)
                .collect();
            let covered: usize = parts
                .iter()
                .filter_map(|c| areas.get(&(fl, (*c).clone())))
                .map(|s| s.len())
                .sum();
            if parts.is_empty() || covered != lsoas.len() {
                continue;
            }
            for (by, list) in &cats {
                for cat in list {
                    let total = index.get(&key(PUBLIC_LEVELS[*cl].name(), coarse, by, cat));
                    let members: Option<Vec<usize>> = parts
                        .iter()
                        .map(|p| index.get(&key(fine_level.name(), p, by, cat)).copied())
                        .collect();
                    // A single part is an identity (a ward that is also a neighbourhood): the
                    // two cells must be hidden together, which the relation enforces.
                    if let (Some(&total), Some(parts)) = (total, members) {
                        constraints.push(Constraint { total, parts });
                    }
                }
            }
        }
    }
    // Area total = sum of categories, where the categories add up.
    for (li, level) in PUBLIC_LEVELS.iter().enumerate() {
        for (_, code) in areas.keys().filter(|(l, _)| *l == li) {
            let Some(&total) = index.get(&key(level.name(), code, "", "")) else {
                continue;
            };
            for (by, list) in cats.iter().filter(|(b, _)| !b.is_empty()) {
                let parts: Option<Vec<usize>> = list
                    .iter()
                    .map(|c| index.get(&key(level.name(), code, by, c)).copied())
                    .collect();
                let Some(parts) = parts else { continue };
                let sum: f64 = parts.iter().map(|&p| nums[p]).sum();
                if (sum - nums[total]).abs() < 1e-6 {
                    constraints.push(Constraint { total, parts });
                }
            }
        }
    }
    let mut marks = protect(&nums, &constraints, threshold);
    if has_complement {
        for (m, c) in marks
            .iter_mut()
            .zip(protect(&comps, &constraints, threshold))
        {
            if matches!(m, Suppression::None) {
                *m = c;
            }
        }
    }
    let mut pattern = Pattern::default();
    for (k, i) in index {
        match marks.get(i) {
            Some(Suppression::Primary) => pattern.primary += 1,
            Some(Suppression::Secondary) => pattern.secondary += 1,
            _ => continue,
        }
        pattern.hidden.insert(k);
    }
    pattern
}

/// The rows of one published table of an indicator: level, breakdown, rows.
pub type RowTable = (Level, Option<Breakdown>, Vec<ValueRow>);

/// Builds the pattern of an indicator in one period from the rows of every published table.
pub fn pattern_from_rows(
    reference: &Reference,
    ind: &IndicatorDef,
    tables: &[RowTable],
) -> Pattern {
    let proportion = ind.measure == Measure::Proportion;
    let tables: Vec<CountTable> = tables
        .iter()
        .map(|(level, by, rows)| CountTable {
            level: *level,
            by: by.map(|b| b.name()).unwrap_or("").to_string(),
            cells: rows
                .iter()
                .map(|r| {
                    (
                        r.area_code.clone(),
                        r.category.clone(),
                        r.numerator,
                        proportion.then_some(r.denominator - r.numerator),
                    )
                })
                .collect(),
        })
        .collect();
    protect_tables(reference, &tables, ind.disclosure_threshold)
}

/// The patterns of an indicator for some periods, from the cache or computed (one numerator
/// query for all missing periods).
pub async fn patterns(
    state: &AppState,
    snap: &Snapshot,
    ind: &IndicatorDef,
    periods: &[Period],
) -> ApiResult<HashMap<String, Arc<Pattern>>> {
    let key = |p: &Period| format!("{}|{}|{}", ind.id, p.label, snap.versions);
    let mut out = HashMap::new();
    let mut missing = Vec::new();
    if let Ok(cache) = state.patterns.lock() {
        for p in periods {
            match cache.get(&key(p)) {
                Some(pat) => {
                    out.insert(p.label.clone(), pat.clone());
                }
                None => missing.push(p.clone()),
            }
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    // Single flight: many requests for one indicator's period arrive together (a dashboard
    // asking for every ward, a refresh after an ingest). The first computes the pattern; the
    // others wait for it here and then find it cached.
    let flight = state
        .pattern_flights
        .lock()
        .map(|mut f| f.entry(ind.id.clone()).or_default().clone())
        .map_err(|_| crate::error::ApiError::Internal("pattern flights poisoned".into()))?;
    let _turn = flight.lock().await;
    if let Ok(cache) = state.patterns.lock() {
        missing.retain(|p| match cache.get(&key(p)) {
            Some(pat) => {
                out.insert(p.label.clone(), pat.clone());
                false
            }
            None => true,
        });
    }
    if missing.is_empty() {
        return Ok(out);
    }
    tracing::debug!(
        indicator = %ind.id,
        periods = missing.len(),
        "disclosure pattern computed"
    );
    let cells = fetch_cells(&snap.engine, &snap.reference, ind, &missing).await?;
    // Every table of the periods, then the suppression search: hundreds of milliseconds of
    // arithmetic, done off the async workers so that cached answers keep flowing meanwhile,
    // and before the cache is locked.
    let compute = || compute_patterns(&snap.reference, ind, &cells, &missing);
    let computed = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(compute),
        _ => compute(),
    }?;
    let mut cache = state
        .patterns
        .lock()
        .map_err(|_| crate::error::ApiError::Internal("pattern cache poisoned".into()))?;
    for (p, pat) in missing.iter().zip(computed) {
        cache.insert(key(p), pat.clone());
        out.insert(p.label.clone(), pat);
    }
    Ok(out)
}

/// The patterns of `periods` (in their order) from the indicator's numerator cells: every
/// published table of each period, then [`pattern_from_rows`].
fn compute_patterns(
    reference: &Reference,
    ind: &IndicatorDef,
    cells: &Cells,
    periods: &[Period],
) -> ApiResult<Vec<Arc<Pattern>>> {
    let mut templates = Templates::default();
    let mut by_period: HashMap<String, Vec<RowTable>> = HashMap::new();
    let breakdowns: Vec<Option<Breakdown>> = std::iter::once(None)
        .chain(ind.breakdowns.iter().copied().map(Some))
        .collect();
    for level in PUBLIC_LEVELS {
        for by in &breakdowns {
            let req = ValuesRequest {
                level,
                periods: periods.to_vec(),
                by: *by,
            };
            let rows = values_from_cells(reference, ind, cells, &req, &mut templates)?;
            let mut split: HashMap<String, Vec<ValueRow>> = HashMap::new();
            for r in rows {
                split.entry(r.period.clone()).or_default().push(r);
            }
            for (period, rows) in split {
                by_period
                    .entry(period)
                    .or_default()
                    .push((level, *by, rows));
            }
        }
    }
    Ok(periods
        .iter()
        .map(|p| {
            let tables = by_period.remove(&p.label).unwrap_or_default();
            Arc::new(pattern_from_rows(reference, ind, &tables))
        })
        .collect())
}
