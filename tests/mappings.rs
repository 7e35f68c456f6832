//! End-to-end tests of source mappings and datasets defined at run time (issue #12): a real
//! police.uk file goes in through the shipped `police-uk` mapping with every row accounted for
//! (checked against plain CSV arithmetic over the file), a mapping that cannot read a file
//! changes nothing and names its line, and a contract and mapping written at run time give a
//! new dataset, indicator and extract without a rebuild.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::http::Server;
use common::*;
use serde_json::Value;

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("../../tests/fixtures/real").join(name)
}

/// The City of London's LSOAs: the same six codes in 2011 and 2021 (ONS LSOA 2011 to 2021
/// lookup, E09000001; no change in the City).
const CITY: [&str; 6] = [
    "E01000001",
    "E01000002",
    "E01000003",
    "E01000005",
    "E01032739",
    "E01032740",
];

fn city_lake(dir: &tempfile::TempDir) -> PathBuf {
    let lake = lake_path(dir);
    let out = ok(marmot(&lake).args(["init", "--place", "city", "--lad", "E09000001"]));
    assert!(out.contains("6 LSOAs"), "{out}");
    lake
}

/// Plain CSV arithmetic over a police.uk file: (rows, rows without an LSOA, rows in other
/// places' LSOAs, rows per (LSOA, month) in the City, rows per (crime type) in the City).
struct PoliceCounts {
    rows: u64,
    no_lsoa: u64,
    elsewhere: u64,
    by_lsoa_month: BTreeMap<(String, String), u64>,
    by_type: BTreeMap<String, u64>,
}

/// SQL rows of `lsoa`, `month` and `n` as (LSOA, month) -> count.
fn lsoa_month_counts(rows: &[Value]) -> BTreeMap<(String, String), u64> {
    rows.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            ((s("lsoa"), s("month")), n(r, "n"))
        })
        .collect()
}

fn count_police_file(path: &Path) -> PoliceCounts {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let h = r.headers().expect("header").clone();
    let col = |name: &str| h.iter().position(|c| c == name).expect(name);
    let (lsoa, month, ty) = (col("LSOA code"), col("Month"), col("Crime type"));
    let mut c = PoliceCounts {
        rows: 0,
        no_lsoa: 0,
        elsewhere: 0,
        by_lsoa_month: BTreeMap::new(),
        by_type: BTreeMap::new(),
    };
    for rec in r.records() {
        let rec = rec.expect("record");
        c.rows += 1;
        let code = rec[lsoa].trim();
        if code.is_empty() {
            c.no_lsoa += 1;
        } else if !CITY.contains(&code) {
            c.elsewhere += 1;
        } else {
            *c.by_lsoa_month
                .entry((code.to_string(), format!("{}-01", &rec[month])))
                .or_default() += 1;
            *c.by_type.entry(rec[ty].to_string()).or_default() += 1;
        }
    }
    c
}

