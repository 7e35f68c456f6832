//! `marmot serve`, `marmot tokens`, `marmot report`: wiring for `marmot-server`. The server
//! opens the lake itself; `tokens` needs none.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use marmot_server::{AppState, Role, ServerConfig, TokenStore};

use crate::error::{CliResult, Exit};
use crate::settings::{Ctx, lake_options};

/// Options of the server shared by `serve` and `demo`.
#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "MARMOT_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Directory of dashboard definitions (default `./dashboards`, else the built-in ones).
    #[arg(long, env = "MARMOT_DASHBOARDS", default_value = "dashboards")]
    pub dashboards: PathBuf,
    /// Tokens file (default `$MARMOT_TOKENS` or `~/.config/marmot/tokens.toml`).
    #[arg(long)]
    pub tokens: Option<PathBuf>,
    /// Refuse requests without a token (otherwise they are viewers: public dashboards and
    /// suppressed values only).
    #[arg(long)]
    pub require_token: bool,
    /// Most rows an ad-hoc SQL query returns.
    #[arg(long, default_value_t = 10_000)]
    pub sql_max_rows: usize,
    /// Longest an ad-hoc SQL query may run, seconds.
    #[arg(long, default_value_t = 30)]
    pub sql_timeout: u64,
    /// Memory budget of one ad-hoc SQL query, MiB.
    #[arg(long, default_value_t = 1024)]
    pub sql_memory_mib: usize,
    /// Ad-hoc SQL queries running at once (more are refused with 429).
    #[arg(long, default_value_t = 2)]
    pub sql_concurrency: usize,
    /// K, the disclosure threshold: counts from 1 to K-1 are withheld from roles below analyst,
    /// and ad-hoc SQL returns partner datasets only as groups of at least K records (3 or more;
    /// it raises, never lowers, an indicator's own threshold).
    #[arg(long, default_value_t = marmot_stats::disclosure::DEFAULT_THRESHOLD,
        value_parser = clap::value_parser!(u64).range(marmot_server::sql_guard::MIN_THRESHOLD..))]
    pub disclosure_threshold: u64,
    /// Largest upload, MiB.
    #[arg(long, default_value_t = 512)]
    pub max_upload_mib: usize,
    /// Seconds between checks for new data in the lake.
    #[arg(long, default_value_t = 30)]
    pub reload_secs: u64,
    /// Log as JSON lines (structured logs) instead of text.
    #[arg(long, env = "MARMOT_LOG_JSON")]
    pub log_json: bool,
}

impl ServeArgs {
    /// The defaults, as `marmot serve` with no options.
    pub fn defaults() -> ServeArgs {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            args: ServeArgs,
        }
        <Wrap as clap::Parser>::parse_from(["marmot"]).args
    }

    /// The server configuration.
    pub fn config(
        &self,
        lake: &str,
        queries: Option<PathBuf>,
        lake_options: std::collections::HashMap<String, String>,
    ) -> ServerConfig {
        let mut c = ServerConfig::new(lake);
        c.addr = self.addr.clone();
        c.dashboards = self.dashboards.clone();
        if let Some(t) = &self.tokens {
            c.tokens = t.clone();
        }
        c.queries = queries;
        c.lake_options = lake_options;
        c.require_token = self.require_token;
        c.sql.max_rows = self.sql_max_rows;
        c.sql.timeout = std::time::Duration::from_secs(self.sql_timeout);
        c.sql.memory = self.sql_memory_mib << 20;
        c.sql.concurrency = self.sql_concurrency;
        c.disclosure_threshold = self.disclosure_threshold;
        c.max_body = self.max_upload_mib << 20;
        c.reload_every = std::time::Duration::from_secs(self.reload_secs.max(1));
        c.engine = crate::settings::engine_options().engine;
        c
    }
}

/// Starts structured logging (RUST_LOG filters; default info). Hold the guard while serving.
pub fn init_logging(json: bool) -> LogGuard {
    // The Delta and DataFusion crates are chatty at info: Marmot's own events and the request
    // log by default.
    init_logging_with(json, "warn,marmot_server=info,tower_http=info")
}

/// Log lines held in memory when stderr is slower than the server (a full pipe, a disk busy
/// flushing): beyond them lines are dropped and counted, never waited for.
/// `MARMOT_LOG_BUFFER_LINES` sets it.
pub const LOG_BUFFER_LINES: usize = 65_536;

/// The log writer's worker thread: dropping the guard flushes the lines still buffered and says
/// how many were dropped.
#[must_use = "logs are flushed, and dropped lines reported, when the guard is dropped"]
pub struct LogGuard {
    dropped: tracing_appender::non_blocking::ErrorCounter,
    _worker: tracing_appender::non_blocking::WorkerGuard,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let n = self.dropped.dropped_lines();
        if n > 0 {
            eprintln!(
                "marmot: {n} log lines were dropped because stderr did not keep up (no request \
                 waited for the log; MARMOT_LOG_BUFFER_LINES sets how many lines are held)"
            );
        }
    }
}

