//! The lake's catalogue: which contracts and mappings it knows.
//!
//! The shipped contracts (`data/contracts/`) and mappings (`data/mappings/`) are defaults; a
//! lake adds its own at run time under `_marmot/contracts/<dataset>.toml` and
//! `_marmot/mappings/<name>.toml` (`marmot datasets add FILE`). A lake's document of the same
//! name replaces the shipped one for that lake. Nothing here needs a rebuild.

use futures::TryStreamExt;
use marmot_model::{Contract, Mapping};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use crate::{Lake, LakeError};

/// Where a lake keeps its own contracts.
pub const CONTRACTS_DIR: &str = "_marmot/contracts";
/// Where a lake keeps its own mappings.
pub const MAPPINGS_DIR: &str = "_marmot/mappings";

/// Names a dataset may not take besides the reference tables
/// ([`crate::reference::REFERENCE_TABLES`]): the cube, the trigger tables, and the mapping's
/// `input`.
pub const RESERVED_NAMES: &[&str] = &[
    "indicator_values",
    "trigger_evaluations",
    "triggers",
    "trigger_acks",
    "input",
];

fn reserved(name: &str) -> bool {
    RESERVED_NAMES.contains(&name) || crate::reference::REFERENCE_TABLES.contains(&name)
}

/// Where a catalogue entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Shipped with Marmot.
    Shipped,
    /// Added to this lake at run time.
    Lake,
}

impl Origin {
    /// `shipped` or `lake`.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Shipped => "shipped",
            Origin::Lake => "lake",
        }
    }
}

/// What `add` put in the lake.
#[derive(Debug, Clone)]
pub enum Added {
    /// A contract; `replaced` when one of the same name was known before (shipped or lake).
    Contract {
        /// The contract.
        contract: Box<Contract>,
        /// It replaces an earlier one of the same name.
        replaced: bool,
    },
    /// A mapping; `replaced` as for contracts.
    Mapping {
        /// The mapping.
        mapping: Box<Mapping>,
        /// It replaces an earlier one of the same name.
        replaced: bool,
    },
}

async fn documents(lake: &Lake, dir: &str) -> Result<Vec<(String, String)>, LakeError> {
    let store = lake.store();
    let prefix = Path::from(dir);
    let metas: Vec<_> = store.list(Some(&prefix)).try_collect().await?;
    let mut out = Vec::new();
    for m in metas {
        let name = m.location.filename().unwrap_or_default().to_string();
        if !name.ends_with(".toml") {
            continue;
        }
        let bytes = store.get(&m.location).await?.bytes().await?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| LakeError::Lake(format!("{}: not UTF-8 text", m.location)))?;
        out.push((m.location.to_string(), text));
    }
    out.sort();
    Ok(out)
}

/// Every contract the lake knows: the shipped ones (replaced by the lake's own of the same
/// name), then the lake's others, by name.
pub async fn contracts(lake: &Lake) -> Result<Vec<(Contract, Origin)>, LakeError> {
    let mut all: Vec<(Contract, Origin)> = marmot_model::builtin_contracts()?
        .into_iter()
        .map(|c| (c, Origin::Shipped))
        .collect();
    let mut own = Vec::new();
    for (path, text) in documents(lake, CONTRACTS_DIR).await? {
        own.push(Contract::from_toml(&path, &text)?);
    }
    own.sort_by(|a, b| a.name.cmp(&b.name));
    for c in own {
        match all.iter_mut().find(|(k, _)| k.name == c.name) {
            Some(slot) => *slot = (c, Origin::Lake),
            None => all.push((c, Origin::Lake)),
        }
    }
    Ok(all)
}

/// The contracts alone (see [`contracts`]).
pub async fn contract_list(lake: &Lake) -> Result<Vec<Contract>, LakeError> {
    Ok(contracts(lake).await?.into_iter().map(|(c, _)| c).collect())
}