#[test]
fn police_uk_files_land_through_the_shipped_mapping_with_every_row_accounted_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = city_lake(&dir);
    let file = fixture("police_cityoflondon_2020.csv");
    let expect = count_police_file(&file);
    assert_eq!(expect.rows, 5925);

    let (code, v) = ingest_json(&lake, "street_crime", &file, &["--mapping", "police-uk"]);
    // Rows without an LSOA are rejected: exit status 3 says some rows were quarantined.
    assert_eq!(code, 3, "{v}");
    assert_eq!(n(&v, "rows_read"), expect.rows, "{v}");
    let accepted: u64 = expect.by_lsoa_month.values().sum();
    assert_eq!(n(&v, "accepted"), accepted, "{v}");
    assert_eq!(n(&v, "rejected"), expect.no_lsoa, "{v}");
    assert_eq!(n(&v, "out_of_area"), expect.elsewhere, "{v}");
    assert_eq!(
        n(&v, "rows_read"),
        n(&v, "accepted") + n(&v, "rejected") + n(&v, "out_of_area")
    );
    assert_eq!(v["reasons"]["missing value"], expect.no_lsoa, "{v}");
    assert_eq!(v["mapping"]["name"], "police-uk");
    assert_eq!(v["mapping"]["version"], "1");
    assert_eq!(n(&v["mapping"], "source_rows"), expect.rows);
    assert_eq!(
        v["period"]["from"], "2020-01-01",
        "twelve months of 2020: {v}"
    );
    assert_eq!(v["period"]["to"], "2020-12-31");

    // The quarantine file holds every row not in the table, with its reason: the rows without
    // an LSOA and the rows set aside as outside the City.
    let q = lake.join(v["quarantine_path"].as_str().expect("quarantine path"));
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let batches = read_parquet_dir_or_file(&q);
    for row in &batches {
        *reasons.entry(row["kind"].clone()).or_default() += 1;
    }
    assert_eq!(
        reasons.get("missing value"),
        Some(&expect.no_lsoa),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.get("outside the place"),
        Some(&expect.elsewhere),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.values().sum::<u64>(),
        expect.no_lsoa + expect.elsewhere
    );

    // What the table holds, by LSOA as sent and month, is what the file says.
    let rows = sql(
        &lake,
        "SELECT coalesce(_lsoa_as_sent, lsoa_code) AS lsoa, CAST(month AS VARCHAR) AS month, \
         count(*) AS n FROM street_crime GROUP BY 1, 2",
    );
    let got = lsoa_month_counts(&rows);
    assert_eq!(got, expect.by_lsoa_month);
    let rows = sql(
        &lake,
        "SELECT crime_type, count(*) AS n FROM street_crime GROUP BY 1",
    );
    let got: BTreeMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r["crime_type"].as_str().unwrap_or_default().to_string(),
                n(r, "n"),
            )
        })
        .collect();
    assert_eq!(got, expect.by_type);
    assert_eq!(
        expect.by_type.len(),
        14,
        "all fourteen police.uk crime types"
    );

    // The ward-level indicator: violence and sexual offences per 1,000 residents over the 12
    // months to December 2020, with Byar's 95% interval computed here from its own formula.
    let vso: BTreeMap<String, u64> = {
        let mut r = csv::Reader::from_path(&file).expect("csv");
        let mut m = BTreeMap::new();
        for rec in r.records() {
            let rec = rec.expect("record");
            if CITY.contains(&rec[7].trim()) && &rec[9] == "Violence and sexual offences" {
                *m.entry(rec[7].to_string()).or_default() += 1;
            }
        }
        m
    };
    let ward_of: BTreeMap<String, String> =
        sql(&lake, "SELECT lsoa_code, ward_code FROM geography")
            .iter()
            .map(|r| {
                (
                    r["lsoa_code"].as_str().unwrap_or_default().to_string(),
                    r["ward_code"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
    let mut by_ward: BTreeMap<String, u64> = BTreeMap::new();
    for (lsoa, k) in &vso {
        *by_ward.entry(ward_of[lsoa].clone()).or_default() += k;
    }
    let out = ok(marmot(&lake).args([
        "indicator",
        "street_crime_violence",
        "--level",
        "ward",
        "--period",
        "R12-2020-12",
        "--format",
        "json",
    ]));
    let wards: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(wards.len(), by_ward.len(), "{out}");
    let z = 1.959_963_984_540_054_f64;
    for w in &wards {
        let code = w["area_code"].as_str().unwrap_or_default();
        let x = w["numerator"].as_f64().expect("numerator");
        let pop = w["denominator"].as_f64().expect("denominator");
        assert_eq!(x, by_ward[code] as f64, "{code}: {w}");
        let rate = |v: f64| v / pop * 1000.0;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b.abs().max(1e-9);
        assert!(close(w["value"].as_f64().expect("value"), rate(x)), "{w}");
        if x >= 10.0 {
            let lo = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * x.sqrt())).powi(3);
            let x1 = x + 1.0;
            let hi = x1 * (1.0 - 1.0 / (9.0 * x1) + z / (3.0 * x1.sqrt())).powi(3);
            assert!(
                close(w["lower_95"].as_f64().expect("lo"), rate(lo)),
                "Byar's lower: {w}"
            );
            assert!(
                close(w["upper_95"].as_f64().expect("hi"), rate(hi)),
                "Byar's upper: {w}"
            );
        }
    }

    // Monthly data answers months and longer, not weeks: a weekly request is refused, with why.
    let (code, _, err) = run(marmot(&lake).args([
        "indicator",
        "street_crime_violence",
        "--level",
        "place",
        "--period",
        "2020-W10",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("dated by month"), "{err}");

    // The same bytes again: nothing to do.
    let (code, again) = ingest_json(&lake, "street_crime", &file, &["--mapping", "police-uk"]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["already_ingested"], true, "{again}");

    // The history shows which mapping read which file, with the ingest id.
    let hist = ok(marmot(&lake).args(["datasets", "history", "street_crime"]));
    assert!(hist.contains("police-uk v1"), "{hist}");
    assert!(
        hist.contains(v["ingest_id"].as_str().expect("id")),
        "{hist}"
    );
    assert!(hist.contains("police_cityoflondon_2020.csv"), "{hist}");
    let maps = ok(marmot(&lake).args(["datasets", "mappings"]));
    assert!(
        maps.contains("police-uk") && maps.contains("street_crime"),
        "{maps}"
    );
}

/// The rows of a quarantine Parquet file as (column -> text) maps, read with `marmot sql`'s
/// engine-free path: DataFusion would do, but a plain Parquet reader is independent.
#[test]
fn a_police_uk_file_with_lsoa_2021_codes_lands_beside_a_2011_coded_one() {
    // police.uk moved to LSOA 2021 codes in 2023: the City's April 2024 file names 2021-only
    // LSOAs in Hackney, Newham, Southwark and Tower Hamlets (E01035643, E01034213, E01033884,
    // E01035687, E01035697), which no 2011 file can.
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = city_lake(&dir);
    let file = fixture("police_cityoflondon_2024-04_raw.csv");
    let expect = count_police_file(&file);
    assert_eq!((expect.rows, expect.no_lsoa), (926, 95));
    let (code, v) = ingest_json(&lake, "street_crime", &file, &["--mapping", "police-uk"]);
    assert_eq!(code, 3, "{v}");
    let accepted: u64 = expect.by_lsoa_month.values().sum();
    assert_eq!(
        (
            n(&v, "rows_read"),
            n(&v, "accepted"),
            n(&v, "rejected"),
            n(&v, "out_of_area")
        ),
        (expect.rows, accepted, expect.no_lsoa, expect.elsewhere),
        "{v}"
    );
    // The 2021-only codes outside the City are real LSOAs elsewhere, set aside, not unknown.
    let q = lake.join(v["quarantine_path"].as_str().expect("quarantine path"));
    let set_aside = read_parquet_dir_or_file(&q);
    assert!(set_aside.iter().all(|r| r["kind"] != "unknown LSOA"));
    let reasons: Vec<&String> = set_aside.iter().map(|r| &r["reason"]).collect();
    for code in [
        "E01035643",
        "E01034213",
        "E01033884",
        "E01035687",
        "E01035697",
    ] {
        assert!(
            reasons
                .iter()
                .any(|r| r.contains(code) && r.contains("outside")),
            "{code}: {reasons:?}"
        );
    }
    // Nothing was converted: the codes are the lake's own.
    let converted = sql_f64(
        &lake,
        "SELECT count(*) FROM street_crime WHERE _lsoa_as_sent IS NOT NULL",
    );
    assert_eq!(converted, 0.0);

    // The 2011-coded year 2020 goes into the same table, and each month is as its file says.
    let older = fixture("police_cityoflondon_2020.csv");
    let expect_2020 = count_police_file(&older);
    ingest_json(&lake, "street_crime", &older, &["--mapping", "police-uk"]);
    let got = lsoa_month_counts(&sql(
        &lake,
        "SELECT lsoa_code AS lsoa, CAST(month AS VARCHAR) AS month, count(*) AS n \
         FROM street_crime GROUP BY 1, 2",
    ));
    let mut want = expect_2020.by_lsoa_month.clone();
    want.extend(expect.by_lsoa_month.clone());
    assert_eq!(got, want);
}

fn read_parquet_dir_or_file(path: &Path) -> Vec<BTreeMap<String, String>> {
    use arrow::array::{Array, AsArray};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut out = Vec::new();
    for b in reader {
        let b = b.expect("batch");
        let schema = b.schema();
        for r in 0..b.num_rows() {
            let mut row = BTreeMap::new();
            for (i, f) in schema.fields().iter().enumerate() {
                let c = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Utf8)
                    .expect("cast");
                let s = c.as_string::<i32>();
                row.insert(
                    f.name().clone(),
                    if s.is_valid(r) {
                        s.value(r).to_string()
                    } else {
                        String::new()
                    },
                );
            }
            out.push(row);
        }
    }
    out
}

#[test]
fn a_mapping_that_cannot_read_a_file_names_its_line_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = city_lake(&dir);
    // The January file, byte for byte (CRLF), with its LSOA column renamed.
    let raw = std::fs::read_to_string(fixture("police_cityoflondon_2020-01_raw.csv")).expect("raw");
    assert!(
        raw.contains("\r\n"),
        "the raw file keeps police.uk's CRLF line ends"
    );
    let broken = dir.path().join("renamed.csv");
    std::fs::write(&broken, raw.replacen("LSOA code", "LSOA", 1)).expect("write");
    let (code, v) = ingest_json(&lake, "street_crime", &broken, &["--mapping", "police-uk"]);
    assert_ne!(code, 0);
    let msg = v["error"].as_str().unwrap_or_default();
    let mapping =
        std::fs::read_to_string(manifest_dir().join("../../data/mappings/police-uk.toml"))
            .expect("mapping");
    let line = mapping
        .lines()
        .position(|l| l.contains("\"LSOA code\""))
        .expect("the mapping names the column")
        + 1;
    assert!(
        msg.contains(&format!("mapping police-uk (version 1), line {line}"))
            && msg.contains("no column 'LSOA code'")
            && msg.contains("renamed.csv"),
        "{msg}"
    );
    let hist = ok(marmot(&lake).args(["datasets", "history", "street_crime"]));
    assert!(hist.contains("no data yet"), "{hist}");
    assert!(
        !lake.join("raw/street_crime").exists(),
        "nothing of the failed ingest stays"
    );

    // The raw January file itself goes in (CRLF and all).
    let (_, v) = ingest_json(
        &lake,
        "street_crime",
        &fixture("police_cityoflondon_2020-01_raw.csv"),
        &["--mapping", "police-uk"],
    );
    let expect = count_police_file(&fixture("police_cityoflondon_2020-01_raw.csv"));
    assert_eq!(expect.rows, 797);
    assert_eq!(
        (
            n(&v, "rows_read"),
            n(&v, "accepted"),
            n(&v, "rejected"),
            n(&v, "out_of_area")
        ),
        (
            expect.rows,
            expect.by_lsoa_month.values().sum::<u64>(),
            expect.no_lsoa,
            expect.elsewhere
        ),
        "{v}"
    );
    // A mapping for another dataset is refused before anything is read.
    let (code, v) = ingest_json(&lake, "police", &broken, &["--mapping", "police-uk"]);
    assert_ne!(code, 0);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("produces street_crime rows"),
        "{v}"
    );
}

