//! # marmot-engine
//!
//! Owns query execution: one DataFusion `SessionContext` over a Marmot lake, with every curated
//! table (one per dataset contract) and every reference table (`geography`, `imd2019`,
//! `population`, `esp2013`) registered by name, each at its current Delta version (or a pinned
//! one, for time travel). The server and the CLI ask questions through [`Engine::sql`]; the
//! indicator cube and triggers will be built on the same context.
//!
//! ```text
//! Lake (object_store + Delta) ──> Engine::open ──> SessionContext ──> SQL ──> Arrow batches
//! ```
#![warn(missing_docs)]

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
    /// "curated" or "reference".
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
        let config = SessionConfig::new().with_information_schema(true).set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
        let ctx = SessionContext::new_with_config(config);
        let mut tables = Vec::new();
        let contracts = marmot_model::builtin_contracts().map_err(LakeError::from)?;
        let names = contracts
            .iter()
            .map(|c| (c.name.clone(), format!("tables/{}", c.name), "curated"))
            .chain(
                REFERENCE_TABLES
                    .iter()
                    .map(|n| (n.to_string(), format!("reference/{n}"), "reference")),
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
