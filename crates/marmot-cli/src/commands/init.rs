//! `marmot init`: a lake for a place.

use anyhow::Context;
use marmot_lake::reference::{PlaceSource, boundaries, init_lake, place_geography};

use super::{PlaceArgs, place_source};
use crate::error::{CliResult, Exit};
use crate::settings::Ctx;

#[derive(clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    place: PlaceArgs,
    /// Ward or LSOA boundaries (GeoJSON, codes of the lake's geography in a WDyyCD or LSOAyyCD
    /// property) to attach to the lake for its maps; repeat for both. Also works on a lake that
    /// exists. Boundaries ship for City of London, Hackney, Chorley and Southend-on-Sea.
    #[arg(long)]
    boundaries: Vec<std::path::PathBuf>,
}

pub async fn run(ctx: &Ctx, args: InitArgs) -> CliResult {
    let place = place_source(&args.place)?;
    let lake = ctx.open_lake().await?;
    let m = init_lake(&lake, &place).await?;
    if !args.boundaries.is_empty() {
        let geo = place_geography(&PlaceSource {
            vintage: m.geography,
            ..place.clone()
        })?;
        for path in &args.boundaries {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {shown}"))?;
            let a = boundaries::attach(&lake, &shown, &text, &geo).await?;
            let level = match a.level {
                boundaries::BoundaryLevel::Ward => "ward",
                boundaries::BoundaryLevel::Lsoa => "LSOA",
            };
            println!(
                "{shown}: {} {level} boundaries attached{}",
                a.kept,
                if a.missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; {} of the place's {level}s have none ({}{})",
                        a.missing.len(),
                        a.missing
                            .iter()
                            .take(5)
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                        if a.missing.len() > 5 { ", ..." } else { "" }
                    )
                }
            );
        }
    }
    println!(
        "lake {} is ready for {} ({} LSOAs in {} local authorit{}; geography {}: {})",
        lake.url(),
        m.place_name,
        m.lsoas.len(),
        m.local_authorities.len(),
        if m.local_authorities.len() == 1 {
            "y"
        } else {
            "ies"
        },
        m.geography.name(),
        m.geography.describe()
    );
    Ok(Exit::Ok)
}
