//! The `marmot` command line: wires the lake and the engine to the terminal. All logic lives in
//! the library crates; this file parses arguments, draws progress and maps errors to exit codes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use marmot_lake::demo::{DemoOptions, generate};
use marmot_lake::ingest::{
    IngestRequest, IngestSummary, Period, Progress, SubmissionMode, ingest, table_path,
};
use marmot_lake::reference::{PlaceSource, init_lake};
use marmot_lake::store::{table_history, table_rows};
use marmot_lake::{Lake, LakeError, Pseudonymiser};

mod serve_cmd;
mod triggers_cmd;

/// Exit codes (documented in the README).
mod exit {
    /// Everything accepted.
    pub const OK: u8 = 0;
    /// A whole-file or other error: nothing changed.
    pub const ERROR: u8 = 1;
    /// Usage error (clap uses 2 too).
    pub const USAGE: u8 = 2;
    /// Committed, with some rows quarantined.
    pub const PARTIAL: u8 = 3;
}

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

/// The settings file (`marmot.toml`). Never holds credentials: those come from `AWS_*`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    engine: Option<String>,
    memory_limit: Option<String>,
}

/// How every command of this process opens its engine (set once from the flags).
static ENGINE: std::sync::OnceLock<marmot_engine::EngineOptions> = std::sync::OnceLock::new();

/// Opens the engine over `lake` as the flags say (`--engine`, `--memory-limit`), with `pins`.
pub(crate) async fn open_engine(
    lake: &Lake,
    pins: &BTreeMap<String, u64>,
) -> Result<marmot_engine::Engine, marmot_engine::EngineError> {
    let mut options = ENGINE.get().cloned().unwrap_or_default();
    options.versions = pins.clone();
    marmot_engine::Engine::open_with(lake, &options).await
}

/// Reads the settings file and resolves `--engine` and `--memory-limit` (flag or environment,
/// then the file, then the defaults).
fn engine_settings(cli: &Cli) -> Result<marmot_engine::EngineOptions> {
    let file = cli.config.clone().or_else(|| {
        let p = PathBuf::from("marmot.toml");
        p.is_file().then_some(p)
    });
    let settings: Settings = match &file {
        None => Settings::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading settings file {}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| LakeError::Config(format!("settings file {}: {e}", p.display())))?
        }
    };
    let engine = cli
        .engine
        .clone()
        .or(settings.engine)
        .unwrap_or_else(|| "local".into());
    let memory = cli.memory_limit.clone().or(settings.memory_limit);
    Ok(marmot_engine::EngineOptions {
        engine: marmot_engine::EngineKind::parse(&engine)?,
        memory_limit: memory.as_deref().map(parse_bytes).transpose()?,
        ..Default::default()
    })
}

/// `8GiB`, `512MiB`, `64KiB`, `8G`, `1000000` (bytes).
fn parse_bytes(text: &str) -> Result<usize, LakeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        LakeError::Config(format!(
            "memory limit '{text}': expected e.g. 8GiB or 512MiB"
        ))
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(LakeError::Config(format!(
                "memory limit '{text}': unknown unit '{other}' (use KiB, MiB, GiB or TiB)"
            )));
        }
    };
    let bytes = n * mult;
    if !(bytes >= 1.0 && bytes.is_finite()) {
        return Err(LakeError::Config(format!(
            "memory limit '{text}' must be positive"
        )));
    }
    Ok(bytes as usize)
}

