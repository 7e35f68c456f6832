//! England-wide reference data, embedded at compile time as zstd Parquet
//! (`data/reference/england/`, built by `data/reference/build.py`; sources in data/README.md)
//! and decoded once, on first use:
//!
//! - `lsoa2021.parquet`: every LSOA 2021 with its best-fit ward 2024 and local authority 2024,
//!   IMD 2025 ranks and deciles (the index and its seven domains), Census 2021 usual residents
//!   and Census 2021 ethnic group (TS021, five high-level groups);
//! - `lsoa2011.parquet`: every LSOA 2011 with its best-fit ward (December 2020) and local
//!   authority 2020, IMD 2019 ranks and deciles, and ONS mid-2019 and mid-2020 population
//!   estimates by single year of age (persons, 90 = 90 and over);
//! - `lsoa2011_lsoa2021.parquet`: the ONS LSOA 2011 -> LSOA 2021 lookup with its change
//!   indicator (U unchanged, S split, M merged, X irregular).

use std::collections::HashMap;
use std::sync::OnceLock;

use arrow::array::{Array, Int32Array, RecordBatch, StringArray};
use marmot_model::{DEPRIVATION_DOMAINS, Vintage};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::LakeError;

const LSOA2021: &[u8] = include_bytes!("../../../../data/reference/england/lsoa2021.parquet");
const LSOA2011: &[u8] = include_bytes!("../../../../data/reference/england/lsoa2011.parquet");
const LOOKUP: &[u8] =
    include_bytes!("../../../../data/reference/england/lsoa2011_lsoa2021.parquet");

/// Mid-year population estimates shipped for LSOA 2011 (ONS SAPE22DT2, SAPE23DT2).
pub const POPULATION_YEARS: [i32; 2] = [2019, 2020];

/// The index of a mid-year in [`POPULATION_YEARS`], or a configuration error naming the years
/// that are shipped.
pub fn population_year(year: i32) -> Result<usize, LakeError> {
    POPULATION_YEARS
        .iter()
        .position(|&y| y == year)
        .ok_or_else(|| {
            LakeError::Config(format!(
                "no population estimate shipped for mid-{year} (2019 and 2020 are)"
            ))
        })
}

/// Census 2021 high-level ethnic groups (TS021), in the order ONS publishes them.
pub const ETHNIC_GROUPS: [&str; 5] = ["Asian", "Black", "Mixed", "White", "Other"];

/// One LSOA of England with its geography and deprivation.
#[derive(Debug, Clone, PartialEq)]
pub struct EnglandLsoa {
    /// LSOA code (of the table's vintage).
    pub code: String,
    /// LSOA name.
    pub name: String,
    /// Best-fit ward code and name.
    pub ward_code: String,
    /// Ward name.
    pub ward_name: String,
    /// Local authority code.
    pub lad_code: String,
    /// Local authority name.
    pub lad_name: String,
    /// National rank (1 = most deprived) of the IMD and its seven domains, in
    /// [`DEPRIVATION_DOMAINS`] order.
    pub ranks: [i32; 8],
    /// Published national deciles (1 = most deprived), same order.
    pub deciles: [i32; 8],
    /// 2021 vintage: Census 2021 usual residents. 2011 vintage: 0.
    pub census2021_residents: i64,
    /// 2021 vintage: Census 2021 usual residents by ethnic group ([`ETHNIC_GROUPS`] order).
    pub ethnic: [i64; 5],
    /// 2011 vintage: persons by single year of age (0..=90), for each of [`POPULATION_YEARS`].
    pub population: Option<Box<[[i64; 91]; 2]>>,
}

/// All LSOAs of a vintage, in code order, with an index by code.
#[derive(Debug)]
pub struct England {
    /// The vintage.
    pub vintage: Vintage,
    /// Every LSOA, sorted by code.
    pub lsoas: Vec<EnglandLsoa>,
    index: HashMap<String, usize>,
}

impl England {
    /// The LSOA with this code, if it is one of this vintage.
    pub fn get(&self, code: &str) -> Option<&EnglandLsoa> {
        self.index.get(code).map(|&i| &self.lsoas[i])
    }

