//! `marmot sql` and `marmot functions`.

use std::collections::BTreeMap;

use crate::error::{CliResult, Exit};
use crate::settings::{Ctx, open_engine};
use crate::ui::{SqlFormat, print_batches};

#[derive(clap::Args)]
pub struct SqlArgs {
    /// The query.
    query: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: SqlFormat,
    /// Pin a table to a Delta version (time travel), e.g. --at admissions=3.
    #[arg(long = "at", value_parser = parse_pin)]
    at: Vec<(String, u64)>,
}

fn parse_pin(s: &str) -> Result<(String, u64), String> {
    let (t, v) = s.split_once('=').ok_or("expected TABLE=VERSION")?;
    Ok((
        t.to_string(),
        v.parse()
            .map_err(|_| format!("'{v}' is not a version number"))?,
    ))
}

pub async fn run(ctx: &Ctx, args: SqlArgs) -> CliResult {
    let pins: BTreeMap<String, u64> = args.at.into_iter().collect();
    let lake = ctx.open_lake().await?;
    let engine = open_engine(&lake, &pins).await?;
    let batches = engine.sql(&args.query).await?;
    print_batches(&batches, args.format)?;
    Ok(Exit::Ok)
}

/// `marmot functions`: needs no lake.
pub fn functions() -> CliResult {
    for f in marmot_engine::functions::catalogue() {
        println!("{}\n    {}\n", f.signature, f.description);
    }
    Ok(Exit::Ok)
}
