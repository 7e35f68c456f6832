//! End-to-end tests of the demo lake: realistic magnitudes over the real population, every
//! planted signal present at roughly its documented size, determinism for a seed, and another
//! place by configuration only.

mod common;

use common::*;

/// Local IMD quintile of each LSOA (1 = most deprived fifth of the place's LSOAs).
const QUINTILES: &str = "SELECT lsoa_code, ntile(5) OVER (ORDER BY imd_rank) AS q FROM imd2025 JOIN geography USING (lsoa_code)";

fn ratio(a: f64, b: f64) -> f64 {
    assert!(b > 0.0, "denominator 0");
    a / b
}

#[test]
fn planted_signals_are_written_to_the_lake() {
    let lake = demo_lake();
    let text = std::fs::read_to_string(lake.join("_marmot/demo/planted_signals.json"))
        .expect("signals file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let ids: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in [
        "deprivation-gradient",
        "winter-respiratory",
        "lockdown-drop",
        "covid-wave-1",
        "covid-second-peak",
        "cab-housing",
        "cab-employment",
        "hub-food-working-age",
        "hub-shopping-70plus",
        "police-da-lockdown-fall",
        "police-da-rebound",
        "gp-remote-shift",
        "covid-ethnic-gradient",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let out = ok(marmot(lake).args(["demo", "--no-serve"]));
    assert!(out.contains("demo lake already at"), "{out}");
}

#[test]
fn admissions_have_realistic_magnitudes_and_age_structure() {
    let lake = demo_lake();
    let pop = sql_f64(
        lake,
        "SELECT sum(population) FROM population WHERE year = 2019",
    );
    assert!((280_000.0..300_000.0).contains(&pop), "{pop}");
    let em = sql_f64(
        lake,
        "SELECT count(*) FROM admissions WHERE admission_method = 'emergency' AND admission_date BETWEEN DATE '2019-01-01' AND DATE '2019-12-31'",
    );
    let rate = em / pop * 1000.0;
    assert!(
        (80.0..120.0).contains(&rate),
        "emergency admissions per 1,000 in 2019: {rate}"
    );
    let by_age = |lo: i32, hi: i32| {
        let n = sql_f64(
            lake,
            &format!(
                "SELECT count(*) FROM admissions WHERE admission_method = 'emergency' AND date_part('year', admission_date) = 2019 AND age BETWEEN {lo} AND {hi}"
            ),
        );
        let p = sql_f64(
            lake,
            &format!(
                "SELECT sum(population) FROM population WHERE year = 2019 AND age BETWEEN {lo} AND {hi}"
            ),
        );
        n / p
    };
    assert!(
        by_age(75, 200) > 3.0 * by_age(15, 44),
        "older ages have higher rates"
    );
}

#[test]
fn deprivation_gradient_is_about_twofold() {
    let lake = demo_lake();
    for (table, filter) in [
        (
            "admissions",
            "admission_method = 'emergency' AND admission_date < DATE '2020-01-01'",
        ),
        (
            "police",
            "category = 'domestic_abuse' AND incident_date < DATE '2020-01-01'",
        ),
    ] {
        let q = |quintile: i32| {
            sql_f64(
                lake,
                &format!(
                    "WITH q AS ({QUINTILES}), p AS (SELECT lsoa_code, sum(population) AS pop FROM population WHERE year = 2019 GROUP BY 1), \
                 e AS (SELECT lsoa_code, count(*) AS n FROM {table} WHERE {filter} GROUP BY 1) \
                 SELECT sum(e.n) * 1.0 / sum(p.pop) FROM q JOIN p USING (lsoa_code) JOIN e USING (lsoa_code) WHERE q.q = {quintile}"
                ),
            )
        };
        let r = ratio(q(1), q(5));
        assert!(
            (1.6..2.5).contains(&r),
            "{table}: most/least deprived quintile = {r}"
        );
    }
}

/// Weekly mean count in [from, to] of a year, over a filter.
fn count(
    lake: &std::path::Path,
    table: &str,
    date: &str,
    filter: &str,
    from: &str,
    to: &str,
) -> f64 {
    sql_f64(
        lake,
        &format!(
            "SELECT count(*) FROM {table} WHERE {filter} AND {date} BETWEEN DATE '{from}' AND DATE '{to}'"
        ),
    )
}

#[test]
fn lockdown_drop_in_core_emergency_admissions_is_about_30_percent() {
    let lake = demo_lake();
    let core = "admission_method = 'emergency' AND (primary_diagnosis LIKE 'I21%' OR primary_diagnosis LIKE 'I22%' OR primary_diagnosis LIKE 'I50%' OR primary_diagnosis LIKE 'J44%' OR primary_diagnosis LIKE 'J45%' OR primary_diagnosis LIKE 'J46%' OR primary_diagnosis LIKE 'E1%' OR (primary_diagnosis LIKE 'S%' AND age < 18) OR (primary_diagnosis LIKE 'T%' AND age < 18))";
    let y2020 = count(
        lake,
        "admissions",
        "admission_date",
        core,
        "2020-03-23",
        "2020-05-03",
    );
    let before: f64 = [2017, 2018, 2019]
        .iter()
        .map(|y| {
            count(
                lake,
                "admissions",
                "admission_date",
                core,
                &format!("{y}-03-23"),
                &format!("{y}-05-03"),
            )
        })
        .sum::<f64>()
        / 3.0;
    let r = ratio(y2020, before);
    assert!((0.6..0.8).contains(&r), "2020 / previous years = {r}");
}

#[test]
fn winter_respiratory_seasonality() {
    let lake = demo_lake();
    let f = "admission_method = 'emergency' AND (primary_diagnosis LIKE 'J1%' OR primary_diagnosis LIKE 'J22%' OR primary_diagnosis LIKE 'J44%')";
    let jan = count(
        lake,
        "admissions",
        "admission_date",
        f,
        "2018-01-01",
        "2018-01-31",
    );
    let jul = count(
        lake,
        "admissions",
        "admission_date",
        f,
        "2018-07-01",
        "2018-07-31",
    );
    assert!(ratio(jan, jul) > 1.8, "January / July = {}", jan / jul);
}

#[test]
fn covid_waves_and_second_peak_rising_first_in_deprived_areas() {
    let lake = demo_lake();
    let covid = "primary_diagnosis = 'U07.1'";
    assert_eq!(
        count(
            lake,
            "admissions",
            "admission_date",
            covid,
            "2015-01-01",
            "2020-02-23"
        ),
        0.0
    );
    let apr = count(
        lake,
        "admissions",
        "admission_date",
        covid,
        "2020-04-01",
        "2020-04-30",
    );
    let aug = count(
        lake,
        "admissions",
        "admission_date",
        covid,
        "2020-08-01",
        "2020-08-31",
    );
    let jan = count(
        lake,
        "admissions",
        "admission_date",
        covid,
        "2021-01-01",
        "2021-01-31",
    );
    assert!(
        apr > 5.0 * aug.max(1.0) && jan > 5.0 * aug.max(1.0),
        "apr {apr} aug {aug} jan {jan}"
    );
    // Autumn 2020: cases per head in the most deprived fifth well above the least deprived.
    let q = |quintile: i32| {
        sql_f64(
            lake,
            &format!(
                "WITH q AS ({QUINTILES}), p AS (SELECT lsoa_code, sum(population) AS pop FROM population WHERE year = 2019 GROUP BY 1), \
             e AS (SELECT lsoa_code, count(*) AS n FROM contact_tracing WHERE referral_date BETWEEN DATE '2020-10-01' AND DATE '2020-11-30' GROUP BY 1) \
             SELECT sum(e.n) * 1.0 / sum(p.pop) FROM q JOIN p USING (lsoa_code) JOIN e USING (lsoa_code) WHERE q.q = {quintile}"
            ),
        )
    };
    assert!(
        ratio(q(1), q(5)) > 1.3,
        "Q1/Q5 in Oct-Nov 2020 = {}",
        q(1) / q(5)
    );
}

/// The planted ethnic gradient in COVID-19 admissions, through the `ethnic_group` breakdown
/// with Census 2021 denominators (crude rates: residents by group have no age detail).
#[test]
fn covid_admissions_by_ethnic_group_show_the_planted_gradient() {
    let lake = demo_lake();
    let out = ok(marmot(lake).args([
        "indicator",
        "covid_admissions",
        "--level",
        "place",
        "--period",
        "FY2020/21",
        "--by",
        "ethnic_group",
        "--format",
        "json",
    ]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(out.trim()).expect("json");
    let get = |g: &str| {
        rows.iter()
            .find(|r| r["ethnic_group"] == g)
            .unwrap_or_else(|| panic!("no {g} row in {out}"))
    };
    let rate = |g: &str| {
        get(g)["value"]
            .as_f64()
            .unwrap_or_else(|| panic!("{g}: {out}"))
    };
    // Census 2021 usual residents of City of London and Hackney (TS021): 8,588 + 259,112.
    let dens: f64 = ["Asian", "Black", "Mixed", "White", "Other"]
        .iter()
        .map(|g| get(g)["denominator"].as_f64().expect("denominator"))
        .sum();
    assert_eq!(
        dens, 267_700.0,
        "denominators are the place's Census 2021 residents"
    );
    // Planted: Black 2.5, Asian 2.0, Other 1.8, Mixed 1.5 times White within each LSOA; the
    // groups also live in more or less deprived LSOAs, so the place-level ratios move a little.
    for (g, planted) in [
        ("Black", 2.5),
        ("Asian", 2.0),
        ("Other", 1.8),
        ("Mixed", 1.5),
    ] {
        let r = rate(g) / rate("White");
        assert!(
            (planted * 0.75..planted * 1.35).contains(&r),
            "{g}/White = {r:.2}, planted {planted}"
        );
    }
    let ns = get("Not stated");
    assert!(
        ns["value"].is_null() && ns["numerator"].as_f64().unwrap_or(0.0) > 0.0,
        "{ns}"
    );
    assert!(
        get("Black")["method"]
            .as_str()
            .unwrap_or("")
            .contains("Census 2021"),
        "each value says its denominator: {out}"
    );
}

#[test]
fn cab_housing_and_employment_advice_rise_from_mid_2020() {
    let lake = demo_lake();
    let c = |cat: &str, from: &str, to: &str| {
        count(
            lake,
            "cab",
            "contact_date",
            &format!("advice_category = '{cat}'"),
            from,
            to,
        )
    };
    let housing = ratio(
        c("housing", "2020-07-01", "2021-02-28"),
        c("housing", "2019-07-01", "2020-02-29"),
    );
    assert!((1.25..1.55).contains(&housing), "housing {housing}");
    let emp = ratio(
        c("employment_redundancy", "2020-11-01", "2021-02-28"),
        c("employment_redundancy", "2019-11-01", "2020-02-29"),
    );
    assert!((1.7..2.3).contains(&emp), "employment {emp}");
}

#[test]
fn hub_requests_food_in_working_age_and_shopping_in_70_plus() {
    let lake = demo_lake();
    assert_eq!(
        sql_f64(
            lake,
            "SELECT count(*) FROM community_hub WHERE request_date < DATE '2020-03-23'"
        ),
        0.0
    );
    let share = |ty: &str, bands: &str| {
        ratio(
            sql_f64(
                lake,
                &format!(
                    "SELECT count(*) FROM community_hub WHERE request_type = '{ty}' AND age_band IN ({bands})"
                ),
            ),
            sql_f64(
                lake,
                &format!("SELECT count(*) FROM community_hub WHERE request_type = '{ty}'"),
            ),
        )
    };
    assert!(share("food", "'18-29','30-49','50-69'") > 0.8);
    assert!(share("personal_shopping", "'70+'") > 0.6);
}

#[test]
fn domestic_abuse_falls_in_lockdown_then_rises_above_baseline() {
    let lake = demo_lake();
    let da = "category = 'domestic_abuse'";
    let vs_previous = |from: &str, to: &str| {
        let now = count(
            lake,
            "police",
            "incident_date",
            da,
            &format!("2020-{from}"),
            &format!("2020-{to}"),
        );
        let before: f64 = [2017, 2018, 2019]
            .iter()
            .map(|y| {
                count(
                    lake,
                    "police",
                    "incident_date",
                    da,
                    &format!("{y}-{from}"),
                    &format!("{y}-{to}"),
                )
            })
            .sum::<f64>()
            / 3.0;
        ratio(now, before)
    };
    assert!(vs_previous("03-23", "05-31") < 0.9);
    assert!(vs_previous("06-01", "09-30") > 1.15);
}

#[test]
fn gp_consultations_shift_to_remote() {
    let lake = demo_lake();
    let f2f_share = |from: &str, to: &str| {
        sql_f64(
            lake,
            &format!(
                "SELECT sum(CASE WHEN activity_type = 'gp_face_to_face' THEN count ELSE 0 END) * 1.0 / sum(count) FROM ccg_activity \
             WHERE activity_type LIKE 'gp_%' AND activity_date BETWEEN DATE '{from}' AND DATE '{to}'"
            ),
        )
    };
    assert!(f2f_share("2019-01-01", "2019-12-31") > 0.75);
    assert!(f2f_share("2020-04-01", "2020-04-30") < 0.45);
}

#[test]
fn generation_is_deterministic_for_a_seed_and_another_place_is_configuration() {
    let fingerprint = |lake: &std::path::Path| {
        marmot_lake::demo::DEMO_DATASETS
            .iter()
            .map(|t| {
                ok(marmot(lake).args([
                    "sql",
                    "--format",
                    "csv",
                    &format!("SELECT count(*), count(DISTINCT lsoa_code) FROM {t}"),
                ]))
            })
            .collect::<Vec<_>>()
            .join("")
            + &ok(marmot(lake).args([
                "sql",
                "--format",
                "csv",
                "SELECT sum(age), min(patient_id), max(admission_date) FROM admissions",
            ]))
    };
    let a = tempfile::tempdir().expect("tmp");
    let b = tempfile::tempdir().expect("tmp");
    let c = tempfile::tempdir().expect("tmp");
    for (dir, seed) in [(&a, "7"), (&b, "7"), (&c, "8")] {
        ok(marmot(&lake_path(dir)).args([
            "demo",
            "generate",
            "--scale",
            "0.05",
            "--seed",
            seed,
            "--no-cube",
        ]));
    }
    assert_eq!(fingerprint(&lake_path(&a)), fingerprint(&lake_path(&b)));
    assert_ne!(fingerprint(&lake_path(&a)), fingerprint(&lake_path(&c)));

    let d = tempfile::tempdir().expect("tmp");
    let lake = lake_path(&d);
    let out = ok(marmot(&lake).args([
        "demo",
        "generate",
        "--scale",
        "0.05",
        "--place",
        "chorley",
        "--no-cube",
    ]));
    assert!(out.contains("Chorley"), "{out}");
    assert_eq!(
        sql_f64(&lake, "SELECT count(*) FROM geography"),
        70.0,
        "LSOAs 2021"
    );
    assert_eq!(
        sql_f64(
            &lake,
            "SELECT count(*) FROM geography WHERE neighbourhood <> ward_name"
        ),
        0.0
    );
    assert!(sql_f64(&lake, "SELECT count(*) FROM admissions") > 0.0);
    assert_eq!(
        sql_f64(
            &lake,
            "SELECT count(*) FROM admissions a LEFT JOIN geography g USING (lsoa_code) WHERE g.lad_code IS NULL OR g.lad_code <> 'E07000118'"
        ),
        0.0
    );
    // A lake belongs to one place.
    let (code, _, err) = run(marmot(&lake).args(["init", "--place", "city-and-hackney"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is for place 'chorley'"), "{err}");
}

#[test]
fn sql_prints_tables_csv_and_json_and_reports_bad_queries() {
    let lake = demo_lake();
    let table = ok(marmot(lake).args(["sql", "SELECT count(*) AS n FROM esp2013"]));
    assert!(table.contains("| n ") && table.contains("| 19 "), "{table}");
    let csv = ok(marmot(lake).args([
        "sql",
        "--format",
        "csv",
        "SELECT age_band, weight FROM esp2013 ORDER BY age_lower LIMIT 2",
    ]));
    assert_eq!(csv.trim(), "age_band,weight\n0-4,5000\n5-9,5500");
    let (code, _, err) = run(marmot(lake).args(["sql", "SELECT nope FROM admissions"]));
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
    let listing = ok(marmot(lake).arg("datasets"));
    assert!(
        listing.contains("admissions") && listing.contains("demo generator"),
        "{listing}"
    );
}

#[test]
fn docs_datasets_md_is_generated_from_the_contracts() {
    // docs/datasets.md is what partners read; regenerate with
    // `marmot datasets describe --output docs/datasets.md` after changing a contract.
    let dir = tempfile::tempdir().expect("tmp");
    let out = ok(marmot(&dir.path().join("lake")).args(["datasets", "describe"]));
    let committed = std::fs::read_to_string(manifest_dir().join("../../docs/datasets.md"))
        .expect("docs/datasets.md");
    assert_eq!(out, committed, "docs/datasets.md is stale: regenerate it");
}
