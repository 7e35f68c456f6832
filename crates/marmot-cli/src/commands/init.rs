//! `marmot init`: a lake for a place.

use marmot_lake::reference::init_lake;

use super::place_source;
use crate::error::{CliResult, Exit};
use crate::settings::Ctx;

#[derive(clap::Args)]
pub struct InitArgs {
    /// A shipped place id (city-and-hackney, chorley, southend-on-sea) or a place TOML file.
    #[arg(long, env = "MARMOT_PLACE", default_value = "city-and-hackney")]
    place: String,
}

pub async fn run(ctx: &Ctx, args: InitArgs) -> CliResult {
    let place = place_source(&args.place)?;
    let lake = ctx.open_lake().await?;
    let m = init_lake(&lake, &place).await?;
    println!(
        "lake {} is ready for {} ({} LSOAs)",
        lake.url(),
        m.place_name,
        m.lsoas.len()
    );
    Ok(Exit::Ok)
}
