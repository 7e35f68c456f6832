//! # marmot-engine
//!
//! Owns query execution: one DataFusion `SessionContext` over a Marmot lake, with every curated
//! table (one per dataset contract) and every reference table (`geography`, `imd2025` or `imd2019`,
//! `population`, `esp2013`) registered by name, each at its current Delta version (or a pinned
//! one, for time travel). The server and the CLI ask questions through [`Engine::sql`]; the
//! indicator cube and the trigger pipeline are built on the same context, and their lake
//! tables (`indicator_values`, `trigger_evaluations`, `triggers`, `trigger_acks`) are registered too.
//!
//! ```text
//! Lake (object_store + Delta) ──> Engine::open ──> SessionContext ──> SQL ──> Arrow batches
//! ```
#![warn(missing_docs)]
pub mod area;
pub mod cube;
pub mod functions;
pub mod indicators;
pub mod inequalities;
pub mod published;
pub mod triggers;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionConfig, SessionContext};
use marmot_lake::reference::REFERENCE_TABLES;
use marmot_lake::{Lake, LakeError};
use thiserror::Error;

/// Errors of the engine.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The lake could not be read.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The query is wrong (the caller's fault: syntax, unknown table or column).
    #[error("query error: {0}")]
    Query(String),
    /// The query failed while running.
    #[error("query failed: {0}")]
    Execution(String),
    /// The query needed more memory than the budget (`--memory-limit`) allows, even spilling
    /// (DataFusion's `ResourcesExhausted`).
    #[error("query failed: {0}")]
    ResourcesExhausted(String),
    /// A Ballista job was cancelled by the scheduler (`marmot cluster scheduler` cancels every
    /// job in flight when an executor is lost, so that no partial answer is returned).
    #[error("query failed: {0}")]
    ClusterJobCancelled(String),
}

impl EngineError {
    fn from_df(e: datafusion::error::DataFusionError) -> EngineError {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::SQL(..) | D::Plan(..) | D::SchemaError(..) | D::NotImplemented(..) => {
                EngineError::Query(e.to_string())
            }
            D::ResourcesExhausted(..) => EngineError::ResourcesExhausted(e.to_string()),
            root if ballista_job_cancelled(root) => EngineError::ClusterJobCancelled(e.to_string()),
            _ => EngineError::Execution(e.to_string()),
        }
    }
}

/// Whether a DataFusion error is Ballista's report of a job its scheduler cancelled. This is the
/// one place that reads Ballista's wire format: the protocol carries a failed job only as text
/// (`FailedJob { error }`, turned by the client into `Execution("Job <id> failed: <error>")`,
/// and the scheduler's cancellation reason is `Cancelled`); everything after this point tells
/// the case apart by [`EngineError::ClusterJobCancelled`].
fn ballista_job_cancelled(root: &datafusion::error::DataFusionError) -> bool {
    match root {
        datafusion::error::DataFusionError::Execution(m) => {
            m.starts_with("Job ") && m.contains(" failed: Cancelled")
        }
        _ => false,
    }
}

/// A registered table and the Delta version it reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TableInfo {
    /// SQL name.
    pub name: String,
    /// "curated", "reference", "cube" or "triggers".
    pub kind: &'static str,
    /// Delta version registered.
    pub version: u64,
}

/// How an engine is opened.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Delta versions to pin tables (by SQL name) to; unpinned tables read their latest version.
    pub versions: BTreeMap<String, u64>,
    /// Register only the tables named in `versions` (a state made again from the versions it
    /// names: a table created since then must not appear).
    pub only_pinned: bool,
    /// A memory budget in bytes for query execution (DataFusion's memory pool: operators that
    /// can spill do; others fail with "resources exhausted" instead of taking the process down).
    pub memory_limit: Option<usize>,
    /// Register curated tables without their identifier columns (pseudonymised ids) and without
    /// the ingest bookkeeping column, so that no query can return them (the serving path).
    pub hide_identifiers: bool,
    /// Where queries run: in this process, or on a Ballista cluster.
    pub engine: EngineKind,
}

