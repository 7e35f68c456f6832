//! The demo lake: five-plus years (2015-01-01 to 2021-03-31) of synthetic partner data over
//! the real geography and population of a place, deterministic for a seed, with planted,
//! documented signals that Marmot's indicators and detectors must find.
//!
//! Every dataset is generated week by week and LSOA by LSOA as Poisson counts
//!
//! ```text
//! expected(week, lsoa, condition) = Σ_age,sex pop · rate(age) · deprivation(lsoa) · season(week) · effect(week, lsoa) · scale
//! ```
//!
//! and streamed in batches through the same contract validation as a partner file, so memory
//! does not grow with `--scale`. The planted signals are listed in [`planted_signals`] and
//! written to `_marmot/demo/planted_signals.json` in the lake.

use std::f64::consts::PI;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Int32Builder, Int64Builder,
    StringBuilder,
};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use chrono::{Datelike, NaiveDate};
use marmot_model::{ColumnType, Contract};
use serde::Serialize;

use crate::ingest::{IngestSummary, Progress, table_path};
use crate::reference::{LsoaGeo, PlaceSource, place_geography, population};
use crate::store::{self, TableWriter};
use crate::validate::{ColumnMap, Validator, arrow_type, curated_schema, days};
use crate::{Lake, LakeError, Pseudonymiser};

/// Options of the generator.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Seed of the random streams (same seed, same lake).
    pub seed: u64,
    /// Multiplies every expected count (1 = a place of ~290,000 people).
    pub scale: f64,
    /// First day generated.
    pub from: NaiveDate,
    /// Last day generated.
    pub to: NaiveDate,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 42,
            scale: 1.0,
            from: NaiveDate::from_ymd_opt(2015, 1, 1).unwrap_or(NaiveDate::MIN),
            to: NaiveDate::from_ymd_opt(2021, 3, 31).unwrap_or(NaiveDate::MIN),
        }
    }
}

/// What the generator made.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Per dataset: (name, rows, table version).
    pub tables: Vec<(String, u64, u64)>,
    /// Where the planted signals were written (relative to the lake root).
    pub signals_path: String,
    /// Population of the place (mid-2019).
    pub population: i64,
}

/// One planted signal, machine-readable, for tests of detectors and indicators.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct PlantedSignal {
    /// Short id.
    pub id: String,
    /// Dataset(s) it is in.
    pub datasets: Vec<String>,
    /// What was planted.
    pub what: String,
    /// Where (which areas or strata).
    pub r#where: String,
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Size, as a multiplier of the expected count (1 = no effect).
    pub factor: f64,
    /// Direction a detector should see: "up", "down" or "gradient".
    pub direction: String,
    /// The trigger signals (`queries/triggers/<id>.sql`) expected to detect it between `from`
    /// and `to`; their weeks outside every such window count as false-alarm weeks in
    /// `marmot triggers backtest`.
    #[serde(default)]
    pub signals: Vec<String>,
}

/// Where the planted signals are written.
pub const SIGNALS_PATH: &str = "_marmot/demo/planted_signals.json";

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap_or(NaiveDate::MIN)
}

// Key dates of the planted story.
fn lockdown1() -> (NaiveDate, NaiveDate) {
    (d(2020, 3, 23), d(2020, 5, 3))
}

/// The planted signals (what, where, when, size), as also written to the lake.
pub fn planted_signals() -> Vec<PlantedSignal> {
    let s = |id: &str,
             ds: &[&str],
             what: &str,
             wh: &str,
             from: NaiveDate,
             to: NaiveDate,
             factor: f64,
             dir: &str| PlantedSignal {
        id: id.into(),
        datasets: ds.iter().map(|x| x.to_string()).collect(),
        what: what.into(),
        r#where: wh.into(),
        from: from.to_string(),
        to: to.to_string(),
        factor,
        direction: dir.into(),
        signals: Vec::new(),
    };
    let with = |mut p: PlantedSignal, signals: &[&str]| {
        p.signals = signals.iter().map(|x| x.to_string()).collect();
        p
    };
    const EMERGENCY: &[&str] = &[
        "high_risk_non_covid_admissions",
        "mi_admissions",
        "ihd_admissions",
        "heart_failure_admissions",
        "copd_admissions",
        "asthma_admissions",
        "diabetes_admissions",
        "paediatric_injury_admissions",
        "cellulitis_admissions",
        "sepsis_admissions",
    ];
    vec![
        s(
            "deprivation-gradient",
            &["admissions", "police"],
            "emergency admission and police domestic-abuse rates rise with deprivation: the most deprived local fifth of LSOAs (by the national IMD rank of the lake's index: IMD 2025 in a 2021 lake) has about twice the rate of the least deprived fifth",
            "all LSOAs, by local IMD quintile",
            d(2015, 1, 1),
            d(2021, 3, 31),
            2.0,
            "gradient",
        ),
        s(
            "winter-respiratory",
            &["admissions"],
            "winter seasonality of emergency admissions for pneumonia/other respiratory (J12-J22, ±45%), COPD (J44, ±35%) and asthma (J45-J46, ±25%), peaking mid-January",
            "place",
            d(2015, 1, 1),
            d(2021, 3, 31),
            1.45,
            "up",
        ),
        with(
            s(
                "lockdown-drop",
                &["admissions"],
                "non-COVID emergency admissions for MI, heart failure, COPD, asthma, diabetes and paediatric injuries drop by 30% against previous years (other emergency admissions by 25%), recovering through May-June",
                "place",
                lockdown1().0,
                lockdown1().1,
                0.70,
                "down",
            ),
            EMERGENCY,
        ),
        with(
            s(
                "covid-wave-1",
                &["admissions"],
                "COVID-19 admissions (U07.1), first wave peaking in the week of 2020-04-06",
                "place",
                d(2020, 3, 2),
                d(2020, 5, 31),
                1.0,
                "up",
            ),
            &["covid_admissions"],
        ),
        with(
            s(
                "covid-endemic",
                &["admissions", "contact_tracing"],
                "a low level of COVID-19 admissions between and after the waves (3% of the first wave's peak intensity, from mid-June 2020)",
                "place",
                d(2020, 6, 15),
                d(2021, 3, 31),
                1.0,
                "up",
            ),
            &["covid_admissions", "contact_tracing_not_contacted"],
        ),
        with(
            s(
                "covid-second-peak",
                &["admissions", "contact_tracing"],
                "COVID-19 admissions and traced cases rise again from October 2020 to a peak in January 2021; the rise starts about three weeks earlier in the most deprived LSOAs than in the least deprived (late September to mid-October)",
                "place; earliest in IMD quintile 1 neighbourhoods",
                d(2020, 10, 1),
                d(2021, 2, 28),
                1.0,
                "up",
            ),
            &["covid_admissions", "contact_tracing_not_contacted"],
        ),
        s(
            "covid-ethnic-gradient",
            &["admissions"],
            "COVID-19 admissions by ethnic group, against White residents of the same LSOA: Black 2.5, Asian 2.0, Other 1.8, Mixed 1.5 times the rate (illustrative sizes, in the direction ONS and PHE reported for 2020); each admission's group is drawn from its LSOA's Census 2021 ethnic mix weighted by these ratios, other admissions from the mix unweighted; 4% not stated",
            "all LSOAs, by ethnic group",
            d(2020, 3, 2),
            d(2021, 3, 31),
            2.5,
            "gradient",
        ),
        with(
            s(
                "cab-housing",
                &["cab"],
                "Citizens Advice housing advice up 40% from June 2020",
                "place",
                d(2020, 6, 1),
                d(2021, 3, 31),
                1.4,
                "up",
            ),
            &["cab_housing"],
        ),
        with(
            s(
                "cab-employment",
                &["cab"],
                "employment/redundancy advice rising from June 2020 to double by October 2020",
                "place",
                d(2020, 6, 1),
                d(2021, 3, 31),
                2.0,
                "up",
            ),
            &["cab_employment"],
        ),
        with(
            s(
                "hub-food-working-age",
                &["community_hub"],
                "community hub requests from 2020-03-23; food requests concentrated in working-age adults (18-69), peaking in April-May 2020 with smaller peaks in the November 2020 and January 2021 lockdowns",
                "place; age bands 18-29, 30-49, 50-69",
                d(2020, 3, 23),
                d(2021, 3, 31),
                1.0,
                "up",
            ),
            &["hub_food_requests"],
        ),
        s(
            "hub-shopping-70plus",
            &["community_hub"],
            "personal-shopping requests concentrated in people aged 70+",
            "place; age band 70+",
            d(2020, 3, 23),
            d(2021, 3, 31),
            1.0,
            "up",
        ),
        with(
            s(
                "police-da-lockdown-fall",
                &["police"],
                "domestic-abuse incidents fall by 20% during the first lockdown",
                "place",
                d(2020, 3, 23),
                d(2020, 5, 31),
                0.8,
                "down",
            ),
            &["police_domestic_abuse"],
        ),
        with(
            s(
                "police-da-rebound",
                &["police"],
                "domestic-abuse incidents rise 25% above previous years after restrictions ease (June-September), then stay 15% above from October",
                "place",
                d(2020, 6, 1),
                d(2021, 3, 31),
                1.25,
                "up",
            ),
            &["police_domestic_abuse"],
        ),
        with(
            s(
                "lockdown-recovery",
                &["admissions"],
                "after the first lockdown, non-COVID emergency admissions recover to 85% of previous years until mid-June 2020 and to 95% after",
                "place",
                lockdown1().1 + chrono::Days::new(1),
                d(2020, 6, 14),
                0.85,
                "down",
            ),
            EMERGENCY,
        ),
        with(
            s(
                "ed-lockdown-drop",
                &["ccg_activity"],
                "ED attendances fall to 55% of usual in the first lockdown (2020-03-23 to 2020-05-31) and recover to 85% until the end of August 2020",
                "place",
                lockdown1().0,
                d(2020, 8, 31),
                0.55,
                "down",
            ),
            &["ed_attendances"],
        ),
        s(
            "gp-remote-shift",
            &["ccg_activity"],
            "GP consultations shift from face-to-face (about 80% before) to telephone and video (about 65% remote in April 2020, 55% from July 2020)",
            "place",
            d(2020, 3, 23),
            d(2021, 3, 31),
            0.35,
            "down",
        ),
    ]
}

