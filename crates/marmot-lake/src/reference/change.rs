//! LSOA 2011 -> LSOA 2021: converting partner codes on ingest, and deriving LSOA 2021
//! denominators from LSOA 2011 population estimates. Pure functions over the embedded lookup.
//!
//! The rule, for both (documented in data/README.md and docs/geography.md):
//! - **U** (unchanged) and **M** (merged: several 2011 LSOAs make one 2021 LSOA): exact; the
//!   2011 LSOA lies wholly in one 2021 LSOA.
//! - **S** (split: one 2011 LSOA became several) and **X** (irregular, 9 rows in England):
//!   a 2011 LSOA maps to several 2021 LSOAs. A partner *record* in it goes to the **best fit**,
//!   the 2021 LSOA with the most Census 2021 usual residents (ties: the lower code); a
//!   *population* is shared among them in proportion to their Census 2021 residents (largest
//!   remainder, so every person is counted once and totals are kept exactly).

use std::collections::{BTreeMap, HashMap};

use super::england::{EnglandLsoa, LsoaChange, england, lsoa_changes, population_year};
use crate::LakeError;
use marmot_model::Vintage;

/// How one LSOA 2011 code is read in a 2021 lake.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// The LSOA 2021 code a record in it is counted in.
    pub lsoa21: String,
    /// The ONS change indicator of the 2011 LSOA (`U`, `S`, `M`, `X`).
    pub change: char,
    /// How many 2021 LSOAs the 2011 LSOA overlaps (1 for U and M).
    pub targets: usize,
}

impl Conversion {
    /// Whether the conversion is exact (the 2011 LSOA lies in one 2021 LSOA).
    pub fn is_exact(&self) -> bool {
        self.targets == 1
    }
}

fn residents(code: &str) -> Result<i64, LakeError> {
    Ok(england(Vintage::Lsoa2021)?
        .get(code)
        .map_or(0, |l| l.census2021_residents))
}

/// LSOA 2011 code -> its 2021 LSOAs, in code order.
fn targets_by_lsoa11() -> Result<BTreeMap<&'static str, Vec<&'static LsoaChange>>, LakeError> {
    let mut by: BTreeMap<&str, Vec<&LsoaChange>> = BTreeMap::new();
    for c in lsoa_changes()? {
        by.entry(c.lsoa11.as_str()).or_default().push(c);
    }
    Ok(by)
}

/// The best-fit conversion of every LSOA 2011 code of England.
pub fn conversions() -> Result<HashMap<String, Conversion>, LakeError> {
    let mut out = HashMap::new();
    for (lsoa11, ts) in targets_by_lsoa11()? {
        let mut best: Option<(&LsoaChange, i64)> = None;
        for t in &ts {
            let r = residents(&t.lsoa21)?;
            if best.is_none_or(|(_, br)| r > br) {
                best = Some((t, r));
            }
        }
        if let Some((t, _)) = best {
            out.insert(
                lsoa11.to_string(),
                Conversion {
                    lsoa21: t.lsoa21.clone(),
                    change: t.change,
                    targets: ts.len(),
                },
            );
        }
    }
    Ok(out)
}

/// Splits `total` into integer parts proportional to `weights` (largest remainder; ties to the
/// earlier part). Equal parts when every weight is zero. The parts always sum to `total`.
pub fn share_out(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i64 = weights.iter().sum();
    let w: Vec<i64> = if sum > 0 {
        weights.to_vec()
    } else {
        vec![1; weights.len()]
    };
    let sum: i64 = w.iter().sum();
    let mut parts: Vec<i64> = w.iter().map(|x| total * x / sum).collect();
    let mut rest = total - parts.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..w.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse((total * w[i]) % sum));
    for i in order {
        if rest == 0 {
            break;
        }
        parts[i] += 1;
        rest -= 1;
    }
    parts
}

/// Population by LSOA 2021 and single year of age (persons, 90 = 90+) for a mid-year of
/// [`POPULATION_YEARS`](super::england::POPULATION_YEARS), derived from the ONS LSOA 2011 estimates through the lookup: U and M
/// exactly, S and X shared by Census 2021 residents ([`share_out`]). An approximation, named as
/// such in the lake's metadata, until ONS LSOA 2021 single-year estimates are shipped.
pub fn population_2021(
    lsoa21s: &[String],
    year: i32,
) -> Result<BTreeMap<String, [i64; 91]>, LakeError> {
    let k = population_year(year)?;
    let want: std::collections::HashSet<&str> = lsoa21s.iter().map(String::as_str).collect();
    let e11 = england(Vintage::Lsoa2011)?;
    let mut out: BTreeMap<String, [i64; 91]> =
        lsoa21s.iter().map(|c| (c.clone(), [0; 91])).collect();
    for (lsoa11, ts) in targets_by_lsoa11()? {
        if !ts.iter().any(|t| want.contains(t.lsoa21.as_str())) {
            continue;
        }
        let Some(pop) = e11
            .get(lsoa11)
            .and_then(|l: &EnglandLsoa| l.population.as_ref())
        else {
            continue;
        };
        let weights: Vec<i64> = ts
            .iter()
            .map(|t| residents(&t.lsoa21))
            .collect::<Result<_, _>>()?;
        for age in 0..91 {
            for (t, part) in ts.iter().zip(share_out(pop[k][age], &weights)) {
                if let Some(row) = out.get_mut(t.lsoa21.as_str()) {
                    row[age] += part;
                }
            }
        }
    }
    Ok(out)
}

