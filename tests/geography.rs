//! End-to-end tests of places and geography (issue #18): a place made of local authority codes
//! alone runs from `init` to a trigger run; partner files in LSOA 2011 and LSOA 2021 codes both
//! land in a 2021 lake, converted by the documented rule and with every row accounted for; a 2011
//! lake still works; a lake of an older layout is refused with how to rebuild it; boundaries are
//! attached to the lake, and refused when they are not the place's.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().map(str::to_string).unwrap_or_default()
}

#[test]
fn a_place_made_of_lad_codes_alone_runs_from_init_to_a_trigger_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    let out = ok(marmot(&lake).args(["init", "--place", "coventry-test", "--lad", "E08000026"]));
    assert!(
        out.contains("Coventry") && out.contains("203 LSOAs"),
        "{out}"
    );
    let geo = sql(
        &lake,
        "SELECT locality_code, locality, count(*) AS n, count(DISTINCT ward_code) AS wards FROM geography GROUP BY 1, 2",
    );
    assert_eq!(geo.len(), 1, "{geo:?}");
    assert_eq!(s(&geo[0], "locality_code"), "E08000026");
    assert_eq!(s(&geo[0], "locality"), "Coventry");
    assert_eq!(n(&geo[0], "n"), 203);
    assert_eq!(
        n(&geo[0], "wards"),
        18,
        "Coventry's 18 wards (2024 best fit)"
    );
    // ONS mid-2019 estimate for Coventry: 371,521, whatever the LSOA vintage.
    assert_eq!(
        sql_f64(
            &lake,
            "SELECT sum(population) FROM population WHERE year = 2019"
        ),
        371_521.0
    );
    ok(marmot(&lake).args([
        "demo",
        "generate",
        "--place",
        "coventry-test",
        "--lad",
        "E08000026",
        "--scale",
        "0.1",
        "--no-cube",
    ]));
    assert!(sql_f64(&lake, "SELECT count(*) FROM admissions") > 1000.0);
    ok(marmot(&lake).arg("cube"));
    let v = sql(
        &lake,
        "SELECT area_code, count(*) AS n FROM indicator_values WHERE level = 'locality' GROUP BY 1",
    );
    assert_eq!(v.len(), 1, "{v:?}");
    assert_eq!(
        s(&v[0], "area_code"),
        "E08000026",
        "the locality answers to its GSS code"
    );
    let health = ok(marmot(&lake).args([
        "inequalities",
        "emergency_admissions",
        "--period",
        "FY2019/20",
        "--by",
        "imd_health_quintile",
        "--format",
        "json",
    ]));
    assert!(
        health.contains("imd_health_quintile") || health.contains("sii"),
        "{health}"
    );
    ok(marmot(&lake).args(["triggers", "run", "--week", "2020-W42"]));
    assert!(sql_f64(&lake, "SELECT count(*) FROM trigger_evaluations") > 0.0);

    // Served: a place with no boundaries still answers by GSS code, and its map says why it has
    // no shapes instead of failing.
    let server = common::http::Server::start(&lake, &[]);
    let map = server.get(None, "/charts/map/emergency_admissions.svg?period=2019-09");
    assert_eq!(map.status, 200, "{}", map.text());
    assert!(
        map.text().contains("No ward boundaries in this lake")
            && map.text().contains("marmot init --boundaries"),
        "{}",
        map.text()
    );
    let page = server
        .get(
            Some("analyst"),
            "/api/v1/indicators/emergency_admissions/values?level=locality&area=E08000026&period=2019-09",
        )
        .json();
    assert_eq!(page["rows"][0]["area_code"], "E08000026", "{page}");
    assert_eq!(page["rows"][0]["area_name"], "Coventry", "{page}");
}

