//! One module per command: its flags (a clap `Args` or `Subcommand`) and the function that runs
//! it, returning an [`Exit`](crate::error::Exit) or a [`CliError`](crate::error::CliError).
//! Shared pieces (places, the pseudonymiser) live here; the terminal's in `ui`, the engine and
//! lake settings in `settings`.

pub mod cluster;
pub mod datasets;
pub mod demo;
pub mod detect;
pub mod indicators;
pub mod ingest;
pub mod init;
pub mod serve;
pub mod sql;
pub mod triggers;

use std::path::PathBuf;

use anyhow::Context;
use marmot_lake::reference::PlaceSource;
use marmot_lake::reference::england::england;
use marmot_lake::{LakeError, Pseudonymiser};
use marmot_model::{PlaceConfig, Vintage};

use crate::error::CliResult;

/// Which place a lake covers, and in which geography: shared by `init` and `demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct PlaceArgs {
    /// A shipped place (city-and-hackney, chorley, southend-on-sea, coventry, portsmouth,
    /// cheshire-and-merseyside), a place TOML file, or, with --lad, the id of a new place.
    #[arg(long, env = "MARMOT_PLACE", default_value = "city-and-hackney")]
    pub place: String,
    /// Make the place from English local authority GSS codes (E06/E07/E08/E09; repeat the flag
    /// or separate with commas), each authority its own locality. No place file needed.
    #[arg(long = "lad", value_delimiter = ',')]
    pub lads: Vec<String>,
    /// Display name of a place made with --lad (default: its authorities' names).
    #[arg(long)]
    pub name: Option<String>,
    /// Geography: 2021 (LSOA 2021, wards 2024, local authorities 2024, IMD 2025) or 2011 (LSOA
    /// 2011, wards December 2020, local authorities 2020, IMD 2019).
    #[arg(long, env = "MARMOT_GEOGRAPHY", default_value = "2021")]
    pub geography: String,
}

/// The place a command names: a shipped id, a place TOML file with its neighbourhoods, or
/// local authority codes.
pub fn place_source(args: &PlaceArgs) -> CliResult<PlaceSource> {
    let vintage = Vintage::parse(&args.geography).map_err(LakeError::from)?;
    let place = args.place.as_str();
    if !args.lads.is_empty() {
        let name = match &args.name {
            Some(n) => n.clone(),
            None => {
                let lads = england(vintage)?.local_authorities();
                args.lads
                    .iter()
                    .map(|c| lads.get(c.as_str()).map_or(c.as_str(), |n| *n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        let config = PlaceConfig::from_lads(place, &name, &args.lads).map_err(LakeError::from)?;
        return Ok(PlaceSource {
            config,
            neighbourhoods_csv: None,
            vintage,
        });
    }
    if place.ends_with(".toml") {
        let path = PathBuf::from(place);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading place file {place}"))?;
        let config = PlaceConfig::from_toml(place, &text).map_err(LakeError::from)?;
        let neighbourhoods_csv = match &config.neighbourhoods {
            Some(n) => {
                let p = path
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join(&n.file);
                Some(
                    std::fs::read_to_string(&p)
                        .with_context(|| format!("reading neighbourhood file {}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(PlaceSource {
            config,
            neighbourhoods_csv,
            vintage,
        })
    } else {
        let (config, csv) = marmot_model::builtin_place(place).map_err(LakeError::from)?;
        Ok(PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
            vintage,
        })
    }
}

/// The demo place in the default geography (for commands that need some LSOAs and no lake).
pub fn demo_place() -> CliResult<PlaceSource> {
    let (config, csv) = marmot_model::builtin_place("city-and-hackney").map_err(LakeError::from)?;
    Ok(PlaceSource {
        config,
        neighbourhoods_csv: csv.map(str::to_string),
        vintage: Vintage::default(),
    })
}

/// The pseudonymiser from `MARMOT_PSEUDONYM_KEY` or the key file.
pub fn pseudonymiser() -> CliResult<Pseudonymiser> {
    let (p, _note) = Pseudonymiser::from_env_or_file(&Pseudonymiser::default_key_file())?;
    Ok(p)
}
