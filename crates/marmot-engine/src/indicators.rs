//! Indicator values: an indicator's numerator SQL run by DataFusion, rolled up from LSOAs to
//! the requested level, divided by its denominator, standardised where the measure asks, with
//! 95% and 99.8% confidence intervals, a comparison with the parent area (Fingertips method),
//! breakdowns by deprivation, sex or age, and the data version it came from.
//!
//! ```text
//! numerator SQL ──DataFusion──> cells: LSOA x bucket (week or month, or the whole period) x age x sex
//!                                 │
//! reference (geography, IMD, population, ESP2013) ─┤  (loaded once per engine)
//!                                 v
//!            per period: area (level) x breakdown category ──> marmot-stats ──> rows
//! ```
//! Statistics (named in each row's `method`): crude rates with exact Poisson (fewer than 10
//! events) or Byar's limits; directly standardised rates with ESP2013 and Dobson limits, not
//! published below 10 events; proportions with Wilson score limits; counts with exact/Byar's
//! limits. Comparison: an area is "Higher"/"Lower" than its benchmark when the benchmark lies
//! outside its 95% interval (and the same at 99.8% in `comparison_99_8`), else "Similar";
//! translated into Better/Worse by the indicator's polarity.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use marmot_model::{
    Breakdown, DenominatorKind, ETHNIC_GROUP_CATEGORIES, IndicatorDef, Level, Measure, Period,
    PeriodKind, Polarity, parse_age_band,
};
use marmot_stats::{
    BenchmarkComparison, DsrBand, DsrResult, DualInterval, PoissonRule, compare_with_benchmark,
    crude_rate_by, dsr, judge, proportion,
};

use crate::{Engine, EngineError};

/// ESP2013 band index (0-18) of a single year of age.
fn esp_band(age: u32) -> usize {
    (age as usize / 5).min(18)
}

/// One LSOA of the place with everything the engine groups by.
#[derive(Debug, Clone)]
pub struct LsoaRef {
    /// LSOA code.
    pub code: String,
    /// LSOA name.
    pub name: String,
    /// Ward code and name.
    pub ward: (String, String),
    /// Neighbourhood.
    pub neighbourhood: String,
    /// Locality (code, name): a locality of one local authority answers to its GSS code.
    pub locality: (String, String),
    /// National IMD rank (1 = most deprived) of the lake's index (IMD 2025, or IMD 2019 in a
    /// 2011 lake).
    pub imd_rank: i32,
    /// National IMD decile.
    pub imd_decile: i32,
    /// National IMD quintile.
    pub imd_quintile: i32,
    /// Local population-weighted quintile (1 = most deprived fifth of the place's population).
    pub local_imd_quintile: i32,
    /// National quintile of each of the seven domains, in `DEPRIVATION_DOMAINS` order from
    /// income (index 1; index 0 repeats the IMD quintile).
    pub domain_quintiles: [i32; 8],
    /// National IMD 2019 quintile (the same as `imd_quintile` in a 2011 lake).
    pub imd2019_quintile: i32,
}

impl LsoaRef {
    /// The LSOA's quantile (1 = most deprived) in a deprivation breakdown; 0 for any other.
    pub fn quantile(&self, by: Breakdown) -> i32 {
        match by {
            Breakdown::ImdQuintile => self.imd_quintile,
            Breakdown::ImdDecile => self.imd_decile,
            Breakdown::LocalImdQuintile => self.local_imd_quintile,
            Breakdown::DomainQuintile(d) => self
                .domain_quintiles
                .get(usize::from(d))
                .copied()
                .unwrap_or(0),
            Breakdown::Imd2019Quintile => self.imd2019_quintile,
            Breakdown::Sex | Breakdown::AgeBand | Breakdown::EthnicGroup => 0,
        }
    }
}

/// Reference data held in memory (small: a place has a few hundred LSOAs).
#[derive(Debug, Clone)]
pub struct Reference {
    /// The place's LSOAs.
    pub lsoas: Vec<LsoaRef>,
    index: HashMap<String, usize>,
    /// Population: (lsoa index, year) -> [sex 0 male / 1 female][age 0..=90].
    pop: HashMap<(usize, i32), [[f64; 91]; 2]>,
    /// ESP2013 weights by band (from the lake's `esp2013` table).
    pub esp: [f64; 19],
    /// Census 2021 usual residents by ethnic group (`ETHNIC_GROUP_CATEGORIES` order, without
    /// "Not stated"), per LSOA index; zeros when the lake has no `ethnicity` table.
    pub ethnic: Vec<[f64; 5]>,
    /// Mid-year population estimates available, ascending.
    years: Vec<i32>,
    /// Place name.
    pub place: String,
    /// Published indicator values (Fingertips), for England benchmarks and to show beside
    /// Marmot's own.
    pub published: crate::published::Published,
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T, EngineError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| {
            EngineError::Execution(format!(
                "reference column {name} missing or of an unexpected type"
            ))
        })
}