/// The largest shipped place, an ICS of nine authorities, generates its demo: the synthetic
/// practice codes stay ODS-shaped however many neighbourhoods a place has (the contract refused
/// `F842183` before). The cube of a place this size is the cube bench's (release build).
#[test]
fn an_ics_of_nine_authorities_generates_its_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    ok(marmot(&lake).args([
        "demo",
        "generate",
        "--place",
        "cheshire-and-merseyside",
        "--scale",
        "0.02",
        "--no-cube",
    ]));
    assert_eq!(
        sql_f64(&lake, "SELECT count(DISTINCT locality_code) FROM geography"),
        9.0
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM geography"), 1601.0);
    let practices = sql(
        &lake,
        "SELECT count(DISTINCT practice_code) AS n, min(practice_code) AS lo, max(practice_code) AS hi FROM ccg_activity",
    );
    assert!(n(&practices[0], "n") > 1000, "{practices:?}");
    assert_eq!(s(&practices[0], "lo"), "F84001", "{practices:?}");
    assert!(s(&practices[0], "hi").as_str() > "F85000", "{practices:?}");
}

/// The ONS LSOA (2011) to LSOA (2021) lookup for Hackney, with Census 2021 usual residents of
/// each 2021 LSOA (published, TS001) deciding the split ones: U kept, M exact, S best fit.
const CONVERSIONS: [(&str, &str, &str); 6] = [
    ("E01001714", "E01001714", "U"),
    ("E01033698", "E01035650", "M"),
    ("E01033707", "E01035650", "M"),
    ("E01001748", "E01035641", "S"), // E01035640 1,394 vs E01035641 1,429 residents
    ("E01001752", "E01035643", "S"), // 1,723 vs E01035644 1,182
    ("E01033701", "E01035638", "S"), // 1,892 vs E01035639 1,711
];

fn police_file(lake: &Path, path: &Path, header: &str, codes: &[&str]) {
    let (mut h, rows) = template(lake, "police", codes.len());
    let k = h
        .iter()
        .position(|c| c == "lsoa_code")
        .expect("lsoa column");
    let id = h
        .iter()
        .position(|c| c == "incident_id")
        .expect("id column");
    h[k] = header.to_string();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .zip(codes)
        .map(|(mut r, c)| {
            r[k] = c.to_string();
            // Each file its own incidents: the template numbers them from 1 in every file.
            r[id] = format!("{header}-{}", r[id]);
            r
        })
        .collect();
    write_csv(path, &h, &rows);
}

#[test]
fn lsoa_2011_and_2021_files_both_land_in_a_2021_lake() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    // A file in LSOA 2021 codes (one outside the place: Hartlepool).
    let f21 = dir.path().join("police21.csv");
    police_file(
        &lake,
        &f21,
        "lsoa21cd",
        &["E01001714", "E01035650", "E01035641", "E01011950"],
    );
    let (code, v) = ingest_json(&lake, "police", &f21, &[]);
    assert_eq!(code, 3, "some rows quarantined: {v}");
    assert_eq!(
        (n(&v, "rows_read"), n(&v, "accepted"), n(&v, "rejected")),
        (4, 3, 1),
        "{v}"
    );
    // A file in LSOA 2011 codes: every kind of change, and a 2011 code outside the place.
    let f11 = dir.path().join("police11.csv");
    let mut codes: Vec<&str> = CONVERSIONS.iter().map(|c| c.0).collect();
    codes.push("E01011950");
    police_file(&lake, &f11, "lsoa11cd", &codes);
    let (code, v) = ingest_json(&lake, "police", &f11, &[]);
    assert_eq!(code, 3, "{v}");
    assert_eq!(
        (n(&v, "rows_read"), n(&v, "accepted"), n(&v, "rejected")),
        (7, 6, 1),
        "rows read = accepted + rejected: {v}"
    );
    let rows = sql(
        &lake,
        "SELECT _lsoa_as_sent AS sent, lsoa_code FROM police WHERE _lsoa_as_sent IS NOT NULL ORDER BY 1",
    );
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (s(r, "sent"), s(r, "lsoa_code")))
        .collect();
    let mut want: Vec<(String, String)> = CONVERSIONS
        .iter()
        .filter(|c| c.2 != "U")
        .map(|c| (c.0.to_string(), c.1.to_string()))
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "converted by the documented rule, the code as sent kept"
    );
    // The unchanged code needed no conversion; every stored code is a 2021 LSOA of the place.
    assert_eq!(
        sql_f64(
            &lake,
            "SELECT count(*) FROM police p LEFT JOIN geography g USING (lsoa_code) WHERE g.lsoa_code IS NULL"
        ),
        0.0
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM police"), 9.0);
    // The lookup rows of the place, with the best fit marked as applied.
    for (from, to, change) in CONVERSIONS {
        let r = sql(
            &lake,
            &format!(
                "SELECT change FROM lsoa11_lsoa21 WHERE lsoa11_code = '{from}' AND lsoa21_code = '{to}' AND best_fit"
            ),
        );
        assert_eq!(r.len(), 1, "{from} -> {to}");
        assert_eq!(s(&r[0], "change"), change);
    }
    // The rows outside the place were quarantined, not stored.
    let q = sql(
        &lake,
        "SELECT count(*) AS n FROM police WHERE lsoa_code = 'E01011950'",
    );
    assert_eq!(n(&q[0], "n"), 0);
}

