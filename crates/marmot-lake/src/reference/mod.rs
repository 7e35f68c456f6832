//! Reference tables for a place, cut from the England-wide ONS/MHCLG data embedded in the
//! binary ([`england`]): geography (LSOA -> ward -> neighbourhood -> locality -> place), the
//! Index of Multiple Deprivation of the lake's geography vintage with its seven domains, mid-year
//! population by single year of age and sex, Census 2021 ethnic group (2021 lakes), the LSOA
//! 2011 -> 2021 lookup, the European Standard Population 2013, the NHS sub-ICB locations the
//! place overlaps ([`nhs`]), and the place's areas of other kinds partner data comes by
//! ([`areas`]: MSOAs 2011, local authority codes old and new).
//!
//! Any set of English local authorities makes a place: nothing here is specific to the shipped
//! places. In a 2021 lake, population is derived from the LSOA 2011 estimates through the ONS
//! lookup ([`change::population_2021`]); the population tables are persons only and are split by
//! sex with [`male_share`], a documented ratio by age, until a by-sex table is shipped.

pub mod areas;
pub mod boundaries;
pub mod change;
pub mod england;
pub mod nhs;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use marmot_model::{DEPRIVATION_DOMAINS, PlaceConfig, Vintage, quintile_of_decile};

use crate::store::{self, Manifest, TableWriter, table_files};
use crate::{Lake, LakeError};
use england::{ETHNIC_GROUPS, EnglandLsoa, england, lsoa_changes};

const ESP: &str = include_str!("../../../../data/reference/esp2013.csv");

/// Share of males among persons of a given single year of age (90 = 90+): an approximation of
/// England's mid-2019 sex ratio by age (ONS MYE2, persons to males), used to split the
/// persons-only LSOA estimates until a by-sex LSOA table is shipped. Documented in data/README.md.
pub fn male_share(age: u32) -> f64 {
    match age {
        0..=14 => 0.512,
        15..=44 => 0.500,
        45..=64 => 0.494,
        65..=74 => 0.475,
        75..=84 => 0.440,
        85..=89 => 0.370,
        _ => 0.280,
    }
}

/// One LSOA of the place with its geography.
#[derive(Debug, Clone, PartialEq)]
pub struct LsoaGeo {
    /// LSOA code (of the lake's vintage).
    pub lsoa: String,
    /// LSOA name.
    pub lsoa_name: String,
    /// Best-fit ward code.
    pub ward_code: String,
    /// Ward name.
    pub ward_name: String,
    /// Neighbourhood name.
    pub neighbourhood: String,
    /// Locality code: the local authority's GSS code when the locality is one authority.
    pub locality_code: String,
    /// Locality name.
    pub locality: String,
    /// Local authority code.
    pub lad_code: String,
    /// Local authority name.
    pub lad_name: String,
    /// National IMD rank (1 = most deprived) of the lake's index (IMD 2025 or IMD 2019).
    pub imd_rank: i64,
    /// Census 2021 usual residents by ethnic group (Asian, Black, Mixed, White, Other); in a 2011
    /// lake, those of the best-fit LSOA 2021.
    pub ethnic: [i64; 5],
}

/// A place, the text of its neighbourhood CSV (if any), and the geography vintage to build it in.
#[derive(Debug, Clone)]
pub struct PlaceSource {
    /// The configuration.
    pub config: PlaceConfig,
    /// `lsoa_code,neighbourhood` CSV text (LSOA codes of either vintage).
    pub neighbourhoods_csv: Option<String>,
    /// The geography vintage.
    pub vintage: Vintage,
}

fn csv_rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').collect())
}

