//! Public feeds published by area end to end (issue #12), each a real file through its shipped
//! mapping, every row accounted for and checked against plain CSV arithmetic over the file:
//!
//! - UKHSA's COVID-19 case counts into a City and Hackney lake: `-99` kept as suppressed, not
//!   zero; the weekly signals over them are the place's series, judged by EARS as recomputed
//!   here; the MSOA file's week columns line up with the local authority's daily counts summed
//!   by ISO week (a one-week shift would not);
//! - an OHID Fingertips export into a Southend-on-Sea lake: England's published value becomes the
//!   place's benchmark for an indicator linked to it, and Marmot's value is served beside the
//!   published ones.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate, Weekday};
use common::http::Server;
use common::*;
use serde_json::Value;

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn fixture(name: &str) -> PathBuf {
    manifest_dir().join("../../tests/fixtures/real").join(name)
}

const MSOA_FILE: &str = "covid_msoa_weekly_wide_2020-10-20_city_hackney_and_neighbours.csv";
const LTLA_FILE: &str = "covid_cases_ltla_2021-03-21_southend_chorley_hackney_and_others.csv";

/// City of London and Hackney: the demo place.
const PLACE: [&str; 2] = ["E09000001", "E09000012"];

fn place_lake(dir: &tempfile::TempDir) -> PathBuf {
    let lake = lake_path(dir);
    let out = ok(marmot(&lake).args(["init", "--place", "city-and-hackney"]));
    assert!(out.contains("155 LSOAs"), "{out}");
    lake
}

/// The wide MSOA file read plainly: rows, and for each MSOA its 2019 local authority and its
/// cells by ISO week of 2020 (`None` for `-99`).
struct Wide {
    rows: u64,
    weeks: Vec<u32>,
    msoas: BTreeMap<String, (String, BTreeMap<u32, Option<u64>>)>,
}

fn read_wide(path: &Path) -> Wide {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let header = r.headers().expect("header").clone();
    let weeks: Vec<(usize, u32)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("wk_").map(|w| (i, w.parse().expect("week"))))
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (lad, msoa) = (col("lad19_cd"), col("msoa11_cd"));
    let mut out = Wide {
        rows: 0,
        weeks: weeks.iter().map(|w| w.1).collect(),
        msoas: BTreeMap::new(),
    };
    for rec in r.records() {
        let rec = rec.expect("record");
        out.rows += 1;
        let cells = weeks
            .iter()
            .map(|&(i, w)| {
                let v = &rec[i];
                (w, (v != "-99").then(|| v.parse().expect("count")))
            })
            .collect();
        out.msoas
            .insert(rec[msoa].to_string(), (rec[lad].to_string(), cells));
    }
    out
}

fn monday(week: u32) -> NaiveDate {
    NaiveDate::from_isoywd_opt(2020, week, Weekday::Mon).expect("ISO week of 2020")
}

/// EARS C1 as R `surveillance::earsC` computes it: the mean and sample standard deviation of
/// the 7 weeks before, threshold mean + qnorm(0.999) x sd (Hutwagner et al. 2003).
fn ears_c1(series: &[f64], t: usize) -> (f64, f64) {
    let z = 3.090_232_306_167_813_f64;
    let base = &series[t - 7..t];
    let mean = base.iter().sum::<f64>() / 7.0;
    let sd = (base.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 6.0).sqrt();
    (mean, mean + z * sd)
}

