//! Areas other than LSOAs that partner data comes by, and which of them are the place's: sub-ICB
//! locations ([`super::nhs`]), MSOAs (2011) and local authority districts. One question for
//! ingest ([`in_place`]: the codes a row may carry) and one for its reasons ([`elsewhere`]: a
//! real area outside the place, told apart from a code that is no area at all).
//!
//! - **MSOA 2011** (`lsoa2011_msoa2011.parquet`, the ONS LSOA 2011 -> MSOA 2011 lookup, built by
//!   `data/reference/build.py`): an MSOA is the place's when every one of its LSOAs is, each
//!   LSOA 2011 read through its best-fit LSOA 2021 ([`super::change::conversions`]) and that
//!   LSOA's local authority (2024). MSOAs nest in local authorities, so for a place of whole
//!   authorities every MSOA is in or out.
//! - **Local authority districts**: the place's authorities by their 2024 codes, and the 2020
//!   codes of the districts whose every LSOA lies in the place (the districts a 2023 unitary
//!   such as Cumberland was made from), as files of 2020 to 2023 name them.
//! - **Published areas** (Fingertips exports): the place's local authorities as above, and
//!   England (`E92000001`), whose value is the place's benchmark. Counties and regions are real
//!   areas set aside (Marmot compares the place with England).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use arrow::array::StringArray;
use marmot_model::{AreaKind, Vintage};

use super::change::conversions;
use super::england::{batches, column, england};
use crate::LakeError;

const MSOA11: &[u8] =
    include_bytes!("../../../../data/reference/england/lsoa2011_msoa2011.parquet");

/// One MSOA (2011) of England.
#[derive(Debug, Clone, PartialEq)]
pub struct Msoa {
    /// ONS code (`E02` and six digits).
    pub code: String,
    /// Name, e.g. `Hackney 001`.
    pub name: String,
    /// Its LSOA 2011 codes.
    pub lsoas: Vec<String>,
}

fn decode_msoas() -> Result<BTreeMap<String, Msoa>, LakeError> {
    let what = "lsoa2011_msoa2011";
    let mut out: BTreeMap<String, Msoa> = BTreeMap::new();
    for b in batches(what, MSOA11)? {
        let s = |n: &str| column::<StringArray>(&b, what, n);
        let (lsoa, code, name) = (s("lsoa11_code")?, s("msoa11_code")?, s("msoa11_name")?);
        for r in 0..b.num_rows() {
            out.entry(code.value(r).to_string())
                .or_insert_with(|| Msoa {
                    code: code.value(r).to_string(),
                    name: name.value(r).to_string(),
                    lsoas: Vec::new(),
                })
                .lsoas
                .push(lsoa.value(r).to_string());
        }
    }
    Ok(out)
}

/// England's MSOAs (2011), by code (decoded on first use, then shared).
pub fn msoas() -> Result<&'static BTreeMap<String, Msoa>, LakeError> {
    static CELL: OnceLock<Result<BTreeMap<String, Msoa>, String>> = OnceLock::new();
    CELL.get_or_init(|| decode_msoas().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| LakeError::Internal(e.clone()))
}

/// Whether every LSOA 2011 of `lsoas` lies, through its best-fit LSOA 2021, in one of
/// `local_authorities` (2024 codes).
fn wholly_in(
    lsoas: &[String],
    local_authorities: &[String],
    conv: &std::collections::HashMap<String, super::change::Conversion>,
) -> Result<bool, LakeError> {
    let e21 = england(Vintage::Lsoa2021)?;
    Ok(!lsoas.is_empty()
        && lsoas.iter().all(|l| {
            conv.get(l)
                .and_then(|c| e21.get(&c.lsoa21))
                .is_some_and(|x| local_authorities.contains(&x.lad_code))
        }))
}

/// England's ONS code.
pub const ENGLAND: &str = "E92000001";

/// The codes of areas of `kind` that are the place's (the place given by its local
/// authorities, 2024 codes), sorted. The place's LSOAs for [`AreaKind::Lsoa`] are the lake's
/// own reference table, not this.
pub fn in_place(kind: AreaKind, local_authorities: &[String]) -> Result<Vec<String>, LakeError> {
    let set: BTreeSet<String> = match kind {
        AreaKind::Lsoa => {
            let e = england(Vintage::Lsoa2021)?;
            e.lsoas
                .iter()
                .filter(|l| local_authorities.contains(&l.lad_code))
                .map(|l| l.code.clone())
                .collect()
        }
        AreaKind::SubIcb => super::nhs::overlapping(local_authorities)?
            .into_iter()
            .map(|o| o.sub_icb.code.clone())
            .collect(),
        AreaKind::Msoa => {
            let conv = conversions()?;
            let mut out = BTreeSet::new();
            for m in msoas()?.values() {
                if wholly_in(&m.lsoas, local_authorities, &conv)? {
                    out.insert(m.code.clone());
                }
            }
            out
        }
        AreaKind::Published => {
            let mut out: BTreeSet<String> = in_place(AreaKind::LocalAuthority, local_authorities)?
                .into_iter()
                .collect();
            out.insert(ENGLAND.to_string());
            out
        }
        AreaKind::LocalAuthority => {
            let conv = conversions()?;
            let mut out: BTreeSet<String> = local_authorities.iter().cloned().collect();
            let mut by_lad20: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for l in &england(Vintage::Lsoa2011)?.lsoas {
                by_lad20
                    .entry(l.lad_code.as_str())
                    .or_default()
                    .push(l.code.clone());
            }
            for (lad20, lsoas) in by_lad20 {
                if wholly_in(&lsoas, local_authorities, &conv)? {
                    out.insert(lad20.to_string());
                }
            }
            out
        }
    };
    Ok(set.into_iter().collect())
}

