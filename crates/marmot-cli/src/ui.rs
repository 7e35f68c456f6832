//! What the terminal shows: progress bars on standard error and tables, CSV or JSON of Arrow
//! batches on standard output.

use arrow::record_batch::RecordBatch;
use clap::ValueEnum;
use marmot_lake::ingest::Progress;

use crate::error::CliResult;

/// A progress bar on standard error, drawn only when it is a terminal.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    pub fn new() -> Bar {
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

/// Output format of tabular answers.
#[derive(Clone, Copy, ValueEnum)]
pub enum SqlFormat {
    Table,
    Csv,
    Json,
}

/// The batches with Float64 columns rounded to 4 decimal places (for display only).
fn rounded(batches: &[RecordBatch]) -> CliResult<Vec<RecordBatch>> {
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
            Ok(RecordBatch::try_new(b.schema(), cols)?)
        })
        .collect()
}

/// Prints batches on standard output.
pub fn print_batches(batches: &[RecordBatch], format: SqlFormat) -> CliResult<()> {
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
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            println!();
        }
    }
    Ok(())
}
