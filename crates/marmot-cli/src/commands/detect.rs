//! `marmot detect`: a detection method over any weekly series in a CSV; needs no lake.

use std::path::PathBuf;

use anyhow::Context;
use clap::ValueEnum;
use marmot_stats::surveillance::detect;

use crate::error::{CliError, CliResult, Exit};

#[derive(clap::Args)]
pub struct DetectArgs {
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
}

#[derive(Clone, Copy, ValueEnum)]
enum DetectFormat {
    Csv,
    Json,
}

pub fn run(args: DetectArgs) -> CliResult {
    // A bad method or parameter is the caller's to fix; a bad series file fails the run.
    let method = detect::Method::parse(&args.method).map_err(CliError::usage)?;
    let pairs = args
        .params
        .iter()
        .map(|p| detect::parse_param_arg(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(CliError::usage)?;
    let params = detect::parse_params(method, &pairs).map_err(CliError::usage)?;
    let input = args.input.display();
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {input}"))?;
    let series = detect::parse_series_csv(&text).with_context(|| input.to_string())?;
    let rows = detect::run(&series, method, &params).with_context(|| input.to_string())?;
    match args.format {
        DetectFormat::Csv => print!("{}", detect::to_csv(&rows)),
        DetectFormat::Json => println!("{}", detect::to_json(&rows)),
    }
    Ok(Exit::Ok)
}
