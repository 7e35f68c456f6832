//! The `marmot` command line: wires the lake and the engine to the terminal. All logic lives in
//! the library crates. This file holds the global flags and the command list and dispatches;
//! each command's flags and code are in `commands/<name>.rs`; `error` maps outcomes to the
//! documented exit codes (0 ok, 1 failure, 2 usage, 3 partial), `settings` opens the lake and
//! the engine, `ui` draws progress and prints tables.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod error;
mod settings;
mod ui;

use commands::{cluster, datasets, demo, detect, indicators, ingest, init, serve, sql, triggers};
use error::{CliResult, Exit};
use settings::Ctx;

#[derive(Parser)]
#[command(
    name = "marmot",
    version,
    about = "Population-health intelligence and health inequalities for English places"
)]
struct Cli {
    /// Lake location: a local directory or an object store URL (s3://bucket/prefix).
    #[arg(long, global = true, env = "MARMOT_LAKE", default_value = "./lake")]
    lake: String,
    /// Directory of query definitions (its `indicators/*.sql` and `triggers/*.sql`); default
    /// `./queries` when it exists, else the definitions built into the binary.
    #[arg(long, global = true, env = "MARMOT_QUERIES")]
    queries: Option<PathBuf>,
    /// Where queries run: `local` (DataFusion in this process, the default) or
    /// `ballista://HOST:PORT` (a scheduler started with `marmot cluster scheduler`).
    #[arg(long, global = true, env = "MARMOT_ENGINE")]
    engine: Option<String>,
    /// Memory budget for query execution, e.g. `8GiB` or `512MiB` (DataFusion's memory pool:
    /// sorts, joins and groupings spill to disk where they can; a query that still does not fit
    /// stops with "resources exhausted" instead of taking the machine down).
    #[arg(long, global = true, env = "MARMOT_MEMORY_LIMIT")]
    memory_limit: Option<String>,
    /// Settings file (TOML with `engine` and `memory_limit`); default `./marmot.toml` when it
    /// exists. Flags and environment variables win over it.
    #[arg(long, global = true, env = "MARMOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a lake for a place (any set of English local authorities): reference geography,
    /// IMD 2025 (or 2019), population, Census 2021 ethnic group, ESP2013.
    Init(init::InitArgs),
    /// The demo: generate the demo lake if it is missing, then show what is in it.
    Demo(Box<demo::DemoArgs>),
    /// Validate partner files against a dataset contract and commit them to the lake.
    Ingest(ingest::IngestArgs),
    /// List datasets, or describe their contracts, or write a template file.
    Datasets {
        #[command(subcommand)]
        action: Option<datasets::DatasetsAction>,
    },
    /// Run DataFusion SQL over every curated and reference table.
    Sql(sql::SqlArgs),
    /// The indicator catalogue: id, title, measure, polarity, source, breakdowns.
    Indicators(indicators::CatalogueArgs),
    /// Values of one indicator by level, period and breakdown, with 95% and 99.8% intervals.
    Indicator(indicators::ValuesArgs),
    /// Inequality measures of an indicator: values by deprivation quantile, SII, RII and gaps.
    Inequalities(indicators::InequalitiesArgs),
    /// The statistical SQL functions available in `marmot sql`.
    Functions,
    /// Rebuild the indicator cube where its data changed (done after every ingest anyway).
    Cube,
    /// Run a detection method over any weekly series (a CSV with `count`, and optionally
    /// `date`, `population`, `in_window`), as the R surveillance package would.
    Detect(detect::DetectArgs),
    /// Early-warning triggers: weekly evaluation of every signal, the trigger list,
    /// acknowledgements and backtests.
    Triggers {
        #[command(subcommand)]
        action: triggers::TriggersAction,
    },
    /// Serve the lake over HTTP: JSON API (OpenAPI at /api/v1/openapi.json), charts,
    /// dashboards, the weekly SOC report and partner extracts.
    Serve {
        #[command(flatten)]
        args: serve::ServeArgs,
    },
    /// Scale-out on Apache Ballista: a scheduler, or an executor, that knows Marmot's SQL
    /// functions and reads the lake with this process's `AWS_*` settings. Then run any command
    /// with `--engine ballista://HOST:PORT`.
    Cluster {
        #[command(subcommand)]
        action: cluster::ClusterAction,
    },
    /// API tokens: each has a role (viewer, partner, analyst, admin); only hashes are stored.
    Tokens {
        #[command(subcommand)]
        action: serve::TokensAction,
    },
    /// The weekly System Operational Command report as a self-contained HTML page.
    Report(serve::ReportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("marmot: cannot start the runtime: {e}");
            return ExitCode::from(Exit::Failure.code());
        }
    };
    let exit = match rt.block_on(run(cli)) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("marmot: error: {e}");
            e.exit()
        }
    };
    ExitCode::from(exit.code())
}

/// Dispatches to the command. Only commands that read or write a lake open one.
async fn run(cli: Cli) -> CliResult {
    settings::resolve(cli.config, cli.engine, cli.memory_limit)?;
    let ctx = Ctx {
        lake: cli.lake,
        queries: cli.queries,
    };
    match cli.command {
        Command::Init(args) => init::run(&ctx, args).await,
        Command::Demo(args) => demo::run(&ctx, *args).await,
        Command::Ingest(args) => ingest::run(&ctx, args).await,
        Command::Datasets { action } => datasets::run(&ctx, action).await,
        Command::Sql(args) => sql::run(&ctx, args).await,
        Command::Indicators(args) => indicators::catalogue(&ctx, args),
        Command::Indicator(args) => indicators::values(&ctx, args).await,
        Command::Inequalities(args) => indicators::inequalities(&ctx, args).await,
        Command::Functions => sql::functions(),
        Command::Cube => indicators::cube(&ctx).await,
        Command::Detect(args) => detect::run(args),
        Command::Triggers { action } => triggers::run(&ctx, action).await,
        Command::Serve { args } => serve::run(&ctx, args).await,
        Command::Cluster { action } => cluster::run(action).await,
        Command::Tokens { action } => serve::tokens(action),
        Command::Report(args) => serve::report(&ctx, args).await,
    }
}