#[derive(Subcommand)]
enum Command {
    /// Create a lake for a place: reference geography, IMD 2019, population, ESP2013.
    Init {
        /// A shipped place id (city-and-hackney, chorley, southend-on-sea) or a place TOML file.
        #[arg(long, env = "MARMOT_PLACE", default_value = "city-and-hackney")]
        place: String,
    },
    /// The demo: generate the demo lake if it is missing, then show what is in it.
    Demo {
        #[command(subcommand)]
        action: Option<DemoAction>,
        #[command(flatten)]
        opts_args: GenerateArgs,
        /// Only make and summarise the lake; do not start the server.
        #[arg(long)]
        no_serve: bool,
        #[command(flatten)]
        serve: serve_cmd::ServeArgs,
    },
    /// Validate partner files against a dataset contract and commit them to the lake.
    Ingest {
        /// Dataset (contract) name: admissions, ccg_activity, cab, police, community_hub, contact_tracing.
        dataset: String,
        /// CSV or Parquet files; each is ingested in its own atomic commit.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Partner sending the file (default: the contract's default partner).
        #[arg(long)]
        partner: Option<String>,
        /// Submission period, YYYY-MM or YYYY-MM..YYYY-MM: rows outside it are quarantined.
        /// Required with `--mode replace` (the period replaced).
        #[arg(long)]
        period: Option<String>,
        /// append (default): add the rows, a record key sent before is an update; replace:
        /// take out every earlier row of the partner in `--period` and put these in.
        #[arg(long, default_value = "append", value_parser = ["append", "replace"])]
        mode: String,
        /// Work out what the ingest would add, update, remove and quarantine; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Ingest even if the same file was ingested before, and let a replacement take out
        /// more than twice the rows it brings.
        #[arg(long)]
        force: bool,
        /// Output format of the summary.
        #[arg(long, value_enum, default_value = "text")]
        format: SummaryFormat,
        /// Do not refresh the indicator cube after committing (refresh later with `marmot cube`).
        #[arg(long)]
        no_cube: bool,
    },
    /// List datasets, or describe their contracts, or write a template file.
    Datasets {
        #[command(subcommand)]
        action: Option<DatasetsAction>,
    },
    /// Run DataFusion SQL over every curated and reference table.
    Sql {
        /// The query.
        query: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
        /// Pin a table to a Delta version (time travel), e.g. --at admissions=3.
        #[arg(long = "at", value_parser = parse_pin)]
        at: Vec<(String, u64)>,
    },
    /// The indicator catalogue: id, title, measure, polarity, source, breakdowns.
    Indicators {
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
        /// Show one indicator in full, with the SQL behind it.
        #[arg(long)]
        show: Option<String>,
    },
    /// Values of one indicator by level, period and breakdown, with 95% and 99.8% intervals.
    Indicator {
        /// Indicator id (see `marmot indicators`).
        id: String,
        /// Level: lsoa, ward, neighbourhood, locality or place.
        #[arg(long, default_value = "place")]
        level: String,
        #[command(flatten)]
        periods: PeriodArgs,
        /// Breakdown: imd_quintile, imd_decile, local_imd_quintile, sex or age_band.
        #[arg(long)]
        by: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
        /// Compute live even when the indicator cube holds the answer.
        #[arg(long)]
        live: bool,
    },
    /// Inequality measures of an indicator: values by deprivation quantile, SII, RII and gaps.
    Inequalities {
        /// Indicator id.
        id: String,
        /// Level of the areas measured (place, locality, neighbourhood...).
        #[arg(long, default_value = "place")]
        level: String,
        #[command(flatten)]
        periods: PeriodArgs,
        /// Quantiles: imd_quintile, imd_decile or local_imd_quintile.
        #[arg(long, default_value = "imd_quintile")]
        by: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: SqlFormat,
    },
    /// The statistical SQL functions available in `marmot sql`.
    Functions,
    /// Rebuild the indicator cube where its data changed (done after every ingest anyway).
    Cube,
    /// Run a detection method over any weekly series (a CSV with `count`, and optionally
    /// `date`, `population`, `in_window`), as the R surveillance package would.
    Detect {
        /// The series CSV.
        #[arg(long)]
        input: PathBuf,
        /// farrington-flexible, farrington, ears-c1, ears-c2, ears-c3, cusum or glr-poisson.
        #[arg(long)]
        method: String,
        /// A parameter, name=value, with the R package's names in snake_case (repeatable),
        /// e.g. --param b=5 --param threshold_method=nbPlugin.
        #[arg(long = "param")]
        params: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: DetectFormat,
    },
    /// Early-warning triggers: weekly evaluation of every signal, the trigger list,
    /// acknowledgements and backtests.
    Triggers {
        #[command(subcommand)]
        action: triggers_cmd::TriggersAction,
    },
    /// Serve the lake over HTTP: JSON API (OpenAPI at /api/v1/openapi.json), charts,
    /// dashboards, the weekly SOC report and partner extracts.
    Serve {
        #[command(flatten)]
        args: serve_cmd::ServeArgs,
    },
    /// Scale-out on Apache Ballista: a scheduler, or an executor, that knows Marmot's SQL
    /// functions and reads the lake with this process's `AWS_*` settings. Then run any command
    /// with `--engine ballista://HOST:PORT`.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// API tokens: each has a role (viewer, partner, analyst, admin); only hashes are stored.
    Tokens {
        #[command(subcommand)]
        action: serve_cmd::TokensAction,
    },
    /// The weekly System Operational Command report as a self-contained HTML page.
    Report {
        /// ISO week, e.g. 2020-W42.
        #[arg(long)]
        week: String,
        /// Make it from these table versions (`name@version;...`, as a report names them).
        #[arg(long)]
        versions: Option<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DetectFormat {
    Csv,
    Json,
}

/// Which periods to compute.
#[derive(clap::Args, Clone)]
struct PeriodArgs {
    /// A period: 2020-W42, 2020-04, 2020-Q2, FY2020/21 or R12-2020-06 (repeatable).
    #[arg(long)]
    period: Vec<String>,
    /// A series instead: every period of this grain (week, month, quarter, financial_year,
    /// rolling12) between --from and --to.
    #[arg(long)]
    trend: Option<String>,
    /// First day of the series (YYYY-MM-DD).
    #[arg(long, requires = "trend")]
    from: Option<chrono::NaiveDate>,
    /// Last day of the series (YYYY-MM-DD).
    #[arg(long, requires = "trend")]
    to: Option<chrono::NaiveDate>,
}

impl PeriodArgs {
    fn periods(&self) -> Result<Vec<marmot_model::Period>> {
        let mut out: Vec<marmot_model::Period> = self
            .period
            .iter()
            .map(|p| marmot_model::Period::parse(p).map_err(LakeError::from))
            .collect::<Result<_, _>>()?;
        if let Some(grain) = &self.trend {
            let kind = marmot_model::PeriodKind::parse(grain).map_err(LakeError::from)?;
            let (Some(from), Some(to)) = (self.from, self.to) else {
                return Err(LakeError::Config("--trend needs --from and --to".into()).into());
            };
            out.extend(marmot_model::Period::series(kind, from, to));
        }
        if out.is_empty() {
            return Err(LakeError::Config(
                "give --period (e.g. --period 2020-Q2) or --trend GRAIN --from DATE --to DATE"
                    .into(),
            )
            .into());
        }
        Ok(out)
    }
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
    /// Place to generate for (shipped id or TOML file).
    #[arg(long, env = "MARMOT_PLACE", default_value = "city-and-hackney")]
    place: String,
    /// Skip building the indicator cube (build it later with `marmot cube`).
    #[arg(long)]
    no_cube: bool,
}

#[derive(Subcommand)]
enum DatasetsAction {
    /// Markdown page describing every contract (what a partner must send).
    Describe {
        /// Write to this file instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Write a valid example CSV for a dataset to standard output.
    Template {
        /// Dataset name.
        dataset: String,
        /// Rows of example data.
        #[arg(long, default_value_t = 5)]
        rows: usize,
    },
    /// Ingest history of a dataset (versions, files, counts).
    History {
        /// Dataset name.
        dataset: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SqlFormat {
    Table,
    Csv,
    Json,
}

fn parse_pin(s: &str) -> Result<(String, u64), String> {
    let (t, v) = s.split_once('=').ok_or("expected TABLE=VERSION")?;
    Ok((
        t.to_string(),
        v.parse()
            .map_err(|_| format!("'{v}' is not a version number"))?,
    ))
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
            return ExitCode::from(exit::ERROR);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("marmot: error: {e:#}");
            let config = |l: &LakeError| matches!(l, LakeError::Config(_) | LakeError::Model(_));
            let usage = e.downcast_ref::<LakeError>().is_some_and(config)
                || e.downcast_ref::<marmot_engine::EngineError>()
                    .is_some_and(|x| matches!(x, marmot_engine::EngineError::Lake(l) if config(l)));
            ExitCode::from(if usage { exit::USAGE } else { exit::ERROR })
        }
    }
}

fn place_source(place: &str) -> Result<PlaceSource> {
    if place.ends_with(".toml") {
        let path = PathBuf::from(place);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading place file {place}"))?;
        let config = marmot_model::PlaceConfig::from_toml(place, &text).map_err(LakeError::from)?;
        let neighbourhoods_csv = match &config.neighbourhoods {
            Some(n) => {
                let p = path
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(&n.file);
                Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading neighbourhood file {}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(PlaceSource {
            config,
            neighbourhoods_csv,
        })
    } else {
        let (config, csv) = marmot_model::builtin_place(place).map_err(LakeError::from)?;
        Ok(PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
        })
    }
}

fn pseudonymiser() -> Result<Pseudonymiser> {
    let (p, _note) = Pseudonymiser::from_env_or_file(&Pseudonymiser::default_key_file())?;
    Ok(p)
}

/// A progress bar on standard error, drawn only when it is a terminal.
pub(crate) struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Bar {
        let pb =
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        Bar(pb)
    }
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: u64) {
        self.0.reset();
        self.0.set_length(total);
        self.0.set_position(0);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg:40} [{bar:30}] {percent:>3}% {elapsed}")
        {
            self.0.set_style(style.progress_chars("=> "));
        }
        self.0.set_message(what.to_string());
    }
    fn advance_to(&self, done: u64) {
        self.0.set_position(done);
    }
    fn end(&self) {
        self.0.finish_and_clear();
    }
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Run a Ballista scheduler (until stopped).
    Scheduler {
        /// Address to listen on (clients and executors connect here).
        #[arg(long, default_value = "127.0.0.1:50050")]
        addr: String,
        /// Seconds without a heartbeat before an executor is declared lost (the jobs in flight
        /// are then cancelled, and Marmot's clients run them once more on the executors left).
        #[arg(long, default_value_t = 30)]
        executor_timeout: u64,
    },
    /// Run a Ballista executor (until stopped).
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Address of this executor's data (Arrow Flight) service.
        #[arg(long, default_value = "127.0.0.1:50051")]
        addr: String,
        /// Port of this executor's gRPC service (default: the data port + 1).
        #[arg(long)]
        grpc_port: Option<u16>,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
        /// Directory for shuffle files (default: a temporary directory).
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Seconds between heartbeats to the scheduler.
        #[arg(long, default_value_t = 5)]
        heartbeat: u64,
    },
}