// ---------------------------------------------------------------- random numbers

/// xoshiro256** seeded by SplitMix64 (Blackman & Vigna): small, fast and stable across
/// versions, so a seed always gives the same lake.
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn below(&mut self, n: usize) -> usize {
        ((self.f64() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Poisson draw: Knuth's product method for small means, a rounded normal approximation
    /// (continuity-corrected) above 30, where it is accurate enough for synthetic data.
    fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda <= 0.0 || !lambda.is_finite() {
            return 0;
        }
        if lambda < 30.0 {
            let l = (-lambda).exp();
            let mut k = 0u64;
            let mut p = 1.0;
            loop {
                p *= self.f64();
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
        // Box-Muller.
        let u1 = self.f64().max(1e-300);
        let u2 = self.f64();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
        (lambda + lambda.sqrt() * z + 0.5).floor().max(0.0) as u64
    }

    /// Index drawn from cumulative weights.
    fn pick(&mut self, cdf: &[f64]) -> usize {
        let total = cdf.last().copied().unwrap_or(0.0);
        let x = self.f64() * total;
        cdf.partition_point(|c| *c <= x)
            .min(cdf.len().saturating_sub(1))
    }
}

fn cumulative(w: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    w.into_iter()
        .map(|x| {
            acc += x.max(0.0);
            acc
        })
        .collect()
}

// ---------------------------------------------------------------- the place

struct Area {
    geo: LsoaGeo,
    /// 0 = most deprived LSOA of the place, 1 = least deprived.
    r: f64,
    /// Population by sex (0 male, 1 female) and single year of age (90 = 90+).
    pop: [[f64; 91]; 2],
}

impl Area {
    /// Deprivation multiplier: 2^(1.25·(0.5 − r)), so the most deprived fifth (r ≈ 0.1) has
    /// about twice the rate of the least deprived fifth (r ≈ 0.9).
    fn dep(&self, strength: f64) -> f64 {
        (2f64).powf(1.25 * strength * (0.5 - self.r))
    }

    fn persons(&self, lo: u32, hi: u32) -> f64 {
        (lo..=hi.min(90))
            .map(|a| self.pop[0][a as usize] + self.pop[1][a as usize])
            .sum()
    }
}

fn areas(place: &PlaceSource) -> Result<Vec<Area>, LakeError> {
    let geo = place_geography(place)?;
    let lsoas: Vec<String> = geo.iter().map(|g| g.lsoa.clone()).collect();
    let pop = population(place.vintage, &lsoas, 2019)?;
    // National IMD rank (1 = most deprived) of the lake's index, ranked within the place.
    let mut order: Vec<usize> = (0..geo.len()).collect();
    order.sort_by_key(|&i| (geo[i].imd_rank, geo[i].lsoa.clone()));
    let n = geo.len().max(2) as f64;
    let mut r = vec![0.0; geo.len()];
    for (pos, &i) in order.iter().enumerate() {
        r[i] = (pos as f64 + 0.5) / n;
    }
    Ok(geo
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            let mut p = [[0.0; 91]; 2];
            for age in 0..=90u32 {
                p[0][age as usize] = pop
                    .get(&(g.lsoa.clone(), age, "male"))
                    .copied()
                    .unwrap_or(0) as f64;
                p[1][age as usize] = pop
                    .get(&(g.lsoa.clone(), age, "female"))
                    .copied()
                    .unwrap_or(0) as f64;
            }
            Area {
                geo: g,
                r: r[i],
                pop: p,
            }
        })
        .collect())
}

// ---------------------------------------------------------------- time

const WEEKS_PER_YEAR: f64 = 365.25 / 7.0;

fn weeks(opts: &DemoOptions) -> Vec<NaiveDate> {
    let mut w = opts.from - chrono::Days::new(opts.from.weekday().num_days_from_monday() as u64);
    let mut out = Vec::new();
    while w <= opts.to {
        out.push(w);
        w = w + chrono::Days::new(7);
    }
    out
}

/// Winter peak in mid-January: 1 + amp·cos(2π(day − 15)/365.25).
fn season(week: NaiveDate, amp: f64) -> f64 {
    1.0 + amp * (2.0 * PI * (week.ordinal() as f64 + 3.0 - 15.0) / 365.25).cos()
}

fn between(week: NaiveDate, a: NaiveDate, b: NaiveDate) -> bool {
    week >= a && week <= b
}

fn weeks_from(week: NaiveDate, centre: NaiveDate) -> f64 {
    (week - centre).num_days() as f64 / 7.0
}

fn bump(week: NaiveDate, centre: NaiveDate, sd_weeks: f64) -> f64 {
    let x = weeks_from(week, centre) / sd_weeks;
    (-0.5 * x * x).exp()
}

/// COVID-19 intensity (1 = the first wave's peak) for an LSOA with deprivation position `r`:
/// the first wave peaks in the week of 2020-04-06; the autumn rise and the January 2021 peak
/// come up to three weeks earlier in the most deprived LSOAs.
fn covid(week: NaiveDate, r: f64) -> f64 {
    if week < d(2020, 2, 24) {
        return 0.0;
    }
    let shift = (3.0 * (r - 0.5) * 7.0).round() as i64; // days: deprived earlier
    let sh = |x: NaiveDate| x + chrono::TimeDelta::days(shift);
    let w1 = bump(week, d(2020, 4, 6), 2.5);
    // The second wave starts in October 2020: from the week of 21 September in the most
    // deprived LSOAs to that of 12 October in the least deprived.
    let autumn = if week >= sh(d(2020, 10, 1)) {
        0.55 * bump(week, sh(d(2020, 11, 16)), 4.0)
    } else {
        0.0
    };
    let winter = if week >= d(2020, 9, 1) {
        1.3 * bump(week, sh(d(2021, 1, 11)), 3.0)
    } else {
        0.0
    };
    w1 + autumn + winter + if week >= d(2020, 6, 15) { 0.03 } else { 0.0 }
}

/// Lockdown effect on non-COVID emergency admissions (planted signal "lockdown-drop").
fn lockdown_drop(week: NaiveDate, core: bool) -> f64 {
    let (a, b) = lockdown1();
    if between(week, a, b) {
        if core { 0.70 } else { 0.75 }
    } else if between(week, b, d(2020, 6, 14)) {
        0.85
    } else if week > d(2020, 6, 14) {
        0.95
    } else {
        1.0
    }
}

/// Community hub demand (1 = the April 2020 peak): lockdowns of March, November and January.
fn hub_intensity(week: NaiveDate) -> f64 {
    if week < d(2020, 3, 23) {
        return 0.0;
    }
    let first = if week <= d(2020, 5, 10) {
        1.0
    } else {
        0.15 + 0.85 * (-(weeks_from(week, d(2020, 5, 10)) / 4.0)).exp()
    };
    first + 0.35 * bump(week, d(2020, 11, 16), 2.0) + 0.5 * bump(week, d(2021, 1, 18), 3.0)
}

// ---------------------------------------------------------------- rows

#[derive(Clone, Copy)]
enum Cell<'a> {
    S(&'a str),
    D(NaiveDate),
    I(i64),
    B(bool),
    Null,
}

enum Col {
    S(StringBuilder),
    D(Date32Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    B(BooleanBuilder),
}

/// Collects rows of one dataset and streams them, in batches, through contract validation into
/// the table's data files.
struct Sink<'a> {
    schema: SchemaRef,
    cols: Vec<Col>,
    validator: Validator<'a>,
    writer: TableWriter,
    rows: u64,
    next_row: u64,
}

const FLUSH_ROWS: usize = 64 * 1024;

impl<'a> Sink<'a> {
    fn push(&mut self, cells: &[Cell]) {
        for (c, v) in self.cols.iter_mut().zip(cells) {
            match (c, *v) {
                (Col::S(b), Cell::S(s)) => b.append_value(s),
                (Col::D(b), Cell::D(x)) => b.append_value(days(x)),
                (Col::I32(b), Cell::I(x)) => b.append_value(x as i32),
                (Col::I64(b), Cell::I(x)) => b.append_value(x),
                (Col::B(b), Cell::B(x)) => b.append_value(x),
                (Col::S(b), _) => b.append_null(),
                (Col::D(b), _) => b.append_null(),
                (Col::I32(b), _) => b.append_null(),
                (Col::I64(b), _) => b.append_null(),
                (Col::B(b), _) => b.append_null(),
            }
        }
        self.rows += 1;
    }

    fn pending(&self) -> usize {
        match self.cols.first() {
            Some(Col::S(b)) => b.len(),
            Some(Col::D(b)) => b.len(),
            Some(Col::I32(b)) => b.len(),
            Some(Col::I64(b)) => b.len(),
            Some(Col::B(b)) => b.len(),
            None => 0,
        }
    }

    async fn maybe_flush(&mut self) -> Result<(), LakeError> {
        if self.pending() >= FLUSH_ROWS {
            self.flush().await
        } else {
            Ok(())
        }
    }

    async fn flush(&mut self) -> Result<(), LakeError> {
        let n = self.pending();
        if n == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::S(b) => Arc::new(b.finish()),
                    Col::D(b) => Arc::new(b.finish()),
                    Col::I32(b) => Arc::new(b.finish()),
                    Col::I64(b) => Arc::new(b.finish()),
                    Col::B(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays)?;
        let rows: Vec<u64> = (self.next_row..self.next_row + n as u64).collect();
        self.next_row += n as u64;
        let (accepted, rejected) = self.validator.validate(&batch, &rows)?;
        if let Some(r) = rejected.first() {
            return Err(LakeError::Internal(format!(
                "demo data broke its contract at row {}: {} ({})",
                r.row, r.problems, r.record
            )));
        }
        self.writer.write(&accepted).await
    }
}

fn input_schema(contract: &Contract) -> SchemaRef {
    Arc::new(Schema::new(
        contract
            .columns
            .iter()
            .map(|c| Field::new(&c.name, arrow_type(c.ty), true))
            .collect::<Vec<_>>(),
    ))
}

fn builders(contract: &Contract) -> Vec<Col> {
    contract
        .columns
        .iter()
        .map(|c| match c.ty {
            ColumnType::Utf8 => Col::S(StringBuilder::new()),
            ColumnType::Date => Col::D(Date32Builder::new()),
            ColumnType::Int32 => Col::I32(Int32Builder::new()),
            ColumnType::Int64 | ColumnType::Float64 => Col::I64(Int64Builder::new()),
            ColumnType::Boolean => Col::B(BooleanBuilder::new()),
        })
        .collect()
}

// ---------------------------------------------------------------- datasets

/// Per-1,000-per-year rate by age from (upper age, rate) steps.
fn step_rate(steps: &[(u32, f64)], age: u32) -> f64 {
    steps
        .iter()
        .find(|(hi, _)| age <= *hi)
        .map(|(_, r)| *r)
        .unwrap_or(0.0)
}

#[allow(dead_code)] // `name` documents each row of the table below.
struct Condition {
    name: &'static str,
    codes: &'static [&'static str],
    emergency: bool,
    /// (upper age, per 1,000 per year)
    rates: &'static [(u32, f64)],
    dep_strength: f64,
    season_amp: f64,
    /// Subject to the planted 30% lockdown drop (else the 25% drop of other emergencies).
    core_drop: bool,
    covid: bool,
}