/// Where queries run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// DataFusion in this process (the default).
    #[default]
    Local,
    /// A Ballista cluster: the scheduler's `host:port`. Each table is registered as a Parquet
    /// listing of exactly the files of its Delta snapshot, so a cluster query reads the same
    /// data version a local one would; Marmot's SQL functions must be known to the scheduler
    /// and executors (run them with `marmot cluster scheduler|executor`).
    Ballista {
        /// `host:port` of the scheduler.
        scheduler: String,
    },
}

impl EngineKind {
    /// Parses `local` or `ballista://HOST:PORT` (the `--engine` flag and `MARMOT_ENGINE`).
    pub fn parse(text: &str) -> Result<EngineKind, EngineError> {
        let t = text.trim();
        if t.is_empty() || t == "local" {
            return Ok(EngineKind::Local);
        }
        let bad = |why: &str| {
            EngineError::Lake(LakeError::Config(format!(
                "engine '{t}': {why} (expected `local` or `ballista://HOST:PORT`)"
            )))
        };
        let rest = t
            .strip_prefix("ballista://")
            .or_else(|| t.strip_prefix("df://"))
            .ok_or_else(|| bad("unknown engine"))?
            .trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(bad("bad host or port"));
        }
        Ok(EngineKind::Ballista {
            scheduler: rest.to_string(),
        })
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineKind::Local => f.write_str("local"),
            EngineKind::Ballista { scheduler } => write!(f, "ballista://{scheduler}"),
        }
    }
}

/// DataFusion over a lake.
pub struct Engine {
    ctx: SessionContext,
    tables: Vec<TableInfo>,
    contracts: Vec<marmot_model::Contract>,
    cluster: bool,
    geography: marmot_model::Vintage,
}

impl Engine {
    /// Registers every table of the lake at its latest version. `versions` pins tables (by SQL
    /// name) to an earlier version.
    pub async fn open(
        lake: &Lake,
        versions: &BTreeMap<String, u64>,
    ) -> Result<Engine, EngineError> {
        Engine::open_with(
            lake,
            &EngineOptions {
                versions: versions.clone(),
                ..EngineOptions::default()
            },
        )
        .await
    }