    /// Local authorities of this vintage: code -> name.
    pub fn local_authorities(&self) -> std::collections::BTreeMap<&str, &str> {
        self.lsoas
            .iter()
            .map(|l| (l.lad_code.as_str(), l.lad_name.as_str()))
            .collect()
    }
}

/// One row of the ONS LSOA 2011 -> 2021 lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct LsoaChange {
    /// LSOA 2011 code.
    pub lsoa11: String,
    /// LSOA 2021 code.
    pub lsoa21: String,
    /// ONS change indicator: `U` unchanged, `S` split, `M` merged, `X` irregular.
    pub change: char,
}

pub(super) fn batches(what: &str, bytes: &'static [u8]) -> Result<Vec<RecordBatch>, LakeError> {
    let fail = |e: String| LakeError::Internal(format!("embedded reference {what}: {e}"));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from_static(bytes))
        .map_err(|e| fail(e.to_string()))?
        .with_batch_size(8192)
        .build()
        .map_err(|e| fail(e.to_string()))?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))
}

pub(super) fn column<'a, T: 'static>(
    b: &'a RecordBatch,
    what: &str,
    name: &str,
) -> Result<&'a T, LakeError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| LakeError::Internal(format!("embedded reference {what}: column {name}")))
}

fn int(a: &Int32Array, r: usize) -> i32 {
    if a.is_null(r) { 0 } else { a.value(r) }
}

