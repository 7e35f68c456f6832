//! `marmot demo`: generate the demo lake if it is missing, summarise it, and serve it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Subcommand;
use marmot_lake::Lake;
use marmot_lake::demo::{DemoOptions, generate};
use marmot_lake::ingest::table_path;
use marmot_lake::store::table_rows;

use super::indicators::refresh_cube;
use super::{PlaceArgs, place_source, pseudonymiser, serve};
use crate::error::{CliResult, Exit};
use crate::settings::{Ctx, lake_options, open_engine};
use crate::ui::Bar;

#[derive(clap::Args)]
pub struct DemoArgs {
    #[command(subcommand)]
    action: Option<DemoAction>,
    #[command(flatten)]
    opts_args: GenerateArgs,
    /// Only make and summarise the lake; do not start the server.
    #[arg(long)]
    no_serve: bool,
    #[command(flatten)]
    serve: serve::ServeArgs,
}

#[derive(Subcommand)]
enum DemoAction {
    /// Generate the demo lake (deterministic for a seed).
    Generate {
        #[command(flatten)]
        opts_args: GenerateArgs,
    },
}

#[derive(clap::Args, Clone)]
struct GenerateArgs {
    /// Multiply every volume by this (1 = a place of about 290,000 people; ~0.4M admissions).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of the random streams.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    place: PlaceArgs,
    /// Skip building the indicator cube (build it later with `marmot cube`).
    #[arg(long)]
    no_cube: bool,
}

pub async fn run(ctx: &Ctx, args: DemoArgs) -> CliResult {
    let lake = ctx.open_lake().await?;
    match args.action {
        Some(DemoAction::Generate { opts_args }) => demo(ctx, &lake, &opts_args, true).await,
        None => {
            demo(ctx, &lake, &args.opts_args, false).await?;
            if args.no_serve {
                return Ok(Exit::Ok);
            }
            demo_serve(&lake, &ctx.lake, ctx.queries.clone(), &args.serve).await
        }
    }
}

async fn demo(ctx: &Ctx, lake: &Lake, opts_args: &GenerateArgs, always: bool) -> CliResult {
    let exists = lake.manifest().await?.is_some()
        && lake
            .load_table(&table_path("admissions"), None)
            .await?
            .is_some_and(|t| table_rows(&t, "admissions").unwrap_or(0) > 0);
    if exists && !always {
        println!(
            "demo lake already at {} (use `marmot demo generate --lake <new dir>` for a fresh one)",
            lake.url()
        );
    } else {
        let place = place_source(&opts_args.place)?;
        let opts = DemoOptions {
            seed: opts_args.seed,
            scale: opts_args.scale,
            ..Default::default()
        };
        eprintln!(
            "generating the demo lake for {} at {} (seed {}, scale {})...",
            place.config.name,
            lake.url(),
            opts_args.seed,
            opts_args.scale
        );
        let started = std::time::Instant::now();
        let report = generate(lake, &place, &pseudonymiser()?, &opts, &Bar::new()).await?;
        println!("demo lake: {}", lake.url());
        println!(
            "place: {} (population mid-2019: {})",
            place.config.name, report.population
        );
        println!("period: {} to {}", opts.from, opts.to);
        for (t, rows, v) in &report.tables {
            println!("  {t:<16} {rows:>10} rows  (version {v})");
        }
        println!("planted signals: {}{}", lake.url(), report.signals_path);
        if !opts_args.no_cube {
            // The indicators of `--queries` when given, as every other command reads them.
            let cube = refresh_cube(lake, ctx.queries.as_deref(), &Bar::new()).await?;
            println!(
                "indicator cube: {} indicators, {} rows",
                cube.computed.len(),
                cube.computed.iter().map(|c| c.1).sum::<usize>()
            );
        }
        println!("generated in {:.1}s", started.elapsed().as_secs_f64());
    }
    println!("\nTry (from a checkout, `cargo run --release --` in place of `marmot`):");
    println!("  marmot datasets");
    println!("  marmot indicators");
    println!("  marmot indicator emergency_admissions --level neighbourhood --period FY2019/20");
    println!(
        "  marmot inequalities police_domestic_abuse --period FY2019/20 --by local_imd_quintile"
    );
    println!("  marmot triggers run --week 2020-W42 && marmot triggers list --active");
    println!(
        "  marmot sql \"SELECT neighbourhood, count(*) AS emergency_admissions FROM admissions JOIN geography USING (lsoa_code) WHERE admission_method = 'emergency' GROUP BY 1 ORDER BY 2 DESC\""
    );
    Ok(Exit::Ok)
}

/// The demo's server: a trigger run for the demo week if there is none, an analyst token that
/// lives as long as the process, and the URLs to open.
async fn demo_serve(
    lake: &Lake,
    location: &str,
    queries: Option<PathBuf>,
    args: &serve::ServeArgs,
) -> CliResult {
    const WEEK: &str = "2020-W42";
    if marmot_engine::triggers::snapshot_weeks(lake)
        .await?
        .is_empty()
    {
        eprintln!("evaluating the early-warning triggers for {WEEK}...");
        let opts = marmot_engine::triggers::RunOptions {
            week: marmot_engine::triggers::parse_week(WEEK)?,
            weeks: 8,
            only: Vec::new(),
        };
        let signals = marmot_engine::triggers::load_signals(queries.as_deref())?;
        let engine = open_engine(lake, &BTreeMap::new()).await?;
        marmot_engine::triggers::run(&engine, lake, &signals, &opts, &Bar::new()).await?;
    }
    let _log = serve::init_logging(args.log_json);
    let mut config = args.config(location, queries, lake_options());
    let (token, record) = marmot_server::auth::mint(
        marmot_server::Role::Analyst,
        None,
        "demo analyst (this run only)",
    );
    config.ephemeral_tokens = vec![record];
    serve::serve(config, |addr| {
        let base = format!("http://{addr}");
        println!("\nMarmot is serving the demo lake at {base}/");
        println!("  dashboards (public):  {base}/dashboards");
        println!("  indicators (JSON):    {base}/api/v1/indicators");
        println!("  a chart:              {base}/api/v1/charts/trend/covid_admissions.png?grain=week");
        println!("  ward extract (needs a partner token): {base}/api/v1/extracts/ward/emergency_admissions.csv");
        println!("  OpenAPI:              {base}/api/v1/openapi.json");
        println!("An analyst token for this run only (not stored): {token}");
        println!("  weekly SOC report:    {base}/reports/weekly/{WEEK}.html?access_token={token}");
        println!("  curl -H 'Authorization: Bearer {token}' {base}/api/v1/triggers?week={WEEK}");
        println!("Ctrl-C stops the server.");
    })
    .await?;
    Ok(Exit::Ok)
}
