//! `marmot datasets`: what is in the lake, the contracts, templates and ingest history.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use marmot_lake::ingest::{IngestSummary, table_path};
use marmot_lake::store::{table_history, table_rows};

use super::demo_place;
use crate::error::{CliResult, Exit};
use crate::settings::Ctx;

#[derive(Subcommand)]
pub enum DatasetsAction {
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

pub async fn run(ctx: &Ctx, action: Option<DatasetsAction>) -> CliResult {
    match action {
        Some(DatasetsAction::Describe { output }) => {
            let md = marmot_model::describe_markdown(&marmot_model::builtin_contracts()?);
            match output {
                Some(p) => {
                    std::fs::write(&p, md).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{md}"),
            }
            Ok(Exit::Ok)
        }
        Some(DatasetsAction::Template { dataset, rows }) => {
            let contract = marmot_model::builtin_contract(&dataset)?;
            // Real LSOAs of the lake's place when there is a lake (none is made for this),
            // else of the demo place.
            let manifest = match ctx.existing_lake().await? {
                Some(lake) => lake.manifest().await?,
                None => None,
            };
            let lsoas = match manifest {
                Some(m) => m.lsoas,
                None => marmot_lake::reference::place_geography(&demo_place()?)?
                    .into_iter()
                    .map(|g| g.lsoa)
                    .collect(),
            };
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(contract.columns.iter().map(|c| c.name.as_str()))?;
            for r in contract.template_rows(rows, &lsoas, chrono::Utc::now().date_naive()) {
                w.write_record(&r)?;
            }
            w.flush()?;
            Ok(Exit::Ok)
        }
        Some(DatasetsAction::History { dataset }) => {
            let contract = marmot_model::builtin_contract(&dataset)?;
            let lake = ctx.open_lake().await?;
            let Some(table) = lake.load_table(&table_path(&contract.name), None).await? else {
                println!("{dataset}: no data yet");
                return Ok(Exit::Ok);
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
            Ok(Exit::Ok)
        }
        None => {
            let lake = ctx.open_lake().await?;
            let m = lake.require_manifest().await?;
            println!("lake {} ({})", lake.url(), m.place_name);
            println!(
                "{:<16} {:>10} {:>8}  last ingest",
                "dataset", "rows", "version"
            );
            for c in marmot_model::builtin_contracts()? {
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
            Ok(Exit::Ok)
        }
    }
}
