//! Process-wide settings: where the lake is, which engine runs queries and with how much memory
//! (flags, then environment, then `marmot.toml`, then defaults), and how commands open them.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Context;
use marmot_lake::{Lake, LakeError};

use crate::error::CliResult;

/// The settings file (`marmot.toml`). Never holds credentials: those come from `AWS_*`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    engine: Option<String>,
    memory_limit: Option<String>,
}

/// How every command of this process opens its engine (set once from the flags).
static ENGINE: std::sync::OnceLock<marmot_engine::EngineOptions> = std::sync::OnceLock::new();

/// The global options every command sees. Opening the lake is left to the commands that need
/// one, so that `functions`, `detect`, `tokens` and `datasets describe` never create `./lake`.
pub struct Ctx {
    /// `--lake`: a local directory or an object store URL.
    pub lake: String,
    /// `--queries`: the directory of indicator and trigger definitions.
    pub queries: Option<PathBuf>,
}

impl Ctx {
    /// Opens the lake (a local directory is created when missing); a remote one must answer.
    pub async fn open_lake(&self) -> CliResult<Lake> {
        let lake = Lake::open(&self.lake, lake_options())?;
        if lake.url().scheme() != "file" {
            lake.check_reachable().await?;
        }
        Ok(lake)
    }

    /// The lake when there is one: `None` for a local directory that does not exist (which is
    /// then left uncreated).
    pub async fn existing_lake(&self) -> CliResult<Option<Lake>> {
        if !self.lake.contains("://") && !std::path::Path::new(&self.lake).exists() {
            return Ok(None);
        }
        Ok(Some(self.open_lake().await?))
    }

    /// The indicator definitions (`--queries`, else `./queries`, else the built-in ones).
    pub fn queries(&self) -> Option<&std::path::Path> {
        self.queries.as_deref()
    }
}

/// Storage options for remote lakes, from the environment (never from files in the repo).
pub fn lake_options() -> HashMap<String, String> {
    marmot_lake::remote::options_from_env()
}

/// The engine every command uses (`--engine`, `--memory-limit`), as resolved at start-up.
pub fn engine_options() -> marmot_engine::EngineOptions {
    ENGINE.get().cloned().unwrap_or_default()
}

/// Opens the engine over `lake` as the flags say (`--engine`, `--memory-limit`), with `pins`.
pub async fn open_engine(
    lake: &Lake,
    pins: &BTreeMap<String, u64>,
) -> Result<marmot_engine::Engine, marmot_engine::EngineError> {
    let mut options = engine_options();
    options.versions = pins.clone();
    marmot_engine::Engine::open_with(lake, &options).await
}

/// Reads the settings file and resolves `--engine` and `--memory-limit` (flag or environment,
/// then the file, then the defaults), once for the process.
pub fn resolve(
    config: Option<PathBuf>,
    engine: Option<String>,
    memory_limit: Option<String>,
) -> CliResult<()> {
    let file = config.or_else(|| {
        let p = PathBuf::from("marmot.toml");
        p.is_file().then_some(p)
    });
    let settings: SettingsFile = match &file {
        None => SettingsFile::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading settings file {}", p.display()))?;
            toml::from_str(&text)
                .map_err(|e| LakeError::Config(format!("settings file {}: {e}", p.display())))?
        }
    };
    let engine = engine.or(settings.engine).unwrap_or_else(|| "local".into());
    let memory = memory_limit.or(settings.memory_limit);
    let options = marmot_engine::EngineOptions {
        engine: marmot_engine::EngineKind::parse(&engine)?,
        memory_limit: memory.as_deref().map(parse_bytes).transpose()?,
        ..Default::default()
    };
    let _ = ENGINE.set(options);
    Ok(())
}

/// `8GiB`, `512MiB`, `64KiB`, `8G`, `1000000` (bytes).
pub fn parse_bytes(text: &str) -> Result<usize, LakeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        LakeError::Config(format!(
            "memory limit '{text}': expected e.g. 8GiB or 512MiB"
        ))
    })?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(LakeError::Config(format!(
                "memory limit '{text}': unknown unit '{other}' (use KiB, MiB, GiB or TiB)"
            )));
        }
    };
    let bytes = n * mult;
    if !(bytes >= 1.0 && bytes.is_finite()) {
        return Err(LakeError::Config(format!(
            "memory limit '{text}' must be positive"
        )));
    }
    Ok(bytes as usize)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn memory_limits_parse_with_binary_units() {
        assert_eq!(parse_bytes("8GiB").ok(), Some(8 << 30));
        assert_eq!(parse_bytes("512 MiB").ok(), Some(512 << 20));
        assert_eq!(parse_bytes("64KiB").ok(), Some(64 << 10));
        assert_eq!(parse_bytes("1.5G").ok(), Some(3 << 29));
        assert_eq!(parse_bytes("1000").ok(), Some(1000));
        for bad in ["lots", "8 parsecs", "0", "-1GiB", ""] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }
}
