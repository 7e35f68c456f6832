//! # marmot-engine
//!
//! Owns query execution: one DataFusion `SessionContext` over a Marmot lake, with every curated
//! table (one per dataset contract) and every reference table (`geography`, `imd2019`,
//! `population`, `esp2013`) registered by name, each at its current Delta version (or a pinned
//! one, for time travel). The server and the CLI ask questions through [`Engine::sql`]; the
//! indicator cube and the trigger pipeline are built on the same context, and their lake
//! tables (`indicator_values`, `trigger_evaluations`, `triggers`, `trigger_acks`) are registered too.
//!
//! ```text
//! Lake (object_store + Delta) ──> Engine::open ──> SessionContext ──> SQL ──> Arrow batches
//! ```
#![warn(missing_docs)]
pub mod cube;
pub mod functions;
pub mod indicators;
pub mod inequalities;
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
}

impl EngineError {
    fn from_df(e: datafusion::error::DataFusionError) -> EngineError {
        use datafusion::error::DataFusionError as D;
        match e.find_root() {
            D::SQL(..) | D::Plan(..) | D::SchemaError(..) | D::NotImplemented(..) => {
                EngineError::Query(e.to_string())
            }
            _ => EngineError::Execution(e.to_string()),
        }
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
}

/// DataFusion over a lake.
pub struct Engine {
    ctx: SessionContext,
    tables: Vec<TableInfo>,
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
        lake.require_manifest().await?;
        // Plain Utf8 strings (not Utf8View) keep results simple for every consumer.
        let config = SessionConfig::new()
            .with_information_schema(true)
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            // ...and SQL's VARCHAR is Utf8 too (DataFusion 55 maps it to Utf8View by default).
            .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false);
        let ctx = match options.memory_limit {
            None => SessionContext::new_with_config(config),
            Some(bytes) => {
                let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
                    .with_memory_limit(bytes, 1.0)
                    .build_arc()
                    .map_err(EngineError::from_df)?;
                SessionContext::new_with_config_rt(config, runtime)
            }
        };
        functions::register_all(&ctx);
        let mut tables = Vec::new();
        let contracts = marmot_model::builtin_contracts().map_err(LakeError::from)?;
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
            let provider = table
                .table_provider()
                .with_session(Arc::new(ctx.state()))
                .await
                .map_err(|e| LakeError::delta(&name, e))?;
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
                let view = datafusion::dataframe::DataFrame::new(ctx.state(), plan).into_view();
                ctx.register_table(name.as_str(), view)
                    .map_err(EngineError::from_df)?;
            }
            tables.push(TableInfo {
                name,
                kind,
                version,
            });
        }
        Ok(Engine { ctx, tables })
    }

    /// The tables registered, with their versions.
    pub fn tables(&self) -> &[TableInfo] {
        &self.tables
    }

    /// The DataFusion context (for building on).
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs one SQL statement and collects the result.
    pub async fn sql(&self, query: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let df = self.ctx.sql(query).await.map_err(EngineError::from_df)?;
        df.collect().await.map_err(EngineError::from_df)
    }
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