/// One contract by dataset name: the lake's own, else the shipped one.
pub async fn contract(lake: &Lake, name: &str) -> Result<Contract, LakeError> {
    let all = contracts(lake).await?;
    let known = all
        .iter()
        .map(|(c, _)| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|(c, _)| c.name == name)
        .map(|(c, _)| c)
        .ok_or_else(|| {
            LakeError::Model(marmot_model::ModelError::Unknown {
                kind: "dataset",
                name: name.to_string(),
                known,
            })
        })
}

/// Every mapping the lake knows (shipped, replaced or extended by the lake's own).
pub async fn mappings(lake: &Lake) -> Result<Vec<(Mapping, Origin)>, LakeError> {
    let mut all: Vec<(Mapping, Origin)> = marmot_model::builtin_mappings()?
        .into_iter()
        .map(|m| (m, Origin::Shipped))
        .collect();
    for (path, text) in documents(lake, MAPPINGS_DIR).await? {
        let m = Mapping::from_toml(&path, &text)?;
        match all.iter_mut().find(|(k, _)| k.name == m.name) {
            Some(slot) => *slot = (m, Origin::Lake),
            None => all.push((m, Origin::Lake)),
        }
    }
    Ok(all)
}

/// One mapping by name.
pub async fn mapping(lake: &Lake, name: &str) -> Result<Mapping, LakeError> {
    let all = mappings(lake).await?;
    let known = all
        .iter()
        .map(|(m, _)| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|(m, _)| m.name == name)
        .map(|(m, _)| m)
        .ok_or_else(|| {
            LakeError::Model(marmot_model::ModelError::Unknown {
                kind: "mapping",
                name: name.to_string(),
                known,
            })
        })
}

/// Whether a TOML document is a mapping (it has a top-level `sql`) rather than a contract.
fn is_mapping(text: &str) -> bool {
    text.parse::<toml::Table>()
        .map(|t| t.contains_key("sql"))
        .unwrap_or(false)
}

/// Checks a contract or mapping document (`what` names it in errors) and adds it to the lake,
/// replacing one of the same name. A mapping must produce a dataset the lake knows, and its
/// SQL must parse. Nothing is written when anything is wrong.
pub async fn add(lake: &Lake, what: &str, text: &str) -> Result<Added, LakeError> {
    lake.require_manifest().await?;
    if is_mapping(text) {
        let m = Mapping::from_toml(what, text)?;
        contract(lake, &m.dataset).await?;
        datafusion::sql::parser::DFParser::parse_sql(&m.sql).map_err(|e| {
            LakeError::Model(marmot_model::ModelError::Invalid {
                what: what.to_string(),
                message: format!("line {}: the sql does not parse: {e}", m.sql_line()),
            })
        })?;
        let replaced = mappings(lake).await?.iter().any(|(k, _)| k.name == m.name);
        put(lake, &format!("{MAPPINGS_DIR}/{}.toml", m.name), text).await?;
        Ok(Added::Mapping {
            mapping: Box::new(m),
            replaced,
        })
    } else {
        let c = Contract::from_toml(what, text)?;
        if reserved(&c.name) {
            return Err(LakeError::Model(marmot_model::ModelError::Invalid {
                what: what.to_string(),
                message: format!(
                    "name '{}' is one of the lake's own tables; choose another",
                    c.name
                ),
            }));
        }
        let replaced = contracts(lake).await?.iter().any(|(k, _)| k.name == c.name);
        put(lake, &format!("{CONTRACTS_DIR}/{}.toml", c.name), text).await?;
        Ok(Added::Contract {
            contract: Box::new(c),
            replaced,
        })
    }
}

async fn put(lake: &Lake, path: &str, text: &str) -> Result<(), LakeError> {
    lake.store()
        .put(
            &Path::from(path),
            PutPayload::from(text.as_bytes().to_vec()),
        )
        .await?;
    Ok(())
}
