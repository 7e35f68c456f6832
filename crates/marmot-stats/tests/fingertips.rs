//! Marmot against real Fingertips exports (OHID, Open Government Licence; see
//! `tests/reference/fingertips/SOURCES.md`): published crude rates, proportions, their 95%
//! limits and the "Compared to England" verdicts, reproduced from the published count and
//! denominator alone. An independent check: these are numbers someone else published.

mod common;

use std::collections::HashMap;

use common::reference_path_in;
use marmot_stats::{
    BenchmarkComparison, ConfidenceLevel, Interval, PoissonRule, Polarity, compare_with_benchmark,
    crude_rate_by, judge, wilson_interval,
};

/// The rows of an export, as column -> text (a real CSV parser: the campylobacter file's
/// indicator name holds a newline and its line endings are mixed; its rows leave off the last,
/// empty, column, as Fingertips writes them).
fn rows(file: &str) -> Vec<HashMap<String, String>> {
    let path = reference_path_in("fingertips", file);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let headers = reader.headers().expect("headers").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("record");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn number(row: &HashMap<String, String>, col: &str) -> Option<f64> {
    let text = row.get(col).unwrap_or_else(|| panic!("no column {col}"));
    (!text.is_empty()).then(|| {
        text.parse()
            .unwrap_or_else(|_| panic!("{col}: bad number {text}"))
    })
}

fn relative(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        a.abs()
    } else {
        ((a - b) / b).abs()
    }
}

const CAMPYLOBACTER: &str = "fingertips_93356_campylobacter_CountyUA_2015-2017.csv";
const PUPILS: &str = "fingertips_91871_semh_pupils_2018_CountyUA.csv";

/// Published limits are given to ~15 figures but computed by Fingertips' own chi-squared
/// routine; this is how close two correct exact implementations come (the worst seen is 4e-7).
const PUBLISHED_TOL: f64 = 1e-6;

#[test]
fn crude_rates_reproduce_fingertips_to_the_published_figures_with_the_fingertips_rule() {
    let rows = rows(CAMPYLOBACTER);
    assert_eq!(rows.len(), 852, "the whole export was read");
    let (mut compared, mut byars_off, mut worst) = (0, 0, 0.0_f64);
    for r in rows.iter().filter(|r| r["Age"] == "All ages") {
        let (Some(x), Some(n), Some(lo), Some(hi)) = (
            number(r, "Count"),
            number(r, "Denominator"),
            number(r, "Lower CI 95.0 limit"),
            number(r, "Upper CI 95.0 limit"),
        ) else {
            continue;
        };
        let ctx = format!("{} {}", r["Area Code"], r["Time period"]);
        let rate = crude_rate_by(x, n, 1e5, PoissonRule::Fingertips).expect("valid");
        assert!(
            relative(rate.value, number(r, "Value").expect("value")) < 1e-12,
            "{ctx}"
        );
        let ci = rate.ci(ConfidenceLevel::P95).expect("ci");
        for (got, published) in [(ci.lower, lo), (ci.upper, hi)] {
            let d = relative(got, published);
            worst = worst.max(d);
            assert!(
                d < PUBLISHED_TOL,
                "{ctx}: {x} events: {got} vs published {published} ({d:e})"
            );
        }
        // The PHE rule (Byar's from 10 events) does not reproduce them: the reason the
        // Fingertips rule exists.
        let phe = crude_rate_by(x, n, 1e5, PoissonRule::Phe)
            .and_then(|r| r.ci(ConfidenceLevel::P95))
            .expect("ci");
        if relative(phe.lower, lo).max(relative(phe.upper, hi)) > PUBLISHED_TOL {
            byars_off += 1;
        }
        compared += 1;
    }
    eprintln!("fingertips crude rates: {compared} rows, worst relative difference {worst:e}");
    assert_eq!(compared, 453, "450 County & UA rows and England's 3 years");
    assert!(byars_off > 300, "Byar's missed only {byars_off} rows");
}

#[test]
fn proportions_reproduce_fingertips_with_wilson() {
    let rows = rows(PUPILS);
    assert_eq!(rows.len(), 128);
    let mut compared = 0;
    for r in &rows {
        let (Some(x), Some(n), Some(lo), Some(hi)) = (
            number(r, "Count"),
            number(r, "Denominator"),
            number(r, "Lower_CI_95.0_limit"),
            number(r, "Upper_CI_95.0_limit"),
        ) else {
            continue;
        };
        let ci = wilson_interval(x, n, ConfidenceLevel::P95).expect("ci");
        let ctx = &r["AreaCode"];
        assert!(relative(x / n * 100.0, number(r, "Value").expect("value")) < 1e-12);
        assert!(relative(ci.lower * 100.0, lo) < 1e-9, "{ctx}: {}", ci.lower);
        assert!(relative(ci.upper * 100.0, hi) < 1e-9, "{ctx}: {}", ci.upper);
        compared += 1;
    }
    assert_eq!(
        compared, 127,
        "every row with a count (Isles of Scilly has none)"
    );
}

