//! The weekly System Operational Command (SOC) report: one self-contained HTML page a meeting
//! reads in five minutes. Sections, in the order a meeting takes them:
//!
//! 1. **Triggers**: opened this week, ongoing, closed this week (from the week's trigger run),
//!    with the observed/expected chart of the top ones.
//! 2. **What moved**: every indicator at place level in the report week (weekly indicators) or
//!    the latest complete month, against the previous period and against the same period of
//!    the previous three years; the largest movements first.
//! 3. **Where the deprivation gap widened**: the most-minus-least deprived gap (national IMD
//!    quintiles, place level) in the latest complete month against the month before.
//! 4. **Significantly worse than benchmark**: wards whose 99.8% interval lies on the worse
//!    side of their parent's value, in the latest complete quarter.
//! 5. **Data freshness**: each dataset's last data date and last ingest, partners that are
//!    late (no data in the 14 days before the week ends) and ingests with quarantined rows.
//!
//! Everything is read through the state's snapshot, so a report made from a state pinned to
//! the versions it names (`marmot report --versions ...`) is the same page, byte for byte. No
//! clock time appears in it.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{Datelike, Days, NaiveDate};
use marmot_charts::Format;
use marmot_engine::indicators::ValuesRequest;
use marmot_model::{Breakdown, IndicatorDef, Level, Period, PeriodKind, Polarity};

use crate::api::indicators::inequality_rows;
use crate::auth::{Caller, Role};
use crate::charts::{self, ChartQuery};
use crate::error::{ApiError, ApiResult};
use crate::pages::{esc, page, trigger_rows};
use crate::state::Shared;
use crate::values::{ValueJson, complete_period, served_values, table};

/// A trigger is "late data" when its dataset has nothing in the 14 days before the week ends.
pub const LATE_DAYS: u64 = 14;

/// Appends a chart as inline SVG; a chart that cannot be drawn is left out (the tables say it).
async fn inline_chart(
    state: &Shared,
    caller: &Caller,
    kind: &str,
    name: &str,
    q: &ChartQuery,
    body: &mut String,
) {
    match charts::render(state, caller, kind, name, Format::Svg, q).await {
        Ok(r) => {
            body.push_str("<div class=\"panel\">");
            body.push_str(&String::from_utf8_lossy(&r.bytes));
            body.push_str("</div>");
        }
        Err(e) => tracing::warn!(error = %e, kind, name, "report chart left out"),
    }
}

fn period_before(p: &Period) -> Option<Period> {
    p.start
        .pred_opt()
        .and_then(|d| Period::containing(p.kind, d))
}

fn same_period_years_ago(p: &Period, years: i32) -> Option<Period> {
    match p.kind {
        PeriodKind::Week => {
            let w = p.start.iso_week();
            Period::week(w.year() - years, w.week())
                .or_else(|| Period::week(w.year() - years, w.week() - 1))
        }
        _ => Period::containing(
            p.kind,
            NaiveDate::from_ymd_opt(p.start.year() - years, p.start.month(), 1)?,
        ),
    }
}

fn worse(ind: &IndicatorDef, delta: f64) -> bool {
    match ind.polarity {
        Polarity::HigherIsBetter => delta < 0.0,
        Polarity::LowerIsBetter => delta > 0.0,
        _ => false,
    }
}

async fn place_values(
    state: &Shared,
    caller: &Caller,
    ind: &IndicatorDef,
    periods: Vec<Period>,
) -> ApiResult<BTreeMap<String, ValueJson>> {
    let snap = state.snapshot();
    let rows = served_values(
        state,
        &snap,
        caller,
        ind,
        &ValuesRequest {
            level: Level::Place,
            periods,
            by: None,
        },
    )
    .await?;
    Ok(rows.into_iter().map(|r| (r.period.clone(), r)).collect())
}

fn pct(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.abs() > 1e-12 => Some((a - b) / b * 100.0),
        _ => None,
    }
}

