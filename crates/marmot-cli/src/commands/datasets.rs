//! `marmot datasets`: what is in the lake, the contracts and mappings (shipped and the lake's
//! own, added at run time), templates and ingest history with lineage.

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
    /// Ingest history of a dataset: versions, ingest ids, files, the mapping (name and
    /// version) that read each, counts.
    History {
        /// Dataset name.
        dataset: String,
    },
    /// Add a contract or a source mapping (a TOML file) to the lake: checked first, and
    /// nothing is written when anything is wrong. A new contract is a new dataset at once;
    /// one of the same name as a shipped contract replaces it in this lake.
    Add {
        /// The contract or mapping file (a mapping has a top-level `sql`).
        file: PathBuf,
    },
    /// The source mappings the lake knows (shipped and its own).
    Mappings,
}

/// The contracts known: the lake's catalogue when there is a lake, else the shipped ones.
async fn known_contracts(ctx: &Ctx) -> Result<Vec<marmot_model::Contract>, crate::error::CliError> {
    Ok(match ctx.existing_lake().await? {
        Some(lake) if lake.manifest().await?.is_some() => {
            marmot_lake::catalog::contract_list(&lake).await?
        }
        _ => marmot_model::builtin_contracts()?,
    })
}

pub async fn run(ctx: &Ctx, action: Option<DatasetsAction>) -> CliResult {
    match action {
        Some(DatasetsAction::Describe { output }) => {
            let md = marmot_model::describe_markdown(&known_contracts(ctx).await?);
            match output {
                Some(p) => {
                    std::fs::write(&p, md).with_context(|| format!("writing {}", p.display()))?
                }
                None => print!("{md}"),
            }
            Ok(Exit::Ok)
        }
        Some(DatasetsAction::Template { dataset, rows }) => {
            let contract = known_contracts(ctx)
                .await?
                .into_iter()
                .find(|c| c.name == dataset)
                .map_or_else(|| marmot_model::builtin_contract(&dataset), Ok)?;
            // Real LSOAs of the lake's place when there is a lake (none is made for this),
            // else of the demo place.
            let manifest = match ctx.existing_lake().await? {
                Some(lake) => lake.manifest().await?,
                None => None,
            };
            let (lsoas, authorities) = match manifest {
                Some(m) => (m.lsoas, m.local_authorities),
                None => {
                    let place = demo_place()?;
                    let lsoas = marmot_lake::reference::place_geography(&place)?
                        .into_iter()
                        .map(|g| g.lsoa)
                        .collect();
                    (lsoas, place.config.local_authorities)
                }
            };
            // Areas of the contract's kind: the place's LSOAs, or the sub-ICBs it overlaps,
            // its MSOAs or its authorities.
            let areas = match contract.area_kind() {
                marmot_model::AreaKind::Lsoa => lsoas,
                kind => marmot_lake::reference::areas::in_place(kind, &authorities)?,
            };
            let mut w = csv::Writer::from_writer(std::io::stdout());
            w.write_record(contract.columns.iter().map(|c| c.name.as_str()))?;
            for r in contract.template_rows(rows, &areas, chrono::Utc::now().date_naive()) {
                w.write_record(&r)?;
            }
            w.flush()?;
            Ok(Exit::Ok)
        }
        Some(DatasetsAction::History { dataset }) => {
            let lake = ctx.open_lake().await?;
            let contract = marmot_lake::catalog::contract(&lake, &dataset).await?;
            let Some(table) = lake.load_table(&table_path(&contract.name), None).await? else {
                println!("{dataset}: no data yet");
                return Ok(Exit::Ok);
            };
            println!(
                "{:>7}  {:<19} {:<24} {:<12} {:>9} {:>8} {:>8} {:>8}  {:<16} file",
                "version",
                "committed (UTC)",
                "ingest id",
                "partner",
                "rows read",
                "accepted",
                "rejected",
                "out area",
                "mapping"
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
                        "{:>7}  {:<19} {:<24} {:<12} {:>9} {:>8} {:>8} {:>8}  {:<16} {}",
                        c.version,
                        when,
                        s.ingest_id,
                        s.partner,
                        s.rows_read,
                        s.accepted,
                        s.rejected,
                        s.out_of_area,
                        s.mapping
                            .map(|m| format!("{} v{}", m.name, m.version))
                            .unwrap_or_else(|| "-".into()),
                        s.file
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
        Some(DatasetsAction::Add { file }) => {
            let lake = ctx.open_lake().await?;
            let what = file.display().to_string();
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {what}"))?;
            match marmot_lake::catalog::add(&lake, &what, &text).await? {
                marmot_lake::catalog::Added::Contract { contract, replaced } => {
                    println!(
                        "{} dataset {} ({}): {} columns, dated by {} ({}){}; ingest with \
                         `marmot ingest {} FILE`",
                        if replaced { "replaced" } else { "added" },
                        contract.name,
                        contract.title,
                        contract.columns.len(),
                        contract.date_column,
                        contract.precision.name(),
                        contract
                            .count()
                            .map(|c| format!(", counts in {}", c.name))
                            .unwrap_or_default(),
                        contract.name
                    );
                }
                marmot_lake::catalog::Added::Mapping { mapping, replaced } => {
                    println!(
                        "{} mapping {} version {} for {}; ingest with `marmot ingest {} \
                         --mapping {} FILE`",
                        if replaced { "replaced" } else { "added" },
                        mapping.name,
                        mapping.version,
                        mapping.dataset,
                        mapping.dataset,
                        mapping.name
                    );
                }
            }
            Ok(Exit::Ok)
        }
        Some(DatasetsAction::Mappings) => {
            let lake = ctx.open_lake().await?;
            println!(
                "{:<20} {:>8}  {:<16} {:<8} title",
                "mapping", "version", "dataset", "origin"
            );
            for (m, origin) in marmot_lake::catalog::mappings(&lake).await? {
                println!(
                    "{:<20} {:>8}  {:<16} {:<8} {}",
                    m.name,
                    m.version,
                    m.dataset,
                    origin.name(),
                    m.title
                );
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
            for (c, origin) in marmot_lake::catalog::contracts(&lake).await? {
                let name = match origin {
                    marmot_lake::catalog::Origin::Shipped => c.name.clone(),
                    marmot_lake::catalog::Origin::Lake => format!("{} (lake)", c.name),
                };
                match lake.load_table(&table_path(&c.name), None).await? {
                    None => println!("{:<16} {:>10} {:>8}  -", name, 0, "-"),
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
                            name,
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