impl Reference {
    /// Loads geography, IMD, population and ESP2013 from the engine's tables.
    pub async fn load(engine: &Engine) -> Result<Reference, EngineError> {
        let table = engine.geography().deprivation_table();
        let domains = marmot_model::DEPRIVATION_DOMAINS
            .iter()
            .map(|d| format!("CAST(i.{d}_quintile AS INT) AS q_{d}"))
            .collect::<Vec<_>>()
            .join(", ");
        // IMD 2019 alongside IMD 2025 in a 2021 lake; the lake's own index in a 2011 lake.
        let (q2019, join2019) = if table == "imd2019" {
            ("CAST(i.imd_quintile AS INT)", String::new())
        } else {
            (
                "CAST(o.imd_quintile AS INT)",
                "LEFT JOIN imd2019 o USING (lsoa_code)".to_string(),
            )
        };
        let geo = engine.sql(&format!(
            "SELECT g.lsoa_code, g.lsoa_name, g.ward_code, g.ward_name, g.neighbourhood, g.locality_code, g.locality, g.place_name, \
             CAST(i.imd_rank AS INT) AS imd_rank, CAST(i.imd_decile AS INT) AS imd_decile, CAST(i.imd_quintile AS INT) AS imd_quintile, \
             {domains}, {q2019} AS imd2019_quintile \
             FROM geography g JOIN {table} i USING (lsoa_code) {join2019} ORDER BY g.lsoa_code"
        ))
        .await?;
        let mut lsoas = Vec::new();
        let mut place = String::new();
        for b in &geo {
            let s = |n: &str| col::<StringArray>(b, n);
            let i = |n: &str| col::<Int32Array>(b, n);
            let (code, name, wc, wn, nb, lc, loc, pl) = (
                s("lsoa_code")?,
                s("lsoa_name")?,
                s("ward_code")?,
                s("ward_name")?,
                s("neighbourhood")?,
                s("locality_code")?,
                s("locality")?,
                s("place_name")?,
            );
            let (rank, dec, quin) = (i("imd_rank")?, i("imd_decile")?, i("imd_quintile")?);
            let q2019 = i("imd2019_quintile")?;
            let dq: Vec<&Int32Array> = marmot_model::DEPRIVATION_DOMAINS
                .iter()
                .map(|d| i(&format!("q_{d}")))
                .collect::<Result<_, _>>()?;
            for r in 0..b.num_rows() {
                place = pl.value(r).to_string();
                lsoas.push(LsoaRef {
                    code: code.value(r).into(),
                    name: name.value(r).into(),
                    ward: (wc.value(r).into(), wn.value(r).into()),
                    neighbourhood: nb.value(r).into(),
                    locality: (lc.value(r).into(), loc.value(r).into()),
                    imd_rank: rank.value(r),
                    imd_decile: dec.value(r),
                    imd_quintile: quin.value(r),
                    local_imd_quintile: 0,
                    domain_quintiles: std::array::from_fn(|k| dq[k].value(r)),
                    imd2019_quintile: if q2019.is_null(r) { 0 } else { q2019.value(r) },
                });
            }
        }
        let index: HashMap<String, usize> = lsoas
            .iter()
            .enumerate()
            .map(|(i, l)| (l.code.clone(), i))
            .collect();
        let mut pop: HashMap<(usize, i32), [[f64; 91]; 2]> = HashMap::new();
        for b in engine.sql( "SELECT lsoa_code, CAST(year AS INT) AS year, CAST(age AS INT) AS age, sex, CAST(population AS DOUBLE) AS population FROM population").await? {
            let (l, y, a, s, p) = (col::<StringArray>(&b, "lsoa_code")?, col::<Int32Array>(&b, "year")?, col::<Int32Array>(&b, "age")?, col::<StringArray>(&b, "sex")?, col::<Float64Array>(&b, "population")?);
            for r in 0..b.num_rows() {
                let Some(&li) = index.get(l.value(r)) else { continue };
                let sex = usize::from(s.value(r) != "male");
                let age = (a.value(r).clamp(0, 90)) as usize;
                pop.entry((li, y.value(r))).or_insert([[0.0; 91]; 2])[sex][age] += p.value(r);
            }
        }
        let mut esp = [0.0; 19];
        for b in engine
            .sql("SELECT CAST(age_lower AS INT) AS lo, CAST(weight AS DOUBLE) AS w FROM esp2013")
            .await?
        {
            let (lo, w) = (col::<Int32Array>(&b, "lo")?, col::<Float64Array>(&b, "w")?);
            for r in 0..b.num_rows() {
                esp[esp_band(lo.value(r).max(0) as u32)] = w.value(r);
            }
        }
        let mut ethnic = vec![[0.0; 5]; lsoas.len()];
        if engine.tables().iter().any(|t| t.name == "ethnicity") {
            for b in engine
                .sql(
                    "SELECT lsoa_code, ethnic_group, CAST(residents AS DOUBLE) AS n FROM ethnicity",
                )
                .await?
            {
                let (l, g, n) = (
                    col::<StringArray>(&b, "lsoa_code")?,
                    col::<StringArray>(&b, "ethnic_group")?,
                    col::<Float64Array>(&b, "n")?,
                );
                for r in 0..b.num_rows() {
                    let (Some(&li), Some(gi)) = (
                        index.get(l.value(r)),
                        ETHNIC_GROUP_CATEGORIES[..5]
                            .iter()
                            .position(|c| *c == g.value(r)),
                    ) else {
                        continue;
                    };
                    ethnic[li][gi] += n.value(r);
                }
            }
        }
        let mut years: Vec<i32> = pop.keys().map(|k| k.1).collect();
        years.sort();
        years.dedup();
        let published = crate::published::Published::load(engine).await?;
        let mut reference = Reference {
            lsoas,
            index,
            pop,
            esp,
            ethnic,
            years,
            place,
            published,
        };
        reference.assign_local_quintiles();
        Ok(reference)
    }

    /// The value the place is compared with for `period`: England's published value for the
    /// period when the indicator names its Fingertips counterpart and the lake has it, else
    /// the indicator's own `england_value`.
    pub fn england_benchmark(&self, ind: &IndicatorDef, period: &str) -> Option<f64> {
        ind.fingertips
            .as_ref()
            .and_then(|l| self.published.england(l, period))
            .or(ind.england_value)
    }

    /// Local quintiles: LSOAs ordered by national IMD rank (most deprived first) and cut into
    /// population-weighted fifths at the midpoint of each LSOA's cumulative population share.
    fn assign_local_quintiles(&mut self) {
        let persons: Vec<f64> = (0..self.lsoas.len())
            .map(|i| self.population(i, 2019, 0, 90, None))
            .collect();
        let total: f64 = persons.iter().sum();
        let mut order: Vec<usize> = (0..self.lsoas.len()).collect();
        order.sort_by_key(|&i| (self.lsoas[i].imd_rank, self.lsoas[i].code.clone()));
        let mut cum = 0.0;
        for i in order {
            let mid = (cum + persons[i] / 2.0) / total.max(1.0);
            cum += persons[i];
            self.lsoas[i].local_imd_quintile = ((mid * 5.0).floor() as i32 + 1).clamp(1, 5);
        }
    }

    /// Population of an LSOA in a mid-year, ages `lo..=hi` (90 = 90+), one sex (0/1) or both.
    pub fn population(&self, lsoa: usize, year: i32, lo: u32, hi: u32, sex: Option<usize>) -> f64 {
        let Some(p) = self.pop.get(&(lsoa, year)) else {
            return 0.0;
        };
        let sexes: &[usize] = match sex {
            Some(0) => &[0],
            Some(_) => &[1],
            None => &[0, 1],
        };
        sexes
            .iter()
            .map(|&s| {
                (lo.min(90)..=hi.min(90))
                    .map(|a| p[s][a as usize])
                    .sum::<f64>()
            })
            .sum()
    }

    /// The mid-year estimate used for a period: the year of its midpoint, within the years shipped.
    pub fn year_for(&self, period: &Period) -> i32 {
        let mid = period.start + chrono::Days::new((period.days() / 2) as u64);
        let want = mid.year();
        self.years
            .iter()
            .copied()
            .min_by_key(|y| (y - want).abs())
            .unwrap_or(want)
    }

    /// The index of an LSOA of the place in [`Reference::lsoas`] (None: not in the place).
    pub fn lsoa_index(&self, code: &str) -> Option<usize> {
        self.index.get(code).copied()
    }

