//! Reference tables for a place, built from the real ONS/MHCLG data shipped in
//! `data/reference/` (embedded at compile time): geography (LSOA -> ward -> neighbourhood ->
//! locality -> place), IMD 2019, mid-year population by single year of age and sex, and the
//! European Standard Population 2013.
//!
//! The population tables are persons only; they are split by sex with [`male_share`], a
//! documented ratio by age, until a by-sex table is shipped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use marmot_model::PlaceConfig;

use crate::store::{self, Manifest, TableWriter, table_files};
use crate::{Lake, LakeError};

const GEOGRAPHY: &str = include_str!("../../../data/reference/geography.csv");
const IMD: &str = include_str!("../../../data/reference/imd2019.csv");
const POP2019: &str = include_str!("../../../data/reference/population_mid2019.csv");
const POP2020: &str = include_str!("../../../data/reference/population_mid2020.csv");
const ESP: &str = include_str!("../../../data/reference/esp2013.csv");

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

/// National IMD 2019 rank (1 = most deprived) of every shipped LSOA.
pub fn imd_ranks() -> HashMap<String, i64> {
    csv_rows(IMD)
        .filter_map(|r| Some((r.first()?.to_string(), r.get(1)?.parse().ok()?)))
        .collect()
}

/// One LSOA of the place with its geography.
#[derive(Debug, Clone, PartialEq)]
pub struct LsoaGeo {
    /// LSOA 2011 code.
    pub lsoa: String,
    /// LSOA name.
    pub lsoa_name: String,
    /// Ward (2020) code.
    pub ward_code: String,
    /// Ward name.
    pub ward_name: String,
    /// Neighbourhood name.
    pub neighbourhood: String,
    /// Locality name.
    pub locality: String,
    /// Local authority code.
    pub lad_code: String,
    /// Local authority name.
    pub lad_name: String,
}

/// A place and the text of its neighbourhood CSV (if any).
#[derive(Debug, Clone)]
pub struct PlaceSource {
    /// The configuration.
    pub config: PlaceConfig,
    /// `lsoa11cd,neighbourhood` CSV text.
    pub neighbourhoods_csv: Option<String>,
}

fn csv_rows(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').collect())
}

fn header(text: &str) -> Vec<&str> {
    text.lines().next().unwrap_or("").split(',').collect()
}

