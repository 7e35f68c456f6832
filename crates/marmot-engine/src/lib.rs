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
        let ctx = SessionContext::new_with_config(config);
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
            let Some(table) = lake.load_table(&rel, versions.get(&name).copied()).await? else {
                continue;
            };
            let version = table.version().unwrap_or(0);
            let provider = table
                .table_provider()
                .with_session(Arc::new(ctx.state()))
                .await
                .map_err(|e| LakeError::delta(&name, e))?;
            ctx.register_table(name.as_str(), provider)
                .map_err(EngineError::from_df)?;
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