    /// The area (code, name) of an LSOA at a level.
    pub fn area(&self, lsoa: usize, level: Level) -> (String, String) {
        let l = &self.lsoas[lsoa];
        match level {
            Level::Lsoa => (l.code.clone(), l.name.clone()),
            Level::Ward => l.ward.clone(),
            Level::Neighbourhood => (l.neighbourhood.clone(), l.neighbourhood.clone()),
            Level::Locality => l.locality.clone(),
            Level::Place => (self.place.clone(), self.place.clone()),
            // LSOA data does not roll up to NHS areas (values() refuses the request).
            Level::SubIcb => (String::new(), String::new()),
        }
    }
}

/// The parent level an area is compared with.
pub fn parent_level(level: Level) -> Option<Level> {
    match level {
        Level::Lsoa => Some(Level::Ward),
        Level::Ward => Some(Level::Locality),
        Level::Neighbourhood | Level::Locality => Some(Level::Place),
        Level::Place | Level::SubIcb => None,
    }
}

/// One aggregated numerator cell, kept small (32 bytes): over 100 million rows an indicator
/// has millions of them. Absent attributes are [`NONE`].
#[derive(Debug, Clone)]
struct Cell {
    /// Index of the LSOA in [`Reference::lsoas`].
    lsoa: u32,
    /// Age in years (0-120), or the first year of the age segment the numerator SQL grouped it
    /// in ([`age_segments`]: every age of a segment is treated alike).
    age: u8,
    /// 0 male, 1 female.
    sex: u8,
    /// Index in `ETHNIC_GROUP_CATEGORIES` (5 = not stated) when the SQL gives `ethnic_group`.
    ethnic: u8,
    /// Index in [`Cells::bands`] when the SQL gives `age_band`, else [`NO_BAND`].
    band: u16,
    num: f64,
    den: f64,
}

/// An attribute a cell does not have.
const NONE: u8 = u8::MAX;
/// A cell without an `age_band` of its own.
const NO_BAND: u16 = u16::MAX;

impl Cell {
    fn lsoa(&self) -> usize {
        self.lsoa as usize
    }

    fn age(&self) -> Option<u32> {
        (self.age != NONE).then_some(u32::from(self.age))
    }

    fn sex(&self) -> Option<usize> {
        (self.sex != NONE).then_some(usize::from(self.sex))
    }

    fn ethnic(&self) -> Option<usize> {
        (self.ethnic != NONE).then_some(usize::from(self.ethnic))
    }
}

/// The first years of the age segments an indicator's arithmetic cannot tell apart inside:
/// every boundary of the ESP2013 five-year bands, of the indicator's age bands and of its
/// denominator's ages. Grouping the numerator SQL by segment instead of single year gives the
/// same values exactly (each age is only ever used through its ESP band, its age-band category
/// and the denominator's age range, all constant over a segment) with about five times fewer
/// cells.
fn age_segments(ind: &IndicatorDef) -> Vec<u32> {
    // The first year of each ESP2013 band, as `esp_band` draws them.
    let mut b: Vec<u32> = (0..=120)
        .filter(|a| *a == 0 || esp_band(*a) != esp_band(a - 1))
        .collect();
    for band in &ind.age_bands {
        if let Some((lo, hi)) = parse_age_band(band) {
            b.push(lo);
            // The top band (ending at 90) is open; any other ends at hi.
            if hi < 90 {
                b.push(hi + 1);
            }
        }
    }
    if let Some(a) = ind.denominator.age_min {
        b.push(a);
    }
    if let Some(a) = ind.denominator.age_max {
        b.push(a.saturating_add(1));
    }
    b.retain(|a| *a <= 120);
    b.sort_unstable();
    b.dedup();
    b
}

/// The age band among `cats` that holds age `a`; the top band (ending at 90) is open: it takes
/// every older age too.
fn age_category(cats: &[String], a: u32) -> Option<usize> {
    cats.iter()
        .position(|b| parse_age_band(b).is_some_and(|(lo, hi)| a >= lo && (a <= hi || hi == 90)))
}

/// SQL mapping an integer age to the first year of its segment (negative ages and NULL kept),
/// as an INT.
fn age_segment_sql(age: &str, segments: &[u32]) -> String {
    let mut sql = String::from("CAST(CASE");
    for lo in segments.iter().rev() {
        sql.push_str(&format!(" WHEN {age} >= {lo} THEN {lo}"));
    }
    sql.push_str(&format!(" ELSE {age} END AS INT)"));
    sql
}

/// What the numerator SQL provides.
#[derive(Debug, Clone, Copy, Default)]
struct Provided {
    age: bool,
    sex: bool,
    age_band: bool,
    ethnic_group: bool,
    denominator: bool,
}

async fn provided(engine: &Engine, ind: &IndicatorDef) -> Result<Provided, EngineError> {
    let df = engine
        .context()
        .sql(&ind.sql)
        .await
        .map_err(|e| EngineError::Query(format!("indicator {}: {e}", ind.id)))?;
    let schema = df.schema();
    let has = |n: &str| schema.fields().iter().any(|f| f.name() == n);
    for need in ["lsoa_code", "event_date", "numerator"] {
        if !has(need) {
            return Err(EngineError::Query(format!(
                "indicator {}: its SQL must return a column named {need}",
                ind.id
            )));
        }
    }
    Ok(Provided {
        age: has("age"),
        sex: has("sex"),
        age_band: has("age_band"),
        ethnic_group: has("ethnic_group"),
        denominator: has("denominator"),
    })
}

/// Bucket of the numerator query: by week, by month, or one bucket for the whole range.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bucket {
    Week,
    Month,
    Whole,
}

/// Numerator cells by bucket, and the distinct `age_band` labels they refer to.
#[derive(Default)]
struct Fetched {
    by_bucket: BTreeMap<NaiveDate, Vec<Cell>>,
    bands: Vec<String>,
    band_index: HashMap<String, u16>,
}