const FOOD_CONTRACT: &str = r#"
name = "food_parcels"
title = "Food parcels"
description = "Food parcels handed out, per week, LSOA of the household and household type, from a community hub's own spreadsheet."
default_partner = "hub"
date_column = "week_start"
geography_column = "lsoa_code"
precision = "week"
count_column = "parcels"

[[columns]]
name = "week_start"
type = "date"
required = true
min = "2015-01-01"
max = "today"
description = "Monday of the week."

[[columns]]
name = "lsoa_code"
type = "utf8"
required = true
format = "lsoa"
description = "LSOA of the household."

[[columns]]
name = "household_type"
type = "utf8"
required = true
allowed = ["single", "family", "older"]
description = "Household type."

[[columns]]
name = "parcels"
type = "int64"
required = true
min = 0
suppressed = ["*", "<5", "-99"]
description = "Parcels handed out (the hub writes * or <5 for small numbers)."
"#;

const FOOD_MAPPING: &str = r#"
name = "hub-sheet"
version = "3"
dataset = "food_parcels"
title = "The hub's weekly sheet"
description = "Semicolon-separated, a title line, UK dates."
sql = """
SELECT "Week commencing" AS week_start,
       "LSOA 2021" AS lsoa_code,
       lower("Household") AS household_type,
       "Parcels given" AS parcels
FROM input
"""