fn close(a: &Value, b: f64) -> bool {
    a.as_f64()
        .is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

#[test]
fn weekly_msoa_cases_go_in_wide_with_suppression_kept_and_feed_the_place_signal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = place_lake(&dir);
    let file = fixture(MSOA_FILE);
    let wide = read_wide(&file);
    assert_eq!((wide.rows, wide.weeks.len()), (106, 37));
    let in_place: Vec<&String> = wide
        .msoas
        .iter()
        .filter(|(_, (lad, _))| PLACE.contains(&lad.as_str()))
        .map(|(m, _)| m)
        .collect();
    assert_eq!(in_place.len(), 29, "the City's one MSOA and Hackney's 28");

    let (code, v) = ingest_json(
        &lake,
        "covid_cases_msoa",
        &file,
        &["--mapping", "ukhsa-covid-msoa-wide"],
    );
    assert_eq!(code, 0, "{v}");
    // One row per MSOA and week: read = accepted + rejected + out of area.
    let cells = wide.rows * 37;
    assert_eq!(n(&v, "rows_read"), cells, "{v}");
    assert_eq!(v["mapping"]["source_rows"], 106, "{v}");
    assert_eq!(n(&v, "accepted"), 29 * 37, "{v}");
    assert_eq!(n(&v, "rejected"), 0, "{v}");
    assert_eq!(n(&v, "out_of_area"), (106 - 29) * 37, "{v}");
    let suppressed = in_place
        .iter()
        .flat_map(|m| wide.msoas[*m].1.values())
        .filter(|c| c.is_none())
        .count() as u64;
    assert!(suppressed > 0);
    assert_eq!(n(&v, "suppressed_cells"), suppressed, "{v}");

    // Every cell of the place is in the table under the Monday of its ISO week of 2020: a
    // count as published, -99 as suppressed (empty, flagged), never as zero.
    let rows = sql(
        &lake,
        "SELECT msoa_code, CAST(week_start AS VARCHAR) AS w, cases, cases_suppressed \
         FROM covid_cases_msoa",
    );
    assert_eq!(rows.len() as u64, 29 * 37);
    let mut by_cell: BTreeMap<(String, String), (Option<u64>, bool)> = BTreeMap::new();
    for r in &rows {
        let key = (
            r["msoa_code"].as_str().expect("msoa").to_string(),
            r["w"].as_str().expect("week").to_string(),
        );
        by_cell.insert(
            key,
            (
                r["cases"].as_u64(),
                r["cases_suppressed"] == Value::Bool(true),
            ),
        );
    }
    for m in &in_place {
        for (w, c) in &wide.msoas[*m].1 {
            let got = by_cell[&((*m).clone(), monday(*w).to_string())];
            assert_eq!(got, (*c, c.is_none()), "{m} week {w}");
        }
    }

    // The weekly signal is the place's series alone: the sum of the published counts.
    let total: Vec<f64> = wide
        .weeks
        .iter()
        .map(|w| {
            in_place
                .iter()
                .filter_map(|m| wide.msoas[*m].1[w])
                .sum::<u64>() as f64
        })
        .collect();
    ok(marmot(&lake).args(["triggers", "run", "--week", "2020-W41", "--weeks", "30"]));
    let evals = sql(
        &lake,
        "SELECT level, week, observed, expected, upper, alarm FROM trigger_evaluations \
         WHERE signal = 'covid_cases' AND method = 'ears-c1' ORDER BY week",
    );
    assert!(evals.iter().all(|e| e["level"] == "place"), "{evals:?}");
    // Weeks 5 to 11 are the first baseline: weeks 12 to 41 are judged.
    assert_eq!(evals.len(), 30, "{evals:?}");
    for e in &evals {
        let week: u32 = e["week"].as_str().expect("week")[6..].parse().expect("w");
        let t = wide.weeks.iter().position(|w| *w == week).expect("week");
        let (mean, upper) = ears_c1(&total, t);
        assert_eq!(e["observed"].as_f64(), Some(total[t]), "{e}");
        assert!(
            close(&e["expected"], mean) && close(&e["upper"], upper),
            "{e}"
        );
        assert_eq!(e["alarm"].as_bool(), Some(total[t] > upper), "{e}");
    }
    // The autumn wave: week 40 (291 cases against a baseline of about 61) raises an alarm.
    let w40 = evals.iter().find(|e| e["week"] == "2020-W40").expect("W40");
    assert_eq!(w40["alarm"], true, "{w40}");

    // A weekly signal asking for wards over data by MSOA is refused, with the reason.
    let queries = dir.path().join("queries");
    std::fs::create_dir_all(queries.join("triggers")).expect("dirs");
    std::fs::create_dir_all(queries.join("indicators")).expect("dirs");
    std::fs::write(
        queries.join("triggers/cases_by_ward.sql"),
        "/*\nid = \"cases_by_ward\"\ntitle = \"Cases by ward\"\ndataset = \"covid_cases_msoa\"\n\
         levels = [\"place\", \"ward\"]\nmethods = [\"ears-c1\"]\ndirection = \"up\"\n*/\n\
         SELECT msoa_code AS area_code, week_start AS event_date, cases AS numerator \
         FROM covid_cases_msoa",
    )
    .expect("write");
    let (code, _, err) = run(marmot(&lake)
        .arg("--queries")
        .arg(&queries)
        .args(["triggers", "run", "--week", "2020-W41"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("cases_by_ward") && err.contains("levels = [\"place\"]"),
        "{err}"
    );
}

/// The daily file read plainly: rows by area type, lower-tier rows by area code, and the
/// place's lower-tier cases by ISO week (year, week).
struct Daily {
    rows: u64,
    by_type: BTreeMap<String, u64>,
    ltla_rows: BTreeMap<String, u64>,
    place_weeks: BTreeMap<(i32, u32), u64>,
}

fn read_daily(path: &Path) -> Daily {
    let mut r = csv::Reader::from_path(path).expect("csv");
    let mut d = Daily {
        rows: 0,
        by_type: BTreeMap::new(),
        ltla_rows: BTreeMap::new(),
        place_weeks: BTreeMap::new(),
    };
    for rec in r.records() {
        let rec = rec.expect("record");
        d.rows += 1;
        *d.by_type.entry(rec[2].to_string()).or_default() += 1;
        if &rec[2] != "ltla" {
            continue;
        }
        *d.ltla_rows.entry(rec[1].to_string()).or_default() += 1;
        if PLACE.contains(&&rec[1]) {
            let day: NaiveDate = rec[3].parse().expect("date");
            let w = day.iso_week();
            *d.place_weeks.entry((w.year(), w.week())).or_default() +=
                rec[4].parse::<u64>().expect("cases");
        }
    }
    d
}

#[test]
fn daily_cases_by_local_authority_take_lower_tier_rows_and_line_up_with_the_msoa_weeks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = place_lake(&dir);
    let file = fixture(LTLA_FILE);
    let daily = read_daily(&file);
    assert_eq!(daily.rows, 3790);
    // The dashboard reports the City with Hackney: E09000012 is "Hackney and City of London".
    assert!(!daily.ltla_rows.contains_key("E09000001"));
    let hackney = daily.ltla_rows["E09000012"];

    let (code, v) = ingest_json(
        &lake,
        "covid_cases_ltla",
        &file,
        &["--mapping", "ukhsa-covid-cases"],
    );
    assert_eq!(code, 3, "some rows rejected: {v}");
    assert_eq!(n(&v, "rows_read"), daily.rows, "{v}");
    assert_eq!(n(&v, "accepted"), hackney, "{v}");
    // Hackney's upper-tier rows repeat its lower-tier ones: rejected with the area type as the
    // reason, so nothing counts twice. Every other authority's rows are set aside.
    assert_eq!(n(&v, "rejected"), hackney, "{v}");
    assert_eq!(v["reasons"]["value not allowed"], hackney, "{v}");
    assert!(
        v["examples"][0]
            .as_str()
            .is_some_and(|e| e.contains("area_type") && e.contains("'utla'")),
        "{v}"
    );
    assert_eq!(
        n(&v, "out_of_area"),
        daily.rows - 2 * hackney,
        "other authorities' rows, lower and upper tier: {v}"
    );

    // The table's cases by ISO week are the file's.
    let weeks: BTreeMap<(i32, u32), u64> = sql(
        &lake,
        "SELECT CAST(date_trunc('week', CAST(specimen_date AS TIMESTAMP)) AS DATE) AS w, \
         sum(cases) AS n FROM covid_cases_ltla GROUP BY 1",
    )
    .iter()
    .map(|r| {
        let d: NaiveDate = r["w"].as_str().expect("w").parse().expect("date");
        let w = d.iso_week();
        ((w.year(), w.week()), n(r, "n"))
    })
    .collect();
    assert_eq!(weeks, daily.place_weeks);

    // The signal over it is the place's weekly series, judged by EARS C1 as recomputed here.
    ok(marmot(&lake).args([
        "triggers",
        "run",
        "--week",
        "2021-W10",
        "--weeks",
        "20",
        "--signal",
        "covid_cases_ltla",
    ]));
    let evals = sql(
        &lake,
        "SELECT level, week, observed, expected, upper FROM trigger_evaluations \
         WHERE signal = 'covid_cases_ltla' AND method = 'ears-c1' ORDER BY week",
    );
    assert_eq!(evals.len(), 20, "{evals:?}");
    let series: Vec<((i32, u32), f64)> = daily
        .place_weeks
        .iter()
        .map(|(k, v)| (*k, *v as f64))
        .collect();
    let counts: Vec<f64> = series.iter().map(|s| s.1).collect();
    for e in &evals {
        assert_eq!(e["level"], "place");
        let label = e["week"].as_str().expect("week");
        let key = (
            label[..4].parse().expect("year"),
            label[6..].parse().expect("week"),
        );
        let t = series.iter().position(|s| s.0 == key).expect("week");
        let (mean, upper) = ears_c1(&counts, t);
        assert_eq!(e["observed"].as_f64(), Some(counts[t]), "{e}");
        assert!(
            close(&e["expected"], mean) && close(&e["upper"], upper),
            "{e}"
        );
    }

    // The MSOA file's week columns are ISO weeks: its weekly totals for the place (published
    // counts; each suppressed cell hides 0 to 2) follow the local authority's daily counts
    // summed by ISO week closely, and far less closely shifted a week either way. (The two
    // downloads are five months apart, so late specimens make them differ a little.)
    let (code, v) = ingest_json(
        &lake,
        "covid_cases_msoa",
        &fixture(MSOA_FILE),
        &["--mapping", "ukhsa-covid-msoa-wide"],
    );
    assert_eq!(code, 0, "{v}");
    let msoa: BTreeMap<u32, u64> = sql(
        &lake,
        "SELECT CAST(week_start AS VARCHAR) AS w, sum(cases) AS n FROM covid_cases_msoa \
         GROUP BY 1",
    )
    .iter()
    .map(|r| {
        let d: NaiveDate = r["w"].as_str().expect("w").parse().expect("date");
        assert_eq!(d.weekday(), Weekday::Mon);
        (d.iso_week().week(), r["n"].as_u64().unwrap_or(0))
    })
    .collect();
    let gap = |shift: i64| -> u64 {
        (11..=40u32)
            .map(|w| {
                let ltla = daily
                    .place_weeks
                    .get(&(2020, (i64::from(w) + shift) as u32))
                    .copied()
                    .unwrap_or(0);
                ltla.abs_diff(msoa[&w])
            })
            .sum()
    };
    let (aligned, early, late) = (gap(0), gap(-1), gap(1));
    assert!(
        2 * aligned < early && 2 * aligned < late,
        "aligned {aligned}, shifted {early} and {late}"
    );
}

const FINGERTIPS_FILE: &str = "fingertips_93356_campylobacter_county_ua_2015-2017.csv";

/// A laboratory's reports by LSOA: a dataset of the analyst's own, added at run time.
const LAB_CONTRACT: &str = r#"
name = "lab_reports"
title = "Laboratory reports"
description = "Positive laboratory reports of gastrointestinal infections, by LSOA of residence and specimen date."
default_partner = "lab"
date_column = "specimen_date"
geography_column = "lsoa_code"

[[columns]]
name = "specimen_date"
type = "date"
required = true
min = "2010-01-01"
max = "today"
description = "Specimen date."

[[columns]]
name = "lsoa_code"
type = "utf8"
required = true
format = "lsoa"
description = "LSOA of residence."

[[columns]]
name = "organism"
type = "utf8"
required = true
allowed = ["Campylobacter", "Salmonella"]
description = "Organism."
"#;

/// Its indicator, linked to Fingertips' Campylobacter incidence (indicator 93356).
const LAB_INDICATOR: &str = r#"/*
id = "campylobacter_rate"
title = "Campylobacter"
definition = "Laboratory reports of Campylobacter per 100,000 residents."
source = "lab_reports"
measure = "crude_rate"
multiplier = 100000
polarity = "lower_is_better"
grain = "month"
[fingertips]
id = 93356
[denominator]
kind = "population"
*/
SELECT lsoa_code, specimen_date AS event_date, 1 AS numerator
FROM lab_reports WHERE organism = 'Campylobacter'
"#;

#[test]
fn a_fingertips_export_goes_in_and_englands_published_value_is_the_place_benchmark() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    ok(marmot(&lake).args(["init", "--place", "southend-on-sea"]));
    let file = fixture(FINGERTIPS_FILE);
    // The export read plainly (a quoted name holds a line break): records by area, and the
    // published Southend and England rows of 2017 for persons of all ages.
    // Data lines leave off the header's last column.
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&file)
        .expect("csv");
    let h = rdr.headers().expect("header").clone();
    let col = |name: &str| h.iter().position(|c| c == name).expect(name);
    let (code, sex, age, cat, tp, value) = (
        col("Area Code"),
        col("Sex"),
        col("Age"),
        col("Category Type"),
        col("Time period"),
        col("Value"),
    );
    let mut by_area: BTreeMap<String, u64> = BTreeMap::new();
    let mut published: BTreeMap<(String, String), (String, String)> = BTreeMap::new();
    for rec in rdr.records() {
        let rec = rec.expect("record");
        *by_area.entry(rec[code].to_string()).or_default() += 1;
        if &rec[sex] == "Persons" && &rec[age] == "All ages" && rec[cat].is_empty() {
            published.insert(
                (rec[code].to_string(), rec[tp].to_string()),
                (
                    rec[value].to_string(),
                    rec[col("Compared to England value or percentiles")].to_string(),
                ),
            );
        }
    }
    let rows: u64 = by_area.values().sum();
    assert_eq!(rows, 852);
    let kept = by_area["E06000033"] + by_area["E92000001"];
    // Bournemouth and Poole, merged into Bournemouth, Christchurch and Poole in April 2019: codes
    // of the export's years that Marmot's lookups (2020 and 2024) do not know.
    let retired = by_area["E06000028"] + by_area["E06000029"];

    let (code_, v) = ingest_json(
        &lake,
        "published_indicators",
        &file,
        &["--mapping", "fingertips-export"],
    );
    assert_eq!(code_, 3, "some rows rejected: {v}");
    assert_eq!(n(&v, "rows_read"), rows, "{v}");
    assert_eq!(n(&v, "accepted"), kept, "{v}");
    assert_eq!(n(&v, "rejected"), retired, "{v}");
    assert_eq!(v["reasons"]["unknown area"], retired, "{v}");
    assert_eq!(
        n(&v, "out_of_area"),
        rows - kept - retired,
        "counties, regions, other authorities: {v}"
    );
    let stored = sql(
        &lake,
        "SELECT area_code, time_period, value, indicator_name FROM published_indicators \
         WHERE sex = 'Persons' AND age = 'All ages' AND category_type IS NULL",
    );
    assert_eq!(
        stored.len(),
        6,
        "Southend and England, 2015 to 2017: {stored:?}"
    );
    for r in &stored {
        let key = (
            r["area_code"].as_str().expect("code").to_string(),
            r["time_period"].as_str().expect("period").to_string(),
        );
        let want: f64 = published[&key].0.parse().expect("published value");
        assert_eq!(r["value"].as_f64(), Some(want), "{r}");
        // The line break inside the quoted name is trimmed away.
        assert_eq!(
            r["indicator_name"], "Campylobacter incidence rate/100,000",
            "{r}"
        );
    }
    let england_2017: f64 = published[&("E92000001".to_string(), "2017".to_string())]
        .0
        .parse()
        .expect("England 2017");
    let (southend_2017, fingertips_verdict) =
        published[&("E06000033".to_string(), "2017".to_string())].clone();
    assert_eq!(fingertips_verdict, "Worse");

    // A dataset and an indicator of the analyst's own, linked to Fingertips 93356: 215
    // Campylobacter reports in Southend in 2017 (as many as Fingertips counts).
    let own = dir.path().join("own");
    std::fs::create_dir_all(own.join("queries/indicators")).expect("dirs");
    std::fs::create_dir_all(own.join("queries/triggers")).expect("dirs");
    std::fs::write(own.join("lab_reports.toml"), LAB_CONTRACT).expect("write");
    std::fs::write(
        own.join("queries/indicators/campylobacter_rate.sql"),
        LAB_INDICATOR,
    )
    .expect("write");
    ok(marmot(&lake)
        .args(["datasets", "add"])
        .arg(own.join("lab_reports.toml")));
    let lsoas: Vec<String> = sql(&lake, "SELECT lsoa_code FROM geography ORDER BY 1")
        .iter()
        .map(|r| r["lsoa_code"].as_str().expect("lsoa").to_string())
        .collect();
    let mut reports = String::from("specimen_date,lsoa_code,organism\n");
    let jan1 = NaiveDate::from_ymd_opt(2017, 1, 1).expect("date");
    for k in 0..215u64 {
        // Spread over the year, 1 January to 31 December: the data covers 2017.
        let day = jan1 + chrono::Days::new(k * 364 / 214);
        reports.push_str(&format!(
            "{day},{},Campylobacter\n",
            lsoas[k as usize % lsoas.len()]
        ));
    }
    reports.push_str(&format!("2017-03-01,{},Salmonella\n", lsoas[0]));
    let reports_file = own.join("reports_2017.csv");
    std::fs::write(&reports_file, reports).expect("write");
    let (c, v) = ingest_json(&lake, "lab_reports", &reports_file, &[]);
    assert_eq!((c, n(&v, "accepted")), (0, 216), "{v}");

    // The place's value for 2017 (the rolling 12 months to December) has England's published
    // 2017 value as its benchmark, and is judged against it as Fingertips judges Southend.
    let queries = own.join("queries");
    let place_2017 = || -> Value {
        let out = ok(marmot(&lake).arg("--queries").arg(&queries).args([
            "indicator",
            "campylobacter_rate",
            "--level",
            "place",
            "--period",
            "R12-2017-12",
            "--format",
            "json",
            "--live",
        ]));
        let rows: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(rows.len(), 1, "{out}");
        rows[0].clone()
    };
    let r = place_2017();
    assert_eq!(r["numerator"].as_f64(), Some(215.0), "{r}");
    assert!(close(&r["benchmark"], england_2017), "{r}");
    let lower = r["lower_95"].as_f64().expect("lower");
    assert!(
        lower > england_2017,
        "England lies below Southend's interval: {r}"
    );
    assert_eq!(
        (r["comparison"].as_str(), r["judgement"].as_str()),
        (Some("Higher"), Some("Worse")),
        "{r}"
    );

    // Served beside the published values, over HTTP.
    // A second indicator of the analyst's, with no Fingertips counterpart.
    std::fs::write(
        queries.join("indicators/salmonella_rate.sql"),
        LAB_INDICATOR
            .replace("campylobacter_rate", "salmonella_rate")
            .replace("Campylobacter", "Salmonella")
            .replace("[fingertips]\nid = 93356\n", ""),
    )
    .expect("write");
    // And a third linked to a Fingertips indicator the lake holds no export of.
    std::fs::write(
        queries.join("indicators/salmonella_linked.sql"),
        LAB_INDICATOR
            .replace("campylobacter_rate", "salmonella_linked")
            .replace("id = 93356", "id = 92999"),
    )
    .expect("write");
    let srv = Server::start(&lake, &["--queries", queries.to_str().expect("utf8")]);
    let r = srv.get(
        Some("analyst"),
        "/api/v1/indicators/salmonella_rate/published",
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "no_fingertips".to_string()),
        "{}",
        r.text()
    );
    let r = srv.get(
        Some("analyst"),
        "/api/v1/indicators/salmonella_linked/published",
    );
    assert_eq!(
        (r.status, r.code()),
        (404, "no_published_data".to_string()),
        "{}",
        r.text()
    );
    assert!(r.text().contains("92999"), "{}", r.text());
    let path = "/api/v1/indicators/campylobacter_rate/published";
    // A partner sees the published values, but Marmot's by its own grain (month) only: a
    // calendar year of it is withheld, with the reason.
    let r = srv.get(Some("partner"), path);
    assert_eq!(r.status, 200, "{}", r.text());
    let partner = r.json();
    let p = &partner["periods"][2];
    assert!(p["marmot"].is_null(), "{partner}");
    assert!(
        p["marmot_note"]
            .as_str()
            .is_some_and(|n| n.contains("analyst")),
        "{partner}"
    );
    assert!(close(&p["england"]["value"], england_2017), "{partner}");
    let r = srv.get(Some("analyst"), path);
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    assert_eq!(page["fingertips_id"], 93356, "{page}");
    let periods = page["periods"].as_array().expect("periods");
    let tps: Vec<&str> = periods
        .iter()
        .map(|p| p["time_period"].as_str().expect("tp"))
        .collect();
    assert_eq!(tps, ["2015", "2016", "2017"], "{page}");
    // Marmot's data covers 2017 only: no Marmot value for 2015 and 2016, and why.
    for p in &periods[..2] {
        assert!(p["marmot"].is_null(), "{page}");
        assert!(
            p["marmot_note"]
                .as_str()
                .is_some_and(|n| n.contains("does not cover")),
            "{page}"
        );
    }
    let p = &periods[2];
    assert_eq!(p["period"], "R12-2017-12", "{p}");
    assert_eq!(p["marmot"]["numerator"].as_f64(), Some(215.0), "{p}");
    assert!(close(&p["marmot"]["benchmark"], england_2017), "{p}");
    assert!(close(&p["england"]["value"], england_2017), "{p}");
    let want: f64 = southend_2017.parse().expect("value");
    assert_eq!(p["published"][0]["area_code"], "E06000033", "{p}");
    assert!(close(&p["published"][0]["value"], want), "{p}");
    assert_eq!(p["published"][0]["compared_to_england"], "Worse", "{p}");
    assert!(p["marmot_note"].is_null(), "{p}");
}
