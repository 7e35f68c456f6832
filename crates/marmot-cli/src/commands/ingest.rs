//! `marmot ingest`: validate partner files against a contract and commit each atomically.

use std::path::PathBuf;

use clap::ValueEnum;
use marmot_lake::ingest::{IngestRequest, IngestSummary, Period, SubmissionMode, ingest};

use super::indicators::refresh_cube;
use super::pseudonymiser;
use crate::error::{CliError, CliResult, Exit};
use crate::settings::Ctx;
use crate::ui::Bar;

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Dataset (contract) name: a shipped one (admissions, ccg_activity, cab, police,
    /// community_hub, contact_tracing, street_crime) or one added with `marmot datasets add`.
    dataset: String,
    /// CSV or Parquet files; each is ingested in its own atomic commit.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Partner sending the file (default: the contract's default partner).
    #[arg(long)]
    partner: Option<String>,
    /// Read the files with this source mapping (e.g. police-uk for police.uk street-level
    /// CSVs): files in the partner's own layout rather than the contract's.
    /// `marmot datasets mappings` lists them.
    #[arg(long)]
    mapping: Option<String>,
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
    /// Threads validating rows at once (default: one per core). Parsing and writing run on
    /// threads of their own; the result is the same for any number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SummaryFormat {
    Text,
    Json,
}

/// Ingests each file in turn; the exit status is the worst outcome over the files (a usage
/// error, then a failed file, then a file committed with rows quarantined).
pub async fn run(ctx: &Ctx, args: IngestArgs) -> CliResult {
    let period = args.period.as_deref().map(Period::parse).transpose()?;
    let mode = SubmissionMode::parse(&args.mode)?;
    let pseudo = pseudonymiser()?;
    let lake = ctx.open_lake().await?;
    let user = std::env::var("MARMOT_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    let mut worst = Exit::Ok;
    let mut committed = false;
    let bar = Bar::new();
    for file in args.files {
        let req = IngestRequest {
            dataset: args.dataset.clone(),
            path: file.clone(),
            partner: args.partner.clone(),
            period,
            force: args.force,
            mode,
            dry_run: args.dry_run,
            display_name: None,
            user: user.clone(),
            today: chrono::Utc::now().date_naive(),
            mapping: args.mapping.clone(),
            threads: args.threads.map(usize::from),
        };
        match ingest(&lake, &pseudo, &req, &bar).await {
            Ok(s) => {
                committed |= !s.already_ingested && !s.dry_run;
                print_summary(&s, args.format);
                if s.rejected > 0 && !s.already_ingested {
                    worst = worst.max(Exit::Partial);
                }
            }
            Err(e) => {
                let message = e.to_string();
                worst = worst.max(CliError::from(e).exit());
                match args.format {
                    SummaryFormat::Json => println!(
                        "{}",
                        serde_json::json!({"file": file.display().to_string(), "error": message, "changed": false})
                    ),
                    SummaryFormat::Text => eprintln!(
                        "marmot: error: {message}\nmarmot: nothing was changed in the lake"
                    ),
                }
            }
        }
    }
    if !args.no_cube && committed {
        // The data is committed whatever happens here: a failed refresh only means indicator
        // reads are computed live until `marmot cube` succeeds.
        if let Err(e) = refresh_cube(&lake, ctx.queries(), &bar).await {
            eprintln!(
                "marmot: warning: the data is committed, but the indicator cube was not refreshed: {e}"
            );
        }
    }
    Ok(worst)
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
            if s.out_of_area > 0 {
                println!(
                    "  {:>8} set aside: outside the place (not errors; in {})",
                    s.out_of_area,
                    s.quarantine_path.as_deref().unwrap_or("quarantine")
                );
            }
            if s.suppressed_cells > 0 {
                println!(
                    "  {:>8} cells read as suppressed small numbers (stored empty and flagged, not zero)",
                    s.suppressed_cells
                );
            }
            if let Some(m) = &s.mapping {
                println!(
                    "  read with mapping {} version {} ({} rows in the file)",
                    m.name, m.version, m.source_rows
                );
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
            let aside = if s.out_of_area > 0 {
                format!(" + {} out of area", s.out_of_area)
            } else {
                String::new()
            };
            println!(
                "{}: {} rows read = {} accepted + {} rejected{aside}; {outcome}{}",
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