const CONDITIONS: &[Condition] = &[
    Condition {
        name: "mi",
        codes: &["I21.0", "I21.4", "I21.9", "I22.9"],
        emergency: true,
        rates: &[(34, 0.0), (64, 1.0), (74, 3.5), (90, 6.0)],
        dep_strength: 1.0,
        season_amp: 0.10,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "ihd",
        codes: &["I20.0", "I20.9", "I24.9", "I25.1"],
        emergency: true,
        rates: &[(34, 0.0), (64, 1.2), (74, 4.0), (90, 6.5)],
        dep_strength: 1.0,
        season_amp: 0.10,
        core_drop: false,
        covid: false,
    },
    Condition {
        name: "heart_failure",
        codes: &["I50.0", "I50.1", "I50.9"],
        emergency: true,
        rates: &[(44, 0.0), (64, 0.6), (74, 3.0), (84, 9.0), (90, 20.0)],
        dep_strength: 1.0,
        season_amp: 0.15,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "copd",
        codes: &["J44.0", "J44.1", "J44.9"],
        emergency: true,
        rates: &[(39, 0.0), (64, 2.0), (74, 6.0), (90, 10.0)],
        dep_strength: 1.0,
        season_amp: 0.35,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "asthma",
        codes: &["J45.0", "J45.9", "J46.X"],
        emergency: true,
        rates: &[(4, 3.0), (14, 2.0), (64, 0.8), (90, 1.0)],
        dep_strength: 1.0,
        season_amp: 0.25,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "diabetes",
        codes: &["E10.1", "E11.6", "E11.9", "E14.9"],
        emergency: true,
        rates: &[(17, 0.3), (64, 0.6), (90, 1.5)],
        dep_strength: 1.0,
        season_amp: 0.05,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "cellulitis",
        codes: &["L03.1", "L03.9"],
        emergency: true,
        rates: &[(17, 0.5), (74, 1.0), (90, 2.5)],
        dep_strength: 1.0,
        season_amp: -0.10,
        core_drop: false,
        covid: false,
    },
    Condition {
        name: "sepsis",
        codes: &["A41.9", "A41.5", "A40.9"],
        emergency: true,
        rates: &[(4, 1.0), (64, 0.4), (74, 1.5), (90, 4.0)],
        dep_strength: 1.0,
        season_amp: 0.15,
        core_drop: false,
        covid: false,
    },
    Condition {
        name: "injury_child",
        codes: &["S00.9", "S09.9", "S52.5", "S42.4", "T14.9"],
        emergency: true,
        rates: &[(17, 12.0), (90, 0.0)],
        dep_strength: 1.0,
        season_amp: -0.10,
        core_drop: true,
        covid: false,
    },
    Condition {
        name: "respiratory",
        codes: &["J18.9", "J22.X", "J12.9", "J15.9"],
        emergency: true,
        rates: &[(4, 10.0), (14, 2.0), (64, 2.0), (74, 6.0), (90, 15.0)],
        dep_strength: 1.0,
        season_amp: 0.45,
        core_drop: false,
        covid: false,
    },
    Condition {
        name: "other_emergency",
        codes: &[
            "R10.4", "R07.4", "N39.0", "K35.8", "F10.0", "R55.X", "K92.2", "S72.0", "O99.8",
            "R69.X",
        ],
        emergency: true,
        rates: &[
            (4, 115.0),
            (14, 35.0),
            (44, 62.0),
            (64, 80.0),
            (74, 130.0),
            (84, 225.0),
            (90, 400.0),
        ],
        dep_strength: 1.0,
        season_amp: 0.05,
        core_drop: false,
        covid: false,
    },
    Condition {
        name: "covid",
        codes: &["U07.1"],
        emergency: true,
        rates: &[(44, 1.0), (64, 6.0), (74, 15.0), (84, 30.0), (90, 50.0)],
        dep_strength: 1.0,
        season_amp: 0.0,
        core_drop: false,
        covid: true,
    },
    Condition {
        name: "elective",
        codes: &[
            "Z51.1", "H25.9", "M17.1", "K80.2", "N40.X", "C50.9", "K40.9", "M16.1",
        ],
        emergency: false,
        rates: &[
            (17, 30.0),
            (44, 60.0),
            (64, 140.0),
            (74, 260.0),
            (90, 300.0),
        ],
        dep_strength: 0.3,
        season_amp: 0.0,
        core_drop: false,
        covid: false,
    },
];