async fn fetch(
    engine: &Engine,
    ind: &IndicatorDef,
    from: NaiveDate,
    to: NaiveDate,
    bucket: Bucket,
    reference: &Reference,
) -> Result<(Fetched, Provided), EngineError> {
    let p = provided(engine, ind).await?;
    // Sex, ethnic group and the SQL's own age bands serve only their breakdowns: an indicator
    // that does not offer one is not grouped by it (fewer groups, the same values).
    let p = Provided {
        sex: p.sex && ind.offers(Breakdown::Sex),
        ethnic_group: p.ethnic_group && ind.offers(Breakdown::EthnicGroup),
        age_band: p.age_band && ind.offers(Breakdown::AgeBand),
        ..p
    };
    let age_sql = age_segment_sql("CAST(age AS INT)", &age_segments(ind));
    let bucket_expr = match bucket {
        Bucket::Week => {
            "CAST(date_trunc('week', CAST(event_date AS TIMESTAMP)) AS DATE)".to_string()
        }
        Bucket::Month => {
            "CAST(date_trunc('month', CAST(event_date AS TIMESTAMP)) AS DATE)".to_string()
        }
        Bucket::Whole => format!("DATE '{from}'"),
    };
    // Project, group by the columns the SQL provides, then add the absent ones as typed NULLs.
    // Absent columns stay out of the GROUP BY: a constant NULL string key made DataFusion's
    // grouping about three times slower (55.2: its emitting time went from microseconds to
    // seconds over 1.7 million groups; measured on the cube bench's lake).
    let optional = [
        ("age", p.age, age_sql.as_str(), "INT"),
        ("sex", p.sex, "CAST(sex AS VARCHAR)", "VARCHAR"),
        (
            "age_band",
            p.age_band,
            "CAST(age_band AS VARCHAR)",
            "VARCHAR",
        ),
        (
            "ethnic_group",
            p.ethnic_group,
            "CAST(ethnic_group AS VARCHAR)",
            "VARCHAR",
        ),
    ];
    let mut inner_cols = String::new();
    let mut keys = String::new();
    let mut outer_cols = String::new();
    for (name, has, expr, ty) in optional {
        if has {
            inner_cols.push_str(&format!("{expr} AS {name}, "));
            keys.push_str(&format!(", {name}"));
            outer_cols.push_str(&format!("{name}, "));
        } else {
            outer_cols.push_str(&format!("CAST(NULL AS {ty}) AS {name}, "));
        }
    }
    let sql = format!(
        "SELECT lsoa_code, bucket, {outer_cols}num, den FROM ( \
           SELECT lsoa_code, bucket{keys}, SUM(num) AS num, SUM(den) AS den FROM ( \
             SELECT lsoa_code, {bucket_expr} AS bucket, {inner_cols}\
                    CAST(numerator AS DOUBLE) AS num, {den} AS den \
             FROM ({inner}) AS s WHERE event_date >= DATE '{from}' AND event_date <= DATE '{to}') AS t \
           GROUP BY lsoa_code, bucket{keys}) AS g",
        den = if p.denominator {
            "CAST(denominator AS DOUBLE)"
        } else {
            "CAST(0 AS DOUBLE)"
        },
        inner = ind.sql,
    );
    // Folded batch by batch: the grouped result is never held whole beside its cells.
    let fetched = engine
        .sql_fold(&sql, Fetched::default, |f, b| {
            add_cells(f, &b, reference, p)
        })
        .await
        .map_err(|e| match e {
            EngineError::Query(m) => EngineError::Query(format!("indicator {}: {m}", ind.id)),
            other => other,
        })?;
    Ok((fetched, p))
}

/// Adds one batch of the numerator query's groups to the cells.
fn add_cells(
    f: &mut Fetched,
    b: &RecordBatch,
    reference: &Reference,
    p: Provided,
) -> Result<(), EngineError> {
    let l = col::<StringArray>(b, "lsoa_code")?;
    let bk = b
        .column_by_name("bucket")
        .and_then(|c| c.as_any().downcast_ref::<arrow::array::Date32Array>())
        .ok_or_else(|| EngineError::Execution("bucket".into()))?;
    let age = col::<Int32Array>(b, "age")?;
    let sex = col::<StringArray>(b, "sex")?;
    let band = col::<StringArray>(b, "age_band")?;
    let eth = col::<StringArray>(b, "ethnic_group")?;
    let num = col::<Float64Array>(b, "num")?;
    let den = col::<Float64Array>(b, "den")?;
    for r in 0..b.num_rows() {
        // Rows outside the place's geography cannot be attributed to an area.
        let Some(&lsoa) = reference.index.get(l.value(r)) else {
            continue;
        };
        let Some(bucket) = bk.value_as_date(r) else {
            continue;
        };
        let band = if band.is_valid(r) {
            let label = band.value(r);
            match f.band_index.get(label) {
                Some(i) => *i,
                None => {
                    let i = u16::try_from(f.bands.len())
                        .ok()
                        .filter(|i| *i < NO_BAND)
                        .ok_or_else(|| {
                            EngineError::Query(format!(
                                "more than {NO_BAND} distinct age_band values: age_band is \
                                 for a few labelled bands (e.g. 0-17, 18-64, 65+)"
                            ))
                        })?;
                    f.bands.push(label.to_string());
                    f.band_index.insert(label.to_string(), i);
                    i
                }
            }
        } else {
            NO_BAND
        };
        let cell = Cell {
            lsoa: u32::try_from(lsoa)
                .map_err(|_| EngineError::Execution("more LSOAs than u32 holds".into()))?,
            age: if age.is_valid(r) {
                age.value(r).clamp(0, 120) as u8
            } else {
                NONE
            },
            sex: if sex.is_valid(r) {
                match sex.value(r) {
                    "male" => 0,
                    "female" => 1,
                    _ => NONE,
                }
            } else {
                NONE
            },
            // Any value outside the five Census groups counts as not stated.
            ethnic: if p.ethnic_group {
                let v = if eth.is_valid(r) { eth.value(r) } else { "" };
                ETHNIC_GROUP_CATEGORIES[..5]
                    .iter()
                    .position(|c| *c == v)
                    .unwrap_or(5) as u8
            } else {
                NONE
            },
            band,
            num: if num.is_valid(r) { num.value(r) } else { 0.0 },
            den: if den.is_valid(r) { den.value(r) } else { 0.0 },
        };
        f.by_bucket.entry(bucket).or_default().push(cell);
    }
    Ok(())
}

/// A request for indicator values.
#[derive(Debug, Clone)]
pub struct ValuesRequest {
    /// Geography level.
    pub level: Level,
    /// Periods (each computed separately).
    pub periods: Vec<Period>,
    /// Optional breakdown.
    pub by: Option<Breakdown>,
}

/// One computed value.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueRow {
    /// Indicator id.
    pub indicator_id: String,
    /// Level name.
    pub level: &'static str,
    /// Area code.
    pub area_code: String,
    /// Area name.
    pub area_name: String,
    /// Period label.
    pub period: String,
    /// Breakdown category (empty without a breakdown).
    pub category: String,
    /// Value (None when the method publishes none).
    pub value: Option<f64>,
    /// 95% interval.
    pub ci95: Option<(f64, f64)>,
    /// 99.8% interval.
    pub ci99_8: Option<(f64, f64)>,
    /// Numerator.
    pub numerator: f64,
    /// Denominator (population, or the dataset's denominator).
    pub denominator: f64,
    /// Method and statistic.
    pub method: String,
    /// Benchmark value compared with.
    pub benchmark: Option<f64>,
    /// Comparison with the benchmark at 95%.
    pub comparison: BenchmarkComparison,
    /// Comparison at 99.8%.
    pub comparison_99_8: BenchmarkComparison,
    /// Better / Similar / Worse by polarity (95%).
    pub judgement: String,
    /// Numerator between 1 and the disclosure threshold minus one.
    pub suppressed: bool,
}

