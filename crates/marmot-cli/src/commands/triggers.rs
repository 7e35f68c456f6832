//! `marmot triggers ...`: argument parsing and printing for the early-warning pipeline in
//! `marmot_engine::triggers`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch, StringArray};
use clap::{Subcommand, ValueEnum};
use marmot_engine::triggers::{self, ListedTrigger, RunOptions};
use marmot_lake::LakeError;
use marmot_model::{Level, SignalDef};

use crate::error::{CliResult, Exit};
use crate::settings::{Ctx, open_engine};
use crate::ui::{Bar, SqlFormat, print_batches};

#[derive(Subcommand)]
pub enum TriggersAction {
    /// Evaluate every signal for the weeks up to --week, store the evaluations and the week's
    /// ranked trigger list in the lake.
    Run {
        /// The ISO week to run for, e.g. 2020-W42.
        #[arg(long)]
        week: String,
        /// How many weeks up to --week to (re)evaluate: recent weeks are revised as late data
        /// arrives, and a first run needs some history for the trigger lifecycle.
        #[arg(long, default_value_t = 8)]
        weeks: usize,
        /// Only re-evaluate these signals (repeatable; default all). The week's list still
        /// covers every signal, from the stored evaluations of the others.
        #[arg(long)]
        signal: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// The ranked trigger list of a week (default: the latest run).
    List {
        /// Only opened and ongoing triggers (not those closed this week).
        #[arg(long)]
        active: bool,
        /// The run week, e.g. 2020-W42.
        #[arg(long)]
        week: Option<String>,
        /// Only this signal.
        #[arg(long)]
        signal: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
    },
    /// Acknowledge a trigger with a note (who looked at it and what was decided).
    Ack {
        /// The trigger id (from `marmot triggers list`).
        trigger_id: String,
        /// The note.
        #[arg(long)]
        note: String,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        by: Option<String>,
    },
    /// Run one signal over past weeks without storing anything: alarms per method, the
    /// false-alarm rate over weeks with no planted signal, and when each planted signal was
    /// first detected.
    Backtest {
        /// Signal id.
        #[arg(long)]
        signal: String,
        /// First day (YYYY-MM-DD).
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day (YYYY-MM-DD); cut to the last complete week of data.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// Run the monthly signals (frequency = "month", e.g. anti-social behaviour from police.uk
    /// data): Farrington flexible and EARS C1-C3 on monthly counts, 12 periods a year. Nothing
    /// is stored; alarms are listed first.
    Monthly {
        /// Only this signal (default: every monthly signal with data).
        #[arg(long)]
        signal: Option<String>,
        /// Judge only the last N months (default: every month the methods can judge).
        #[arg(long)]
        months: Option<usize>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: TextOrJson,
    },
    /// The trigger signals and their settings.
    Signals,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

fn find<'a>(all: &'a [SignalDef], id: &str) -> CliResult<&'a SignalDef> {
    all.iter().find(|s| s.id == id).ok_or_else(|| {
        LakeError::Config(format!(
            "unknown signal '{id}' (see `marmot triggers signals`; known: {})",
            all.iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()
    })
}

fn week(s: &str) -> CliResult<chrono::NaiveDate> {
    triggers::parse_week(s).map_err(|e| LakeError::Config(e.to_string()).into())
}

/// Runs `marmot triggers`; `signals` needs no lake.
pub async fn run(ctx: &Ctx, action: TriggersAction) -> CliResult {
    let signals = triggers::load_signals(ctx.queries())?;
    match action {
        TriggersAction::Signals => {
            for s in &signals {
                println!(
                    "{:<32} {} [{}, {}ly] levels: {}{}; methods: {}; watches {}",
                    s.id,
                    s.title,
                    s.dataset,
                    s.frequency.name(),
                    s.levels
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if s.strata.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (+ place by {})",
                            s.strata
                                .iter()
                                .map(|x| x.name())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                    s.methods
                        .iter()
                        .map(|m| m.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    s.direction.name()
                );
            }
        }
        TriggersAction::Run {
            week: w,
            weeks,
            signal,
            format,
        } => {
            for id in &signal {
                find(&signals, id)?;
            }
            let opts = RunOptions {
                week: week(&w)?,
                weeks,
                only: signal,
            };
            let lake = &ctx.open_lake().await?;
            let engine = open_engine(lake, &BTreeMap::new()).await?;
            let started = std::time::Instant::now();
            let report = triggers::run(&engine, lake, &signals, &opts, &Bar::new()).await?;
            match format {
                TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                TextOrJson::Text => {
                    println!(
                        "trigger run for {} (weeks {} to {} evaluated):",
                        report.week, report.evaluated_from, report.week
                    );
                    for (id, series, alarms) in &report.signals {
                        println!(
                            "  {id:<32} {series:>4} series, {alarms:>3} alarms in {}",
                            report.week
                        );
                    }
                    for (id, why) in &report.skipped {
                        println!("  {id:<32} skipped: {why}");
                    }
                    println!(
                        "{} evaluations ({} alarms); {} triggers in the {} list, {} opened this week ({:.1}s)",
                        report.evaluations,
                        report.alarms,
                        report.triggers,
                        report.week,
                        report.opened,
                        started.elapsed().as_secs_f64()
                    );
                    println!(
                        "see them with `marmot triggers list --week {}`",
                        report.week
                    );
                }
            }
        }
        TriggersAction::List {
            active,
            week: w,
            signal,
            format,
        } => {
            let wk = w.as_deref().map(week).transpose()?;
            let lake = &ctx.open_lake().await?;
            let (label, mut rows) = triggers::list(lake, wk).await?;
            if active {
                rows.retain(|t| t.status != "closed");
            }
            if let Some(s) = &signal {
                find(&signals, s)?;
                rows.retain(|t| &t.signal == s);
            }
            match format {
                SqlFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"week": label, "triggers": rows})
                    )?
                ),
                _ => {
                    if matches!(format, SqlFormat::Table) {
                        println!("triggers for {label}: {}", rows.len());
                    }
                    print_batches(&[list_batch(&rows)?], format)?;
                }
            }
        }
        TriggersAction::Ack {
            trigger_id,
            note,
            by,
        } => {
            let by = by
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "unknown".into());
            let lake = &ctx.open_lake().await?;
            let v = triggers::acknowledge(lake, &trigger_id, &by, &note).await?;
            println!("acknowledged {trigger_id} by {by} (acks version {v})");
        }
        TriggersAction::Backtest {
            signal,
            from,
            to,
            format,
        } => {
            let sig = find(&signals, &signal)?;
            let lake = &ctx.open_lake().await?;
            let engine = open_engine(lake, &BTreeMap::new()).await?;
            let (report, _) = triggers::backtest(&engine, lake, sig, from, to).await?;
            match format {
                TextOrJson::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                TextOrJson::Text => print_backtest(&report),
            }
        }
        TriggersAction::Monthly {
            signal,
            months,
            format,
        } => {
            let chosen: Vec<&SignalDef> = match &signal {
                Some(id) => vec![find(&signals, id)?],
                None => signals
                    .iter()
                    .filter(|s| s.frequency == marmot_model::Frequency::Month)
                    .collect(),
            };
            let lake = &ctx.open_lake().await?;
            let engine = open_engine(lake, &BTreeMap::new()).await?;
            let reference = marmot_engine::indicators::Reference::load(&engine).await?;
            let mut all = Vec::new();
            for sig in chosen {
                if signal.is_none() && !engine.tables().iter().any(|t| t.name == sig.dataset) {
                    continue;
                }
                let r =
                    triggers::monthly::evaluate_monthly(&engine, &reference, sig, months).await?;
                all.push((sig.id.clone(), r));
            }
            match format {
                TextOrJson::Json => {
                    let v: BTreeMap<_, _> = all.into_iter().collect();
                    println!("{}", serde_json::to_string_pretty(&v)?)
                }
                TextOrJson::Text => {
                    if all.is_empty() {
                        println!("no monthly signal has data in the lake");
                    }
                    for (id, r) in &all {
                        print_monthly(id, r);
                    }
                }
            }
        }
    }
    Ok(Exit::Ok)
}