#[test]
fn a_2011_lake_still_works_and_an_old_layout_is_refused_with_how_to_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    let out = ok(marmot(&lake).args(["init", "--place", "chorley", "--geography", "2011"]));
    assert!(
        out.contains("66 LSOAs") && out.contains("IMD 2019"),
        "{out}"
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM imd2019"), 66.0);
    let f = dir.path().join("cab.csv");
    let (h, rows) = template(&lake, "cab", 5);
    write_csv(&f, &h, &rows);
    let (code, v) = ingest_json(&lake, "cab", &f, &[]);
    assert_eq!((code, n(&v, "accepted")), (0, 5), "{v}");
    // An LSOA 2021 code that is not a 2011 one is unknown in a 2011 lake.
    let e21 = dir.path().join("cab21.csv");
    let (h, mut rows) = template(&lake, "cab", 1);
    let k = h.iter().position(|c| c == "lsoa_code").expect("lsoa");
    rows[0][k] = "E01035650".into();
    write_csv(&e21, &h, &rows);
    let (_, v) = ingest_json(&lake, "cab", &e21, &[]);
    assert_eq!(n(&v, "rejected"), 1, "{v}");
    // A manifest of layout 1 (LSOA columns named lsoa11cd) is refused, saying what to do.
    let m = lake.join("_marmot/lake.json");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&m).expect("manifest")).expect("json");
    doc["format"] = Value::from(1);
    std::fs::write(&m, doc.to_string()).expect("write");
    let (code, _, err) = run(marmot(&lake).args(["sql", "SELECT 1"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("layout 1") && err.contains("--geography 2011") && err.contains("raw/"),
        "{err}"
    );
}

#[test]
fn boundaries_belong_to_the_lake_and_must_be_the_places() {
    let root = manifest_dir().join("../../data/reference/boundaries/2021");
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    ok(marmot(&lake).args(["init", "--place", "chorley"]));
    let wards = lake.join("_marmot/boundaries/wards.geojson");
    let shipped: Value =
        serde_json::from_str(&std::fs::read_to_string(&wards).expect("shipped wards"))
            .expect("json");
    assert_eq!(
        shipped["features"].as_array().map(Vec::len),
        Some(14),
        "Chorley's 14 wards"
    );
    // Hackney's wards are not Chorley's: refused, and the lake's boundaries are unchanged.
    let (code, _, err) = run(marmot(&lake)
        .args(["init", "--place", "chorley", "--boundaries"])
        .arg(root.join("wards_E09000012.geojson")));
    assert_ne!(code, 0);
    assert!(err.contains("none of its ward boundaries"), "{err}");
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(&wards).expect("wards")).expect("json");
    assert_eq!(after, shipped);
    // A place made from codes gets its authorities' shipped boundaries; a file attached to an
    // existing lake is told a ward or an LSOA file by its code property (LSOA21CD here).
    let dir2 = tempfile::tempdir().expect("tempdir");
    let lake2 = lake_path(&dir2);
    ok(marmot(&lake2).args(["init", "--place", "hackney-only", "--lad", "E09000012"]));
    let lsoa: Value = serde_json::from_str(
        &std::fs::read_to_string(lake2.join("_marmot/boundaries/lsoa.geojson")).expect("lsoa"),
    )
    .expect("json");
    assert_eq!(lsoa["features"].as_array().map(Vec::len), Some(149));
    let out = ok(marmot(&lake2)
        .args([
            "init",
            "--place",
            "hackney-only",
            "--lad",
            "E09000012",
            "--boundaries",
        ])
        .arg(root.join("lsoa_E09000012.geojson")));
    assert!(out.contains("149 LSOA boundaries attached"), "{out}");
}