/// Accumulated numerators and population of one area x category (internal).
#[derive(Debug, Clone, Default)]
pub struct Acc {
    num_by_band: [f64; 19],
    pop_by_band: [f64; 19],
    num: f64,
    den: f64,
}

fn stats_polarity(p: Polarity) -> marmot_stats::Polarity {
    match p {
        Polarity::HigherIsBetter => marmot_stats::Polarity::HigherIsBetter,
        Polarity::LowerIsBetter => marmot_stats::Polarity::LowerIsBetter,
        Polarity::NoJudgement => marmot_stats::Polarity::NoJudgement,
    }
}

/// The Poisson rule of an indicator's rates and counts (`poisson_limits` in its file).
fn poisson_rule(ind: &IndicatorDef) -> PoissonRule {
    match ind.poisson_limits {
        marmot_model::PoissonLimits::Phe => PoissonRule::Phe,
        marmot_model::PoissonLimits::Fingertips => PoissonRule::Fingertips,
    }
}

/// The value, intervals and method label of one accumulator.
/// Whether a rate is given crude although the indicator is age-standardised, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Crude {
    /// As defined.
    No,
    /// Within one age band (standardising within a band means nothing).
    WithinAgeBand,
    /// By ethnic group: Census 2021 residents by ethnic group have no age detail here, and no
    /// age x ethnic group standard is shipped, so neither a DSR nor an ISR can be made.
    EthnicGroup,
}

/// The value, intervals, method label and denominator of a bare numerator and denominator
/// (indicators over data published for areas other than LSOAs: no age, no standardisation).
pub(crate) fn measure_totals(
    ind: &IndicatorDef,
    num: f64,
    den: f64,
) -> (Option<f64>, Option<DualInterval>, String, f64) {
    let acc = Acc {
        num,
        den,
        ..Acc::default()
    };
    measure(ind, &acc, &[0.0; 19], Crude::No)
}

fn measure(
    ind: &IndicatorDef,
    acc: &Acc,
    esp: &[f64; 19],
    crude: Crude,
) -> (Option<f64>, Option<DualInterval>, String, f64) {
    let dual = |d: marmot_stats::Result<DualInterval>| d.ok();
    match ind.measure {
        Measure::Proportion => match proportion(acc.num, acc.den, ind.multiplier) {
            Ok(p) => (
                Some(p.value),
                dual(p.dual_ci()),
                format!("{}; {}", p.statistic_label(), p.method_label()),
                acc.den,
            ),
            Err(_) => (None, None, "proportion: no denominator".into(), acc.den),
        },
        Measure::Dsr if crude == Crude::No => {
            let bands: Vec<DsrBand> = (0..19)
                .map(|b| DsrBand {
                    count: Some(acc.num_by_band[b]),
                    population: acc.pop_by_band[b],
                    standard_population: esp[b],
                })
                .collect();
            let pop: f64 = acc.pop_by_band.iter().sum();
            if acc.pop_by_band.iter().any(|p| *p <= 0.0) {
                return (None, None, "dsr: an age band has no population".into(), pop);
            }
            match dsr(&bands, ind.multiplier) {
                Ok(DsrResult::Published(e)) => (
                    Some(e.value),
                    dual(e.dual_ci()),
                    format!("{}; {}", e.statistic_label(), e.method.label()),
                    pop,
                ),
                Ok(r) => (None, None, r.statistic_label(), pop),
                Err(e) => (None, None, format!("dsr: {e}"), pop),
            }
        }
        Measure::CrudeRate | Measure::Dsr => {
            let pop: f64 = acc.pop_by_band.iter().sum();
            match crude_rate_by(acc.num, pop, ind.multiplier, poisson_rule(ind)) {
                Ok(r) => {
                    let label = match (crude, ind.measure) {
                        (Crude::WithinAgeBand, Measure::Dsr) => " (crude within the age band)",
                        (Crude::EthnicGroup, Measure::Dsr) => {
                            " (crude, not age-standardised: Census 2021 usual residents of the ethnic group, all ages, as denominator; no age x ethnic group standard is available)"
                        }
                        (Crude::EthnicGroup, _) => {
                            " (Census 2021 usual residents of the ethnic group, all ages, as denominator)"
                        }
                        _ => "",
                    };
                    (
                        Some(r.value),
                        dual(r.dual_ci()),
                        format!("{}; {}{label}", r.statistic_label(), r.method.label()),
                        pop,
                    )
                }
                Err(_) => (None, None, "crude rate: no population".into(), pop),
            }
        }
        Measure::Count => {
            let ci = DualInterval::try_from_fn(|l| {
                marmot_stats::ci::poisson_count_interval_by(acc.num, l, poisson_rule(ind))
                    .map(|(i, _)| i)
            })
            .ok();
            (
                Some(acc.num),
                ci,
                format!("count; {}", poisson_rule(ind).method_for(acc.num).label()),
                acc.den,
            )
        }
    }
}

/// The categories a breakdown has (for denominators), with the LSOA / sex / age filter of each.
pub fn categories(ind: &IndicatorDef, by: Option<Breakdown>) -> Vec<String> {
    match by {
        None => vec![String::new()],
        Some(Breakdown::Sex) => vec!["male".into(), "female".into()],
        Some(Breakdown::AgeBand) => ind.age_bands.clone(),
        Some(Breakdown::EthnicGroup) => ETHNIC_GROUP_CATEGORIES
            .iter()
            .map(|c| c.to_string())
            .collect(),
        Some(b) => (1..=b.quantiles().unwrap_or(5))
            .map(|q| q.to_string())
            .collect(),
    }
}

/// Numerator cells of one indicator over a date range, indexed by bucket start.
#[derive(Debug, Clone)]
pub struct Cells {
    by_bucket: BTreeMap<NaiveDate, Vec<Cell>>,
    /// The `age_band` labels cells refer to.
    bands: Vec<String>,
    provided: Provided,
    bucket: Bucket,
    from: NaiveDate,
    to: NaiveDate,
}

impl Cells {
    fn in_period(&self, p: &Period) -> impl Iterator<Item = &Cell> {
        self.by_bucket
            .range(p.start..=p.end)
            .flat_map(|(_, v)| v.iter())
    }

    /// First and last bucket holding data.
    pub fn span(&self) -> Option<(NaiveDate, NaiveDate)> {
        Some((
            *self.by_bucket.first_key_value()?.0,
            *self.by_bucket.last_key_value()?.0,
        ))
    }

    /// Whether these cells can answer a period exactly (its bounds align with the buckets).
    fn answers(&self, p: &Period) -> bool {
        p.start >= self.from
            && p.end <= self.to
            && match self.bucket {
                Bucket::Whole => p.start == self.from && p.end == self.to,
                Bucket::Week => p.kind == PeriodKind::Week,
                Bucket::Month => p.kind != PeriodKind::Week,
            }
    }
}

