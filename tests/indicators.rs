//! End-to-end tests of indicators over the demo lake: the engine's values agree with an
//! independent computation in SQL (with the reference-tested SQL functions), every shipped
//! indicator has a golden snapshot, breakdowns and comparisons behave, and the planted
//! deprivation gradient is found.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn indicator(lake: &Path, args: &[&str]) -> Vec<Value> {
    let out = ok(marmot(lake)
        .arg("indicator")
        .args(args)
        .args(["--format", "json"]));
    serde_json::from_str::<Value>(out.trim())
        .unwrap_or_else(|e| panic!("{e}: {out}"))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn f(v: &Value, k: &str) -> f64 {
    v[k].as_f64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-12),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn catalogue_lists_at_least_twenty_indicators_over_all_six_datasets() {
    let lake = demo_lake();
    let out = ok(marmot(lake).args(["indicators", "--format", "json"]));
    let all: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
    assert!(all.len() >= 20, "{}", all.len());
    for ds in marmot_lake::demo::DEMO_DATASETS {
        assert!(all.iter().any(|i| i["source"] == ds), "{ds}");
    }
    let shown = ok(marmot(lake).args(["indicators", "--show", "police_domestic_abuse"]));
    assert!(
        shown.contains("FROM police") && shown.contains("domestic_abuse"),
        "{shown}"
    );
}

#[test]
fn crude_rate_matches_an_independent_sql_computation() {
    let lake = demo_lake();
    let rows = indicator(
        lake,
        &[
            "police_domestic_abuse",
            "--level",
            "place",
            "--period",
            "FY2019/20",
        ],
    );
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    let num = sql_f64(
        lake,
        "SELECT count(*) FROM police WHERE category = 'domestic_abuse' AND incident_date BETWEEN DATE '2019-04-01' AND DATE '2020-03-31'",
    );
    let den = sql_f64(
        lake,
        "SELECT sum(population) FROM population WHERE year = 2019 AND age >= 16",
    );
    close(f(r, "numerator"), num, "numerator");
    close(f(r, "denominator"), den, "denominator");
    close(f(r, "value"), num / den * 1000.0, "value");
    for (col, conf, func) in [
        ("lower_95", 0.95, "rate_lower"),
        ("upper_95", 0.95, "rate_upper"),
        ("lower_99_8", 0.998, "rate_lower"),
        ("upper_99_8", 0.998, "rate_upper"),
    ] {
        let expected = sql_f64(lake, &format!("SELECT {func}({num}, {den}, {conf}, 1000)"));
        close(f(r, col), expected, col);
    }
    assert!(
        r["method"].as_str().unwrap_or_default().contains("Byars"),
        "{r}"
    );
    // The same indicator with Fingertips' rule: exact Poisson limits at this count too.
    let queries = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(queries.path().join("indicators")).unwrap();
    let shipped = std::fs::read_to_string(
        manifest_dir().join("../../queries/indicators/police_domestic_abuse.sql"),
    )
    .unwrap();
    std::fs::write(
        queries.path().join("indicators/police_domestic_abuse.sql"),
        shipped.replacen(
            "\nsource =",
            "\npoisson_limits = \"fingertips\"\nsource =",
            1,
        ),
    )
    .unwrap();
    let out = ok(marmot(lake)
        .arg("--queries")
        .arg(queries.path())
        .args(["indicator", "police_domestic_abuse", "--level", "place"])
        .args(["--period", "FY2019/20", "--format", "json"]));
    let exact: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    let e = &exact[0];
    close(f(e, "value"), f(r, "value"), "value");
    for (col, conf, func) in [
        ("lower_95", 0.95, "rate_lower_exact"),
        ("upper_95", 0.95, "rate_upper_exact"),
        ("lower_99_8", 0.998, "rate_lower_exact"),
        ("upper_99_8", 0.998, "rate_upper_exact"),
    ] {
        let expected = sql_f64(lake, &format!("SELECT {func}({num}, {den}, {conf}, 1000)"));
        close(f(e, col), expected, col);
        assert!(
            f(e, col) != f(r, col),
            "{col}: the rules agree at {num} events"
        );
    }
    assert!(
        e["method"].as_str().unwrap_or_default().contains("Exact"),
        "{e}"
    );
    assert!(
        r["data_version"]
            .as_str()
            .unwrap_or_default()
            .contains("police@"),
        "{r}"
    );
}

