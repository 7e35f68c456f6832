//! Charts as served: data from the same served values (so the same suppression rules), drawn
//! by `marmot-charts`. Each builder returns a rendered PNG or SVG; the HTTP handler, dashboards,
//! saved views and the weekly report all call these.

use std::collections::BTreeMap;

use marmot_charts::{
    Bar, Format, FunnelLimits, FunnelPoint, Outcome, Rendered, Size, SpineRow, TrendPoint,
    TriggerPoint,
};
use marmot_lake::reference::boundaries::{BoundaryLevel, code_properties};
use marmot_model::{Breakdown, IndicatorDef, Level, Measure, Period, Polarity};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::indicators::{TrendQuery, inequality_rows, level_of, resolve_trend, trend_values};
use crate::api::triggers::{HistoryQuery, history_rows};
use crate::auth::{Caller, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use crate::values::{ValueJson, parse_periods, table};

/// Chart kinds served at `/api/v1/charts/{kind}/{name}.{png|svg}`.
pub const KINDS: [&str; 7] = [
    "trend",
    "trigger",
    "quintiles",
    "compare",
    "funnel",
    "spine",
    "map",
];

/// Parameters of every chart (each kind uses some).
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
pub struct ChartQuery {
    /// Area code (trend, spine: default the place; trigger).
    pub area: Option<String>,
    /// Period(s) or `latest` (quintiles, compare, funnel, spine, map).
    pub period: Option<String>,
    /// Level (compare, funnel: default `ward`; quintiles: default `place`).
    pub level: Option<String>,
    /// Breakdown (quintiles: `imd_quintile` default, `imd_decile`, `local_imd_quintile`; trend).
    pub by: Option<String>,
    /// Grain of a trend.
    pub grain: Option<String>,
    /// Trend start (YYYY-MM-DD).
    pub from: Option<String>,
    /// Trend end (YYYY-MM-DD).
    pub to: Option<String>,
    /// Stratum of a trigger chart (default `all`).
    pub stratum: Option<String>,
    /// Method of a trigger chart.
    pub method: Option<String>,
    /// Weeks of a trigger chart (default 52).
    pub weeks: Option<u32>,
    /// Width in pixels (200-4000, default 900).
    pub width: Option<u32>,
    /// Height in pixels (200-4000, default 500).
    pub height: Option<u32>,
}

fn size(q: &ChartQuery) -> ApiResult<Size> {
    Size::new(q.width.unwrap_or(900), q.height.unwrap_or(500))
        .map_err(|e| ApiError::bad("bad_size", e.to_string()))
}

fn chart_err(e: marmot_charts::ChartError) -> ApiError {
    ApiError::Internal(format!("chart: {e}"))
}

fn outcome(r: &ValueJson) -> Outcome {
    if r.suppressed && r.value.is_none() {
        return Outcome::NotCompared;
    }
    match r.judgement.as_str() {
        "Better" | "Similar" | "Worse" => Outcome::parse(&r.judgement),
        _ => Outcome::parse(&r.comparison),
    }
}

/// A bar of a value row (suppressed rows are drawn as suppressed, not as zero).
fn bar(r: &ValueJson, label: String) -> Bar {
    Bar {
        label,
        value: r.value,
        lower: r.lower_95,
        upper: r.upper_95,
        outcome: outcome(r),
        suppressed: r.suppressed && r.value.is_none(),
    }
}

fn y_label(ind: &IndicatorDef) -> String {
    match ind.measure {
        Measure::Proportion => format!("% (per {})", ind.multiplier),
        Measure::Count => "count".to_string(),
        _ => format!("per {}", thousands(ind.multiplier)),
    }
}

fn thousands(x: f64) -> String {
    let s = format!("{}", x.round() as i64);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders any chart kind.
pub async fn render(
    state: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    format: Format,
    q: &ChartQuery,
) -> ApiResult<Rendered> {
    let sz = size(q)?;
    match kind {
        "trend" => trend(state, caller, name, q, sz, format).await,
        "trigger" => trigger(state, caller, name, q, sz, format).await,
        "quintiles" => quintiles(state, caller, name, q, sz, format).await,
        "compare" => compare(state, caller, name, q, sz, format).await,
        "funnel" => funnel(state, caller, name, q, sz, format).await,
        "spine" => spine(state, caller, name, q, sz, format).await,
        "map" => map(state, caller, name, q, sz, format).await,
        other => Err(ApiError::not_found(
            "unknown_chart",
            format!("no chart kind '{other}' (kinds: {})", KINDS.join(", ")),
        )),
    }
}

async fn trend(
    state: &Shared,
    caller: &Caller,
    id: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let snap = state.snapshot();
    let tq = TrendQuery {
        area: q.area.clone(),
        grain: q.grain.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        by: None,
        format: None,
    };
    let t = resolve_trend(state, &snap, id, &tq).await?;
    let rows = trend_values(state, caller, &t).await?;
    // Trigger alarms as markers, for analysts, when a signal watches the same dataset weekly.
    let mut markers: BTreeMap<String, String> = BTreeMap::new();
    if caller.role >= Role::Analyst
        && t.periods
            .first()
            .is_some_and(|p| p.kind == marmot_model::PeriodKind::Week)
        && let Some(sig) = state.signals.iter().find(|s| s.id == t.ind.id)
    {
        let hq = HistoryQuery {
            signal: sig.id.clone(),
            area: Some(t.area.clone()),
            stratum: None,
            method: None,
            to: None,
            weeks: Some(520),
        };
        if let Ok((_, hist)) = history_rows(state, &hq).await {
            for e in hist.into_iter().filter(|e| e.alarm) {
                markers.insert(e.week, "alarm".into());
            }
        }
    }
    let points: Vec<TrendPoint> = rows
        .iter()
        .map(|r| TrendPoint {
            label: r.period.clone(),
            value: r.value,
            lower: r.lower_95,
            upper: r.upper_95,
            benchmark: r.benchmark,
            suppressed: r.suppressed && r.value.is_none(),
            marker: markers.get(&r.period).cloned(),
        })
        .collect();
    let area_name = rows
        .first()
        .map(|r| r.area_name.clone())
        .unwrap_or(t.area.clone());
    marmot_charts::trend(
        &format!("{} — {}", t.ind.title, area_name),
        &y_label(&t.ind),
        &points,
        sz,
        format,
    )
    .map_err(chart_err)
}

async fn trigger(
    state: &Shared,
    caller: &Caller,
    signal: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    caller.require(Role::Analyst, "trigger charts")?;
    let hq = HistoryQuery {
        signal: signal.to_string(),
        area: q.area.clone(),
        stratum: q.stratum.clone(),
        method: q.method.clone(),
        to: q.period.clone(),
        weeks: q.weeks,
    };
    let (method, rows) = history_rows(state, &hq).await?;
    let points: Vec<TriggerPoint> = rows
        .iter()
        .map(|e| TriggerPoint {
            label: e.week.clone(),
            observed: Some(e.observed),
            expected: e.expected,
            lower: e.lower,
            upper: e.upper,
            alarm: e.alarm,
        })
        .collect();
    let snap = state.snapshot();
    let area = match &q.area {
        Some(a) => level_of(&snap, a)?.2,
        None => snap.reference.place.clone(),
    };
    marmot_charts::trigger(
        &format!(
            "{signal} — {area} ({}, {method})",
            q.stratum.as_deref().unwrap_or("all")
        ),
        &points,
        sz,
        format,
    )
    .map_err(chart_err)
}

fn single_period(periods: Vec<Period>) -> ApiResult<Period> {
    let mut it = periods.into_iter();
    match (it.next(), it.next()) {
        (Some(p), None) => Ok(p),
        _ => Err(ApiError::bad("bad_period", "this chart takes one period")),
    }
}

async fn quintiles(
    state: &Shared,
    caller: &Caller,
    id: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let ind = state.indicator(id)?.clone();
    let snap = state.snapshot();
    let period = single_period(parse_periods(&snap, &ind, q.period.as_deref())?)?;
    let level = Level::parse(q.level.as_deref().unwrap_or("place"))?;
    let by = Breakdown::parse(q.by.as_deref().unwrap_or("imd_quintile"))?;
    let area = match &q.area {
        Some(a) => level_of(&snap, a)?.1,
        None if level == Level::Place => snap.reference.place.clone(),
        None => {
            return Err(ApiError::bad(
                "missing_area",
                "a quintile chart below the place needs area=",
            ));
        }
    };
    let ineq = inequality_rows(
        state,
        caller,
        &ind,
        level,
        std::slice::from_ref(&period),
        by,
    )
    .await?;
    let rows = table(state, &snap, caller, &ind, level, &period, Some(by)).await?;
    let rows: Vec<&ValueJson> = rows.iter().filter(|r| r.area_code == area).collect();
    let bars: Vec<Bar> = rows
        .iter()
        .map(|r| bar(r, quantile_label(by, &r.category)))
        .collect();
    // The SII line: the population-weighted least-squares fit passes through the weighted mean
    // at the mean rank 0.5, with the SII as its slope from most (0) to least (1) deprived.
    let line = ineq
        .iter()
        .find(|i| i.area_code == area)
        .and_then(|i| i.sii.as_ref())
        .and_then(|sii| {
            let (sw, swv) = rows.iter().fold((0.0, 0.0), |(w, wv), r| match r.value {
                Some(v) => (w + r.denominator, wv + r.denominator * v),
                None => (w, wv),
            });
            (sw > 0.0).then(|| {
                let m = swv / sw;
                (m - sii.value / 2.0, m + sii.value / 2.0)
            })
        });
    let benchmark = rows.first().and_then(|r| r.benchmark);
    marmot_charts::quantiles(
        &format!(
            "{} by {} — {} {}",
            ind.title,
            by.name().replace('_', " "),
            area,
            period.label
        ),
        &y_label(&ind),
        &bars,
        line,
        benchmark,
        sz,
        format,
    )
    .map_err(chart_err)
}

fn quantile_label(by: Breakdown, cat: &str) -> String {
    match by {
        Breakdown::ImdQuintile
        | Breakdown::LocalImdQuintile
        | Breakdown::DomainQuintile(_)
        | Breakdown::Imd2019Quintile => match cat {
            "1" => "Q1 most deprived".into(),
            "5" => "Q5 least deprived".into(),
            c => format!("Q{c}"),
        },
        Breakdown::ImdDecile => match cat {
            "1" => "D1 most".into(),
            "10" => "D10 least".into(),
            c => format!("D{c}"),
        },
        _ => cat.to_string(),
    }
}

async fn level_values(
    state: &Shared,
    caller: &Caller,
    ind: &IndicatorDef,
    q: &ChartQuery,
    default_level: &str,
) -> ApiResult<(Level, Period, Vec<ValueJson>)> {
    let snap = state.snapshot();
    let period = single_period(parse_periods(&snap, ind, q.period.as_deref())?)?;
    let level = Level::parse(q.level.as_deref().unwrap_or(default_level))?;
    let rows = table(state, &snap, caller, ind, level, &period, None).await?;
    Ok((level, period, rows))
}

/// The place's value of an indicator in a period (the benchmark line of comparisons).
async fn place_value(
    state: &Shared,
    caller: &Caller,
    ind: &IndicatorDef,
    period: &Period,
) -> ApiResult<Option<f64>> {
    let snap = state.snapshot();
    let rows = table(state, &snap, caller, ind, Level::Place, period, None).await?;
    Ok(rows.first().and_then(|r| r.value))
}

async fn compare(
    state: &Shared,
    caller: &Caller,
    id: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let ind = state.indicator(id)?.clone();
    let (level, period, rows) = level_values(state, caller, &ind, q, "ward").await?;
    let bars: Vec<Bar> = rows.iter().map(|r| bar(r, r.area_name.clone())).collect();
    let bench = place_value(state, caller, &ind, &period).await?;
    marmot_charts::compare(
        &format!("{} by {} — {}", ind.title, level.name(), period.label),
        &y_label(&ind),
        &bars,
        bench,
        sz,
        format,
    )
    .map_err(chart_err)
}

async fn funnel(
    state: &Shared,
    caller: &Caller,
    id: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let ind = state.indicator(id)?.clone();
    let (level, period, rows) = level_values(state, caller, &ind, q, "ward").await?;
    let shown: Vec<&ValueJson> = rows
        .iter()
        .filter(|r| r.value.is_some() && r.numerator.is_some() && r.denominator > 0.0)
        .collect();
    let points: Vec<FunnelPoint> = shown
        .iter()
        .map(|r| FunnelPoint {
            label: r.area_name.clone(),
            denominator: r.denominator,
            value: r.value.unwrap_or(0.0),
            outcome: outcome(r),
        })
        .collect();
    let nums: Vec<f64> = shown.iter().filter_map(|r| r.numerator).collect();
    let dens: Vec<f64> = shown.iter().map(|r| r.denominator).collect();
    let (target, limits) = funnel_limits(&ind, &nums, &dens, &shown)?;
    marmot_charts::funnel(
        &format!(
            "{} — {} funnel plot, {}",
            ind.title,
            level.name(),
            period.label
        ),
        &y_label(&ind),
        target,
        &points,
        &limits,
        sz,
        format,
    )
    .map_err(chart_err)
}

/// Funnel limits (PHE funnel plot tool methods, from `marmot-stats`): Wilson-inverted limits
/// for proportions, exact Poisson limits for rates and DSRs; limits at 95% (2σ) and 99.8% (3σ).
fn funnel_limits(
    ind: &IndicatorDef,
    nums: &[f64],
    dens: &[f64],
    rows: &[&ValueJson],
) -> ApiResult<(f64, Vec<FunnelLimits>)> {
    use marmot_stats::funnel::{
        RateFunnelRow, RateType, proportion_funnel_limits, rate_funnel_limits,
    };
    if nums.is_empty() || nums.iter().sum::<f64>() <= 0.0 {
        return Ok((0.0, Vec::new()));
    }
    let stats = |e: marmot_stats::StatsError| ApiError::Internal(format!("funnel limits: {e}"));
    if ind.measure == Measure::Proportion {
        let lim = proportion_funnel_limits(nums, dens, ind.multiplier).map_err(stats)?;
        let target = lim.first().and_then(|l| l.baseline).unwrap_or(0.0);
        return Ok((
            target,
            lim.iter()
                .map(|l| FunnelLimits {
                    denominator: l.axis_value,
                    lower_95: l.lower_2s,
                    upper_95: l.upper_2s,
                    lower_99_8: l.lower_3s,
                    upper_99_8: l.upper_3s,
                })
                .collect(),
        ));
    }
    let rate_type = if ind.measure == Measure::Dsr {
        RateType::Dsr
    } else {
        RateType::Crude
    };
    let input: Vec<RateFunnelRow> = rows
        .iter()
        .map(|r| RateFunnelRow {
            events: r.numerator.unwrap_or(0.0),
            rate: r.value,
            denominator: Some(r.denominator),
        })
        .collect();
    let lim = rate_funnel_limits(&input, rate_type, ind.multiplier, 1.0).map_err(stats)?;
    let target = lim.first().and_then(|l| l.baseline).unwrap_or(0.0);
    // Each limit of a rate funnel lies at its own population; resample the four curves on one
    // population grid (linear interpolation between the 100 computed points).
    let curve = |pick: &dyn Fn(&marmot_stats::funnel::FunnelLimit) -> Option<(f64, f64)>| {
        let mut pts: Vec<(f64, f64)> = lim.iter().filter_map(pick).collect();
        pts.retain(|p| p.0.is_finite() && p.1.is_finite() && p.0 > 0.0);
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        pts
    };
    let l95 = curve(&|l| l.aux.map(|a| (a.lower_2s, l.lower_2s)));
    let u95 = curve(&|l| l.aux.map(|a| (a.upper_2s, l.upper_2s)));
    let l998 = curve(&|l| l.aux.map(|a| (a.lower_3s, l.lower_3s)));
    let u998 = curve(&|l| l.aux.map(|a| (a.upper_3s, l.upper_3s)));
    let lo = dens.iter().copied().fold(f64::INFINITY, f64::min) * 0.8;
    let hi = dens.iter().copied().fold(0.0, f64::max) * 1.2;
    let grid: Vec<f64> = (0..100).map(|i| lo + (hi - lo) * i as f64 / 99.0).collect();
    Ok((
        target,
        grid.iter()
            .filter_map(|&x| {
                Some(FunnelLimits {
                    denominator: x,
                    lower_95: interp(&l95, x)?,
                    upper_95: interp(&u95, x)?,
                    lower_99_8: interp(&l998, x)?,
                    upper_99_8: interp(&u998, x)?,
                })
            })
            .collect(),
    ))
}

fn interp(pts: &[(f64, f64)], x: f64) -> Option<f64> {
    let i = pts.partition_point(|p| p.0 < x);
    if i == 0 || i >= pts.len() {
        return None;
    }
    let (x0, y0) = pts[i - 1];
    let (x1, y1) = pts[i];
    Some(if x1 > x0 {
        y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    } else {
        y0
    })
}

async fn spine(
    state: &Shared,
    caller: &Caller,
    area: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let snap = state.snapshot();
    let (level, area, area_name) = level_of(&snap, area)?;
    let area = area.as_str();
    if level == Level::Place {
        return Err(ApiError::bad(
            "bad_area",
            "a spine chart compares an area with its peers: give a ward, neighbourhood or locality",
        ));
    }
    let mut rows = Vec::new();
    for ind in &state.indicators {
        let Ok(periods) = parse_periods(&snap, ind, q.period.as_deref()) else {
            continue;
        };
        let Ok(period) = single_period(periods) else {
            continue;
        };
        let vals = table(state, &snap, caller, ind, level, &period, None).await?;
        let Some(me) = vals.iter().find(|r| r.area_code == area) else {
            continue;
        };
        let mut peers: Vec<f64> = vals.iter().filter_map(|r| r.value).collect();
        peers.sort_by(f64::total_cmp);
        let q_at = |p: f64| -> Option<f64> {
            (!peers.is_empty()).then(|| peers[((peers.len() - 1) as f64 * p).round() as usize])
        };
        let (worst, best) = match ind.polarity {
            Polarity::HigherIsBetter => (q_at(0.0), q_at(1.0)),
            _ => (q_at(1.0), q_at(0.0)),
        };
        rows.push(SpineRow {
            indicator: ind.title.clone(),
            value: me.value,
            benchmark: place_value(state, caller, ind, &period).await?,
            worst,
            q25: q_at(0.25),
            q75: q_at(0.75),
            best,
            outcome: outcome(me),
            suppressed: me.suppressed && me.value.is_none(),
        });
    }
    marmot_charts::spine(
        &format!(
            "{area_name}: every indicator against {}",
            snap.reference.place
        ),
        &area_name,
        &rows,
        sz,
        format,
    )
    .map_err(chart_err)
}

async fn map(
    state: &Shared,
    caller: &Caller,
    id: &str,
    q: &ChartQuery,
    sz: Size,
    format: Format,
) -> ApiResult<Rendered> {
    let ind = state.indicator(id)?.clone();
    let mut q = q.clone();
    q.level = Some("ward".into());
    let (_, period, rows) = level_values(state, caller, &ind, &q, "ward").await?;
    let by_code: BTreeMap<&str, &ValueJson> =
        rows.iter().map(|r| (r.area_code.as_str(), r)).collect();
    // Boundaries are the lake's reference data (`marmot init` writes them); without them the
    // panel says what to add instead of failing.
    let title = format!("{} by ward — {}", ind.title, period.label);
    let Some(text) =
        marmot_lake::reference::boundaries::read(&state.lake, BoundaryLevel::Ward).await?
    else {
        return marmot_charts::notice(
            &title,
            &[
                "No ward boundaries in this lake:",
                "attach them with `marmot init --boundaries wards.geojson`",
            ],
            sz,
            format,
        )
        .map_err(chart_err);
    };
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| chart_err(marmot_charts::ChartError::GeoJson(e.to_string())))?;
    let (code, name) = match code_properties(&doc) {
        Some((_, c, n)) => (c, n),
        None => ("WD24CD".to_string(), "WD24NM".to_string()),
    };
    let mut areas = marmot_charts::areas_from_geojson(&text, &code, &name).map_err(chart_err)?;
    for a in &mut areas {
        if let Some(r) = by_code.get(a.code.as_str()) {
            a.value = r.value;
            a.suppressed = r.suppressed && r.value.is_none();
        }
    }
    marmot_charts::choropleth(&title, &y_label(&ind), &areas, sz, format).map_err(chart_err)
}