/// Fetches the numerator cells that `periods` need: one bucket for a single period, weekly
/// buckets for weeks, monthly buckets for month-based periods (months, quarters, financial
/// years, rolling 12 months). One DataFusion query.
pub async fn fetch_cells(
    engine: &Engine,
    reference: &Reference,
    ind: &IndicatorDef,
    periods: &[Period],
) -> Result<Cells, EngineError> {
    // Monthly data has no weeks: each month's events would all fall in its first week.
    if periods.iter().any(|p| p.kind == PeriodKind::Week)
        && engine
            .contract(&ind.source)
            .is_ok_and(|c| c.precision == marmot_model::Precision::Month)
    {
        return Err(EngineError::Query(format!(
            "indicator {} reads {}, which is dated by month (precision = \"month\" in its \
             contract): weekly periods would put each month's events in its first week; ask \
             for months, quarters, financial years or rolling 12 months",
            ind.id, ind.source
        )));
    }
    let from = periods.iter().map(|p| p.start).min().unwrap_or_default();
    let to = periods.iter().map(|p| p.end).max().unwrap_or_default();
    let bucket = if periods.len() == 1 {
        Bucket::Whole
    } else if periods.iter().all(|p| p.kind == PeriodKind::Week) {
        Bucket::Week
    } else if periods.iter().all(|p| p.kind != PeriodKind::Week) {
        Bucket::Month
    } else {
        return Err(EngineError::Query(
            "the periods of one request must be all weeks or all month-based".into(),
        ));
    };
    let (fetched, provided) = fetch(engine, ind, from, to, bucket, reference).await?;
    Ok(Cells {
        by_bucket: fetched.by_bucket,
        bands: fetched.bands,
        provided,
        bucket,
        from,
        to,
    })
}

/// Computes values of one indicator (one query, then arithmetic). Errors when the breakdown is
/// not offered.
pub async fn values(
    engine: &Engine,
    reference: &Reference,
    ind: &IndicatorDef,
    req: &ValuesRequest,
) -> Result<Vec<ValueRow>, EngineError> {
    check_breakdown(ind, req.by)?;
    if req.periods.is_empty() {
        return Ok(Vec::new());
    }
    if crate::area::is_area_indicator(engine, ind) {
        return crate::area::values(engine, ind, req).await;
    }
    if let Some(why) = crate::area::level_problem(engine, ind, req.level) {
        return Err(EngineError::Query(why));
    }
    let cells = fetch_cells(engine, reference, ind, &req.periods).await?;
    let mut cache = Templates::default();
    values_from_cells(reference, ind, &cells, req, &mut cache)
}

