//! NHS geography, embedded at compile time: `lsoa2021_sub_icb2024.parquet`, the ONS LSOA (2021)
//! to Sub ICB Location to Integrated Care Board (April 2024) lookup (built by
//! `data/reference/build.py`; source in data/README.md). Datasets published by sub-ICB location
//! (NHS England's Appointments in General Practice) are checked against it on ingest, and a
//! place learns which sub-ICBs it overlaps and by how much (Census 2021 usual residents).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use arrow::array::StringArray;
use marmot_model::Vintage;

use super::england::{batches, column, england};
use crate::LakeError;

const SUB_ICB: &[u8] =
    include_bytes!("../../../../data/reference/england/lsoa2021_sub_icb2024.parquet");

/// One sub-ICB location (April 2024) with its ICB.
#[derive(Debug, Clone, PartialEq)]
pub struct SubIcb {
    /// ONS code (`E38` and six digits).
    pub code: String,
    /// NHS (ODS) code, e.g. `A3A8R`.
    pub nhs_code: String,
    /// Name, e.g. `NHS North East London ICB - A3A8R`.
    pub name: String,
    /// ONS code of its ICB (`E54`...).
    pub icb_code: String,
    /// NHS code of its ICB, e.g. `QMF`.
    pub icb_nhs_code: String,
    /// ICB name.
    pub icb_name: String,
    /// Its LSOA 2021 codes.
    pub lsoas: Vec<String>,
}

/// Every sub-ICB location of England, by ONS code, with an index by LSOA 2021.
#[derive(Debug)]
pub struct SubIcbs {
    /// By ONS code.
    pub by_code: BTreeMap<String, SubIcb>,
    by_lsoa: HashMap<String, String>,
}

impl SubIcbs {
    /// The sub-ICB an LSOA 2021 lies in.
    pub fn of_lsoa(&self, lsoa21: &str) -> Option<&SubIcb> {
        self.by_lsoa.get(lsoa21).and_then(|c| self.by_code.get(c))
    }
}

fn decode() -> Result<SubIcbs, LakeError> {
    let what = "lsoa2021_sub_icb2024";
    let mut by_code: BTreeMap<String, SubIcb> = BTreeMap::new();
    let mut by_lsoa = HashMap::new();
    for b in batches(what, SUB_ICB)? {
        let s = |n: &str| column::<StringArray>(&b, what, n);
        let (lsoa, code, nhs, name) = (
            s("lsoa_code")?,
            s("sub_icb_code")?,
            s("sub_icb_nhs_code")?,
            s("sub_icb_name")?,
        );
        let (icb, icb_nhs, icb_name) = (s("icb_code")?, s("icb_nhs_code")?, s("icb_name")?);
        for r in 0..b.num_rows() {
            let c = code.value(r).to_string();
            by_lsoa.insert(lsoa.value(r).to_string(), c.clone());
            by_code
                .entry(c.clone())
                .or_insert_with(|| SubIcb {
                    code: c,
                    nhs_code: nhs.value(r).to_string(),
                    name: name.value(r).to_string(),
                    icb_code: icb.value(r).to_string(),
                    icb_nhs_code: icb_nhs.value(r).to_string(),
                    icb_name: icb_name.value(r).to_string(),
                    lsoas: Vec::new(),
                })
                .lsoas
                .push(lsoa.value(r).to_string());
        }
    }
    Ok(SubIcbs { by_code, by_lsoa })
}

/// England's sub-ICB locations (decoded on first use, then shared).
pub fn sub_icbs() -> Result<&'static SubIcbs, LakeError> {
    static CELL: OnceLock<Result<SubIcbs, String>> = OnceLock::new();
    CELL.get_or_init(|| decode().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| LakeError::Internal(e.clone()))
}

/// How a sub-ICB overlaps a place, in Census 2021 usual residents.
#[derive(Debug, Clone, PartialEq)]
pub struct SubIcbOverlap {
    /// The sub-ICB.
    pub sub_icb: &'static SubIcb,
    /// Its residents.
    pub residents: i64,
    /// Its residents who live in the place.
    pub residents_in_place: i64,
    /// The place's residents.
    pub place_residents: i64,
}