fn socket_addr(text: &str) -> Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| LakeError::Config(format!("'{text}' is not a HOST:PORT address")).into())
}

async fn cluster(action: ClusterAction, memory_limit: Option<usize>) -> Result<u8> {
    // Ballista's own events (executors joining and lost, jobs, task failures) at info.
    serve_cmd::init_logging_with(
        false,
        "warn,ballista_scheduler=info,ballista_executor=info,ballista_core=warn",
    );
    match action {
        ClusterAction::Scheduler {
            addr,
            executor_timeout,
        } => {
            let addr = socket_addr(&addr)?;
            eprintln!("marmot cluster scheduler listening on {addr}");
            marmot_cluster::run_scheduler(marmot_cluster::SchedulerOptions {
                addr,
                executor_timeout_seconds: executor_timeout,
            })
            .await?;
        }
        ClusterAction::Executor {
            scheduler,
            addr,
            grpc_port,
            concurrent_tasks,
            work_dir,
            heartbeat,
        } => {
            let sched = socket_addr(&scheduler)?;
            let addr = socket_addr(&addr)?;
            let grpc_port = match grpc_port {
                Some(p) => p,
                None => addr.port().checked_add(1).ok_or_else(|| {
                    LakeError::Config("--addr port 65535 leaves no room for --grpc-port".into())
                })?,
            };
            eprintln!(
                "marmot cluster executor on {addr} (gRPC port {grpc_port}), scheduler {sched}"
            );
            marmot_cluster::run_executor(marmot_cluster::ExecutorOptions {
                scheduler_host: sched.ip().to_string(),
                scheduler_port: sched.port(),
                addr,
                grpc_port,
                concurrent_tasks,
                work_dir: work_dir.map(|p| p.display().to_string()),
                memory_limit: memory_limit.map(|b| b as u64),
                heartbeat_seconds: heartbeat,
            })
            .await?;
        }
    }
    Ok(exit::OK)
}