#[test]
fn dsr_matches_an_independent_sql_computation_and_ward_values_roll_up() {
    let lake = demo_lake();
    let rows = indicator(
        lake,
        &[
            "emergency_admissions",
            "--level",
            "place",
            "--period",
            "2019-Q1",
        ],
    );
    let r = &rows[0];
    let q = |agg: &str| {
        format!(
            "WITH e AS (SELECT CAST(LEAST(FLOOR(age / 5), 18) AS INT) AS band, count(*) AS x FROM admissions \
             WHERE admission_method = 'emergency' AND admission_date BETWEEN DATE '2019-01-01' AND DATE '2019-03-31' GROUP BY 1), \
             p AS (SELECT CAST(LEAST(FLOOR(age / 5), 18) AS INT) AS band, sum(population) AS n FROM population WHERE year = 2019 GROUP BY 1), \
             s AS (SELECT CAST(age_lower / 5 AS INT) AS band, weight FROM esp2013) \
             SELECT {agg} FROM p JOIN s USING (band) LEFT JOIN e USING (band)"
        )
    };
    close(
        f(r, "value"),
        sql_f64(lake, &q("dsr_value(coalesce(x, 0), n, weight, 100000)")),
        "dsr",
    );
    close(
        f(r, "lower_95"),
        sql_f64(
            lake,
            &q("dsr_lower(coalesce(x, 0), n, weight, 0.95, 100000)"),
        ),
        "dsr lower",
    );
    close(
        f(r, "upper_99_8"),
        sql_f64(
            lake,
            &q("dsr_upper(coalesce(x, 0), n, weight, 0.998, 100000)"),
        ),
        "dsr upper",
    );
    // Wards partition the place: numerators and populations add up.
    let wards = indicator(
        lake,
        &[
            "emergency_admissions",
            "--level",
            "ward",
            "--period",
            "2019-Q1",
        ],
    );
    assert_eq!(wards.len(), 26, "21 Hackney + 5 City wards");
    close(
        wards.iter().map(|w| f(w, "numerator")).sum(),
        f(r, "numerator"),
        "ward numerators",
    );
    close(
        wards.iter().map(|w| f(w, "denominator")).sum(),
        f(r, "denominator"),
        "ward populations",
    );
    for w in &wards {
        // Every ward is compared with its locality, whose DSR is always published here.
        assert!(w["benchmark"].as_f64().is_some(), "{w}");
        let cmp = w["comparison"].as_str().unwrap_or_default();
        assert!(
            ["Higher", "Similar", "Lower", "Not compared"].contains(&cmp),
            "{cmp}"
        );
    }
    // LSOAs in one week: DSRs below 10 events are not published, and counts 1-7 are flagged
    // as disclosive.
    let lsoas = indicator(
        lake,
        &[
            "emergency_admissions",
            "--level",
            "lsoa",
            "--period",
            "2019-W05",
        ],
    );
    assert_eq!(lsoas.len(), 155, "LSOAs 2021 of City and Hackney");
    for r in &lsoas {
        let n = f(r, "numerator");
        assert_eq!(r["value"].is_null(), n < 10.0, "{r}");
        assert_eq!(
            r["suppressed"].as_bool(),
            Some((1.0..=7.0).contains(&n)),
            "{r}"
        );
    }
    assert!(
        lsoas.iter().any(|r| r["value"].is_null()) && lsoas.iter().any(|r| r["suppressed"] == true)
    );
}