/// Where a well-formed code of `kind` that is not the place's lies, in words, when it is a
/// real area (`Some`: the row is outside the place, set aside); `None` when no area of England
/// has the code (the row is rejected).
pub fn elsewhere(kind: AreaKind, code: &str, place_name: &str) -> Option<String> {
    match kind {
        AreaKind::Lsoa => None,
        AreaKind::SubIcb => super::nhs::sub_icbs()
            .ok()
            .and_then(|all| all.by_code.get(code))
            .map(|x| format!("sub-ICB {code} ({}) does not overlap {place_name}", x.name)),
        AreaKind::Msoa => msoas()
            .ok()
            .and_then(|all| all.get(code))
            .map(|m| format!("MSOA {code} ({}) is not in {place_name}", m.name)),
        AreaKind::Published => {
            let tier = ["E10", "E11", "E12", "E13"]
                .iter()
                .any(|p| code.starts_with(p))
                .then(|| {
                    format!(
                        "{code} is a county or region: Marmot keeps the published values of \
                         {place_name}'s own authorities and of England"
                    )
                });
            tier.or_else(|| elsewhere(AreaKind::LocalAuthority, code, place_name))
        }
        AreaKind::LocalAuthority => [Vintage::Lsoa2021, Vintage::Lsoa2011]
            .into_iter()
            .filter_map(|v| england(v).ok())
            .find_map(|e| {
                e.lsoas
                    .iter()
                    .find(|l| l.lad_code == code)
                    .map(|l| l.lad_name.clone())
            })
            .map(|name| format!("{name} ({code}) is not one of {place_name}'s authorities")),
    }
}

/// Why a well-formed code of `kind` is no area at all (for the rejection reason).
pub fn unknown(kind: AreaKind, code: &str) -> String {
    match kind {
        AreaKind::Lsoa => format!("{code} is not an LSOA of England"),
        AreaKind::SubIcb => format!("{code} is not a sub-ICB location of England (April 2024)"),
        AreaKind::Msoa => format!("{code} is not an MSOA (2011) of England"),
        AreaKind::LocalAuthority | AreaKind::Published => format!(
            "{code} is not a local authority district of England by its 2020 or 2024 codes (a \
             code retired before 2020, such as Bournemouth's E06000028, is not known)"
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn england_has_6791_msoas_of_2011_and_each_lsoa_is_in_one() {
        let m = msoas().unwrap();
        assert_eq!(m.len(), 6791);
        assert_eq!(m.values().map(|x| x.lsoas.len()).sum::<usize>(), 32_844);
        assert_eq!(m["E02000001"].name, "City of London 001");
    }

    #[test]
    fn the_city_of_london_has_one_msoa_and_hackney_28() {
        let city = in_place(AreaKind::Msoa, &["E09000001".into()]).unwrap();
        assert_eq!(city, vec!["E02000001".to_string()]);
        let hackney = in_place(AreaKind::Msoa, &["E09000012".into()]).unwrap();
        assert_eq!(hackney.len(), 28);
        assert!(
            hackney
                .iter()
                .all(|c| msoas().unwrap()[c].name.starts_with("Hackney "))
        );
        assert!(elsewhere(AreaKind::Msoa, "E02000002", "City of London").is_some());
        assert!(elsewhere(AreaKind::Msoa, "E02999999", "City of London").is_none());
    }

    #[test]
    fn a_2023_unitary_takes_the_codes_of_the_districts_it_was_made_from() {
        // Cumberland (E06000063) from Allerdale, Carlisle and Copeland (2020 codes).
        let c = in_place(AreaKind::LocalAuthority, &["E06000063".into()]).unwrap();
        assert_eq!(c, vec!["E06000063", "E07000026", "E07000028", "E07000029"]);
        let city = in_place(AreaKind::LocalAuthority, &["E09000001".into()]).unwrap();
        assert_eq!(city, vec!["E09000001"]);
        assert!(elsewhere(AreaKind::LocalAuthority, "E07000027", "Cumberland").is_some());
        assert!(elsewhere(AreaKind::LocalAuthority, "E06999999", "Cumberland").is_none());
    }

    #[test]
    fn published_values_are_kept_for_the_place_and_england() {
        let s = in_place(AreaKind::Published, &["E06000033".into()]).unwrap();
        assert_eq!(s, vec!["E06000033", "E92000001"]);
        assert!(elsewhere(AreaKind::Published, "E12000006", "Southend").is_some());
        assert!(elsewhere(AreaKind::Published, "E06000034", "Southend").is_some());
        assert!(elsewhere(AreaKind::Published, "E06999999", "Southend").is_none());
    }
}