/// LSOA -> neighbourhood from a place's CSV. Codes of the other vintage are translated through
/// the ONS lookup (a 2011 code names every 2021 LSOA it overlaps, and back); a code of the lake's
/// vintage named directly wins over a translated one.
fn neighbourhoods(place: &PlaceSource) -> Result<Option<HashMap<String, String>>, LakeError> {
    let Some(text) = &place.neighbourhoods_csv else {
        return Ok(None);
    };
    let id = &place.config.id;
    let head = text
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if ![
        "lsoa_code,neighbourhood",
        "lsoa11cd,neighbourhood",
        "lsoa21cd,neighbourhood",
    ]
    .contains(&head.as_str())
    {
        return Err(LakeError::Config(format!(
            "neighbourhood file of {id}: the header should be lsoa_code,neighbourhood, not '{head}'"
        )));
    }
    let ours = england(place.vintage)?;
    let mut translate: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in lsoa_changes()? {
        let (from, to) = match place.vintage {
            Vintage::Lsoa2021 => (c.lsoa11.as_str(), c.lsoa21.as_str()),
            Vintage::Lsoa2011 => (c.lsoa21.as_str(), c.lsoa11.as_str()),
        };
        translate.entry(from).or_default().push(to);
    }
    let mut direct = HashMap::new();
    let mut translated: HashMap<String, String> = HashMap::new();
    for (i, r) in csv_rows(text).enumerate() {
        let line = i + 2;
        if r.len() != 2 || r[1].trim().is_empty() {
            return Err(LakeError::Config(format!(
                "neighbourhood file of {id}: line {line} should be lsoa_code,neighbourhood"
            )));
        }
        let (code, nb) = (r[0].trim(), r[1].trim().to_string());
        if ours.get(code).is_some() {
            direct.insert(code.to_string(), nb);
        } else if let Some(to) = translate.get(code) {
            for t in to {
                translated
                    .entry(t.to_string())
                    .or_insert_with(|| nb.clone());
            }
        } else {
            return Err(LakeError::Config(format!(
                "neighbourhood file of {id}: line {line}: '{code}' is not an English LSOA code"
            )));
        }
    }
    translated.extend(direct);
    Ok(Some(translated))
}

/// The place's LSOAs with their geography, in code order.
pub fn place_geography(place: &PlaceSource) -> Result<Vec<LsoaGeo>, LakeError> {
    let cfg = &place.config;
    let e = england(place.vintage)?;
    let nb = neighbourhoods(place)?;
    let e21 = england(Vintage::Lsoa2021)?;
    let conv = match place.vintage {
        Vintage::Lsoa2011 => Some(change::conversions()?),
        Vintage::Lsoa2021 => None,
    };
    let mut out = Vec::new();
    for l in &e.lsoas {
        if !cfg.local_authorities.contains(&l.lad_code) {
            continue;
        }
        let neighbourhood = match &nb {
            None => l.ward_name.clone(),
            Some(m) => m.get(&l.code).cloned().ok_or_else(|| {
                LakeError::Config(format!(
                    "neighbourhood file of {} does not place LSOA {} ({})",
                    cfg.id, l.code, l.name
                ))
            })?,
        };
        let (locality_code, locality) = cfg.locality_of(&l.lad_code, &l.lad_name);
        out.push(LsoaGeo {
            lsoa: l.code.clone(),
            lsoa_name: l.name.clone(),
            ward_code: l.ward_code.clone(),
            ward_name: l.ward_name.clone(),
            neighbourhood,
            locality_code,
            locality,
            lad_code: l.lad_code.clone(),
            lad_name: l.lad_name.clone(),
            imd_rank: i64::from(l.ranks[0]),
            ethnic: match &conv {
                None => l.ethnic,
                Some(c) => c
                    .get(&l.code)
                    .and_then(|c| e21.get(&c.lsoa21))
                    .map_or([0; 5], |x| x.ethnic),
            },
        });
    }
    let found: HashSet<&str> = out.iter().map(|g| g.lad_code.as_str()).collect();
    let missing: Vec<&str> = cfg
        .local_authorities
        .iter()
        .map(String::as_str)
        .filter(|l| !found.contains(l))
        .collect();
    if !missing.is_empty() {
        let other = match place.vintage {
            Vintage::Lsoa2021 => Vintage::Lsoa2011,
            Vintage::Lsoa2011 => Vintage::Lsoa2021,
        };
        let elsewhere: Vec<&str> = {
            let lads = england(other)?.local_authorities();
            missing
                .iter()
                .copied()
                .filter(|m| lads.contains_key(m))
                .collect()
        };
        let hint = if elsewhere.is_empty() {
            "check the code against the ONS register of local authority codes".to_string()
        } else {
            format!(
                "{} is a local authority of the {} geography, replaced since: use the current code, or --geography {}",
                elsewhere.join(", "),
                other.name(),
                other.name()
            )
        };
        return Err(LakeError::Config(format!(
            "place {}: {} is not an English local authority of the {} geography ({}): {hint}",
            cfg.id,
            missing.join(", "),
            place.vintage.name(),
            place.vintage.describe()
        )));
    }
    Ok(out)
}