#[test]
fn proportions_breakdowns_and_comparisons() {
    let lake = demo_lake();
    let rows = indicator(
        lake,
        &[
            "gp_consultations_remote_proportion",
            "--level",
            "locality",
            "--period",
            "2020-04",
            "--by",
            "sex",
        ],
    );
    assert_eq!(rows.len(), 4, "2 localities x 2 sexes: {rows:?}");
    for r in &rows {
        let (x, n) = (f(r, "numerator"), f(r, "denominator"));
        close(f(r, "value"), x / n * 100.0, "proportion");
        let lower = sql_f64(lake, &format!("SELECT wilson_lower({x}, {n}, 0.95)")) * 100.0;
        close(f(r, "lower_95"), lower, "wilson lower");
        assert!(["male", "female"].contains(&r["sex"].as_str().unwrap_or_default()));
        // A breakdown category is compared with its area's overall value.
        assert!(r["benchmark"].as_f64().is_some());
    }
    let (code, _, err) = run(marmot(lake).args([
        "indicator",
        "police_domestic_abuse",
        "--period",
        "2020-04",
        "--by",
        "sex",
    ]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no breakdown 'sex'"), "{err}");
    let (code, _, err) =
        run(marmot(lake).args(["indicator", "police_domestic_abuse", "--period", "2020-13"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ISO week"), "{err}");
    let (code, _, err) =
        run(marmot(lake).args(["indicator", "no_such_indicator", "--period", "2020-04"]));
    assert_eq!(code, 2, "{err}");
}

#[test]
fn every_period_syntax_and_trends_work() {
    let lake = demo_lake();
    for p in ["2020-W42", "2020-04", "2020-Q2", "FY2020/21", "R12-2020-06"] {
        let rows = indicator(lake, &["covid_admissions", "--period", p]);
        assert_eq!(rows.len(), 1, "{p}");
        assert_eq!(rows[0]["period"], p);
    }
    let trend = indicator(
        lake,
        &[
            "covid_admissions",
            "--trend",
            "month",
            "--from",
            "2020-01-01",
            "--to",
            "2020-12-31",
        ],
    );
    assert_eq!(trend.len(), 12);
    let april = trend
        .iter()
        .find(|r| r["period"] == "2020-04")
        .expect("april");
    let single = indicator(lake, &["covid_admissions", "--period", "2020-04"]);
    close(
        f(april, "numerator"),
        f(&single[0], "numerator"),
        "monthly buckets equal a single period",
    );
}

#[test]
fn the_planted_deprivation_gradient_is_found() {
    let lake = demo_lake();
    for id in ["emergency_admissions", "police_domestic_abuse"] {
        let out = ok(marmot(lake).args([
            "inequalities",
            id,
            "--period",
            "FY2019/20",
            "--by",
            "local_imd_quintile",
            "--format",
            "json",
        ]));
        let rows: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(rows.len(), 1, "{out}");
        let r = &rows[0];
        // SII: the value in the most deprived (quantile 1) minus the least deprived end of the
        // fitted line; with quantile 1 = most deprived, a higher burden there gives SII < 0.
        let (sii, lo, hi) = (f(r, "sii"), f(r, "sii_lower_95"), f(r, "sii_upper_95"));
        assert!(lo <= sii && sii <= hi, "{r}");
        assert!(
            hi < 0.0 || lo > 0.0,
            "{id}: SII significantly non-zero: {r}"
        );
        let ratio = f(r, "q1") / f(r, "q5");
        assert!((1.6..2.6).contains(&ratio), "{id}: Q1/Q5 = {ratio}");
        close(f(r, "gap_relative"), ratio, "gap_relative");
    }
}

/// Golden snapshot of every shipped indicator: place and locality, rounded to 6 significant
/// figures, for periods chosen from each indicator's own data span (the calendar quarter with
/// the most events at place level, and the financial year holding it), so that no indicator's
/// snapshot is all NA; every indicator must have a positive numerator in it. The numbers are checked independently above (SQL
/// cross-checks of each measure); this snapshot shows what a change to an indicator's SQL or
/// to the engine does to real numbers. Regenerate with UPDATE_GOLDEN=1.
#[test]
fn golden_values_of_every_indicator() {
    let lake = demo_lake();
    let out = ok(marmot(lake).args(["indicators", "--format", "json"]));
    let all: Vec<Value> = serde_json::from_str(out.trim()).expect("json");
    let sig = |v: &Value| match v.as_f64() {
        Some(x) if x != 0.0 => format!("{:.*e}", 5, x),
        Some(x) => format!("{x}"),
        None => "NA".to_string(),
    };
    let mut text = String::from(
        "indicator,level,area,period,value,lower_95,upper_95,numerator,denominator,comparison\n",
    );
    for i in &all {
        let id = i["id"].as_str().unwrap_or_default();
        // The demo generates no street_crime (police.uk files, tested in tests/mappings.rs).
        if !marmot_lake::demo::DEMO_DATASETS.contains(&i["source"].as_str().unwrap_or_default()) {
            continue;
        }
        let quarters = indicator(
            lake,
            &[
                id,
                "--level",
                "place",
                "--trend",
                "quarter",
                "--from",
                "2017-01-01",
                "--to",
                "2022-12-31",
            ],
        );
        let busiest = quarters
            .iter()
            .filter(|r| r["numerator"].as_f64().is_some_and(|n| n > 0.0))
            .max_by(|a, b| f(a, "numerator").total_cmp(&f(b, "numerator")))
            .unwrap_or_else(|| panic!("{id}: no quarter with a positive numerator"));
        let quarter = busiest["period"].as_str().unwrap().to_string();
        let (year, q): (i32, u32) = (quarter[..4].parse().unwrap(), quarter[6..].parse().unwrap());
        let fy = if q >= 2 { year } else { year - 1 };
        let fy = format!("FY{fy}/{:02}", (fy + 1) % 100);
        let mut positive = false;
        for level in ["place", "locality"] {
            let rows = indicator(
                lake,
                &[id, "--level", level, "--period", &fy, "--period", &quarter],
            );
            for r in rows {
                positive |= r["numerator"].as_f64().is_some_and(|n| n > 0.0);
                text.push_str(&format!(
                    "{id},{level},{},{},{},{},{},{},{},{}\n",
                    r["area_name"].as_str().unwrap_or_default(),
                    r["period"].as_str().unwrap_or_default(),
                    sig(&r["value"]),
                    sig(&r["lower_95"]),
                    sig(&r["upper_95"]),
                    sig(&r["numerator"]),
                    sig(&r["denominator"]),
                    r["comparison"].as_str().unwrap_or_default(),
                ));
            }
        }
        assert!(
            positive,
            "{id}: no positive numerator in its golden periods"
        );
    }
    let path = manifest_dir().join("../../tests/golden/indicators.csv");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(&path, &text).expect("write golden");
    }
    let golden = std::fs::read_to_string(&path)
        .expect("tests/golden/indicators.csv (UPDATE_GOLDEN=1 to create)");
    for (a, b) in golden.lines().zip(text.lines()) {
        assert_eq!(a, b, "golden mismatch");
    }
    assert_eq!(golden.lines().count(), text.lines().count());
}

#[test]
fn the_cube_answers_like_a_live_computation_and_refreshes_incrementally() {
    let lake = demo_lake();
    assert!(
        sql_f64(lake, "SELECT count(*) FROM indicator_values") > 10_000.0,
        "demo builds the cube"
    );
    for args in [
        vec![
            "emergency_admissions",
            "--level",
            "ward",
            "--period",
            "2019-Q1",
            "--period",
            "FY2019/20",
        ],
        vec![
            "police_domestic_abuse",
            "--level",
            "neighbourhood",
            "--period",
            "2020-05",
            "--by",
            "local_imd_quintile",
        ],
        vec![
            "covid_admissions",
            "--level",
            "place",
            "--period",
            "2020-W15",
            "--period",
            "2021-W02",
            "--by",
            "sex",
        ],
    ] {
        let cube = indicator(lake, &args);
        let mut live_args = args.clone();
        live_args.push("--live");
        let live = indicator(lake, &live_args);
        assert!(!cube.is_empty());
        assert_eq!(cube, live, "{args:?}");
    }
    let out = ok(marmot(lake).arg("cube"));
    assert!(
        out.contains("0 recomputed"),
        "nothing changed, nothing recomputed: {out}"
    );
}

#[test]
fn an_ingest_refreshes_the_cube_for_its_dataset_only() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let template = |ds: &str| {
        let f = dir.path().join(format!("{ds}.csv"));
        std::fs::write(
            &f,
            ok(marmot(&lake).args(["datasets", "template", ds, "--rows", "40"])),
        )
        .expect("write");
        f
    };
    let police = template("police");
    ok(marmot(&lake).args(["ingest", "police"]).arg(&police));
    let versions = |id: &str| {
        sql(
            &lake,
            &format!(
                "SELECT DISTINCT data_version FROM indicator_values WHERE indicator_id = '{id}'"
            ),
        )
    };
    let v1 = versions("police_domestic_abuse");
    assert_eq!(v1.len(), 1, "{v1:?}");
    assert!(
        v1[0]["data_version"]
            .as_str()
            .unwrap_or_default()
            .contains("police@1"),
        "{v1:?}"
    );
    let cab = template("cab");
    let out = ok(marmot(&lake).args(["ingest", "cab"]).arg(&cab));
    assert!(out.contains("committed cab"), "{out}");
    assert_eq!(
        versions("police_domestic_abuse"),
        v1,
        "police indicators untouched by a cab ingest"
    );
    assert_eq!(versions("cab_housing").len(), 1);
}