async fn run(cli: Cli) -> Result<u8> {
    let settings = engine_settings(&cli)?;
    let memory_limit = settings.memory_limit;
    let _ = ENGINE.set(settings);
    let command = match cli.command {
        // Cluster processes serve any lake: they open none themselves.
        Command::Cluster { action } => return cluster(action, memory_limit).await,
        other => other,
    };
    let lake = Lake::open(&cli.lake, lake_options())?;
    if lake.url().scheme() != "file" {
        lake.check_reachable().await?;
    }
    match command {
        Command::Init { place } => {
            let m = init_lake(&lake, &place_source(&place)?).await?;
            println!(
                "lake {} is ready for {} ({} LSOAs)",
                lake.url(),
                m.place_name,
                m.lsoas.len()
            );
            Ok(exit::OK)
        }
        Command::Demo {
            action,
            opts_args,
            no_serve,
            serve,
        } => match action {
            Some(DemoAction::Generate { opts_args }) => demo(&lake, &opts_args, true).await,
            None => {
                demo(&lake, &opts_args, false).await?;
                if no_serve {
                    return Ok(exit::OK);
                }
                demo_serve(&lake, &cli.lake, cli.queries.clone(), &serve).await
            }
        },
        Command::Serve { args } => {
            serve_cmd::init_logging(args.log_json);
            let config = args.config(&cli.lake, cli.queries.clone(), lake_options());
            serve_cmd::serve(config, |addr| {
                println!("marmot serving {} at http://{addr}/", cli.lake);
                println!("  API:        http://{addr}/api/v1/indicators   (OpenAPI: /api/v1/openapi.json)");
                println!("  dashboards: http://{addr}/dashboards");
            })
            .await?;
            Ok(exit::OK)
        }
        Command::Tokens { action } => {
            serve_cmd::tokens(action)?;
            Ok(exit::OK)
        }
        Command::Report {
            week,
            versions,
            output,
        } => {
            let config = serve_cmd::ServeArgs::defaults().config(
                &cli.lake,
                cli.queries.clone(),
                lake_options(),
            );
            serve_cmd::report(config, &week, versions.as_deref(), output).await?;
            Ok(exit::OK)
        }
        Command::Ingest {
            dataset,
            files,
            partner,
            period,
            mode,
            dry_run,
            force,
            format,
            no_cube,
        } => {
            let period = period.as_deref().map(Period::parse).transpose()?;
            let mode = SubmissionMode::parse(&mode)?;
            let pseudo = pseudonymiser()?;
            let user = std::env::var("MARMOT_USER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "unknown".into());
            let mut worst = exit::OK;
            let mut committed = false;
            let bar = Bar::new();
            for file in files {
                let req = IngestRequest {
                    dataset: dataset.clone(),
                    path: file.clone(),
                    partner: partner.clone(),
                    period,
                    force,
                    mode,
                    dry_run,
                    display_name: None,
                    user: user.clone(),
                    today: chrono::Utc::now().date_naive(),
                };
                match ingest(&lake, &pseudo, &req, &bar).await {
                    Ok(s) => {
                        committed |= !s.already_ingested && !s.dry_run;
                        print_summary(&s, format);
                        if s.rejected > 0 && !s.already_ingested {
                            worst = worst.max(exit::PARTIAL);
                        }
                    }
                    Err(e) => {
                        let code = match e {
                            LakeError::Config(_) | LakeError::Model(_) | LakeError::Refused(_) => {
                                exit::USAGE
                            }
                            _ => exit::ERROR,
                        };
                        match format {
                            SummaryFormat::Json => println!(
                                "{}",
                                serde_json::json!({"file": file.display().to_string(), "error": e.to_string(), "changed": false})
                            ),
                            SummaryFormat::Text => eprintln!(
                                "marmot: error: {e}\nmarmot: nothing was changed in the lake"
                            ),
                        }
                        // A usage error outranks everything; a failed file outranks partial success.
                        worst = if code == exit::USAGE || worst == exit::USAGE {
                            exit::USAGE
                        } else {
                            exit::ERROR
                        };
                    }
                }
            }
            if !no_cube && committed {
                // The data is committed whatever happens here: a failed refresh only means
                // indicator reads are computed live until `marmot cube` succeeds.
                if let Err(e) = refresh_cube(&lake, cli.queries.as_deref(), &bar).await {
                    eprintln!(
                        "marmot: warning: the data is committed, but the indicator cube was not refreshed: {e:#}"
                    );
                }
            }
            Ok(worst)
        }
        Command::Datasets { action } => datasets(&lake, action).await,
        Command::Indicators { format, show } => {
            let all = marmot_engine::load_indicators(cli.queries.as_deref())?;
            if let Some(id) = show {
                let ind = find_indicator(&all, &id)?;
                println!("{} ({})\n\n{}\n", ind.title, ind.id, ind.definition);
                println!(
                    "source: {}; measure: {} x {}; polarity: {:?}; grain: {}; disclosure threshold: {}",
                    ind.source,
                    ind.measure.name(),
                    ind.multiplier,
                    ind.polarity,
                    ind.grain.name(),
                    ind.disclosure_threshold
                );
                println!(
                    "breakdowns: {}",
                    ind.breakdowns
                        .iter()
                        .map(|b| b.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                println!("\n{}", ind.sql);
                return Ok(exit::OK);
            }
            print_batches(&[catalogue_batch(&all)?], format)?;
            Ok(exit::OK)
        }
        Command::Indicator {
            id,
            level,
            periods,
            by,
            format,
            live,
        } => {
            let all = marmot_engine::load_indicators(cli.queries.as_deref())?;
            let ind = find_indicator(&all, &id)?;
            let level = marmot_model::Level::parse(&level).map_err(LakeError::from)?;
            let by = by
                .as_deref()
                .map(marmot_model::Breakdown::parse)
                .transpose()
                .map_err(LakeError::from)?;
            let periods = periods.periods()?;
            let engine = open_engine(&lake, &BTreeMap::new()).await?;
            let req = marmot_engine::indicators::ValuesRequest { level, periods, by };
            let cached = if live {
                None
            } else {
                marmot_engine::cube::lookup(&engine, ind, &req).await?
            };
            let rows = match cached {
                Some(rows) => rows,
                None => {
                    let reference = marmot_engine::indicators::Reference::load(&engine).await?;
                    marmot_engine::indicators::values(&engine, &reference, ind, &req).await?
                }
            };
            let batch = marmot_engine::indicators::to_batch(
                &rows,
                by,
                &marmot_engine::indicators::data_version(&engine, ind),
            )?;
            print_batches(&[batch], format)?;
            Ok(exit::OK)
        }
        Command::Inequalities {
            id,
            level,
            periods,
            by,
            format,
        } => {
            let all = marmot_engine::load_indicators(cli.queries.as_deref())?;
            let ind = find_indicator(&all, &id)?;
            let level = marmot_model::Level::parse(&level).map_err(LakeError::from)?;
            let by = marmot_model::Breakdown::parse(&by).map_err(LakeError::from)?;
            let periods = periods.periods()?;
            let engine = open_engine(&lake, &BTreeMap::new()).await?;
            let reference = marmot_engine::indicators::Reference::load(&engine).await?;
            let rows = marmot_engine::inequalities::inequalities(
                &engine, &reference, ind, level, &periods, by,
            )
            .await?;
            let batch = marmot_engine::inequalities::to_batch(
                ind,
                level,
                by,
                &rows,
                &marmot_engine::indicators::data_version(&engine, ind),
            )?;
            print_batches(&[batch], format)?;
            Ok(exit::OK)
        }
        Command::Cube => {
            let report = refresh_cube(&lake, cli.queries.as_deref(), &Bar::new()).await?;
            for (id, n) in &report.computed {
                println!("  {id:<40} {n:>9} rows");
            }
            println!(
                "indicator cube: {} recomputed, {} unchanged{}",
                report.computed.len(),
                report.unchanged.len(),
                report
                    .version
                    .map(|v| format!(" (version {v})"))
                    .unwrap_or_default()
            );
            Ok(exit::OK)
        }
        Command::Detect {
            input,
            method,
            params,
            format,
        } => {
            use marmot_stats::surveillance::detect::{self, DetectError};
            let usage =
                |e: DetectError| -> anyhow::Error { LakeError::Config(e.to_string()).into() };
            let method = detect::Method::parse(&method).map_err(usage)?;
            let pairs = params
                .iter()
                .map(|p| detect::parse_param_arg(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(usage)?;
            let params = detect::parse_params(method, &pairs).map_err(usage)?;
            let text = std::fs::read_to_string(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let series = detect::parse_series_csv(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            let rows = detect::run(&series, method, &params)
                .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
            match format {
                DetectFormat::Csv => print!("{}", detect::to_csv(&rows)),
                DetectFormat::Json => println!("{}", detect::to_json(&rows)),
            }
            Ok(exit::OK)
        }
        Command::Triggers { action } => {
            triggers_cmd::run(&lake, cli.queries.as_deref(), action).await?;
            Ok(exit::OK)
        }
        Command::Cluster { .. } => Ok(exit::OK),
        Command::Functions => {
            for f in marmot_engine::functions::catalogue() {
                println!("{}\n    {}\n", f.signature, f.description);
            }
            Ok(exit::OK)
        }
        Command::Sql { query, format, at } => {
            let pins: BTreeMap<String, u64> = at.into_iter().collect();
            let engine = open_engine(&lake, &pins).await?;
            let batches = engine.sql(&query).await?;
            print_batches(&batches, format)?;
            Ok(exit::OK)
        }
    }
}

/// Storage options for remote lakes, from the environment (never from files in the repo).
fn lake_options() -> std::collections::HashMap<String, String> {
    marmot_lake::remote::options_from_env()
}

async fn demo(lake: &Lake, opts_args: &GenerateArgs, always: bool) -> Result<u8> {
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
            let cube = refresh_cube(lake, None, &Bar::new()).await?;
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
        "  marmot sql \"SELECT neighbourhood, count(*) AS emergency_admissions FROM admissions JOIN geography USING (lsoa11cd) WHERE admission_method = 'emergency' GROUP BY 1 ORDER BY 2 DESC\""
    );
    Ok(exit::OK)
}

/// The demo's server: a trigger run for the demo week if there is none, an analyst token that
/// lives as long as the process, and the URLs to open.
async fn demo_serve(
    lake: &Lake,
    location: &str,
    queries: Option<PathBuf>,
    args: &serve_cmd::ServeArgs,
) -> Result<u8> {
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
    serve_cmd::init_logging(args.log_json);
    let mut config = args.config(location, queries, lake_options());
    let (token, record) = marmot_server::auth::mint(
        marmot_server::Role::Analyst,
        None,
        "demo analyst (this run only)",
    );
    config.ephemeral_tokens = vec![record];
    serve_cmd::serve(config, |addr| {
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
    Ok(exit::OK)
}

async fn datasets(lake: &Lake, action: Option<DatasetsAction>) -> Result<u8> {
    match action {
        Some(DatasetsAction::Describe { output }) => {
            let md = marmot_model::describe_markdown(
                &marmot_model::builtin_contracts().map_err(LakeError::from)?,
            );
            match output {
                Some(p) => {
                    std::fs::write(&p, md).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{md}"),
            }
            Ok(exit::OK)
        }
        Some(DatasetsAction::Template { dataset, rows }) => {
            let contract = marmot_model::builtin_contract(&dataset).map_err(LakeError::from)?;
            // Real LSOAs of the lake's place when there is a lake, else of the demo place.
            let lsoas = match lake.manifest().await? {
                Some(m) => m.lsoas,
                None => {
                    marmot_lake::reference::place_geography(&place_source("city-and-hackney")?)?
                        .into_iter()
                        .map(|g| g.lsoa)
                        .collect()
                }
            };
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(contract.columns.iter().map(|c| c.name.as_str()))?;
            for r in contract.template_rows(rows, &lsoas, chrono::Utc::now().date_naive()) {
                w.write_record(&r)?;
            }
            w.flush()?;
            Ok(exit::OK)
        }
        Some(DatasetsAction::History { dataset }) => {
            let contract = marmot_model::builtin_contract(&dataset).map_err(LakeError::from)?;
            let Some(table) = lake.load_table(&table_path(&contract.name), None).await? else {
                println!("{dataset}: no data yet");
                return Ok(exit::OK);
            };
            println!(
                "{:>7}  {:<25} {:<12} {:>10} {:>9} {:>9}  file",
                "version", "committed (UTC)", "partner", "rows read", "accepted", "rejected"
            );
            for c in table_history(&table, &dataset).await? {
                let when = c
                    .timestamp
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                match c
                    .marmot
                    .and_then(|m| serde_json::from_value::<IngestSummary>(m).ok())
                {
                    Some(s) => println!(
                        "{:>7}  {:<25} {:<12} {:>10} {:>9} {:>9}  {}",
                        c.version, when, s.partner, s.rows_read, s.accepted, s.rejected, s.file
                    ),
                    None => println!(
                        "{:>7}  {:<25} {}",
                        c.version,
                        when,
                        c.operation.unwrap_or_default()
                    ),
                }
            }
            Ok(exit::OK)
        }
        None => {
            let m = lake.require_manifest().await?;
            println!("lake {} ({})", lake.url(), m.place_name);
            println!(
                "{:<16} {:>10} {:>8}  last ingest",
                "dataset", "rows", "version"
            );
            for c in marmot_model::builtin_contracts().map_err(LakeError::from)? {
                match lake.load_table(&table_path(&c.name), None).await? {
                    None => println!("{:<16} {:>10} {:>8}  -", c.name, 0, "-"),
                    Some(t) => {
                        let rows = table_rows(&t, &c.name)?;
                        let last = table_history(&t, &c.name).await?.into_iter().find_map(|h| {
                            let s: IngestSummary = serde_json::from_value(h.marmot?).ok()?;
                            let when = h
                                .timestamp
                                .and_then(chrono::DateTime::from_timestamp_millis)?;
                            Some(format!(
                                "{} {} ({} accepted, {} rejected)",
                                when.format("%Y-%m-%d %H:%M"),
                                s.file,
                                s.accepted,
                                s.rejected
                            ))
                        });
                        println!(
                            "{:<16} {:>10} {:>8}  {}",
                            c.name,
                            rows,
                            t.version().unwrap_or(0),
                            last.unwrap_or_else(|| "-".into())
                        );
                    }
                }
            }
            Ok(exit::OK)
        }
    }
}

async fn refresh_cube(
    lake: &Lake,
    queries: Option<&std::path::Path>,
    bar: &Bar,
) -> Result<marmot_engine::cube::CubeReport> {
    let indicators = marmot_engine::load_indicators(queries)?;
    let engine = open_engine(lake, &BTreeMap::new()).await?;
    Ok(marmot_engine::cube::refresh(&engine, lake, &indicators, bar).await?)
}

fn find_indicator<'a>(
    all: &'a [marmot_model::IndicatorDef],
    id: &str,
) -> Result<&'a marmot_model::IndicatorDef> {
    all.iter().find(|i| i.id == id).ok_or_else(|| {
        LakeError::Config(format!(
            "unknown indicator '{id}' (see `marmot indicators`; known: {})",
            all.iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into()
    })
}

fn catalogue_batch(all: &[marmot_model::IndicatorDef]) -> Result<arrow::record_batch::RecordBatch> {
    use arrow::array::{ArrayRef, Float64Array, StringArray};
    use std::sync::Arc;
    let s = |f: &dyn Fn(&marmot_model::IndicatorDef) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(all.iter().map(f)))
    };
    Ok(arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("id", s(&|i| i.id.clone())),
        ("title", s(&|i| i.title.clone())),
        ("source", s(&|i| i.source.clone())),
        ("measure", s(&|i| i.measure.name().to_string())),
        (
            "multiplier",
            Arc::new(Float64Array::from_iter_values(
                all.iter().map(|i| i.multiplier),
            )) as ArrayRef,
        ),
        ("polarity", s(&|i| format!("{:?}", i.polarity))),
        ("grain", s(&|i| i.grain.name().to_string())),
        (
            "breakdowns",
            s(&|i| {
                i.breakdowns
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        ),
        ("definition", s(&|i| i.definition.clone())),
    ])?)
}

fn print_summary(s: &IngestSummary, format: SummaryFormat) {
    match format {
        SummaryFormat::Json => println!("{}", serde_json::to_string(s).unwrap_or_default()),
        SummaryFormat::Text => {
            if s.already_ingested {
                println!(
                    "{}: already ingested into {} (version {}, ingest {}); nothing to do (use --force to ingest again)",
                    s.file,
                    s.dataset,
                    s.table_version.unwrap_or(0),
                    s.ingest_id
                );
                return;
            }
            for e in &s.examples {
                println!("  rejected {e}");
            }
            if s.rejected > s.examples.len() as u64 {
                println!(
                    "  ... and {} more (see {})",
                    s.rejected - s.examples.len() as u64,
                    s.quarantine_path.as_deref().unwrap_or("quarantine")
                );
            }
            for (k, n) in &s.reasons {
                println!("  {n:>8} rejected: {k}");
            }
            if !s.ignored_columns.is_empty() {
                println!(
                    "  ignored columns not in the contract: {}",
                    s.ignored_columns.join(", ")
                );
            }
            println!(
                "  {}: {} added, {} updated (record sent again), {} removed (earlier rows of partner {} in the replaced period)",
                s.mode.name(),
                s.added_rows,
                s.updated_rows,
                s.removed_rows,
                s.partner
            );
            let outcome = if s.dry_run {
                format!("dry run, nothing committed to {}", s.dataset)
            } else {
                format!(
                    "committed {} version {}",
                    s.dataset,
                    s.table_version.unwrap_or(0)
                )
            };
            println!(
                "{}: {} rows read = {} accepted + {} rejected; {outcome}{}",
                s.file,
                s.rows_read,
                s.accepted,
                s.rejected,
                s.period
                    .map(|p| format!(" (period {} to {})", p.from, p.to))
                    .unwrap_or_default()
            );
        }
    }
}

/// The batches with Float64 columns rounded to 4 decimal places (for display only).
fn rounded(
    batches: &[arrow::record_batch::RecordBatch],
) -> Result<Vec<arrow::record_batch::RecordBatch>> {
    use arrow::array::{Array, ArrayRef, Float64Array};
    batches
        .iter()
        .map(|b| {
            let cols: Vec<ArrayRef> = b
                .columns()
                .iter()
                .map(|c| match c.as_any().downcast_ref::<Float64Array>() {
                    Some(f) => std::sync::Arc::new(
                        f.iter()
                            .map(|v| v.map(|x| (x * 1e4).round() / 1e4))
                            .collect::<Float64Array>(),
                    ) as ArrayRef,
                    None => c.clone(),
                })
                .collect();
            Ok(arrow::record_batch::RecordBatch::try_new(b.schema(), cols)?)
        })
        .collect()
}

pub(crate) fn print_batches(
    batches: &[arrow::record_batch::RecordBatch],
    format: SqlFormat,
) -> Result<()> {
    match format {
        // Tables are for reading: 4 decimals. CSV and JSON keep every digit.
        SqlFormat::Table => println!(
            "{}",
            arrow::util::pretty::pretty_format_batches(&rounded(batches)?)?
        ),
        SqlFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(std::io::stdout());
            for b in batches {
                w.write(b)?;
            }
        }
        SqlFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(std::io::stdout());
            let refs: Vec<&arrow::record_batch::RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            println!();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn memory_limits_parse_with_binary_units() {
        assert_eq!(parse_bytes("8GiB").ok(), Some(8 << 30));
        assert_eq!(parse_bytes("512 MiB").ok(), Some(512 << 20));
        assert_eq!(parse_bytes("64KiB").ok(), Some(64 << 10));
        assert_eq!(parse_bytes("1.5G").ok(), Some(3 << 29));
        assert_eq!(parse_bytes("1000").ok(), Some(1000));
        for bad in ["lots", "8 parsecs", "0", "-1GiB", ""] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