fn list_batch(rows: &[ListedTrigger]) -> CliResult<RecordBatch> {
    let s = |f: &dyn Fn(&ListedTrigger) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let i = |f: &dyn Fn(&ListedTrigger) -> i32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(rows.iter().map(f)))
    };
    Ok(RecordBatch::try_from_iter(vec![
        ("rank", i(&|t| t.rank)),
        ("status", s(&|t| t.status.clone())),
        ("severity", i(&|t| t.severity)),
        ("signal", s(&|t| t.signal.clone())),
        ("level", s(&|t| t.level.clone())),
        ("area", s(&|t| t.area_name.clone())),
        ("stratum", s(&|t| t.stratum.clone())),
        ("direction", s(&|t| t.direction.clone())),
        ("opened", s(&|t| t.opened_week.clone())),
        ("last_alarm", s(&|t| t.last_alarm_week.clone())),
        ("alarm_weeks", i(&|t| t.alarm_weeks)),
        ("methods", s(&|t| t.methods.join(","))),
        (
            "imd_quintile",
            Arc::new(Int32Array::from_iter(rows.iter().map(|t| t.imd_quintile))) as ArrayRef,
        ),
        (
            "population",
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|t| t.population.round()),
            )) as ArrayRef,
        ),
        (
            "provisional",
            s(&|t| if t.provisional { "yes" } else { "" }.into()),
        ),
        (
            "acknowledged",
            s(&|t| {
                t.acknowledgements
                    .last()
                    .map(|a| format!("{}: {}", a.by, a.note))
                    .unwrap_or_default()
            }),
        ),
        ("note", s(&|t| t.note.clone())),
        ("trigger_id", s(&|t| t.trigger_id.clone())),
    ])?)
}