/// COVID rates above are per 1,000 per year at a sustained first-wave peak.
const ETHNIC: &[(&str, f64)] = &[
    ("A", 36.0),
    ("B", 3.0),
    ("C", 13.0),
    ("D", 1.5),
    ("E", 1.0),
    ("F", 1.0),
    ("G", 2.0),
    ("H", 3.0),
    ("J", 1.0),
    ("K", 2.0),
    ("L", 3.0),
    ("M", 8.0),
    ("N", 11.0),
    ("P", 4.0),
    ("R", 1.5),
    ("S", 5.0),
    ("Z", 4.0),
];

/// The Census 2021 high-level group (Asian, Black, Mixed, White, Other; 5 = not stated) of an
/// NHS ethnic category code, as the shipped indicators' SQL maps it.
fn ethnic_group_of(code: &str) -> usize {
    match code {
        "H" | "J" | "K" | "L" | "R" => 0,
        "M" | "N" | "P" => 1,
        "D" | "E" | "F" | "G" => 2,
        "A" | "B" | "C" => 3,
        "S" => 4,
        _ => 5,
    }
}

/// The planted COVID-19 rate ratios by group, against White (Asian, Black, Mixed, White, Other).
const COVID_ETHNIC_RR: [f64; 5] = [2.0, 2.5, 1.5, 1.0, 1.8];