    /// [`Engine::open`] with options: pinned versions, a memory budget, hidden identifiers.
    pub async fn open_with(lake: &Lake, options: &EngineOptions) -> Result<Engine, EngineError> {
        let versions = &options.versions;
        let manifest = lake.require_manifest().await?;
        // Plain Utf8 strings (not Utf8View) keep results simple for every consumer.
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            // ...and SQL's VARCHAR is Utf8 too (DataFusion 55 maps it to Utf8View by default).
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false);
        let mut runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new();
        if let Some(bytes) = options.memory_limit {
            runtime = runtime.with_memory_limit(bytes, 1.0);
        }
        if lake.url().scheme() != "file" {
            // Listing scans (the cluster path) resolve s3:// URLs through this registry.
            runtime = runtime.with_object_store_registry(Arc::new(
                marmot_lake::remote::LakeStoreRegistry::new(lake.options().clone()),
            ));
        }
        let runtime = runtime.build_arc().map_err(EngineError::from_df)?;
        let ctx = match &options.engine {
            EngineKind::Local => SessionContext::new_with_config_rt(config, runtime),
            EngineKind::Ballista { scheduler } => {
                cluster_context(scheduler, config, runtime).await?
            }
        };
        functions::register_all(&ctx);
        let mut tables = Vec::new();
        // Shipped contracts and the lake's own (added at run time): each with a table is a
        // curated table of the engine.
        let contracts = marmot_lake::catalog::contract_list(lake).await?;
        let names = contracts
            .iter()
            .map(|c| (c.name.clone(), format!("tables/{}", c.name), "curated"))
            .chain(
                REFERENCE_TABLES
                    .iter()
                    .map(|n| (n.to_string(), format!("reference/{n}"), "reference")),
            )
            .chain(std::iter::once((
                cube::CUBE_TABLE.to_string(),
                cube::CUBE_PATH.to_string(),
                "cube",
            )))
            .chain(
                [
                    (triggers::EVALUATIONS_TABLE, triggers::EVALUATIONS_PATH),
                    (triggers::STATUS_TABLE, triggers::STATUS_PATH),
                    (triggers::ACKS_TABLE, triggers::ACKS_PATH),
                ]
                .map(|(n, p)| (n.to_string(), p.to_string(), "triggers")),
            );
        for (name, rel, kind) in names {
            if options.only_pinned && !versions.contains_key(&name) {
                continue;
            }
            let Some(table) = lake.load_table(&rel, versions.get(&name).copied()).await? else {
                continue;
            };
            let version = table.version().unwrap_or(0);
            let provider: Arc<dyn datafusion::catalog::TableProvider> = table
                .table_provider()
                .with_session(Arc::new(ctx.state()))
                .await
                .map_err(|e| LakeError::delta(&name, e))?;
            let provider = match options.engine {
                EngineKind::Local => provider,
                EngineKind::Ballista { .. } => {
                    snapshot_listing(&ctx, lake, &rel, &name, &table, provider.schema())?
                }
            };
            let hidden: Vec<&str> = match contracts.iter().find(|c| c.name == name) {
                Some(c) if options.hide_identifiers => c
                    .identifier_columns()
                    .map(|c| c.name.as_str())
                    .chain(std::iter::once(marmot_lake::validate::INGEST_COLUMN))
                    .collect(),
                _ => Vec::new(),
            };
            if hidden.is_empty() {
                ctx.register_table(name.as_str(), provider)
                    .map_err(EngineError::from_df)?;
            } else {
                // A view over the table without the hidden columns; the table itself is not
                // registered under any name, so no query can reach them.
                let keep: Vec<String> = provider
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .filter(|n| !hidden.contains(&n.as_str()))
                    .collect();
                // The view's own scan carries the table's name, so plans over the view still
                // say which dataset they read (the serving path checks that).
                use datafusion::logical_expr::{Expr, LogicalPlanBuilder, col};
                let cols: Vec<Expr> = keep.iter().map(|c| col(format!("\"{c}\""))).collect();
                let plan = LogicalPlanBuilder::scan(
                    name.as_str(),
                    datafusion::datasource::provider_as_source(provider),
                    None,
                )
                .and_then(|b| b.project(cols))
                .and_then(|b| b.build())
                .map_err(EngineError::from_df)?;
                let view = datafusion::datasource::ViewTable::new(plan, None);
                ctx.register_table(name.as_str(), Arc::new(view))
                    .map_err(EngineError::from_df)?;
            }
            tables.push(TableInfo {
                name,
                kind,
                version,
            });
        }
        Ok(Engine {
            ctx,
            tables,
            contracts,
            cluster: options.engine != EngineKind::Local,
            geography: manifest.geography,
        })
    }

    /// The lake's geography vintage (which LSOA codes, wards and deprivation index it holds).
    pub fn geography(&self) -> marmot_model::Vintage {
        self.geography
    }

    /// The tables registered, with their versions.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// The contracts the lake knows (shipped and its own), whether or not they have data.
    pub fn contracts(&self) -> &[marmot_model::Contract] {
        &self.contracts
    }

    /// One contract by dataset name.
    pub fn contract(
        &self,
        name: &str,
    ) -> Result<&marmot_model::Contract, marmot_model::ModelError> {
        self.contracts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| marmot_model::ModelError::Unknown {
                kind: "dataset",
                name: name.to_string(),
                known: self
                    .contracts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The DataFusion context (for building on).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement and collects the result.
    ///
    /// On a cluster, a job that `marmot cluster scheduler` cancelled because an executor was
    /// lost while it ran is run once more on the executors left; a second loss is an error.
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, EngineError> {
        self.sql_fold(query, Vec::new, |batches, b| {
            batches.push(b);
            Ok(())
        })
        .await
    }

    /// Runs one SQL statement and folds its result batches into `init()` as they arrive, so
    /// that a caller that keeps less than the batches never holds the whole result (the
    /// indicator cube's numerators over 100 million rows).
    ///
    /// On a cluster, a job that `marmot cluster scheduler` cancelled because an executor was
    /// lost while it ran is run once more on the executors left, from a fresh `init()`; a
    /// second loss is an error.
    pub async fn sql_fold<S>(
        &self,
        query: &str,
        init: impl Fn() -> S,
        mut each: impl FnMut(&mut S, RecordBatch) -> Result<(), EngineError>,
    ) -> Result<S, EngineError> {
        use futures::StreamExt as _;
        let mut tries = 0;
        loop {
            let df = self.ctx.sql(query).await.map_err(EngineError::from_df)?;
            let mut state = init();
            let attempt = async {
                let mut stream = df.execute_stream().await.map_err(EngineError::from_df)?;
                while let Some(b) = stream.next().await {
                    each(&mut state, b.map_err(EngineError::from_df)?)?;
                }
                Ok::<(), EngineError>(())
            }
            .await;
            match attempt {
                Ok(()) => return Ok(state),
                Err(e @ EngineError::ClusterJobCancelled(_)) if self.cluster => {
                    tries += 1;
                    if tries >= 2 {
                        return Err(EngineError::ClusterJobCancelled(format!(
                            "the Ballista cluster lost an executor while this query ran, twice; \
                             its answer could not be trusted, so there is none ({e})"
                        )));
                    }
                    eprintln!(
                        "marmot: an executor was lost mid-query; running the query again on the executors left"
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A context whose queries run on the Ballista scheduler at `scheduler` (`host:port`). The
/// scheduler is probed first, so an unreachable one is one clear error before any work.
async fn cluster_context(
    scheduler: &str,
    config: SessionConfig,
    runtime: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
) -> Result<SessionContext, EngineError> {
    use ballista::prelude::SessionContextExt as _;
    let unreachable = |why: String| {
        EngineError::Lake(LakeError::Lake(format!(
            "the Ballista scheduler at {scheduler} cannot be reached: {why} \
             (start one with `marmot cluster scheduler --addr {scheduler}`)"
        )))
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(scheduler),
    )
    .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable("no answer within 5 s".into())),
    }
    use ballista::prelude::SessionConfigExt as _;
    // The static distributed planner: with the adaptive one (Ballista 55's default), losing an
    // executor mid-query could leave the job waiting forever for a task slot (seen in
    // tests/cluster.rs); the static planner re-runs the lost tasks.
    let mut config = config.upgrade_for_ballista();
    config
        .options_mut()
        .set("ballista.planner.adaptive.enabled", "false")
        .map_err(EngineError::from_df)?;
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(&format!("df://{scheduler}"), state)
        .await
        .map_err(EngineError::from_df)
}

/// A Delta table's snapshot as a plain Parquet listing of exactly that version's files (what a
/// Ballista cluster can plan and ship to executors; a Delta provider cannot be serialised).
fn snapshot_listing(
    ctx: &SessionContext,
    lake: &Lake,
    rel: &str,
    name: &str,
    table: &deltalake::DeltaTable,
    schema: arrow::datatypes::SchemaRef,
) -> Result<Arc<dyn datafusion::catalog::TableProvider>, EngineError> {
    use datafusion::datasource::file_format::parquet::ParquetFormat;
    use datafusion::datasource::listing::{
        ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
    };
    let root = lake.table_url(rel)?;
    let files = marmot_lake::store::table_files(table, name)?;
    let format = ParquetFormat::default().with_options(ctx.state().table_options().parquet.clone());
    let mut listing = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    let urls = if files.is_empty() {
        // An empty snapshot: list the table's directory for a suffix no file has.
        listing = listing.with_file_extension(".marmot-empty-snapshot");
        vec![ListingTableUrl::parse(root.as_str()).map_err(EngineError::from_df)?]
    } else {
        files
            .iter()
            .map(|f| {
                let u = root
                    .join(&f.path)
                    .map_err(|e| LakeError::Internal(format!("{name}: file {}: {e}", f.path)))?;
                ListingTableUrl::parse(u.as_str()).map_err(EngineError::from_df)
            })
            .collect::<Result<Vec<_>, EngineError>>()?
    };
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(listing)
        .with_schema(schema);
    Ok(Arc::new(
        ListingTable::try_new(config).map_err(EngineError::from_df)?,
    ))
}

/// Loads indicator definitions: the `.sql` files of `dir/indicators` when a directory is given
/// (or `./queries` exists), else the shipped ones embedded in the binary. Analysts add an
/// indicator by adding a file there; no Rust change is needed.
pub fn load_indicators(
    dir: Option<&std::path::Path>,
) -> Result<Vec<marmot_model::IndicatorDef>, EngineError> {
    match query_files(dir, "indicators")? {
        None => marmot_model::builtin_indicators(),
        Some(files) => marmot_model::indicators_from_files(&files),
    }
    .map_err(|e| EngineError::Lake(e.into()))
}

/// The `(path, text)` of every `.sql` file in `dir/<kind>` — `dir` being the given queries
/// directory, or `./queries` when it has that subdirectory; `None` means "use the definitions
/// built into the binary".
pub(crate) fn query_files(
    dir: Option<&std::path::Path>,
    kind: &str,
) -> Result<Option<Vec<(String, String)>>, EngineError> {
    let local = std::path::Path::new("queries");
    let dir = dir.or_else(|| local.join(kind).is_dir().then_some(local));
    let Some(dir) = dir else {
        return Ok(None);
    };
    let sub = dir.join(kind);
    let rd = std::fs::read_dir(&sub)
        .map_err(|e| EngineError::Lake(LakeError::io(sub.display().to_string(), e)))?;
    let mut files = Vec::new();
    for entry in rd.flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "sql") {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| EngineError::Lake(LakeError::io(p.display().to_string(), e)))?;
            files.push((p.display().to_string(), text));
        }
    }
    Ok(Some(files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_parse_from_local_or_a_ballista_url() {
        assert_eq!(EngineKind::parse("local").ok(), Some(EngineKind::Local));
        assert_eq!(EngineKind::parse("").ok(), Some(EngineKind::Local));
        let b = EngineKind::parse("ballista://10.0.0.5:50050/").expect("ballista");
        assert_eq!(
            b,
            EngineKind::Ballista {
                scheduler: "10.0.0.5:50050".into()
            }
        );
        assert_eq!(b.to_string(), "ballista://10.0.0.5:50050");
        for bad in [
            "spark://x:1",
            "ballista://x",
            "ballista://:80",
            "ballista://x:99999",
        ] {
            let e = EngineKind::parse(bad).expect_err(bad);
            assert!(e.to_string().contains(bad.trim_end_matches('/')), "{e}");
        }
    }

    #[test]
    fn failures_are_told_apart_by_variant() {
        use datafusion::error::DataFusionError as D;
        // What Ballista's client makes of a job its scheduler cancelled, as it arrives and
        // under added context.
        let cancelled = || D::Execution("Job 3XyZ failed: Cancelled".into());
        assert!(matches!(
            EngineError::from_df(cancelled()),
            EngineError::ClusterJobCancelled(_)
        ));
        assert!(matches!(
            EngineError::from_df(cancelled().context("collecting")),
            EngineError::ClusterJobCancelled(_)
        ));
        // Another job failure, or the word in a user's own error, is not a cancellation.
        for other in [
            D::Execution("Job 3XyZ failed: division by zero".into()),
            D::Execution("Cancelled".into()),
        ] {
            assert!(matches!(
                EngineError::from_df(other),
                EngineError::Execution(_)
            ));
        }
        let exhausted = D::ResourcesExhausted("Failed to allocate 1 MiB".into());
        assert!(matches!(
            EngineError::from_df(exhausted.context("sorting")),
            EngineError::ResourcesExhausted(_)
        ));
        assert!(matches!(
            EngineError::from_df(D::Plan("no table x".into())),
            EngineError::Query(_)
        ));
    }
}