/// The England value of each (period, age) in an export: the row with no category (England's
/// deprivation-decile rows carry the same area code).
fn england(
    rows: &[HashMap<String, String>],
    code: &str,
    period: &str,
    age: &str,
    value: &str,
) -> HashMap<(String, String), f64> {
    rows.iter()
        .filter(|r| r[code] == "E92000001" && r.values().all(|v| !v.contains("decile")))
        .filter_map(|r| Some(((r[period].clone(), r[age].clone()), number(r, value)?)))
        .collect()
}

#[test]
fn compared_to_england_verdicts_reproduce_every_published_one() {
    // Campylobacter (low is good: Better / Similar / Worse), judged on Marmot's own limits
    // for the "All ages" rows and on the published ones for "0-9 yrs" (which Fingertips
    // computed with Byar's at z = 1.96, a method Marmot does not offer).
    let rows_c = rows(CAMPYLOBACTER);
    let eng = england(&rows_c, "Area Code", "Time period", "Age", "Value");
    let mut judged = HashMap::<String, usize>::new();
    for r in &rows_c {
        let verdict = r["Compared to England value or percentiles"].as_str();
        if verdict == "Not compared" || r["Area Code"] == "E92000001" {
            continue;
        }
        let ci = match (number(r, "Count"), number(r, "Denominator")) {
            (Some(x), Some(n)) if r["Age"] == "All ages" => {
                crude_rate_by(x, n, 1e5, PoissonRule::Fingertips)
                    .and_then(|r| r.ci(ConfidenceLevel::P95))
                    .expect("ci")
            }
            _ => Interval::new(
                number(r, "Lower CI 95.0 limit").expect("lower"),
                number(r, "Upper CI 95.0 limit").expect("upper"),
            ),
        };
        let benchmark = eng
            .get(&(r["Time period"].clone(), r["Age"].clone()))
            .copied();
        assert!(benchmark.is_some(), "no England value for {r:?}");
        let cmp = compare_with_benchmark(Some(ci), benchmark).expect("comparison");
        let got = judge(cmp, Polarity::LowerIsBetter).label();
        assert_eq!(
            got, verdict,
            "{} {} {}",
            r["Area Code"], r["Time period"], r["Age"]
        );
        *judged.entry(verdict.to_string()).or_default() += 1;
    }
    assert_eq!(
        judged,
        HashMap::from([
            ("Better".to_string(), 283),
            ("Similar".to_string(), 220),
            ("Worse".to_string(), 247)
        ])
    );

    // Pupils with SEMH needs (no polarity: Higher / Similar / Lower), on Wilson limits.
    let rows_p = rows(PUPILS);
    let eng = england(&rows_p, "AreaCode", "Timeperiod", "Age", "Value");
    let mut compared = HashMap::<String, usize>::new();
    for r in &rows_p {
        let verdict = r["Compared_to_England_value_or_percentiles"].as_str();
        if verdict == "Not compared" {
            continue;
        }
        let (x, n) = (
            number(r, "Count").expect("count"),
            number(r, "Denominator").expect("denominator"),
        );
        let ci = wilson_interval(x, n, ConfidenceLevel::P95)
            .expect("ci")
            .scaled(100.0);
        let benchmark = eng
            .get(&(r["Timeperiod"].clone(), r["Age"].clone()))
            .copied();
        let cmp = compare_with_benchmark(Some(ci), benchmark).expect("comparison");
        assert_ne!(cmp, BenchmarkComparison::NotCompared);
        assert_eq!(cmp.label(), verdict, "{}", r["AreaCode"]);
        assert_eq!(
            judge(cmp, Polarity::NoJudgement).label(),
            "Not compared",
            "no polarity, no RAG judgement"
        );
        *compared.entry(verdict.to_string()).or_default() += 1;
    }
    assert_eq!(
        compared,
        HashMap::from([
            ("Higher".to_string(), 42),
            ("Similar".to_string(), 43),
            ("Lower".to_string(), 41)
        ])
    );
}