fn fmt_pct(x: Option<f64>) -> String {
    x.map(|v| format!("{v:+.0}%")).unwrap_or_else(|| "–".into())
}

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// The report for an ISO week (`2020-W42`).
pub async fn weekly(state: &Shared, caller: &Caller, week: &str) -> ApiResult<String> {
    caller.require(Role::Analyst, "the weekly SOC report")?;
    let wp = Period::parse(week)
        .ok()
        .filter(|p| p.kind == PeriodKind::Week)
        .ok_or_else(|| {
            ApiError::bad(
                "bad_week",
                format!("'{week}' is not an ISO week (2020-W42)"),
            )
        })?;
    let snap = state.snapshot();
    let week_end = wp.end;
    let mut body = format!(
        "<h1>{} — weekly population health report, {}</h1>\
         <p class=\"meta\">Week {} to {}. Data version <code>{}</code>. Made again from that version with \
         <code>marmot report --week {} --versions '{}'</code>.</p>",
        esc(&snap.reference.place),
        esc(&wp.label),
        wp.start,
        wp.end,
        esc(&snap.versions),
        esc(&wp.label),
        esc(&snap.versions),
    );

    // 1. Triggers.
    body.push_str("<h2>1. Triggers</h2>");
    match marmot_engine::triggers::list_in(&snap.engine, &wp.label).await {
        Ok(list) => {
            let opened: Vec<_> = list.iter().filter(|t| t.status == "opened").collect();
            let ongoing: Vec<_> = list.iter().filter(|t| t.status == "ongoing").collect();
            let closed: Vec<_> = list
                .iter()
                .filter(|t| t.status == "closed" && t.closed_week.as_deref() == Some(&wp.label))
                .collect();
            let _ = write!(
                body,
                "<p><b>{}</b> opened, <b>{}</b> ongoing, <b>{}</b> closed this week. Ranked by severity, persistence and population.</p>",
                opened.len(),
                ongoing.len(),
                closed.len()
            );
            for (name, set) in [
                ("Opened", &opened),
                ("Ongoing", &ongoing),
                ("Closed", &closed),
            ] {
                if set.is_empty() {
                    continue;
                }
                let _ = write!(body, "<h3>{name} ({})</h3>", set.len());
                body.push_str(&trigger_rows(set.iter().take(12).copied()));
                if set.len() > 12 {
                    let _ = write!(
                        body,
                        "<p class=\"meta\">…and {} more (GET /api/v1/triggers?week={}).</p>",
                        set.len() - 12,
                        esc(&wp.label)
                    );
                }
            }
            for t in opened.iter().chain(ongoing.iter()).take(3) {
                let q = ChartQuery {
                    area: Some(t.area_code.clone()),
                    stratum: Some(t.stratum.clone()),
                    period: Some(wp.label.clone()),
                    weeks: Some(52),
                    width: Some(900),
                    height: Some(320),
                    method: t.methods.first().cloned(),
                    ..ChartQuery::default()
                };
                inline_chart(state, caller, "trigger", &t.signal, &q, &mut body).await;
            }
        }
        Err(e) => {
            let _ = write!(
                body,
                "<p class=\"warn\">No trigger run for this week ({}).</p>",
                esc(&e.to_string())
            );
        }
    }

    // 2. What moved.
    body.push_str("<h2>2. What moved</h2>");
    let mut moved = Vec::new();
    for ind in &state.indicators {
        let kind = if ind.grain == PeriodKind::Week {
            PeriodKind::Week
        } else {
            PeriodKind::Month
        };
        let Some(end) = snap.data_end.get(&ind.source).copied() else {
            continue;
        };
        let last_day = week_end.min(end);
        let Some(cur) = complete_period(kind, last_day) else {
            continue;
        };
        let prev = period_before(&cur);
        let years: Vec<Period> = (1..=3)
            .filter_map(|y| same_period_years_ago(&cur, y))
            .collect();
        let mut periods = vec![cur.clone()];
        periods.extend(prev.clone());
        periods.extend(years.iter().cloned());
        let vals = place_values(state, caller, ind, periods).await?;
        let v = |p: &Period| vals.get(&p.label).and_then(|r| r.value);
        let now = v(&cur);
        let before = prev.as_ref().and_then(v);
        let hist: Vec<f64> = years.iter().filter_map(v).collect();
        let usual = (!hist.is_empty()).then(|| hist.iter().sum::<f64>() / hist.len() as f64);
        moved.push((
            ind,
            cur.label.clone(),
            now,
            pct(now, before),
            pct(now, usual),
        ));
    }
    moved.sort_by(|a, b| {
        let m = |x: &(_, _, _, Option<f64>, Option<f64>)| {
            x.3.unwrap_or(0.0).abs().max(x.4.unwrap_or(0.0).abs())
        };
        m(b).total_cmp(&m(a))
    });
    body.push_str("<table><tr><th>Indicator</th><th>Period</th><th>Value</th><th>vs previous</th><th>vs same period, previous 3 years</th></tr>");
    for (ind, label, now, d_prev, d_years) in moved.iter().take(12) {
        let cls = |d: &Option<f64>| match d {
            Some(x) if x.abs() >= 10.0 && worse(ind, *x) => " class=\"Worse\"",
            Some(x) if x.abs() >= 10.0 => " class=\"Better\"",
            _ => "",
        };
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\"{}>{}</td><td class=\"num\"{}>{}</td></tr>",
            esc(&ind.title),
            esc(label),
            fmt(*now),
            cls(d_prev),
            fmt_pct(*d_prev),
            cls(d_years),
            fmt_pct(*d_years)
        );
    }
    body.push_str("</table>");
    if let Some((ind, ..)) = moved.first() {
        let from = week_end
            .checked_sub_days(Days::new(2 * 365))
            .map(|d| d.to_string());
        let q = ChartQuery {
            from,
            to: Some(week_end.to_string()),
            width: Some(900),
            height: Some(320),
            ..ChartQuery::default()
        };
        inline_chart(state, caller, "trend", &ind.id, &q, &mut body).await;
    }

    // 3. Deprivation gap.
    body.push_str("<h2>3. Where the deprivation gap widened</h2>");
    let mut gaps = Vec::new();
    for ind in state
        .indicators
        .iter()
        .filter(|i| i.offers(Breakdown::ImdQuintile))
    {
        let Some(end) = snap.data_end.get(&ind.source).copied() else {
            continue;
        };
        let last_day = week_end.min(end);
        let Some(cur) = complete_period(PeriodKind::Month, last_day) else {
            continue;
        };
        let Some(prev) = period_before(&cur) else {
            continue;
        };
        let rows = inequality_rows(
            state,
            caller,
            ind,
            Level::Place,
            &[prev.clone(), cur.clone()],
            Breakdown::ImdQuintile,
        )
        .await?;
        let gap = |p: &Period| {
            rows.iter()
                .find(|r| r.period == p.label)
                .and_then(|r| r.gap_absolute)
        };
        if let (Some(g0), Some(g1)) = (gap(&prev), gap(&cur)) {
            // Widened: the gap moved further in the direction that harms the most deprived.
            let widened = match ind.polarity {
                Polarity::LowerIsBetter => g1 - g0,
                Polarity::HigherIsBetter => g0 - g1,
                _ => g1.abs() - g0.abs(),
            };
            gaps.push((ind, cur.label.clone(), g0, g1, widened));
        }
    }
    gaps.sort_by(|a, b| b.4.total_cmp(&a.4));
    let widened: Vec<_> = gaps.iter().filter(|g| g.4 > 0.0).collect();
    let _ = write!(
        body,
        "<p>The gap between the most and least deprived fifths (national IMD 2019) widened for <b>{}</b> of {} indicators in the latest complete month.</p>",
        widened.len(),
        gaps.len()
    );
    body.push_str("<table><tr><th>Indicator</th><th>Month</th><th>Gap, month before</th><th>Gap</th><th>Change</th></tr>");
    for (ind, label, g0, g1, w) in widened.iter().take(10) {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num Worse\">{}</td></tr>",
            esc(&ind.title),
            esc(label),
            fmt(Some(*g0)),
            fmt(Some(*g1)),
            fmt(Some(*w))
        );
    }
    body.push_str("</table>");
    if let Some((ind, label, ..)) = widened.first() {
        let q = ChartQuery {
            period: Some(label.clone()),
            width: Some(900),
            height: Some(360),
            ..ChartQuery::default()
        };
        inline_chart(state, caller, "quintiles", &ind.id, &q, &mut body).await;
    }

    // 4. Worse than benchmark.
    body.push_str("<h2>4. Significantly worse than benchmark (99.8%)</h2>");
    let mut worse_rows = Vec::new();
    for ind in &state.indicators {
        let Some(end) = snap.data_end.get(&ind.source).copied() else {
            continue;
        };
        let last_day = week_end.min(end);
        let Some(q) = complete_period(PeriodKind::Quarter, last_day) else {
            continue;
        };
        let rows = table(state, &snap, caller, ind, Level::Ward, &q, None).await?;
        let bad: Vec<String> = rows
            .iter()
            .filter(|r| {
                matches!(
                    (ind.polarity, r.comparison_99_8.as_str()),
                    (Polarity::LowerIsBetter, "Higher") | (Polarity::HigherIsBetter, "Lower")
                )
            })
            .map(|r| r.area_name.clone())
            .collect();
        if !bad.is_empty() {
            worse_rows.push((ind, q.label, bad));
        }
    }
    worse_rows.sort_by_key(|w| std::cmp::Reverse(w.2.len()));
    body.push_str("<table><tr><th>Indicator</th><th>Quarter</th><th>Wards worse than their locality</th></tr>");
    for (ind, q, wards) in &worse_rows {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{} ({})</td></tr>",
            esc(&ind.title),
            esc(q),
            wards.len(),
            esc(&wards.join(", "))
        );
    }
    body.push_str("</table>");

    // 5. Data freshness.
    body.push_str("<h2>5. Data freshness and quarantined partner data</h2>");
    body.push_str(&freshness(state, week_end).await?);
    Ok(page(&format!("SOC report {}", wp.label), &body))
}