fn pct(x: Option<f64>) -> String {
    x.map(|v| format!("{:.1}%", v * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn print_monthly(id: &str, r: &triggers::monthly::MonthlyReport) {
    let alarms: Vec<_> = r.evaluations.iter().filter(|e| e.alarm).collect();
    println!(
        "{id}: months {}; {} area-months judged, {} alarms",
        r.months
            .as_ref()
            .map(|(a, b)| format!("{a} to {b}"))
            .unwrap_or_else(|| "none".into()),
        r.evaluations.len(),
        alarms.len()
    );
    for e in &alarms {
        println!(
            "  ALARM {} {:<8} {:<10} {:<32} {:<20} observed {} > threshold {}",
            e.month,
            e.level,
            e.area_code,
            e.area_name,
            e.method,
            e.observed,
            e.upper
                .map(|u| format!("{u:.1}"))
                .unwrap_or_else(|| "-".into())
        );
    }
    for n in &r.not_run {
        println!("  not run: {} on {}: {}", n.method, n.area, n.reason);
    }
}

fn print_backtest(r: &triggers::BacktestReport) {
    println!(
        "backtest of {} from {} to {}: {} series (areas and strata)",
        r.signal, r.from, r.to, r.series
    );
    if r.planted.is_empty() {
        println!("no planted signals known for it: every alarm counts as a false alarm");
    }
    for p in &r.planted {
        println!(
            "  planted {} {} to {} ({})",
            p.id, p.from, p.to, p.direction
        );
    }
    println!(
        "\n{:<20} {:>10} {:>8} {:>12} {:>13} {:>11} {:>11}",
        "method", "evaluated", "alarms", "quiet weeks", "false alarms", "false rate", "place rate"
    );
    for m in &r.methods {
        println!(
            "{:<20} {:>10} {:>8} {:>12} {:>13} {:>11} {:>11}",
            m.method,
            m.evaluated,
            m.alarms,
            m.quiet_weeks,
            m.false_alarms,
            pct(m.false_alarm_rate),
            pct(m.place_false_alarm_rate)
        );
    }
    for m in &r.methods {
        if !m.place_alarm_weeks.is_empty() {
            println!(
                "{} alarms for the place as a whole: {}",
                m.method,
                m.place_alarm_weeks.join(" ")
            );
        }
    }
    let place = Level::Place.name();
    let shown: Vec<_> = r.detections.iter().filter(|d| d.level == place).collect();
    if !shown.is_empty() {
        println!(
            "\nfirst new alarm episode in each planted window (place and strata; from two weeks before onset):"
        );
        println!(
            "{:<26} {:<20} {:<24} {:>24} {:>10}",
            "planted", "method", "series", "first alarm", "delay"
        );
        for d in shown {
            println!(
                "{:<26} {:<20} {:<24} {:>24} {:>10}",
                d.planted,
                d.method,
                d.stratum,
                d.first_alarm
                    .clone()
                    .unwrap_or_else(|| match &d.alarming_since {
                        Some(w) => format!("alarming since {w}"),
                        None => "not found".into(),
                    }),
                d.delay_days
                    .map(|x| format!("{x:+} days"))
                    .unwrap_or_default()
            );
        }
    }
}