/// The LSOA 2011 whose IMD 2019 an LSOA 2021 carries: its only parent (unchanged or split), or,
/// when several 2011 LSOAs were merged into it (M, X), the parent with the most mid-2019
/// residents (ties: the lower code). Exact for U and S; documented best fit for M and X.
pub fn imd2019_parents(lsoa21s: &[String]) -> Result<BTreeMap<String, String>, LakeError> {
    let want: std::collections::HashSet<&str> = lsoa21s.iter().map(String::as_str).collect();
    let e11 = england(Vintage::Lsoa2011)?;
    let residents_2019 = |code: &str| {
        e11.get(code)
            .and_then(|l| l.population.as_ref())
            .map_or(0, |p| p[0].iter().sum::<i64>())
    };
    let mut best: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for c in lsoa_changes()? {
        if !want.contains(c.lsoa21.as_str()) {
            continue;
        }
        let r = residents_2019(&c.lsoa11);
        let e = best
            .entry(c.lsoa21.clone())
            .or_insert((i64::MIN, String::new()));
        if r > e.0 {
            *e = (r, c.lsoa11.clone());
        }
    }
    Ok(best.into_iter().map(|(k, (_, v))| (k, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lookup_rows(lsoa11: &str) -> Vec<&'static LsoaChange> {
        lsoa_changes()
            .expect("lookup")
            .iter()
            .filter(|c| c.lsoa11 == lsoa11)
            .collect()
    }

    /// The conversion rule against the ONS lookup, on one LSOA of each kind in Hackney.
    #[test]
    fn unchanged_merged_and_split_lsoas_convert_by_the_documented_rule() {
        let conv = conversions().expect("conversions");
        let all = lsoa_changes().expect("lookup");
        for kind in ['U', 'M', 'S'] {
            let row = all
                .iter()
                .find(|c| c.change == kind && c.lsoa11.as_str() >= "E01001700")
                .expect("a row of each kind");
            let c = &conv[&row.lsoa11];
            let rows = lookup_rows(&row.lsoa11);
            assert_eq!(c.change, kind);
            assert_eq!(c.targets, rows.len());
            match kind {
                'U' => assert_eq!(c.lsoa21, row.lsoa11, "unchanged keeps its code"),
                'M' => {
                    assert_eq!(rows.len(), 1, "a merged 2011 LSOA lies in one 2021 LSOA");
                    assert_eq!(c.lsoa21, row.lsoa21);
                    let partners = all.iter().filter(|o| o.lsoa21 == row.lsoa21).count();
                    assert!(partners >= 2, "merged: several 2011 LSOAs, one 2021 LSOA");
                }
                _ => {
                    assert!(rows.len() >= 2, "split into several");
                    let best = rows
                        .iter()
                        .max_by_key(|r| {
                            (
                                residents(&r.lsoa21).expect("residents"),
                                std::cmp::Reverse(r.lsoa21.clone()),
                            )
                        })
                        .expect("rows");
                    assert_eq!(c.lsoa21, best.lsoa21, "best fit by Census 2021 residents");
                    assert!(!c.is_exact());
                }
            }
        }
        assert_eq!(conv.len(), 32_844, "every 2011 LSOA converts");
    }

    #[test]
    fn derived_population_keeps_every_person() {
        // City of London and Hackney, 2021 LSOAs; ONS mid-2019 totals 9,721 + 281,120.
        let e21 = england(Vintage::Lsoa2021).expect("2021");
        let lsoas: Vec<String> = e21
            .lsoas
            .iter()
            .filter(|l| l.lad_code == "E09000001" || l.lad_code == "E09000012")
            .map(|l| l.code.clone())
            .collect();
        assert_eq!(lsoas.len(), 155);
        let pop = population_2021(&lsoas, 2019).expect("population");
        let total: i64 = pop.values().map(|a| a.iter().sum::<i64>()).sum();
        assert_eq!(total, 9_721 + 281_120);
        assert!(population_2021(&lsoas, 2018).is_err());
    }

    #[test]
    fn every_2021_lsoa_carries_an_imd_2019_from_its_parent() {
        let e21 = england(Vintage::Lsoa2021).expect("2021");
        let all: Vec<String> = e21.lsoas.iter().map(|l| l.code.clone()).collect();
        let parents = imd2019_parents(&all).expect("parents");
        assert_eq!(
            parents.len(),
            all.len(),
            "every LSOA 2021 has a 2011 parent"
        );
        let changes = lsoa_changes().expect("lookup");
        for c in changes
            .iter()
            .filter(|c| c.change == 'U' || c.change == 'S')
        {
            assert_eq!(parents[&c.lsoa21], c.lsoa11, "U and S: the only parent");
        }
    }

    proptest! {
        #[test]
        fn shares_sum_to_the_total_and_follow_the_weights(
            total in 0i64..100_000,
            weights in proptest::collection::vec(0i64..5_000, 1..6),
        ) {
            let parts = share_out(total, &weights);
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            let sum: i64 = weights.iter().sum();
            for (p, w) in parts.iter().zip(&weights) {
                prop_assert!(*p >= 0);
                if sum > 0 {
                    let exact = total as f64 * *w as f64 / sum as f64;
                    prop_assert!((*p as f64 - exact).abs() < 1.0 + 1e-9, "{} vs {}", p, exact);
                }
            }
        }
    }
}
