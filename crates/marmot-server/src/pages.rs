//! HTML pages: dashboards, saved views and the pieces the weekly report shares with them. Pages
//! are self-contained (charts inline as SVG, styles inline, no external requests) so they can
//! be saved, mailed or printed. A short script checks after load that every chart drew and
//! records any script error in the page (`data-page-ok` on `<body>`), which the browser test
//! reads.

use std::collections::BTreeMap;
use std::fmt::Write;

use marmot_charts::Format;
use marmot_engine::indicators::ValuesRequest;
use marmot_model::{Breakdown, Level};

use crate::api::indicators::inequality_rows;
use crate::auth::{Caller, Role};
use crate::charts::{self, ChartQuery};
use crate::dashboards::{Dashboard, Panel};
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use crate::values::{ValueJson, parse_periods, served_values};

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:24px;color:#222;max-width:1200px}\
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:24px 0 8px;border-bottom:2px solid #1d70b8}\
h3{font-size:15px;margin:16px 0 6px}.meta{color:#555;font-size:13px;overflow-wrap:anywhere}\
.panel{margin:12px 0 24px}.panel svg{max-width:100%;height:auto;border:1px solid #ddd}\
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}\
th{background:#f0f0f0}td.num{text-align:right}.Better{background:#92D050}.Similar{background:#FFC000}\
.Worse{background:#C00000;color:#fff}.Higher{background:#BED2FF}.Lower{background:#5555E6;color:#fff}\
.hot{outline:3px solid #000}.note{color:#555;font-style:italic}.sev3{color:#C00000;font-weight:bold}\
.sev2{color:#d4351c}.warn{background:#fff4e5;border-left:4px solid #f47738;padding:6px 10px}";

const CHECK: &str = "<script>window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message));});\
window.addEventListener('load',function(){var s=document.querySelectorAll('svg');var bad=0;\
for(var i=0;i<s.length;i++){var r=s[i].getBoundingClientRect();if(!(r.width>0&&r.height>0))bad++;}\
document.body.setAttribute('data-charts',String(s.length));document.body.setAttribute('data-charts-hidden',String(bad));\
document.body.setAttribute('data-errors',String(window.__errors.length));\
document.body.setAttribute('data-page-ok',(bad===0&&window.__errors.length===0)?'yes':'no');});</script>";

/// A whole page.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}{CHECK}</body></html>",
        esc(title)
    )
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// Renders one panel as HTML; a panel that cannot be drawn for this caller says why instead of
/// failing the page.
pub async fn panel_html(state: &Shared, caller: &Caller, p: &Panel) -> String {
    let mut out = format!("<div class=\"panel\"><h3>{}</h3>", esc(&p.title));
    match panel_body(state, caller, p).await {
        Ok(h) => out.push_str(&h),
        Err(e) => {
            let (status, _) = e.status_code();
            let msg = if status.is_server_error() {
                tracing::error!(error = %e, panel = %p.title, "panel failed");
                "this panel could not be drawn (logged)".to_string()
            } else {
                e.to_string()
            };
            let _ = write!(out, "<p class=\"note\">{}</p>", esc(&msg));
        }
    }
    out.push_str("</div>");
    out
}

fn chart_query(p: &Panel) -> ChartQuery {
    ChartQuery {
        area: p.area.clone(),
        period: p.period.clone(),
        level: p.level.clone(),
        by: p.by.clone(),
        grain: p.grain.clone(),
        from: p.from.clone(),
        stratum: p.stratum.clone(),
        width: Some(900),
        height: Some(if p.chart == "compare" || p.chart == "spine" {
            700
        } else {
            450
        }),
        ..ChartQuery::default()
    }
}

async fn panel_body(state: &Shared, caller: &Caller, p: &Panel) -> ApiResult<String> {
    let name = match p.chart.as_str() {
        "spine" => p.area.clone().unwrap_or_default(),
        _ => p.indicator.clone().unwrap_or_default(),
    };
    match p.chart.as_str() {
        "table" => values_table(state, caller, p).await,
        "inequalities" => inequalities_table(state, caller, p).await,
        "triggers" => triggers_table(state, caller, 15).await,
        "matrix" => matrix(state, caller, &p.indicators).await,
        kind => {
            let r =
                charts::render(state, caller, kind, &name, Format::Svg, &chart_query(p)).await?;
            Ok(String::from_utf8_lossy(&r.bytes).to_string())
        }
    }
}

async fn values_table(state: &Shared, caller: &Caller, p: &Panel) -> ApiResult<String> {
    let id = p.indicator.as_deref().unwrap_or_default();
    let ind = state.indicator(id)?.clone();
    let snap = state.snapshot();
    let level = Level::parse(p.level.as_deref().unwrap_or("ward"))?;
    let by = p.by.as_deref().map(Breakdown::parse).transpose()?;
    let periods = parse_periods(&snap, &ind, p.period.as_deref())?;
    let rows = served_values(
        state,
        &snap,
        caller,
        &ind,
        &ValuesRequest { level, periods, by },
    )
    .await?;
    Ok(rows_table(&rows, by.is_some()))
}

/// A table of values with their intervals and comparison.
pub fn rows_table(rows: &[ValueJson], with_category: bool) -> String {
    let mut h = String::from("<table><tr><th>Area</th><th>Period</th>");
    if with_category {
        h.push_str("<th>Category</th>");
    }
    h.push_str("<th>Value</th><th>95% CI</th><th>Numerator</th><th>Denominator</th><th>Compared with benchmark</th></tr>");
    for r in rows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}{}</td>",
            esc(&r.area_name),
            esc(&r.period),
            if r.provisional { " (provisional)" } else { "" }
        );
        if with_category {
            let _ = write!(h, "<td>{}</td>", esc(&r.category));
        }
        let ci = match (r.lower_95, r.upper_95) {
            (Some(l), Some(u)) => format!("{} to {}", num(Some(l)), num(Some(u))),
            _ => "–".into(),
        };
        let _ = write!(
            h,
            "<td class=\"num\">{}</td><td class=\"num\">{ci}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td></tr>",
            if r.suppressed && r.value.is_none() {
                "suppressed".into()
            } else {
                num(r.value)
            },
            r.numerator
                .map(|n| format!("{n:.0}"))
                .unwrap_or_else(|| "*".into()),
            format_args!("{:.0}", r.denominator),
            esc(&r.judgement),
            esc(&r.judgement),
        );
    }
    h.push_str("</table>");
    h
}

async fn inequalities_table(state: &Shared, caller: &Caller, p: &Panel) -> ApiResult<String> {
    let id = p.indicator.as_deref().unwrap_or_default();
    let ind = state.indicator(id)?.clone();
    let snap = state.snapshot();
    let level = Level::parse(p.level.as_deref().unwrap_or("place"))?;
    let by = Breakdown::parse(p.by.as_deref().unwrap_or("imd_quintile"))?;
    let periods = parse_periods(&snap, &ind, p.period.as_deref())?;
    let rows = inequality_rows(state, caller, &ind, level, &periods, by).await?;
    let mut h = String::from(
        "<table><tr><th>Area</th><th>Period</th><th>Most deprived</th><th>Least deprived</th><th>Gap</th><th>Ratio</th><th>SII (95% CI)</th><th>RII</th></tr>",
    );
    for r in &rows {
        let sii = r
            .sii
            .as_ref()
            .map(|s| {
                format!(
                    "{} ({} to {})",
                    num(Some(s.value)),
                    num(Some(s.lower_95)),
                    num(Some(s.upper_95))
                )
            })
            .unwrap_or_else(|| "–".into());
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{sii}</td><td class=\"num\">{}</td></tr>",
            esc(&r.area_name),
            esc(&r.period),
            num(r.quantile_values.first().copied().flatten()),
            num(r.quantile_values.last().copied().flatten()),
            num(r.gap_absolute),
            r.gap_relative
                .map(|g| format!("{g:.2}"))
                .unwrap_or_else(|| "–".into()),
            r.rii
                .as_ref()
                .map(|x| format!("{:.2}", x.value))
                .unwrap_or_else(|| "–".into()),
        );
    }
    h.push_str("</table>");
    Ok(h)
}