/// Population by LSOA, single year of age (90 = 90+) and sex for `year` (2019 or 2020), in the
/// lake's vintage: ONS estimates for LSOA 2011, derived through the lookup for LSOA 2021.
pub fn population(
    vintage: Vintage,
    lsoas: &[String],
    year: i32,
) -> Result<BTreeMap<(String, u32, &'static str), i64>, LakeError> {
    let persons: BTreeMap<String, [i64; 91]> = match vintage {
        Vintage::Lsoa2021 => change::population_2021(lsoas, year)?,
        Vintage::Lsoa2011 => {
            let k = england::population_year(year)?;
            let e = england(vintage)?;
            lsoas
                .iter()
                .filter_map(|c| {
                    let p = e.get(c)?.population.as_ref()?;
                    Some((c.clone(), p[k]))
                })
                .collect()
        }
    };
    let mut out = BTreeMap::new();
    for (lsoa, ages) in persons {
        for (age, &n) in ages.iter().enumerate() {
            let male = (n as f64 * male_share(age as u32)).round() as i64;
            out.insert((lsoa.clone(), age as u32, "male"), male);
            out.insert((lsoa.clone(), age as u32, "female"), n - male);
        }
    }
    Ok(out)
}

fn strings(v: impl IntoIterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

fn geography_batch(geo: &[LsoaGeo], place: &PlaceConfig) -> Result<RecordBatch, LakeError> {
    let f = |n: &str| Field::new(n, DataType::Utf8, false);
    let schema = Arc::new(Schema::new(vec![
        f("lsoa_code"),
        f("lsoa_name"),
        f("ward_code"),
        f("ward_name"),
        f("neighbourhood"),
        f("locality_code"),
        f("locality"),
        f("lad_code"),
        f("lad_name"),
        f("place_id"),
        f("place_name"),
    ]));
    let col = |g: fn(&LsoaGeo) -> &String| strings(geo.iter().map(|x| g(x).clone()));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            col(|g| &g.lsoa),
            col(|g| &g.lsoa_name),
            col(|g| &g.ward_code),
            col(|g| &g.ward_name),
            col(|g| &g.neighbourhood),
            col(|g| &g.locality_code),
            col(|g| &g.locality),
            col(|g| &g.lad_code),
            col(|g| &g.lad_name),
            strings(geo.iter().map(|_| place.id.clone())),
            strings(geo.iter().map(|_| place.name.clone())),
        ],
    )?)
}

/// The sub-ICB locations (April 2024) that overlap the place, with how much of each the place
/// is (Census 2021 usual residents): the lookup from data published by sub-ICB to the place.
fn sub_icb_batch(local_authorities: &[String]) -> Result<RecordBatch, LakeError> {
    let rows = nhs::overlapping(local_authorities)?;
    let f = |n: &str, t: DataType| Field::new(n, t, false);
    let schema = Arc::new(Schema::new(vec![
        f("sub_icb_code", DataType::Utf8),
        f("sub_icb_nhs_code", DataType::Utf8),
        f("sub_icb_name", DataType::Utf8),
        f("icb_code", DataType::Utf8),
        f("icb_nhs_code", DataType::Utf8),
        f("icb_name", DataType::Utf8),
        f("residents", DataType::Int64),
        f("residents_in_place", DataType::Int64),
        f("place_residents", DataType::Int64),
        f("coterminous", DataType::Boolean),
    ]));
    let col = |g: fn(&nhs::SubIcb) -> &String| strings(rows.iter().map(|o| g(o.sub_icb).clone()));
    let int = |g: fn(&nhs::SubIcbOverlap) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(g)))
    };
    Ok(RecordBatch::try_new(
        schema,
        vec![
            col(|s| &s.code),
            col(|s| &s.nhs_code),
            col(|s| &s.name),
            col(|s| &s.icb_code),
            col(|s| &s.icb_nhs_code),
            col(|s| &s.icb_name),
            int(|o| o.residents),
            int(|o| o.residents_in_place),
            int(|o| o.place_residents),
            Arc::new(arrow::array::BooleanArray::from_iter(
                rows.iter().map(|o| Some(o.coterminous())),
            )),
        ],
    )?)
}

