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
use marmot_lake::{LakeError, Pseudonymiser};

use crate::error::CliResult;

/// A shipped place id (`city-and-hackney`, ...) or a place TOML file with its neighbourhoods.
pub fn place_source(place: &str) -> CliResult<PlaceSource> {
    if place.ends_with(".toml") {
        let path = PathBuf::from(place);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading place file {place}"))?;
        let config = marmot_model::PlaceConfig::from_toml(place, &text).map_err(LakeError::from)?;
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
        })
    } else {
        let (config, csv) = marmot_model::builtin_place(place).map_err(LakeError::from)?;
        Ok(PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
        })
    }
}

/// The pseudonymiser from `MARMOT_PSEUDONYM_KEY` or the key file.
pub fn pseudonymiser() -> CliResult<Pseudonymiser> {
    let (p, _note) = Pseudonymiser::from_env_or_file(&Pseudonymiser::default_key_file())?;
    Ok(p)
}