async fn freshness(state: &Shared, week_end: NaiveDate) -> ApiResult<String> {
    use marmot_lake::ingest::IngestSummary;
    let snap = state.snapshot();
    let mut h = String::from(
        "<table><tr><th>Dataset</th><th>Partner(s)</th><th>Data to</th><th>Days behind week end</th><th>Version</th><th>Latest ingest</th><th>Quarantined rows (last 5 ingests)</th></tr>",
    );
    let mut quarantine = Vec::new();
    for c in snap.engine.contracts() {
        let Some(version) = snap.version_of(&c.name) else {
            continue;
        };
        let end = snap.data_end.get(&c.name).copied();
        let behind = end.map(|e| (week_end - e).num_days());
        let late = behind.is_some_and(|d| d > LATE_DAYS as i64);
        let mut partners = Vec::new();
        let mut latest = String::from("–");
        let mut rejected = 0u64;
        if let Some(table) = state
            .lake
            .load_table(&marmot_lake::ingest::table_path(&c.name), Some(version))
            .await?
        {
            let hist = marmot_lake::store::table_history(&table, &c.name).await?;
            let ingests: Vec<IngestSummary> = hist
                .into_iter()
                .filter(|r| r.version <= version)
                .filter_map(|r| r.marmot.and_then(|m| serde_json::from_value(m).ok()))
                .collect();
            if let Some(s) = ingests.first() {
                latest = format!(
                    "{} ({}, {} rows)",
                    s.started_at.get(..10).unwrap_or(""),
                    s.partner,
                    s.accepted
                );
            }
            for s in ingests.iter().take(5) {
                rejected += s.rejected;
                if s.rejected > 0 {
                    let top = s
                        .reasons
                        .iter()
                        .max_by_key(|(_, n)| **n)
                        .map(|(r, n)| format!("{r} ({n})"))
                        .unwrap_or_default();
                    quarantine.push(format!(
                        "{}: {} from {} — {} of {} rows quarantined; most: {}",
                        c.name, s.file, s.partner, s.rejected, s.rows_read, top
                    ));
                }
                if !partners.contains(&s.partner) {
                    partners.push(s.partner.clone());
                }
            }
        }
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num{}\">{}</td><td class=\"num\">{version}</td><td>{}</td><td class=\"num\">{rejected}</td></tr>",
            esc(&c.name),
            esc(&partners.join(", ")),
            end.map(|e| e.to_string())
                .unwrap_or_else(|| "no data".into()),
            if late { " Worse" } else { "" },
            behind
                .map(|d| if late {
                    format!("{d} (late)")
                } else {
                    d.to_string()
                })
                .unwrap_or_else(|| "–".into()),
            esc(&latest),
        );
    }
    h.push_str("</table>");
    if quarantine.is_empty() {
        h.push_str("<p>No quarantined rows in the latest ingests.</p>");
    } else {
        h.push_str("<p class=\"warn\">Partner data with quarantined rows (partners see the reasons at GET /api/v1/ingests):</p><ul>");
        for q in quarantine {
            let _ = write!(h, "<li>{}</li>", esc(&q));
        }
        h.push_str("</ul>");
    }
    Ok(h)
}