/// The week's active triggers, ranked (analysts).
pub async fn triggers_table(state: &Shared, caller: &Caller, top: usize) -> ApiResult<String> {
    caller.require(Role::Analyst, "triggers")?;
    let (week, list) = crate::api::triggers::week_list(state, None).await?;
    let active: Vec<_> = list.iter().filter(|t| t.status != "closed").collect();
    let mut h = format!(
        "<p class=\"meta\">Run week {}: {} active of {} triggers; the top {} by rank.</p>",
        esc(&week),
        active.len(),
        list.len(),
        top.min(active.len())
    );
    h.push_str(&trigger_rows(active.iter().take(top).copied()));
    Ok(h)
}

/// A table of listed triggers.
pub fn trigger_rows<'a>(
    list: impl Iterator<Item = &'a marmot_engine::triggers::ListedTrigger>,
) -> String {
    let mut h = String::from(
        "<table><tr><th>#</th><th>Signal</th><th>Area</th><th>Stratum</th><th>Direction</th><th>Status</th><th>Opened</th><th>Severity</th><th>Alarm weeks</th><th>Methods</th><th>Note</th><th>Acknowledged</th></tr>",
    );
    for t in list {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"sev{}\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.rank,
            esc(&t.signal),
            esc(&t.area_name),
            esc(&t.stratum),
            esc(&t.direction),
            esc(&t.status),
            esc(&t.opened_week),
            t.severity,
            t.severity,
            t.alarm_weeks,
            esc(&t.methods.join(", ")),
            esc(&t.note),
            if t.acknowledgements.is_empty() {
                "no".to_string()
            } else {
                esc(&t
                    .acknowledgements
                    .iter()
                    .map(|a| a.note.as_str())
                    .collect::<Vec<_>>()
                    .join("; "))
            }
        );
    }
    h.push_str("</table>");
    h
}