/// Share of admissions with no stated ethnic category ("Z").
const NOT_STATED: f64 = 0.04;

/// Cumulative weights over [`ETHNIC`] for an LSOA's Census 2021 mix (`residents` by group),
/// weighted by [`COVID_ETHNIC_RR`] when `covid`. An LSOA with no residents' mix uses the
/// England-wide-like fixed weights of [`ETHNIC`].
fn ethnic_cdf(residents: &[i64; 5], covid: bool) -> Vec<f64> {
    let total: i64 = residents.iter().sum();
    let mut group_weight = [0.0; 6];
    for (code, w) in ETHNIC {
        group_weight[ethnic_group_of(code)] += w;
    }
    let weights = ETHNIC.iter().map(|(code, w)| {
        let g = ethnic_group_of(code);
        if total <= 0 || g == 5 {
            return if total <= 0 { *w } else { NOT_STATED };
        }
        let rr = if covid { COVID_ETHNIC_RR[g] } else { 1.0 };
        let mix: f64 = (0..5)
            .map(|k| residents[k] as f64 * if covid { COVID_ETHNIC_RR[k] } else { 1.0 })
            .sum();
        (1.0 - NOT_STATED) * residents[g] as f64 * rr / mix * w / group_weight[g]
    });
    cumulative(weights)
}

struct Ctx<'a> {
    areas: &'a [Area],
    weeks: &'a [NaiveDate],
    opts: &'a DemoOptions,
}

impl Ctx<'_> {
    /// A day within the week, or None when it falls outside the generated range.
    fn day(&self, week: NaiveDate, rng: &mut Rng) -> Option<NaiveDate> {
        let day = week + chrono::Days::new(rng.below(7) as u64);
        (day >= self.opts.from && day <= self.opts.to).then_some(day)
    }
}