/// Structured logging with `default` as the filter unless RUST_LOG is set (the `log` records
/// of Ballista's crates go through it too). Lines are written to stderr by a thread of their
/// own: a request never waits for the log ([`LOG_BUFFER_LINES`]).
pub fn init_logging_with(json: bool, default: &str) -> LogGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lines = std::env::var("MARMOT_LOG_BUFFER_LINES")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(LOG_BUFFER_LINES);
    let (writer, worker) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(lines)
        .thread_name("marmot-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = if json {
        b.json().try_init()
    } else {
        b.try_init()
    };
    LogGuard {
        dropped,
        _worker: worker,
    }
}

/// Serves until stopped. `banner` prints what to open once the socket listens.
pub async fn serve(
    config: ServerConfig,
    banner: impl FnOnce(std::net::SocketAddr),
) -> CliResult<()> {
    let lake = config.lake.clone();
    marmot_server::serve(config, banner)
        .await
        .with_context(|| format!("serving the lake at {lake}"))?;
    Ok(())
}

/// `marmot serve`.
pub async fn run(ctx: &Ctx, args: ServeArgs) -> CliResult {
    let _log = init_logging(args.log_json);
    let config = args.config(&ctx.lake, ctx.queries.clone(), lake_options());
    serve(config, |addr| {
        println!("marmot serving {} at http://{addr}/", ctx.lake);
        println!("  API:        http://{addr}/api/v1/indicators   (OpenAPI: /api/v1/openapi.json)");
        println!("  dashboards: http://{addr}/dashboards");
    })
    .await?;
    Ok(Exit::Ok)
}

/// `marmot tokens ...`.
#[derive(Subcommand)]
pub enum TokensAction {
    /// Make a token: it is printed once, and only its hash is stored.
    Add {
        /// viewer, partner, analyst or admin.
        #[arg(long)]
        role: String,
        /// Organisation (partners: the partner name their uploads are recorded under).
        #[arg(long)]
        org: Option<String>,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        /// Tokens file (default `$MARMOT_TOKENS` or `~/.config/marmot/tokens.toml`).
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
    /// List tokens (ids, roles, organisations; never the tokens).
    List {
        /// Tokens file.
        #[arg(long)]
        tokens: Option<PathBuf>,
    },
}

/// Runs `marmot tokens` (no lake needed).
pub fn tokens(action: TokensAction) -> CliResult {
    match action {
        TokensAction::Add {
            role,
            org,
            name,
            tokens,
        } => {
            let role = Role::parse(&role)?;
            let store =
                TokenStore::new(tokens.unwrap_or_else(marmot_server::state::default_tokens_path));
            let (token, rec) = store.add(role, org, &name)?;
            eprintln!(
                "token {} ({}{}) added to {}; it is shown once, keep it safe:",
                rec.id,
                rec.role.name(),
                rec.org
                    .as_deref()
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default(),
                store.path().display()
            );
            println!("{token}");
            Ok(Exit::Ok)
        }
        TokensAction::List { tokens } => {
            let store =
                TokenStore::new(tokens.unwrap_or_else(marmot_server::state::default_tokens_path));
            let records = store.records()?;
            if records.is_empty() {
                println!(
                    "no tokens in {} (make one with `marmot tokens add --role ROLE`)",
                    store.path().display()
                );
            }
            for r in records {
                println!(
                    "{}  {:<8} {:<16} {}  {}",
                    r.id,
                    r.role.name(),
                    r.org.unwrap_or_default(),
                    r.created,
                    r.name
                );
            }
            Ok(Exit::Ok)
        }
    }
}

/// `marmot report`.
#[derive(Args)]
pub struct ReportArgs {
    /// ISO week, e.g. 2020-W42.
    #[arg(long)]
    week: String,
    /// Make it from these table versions (`name@version;...`, as a report names them).
    #[arg(long)]
    versions: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Runs `marmot report`: the weekly SOC report as HTML, optionally from pinned versions.
pub async fn report(ctx: &Ctx, args: ReportArgs) -> CliResult {
    let config = ServeArgs::defaults().config(&ctx.lake, ctx.queries.clone(), lake_options());
    let week = args.week.as_str();
    let pins = match &args.versions {
        Some(v) => marmot_server::state::parse_versions(v)?,
        None => Default::default(),
    };
    let state = std::sync::Arc::new(AppState::pinned(config, &pins).await?);
    let caller = marmot_server::Caller {
        role: Role::Analyst,
        id: "cli".into(),
        org: None,
    };
    let html = marmot_server::report::weekly(&state, &caller, week).await?;
    match args.output {
        Some(p) => {
            std::fs::write(&p, html).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("report for {week} written to {}", p.display());
        }
        None => print!("{html}"),
    }
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_and_its_uploads_cube_refresh_use_the_engine_of_the_flags() {
        crate::settings::resolve(None, Some("ballista://127.0.0.1:50050".into()), None)
            .unwrap_or_else(|e| panic!("{e}"));
        let config = ServeArgs::defaults().config("./lake", None, Default::default());
        // ServerConfig::engine is what every snapshot and every upload's cube refresh opens.
        assert_eq!(
            config.engine,
            marmot_engine::EngineKind::Ballista {
                scheduler: "127.0.0.1:50050".into()
            }
        );
    }
}