/// The place's LSOAs with their geography, from the shipped lookup.
pub fn place_geography(place: &PlaceSource) -> Result<Vec<LsoaGeo>, LakeError> {
    let cfg = &place.config;
    let mut nb: HashMap<String, String> = HashMap::new();
    if let Some(text) = &place.neighbourhoods_csv {
        for (i, r) in csv_rows(text).enumerate() {
            if r.len() != 2 {
                return Err(LakeError::Config(format!(
                    "neighbourhood file of {}: line {} should be lsoa11cd,neighbourhood",
                    cfg.id,
                    i + 2
                )));
            }
            nb.insert(r[0].trim().to_string(), r[1].trim().to_string());
        }
    }
    let mut out = Vec::new();
    // The lookup's ward names may contain commas only inside quotes; the shipped file has none.
    for r in csv_rows(GEOGRAPHY) {
        if r.len() != 6 || !cfg.local_authorities.iter().any(|l| l == r[4]) {
            continue;
        }
        let neighbourhood = match (&place.neighbourhoods_csv, nb.get(r[0])) {
            (None, _) => r[3].to_string(),
            (Some(_), Some(n)) => n.clone(),
            (Some(_), None) => {
                return Err(LakeError::Config(format!(
                    "neighbourhood file of {} does not place LSOA {}",
                    cfg.id, r[0]
                )));
            }
        };
        out.push(LsoaGeo {
            lsoa: r[0].into(),
            lsoa_name: r[1].into(),
            ward_code: r[2].into(),
            ward_name: r[3].into(),
            neighbourhood,
            locality: cfg.locality_of(r[4], r[5]),
            lad_code: r[4].into(),
            lad_name: r[5].into(),
        });
    }
    let found: std::collections::HashSet<&str> = out.iter().map(|g| g.lad_code.as_str()).collect();
    let missing: Vec<&String> = cfg
        .local_authorities
        .iter()
        .filter(|l| !found.contains(l.as_str()))
        .collect();
    if !missing.is_empty() {
        return Err(LakeError::Config(format!(
            "place {}: no shipped reference data for {} (data/reference covers E09000001, E09000012, E07000118, E06000033; run data/reference/extract.py for others)",
            cfg.id,
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(out)
}

/// Population by LSOA, single year of age (90 = 90+) and sex for `year` (2019 or 2020).
pub fn population(
    lsoas: &[String],
    year: i32,
) -> Result<BTreeMap<(String, u32, &'static str), i64>, LakeError> {
    let text = match year {
        2019 => POP2019,
        2020 => POP2020,
        _ => {
            return Err(LakeError::Config(format!(
                "no population estimate shipped for mid-{year} (2019 and 2020 are)"
            )));
        }
    };
    let keep: std::collections::HashSet<&str> = lsoas.iter().map(String::as_str).collect();
    let mut out = BTreeMap::new();
    for r in csv_rows(text) {
        if !keep.contains(r[0]) {
            continue;
        }
        // Columns: lsoa11cd, all_ages, age_0 .. age_89, age_90_plus
        for age in 0..=90u32 {
            let persons: i64 = r
                .get(2 + age as usize)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| {
                    LakeError::Internal(format!("population {year} {}: age {age}", r[0]))
                })?;
            let male = (persons as f64 * male_share(age)).round() as i64;
            out.insert((r[0].to_string(), age, "male"), male);
            out.insert((r[0].to_string(), age, "female"), persons - male);
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
        f("lsoa11cd"),
        f("lsoa11nm"),
        f("ward_code"),
        f("ward_name"),
        f("neighbourhood"),
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
            col(|g| &g.locality),
            col(|g| &g.lad_code),
            col(|g| &g.lad_name),
            strings(geo.iter().map(|_| place.id.clone())),
            strings(geo.iter().map(|_| place.name.clone())),
        ],
    )?)
}

fn imd_batch(lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let keep: std::collections::HashSet<&str> = lsoas.iter().map(String::as_str).collect();
    let head = header(IMD);
    // lsoa11cd, then (rank, decile) for imd and the seven domains, then population denominators.
    let pairs: Vec<(usize, &str)> = head
        .iter()
        .enumerate()
        .filter(|(_, h)| h.ends_with("_rank") || h.ends_with("_decile"))
        .map(|(i, h)| (i, *h))
        .collect();
    let rows: Vec<Vec<&str>> = csv_rows(IMD).filter(|r| keep.contains(r[0])).collect();
    let mut fields = vec![Field::new("lsoa11cd", DataType::Utf8, false)];
    let mut cols: Vec<ArrayRef> = vec![strings(rows.iter().map(|r| r[0].to_string()))];
    for (i, name) in &pairs {
        fields.push(Field::new(*name, DataType::Int32, false));
        let vals: Result<Vec<i32>, _> = rows.iter().map(|r| r[*i].parse::<i32>()).collect();
        cols.push(Arc::new(Int32Array::from(
            vals.map_err(|e| LakeError::Internal(format!("imd {name}: {e}")))?,
        )));
    }
    // National quintile (1 = most deprived 20%), derived from the decile.
    let di = head
        .iter()
        .position(|h| *h == "imd_decile")
        .ok_or_else(|| LakeError::Internal("imd_decile".into()))?;
    fields.push(Field::new("imd_quintile", DataType::Int32, false));
    let q: Vec<i32> = rows
        .iter()
        .map(|r| (r[di].parse::<i32>().unwrap_or(0) + 1) / 2)
        .collect();
    cols.push(Arc::new(Int32Array::from(q)));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn population_batch(lsoas: &[String]) -> Result<RecordBatch, LakeError> {
    let mut l = Vec::new();
    let mut y = Vec::new();
    let mut a = Vec::new();
    let mut s = Vec::new();
    let mut p = Vec::new();
    for year in [2019, 2020] {
        for ((lsoa, age, sex), pop) in population(lsoas, year)? {
            l.push(lsoa);
            y.push(year);
            a.push(age as i32);
            s.push(sex.to_string());
            p.push(pop);
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("lsoa11cd", DataType::Utf8, false),
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

/// Names of the reference tables, as registered for SQL.
pub const REFERENCE_TABLES: [&str; 4] = ["geography", "imd2019", "population", "esp2013"];

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
        return Ok(m);
    }
    let geo = place_geography(place)?;
    let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
    let batches = [
        ("geography", geography_batch(&geo, &place.config)?),
        ("imd2019", imd_batch(&lsoas)?),
        ("population", population_batch(&lsoas)?),
        ("esp2013", esp_batch()?),
    ];
    for (name, batch) in batches {
        write_reference(lake, name, batch, &place.config.id).await?;
    }
    let manifest = Manifest {
        format: store::LAKE_FORMAT,
        place_id: place.config.id.clone(),
        place_name: place.config.name.clone(),
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
    let meta = serde_json::json!({"reference": name, "place_id": place, "source": "data/reference (ONS/MHCLG, OGL v3)"});
    store::commit(&mut table, name, adds, removes, meta, None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(id: &str) -> PlaceSource {
        let (config, csv) = marmot_model::builtin_place(id).expect("shipped");
        PlaceSource {
            config,
            neighbourhoods_csv: csv.map(str::to_string),
        }
    }

    #[test]
    fn city_and_hackney_has_150_lsoas_in_eight_neighbourhoods() {
        let geo = place_geography(&place("city-and-hackney")).expect("geography");
        assert_eq!(geo.len(), 150, "6 City + 144 Hackney LSOAs");
        let nbs: std::collections::BTreeSet<&str> =
            geo.iter().map(|g| g.neighbourhood.as_str()).collect();
        assert_eq!(nbs.len(), 8, "{nbs:?}");
        let localities: std::collections::BTreeSet<&str> =
            geo.iter().map(|g| g.locality.as_str()).collect();
        assert_eq!(
            localities.into_iter().collect::<Vec<_>>(),
            ["City of London", "Hackney"]
        );
    }

    #[test]
    fn another_place_is_configuration_only() {
        let geo = place_geography(&place("chorley")).expect("geography");
        assert_eq!(geo.len(), 66);
        assert!(
            geo.iter().all(|g| g.neighbourhood == g.ward_name),
            "no grouping shipped: ward = neighbourhood"
        );
        let (mut cfg, _) = marmot_model::builtin_place("chorley").expect("shipped");
        cfg.local_authorities = vec!["E08000001".into()];
        let err = place_geography(&PlaceSource {
            config: cfg,
            neighbourhoods_csv: None,
        })
        .expect_err("not shipped");
        assert!(err.to_string().contains("E08000001"), "{err}");
    }

    #[test]
    fn population_matches_the_published_totals_after_the_sex_split() {
        let geo = place_geography(&place("city-and-hackney")).expect("geography");
        let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
        let pop = population(&lsoas, 2019).expect("population");
        let total: i64 = pop.values().sum();
        // ONS mid-2019: City of London 9,721 + Hackney 281,120 (shared/data/SOURCES.md).
        assert_eq!(total, 9_721 + 281_120);
        let males: i64 = pop
            .iter()
            .filter(|((_, _, s), _)| *s == "male")
            .map(|(_, v)| v)
            .sum();
        let share = males as f64 / total as f64;
        assert!((0.47..0.51).contains(&share), "{share}");
    }
}