fn check_breakdown(ind: &IndicatorDef, by: Option<Breakdown>) -> Result<(), EngineError> {
    match by {
        Some(b) if !ind.offers(b) => Err(EngineError::Query(format!(
            "indicator {} has no breakdown '{}' (it offers: {})",
            ind.id,
            b.name(),
            if ind.breakdowns.is_empty() {
                "none".into()
            } else {
                ind.breakdowns
                    .iter()
                    .map(|b| b.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))),
        _ => Ok(()),
    }
}

/// Where each LSOA and cell goes for one (level, breakdown): areas sorted by code, the area of
/// each LSOA, and the category of each age — so the hot loop indexes vectors instead of
/// comparing strings.
struct Layout {
    areas: Vec<(String, String)>,
    lsoa_area: Vec<usize>,
    cats: Vec<String>,
    age_cat: Vec<Option<usize>>,
}

impl Layout {
    fn new(
        reference: &Reference,
        ind: &IndicatorDef,
        level: Level,
        by: Option<Breakdown>,
    ) -> Layout {
        let mut areas: Vec<(String, String)> = (0..reference.lsoas.len())
            .map(|i| reference.area(i, level))
            .collect();
        areas.sort();
        areas.dedup_by(|a, b| a.0 == b.0);
        let lsoa_area = (0..reference.lsoas.len())
            .map(|i| {
                let code = reference.area(i, level).0;
                areas.binary_search_by(|a| a.0.cmp(&code)).unwrap_or(0)
            })
            .collect();
        let cats = categories(ind, by);
        let age_cat = (0..=120u32).map(|a| age_category(&cats, a)).collect();
        Layout {
            areas,
            lsoa_area,
            cats,
            age_cat,
        }
    }

    /// The category index of a cell, or None when it has no such attribute.
    /// `band_cat`: the category of each of the cells' `age_band` labels.
    fn category(
        &self,
        by: Option<Breakdown>,
        c: &Cell,
        r: &Reference,
        band_cat: &[Option<usize>],
    ) -> Option<usize> {
        let l = &r.lsoas[c.lsoa()];
        let k = |q: i32| usize::try_from(q - 1).ok();
        let i = match by {
            None => Some(0),
            Some(
                b @ (Breakdown::ImdQuintile
                | Breakdown::ImdDecile
                | Breakdown::LocalImdQuintile
                | Breakdown::DomainQuintile(_)
                | Breakdown::Imd2019Quintile),
            ) => k(l.quantile(b)),
            Some(Breakdown::Sex) => c.sex(),
            Some(Breakdown::EthnicGroup) => c.ethnic(),
            Some(Breakdown::AgeBand) => match (c.band, c.age()) {
                (NO_BAND, Some(a)) => self.age_cat.get(a as usize).copied().flatten(),
                (NO_BAND, None) => None,
                (b, _) => band_cat.get(usize::from(b)).copied().flatten(),
            },
        };
        i.filter(|i| *i < self.cats.len())
    }
}

/// Denominator templates (population by area x category x ESP band), cached per
/// (level, breakdown, year) because they do not depend on the period otherwise.
#[derive(Default)]
pub struct Templates(HashMap<TemplateKey, (Arc<Layout>, Vec<Acc>)>);

/// (level, breakdown, population year).
type TemplateKey = (Level, Option<Breakdown>, i32);

/// Values from cells already fetched (see [`fetch_cells`]); `cache` may be shared between calls
/// for the same indicator.
pub fn values_from_cells(
    reference: &Reference,
    ind: &IndicatorDef,
    cells: &Cells,
    req: &ValuesRequest,
    cache: &mut Templates,
) -> Result<Vec<ValueRow>, EngineError> {
    check_breakdown(ind, req.by)?;
    if req.by == Some(Breakdown::Sex) && !cells.provided.sex {
        return Err(EngineError::Query(format!(
            "indicator {}: its SQL has no sex column",
            ind.id
        )));
    }
    if req.by == Some(Breakdown::EthnicGroup) && !cells.provided.ethnic_group {
        return Err(EngineError::Query(format!(
            "indicator {}: its SQL has no ethnic_group column (see queries/README.md)",
            ind.id
        )));
    }
    // Each area's parent area (for benchmarks), the same for every period.
    let parent = parent_level(req.level);
    let parent_of: HashMap<String, String> = match parent {
        Some(p) if req.by.is_none() => (0..reference.lsoas.len())
            .map(|i| (reference.area(i, req.level).0, reference.area(i, p).0))
            .collect(),
        _ => HashMap::new(),
    };
    let mut out = Vec::new();
    for period in &req.periods {
        if !cells.answers(period) {
            return Err(EngineError::Execution(format!(
                "internal: cells do not cover period {period}"
            )));
        }
        let in_period: Vec<&Cell> = cells.in_period(period).collect();
        // The period's rows at one level, by one breakdown (or none).
        let mut rows_at = |level: Level, by: Option<Breakdown>| {
            compute_level(
                reference,
                ind,
                &in_period,
                &cells.bands,
                period,
                level,
                by,
                cache,
            )
        };
        let area_rows = rows_at(req.level, req.by)?;
        // Benchmarks: a breakdown category is compared with its area's overall value; an area
        // without breakdown with its parent area (the place: with the England value, if any).
        let bench: HashMap<String, Option<f64>> = if req.by.is_some() {
            rows_at(req.level, None)?
                .into_iter()
                .map(|r| (r.area_code.clone(), r.value))
                .collect()
        } else if let Some(parent) = parent {
            let parents: HashMap<String, Option<f64>> = rows_at(parent, None)?
                .into_iter()
                .map(|r| (r.area_code.clone(), r.value))
                .collect();
            parent_of
                .iter()
                .map(|(a, p)| (a.clone(), parents.get(p).copied().flatten()))
                .collect()
        } else {
            let england = reference.england_benchmark(ind, &period.label);
            area_rows
                .iter()
                .map(|r| (r.area_code.clone(), england))
                .collect()
        };
        for mut r in area_rows {
            r.benchmark = bench.get(&r.area_code).copied().flatten();
            let ci = |c: Option<(f64, f64)>| c.map(|(l, u)| marmot_stats::Interval::new(l, u));
            r.comparison = compare_with_benchmark(ci(r.ci95), r.benchmark)
                .unwrap_or(BenchmarkComparison::NotCompared);
            r.comparison_99_8 = compare_with_benchmark(ci(r.ci99_8), r.benchmark)
                .unwrap_or(BenchmarkComparison::NotCompared);
            r.judgement = judge(r.comparison, stats_polarity(ind.polarity))
                .label()
                .to_string();
            out.push(r);
        }
    }
    Ok(out)
}

fn template(
    reference: &Reference,
    ind: &IndicatorDef,
    layout: &Layout,
    by: Option<Breakdown>,
    year: i32,
) -> Vec<Acc> {
    let ncats = layout.cats.len();
    let mut accs = vec![Acc::default(); layout.areas.len() * ncats];
    let den = &ind.denominator;
    if den.kind != DenominatorKind::Population {
        return accs;
    }
    let (amin, amax) = (den.age_min.unwrap_or(0), den.age_max.unwrap_or(90));
    let den_sex = den.sex.as_deref().map(|s| usize::from(s != "male"));
    for (li, l) in reference.lsoas.iter().enumerate() {
        let area = layout.lsoa_area[li];
        for (ci, cat) in layout.cats.iter().enumerate() {
            // Which LSOAs, sexes and ages the category's population covers.
            let lsoa_in = match by {
                Some(b) if b.is_deprivation() => l.quantile(b) as usize == ci + 1,
                _ => true,
            };
            if !lsoa_in {
                continue;
            }
            let sex = match by {
                Some(Breakdown::Sex) => Some(ci),
                _ => den_sex,
            };
            if by == Some(Breakdown::EthnicGroup) {
                // Census 2021 usual residents of the group, all ages (no age detail: the rate is
                // crude). "Not stated" has no denominator.
                if let Some(n) = reference.ethnic[li].get(ci) {
                    accs[area * ncats + ci].pop_by_band[0] += n;
                }
                continue;
            }
            let (mut lo, mut hi) = (amin, amax);
            if by == Some(Breakdown::AgeBand) {
                let (blo, bhi) = parse_age_band(cat).unwrap_or((0, 90));
                lo = lo.max(blo);
                hi = hi.min(bhi);
            }
            let acc = &mut accs[area * ncats + ci];
            for age in lo..=hi {
                acc.pop_by_band[esp_band(age)] += reference.population(li, year, age, age, sex);
            }
        }
    }
    accs
}

#[allow(clippy::too_many_arguments)]
fn compute_level(
    reference: &Reference,
    ind: &IndicatorDef,
    cells: &[&Cell],
    bands: &[String],
    period: &Period,
    level: Level,
    by: Option<Breakdown>,
    cache: &mut Templates,
) -> Result<Vec<ValueRow>, EngineError> {
    let year = reference.year_for(period);
    let (layout, base) = cache.0.entry((level, by, year)).or_insert_with(|| {
        let layout = Layout::new(reference, ind, level, by);
        let accs = template(reference, ind, &layout, by, year);
        (Arc::new(layout), accs)
    });
    let layout = layout.clone();
    let mut accs = base.clone();
    let ncats = layout.cats.len();
    let band_cat: Vec<Option<usize>> = bands
        .iter()
        .map(|b| layout.cats.iter().position(|x| x == b))
        .collect();
    let den = &ind.denominator;
    let (amin, amax) = (den.age_min.unwrap_or(0), den.age_max.unwrap_or(90));
    for c in cells {
        // A DSR needs the age of every event: sources of DSR indicators require it.
        if ind.measure == Measure::Dsr && c.age().is_none() {
            continue;
        }
        // Events outside the denominator's ages are outside the indicator.
        if let Some(a) = c.age()
            && (a < amin || (amax < 90 && a > amax))
        {
            continue;
        }
        let Some(ci) = layout.category(by, c, reference, &band_cat) else {
            continue;
        };
        let acc = &mut accs[layout.lsoa_area[c.lsoa()] * ncats + ci];
        acc.num += c.num;
        acc.den += c.den;
        if let Some(a) = c.age() {
            acc.num_by_band[esp_band(a)] += c.num;
        }
    }
    let threshold = ind.disclosure_threshold as f64;
    Ok(accs
        .into_iter()
        .enumerate()
        .map(|(k, acc)| {
            let (area, ci) = (k / ncats, k % ncats);
            let crude = match by {
                Some(Breakdown::AgeBand) => Crude::WithinAgeBand,
                Some(Breakdown::EthnicGroup) => Crude::EthnicGroup,
                _ => Crude::No,
            };
            let (value, dual, method, denominator) = if by == Some(Breakdown::EthnicGroup)
                && ci == 5
                && ind.denominator.kind == DenominatorKind::Population
            {
                (
                    None,
                    None,
                    "ethnic group not stated: count only (no Census 2021 denominator)".to_string(),
                    0.0,
                )
            } else {
                measure(ind, &acc, &reference.esp, crude)
            };
            ValueRow {
                indicator_id: ind.id.clone(),
                level: level.name(),
                area_code: layout.areas[area].0.clone(),
                area_name: layout.areas[area].1.clone(),
                period: period.label.clone(),
                category: layout.cats[ci].clone(),
                value,
                ci95: dual.map(|d| (d.ci95.lower, d.ci95.upper)),
                ci99_8: dual.map(|d| (d.ci99_8.lower, d.ci99_8.upper)),
                numerator: acc.num,
                denominator,
                method,
                benchmark: None,
                comparison: BenchmarkComparison::NotCompared,
                comparison_99_8: BenchmarkComparison::NotCompared,
                judgement: String::new(),
                suppressed: acc.num > 0.0 && acc.num < threshold,
            }
        })
        .collect())
}

/// The rows as an Arrow batch with the documented columns: `indicator_id, level, area_code,
/// area_name, period, [breakdown], value, lower_95, upper_95, lower_99_8, upper_99_8, numerator,
/// denominator, method, benchmark, comparison, comparison_99_8, judgement, suppressed,
/// data_version`.
pub fn to_batch(
    rows: &[ValueRow],
    by: Option<Breakdown>,
    data_version: &str,
) -> Result<RecordBatch, EngineError> {
    let s = |f: &dyn Fn(&ValueRow) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
    };
    let o = |f: &dyn Fn(&ValueRow) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(rows.iter().map(f)))
    };
    let mut fields = vec![
        Field::new("indicator_id", DataType::Utf8, false),
        Field::new("level", DataType::Utf8, false),
        Field::new("area_code", DataType::Utf8, false),
        Field::new("area_name", DataType::Utf8, false),
        Field::new("period", DataType::Utf8, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        s(&|r| r.indicator_id.clone()),
        s(&|r| r.level.to_string()),
        s(&|r| r.area_code.clone()),
        s(&|r| r.area_name.clone()),
        s(&|r| r.period.clone()),
    ];
    if let Some(b) = by {
        fields.push(Field::new(b.name(), DataType::Utf8, false));
        cols.push(s(&|r| r.category.clone()));
    }
    for (name, nullable) in [
        ("value", true),
        ("lower_95", true),
        ("upper_95", true),
        ("lower_99_8", true),
        ("upper_99_8", true),
        ("numerator", false),
        ("denominator", false),
    ] {
        fields.push(Field::new(name, DataType::Float64, nullable));
    }
    cols.push(o(&|r| r.value));
    cols.push(o(&|r| r.ci95.map(|c| c.0)));
    cols.push(o(&|r| r.ci95.map(|c| c.1)));
    cols.push(o(&|r| r.ci99_8.map(|c| c.0)));
    cols.push(o(&|r| r.ci99_8.map(|c| c.1)));
    cols.push(o(&|r| Some(r.numerator)));
    cols.push(o(&|r| Some(r.denominator)));
    fields.push(Field::new("method", DataType::Utf8, false));
    cols.push(s(&|r| r.method.clone()));
    fields.push(Field::new("benchmark", DataType::Float64, true));
    cols.push(o(&|r| r.benchmark));
    for name in ["comparison", "comparison_99_8", "judgement"] {
        fields.push(Field::new(name, DataType::Utf8, false));
    }
    cols.push(s(&|r| r.comparison.label().to_string()));
    cols.push(s(&|r| r.comparison_99_8.label().to_string()));
    cols.push(s(&|r| r.judgement.clone()));
    fields.push(Field::new("suppressed", DataType::Boolean, false));
    cols.push(Arc::new(BooleanArray::from(
        rows.iter().map(|r| r.suppressed).collect::<Vec<_>>(),
    )));
    fields.push(Field::new("data_version", DataType::Utf8, false));
    cols.push(s(&|_| data_version.to_string()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| EngineError::Execution(e.to_string()))
}

/// The data version an indicator's values come from: the Delta versions of its source table
/// and of the reference tables, e.g. `admissions@3;geography@1;imd2025@1;population@1`.
pub fn data_version(engine: &Engine, ind: &IndicatorDef) -> String {
    let mut parts: Vec<String> = engine
        .tables()
        .iter()
        .filter(|t| {
            t.name == ind.source
                || matches!(
                    t.name.as_str(),
                    "geography" | "imd2025" | "imd2019" | "population"
                )
                || (t.name == crate::published::TABLE && ind.fingertips.is_some())
        })
        .map(|t| format!("{}@{}", t.name, t.version))
        .collect();
    parts.sort();
    parts.join(";")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the arithmetic does with an age: its ESP2013 band, its age-band category and
    /// whether the denominator's ages take it.
    fn seen_as(ind: &IndicatorDef, age: u32) -> (usize, Option<usize>, bool) {
        let a = age.min(120);
        let (amin, amax) = (
            ind.denominator.age_min.unwrap_or(0),
            ind.denominator.age_max.unwrap_or(90),
        );
        (
            esp_band(a),
            age_category(&ind.age_bands, a),
            !(a < amin || (amax < 90 && a > amax)),
        )
    }

    #[test]
    fn every_age_is_seen_as_the_first_year_of_its_segment() {
        let mut inds = marmot_model::builtin_indicators().expect("shipped indicators");
        // Bands and denominator ages that cut across the ESP2013 five-year bands.
        let mut odd = inds[0].clone();
        odd.age_bands = vec!["0-17".into(), "18-64".into(), "65-84".into(), "95+".into()];
        odd.denominator.age_min = Some(16);
        odd.denominator.age_max = Some(74);
        inds.push(odd);
        for ind in &inds {
            let seg = age_segments(ind);
            assert_eq!(seg.first(), Some(&0), "{}", ind.id);
            for age in 0..=130u32 {
                let first = *seg.iter().rev().find(|lo| **lo <= age).expect("segment");
                assert_eq!(
                    seen_as(ind, age),
                    seen_as(ind, first),
                    "{}: age {age} and its segment's first year {first} differ",
                    ind.id
                );
            }
        }
        // The segments are coarser than single years (the point of them).
        assert!(age_segments(&inds[0]).len() < 30);
    }

    #[test]
    fn the_age_segment_sql_maps_ages_to_the_first_year_of_their_segment() {
        let sql = age_segment_sql("a", &[0, 5, 16, 90]);
        assert_eq!(
            sql,
            "CAST(CASE WHEN a >= 90 THEN 90 WHEN a >= 16 THEN 16 WHEN a >= 5 THEN 5 WHEN a >= 0 THEN 0 ELSE a END AS INT)"
        );
    }

    #[test]
    fn a_cell_is_small() {
        assert_eq!(std::mem::size_of::<Cell>(), 32);
    }
}