impl SubIcbOverlap {
    /// Whether the sub-ICB and the place are the same area (every LSOA of each is in the other).
    pub fn coterminous(&self) -> bool {
        self.residents == self.residents_in_place && self.residents_in_place == self.place_residents
    }
}

/// The sub-ICBs that overlap a place given by its local authorities (LSOA 2021 geography,
/// whatever the lake's vintage: the NHS areas are defined on LSOA 2021), in code order.
pub fn overlapping(local_authorities: &[String]) -> Result<Vec<SubIcbOverlap>, LakeError> {
    let e = england(Vintage::Lsoa2021)?;
    let all = sub_icbs()?;
    let in_place = |l: &str| {
        e.get(l)
            .is_some_and(|x| local_authorities.contains(&x.lad_code))
    };
    let residents = |l: &str| e.get(l).map_or(0, |x| x.census2021_residents);
    let place_residents: i64 = e
        .lsoas
        .iter()
        .filter(|l| local_authorities.contains(&l.lad_code))
        .map(|l| l.census2021_residents)
        .sum();
    let mut out = Vec::new();
    for s in all.by_code.values() {
        let inside: i64 = s
            .lsoas
            .iter()
            .filter(|l| in_place(l))
            .map(|l| residents(l))
            .sum();
        if s.lsoas.iter().any(|l| in_place(l)) {
            out.push(SubIcbOverlap {
                sub_icb: s,
                residents: s.lsoas.iter().map(|l| residents(l)).sum(),
                residents_in_place: inside,
                place_residents,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_lsoa_2021_has_one_of_106_sub_icbs() {
        let s = sub_icbs().unwrap();
        assert_eq!(s.by_code.len(), 106);
        let e = england(Vintage::Lsoa2021).unwrap();
        assert!(e.lsoas.iter().all(|l| s.of_lsoa(&l.code).is_some()));
        assert_eq!(
            s.by_code.values().map(|x| x.lsoas.len()).sum::<usize>(),
            e.lsoas.len()
        );
        let nel = &s.by_code["E38000255"];
        assert_eq!(
            (nel.nhs_code.as_str(), nel.icb_nhs_code.as_str()),
            ("A3A8R", "QMF")
        );
    }

    #[test]
    fn places_overlap_the_sub_icbs_they_lie_in() {
        // Southend-on-Sea is sub-ICB 99G exactly; Chorley is part of 00X (Chorley and South
        // Ribble); City and Hackney is part of North East London's single sub-ICB.
        let one = |lads: &[&str]| {
            let lads: Vec<String> = lads.iter().map(|s| s.to_string()).collect();
            overlapping(&lads).unwrap()
        };
        let southend = one(&["E06000033"]);
        assert_eq!(southend.len(), 1);
        assert_eq!(southend[0].sub_icb.nhs_code, "99G");
        assert!(southend[0].coterminous());
        let chorley = one(&["E07000118"]);
        assert_eq!(chorley.len(), 1);
        assert_eq!(chorley[0].sub_icb.nhs_code, "00X");
        assert!(!chorley[0].coterminous());
        // Census 2021 usual residents, summed apart from Marmot by a Python script over the
        // source CSVs (the figures docs/mappings.md quotes).
        assert_eq!(
            (chorley[0].residents, chorley[0].residents_in_place),
            (178_684, 117_738)
        );
        assert_eq!(southend[0].residents, 180_691);
        let ch = one(&["E09000001", "E09000012"]);
        assert_eq!(ch.len(), 1);
        assert_eq!(ch[0].sub_icb.code, "E38000255");
        assert_eq!(ch[0].residents_in_place, ch[0].place_residents);
        assert_eq!(
            (ch[0].residents, ch[0].residents_in_place),
            (1_998_637, 267_750)
        );
    }
}