/// The prioritisation matrix: indicators x neighbourhoods. Each cell is coloured by the
/// neighbourhood's comparison with the place (Fingertips colours) and shows the ratio of the
/// most to the least deprived quintile within it; cells that are significantly worse AND
/// carry a gap of 1.5 or more are outlined, and neighbourhoods are ordered by how many
/// indicators are worse, so the worst cells stand out.
pub async fn matrix(state: &Shared, caller: &Caller, ids: &[String]) -> ApiResult<String> {
    let snap = state.snapshot();
    let inds: Vec<_> = if ids.is_empty() {
        state
            .indicators
            .iter()
            .filter(|i| i.offers(Breakdown::ImdQuintile))
            .cloned()
            .collect()
    } else {
        ids.iter()
            .map(|i| state.indicator(i).cloned())
            .collect::<ApiResult<Vec<_>>>()?
    };
    // (neighbourhood) -> indicator -> (judgement, value, gap ratio)
    type Cell = (String, Option<f64>, Option<f64>);
    let mut cells: BTreeMap<String, BTreeMap<String, Cell>> = BTreeMap::new();
    for ind in &inds {
        let Ok(periods) = parse_periods(&snap, ind, Some("latest")) else {
            continue;
        };
        let vals = served_values(
            state,
            &snap,
            caller,
            ind,
            &ValuesRequest {
                level: Level::Neighbourhood,
                periods: periods.clone(),
                by: None,
            },
        )
        .await?;
        let gaps: BTreeMap<String, Option<f64>> = inequality_rows(
            state,
            caller,
            ind,
            Level::Neighbourhood,
            &periods,
            Breakdown::ImdQuintile,
        )
        .await
        .map(|rows| {
            rows.into_iter()
                .map(|r| (r.area_name, r.gap_relative))
                .collect()
        })
        .unwrap_or_default();
        for v in vals {
            let gap = gaps.get(&v.area_name).copied().flatten();
            cells
                .entry(v.area_name.clone())
                .or_default()
                .insert(ind.id.clone(), (v.judgement.clone(), v.value, gap));
        }
    }
    let mut order: Vec<(&String, usize)> = cells
        .iter()
        .map(|(n, m)| (n, m.values().filter(|c| c.0 == "Worse").count()))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut h = String::from("<table><tr><th>Neighbourhood</th><th>Worse</th>");
    for ind in &inds {
        let _ = write!(
            h,
            "<th title=\"{}\">{}</th>",
            esc(&ind.title),
            esc(&ind.id.replace('_', " "))
        );
    }
    h.push_str("</tr>");
    for (n, worse) in order {
        let _ = write!(h, "<tr><th>{}</th><td class=\"num\">{worse}</td>", esc(n));
        for ind in &inds {
            match cells.get(n).and_then(|m| m.get(&ind.id)) {
                Some((j, v, gap)) => {
                    let hot = j == "Worse" && gap.is_some_and(|g| g >= 1.5);
                    let _ = write!(
                        h,
                        "<td class=\"{}{}\">{}{}</td>",
                        esc(j),
                        if hot { " hot" } else { "" },
                        num(*v),
                        gap.map(|g| format!("<br><small>gap ×{g:.1}</small>"))
                            .unwrap_or_default()
                    );
                }
                None => h.push_str("<td>–</td>"),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</table><p class=\"meta\">Colour: compared with the place (95%). gap ×: most over least deprived quintile within the neighbourhood. Outlined: worse and gap ×1.5 or more.</p>");
    Ok(h)
}

/// A dashboard page.
pub async fn dashboard_page(state: &Shared, caller: &Caller, d: &Dashboard) -> ApiResult<String> {
    if !d.public {
        caller.require(Role::Analyst, "this dashboard")?;
    }
    let snap = state.snapshot();
    let mut body = format!(
        "<h1>{}</h1><p class=\"meta\">{} · {} · data version {}{}</p>",
        esc(&d.title),
        esc(&d.description),
        esc(&snap.reference.place),
        esc(&snap.versions),
        if caller.role.suppressed() {
            " · counts from 1 to 7 and values that would reveal them are suppressed"
        } else {
            ""
        }
    );
    // Panels one after another (each may run queries; the cube answers most).
    for p in &d.panels {
        body.push_str(&panel_html(state, caller, p).await);
    }
    Ok(page(&d.title, &body))
}

/// The index of dashboards the caller may open.
pub fn dashboards_index(caller: &Caller, all: &[Dashboard]) -> String {
    let mut body = String::from("<h1>Dashboards</h1><ul>");
    for d in all
        .iter()
        .filter(|d| d.public || caller.role >= Role::Analyst)
    {
        let _ = write!(
            body,
            "<li><a href=\"/dashboards/{}.html\">{}</a> — {}</li>",
            esc(&d.id),
            esc(&d.title),
            esc(&d.description)
        );
    }
    body.push_str("</ul>");
    page("Dashboards", &body)
}

/// Errors unless the name ends in `.html`.
pub fn html_name(file: &str) -> ApiResult<&str> {
    file.strip_suffix(".html")
        .ok_or_else(|| ApiError::not_found("not_found", format!("'{file}': pages end in .html")))
}
