//! The lake conformance suite, run unchanged against a local directory and against a real
//! S3-compatible server (`s3s-fs`, started by the tests on loopback): ingest, re-ingest,
//! quarantine, resubmission, history, time travel, the indicator cube and a ward extract must
//! behave and answer the same. Wrong credentials and an unreachable server are one clear error
//! that changes nothing; a Ballista cluster reads the S3 lake with the executors' settings.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::http::Server;
use common::procs::{BUCKET, Cluster, shared_s3};
use common::*;
use serde_json::Value;

/// Ingests admissions from `partner` with `--format json`.
fn ingest_as(lake: &Path, file: &Path, partner: &str) -> (i32, Value) {
    ingest_json(lake, "admissions", file, &["--partner", partner])
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

/// What the suite saw, for comparing one store with the other.
#[derive(Debug, PartialEq)]
struct Seen {
    counts: Vec<u64>,
    cube: String,
    extract: String,
}

/// The whole suite against one lake; `object` says where a lake-relative path is on disk
/// (to check that files really were written where the summary says).
fn conformance(lake: &Path, work: &Path, object: &dyn Fn(&str) -> PathBuf) -> Seen {
    ok(marmot(lake).arg("init"));
    let (h, rows) = template(lake, "admissions", 12);
    // 1. Ingest.
    let first = work.join("april.csv");
    write_csv(&first, &h, &rows[..10]);
    let (code, v1) = ingest_as(lake, &first, "homerton");
    assert_eq!((code, n(&v1, "accepted")), (0, 10), "{v1}");
    let v1_version = n(&v1, "table_version");
    assert!(
        object(v1["raw_path"].as_str().unwrap()).is_file(),
        "raw copy kept: {v1}"
    );
    // 2. Re-ingest: a no-op that says so.
    let (code, out, _) = run(marmot(lake)
        .args(["ingest", "admissions"])
        .arg(&first)
        .args(["--partner", "homerton"]));
    assert_eq!(code, 0);
    assert!(out.contains("already ingested"), "{out}");
    // 3. Quarantine: one bad age among three rows from another trust.
    let age = h.iter().position(|c| c == "age").expect("age column");
    let mut bad = rows[10..12].to_vec();
    bad.push(rows[0].clone());
    bad[0][age] = "abc".into();
    let other = work.join("april-barts.csv");
    write_csv(&other, &h, &bad);
    let (code, v2) = ingest_as(lake, &other, "barts");
    assert_eq!(
        (code, n(&v2, "accepted"), n(&v2, "rejected")),
        (3, 2, 1),
        "{v2}"
    );
    let q = v2["quarantine_path"].as_str().expect("quarantine path");
    assert!(object(q).is_file(), "quarantine file {q} written");
    // 4. A replacement of the trust's period; history keeps the old rows.
    let corrected = work.join("april-corrected.csv");
    write_csv(&corrected, &h, &rows[..4]);
    let period = months_of(&v1);
    let (code, v3) = ingest_json(
        lake,
        "admissions",
        &corrected,
        &[
            "--partner",
            "homerton",
            "--mode",
            "replace",
            "--period",
            &period,
            "--force",
        ],
    );
    assert_eq!((code, n(&v3, "replaced_rows")), (0, 10), "{v3}");
    let now = sql_f64(lake, "SELECT count(*) FROM admissions") as u64;
    assert_eq!(now, 6);
    // 5. Time travel and history.
    let then = count_at(lake, "admissions", v1_version);
    assert_eq!(then, 10);
    let hist = ok(marmot(lake).args(["datasets", "history", "admissions"]));
    for f in ["april.csv", "april-barts.csv", "april-corrected.csv"] {
        assert!(hist.contains(f), "{hist}");
    }
    // 6. The indicator cube.
    ok(marmot(lake).arg("cube"));
    let cube = ok(marmot(lake).args([
        "sql",
        "--format",
        "csv",
        "SELECT indicator_id, level, area_code, period, breakdown, category, value, \
         lower_95, upper_95, numerator, denominator FROM indicator_values \
         ORDER BY indicator_id, level, area_code, period, breakdown, category",
    ]));
    assert!(cube.lines().count() > 100, "{cube}");
    // 7. A partner's ward extract, served from this lake.
    let server = Server::start(lake, &[]);
    let r = server.get(
        Some("partner"),
        "/api/v1/extracts/ward/emergency_admissions.csv",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let extract = r.text();
    assert!(extract.lines().count() > 1, "{extract}");
    Seen {
        counts: vec![then, now],
        cube,
        extract,
    }
}

/// An extract without its data-version column (ingest ids differ between two lakes).
fn without_versions(csv: &str) -> String {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| header[i] != "data_version")
        .collect();
    std::iter::once(header.join(","))
        .chain(lines.map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            keep.iter()
                .map(|&i| f.get(i).copied().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(",")
        }))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_same_suite_passes_on_a_local_directory_and_on_an_s3_server() {
    let s3 = shared_s3();
    let work = tempfile::tempdir().unwrap();
    let local_dir = tempfile::tempdir().unwrap();
    let local = local_dir.path().join("lake");
    let on_disk = conformance(&local, work.path(), &|p| local.join(p));
    let remote = PathBuf::from(format!("s3://{BUCKET}/conformance"));
    let on_s3 = conformance(&remote, work.path(), &|p| {
        s3.object_path(&format!("conformance/{p}"))
    });
    assert_eq!(on_disk.counts, on_s3.counts);
    assert!(
        on_disk.cube == on_s3.cube,
        "the cube differs between stores"
    );
    assert_eq!(
        without_versions(&on_disk.extract),
        without_versions(&on_s3.extract)
    );
    // Nothing of the S3 lake was written to the local file system instead.
    assert!(!Path::new("s3:").exists());
}

#[test]
fn wrong_credentials_and_an_unreachable_server_are_one_clear_error_and_change_nothing() {
    let s3 = shared_s3();
    let lake = PathBuf::from(format!("s3://{BUCKET}/credentials"));
    ok(marmot(&lake).arg("init"));
    let (h, rows) = template(&lake, "admissions", 5);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("may.csv");
    write_csv(&file, &h, &rows);
    // This test's objects (the other tests of this binary share the server).
    let mine = s3.object_path("credentials");
    let before = files_under(&mine);
    assert!(before.len() > 10, "{before:?}");

    let (code, _, err) = run(marmot(&lake)
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["ingest", "admissions"])
        .arg(&file));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("the lake at s3://marmot/credentials/ cannot be reached"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one error, not a cascade: {err}");
    assert_eq!(files_under(&mine), before, "nothing written");

    let closed = common::procs::free_port();
    let (code, _, err) = run(marmot(&lake)
        .env("AWS_ENDPOINT", format!("http://127.0.0.1:{closed}"))
        .args(["ingest", "admissions"])
        .arg(&file));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot be reached"), "{err}");
    assert_eq!(files_under(&mine), before, "nothing written");

    let (code, _, err) = run(marmot(&lake)
        .env_remove("AWS_ACCESS_KEY_ID")
        .arg("datasets"));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs credentials"), "{err}");
    // With the right settings the same ingest goes through.
    ok(marmot(&lake).args(["ingest", "admissions"]).arg(&file));
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 5.0);
}

#[test]
fn a_ballista_cluster_reads_a_lake_on_s3_with_the_executors_settings() {
    let _s3 = shared_s3();
    // The cluster's processes get the S3 settings through their environment, as in production.
    let cluster = Cluster::start(1);
    let lake = PathBuf::from(format!("s3://{BUCKET}/cluster"));
    ok(marmot(&lake).arg("init"));
    let (h, rows) = template(&lake, "admissions", 40);
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("june.csv");
    write_csv(&file, &h, &rows);
    ok(marmot(&lake).args(["ingest", "admissions"]).arg(&file));
    let q = "SELECT g.ward_code, count(*) AS n FROM admissions a \
             JOIN geography g USING (lsoa_code) GROUP BY 1 ORDER BY 1";
    let local = ok(marmot(&lake).args(["sql", "--format", "csv", q]));
    let remote = ok(marmot(&lake).args(["--engine", &cluster.engine, "sql", "--format", "csv", q]));
    assert!(local.lines().count() > 1, "{local}");
    assert_eq!(remote, local);
}