async fn gen_admissions(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    // Per area: the NHS ethnic category of an admission, drawn from the LSOA's Census 2021
    // ethnic mix (each group's codes in ETHNIC's proportions), COVID-19 admissions weighted by
    // the planted rate ratios ("covid-ethnic-gradient").
    let ethnic_cdfs: Vec<[Vec<f64>; 2]> = ctx
        .areas
        .iter()
        .map(|a| {
            [
                ethnic_cdf(&a.geo.ethnic, false),
                ethnic_cdf(&a.geo.ethnic, true),
            ]
        })
        .collect();
    // Per area and condition: expected admissions per week (before time effects) and the
    // age/sex distribution of those admissions.
    let base: Vec<Vec<(f64, Vec<f64>)>> = ctx
        .areas
        .iter()
        .map(|a| {
            CONDITIONS
                .iter()
                .map(|c| {
                    let w: Vec<f64> = (0..182)
                        .map(|k| {
                            a.pop[k / 91][k % 91] * step_rate(c.rates, (k % 91) as u32) / 1000.0
                        })
                        .collect();
                    let total: f64 = w.iter().sum();
                    (
                        total / WEEKS_PER_YEAR * ctx.opts.scale * a.dep(c.dep_strength),
                        cumulative(w),
                    )
                })
                .collect()
        })
        .collect();
    let mut spell = 0u64;
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        for (ai, a) in ctx.areas.iter().enumerate() {
            for (ci, c) in CONDITIONS.iter().enumerate() {
                let (lambda0, cdf) = &base[ai][ci];
                let effect = if c.covid {
                    covid(week, a.r) * 3.5
                } else if c.emergency {
                    lockdown_drop(week, c.core_drop)
                } else if between(week, lockdown1().0, d(2020, 6, 30)) {
                    0.4
                } else {
                    1.0
                };
                let n = rng.poisson(lambda0 * season(week, c.season_amp) * effect);
                for _ in 0..n {
                    let Some(day) = ctx.day(week, rng) else {
                        continue;
                    };
                    let k = rng.pick(cdf);
                    let (sex, age) = (if k < 91 { "male" } else { "female" }, (k % 91) as i64);
                    // A few more years of age beyond 90 for the 90+ band.
                    let age = if age == 90 {
                        90 + rng.below(8) as i64
                    } else {
                        age
                    };
                    spell += 1;
                    let spell_id = format!("SP{:011}", spell);
                    // Patients repeat: a pool per LSOA, age and sex.
                    let patient = format!(
                        "PT-{}-{}{}-{}",
                        a.geo.lsoa,
                        &sex[..1],
                        age,
                        rng.below(if age > 64 { 3 } else { 12 })
                    );
                    let los = if c.emergency {
                        (rng.f64().ln() * -(1.0 + age as f64 / 12.0)).floor() as u64
                    } else {
                        rng.below(3) as u64
                    };
                    let discharge = day + chrono::Days::new(los);
                    let code = c.codes[rng.below(c.codes.len())];
                    let method = if c.emergency { "emergency" } else { "elective" };
                    let eth = ETHNIC[rng.pick(&ethnic_cdfs[ai][usize::from(c.covid)])].0;
                    sink.push(&[
                        Cell::S(&spell_id),
                        Cell::S(&patient),
                        Cell::D(day),
                        if discharge <= ctx.opts.to {
                            Cell::D(discharge)
                        } else {
                            Cell::Null
                        },
                        Cell::S(method),
                        Cell::S(code),
                        Cell::I(age),
                        Cell::S(sex),
                        if rng.f64() < 0.03 {
                            Cell::Null
                        } else {
                            Cell::S(eth)
                        },
                        Cell::S(&a.geo.lsoa),
                    ]);
                }
            }
            sink.maybe_flush().await?;
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

async fn gen_ccg(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    let bands: [(&str, u32, u32); 3] = [("0-17", 0, 17), ("18-64", 18, 64), ("65+", 65, 90)];
    // Per person per year, by band: GP consultations, ED, UTC, NHS 111.
    let gp = [3.5, 4.5, 9.0];
    let ed = [0.40, 0.30, 0.45];
    let utc = [0.18, 0.15, 0.10];
    let nhs111 = [0.45, 0.35, 0.40];
    let neighbourhoods: Vec<&str> = {
        let mut v: Vec<&str> = ctx
            .areas
            .iter()
            .map(|a| a.geo.neighbourhood.as_str())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        if week < ctx.opts.from {
            continue;
        }
        let (l0, l1) = (d(2020, 3, 23), d(2020, 5, 31));
        let (f2f, tel, video, online) = if week < l0 {
            (0.80, 0.15, 0.0, 0.05)
        } else if week <= d(2020, 6, 30) {
            (0.35, 0.52, 0.05, 0.08)
        } else {
            (0.45, 0.43, 0.04, 0.08)
        };
        let gp_f = if between(week, l0, l1) { 0.75 } else { 1.0 };
        let ed_f = if between(week, l0, l1) {
            0.55
        } else if between(week, l1, d(2020, 8, 31)) {
            0.85
        } else {
            1.0
        };
        let n111_f = if between(week, d(2020, 3, 2), d(2020, 4, 12)) {
            1.8
        } else {
            1.0
        };
        for a in ctx.areas {
            let ni = neighbourhoods
                .iter()
                .position(|n| *n == a.geo.neighbourhood)
                .unwrap_or(0);
            let practice = practice_code(
                10 * ni + 1 + a.geo.lsoa.bytes().map(u64::from).sum::<u64>() as usize % 5,
            );
            for (bi, (band, lo, hi)) in bands.iter().enumerate() {
                for (si, sex) in ["male", "female"].iter().enumerate() {
                    let people: f64 = (*lo..=*hi).map(|age| a.pop[si][age as usize]).sum();
                    let per_week = people * ctx.opts.scale / WEEKS_PER_YEAR;
                    let gp_w = per_week * gp[bi] * gp_f * season(week, 0.08);
                    let lambdas = [
                        ("gp_face_to_face", gp_w * f2f),
                        ("gp_telephone", gp_w * tel),
                        ("gp_video", gp_w * video),
                        ("gp_online", gp_w * online),
                        (
                            "ed",
                            per_week * ed[bi] * ed_f * a.dep(0.6) * season(week, 0.08),
                        ),
                        ("utc", per_week * utc[bi] * ed_f),
                        (
                            "nhs_111",
                            per_week * nhs111[bi] * n111_f * season(week, 0.15),
                        ),
                    ];
                    for (ty, lambda) in lambdas {
                        let n = rng.poisson(lambda);
                        if n == 0 {
                            continue;
                        }
                        sink.push(&[
                            Cell::D(week),
                            Cell::S(&practice),
                            Cell::S(&a.geo.lsoa),
                            Cell::S(band),
                            Cell::S(sex),
                            Cell::S(ty),
                            Cell::I(n as i64),
                        ]);
                    }
                }
            }
            sink.maybe_flush().await?;
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

/// Adult age bands of Citizens Advice (16+), with their population weights.
fn cab_band_cdf(a: &Area) -> (Vec<&'static str>, Vec<f64>) {
    let bands = [
        ("16-24", 16, 24),
        ("25-34", 25, 34),
        ("35-44", 35, 44),
        ("45-54", 45, 54),
        ("55-64", 55, 64),
        ("65-74", 65, 74),
        ("75+", 75, 90),
    ];
    (
        bands.iter().map(|b| b.0).collect(),
        cumulative(bands.iter().map(|b| a.persons(b.1, b.2))),
    )
}

async fn gen_cab(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    // Weekly contacts per 1,000 adults, before effects.
    let cats: [(&str, f64); 6] = [
        ("debt", 0.25),
        ("benefits", 0.30),
        ("employment_redundancy", 0.08),
        ("housing", 0.20),
        ("relationships", 0.06),
        ("food_bank_referral", 0.04),
    ];
    let mut seq = 0u64;
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        let covid_era = week >= lockdown1().0;
        let channel_cdf = if covid_era {
            cumulative([5.0, 65.0, 20.0, 10.0])
        } else {
            cumulative([50.0, 35.0, 10.0, 5.0])
        };
        for a in ctx.areas {
            let adults = a.persons(16, 90);
            let (bands, band_cdf) = cab_band_cdf(a);
            for (cat, rate) in cats {
                let f = match cat {
                    "housing" if week >= d(2020, 6, 1) => 1.4,
                    "employment_redundancy" if week >= d(2020, 6, 1) => {
                        1.0 + (weeks_from(week, d(2020, 6, 1)) / 18.0).min(1.0)
                    }
                    "benefits" if between(week, lockdown1().0, d(2020, 5, 31)) => 1.8,
                    "food_bank_referral" if between(week, lockdown1().0, d(2020, 12, 31)) => 2.0,
                    _ => 1.0,
                };
                let n = rng.poisson(adults / 1000.0 * rate * f * a.dep(0.8) * ctx.opts.scale);
                for _ in 0..n {
                    let Some(day) = ctx.day(week, rng) else {
                        continue;
                    };
                    seq += 1;
                    let contact = format!("CA{seq:010}");
                    let client = format!("CL-{}-{}", a.geo.lsoa, rng.below(400));
                    sink.push(&[
                        Cell::S(&contact),
                        Cell::S(&client),
                        Cell::D(day),
                        Cell::S(&a.geo.lsoa),
                        Cell::S(bands[rng.pick(&band_cdf)]),
                        Cell::S(if rng.f64() < 0.54 {
                            "female"
                        } else if rng.f64() < 0.97 {
                            "male"
                        } else {
                            "unknown"
                        }),
                        Cell::S(cat),
                        Cell::S(
                            ["face_to_face", "phone", "web_chat", "email"][rng.pick(&channel_cdf)],
                        ),
                    ]);
                }
            }
            sink.maybe_flush().await?;
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

async fn gen_police(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    // (category, weekly per 1,000 residents, deprivation strength, P(vulnerable))
    let cats: [(&str, f64, f64, f64); 6] = [
        ("domestic_abuse", 0.23, 1.0, 0.6),
        ("child_safeguarding", 0.07, 1.0, 0.9),
        ("asb", 0.40, 0.6, 0.15),
        ("violence", 0.35, 0.8, 0.15),
        ("burglary", 0.13, 0.0, 0.10),
        ("public_health_breach", 0.30, 0.5, 0.05),
    ];
    let mut seq = 0u64;
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        for a in ctx.areas {
            let people = a.persons(0, 90);
            for (cat, rate, dep, p_vul) in cats {
                let f = match cat {
                    "domestic_abuse" if between(week, d(2020, 3, 23), d(2020, 5, 31)) => 0.8,
                    "domestic_abuse" if between(week, d(2020, 6, 1), d(2020, 9, 30)) => 1.25,
                    "domestic_abuse" if week > d(2020, 9, 30) => 1.15,
                    "asb" if between(week, d(2020, 3, 23), d(2020, 6, 30)) => 1.6,
                    "burglary" if week >= d(2020, 3, 23) => 0.7,
                    "public_health_breach" => hub_intensity(week),
                    _ => 1.0,
                };
                let n = rng.poisson(people / 1000.0 * rate * f * a.dep(dep) * ctx.opts.scale);
                for _ in 0..n {
                    let Some(day) = ctx.day(week, rng) else {
                        continue;
                    };
                    seq += 1;
                    let id = format!("INC{seq:010}");
                    sink.push(&[
                        Cell::S(&id),
                        Cell::D(day),
                        Cell::S(&a.geo.lsoa),
                        Cell::S(cat),
                        Cell::B(rng.f64() < p_vul),
                    ]);
                }
            }
            sink.maybe_flush().await?;
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

async fn gen_hub(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    let bands: [(&str, u32, u32); 5] = [
        ("0-17", 0, 17),
        ("18-29", 18, 29),
        ("30-49", 30, 49),
        ("50-69", 50, 69),
        ("70+", 70, 90),
    ];
    // Weekly requests per 1,000 people of each band at peak intensity.
    let types: [(&str, [f64; 5], f64); 6] = [
        ("food", [0.05, 0.6, 0.8, 0.7, 0.4], 1.0),
        ("personal_shopping", [0.0, 0.03, 0.03, 0.15, 1.2], 0.2),
        ("prescriptions", [0.0, 0.02, 0.05, 0.15, 0.5], 0.2),
        ("befriending", [0.0, 0.02, 0.02, 0.05, 0.3], 0.0),
        ("financial_support", [0.0, 0.2, 0.2, 0.15, 0.05], 1.0),
        ("digital_access", [0.0, 0.03, 0.03, 0.05, 0.1], 0.5),
    ];
    let outcome_cdf = cumulative([70.0, 15.0, 3.0, 7.0, 5.0]);
    let outcomes = ["fulfilled", "referred", "declined", "no_contact", "open"];
    let mut seq = 0u64;
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        let h = hub_intensity(week);
        if h > 0.0 {
            for a in ctx.areas {
                for (bi, (band, lo, hi)) in bands.iter().enumerate() {
                    let people = a.persons(*lo, *hi);
                    for (ty, rates, dep) in types {
                        let n = rng
                            .poisson(people / 1000.0 * rates[bi] * h * a.dep(dep) * ctx.opts.scale);
                        for _ in 0..n {
                            let Some(day) = ctx.day(week, rng) else {
                                continue;
                            };
                            seq += 1;
                            let id = format!("HUB{seq:09}");
                            let shielded = rng.f64() < if *band == "70+" { 0.45 } else { 0.08 };
                            let outcome = if week > ctx.opts.to - chrono::Days::new(14) {
                                outcomes[rng.pick(&outcome_cdf)]
                            } else {
                                outcomes[rng.pick(&outcome_cdf[..4])]
                            };
                            sink.push(&[
                                Cell::S(&id),
                                Cell::D(day),
                                Cell::S(&a.geo.lsoa),
                                Cell::S(band),
                                Cell::S(ty),
                                Cell::B(shielded),
                                Cell::S(outcome),
                            ]);
                        }
                    }
                }
                sink.maybe_flush().await?;
            }
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

async fn gen_tracing(
    ctx: &Ctx<'_>,
    sink: &mut Sink<'_>,
    rng: &mut Rng,
    progress: &dyn Progress,
) -> Result<(), LakeError> {
    let outcomes = [
        "contact_made",
        "seeker_contact_by_phone",
        "no_contact",
        "in_hospital",
        "deceased",
        "referred_to_setting",
    ];
    let mut seq = 0u64;
    for (wi, &week) in ctx.weeks.iter().enumerate() {
        if week >= d(2020, 8, 3) {
            for a in ctx.areas {
                let people = a.persons(0, 90);
                // Cases per week per 1,000 at intensity 1; deprived areas are harder to reach.
                let n = rng.poisson(people / 1000.0 * 1.6 * covid(week, a.r) * ctx.opts.scale);
                let outcome_cdf =
                    cumulative([62.0 + 14.0 * a.r, 6.0, 20.0 - 10.0 * a.r, 2.0, 0.5, 5.5]);
                let age_cdf = cumulative((0..=90).map(|age| a.pop[0][age] + a.pop[1][age]));
                for _ in 0..n {
                    let Some(day) = ctx.day(week, rng) else {
                        continue;
                    };
                    seq += 1;
                    let id = format!("CT{seq:09}");
                    let age = rng.pick(&age_cdf) as i64;
                    sink.push(&[
                        Cell::S(&id),
                        Cell::D(day),
                        Cell::S(&a.geo.lsoa),
                        if rng.f64() < 0.05 {
                            Cell::Null
                        } else {
                            Cell::I(age)
                        },
                        Cell::S(outcomes[rng.pick(&outcome_cdf)]),
                    ]);
                }
                sink.maybe_flush().await?;
            }
        }
        progress.advance_to(wi as u64 + 1);
    }
    sink.flush().await
}

/// The datasets the demo generates.
pub const DEMO_DATASETS: [&str; 6] = [
    "admissions",
    "ccg_activity",
    "cab",
    "police",
    "community_hub",
    "contact_tracing",
];

/// Generates the demo lake. The lake must be initialised for `place` and have no data yet.
pub async fn generate(
    lake: &Lake,
    place: &PlaceSource,
    pseudonymiser: &Pseudonymiser,
    opts: &DemoOptions,
    progress: &dyn Progress,
) -> Result<DemoReport, LakeError> {
    if !(opts.scale > 0.0 && opts.scale.is_finite()) {
        return Err(LakeError::Config(format!(
            "--scale must be a positive number, not {}",
            opts.scale
        )));
    }
    let manifest = crate::reference::init_lake(lake, place).await?;
    for c in marmot_model::builtin_contracts()? {
        if let Some(t) = lake.load_table(&table_path(&c.name), None).await? {
            let rows = store::table_rows(&t, &c.name)?;
            if rows > 0 {
                return Err(LakeError::Lake(format!(
                    "the lake at {} already has data ({}: {rows} rows); generate the demo into an empty --lake",
                    lake.url(),
                    c.name
                )));
            }
        }
    }
    let areas = areas(place)?;
    let weeks = weeks(opts);
    let ctx = Ctx {
        areas: &areas,
        weeks: &weeks,
        opts,
    };
    let lsoas: std::collections::HashSet<String> = manifest.lsoas.iter().cloned().collect();
    let today = chrono::Utc::now().date_naive();
    let mut report = DemoReport {
        tables: Vec::new(),
        signals_path: SIGNALS_PATH.to_string(),
        population: areas.iter().map(|a| a.persons(0, 90) as i64).sum(),
    };
    // The demo generates the six partner feeds it was written for; shipped contracts for public
    // files read through a mapping (street_crime) get real files, not generated ones.
    let generated = marmot_model::builtin_contracts()?
        .into_iter()
        .filter(|c| DEMO_DATASETS.contains(&c.name.as_str()));
    for (k, contract) in generated.enumerate() {
        let ingest_id = crate::ingest::new_ingest_id();
        let tpath = table_path(&contract.name);
        let mut table = lake
            .open_or_create_table(&tpath, &contract.name, &curated_schema(&contract))
            .await?;
        let schema = input_schema(&contract);
        let map = ColumnMap::resolve(&contract, &schema, "demo generator")?;
        let partner = contract.default_partner.clone();
        let validator = Validator::new(
            &contract,
            map,
            &lsoas,
            &manifest.place_name,
            pseudonymiser,
            today,
            None,
            &partner,
            &ingest_id,
        )
        .without_duplicate_check();
        let writer =
            crate::ingest::curated_writer(lake, &contract, validator.schema(), &ingest_id)?;
        let mut sink = Sink {
            schema,
            cols: builders(&contract),
            validator,
            writer,
            rows: 0,
            next_row: 1,
        };
        // Each dataset has its own random stream, so adding one never changes the others.
        let mut rng = Rng::new(opts.seed ^ (0x9e37_79b9_u64.wrapping_mul(k as u64 + 1)));
        progress.begin(&format!("demo {}", contract.name), weeks.len() as u64);
        let res = match contract.name.as_str() {
            "admissions" => gen_admissions(&ctx, &mut sink, &mut rng, progress).await,
            "ccg_activity" => gen_ccg(&ctx, &mut sink, &mut rng, progress).await,
            "cab" => gen_cab(&ctx, &mut sink, &mut rng, progress).await,
            "police" => gen_police(&ctx, &mut sink, &mut rng, progress).await,
            "community_hub" => gen_hub(&ctx, &mut sink, &mut rng, progress).await,
            "contact_tracing" => gen_tracing(&ctx, &mut sink, &mut rng, progress).await,
            other => Err(LakeError::Internal(format!(
                "no demo generator for dataset {other}"
            ))),
        };
        progress.end();
        let Sink {
            writer,
            rows,
            validator,
            ..
        } = sink;
        if let Err(e) = res {
            writer.abort().await;
            return Err(e);
        }
        let date_range = validator.date_range;
        let (adds, _) = writer.finish().await?;
        let summary = IngestSummary {
            ingest_id: ingest_id.clone(),
            dataset: contract.name.clone(),
            partner,
            file: format!("demo generator (seed {}, scale {})", opts.seed, opts.scale),
            sha256: String::new(),
            bytes: 0,
            rows_read: rows,
            accepted: rows,
            rejected: 0,
            out_of_area: 0,
            suppressed_cells: 0,
            mapping: None,
            reasons: Default::default(),
            examples: Vec::new(),
            period: date_range.map(|(lo, hi)| {
                crate::ingest::Period::covering(
                    crate::validate::date_of(lo),
                    crate::validate::date_of(hi),
                )
            }),
            replaced_rows: 0,
            mode: crate::ingest::SubmissionMode::Append,
            added_rows: rows,
            updated_rows: 0,
            removed_rows: 0,
            dry_run: false,
            committed_at: Some(chrono::Utc::now().to_rfc3339()),
            raw_path: None,
            quarantine_path: None,
            ignored_columns: Vec::new(),
            user: "marmot demo".into(),
            started_at: chrono::Utc::now().to_rfc3339(),
            table_version: None,
            already_ingested: false,
        };
        let meta =
            serde_json::to_value(&summary).map_err(|e| LakeError::Internal(e.to_string()))?;
        let version =
            store::commit(&mut table, &contract.name, adds, Vec::new(), meta, None).await?;
        report.tables.push((contract.name.clone(), rows, version));
    }
    lake.put_json(SIGNALS_PATH, &planted_signals()).await?;
    Ok(report)
}

/// An ODS-shaped GP practice code (a letter and five digits) for the demo's
/// `n`th practice: `F84001`, `F84002`, ... as City and Hackney's real codes
/// run, rolling on to the next letter past `F99999` so that a place with
/// many neighbourhoods (Cheshire and Merseyside has hundreds) still gets
/// codes its own contract accepts.
fn practice_code(n: usize) -> String {
    let v = 84_000 + n;
    let letter = char::from(b'F' + (v / 100_000 % 20) as u8);
    format!("{letter}{:05}", v % 100_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn practice_codes_are_a_letter_and_five_digits_however_many_neighbourhoods() {
        assert_eq!(practice_code(1), "F84001");
        assert_eq!(practice_code(999), "F84999");
        assert_eq!(practice_code(2183), "F86183");
        assert_eq!(practice_code(16_000), "G00000");
        for n in [0, 1, 15_999, 16_000, 250_000] {
            let c = practice_code(n);
            let b = c.as_bytes();
            assert_eq!(b.len(), 6, "{c}");
            assert!(
                b[0].is_ascii_uppercase() && b[1..].iter().all(u8::is_ascii_digit),
                "{c}"
            );
        }
    }

    #[test]
    fn rng_is_deterministic_and_poisson_has_the_right_mean() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        for lambda in [0.3, 4.0, 55.0] {
            let n = 20_000;
            let mean = (0..n).map(|_| a.poisson(lambda) as f64).sum::<f64>() / n as f64;
            assert!(
                (mean - lambda).abs() < 4.0 * (lambda / n as f64).sqrt() + 0.01,
                "{lambda}: {mean}"
            );
        }
    }

    #[test]
    fn covid_admissions_take_the_lsoa_mix_weighted_by_the_planted_ratios() {
        let share = |cdf: &[f64], group: usize| {
            let total = cdf.last().copied().unwrap_or(1.0);
            let mut prev = 0.0;
            let mut s = 0.0;
            for ((code, _), c) in ETHNIC.iter().zip(cdf) {
                if ethnic_group_of(code) == group {
                    s += c - prev;
                }
                prev = *c;
            }
            s / total
        };
        // Half Black, half White residents.
        let mix = [0, 500, 0, 500, 0];
        let covid = ethnic_cdf(&mix, true);
        let other = ethnic_cdf(&mix, false);
        assert!((share(&covid, 1) / share(&covid, 3) - 2.5).abs() < 1e-9);
        assert!((share(&other, 1) / share(&other, 3) - 1.0).abs() < 1e-9);
        assert!((share(&covid, 5) - NOT_STATED).abs() < 1e-9);
        assert_eq!(
            share(&covid, 0),
            0.0,
            "no Asian residents, no Asian admissions"
        );
    }

    #[test]
    fn covid_second_wave_rises_first_in_deprived_areas() {
        let oct = d(2020, 10, 19);
        assert!(covid(oct, 0.05) > 1.3 * covid(oct, 0.95));
        assert!(covid(d(2020, 4, 6), 0.5) > 0.99);
        assert_eq!(covid(d(2019, 4, 8), 0.5), 0.0);
    }

    #[test]
    fn deprivation_multiplier_gives_a_twofold_gradient_between_extreme_fifths() {
        let area = |r: f64| Area {
            geo: LsoaGeo {
                lsoa: String::new(),
                lsoa_name: String::new(),
                ward_code: String::new(),
                ward_name: String::new(),
                neighbourhood: String::new(),
                locality_code: String::new(),
                locality: String::new(),
                lad_code: String::new(),
                lad_name: String::new(),
                imd_rank: 0,
                ethnic: [0; 5],
            },
            r,
            pop: [[0.0; 91]; 2],
        };
        let ratio = area(0.1).dep(1.0) / area(0.9).dep(1.0);
        assert!((ratio - 2.0).abs() < 0.01, "{ratio}");
    }
}