fn decode(vintage: Vintage) -> Result<England, LakeError> {
    let (what, bytes) = match vintage {
        Vintage::Lsoa2021 => ("lsoa2021", LSOA2021),
        Vintage::Lsoa2011 => ("lsoa2011", LSOA2011),
    };
    let mut lsoas = Vec::new();
    for b in batches(what, bytes)? {
        let s = |n: &str| column::<StringArray>(&b, what, n);
        let i = |n: String| column::<Int32Array>(&b, what, &n);
        let (code, name, wc, wn, lc, ln) = (
            s("lsoa_code")?,
            s("lsoa_name")?,
            s("ward_code")?,
            s("ward_name")?,
            s("lad_code")?,
            s("lad_name")?,
        );
        let ranks: Vec<&Int32Array> = DEPRIVATION_DOMAINS
            .iter()
            .map(|d| i(format!("{d}_rank")))
            .collect::<Result<_, _>>()?;
        let deciles: Vec<&Int32Array> = DEPRIVATION_DOMAINS
            .iter()
            .map(|d| i(format!("{d}_decile")))
            .collect::<Result<_, _>>()?;
        let (census, ethnic, pop) = match vintage {
            Vintage::Lsoa2021 => (
                Some(i("census2021_residents".into())?),
                ETHNIC_GROUPS
                    .iter()
                    .map(|g| i(format!("ethnic_{}", g.to_lowercase())))
                    .collect::<Result<Vec<_>, _>>()?,
                Vec::new(),
            ),
            Vintage::Lsoa2011 => (
                None,
                Vec::new(),
                POPULATION_YEARS
                    .iter()
                    .flat_map(|y| (0..=90).map(move |a| format!("pop{y}_{a}")))
                    .map(i)
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        for r in 0..b.num_rows() {
            let mut population = None;
            if !pop.is_empty() {
                let mut p = Box::new([[0i64; 91]; 2]);
                for (k, a) in pop.iter().enumerate() {
                    p[k / 91][k % 91] = i64::from(int(a, r));
                }
                population = Some(p);
            }
            lsoas.push(EnglandLsoa {
                code: code.value(r).to_string(),
                name: name.value(r).to_string(),
                ward_code: wc.value(r).to_string(),
                ward_name: wn.value(r).to_string(),
                lad_code: lc.value(r).to_string(),
                lad_name: ln.value(r).to_string(),
                ranks: std::array::from_fn(|k| int(ranks[k], r)),
                deciles: std::array::from_fn(|k| int(deciles[k], r)),
                census2021_residents: census.map_or(0, |c| i64::from(int(c, r))),
                ethnic: std::array::from_fn(|k| ethnic.get(k).map_or(0, |e| i64::from(int(e, r)))),
                population,
            });
        }
    }
    let index = lsoas
        .iter()
        .enumerate()
        .map(|(i, l)| (l.code.clone(), i))
        .collect();
    Ok(England {
        vintage,
        lsoas,
        index,
    })
}

/// England's LSOAs of a vintage (decoded on first use, then shared).
pub fn england(vintage: Vintage) -> Result<&'static England, LakeError> {
    static E2011: OnceLock<Result<England, String>> = OnceLock::new();
    static E2021: OnceLock<Result<England, String>> = OnceLock::new();
    let cell = match vintage {
        Vintage::Lsoa2011 => &E2011,
        Vintage::Lsoa2021 => &E2021,
    };
    cell.get_or_init(|| decode(vintage).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| LakeError::Internal(e.clone()))
}

/// The ONS LSOA 2011 -> LSOA 2021 lookup (decoded on first use).
pub fn lsoa_changes() -> Result<&'static [LsoaChange], LakeError> {
    static LOOK: OnceLock<Result<Vec<LsoaChange>, String>> = OnceLock::new();
    LOOK.get_or_init(|| {
        let what = "lsoa2011_lsoa2021";
        let mut out = Vec::new();
        for b in batches(what, LOOKUP).map_err(|e| e.to_string())? {
            let s = |n: &str| column::<StringArray>(&b, what, n).map_err(|e| e.to_string());
            let (a, c, k) = (s("lsoa11_code")?, s("lsoa21_code")?, s("change")?);
            for r in 0..b.num_rows() {
                out.push(LsoaChange {
                    lsoa11: a.value(r).to_string(),
                    lsoa21: c.value(r).to_string(),
                    change: k.value(r).chars().next().unwrap_or('?'),
                });
            }
        }
        Ok(out)
    })
    .as_ref()
    .map(Vec::as_slice)
    .map_err(|e| LakeError::Internal(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use marmot_model::{decile_of_rank, quintile_of_decile};

    #[test]
    fn every_lsoa_of_england_is_there_once() {
        let e21 = england(Vintage::Lsoa2021).expect("2021");
        assert_eq!(e21.lsoas.len(), 33_755);
        assert_eq!(e21.local_authorities().len(), 296, "LAD 2024");
        let e11 = england(Vintage::Lsoa2011).expect("2011");
        assert_eq!(e11.lsoas.len(), 32_844);
        let changes = lsoa_changes().expect("lookup");
        assert_eq!(changes.len(), 33_855);
        for (k, n) in [('U', 31_810), ('S', 1_842), ('M', 194), ('X', 9)] {
            assert_eq!(changes.iter().filter(|c| c.change == k).count(), n, "{k}");
        }
    }

    /// MHCLG publishes the decile; Marmot's rule (decile = ceil(rank x 10 / 33,755)) must give
    /// the published decile for every LSOA of England, for the IMD and each domain.
    #[test]
    fn the_decile_rule_gives_the_published_decile_everywhere() {
        for vintage in Vintage::ALL {
            let e = england(vintage).expect("england");
            let n = vintage.lsoas_in_england();
            for l in &e.lsoas {
                for (k, domain) in DEPRIVATION_DOMAINS.iter().enumerate() {
                    assert_eq!(
                        decile_of_rank(i64::from(l.ranks[k]), n),
                        i64::from(l.deciles[k]),
                        "{} {} {domain}",
                        vintage.name(),
                        l.code,
                    );
                }
            }
            let q1 = e
                .lsoas
                .iter()
                .filter(|l| quintile_of_decile(i64::from(l.deciles[0])) == 1)
                .count();
            assert!(q1.abs_diff(e.lsoas.len() / 5) <= 1, "{q1}");
        }
    }

    #[test]
    fn census_totals_are_the_published_ones() {
        let e = england(Vintage::Lsoa2021).expect("2021");
        let residents: i64 = e.lsoas.iter().map(|l| l.census2021_residents).sum();
        assert_eq!(
            residents, 56_489_608,
            "Census 2021 usual residents (data/README.md)"
        );
        let ethnic: i64 = e.lsoas.iter().map(|l| l.ethnic.iter().sum::<i64>()).sum();
        assert_eq!(ethnic, 56_490_108, "TS021, all usual residents");
    }
}