fn lsoa_rows(vintage: Vintage, lsoas: &[String]) -> Result<Vec<&'static EnglandLsoa>, LakeError> {
    let e = england(vintage)?;
    lsoas
        .iter()
        .map(|c| {
            e.get(c)
                .ok_or_else(|| LakeError::Internal(format!("LSOA {c} missing from the reference")))
        })
        .collect()
}

/// A deprivation index for the lake's LSOAs: rank, published decile and quintile
/// (`ceil(decile / 2)`) of the IMD and each of its seven domains, 1 = most deprived. `rows` pairs
/// each lake LSOA code with the LSOA of the index's own geography whose values it carries.
fn imd_batch(rows: &[(String, &EnglandLsoa)]) -> Result<RecordBatch, LakeError> {
    let mut fields = vec![Field::new("lsoa_code", DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![strings(rows.iter().map(|r| r.0.clone()))];
    for (k, d) in DEPRIVATION_DOMAINS.iter().enumerate() {
        let (rank, dec): (Vec<i32>, Vec<i32>) =
            rows.iter().map(|r| (r.1.ranks[k], r.1.deciles[k])).unzip();
        let quin: Vec<i32> = dec
            .iter()
            .map(|&d| quintile_of_decile(i64::from(d)) as i32)
            .collect();
        for (suffix, vals) in [("rank", rank), ("decile", dec), ("quintile", quin)] {
            fields.push(Field::new(format!("{d}_{suffix}"), DataType::Int32, false));
            cols.push(Arc::new(Int32Array::from(vals)));
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

/// The lake's own index (IMD 2025 in a 2021 lake, IMD 2019 in a 2011 lake).
fn own_imd(vintage: Vintage, lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let rows = lsoa_rows(vintage, lsoas)?;
    imd_batch(
        &lsoas
            .iter()
            .cloned()
            .zip(rows)
            .collect::<Vec<(String, &EnglandLsoa)>>(),
    )
}

/// IMD 2019 for the LSOAs 2021 of a 2021 lake, from each one's LSOA 2011 parent
/// ([`change::imd2019_parents`]).
fn imd2019_for_2021(lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let parents = change::imd2019_parents(lsoas)?;
    let e11 = england(Vintage::Lsoa2011)?;
    let rows = lsoas
        .iter()
        .map(|c| {
            parents
                .get(c)
                .and_then(|p| e11.get(p))
                .map(|l| (c.clone(), l))
                .ok_or_else(|| LakeError::Internal(format!("LSOA {c} has no 2011 parent")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    imd_batch(&rows)
}

/// Census 2021 usual residents by high-level ethnic group (TS021) for each LSOA 2021.
fn ethnicity_batch(lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let rows = lsoa_rows(Vintage::Lsoa2021, lsoas)?;
    let (mut l, mut g, mut n) = (Vec::new(), Vec::new(), Vec::new());
    for r in rows {
        for (k, group) in ETHNIC_GROUPS.iter().enumerate() {
            l.push(r.code.clone());
            g.push(group.to_string());
            n.push(r.ethnic[k]);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("lsoa_code", DataType::Utf8, false),
        Field::new("ethnic_group", DataType::Utf8, false),
        Field::new("residents", DataType::Int64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![strings(l), strings(g), Arc::new(Int64Array::from(n))],
    )?)
}

/// The rows of the ONS LSOA 2011 -> 2021 lookup that touch the place, with the best-fit
/// conversion a 2011 code gets on ingest ([`change::conversions`]).
fn lookup_batch(vintage: Vintage, lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let ours: HashSet<&str> = lsoas.iter().map(String::as_str).collect();
    let conv = change::conversions()?;
    let (mut a, mut b, mut c, mut best) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for r in lsoa_changes()? {
        let key = match vintage {
            Vintage::Lsoa2021 => r.lsoa21.as_str(),
            Vintage::Lsoa2011 => r.lsoa11.as_str(),
        };
        if !ours.contains(key) {
            continue;
        }
        a.push(r.lsoa11.clone());
        b.push(r.lsoa21.clone());
        c.push(r.change.to_string());
        best.push(conv.get(&r.lsoa11).is_some_and(|x| x.lsoa21 == r.lsoa21));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("lsoa11_code", DataType::Utf8, false),
        Field::new("lsoa21_code", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
        Field::new("best_fit", DataType::Boolean, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            strings(a),
            strings(b),
            strings(c),
            Arc::new(arrow::array::BooleanArray::from(best)),
        ],
    )?)
}

fn population_batch(vintage: Vintage, lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let mut l = Vec::new();
    let mut y = Vec::new();
    let mut a = Vec::new();
    let mut s = Vec::new();
    let mut p = Vec::new();
    for year in [2019, 2020] {
        for ((lsoa, age, sex), pop) in population(vintage, lsoas, year)? {
            l.push(lsoa);
            y.push(year);
            a.push(age as i32);
            s.push(sex.to_string());
            p.push(pop);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("lsoa_code", DataType::Utf8, false),
        Field::new("year", DataType::Int32, false),
        Field::new("age", DataType::Int32, false),
        Field::new("sex", DataType::Utf8, false),
        Field::new("population", DataType::Int64, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            strings(l),
            Arc::new(Int32Array::from(y)),
            Arc::new(Int32Array::from(a)),
            strings(s),
            Arc::new(Int64Array::from(p)),
        ],
    )?)
}

fn esp_batch() -> Result<RecordBatch, LakeError> {
    let rows: Vec<Vec<&str>> = csv_rows(ESP).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("age_band", DataType::Utf8, false),
        Field::new("age_lower", DataType::Int32, false),
        Field::new("age_upper", DataType::Int32, true),
        Field::new("weight", DataType::Int64, false),
    ]));
    let int = |v: &str| v.trim().parse::<i64>().ok();
    Ok(RecordBatch::try_new(
        schema,
        vec![
            strings(rows.iter().map(|r| r[0].to_string())),
            Arc::new(Int32Array::from_iter(
                rows.iter().map(|r| int(r[1]).map(|v| v as i32)),
            )),
            Arc::new(Int32Array::from_iter(
                rows.iter().map(|r| int(r[2]).map(|v| v as i32)),
            )),
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| int(r[3])))),
        ],
    )?)
}

/// Names of the reference tables a lake may hold, as registered for SQL (a lake has the
/// deprivation table of its vintage, and `ethnicity` in a 2021 lake).
pub const REFERENCE_TABLES: [&str; 8] = [
    "geography",
    "imd2025",
    "imd2019",
    "population",
    "ethnicity",
    "lsoa11_lsoa21",
    "esp2013",
    "sub_icb",
];

/// Where a reference table comes from, as recorded in its Delta commit.
fn source_of(name: &str, vintage: Vintage) -> &'static str {
    match (name, vintage) {
        ("geography", Vintage::Lsoa2021) => {
            "ONS LSOA (2021) to Electoral Ward (2024) to LAD (2024) best-fit lookup (OGL v3)"
        }
        ("geography", Vintage::Lsoa2011) => {
            "ONS LSOA (2011) to Ward (December 2020) to LAD (2020) best-fit lookup (OGL v3)"
        }
        ("imd2025", _) => "MHCLG English Indices of Deprivation 2025, File 7 (OGL v3)",
        ("imd2019", Vintage::Lsoa2011) => {
            "MHCLG English Indices of Deprivation 2019, File 2 (OGL v3)"
        }
        ("imd2019", Vintage::Lsoa2021) => {
            "MHCLG English Indices of Deprivation 2019, File 2 (OGL v3), carried to LSOA 2021 from each LSOA's 2011 parent (merged LSOAs: the parent with the most mid-2019 residents)"
        }
        ("population", Vintage::Lsoa2021) => {
            "APPROXIMATION: ONS mid-2019/mid-2020 LSOA 2011 estimates by single year of age, carried to LSOA 2021 through the ONS lookup (split LSOAs shared by Census 2021 residents), persons split by sex with a fixed ratio (OGL v3)"
        }
        ("population", Vintage::Lsoa2011) => {
            "ONS mid-2019/mid-2020 LSOA 2011 estimates by single year of age (SAPE22DT2, SAPE23DT2), persons split by sex with a fixed ratio (OGL v3)"
        }
        ("ethnicity", _) => "ONS Census 2021 TS021 ethnic group, all usual residents (OGL v3)",
        ("lsoa11_lsoa21", _) => "ONS LSOA (2011) to LSOA (2021) to LAD (2022) lookup v2 (OGL v3)",
        ("sub_icb", _) => {
            "ONS LSOA (2021) to Sub ICB Location to ICB (April 2024) lookup, with Census 2021 usual residents (OGL v3)"
        }
        _ => "Eurostat European Standard Population 2013",
    }
}

/// Writes (or rewrites) the reference tables for `place`, then the manifest. Idempotent: an
/// interrupted init is completed by running it again.
pub async fn init_lake(lake: &Lake, place: &PlaceSource) -> Result<Manifest, LakeError> {
    if let Some(m) = lake.manifest().await? {
        if m.place_id != place.config.id {
            return Err(LakeError::Lake(format!(
                "the lake at {} is for place '{}', not '{}': use another --lake",
                lake.url(),
                m.place_id,
                place.config.id
            )));
        }
        if m.geography != place.vintage {
            return Err(LakeError::Lake(format!(
                "the lake at {} holds {} geography, not {}: use another --lake",
                lake.url(),
                m.geography.name(),
                place.vintage.name()
            )));
        }
        return Ok(m);
    }
    let vintage = place.vintage;
    let geo = place_geography(place)?;
    let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
    let mut batches = vec![
        ("geography", geography_batch(&geo, &place.config)?),
        (vintage.deprivation_table(), own_imd(vintage, &lsoas)?),
        ("population", population_batch(vintage, &lsoas)?),
        ("lsoa11_lsoa21", lookup_batch(vintage, &lsoas)?),
        ("esp2013", esp_batch()?),
        ("sub_icb", sub_icb_batch(&place.config.local_authorities)?),
    ];
    if vintage == Vintage::Lsoa2021 {
        batches.push(("imd2019", imd2019_for_2021(&lsoas)?));
        batches.push(("ethnicity", ethnicity_batch(&lsoas)?));
    }
    for (name, batch) in batches {
        write_reference(
            lake,
            name,
            batch,
            &place.config.id,
            source_of(name, vintage),
        )
        .await?;
    }
    boundaries::write_shipped(lake, vintage, &geo).await?;
    let manifest = Manifest {
        format: store::LAKE_FORMAT,
        place_id: place.config.id.clone(),
        place_name: place.config.name.clone(),
        geography: vintage,
        local_authorities: place.config.local_authorities.clone(),
        lsoas,
        created_at: chrono::Utc::now().to_rfc3339(),
        created_by: format!("marmot {}", env!("CARGO_PKG_VERSION")),
    };
    lake.put_json(store::MANIFEST_PATH, &manifest).await?;
    Ok(manifest)
}

async fn write_reference(
    lake: &Lake,
    name: &str,
    batch: RecordBatch,
    place: &str,
    source: &str,
) -> Result<(), LakeError> {
    let rel = format!("reference/{name}");
    let mut table = lake
        .open_or_create_table(&rel, name, &batch.schema())
        .await?;
    let removes = table_files(&table, name)?
        .into_iter()
        .map(|f| f.remove)
        .collect();
    let mut w = TableWriter::new(
        lake.table_store(&rel),
        batch.schema(),
        &format!("ref-{}", crate::ingest::new_ingest_id()),
    );
    w.write(&batch).await?;
    let (adds, _) = w.finish().await?;
    let meta = serde_json::json!({"reference": name, "place_id": place, "source": source});
    store::commit(&mut table, name, adds, removes, meta, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str, vintage: Vintage) -> PlaceSource {
        let (config, csv) = marmot_model::builtin_place(id).expect("shipped");
        PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
            vintage,
        }
    }

    #[test]
    fn city_and_hackney_is_eight_neighbourhoods_in_either_geography() {
        for (vintage, n) in [(Vintage::Lsoa2021, 155), (Vintage::Lsoa2011, 150)] {
            let geo = place_geography(&place("city-and-hackney", vintage)).expect("geography");
            assert_eq!(
                geo.len(),
                n,
                "6 City + 149 (2021) or 144 (2011) Hackney LSOAs"
            );
            let nbs: std::collections::BTreeSet<&str> =
                geo.iter().map(|g| g.neighbourhood.as_str()).collect();
            assert_eq!(nbs.len(), 8, "{nbs:?}");
            let localities: std::collections::BTreeSet<(&str, &str)> = geo
                .iter()
                .map(|g| (g.locality_code.as_str(), g.locality.as_str()))
                .collect();
            assert_eq!(
                localities.into_iter().collect::<Vec<_>>(),
                [("E09000001", "City of London"), ("E09000012", "Hackney")],
                "a locality of one authority answers to its GSS code"
            );
        }
    }

    #[test]
    fn any_english_authority_is_a_place_from_its_code_alone() {
        let coventry = PlaceSource {
            config: PlaceConfig::from_lads("coventry", "Coventry", &["E08000026".into()])
                .expect("place"),
            neighbourhoods_csv: None,
            vintage: Vintage::Lsoa2021,
        };
        let geo = place_geography(&coventry).expect("geography");
        assert_eq!(geo.len(), 203, "Coventry's LSOAs 2021 (ONS lookup)");
        assert!(geo.iter().all(|g| g.neighbourhood == g.ward_name));
        let cm = place_geography(&place("cheshire-and-merseyside", Vintage::Lsoa2021))
            .expect("geography");
        let lads: std::collections::BTreeSet<&str> =
            cm.iter().map(|g| g.lad_code.as_str()).collect();
        assert_eq!(lads.len(), 9);
        assert_eq!(cm.len(), 1_601);
        let mut cfg = coventry.config.clone();
        cfg.local_authorities = vec!["E06000028".into()]; // Bournemouth, abolished 2019
        let err = place_geography(&PlaceSource {
            config: cfg,
            neighbourhoods_csv: None,
            vintage: Vintage::Lsoa2021,
        })
        .expect_err("not a 2024 authority");
        assert!(err.to_string().contains("E06000028"), "{err}");
    }

    #[test]
    fn population_matches_the_published_totals_after_the_sex_split() {
        for vintage in Vintage::ALL {
            let geo = place_geography(&place("city-and-hackney", vintage)).expect("geography");
            let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
            let pop = population(vintage, &lsoas, 2019).expect("population");
            let total: i64 = pop.values().sum();
            // ONS mid-2019: City of London 9,721 + Hackney 281,120 (shared/data/SOURCES.md).
            assert_eq!(total, 9_721 + 281_120, "{vintage:?}");
            let males: i64 = pop
                .iter()
                .filter(|((_, _, s), _)| *s == "male")
                .map(|(_, v)| v)
                .sum();
            let share = males as f64 / total as f64;
            assert!((0.47..0.51).contains(&share), "{share}");
        }
    }

    #[test]
    fn imd_quintiles_and_deciles_are_the_published_ones() {
        for (id, _, _) in marmot_model::BUILTIN_PLACES {
            published_deciles_of(id);
        }
    }

    /// Every LSOA of a shipped place: Marmot's decile and quintile of the IMD 2025 and each
    /// domain against MHCLG's published decile (File 7).
    fn published_deciles_of(id: &str) {
        let geo = place_geography(&place(id, Vintage::Lsoa2021)).expect("geography");
        let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
        assert!(!lsoas.is_empty(), "{id}");
        let batch = own_imd(Vintage::Lsoa2021, &lsoas).expect("imd");
        let int = |n: &str| {
            batch
                .column_by_name(n)
                .and_then(|c| c.as_any().downcast_ref::<Int32Array>())
                .expect(n)
                .clone()
        };
        let e = england(Vintage::Lsoa2021).expect("england");
        for (k, d) in DEPRIVATION_DOMAINS.iter().enumerate() {
            let (dec, quin) = (int(&format!("{d}_decile")), int(&format!("{d}_quintile")));
            for (i, code) in lsoas.iter().enumerate() {
                let published = e.get(code).expect("lsoa").deciles[k];
                assert_eq!(dec.value(i), published, "{code} {d}");
                assert_eq!(quin.value(i), (published + 1) / 2, "{code} {d}");
            }
        }
    }
}