[reader]
delimiter = ";"
skip_lines = 1

[date_formats]
week_start = ["%d/%m/%Y"]
"#;

const FOOD_INDICATOR: &str = r#"/*
id = "food_parcels_rate"
title = "Food parcels"
definition = "Food parcels handed out per 1,000 residents."
source = "food_parcels"
measure = "crude_rate"
multiplier = 1000
polarity = "no_judgement"
grain = "month"
[denominator]
kind = "population"
*/
SELECT lsoa_code, week_start AS event_date, parcels AS numerator FROM food_parcels
"#;

#[test]
fn a_contract_and_mapping_added_at_run_time_give_a_dataset_indicator_and_extract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = city_lake(&dir);
    let own = dir.path().join("own");
    // The analyst's own queries directory: one indicator, no trigger signals.
    std::fs::create_dir_all(own.join("queries/indicators")).expect("dirs");
    std::fs::create_dir_all(own.join("queries/triggers")).expect("dirs");
    let contract = own.join("food_parcels.toml");
    let mapping = own.join("hub-sheet.toml");
    std::fs::write(&contract, FOOD_CONTRACT).expect("write");
    std::fs::write(&mapping, FOOD_MAPPING).expect("write");

    // A broken contract is refused with what is wrong, and nothing is added.
    let bad = own.join("bad.toml");
    std::fs::write(
        &bad,
        FOOD_CONTRACT.replace(
            "count_column = \"parcels\"",
            "count_column = \"household_type\"",
        ),
    )
    .expect("write");
    let (code, _, err) = run(marmot(&lake).args(["datasets", "add"]).arg(&bad));
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.toml") && err.contains("count_column 'household_type'"),
        "{err}"
    );
    // A mapping for a dataset the lake does not know yet is refused too.
    let (code, _, err) = run(marmot(&lake).args(["datasets", "add"]).arg(&mapping));
    assert_ne!(code, 0);
    assert!(err.contains("food_parcels"), "{err}");

    let out = ok(marmot(&lake).args(["datasets", "add"]).arg(&contract));
    assert!(out.contains("added dataset food_parcels"), "{out}");
    let out = ok(marmot(&lake).args(["datasets", "add"]).arg(&mapping));
    assert!(out.contains("added mapping hub-sheet version 3"), "{out}");
    let list = ok(marmot(&lake).arg("datasets"));
    assert!(list.contains("food_parcels (lake)"), "{list}");

    // The hub's own file: a title line, semicolons, UK dates, capitalised categories.
    let mut sheet =
        String::from("Hub weekly return\nWeek commencing;LSOA 2021;Household;Parcels given\n");
    let mut expect_june = 0u64;
    let mut rows = 0u64;
    for (k, day) in [
        "01/06/2020",
        "08/06/2020",
        "15/06/2020",
        "22/06/2020",
        "06/07/2020",
    ]
    .iter()
    .enumerate()
    {
        for (j, lsoa) in CITY.iter().enumerate() {
            let parcels = 3 + (k * 7 + j * 5) as u64 % 11;
            let kind = ["Single", "Family", "Older"][(k + j) % 3];
            sheet.push_str(&format!("{day};{lsoa};{kind};{parcels}\n"));
            rows += 1;
            if day.ends_with("/06/2020") {
                expect_june += parcels;
            }
        }
    }
    // One row a Wednesday (not a week start) and one in another authority's LSOA (Hackney):
    // rejected, as the contract does not set such rows aside.
    sheet.push_str("03/06/2020;E01000001;Single;4\n");
    sheet.push_str("08/06/2020;E01001714;Family;2\n");
    // Two small numbers the hub suppressed: accepted, stored empty and flagged, not zero.
    sheet.push_str("13/07/2020;E01000002;Single;*\n");
    sheet.push_str("13/07/2020;E01000003;Older;<5\n");
    let file = own.join("hub_2020.csv");
    std::fs::write(&file, &sheet).expect("write");
    let (code, v) = ingest_json(&lake, "food_parcels", &file, &["--mapping", "hub-sheet"]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (
            n(&v, "rows_read"),
            n(&v, "accepted"),
            n(&v, "rejected"),
            n(&v, "out_of_area")
        ),
        (rows + 4, rows + 2, 2, 0),
        "{v}"
    );
    assert_eq!(n(&v, "suppressed_cells"), 2, "{v}");
    let flagged = sql(
        &lake,
        "SELECT lsoa_code, parcels, parcels_suppressed FROM food_parcels WHERE week_start = DATE '2020-07-13' ORDER BY 1",
    );
    assert_eq!(flagged.len(), 2, "{flagged:?}");
    for r in &flagged {
        assert!(r["parcels"].is_null(), "{r}");
        assert_eq!(r["parcels_suppressed"], true, "{r}");
    }
    assert_eq!(v["reasons"]["date not a period start"], 1, "{v}");
    assert_eq!(v["reasons"]["outside the place"], 1, "{v}");
    assert_eq!(v["mapping"]["version"], "3");

    // An indicator over it, written at run time: the numerator sums the count column.
    let queries = own.join("queries");
    std::fs::write(
        queries.join("indicators/food_parcels_rate.sql"),
        FOOD_INDICATOR,
    )
    .expect("write");
    let out = ok(marmot(&lake).arg("--queries").arg(&queries).args([
        "indicator",
        "food_parcels_rate",
        "--level",
        "place",
        "--period",
        "2020-06",
        "--format",
        "json",
    ]));
    let rows_json: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(rows_json.len(), 1, "{out}");
    assert_eq!(
        rows_json[0]["numerator"].as_f64(),
        Some(expect_june as f64),
        "{out}"
    );
    assert!(rows_json[0]["lower_95"].as_f64().is_some(), "{out}");

    // And a partner's extract of the new dataset, over HTTP, with its counts summed and small
    // numbers suppressed.
    let s = Server::start(&lake, &["--queries", queries.to_str().expect("utf8")]);
    let r = s.get(
        Some("partner"),
        "/api/v1/extracts/datasets/food_parcels.csv?period=2020-06",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut csv = csv::Reader::from_reader(r.body.as_slice());
    let h = csv.headers().expect("header").clone();
    let col = |name: &str| h.iter().position(|c| c == name).expect(name);
    let (level, count) = (col("level"), col("count"));
    let mut place_total = None;
    for rec in csv.records() {
        let rec = rec.expect("record");
        if let Ok(x) = rec[count].parse::<f64>() {
            assert!(x == 0.0 || x >= 8.0, "a small count was published: {x}");
        }
        if &rec[level] == "place" {
            place_total = rec[count].parse::<f64>().ok();
        }
    }
    assert_eq!(place_total, Some(expect_june as f64));
    let r = s.get(Some("analyst"), "/api/v1/indicators");
    assert!(r.text().contains("food_parcels_rate"), "{}", r.text());

    // The SQL endpoint guards the new dataset like a shipped one: no row-level records, no
    // small groups (K = 8), whatever an analyst writes.
    let q = |sql: &str| {
        s.post_json(
            Some("analyst"),
            "/api/v1/sql",
            &serde_json::json!({ "sql": sql }),
        )
    };
    assert_eq!(q("SELECT * FROM food_parcels").code(), "row_level_data");
    assert_eq!(
        q("SELECT lsoa_code, parcels FROM food_parcels WHERE parcels < 5").code(),
        "row_level_data"
    );
    let r = q(
        "SELECT lsoa_code, household_type, sum(parcels) AS n FROM food_parcels \
         WHERE week_start = DATE '2020-06-01' GROUP BY 1, 2",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    for row in v["rows"].as_array().expect("rows") {
        let x = row["n"].as_f64().unwrap_or_else(|| panic!("{row}"));
        assert!(x >= 8.0, "a small group came back: {row}");
    }
    // That week's cells are 3, 8, 13, 7, 12 and 6 parcels: at least the three small ones are
    // withheld.
    assert!(v["withheld_groups"].as_u64().expect("withheld") >= 3, "{v}");

    // An upload over HTTP names its mapping as the CLI does: police.uk's own January file.
    let body = std::fs::read(fixture("police_cityoflondon_2020-01_raw.csv")).expect("january file");
    let expect = count_police_file(&fixture("police_cityoflondon_2020-01_raw.csv"));
    let r = s.send(
        "POST",
        Some("analyst"),
        "/api/v1/ingest/street_crime?mapping=police-uk&filename=2020-01-city-of-london-street.csv",
        &[],
        &body,
    );
    assert_eq!(r.status, 202, "{}", r.text());
    let j = r.json();
    assert_eq!(j["mapping"], "police-uk@1", "{j}");
    assert_eq!(
        (n(&j, "rows_read"), n(&j, "rejected"), n(&j, "out_of_area")),
        (expect.rows, expect.no_lsoa, expect.elsewhere),
        "{j}"
    );
    // A mapping the lake does not know is refused, naming the ones it does.
    let r = s.send(
        "POST",
        Some("analyst"),
        "/api/v1/ingest/street_crime?mapping=police-uk-v9&filename=x.csv",
        &[],
        &body,
    );
    assert!(
        r.status >= 400 && r.status < 500,
        "{}: {}",
        r.status,
        r.text()
    );
    assert!(r.text().contains("police-uk"), "{}", r.text());
}

#[test]
fn the_monthly_asb_signal_runs_on_police_uk_data_and_a_weekly_signal_over_it_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = city_lake(&dir);
    let file = fixture("police_cityoflondon_2020.csv");
    ingest_json(&lake, "street_crime", &file, &["--mapping", "police-uk"]);
    // Anti-social behaviour in the City per month, from the file itself.
    let mut asb = [0.0f64; 12];
    let mut r = csv::Reader::from_path(&file).expect("csv");
    for rec in r.records() {
        let rec = rec.expect("record");
        if CITY.contains(&rec[7].trim()) && &rec[9] == "Anti-social behaviour" {
            let m: usize = rec[1][5..7].parse().expect("month");
            asb[m - 1] += 1.0;
        }
    }
    let out = ok(marmot(&lake).args([
        "triggers",
        "monthly",
        "--signal",
        "street_crime_asb",
        "--format",
        "json",
    ]));
    let v: Value = serde_json::from_str(out.trim()).expect("json");
    let r = &v["street_crime_asb"];
    assert_eq!(
        r["months"],
        serde_json::json!(["2020-01", "2020-12"]),
        "{r}"
    );
    let evals = r["evaluations"].as_array().expect("evaluations");
    // EARS C1 (Hutwagner et al. 2003, as R surveillance's earsC): the mean and sample standard
    // deviation of the 7 months before, threshold mean + qnorm(0.999) x sd.
    let z = 3.090_232_306_167_813_f64;
    let mut judged = 0;
    for e in evals
        .iter()
        .filter(|e| e["level"] == "place" && e["method"] == "ears-c1")
    {
        let m: usize = e["month"].as_str().expect("month")[5..7]
            .parse()
            .expect("m");
        let t = m - 1;
        assert_eq!(e["observed"].as_f64(), Some(asb[t]), "{e}");
        let base = &asb[t - 7..t];
        let mean = base.iter().sum::<f64>() / 7.0;
        let sd = (base.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 6.0).sqrt();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(
            close(e["expected"].as_f64().expect("expected"), mean),
            "{e}"
        );
        assert!(
            close(e["upper"].as_f64().expect("upper"), mean + z * sd),
            "{e}"
        );
        assert_eq!(e["alarm"].as_bool(), Some(asb[t] > mean + z * sd), "{e}");
        judged += 1;
    }
    assert_eq!(
        judged, 5,
        "August to December: the first months with 7 months before"
    );
    assert!(
        evals.iter().any(|e| e["level"] == "ward"),
        "ward series are judged too"
    );
    // Farrington flexible needs five years of monthly history: it says so, it does not guess.
    let not_run = r["not_run"].as_array().expect("not_run");
    assert!(
        not_run.iter().any(|n| n["method"] == "farrington-flexible"
            && n["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("the data has 12")),
        "{r}"
    );

    // A weekly signal over monthly data is refused, with the reason.
    let queries = dir.path().join("queries");
    std::fs::create_dir_all(queries.join("triggers")).expect("dirs");
    std::fs::create_dir_all(queries.join("indicators")).expect("dirs");
    std::fs::write(
        queries.join("triggers/asb_weekly.sql"),
        "/*\nid = \"asb_weekly\"\ntitle = \"ASB weekly\"\ndataset = \"street_crime\"\n\
         levels = [\"place\"]\nmethods = [\"ears-c1\"]\ndirection = \"up\"\n*/\n\
         SELECT lsoa_code, month AS event_date, 1 AS numerator FROM street_crime",
    )
    .expect("write");
    let (code, _, err) = run(marmot(&lake)
        .arg("--queries")
        .arg(&queries)
        .args(["triggers", "run", "--week", "2020-W42"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("asb_weekly") && err.contains("dated by month"),
        "{err}"
    );
}

/// Plain CSV arithmetic over the GP appointments file: rows per sub-ICB (ONS code), and for
/// one sub-ICB appointments per (month, status) and per (month, mode), a blank being the
/// publication's "Unknown".
struct GpCounts {
    rows_by_sub_icb: BTreeMap<String, u64>,
    by_month_status: BTreeMap<(String, String), u64>,
    by_month_mode: BTreeMap<(String, String), u64>,
}

fn count_gp_file(path: &Path, sub_icb: &str) -> GpCounts {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let h = r.headers().expect("header").clone();
    let col = |name: &str| h.iter().position(|c| c == name).expect(name);
    let (code, month, status, mode, count) = (
        col("sub_icb_location_ons_code"),
        col("appointment_month"),
        col("appt_status"),
        col("appt_mode"),
        col("count_of_appointments"),
    );
    let mut c = GpCounts {
        rows_by_sub_icb: BTreeMap::new(),
        by_month_status: BTreeMap::new(),
        by_month_mode: BTreeMap::new(),
    };
    let known = |v: &str| {
        if v.is_empty() {
            "Unknown".to_string()
        } else {
            v.to_string()
        }
    };
    for rec in r.records() {
        let rec = rec.expect("record");
        *c.rows_by_sub_icb.entry(rec[code].to_string()).or_default() += 1;
        if &rec[code] != sub_icb {
            continue;
        }
        let k: u64 = rec[count].parse().expect("count");
        let m = rec[month].to_string();
        *c.by_month_status
            .entry((m.clone(), known(&rec[status])))
            .or_default() += k;
        *c.by_month_mode.entry((m, known(&rec[mode]))).or_default() += k;
    }
    c
}

/// Wilson score interval (Newcombe 1998, method 3), written out here as the reference.
fn wilson(x: f64, n: f64, z: f64) -> (f64, f64) {
    let p = x / n;
    let centre = p + z * z / (2.0 * n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    let d = 1.0 + z * z / n;
    ((centre - half) / d, (centre + half) / d)
}

#[test]
fn nhs_gp_appointments_by_sub_icb_go_in_with_every_row_accounted_for_and_give_indicators_at_that_level()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    ok(marmot(&lake).args(["init", "--place", "southend-on-sea"]));
    // Southend-on-Sea is sub-ICB 99G (E38000168) exactly: the lake's lookup says so.
    let sub = sql(
        &lake,
        "SELECT sub_icb_code, sub_icb_nhs_code, coterminous FROM sub_icb",
    );
    assert_eq!(sub.len(), 1, "{sub:?}");
    assert_eq!(sub[0]["sub_icb_code"], "E38000168");
    assert_eq!(sub[0]["sub_icb_nhs_code"], "99G");
    assert_eq!(sub[0]["coterminous"], true);

    let file = fixture("gp_appointments_subicb_A3A8R_00X_99G_2025-04_to_2025-09.csv");
    let expect = count_gp_file(&file, "E38000168");
    let rows: u64 = expect.rows_by_sub_icb.values().sum();
    assert_eq!(rows, 3965);
    let (code, v) = ingest_json(
        &lake,
        "gp_appointments",
        &file,
        &["--mapping", "nhs-gp-appointments"],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(n(&v, "rows_read"), rows, "{v}");
    assert_eq!(
        n(&v, "accepted"),
        expect.rows_by_sub_icb["E38000168"],
        "{v}"
    );
    assert_eq!(n(&v, "rejected"), 0, "{v}");
    // North East London and Chorley and South Ribble do not overlap Southend: set aside.
    assert_eq!(
        n(&v, "out_of_area"),
        expect.rows_by_sub_icb["E38000255"] + expect.rows_by_sub_icb["E38000034"],
        "{v}"
    );
    assert_eq!(v["mapping"]["name"], "nhs-gp-appointments");
    let q = lake.join(v["quarantine_path"].as_str().expect("quarantine path"));
    let set_aside = read_parquet_dir_or_file(&q);
    assert_eq!(set_aside.len() as u64, n(&v, "out_of_area"));
    assert!(set_aside.iter().all(|r| r["kind"] == "outside the place"));

    // The table's appointments by month and status, and by month and mode, are the file's.
    let table = |by: &str| -> BTreeMap<(String, String), u64> {
        sql(
            &lake,
            &format!(
                "SELECT CAST(appointment_month AS VARCHAR) AS m, {by} AS k, \
                 sum(appointments) AS n FROM gp_appointments GROUP BY 1, 2"
            ),
        )
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            ((s("m"), s("k")), n(r, "n"))
        })
        .collect()
    };
    assert_eq!(table("appt_status"), expect.by_month_status);
    assert_eq!(table("appt_mode"), expect.by_month_mode);
    assert_eq!(
        expect.by_month_status.len(),
        6 * 3,
        "six months, three statuses"
    );

    // The indicators are at the level the data has: the sub-ICB, month by month.
    ok(marmot(&lake).args(["cube"]));
    let cube = sql(
        &lake,
        "SELECT indicator_id, level, area_code, area_name, period, numerator, denominator, \
         value, lower_95, upper_95 FROM indicator_values \
         WHERE indicator_id LIKE 'gp_appointments_%' ORDER BY 1, 5",
    );
    assert!(
        cube.iter()
            .all(|r| r["level"] == "sub_icb" && r["area_code"] == "E38000168")
    );
    let june = |id: &str| {
        cube.iter()
            .find(|r| r["indicator_id"] == id && r["period"] == "2025-06")
            .unwrap_or_else(|| panic!("{id} 2025-06 in {cube:?}"))
            .clone()
    };
    let s = |st: &str| expect.by_month_status[&("2025-06-01".to_string(), st.to_string())] as f64;
    let (dna, attended) = (s("DNA"), s("Attended"));
    let r = june("gp_appointments_dna");
    assert_eq!(r["numerator"].as_f64(), Some(dna));
    assert_eq!(r["denominator"].as_f64(), Some(dna + attended));
    let (lo, hi) = wilson(dna, dna + attended, 1.959_963_984_540_054);
    let close = |a: &Value, b: f64| (a.as_f64().expect("number") - b).abs() < 1e-9;
    assert!(close(&r["value"], 100.0 * dna / (dna + attended)), "{r}");
    assert!(
        close(&r["lower_95"], 100.0 * lo) && close(&r["upper_95"], 100.0 * hi),
        "{r}"
    );
    let m = |md: &str| expect.by_month_mode[&("2025-06-01".to_string(), md.to_string())] as f64;
    let remote = m("Telephone") + m("Video/Online");
    let known = remote + m("Face-to-Face") + m("Home Visit");
    let r = june("gp_appointments_remote");
    assert_eq!(r["numerator"].as_f64(), Some(remote));
    assert_eq!(r["denominator"].as_f64(), Some(known));
    // A quarter is the sum of its months.
    let q1 = cube
        .iter()
        .find(|r| r["indicator_id"] == "gp_appointments_dna" && r["period"] == "2025-Q2")
        .expect("2025-Q2");
    let quarter: f64 = ["2025-04-01", "2025-05-01", "2025-06-01"]
        .iter()
        .map(|mo| expect.by_month_status[&(mo.to_string(), "DNA".to_string())] as f64)
        .sum();
    assert_eq!(q1["numerator"].as_f64(), Some(quarter), "{q1}");

    // Served at that level; the place's levels are refused with the reason, and so is the
    // sub-ICB level for an indicator counted by LSOA. No ward-level extract of sub-ICB data.
    let srv = Server::start(&lake, &[]);
    let r = srv.get(
        Some("partner"),
        "/api/v1/indicators/gp_appointments_dna/values?level=sub_icb&period=2025-06",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = r.json()["rows"].as_array().expect("rows").clone();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["numerator"].as_f64(), Some(dna));
    // One sub-ICB by its code; one the data does not have is a 404 naming those it has.
    let r = srv.get(
        Some("partner"),
        "/api/v1/indicators/gp_appointments_dna/values?level=sub_icb&period=2025-06&area=E38000168",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["rows"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.text()
    );
    let r = srv.get(
        Some("partner"),
        "/api/v1/indicators/gp_appointments_dna/values?level=sub_icb&period=2025-06&area=E38000255",
    );
    assert_eq!(
        (r.status, r.code()),
        (404, "unknown_area".to_string()),
        "{}",
        r.text()
    );
    assert!(r.text().contains("E38000168"), "{}", r.text());
    let r = srv.get(
        Some("partner"),
        "/api/v1/indicators/gp_appointments_dna/values?level=ward&period=2025-06",
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_level".to_string()),
        "{}",
        r.text()
    );
    assert!(r.text().contains("level=sub_icb"), "{}", r.text());
    let r = srv.get(
        Some("partner"),
        "/api/v1/indicators/emergency_admissions/values?level=sub_icb",
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "bad_level".to_string()),
        "{}",
        r.text()
    );
    let r = srv.get(
        Some("partner"),
        "/api/v1/extracts/datasets/gp_appointments.csv",
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "not_by_lsoa".to_string()),
        "{}",
        r.text()
    );
    drop(srv);

    // A month with few DNAs: below the analyst role its numerator and value are withheld.
    let small = dir.path().join("october.csv");
    std::fs::write(
        &small,
        "sub_icb_location_code,sub_icb_location_ons_code,appointment_month,appt_status,hcp_type,\
appt_mode,time_between_book_and_appt,count_of_appointments\n\
99G,E38000168,2025-10-01,DNA,GP,Telephone,Same Day,3\n\
99G,E38000168,2025-10-01,Attended,GP,Telephone,Same Day,500\n",
    )
    .expect("write");
    let (code, v) = ingest_json(
        &lake,
        "gp_appointments",
        &small,
        &["--mapping", "nhs-gp-appointments"],
    );
    assert_eq!((code, n(&v, "accepted")), (0, 2), "{v}");
    let srv = Server::start(&lake, &[]);
    let path = "/api/v1/indicators/gp_appointments_dna/values?level=sub_icb&period=2025-10";
    let partner = srv.get(Some("partner"), path).json();
    let row = &partner["rows"][0];
    assert!(
        row["numerator"].is_null() && row["value"].is_null(),
        "{partner}"
    );
    assert_eq!(row["suppressed"], true, "{partner}");
    let analyst = srv.get(Some("analyst"), path).json();
    assert_eq!(
        analyst["rows"][0]["numerator"].as_f64(),
        Some(3.0),
        "{analyst}"
    );
    // Monthly data has no weeks, even for an analyst.
    let r = srv.get(
        Some("analyst"),
        "/api/v1/indicators/gp_appointments_dna/values?level=sub_icb&period=2025-W41",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("not weeks"), "{}", r.text());
}
