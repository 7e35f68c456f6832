//! End-to-end tests of `marmot ingest` against real lakes: every contract accepts a valid file
//! and rejects each bad-input case with the row and column named; counts always balance; a
//! whole-file problem changes nothing; re-ingest is a no-op; a resubmission replaces its
//! period; a killed ingest leaves the lake unchanged; identifiers are pseudonymised.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// The six datasets the demo generates (street_crime is read from real files: tests/mappings.rs).
use marmot_lake::demo::DEMO_DATASETS as DATASETS;

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}"))
}

fn assert_balanced(v: &Value) {
    assert_eq!(
        n(v, "rows_read"),
        n(v, "accepted") + n(v, "rejected"),
        "counts must balance: {v}"
    );
}

#[test]
fn every_contract_accepts_its_template() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    for ds in DATASETS {
        let (h, rows) = template(&lake, ds, 12);
        let f = dir.path().join(format!("{ds}.csv"));
        write_csv(&f, &h, &rows);
        let (code, v) = ingest_json(&lake, ds, &f, &[]);
        assert_eq!(code, 0, "{ds}: {v}");
        assert_eq!(
            (n(&v, "rows_read"), n(&v, "accepted"), n(&v, "rejected")),
            (12, 12, 0),
            "{ds}: {v}"
        );
        assert_eq!(sql_f64(&lake, &format!("SELECT count(*) FROM {ds}")), 12.0);
    }
}

/// One corrupted cell (or row): what to do to it, and the rejection kind expected.
struct Case {
    name: &'static str,
    column: fn(&[String], &str) -> Option<String>,
    value: fn(&[Vec<String>], usize) -> Option<String>,
    kind: &'static str,
}

fn date_col(h: &[String], ds: &str) -> Option<String> {
    let c = marmot_model::builtin_contract(ds).ok()?;
    h.iter().find(|x| **x == c.date_column).cloned()
}
fn allowed_col(_: &[String], ds: &str) -> Option<String> {
    let c = marmot_model::builtin_contract(ds).ok()?;
    c.columns
        .iter()
        .find(|c| c.allowed.is_some())
        .map(|c| c.name.clone())
}
fn numeric_col(_: &[String], ds: &str) -> Option<String> {
    let c = marmot_model::builtin_contract(ds).ok()?;
    c.columns
        .iter()
        .find(|c| c.min.as_ref().and_then(|b| b.as_f64()).is_some())
        .map(|c| c.name.clone())
}
fn unique_col(_: &[String], ds: &str) -> Option<String> {
    let c = marmot_model::builtin_contract(ds).ok()?;
    c.columns.iter().find(|c| c.unique).map(|c| c.name.clone())
}
fn lsoa_col(_: &[String], _: &str) -> Option<String> {
    Some("lsoa_code".into())
}

const CASES: &[Case] = &[
    Case {
        name: "LSOA of another place",
        column: lsoa_col,
        value: |_, _| Some("E01011950".into()),
        kind: "outside the place",
    },
    Case {
        name: "code that is no LSOA",
        column: lsoa_col,
        value: |_, _| Some("E01999999".into()),
        kind: "unknown LSOA",
    },
    Case {
        name: "malformed LSOA",
        column: lsoa_col,
        value: |_, _| Some("E01-X".into()),
        kind: "bad format",
    },
    Case {
        name: "date in the future",
        column: date_col,
        value: |_, _| Some("2099-01-01".into()),
        kind: "date out of range",
    },
    Case {
        name: "date before 2000",
        column: date_col,
        value: |_, _| Some("1999-12-31".into()),
        kind: "date out of range",
    },
    Case {
        name: "not a date",
        column: date_col,
        value: |_, _| Some("31/12/2020".into()),
        kind: "wrong type",
    },
    Case {
        name: "missing required value",
        column: date_col,
        value: |_, _| Some(String::new()),
        kind: "missing value",
    },
    Case {
        name: "value outside the allowed set",
        column: allowed_col,
        value: |_, _| Some("martian".into()),
        kind: "value not allowed",
    },
    Case {
        name: "negative number",
        column: numeric_col,
        value: |_, _| Some("-3".into()),
        kind: "negative value",
    },
    Case {
        name: "absurd number",
        column: numeric_col,
        value: |_, _| Some("1000000".into()),
        kind: "value out of range",
    },
    Case {
        name: "duplicate identifier",
        column: unique_col,
        value: |_, _| None,
        kind: "duplicate identifier",
    },
];

#[test]
fn every_contract_quarantines_each_bad_input_case_naming_row_and_column() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let mut checked = 0;
    for ds in DATASETS {
        let (h, rows) = template(&lake, ds, 6);
        for (ci, case) in CASES.iter().enumerate() {
            let Some(col) = (case.column)(&h, ds) else {
                continue;
            };
            let k = h.iter().position(|x| *x == col).expect("column in header");
            let mut bad = rows.clone();
            // Corrupt data row 3 (0-based index 2).
            bad[2][k] = match (case.value)(&rows, k) {
                Some(v) => v,
                None => rows[0][k].clone(), // duplicate of row 1
            };
            let f = dir.path().join(format!("{ds}-{ci}.csv"));
            write_csv(&f, &h, &bad);
            let (code, v) = ingest_json(&lake, ds, &f, &[]);
            assert_eq!(
                code, 3,
                "{ds} / {}: exit 3 = committed with rows quarantined: {v}",
                case.name
            );
            assert_balanced(&v);
            assert_eq!(
                (n(&v, "accepted"), n(&v, "rejected")),
                (5, 1),
                "{ds} / {}: {v}",
                case.name
            );
            assert_eq!(
                v["reasons"][case.kind].as_u64(),
                Some(1),
                "{ds} / {}: {v}",
                case.name
            );
            let example = v["examples"][0].as_str().unwrap_or_default();
            assert!(
                example.starts_with(&format!("row 3: column {col}: ")),
                "{ds} / {}: {example}",
                case.name
            );
            checked += 1;
        }
        // A row with a field missing.
        let mut bad: Vec<Vec<String>> = rows.clone();
        bad[4].pop();
        let f = dir.path().join(format!("{ds}-short.csv"));
        write_csv(&f, &h, &bad);
        let (code, v) = ingest_json(&lake, ds, &f, &[]);
        assert_eq!(code, 3, "{v}");
        assert_balanced(&v);
        assert_eq!(v["reasons"]["malformed row"].as_u64(), Some(1), "{v}");
        assert!(
            v["examples"][0]
                .as_str()
                .unwrap_or_default()
                .starts_with("row 5: has"),
            "{v}"
        );
    }
    assert!(checked >= 45, "only {checked} cases applied");
}

#[test]
fn quarantine_keeps_rejected_rows_with_reasons_and_no_clear_identifiers() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, mut rows) = template(&lake, "admissions", 4);
    let lsoa = h.iter().position(|c| c == "lsoa_code").expect("lsoa");
    rows[1][lsoa] = "E01011950".into();
    let f = dir.path().join("a.csv");
    write_csv(&f, &h, &rows);
    let (_, v) = ingest_json(&lake, "admissions", &f, &[]);
    let q = v["quarantine_path"].as_str().expect("quarantine path");
    let file = lake.join(q);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).expect("quarantine file"),
    )
    .expect("parquet")
    .build()
    .expect("reader");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    let text = arrow::util::pretty::pretty_format_batches(&batches)
        .expect("fmt")
        .to_string();
    assert!(
        text.contains("LSOA E01011950 is in Hartlepool (E06000001), outside City and Hackney"),
        "{text}"
    );
    assert!(
        !text.contains("PATIENT-000002"),
        "clear identifiers must not reach quarantine: {text}"
    );
    assert!(
        text.contains(
            &marmot_lake::Pseudonymiser::new(KEY.as_bytes())
                .expect("key")
                .pseudonym("PATIENT-000002")
        )
    );
}

#[test]
fn whole_file_problems_change_nothing() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "admissions", 5);
    let good = dir.path().join("good.csv");
    write_csv(&good, &h, &rows);
    assert_eq!(ingest_json(&lake, "admissions", &good, &[]).0, 0);
    let before = files_under(&lake);

    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").expect("write");
    let header_only = dir.path().join("header.csv");
    write_csv(&header_only, &h, &[]);
    let no_lsoa = dir.path().join("no_lsoa.csv");
    let k = h.iter().position(|c| c == "lsoa_code").expect("lsoa");
    let drop_col = |r: &Vec<String>| {
        r.iter()
            .enumerate()
            .filter(|(i, _)| *i != k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    write_csv(
        &no_lsoa,
        &drop_col(&h),
        &rows.iter().map(drop_col).collect::<Vec<_>>(),
    );
    let truncated = dir.path().join("truncated.parquet");
    write_parquet(&truncated, &h, &rows, false);
    let bytes = std::fs::read(&truncated).expect("read");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("truncate");
    let wrong_type = dir.path().join("wrong_type.parquet");
    write_parquet(&wrong_type, &h, &rows, true);
    let missing = dir.path().join("does-not-exist.csv");

    for (f, expect) in [
        (&empty, "the file is empty"),
        (&header_only, "no data rows"),
        (&no_lsoa, "missing required column lsoa_code"),
        (&truncated, "not a readable Parquet file"),
        (&wrong_type, "column 'age' has type Boolean"),
        (&missing, "cannot open"),
    ] {
        let (code, out, err) = run(marmot(&lake).args(["ingest", "admissions"]).arg(f));
        assert_eq!(code, 1, "{}: {out}{err}", f.display());
        assert!(
            err.contains(expect) && err.contains(&f.display().to_string()),
            "{}: {err}",
            f.display()
        );
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(
            files_under(&lake),
            before,
            "{} changed the lake",
            f.display()
        );
    }
    // A brand-new dataset does not even get an empty table from a failed file.
    let (h2, _) = template(&lake, "police", 1);
    let police_header = dir.path().join("police_header.csv");
    write_csv(&police_header, &h2, &[]);
    assert_eq!(
        run(marmot(&lake).args(["ingest", "police"]).arg(&police_header)).0,
        1
    );
    assert_eq!(files_under(&lake), before);
}

/// Writes rows as Parquet: text columns as Utf8, `age` as Int32 (or Boolean when `bad_age`).
fn write_parquet(path: &Path, header: &[String], rows: &[Vec<String>], bad_age: bool) {
    use arrow::array::{ArrayRef, BooleanArray, Int32Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let mut fields = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let vals = rows.iter().map(|r| r[i].as_str());
        if name == "age" && bad_age {
            fields.push(Field::new(name, DataType::Boolean, true));
            cols.push(Arc::new(BooleanArray::from(vec![true; rows.len()])));
        } else if name == "age" {
            fields.push(Field::new(name, DataType::Int32, true));
            cols.push(Arc::new(Int32Array::from_iter(
                vals.map(|v| v.parse::<i32>().ok()),
            )));
        } else {
            fields.push(Field::new(name, DataType::Utf8, true));
            cols.push(Arc::new(StringArray::from_iter_values(vals)));
        }
    }
    let batch = arrow::record_batch::RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .expect("batch");
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).expect("create"),
        batch.schema(),
        None,
    )
    .expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");
}

#[test]
fn parquet_and_awkward_csv_dialects_are_accepted() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "admissions", 6);
    let pq = dir.path().join("adm.parquet");
    write_parquet(&pq, &h, &rows, false);
    let (code, v) = ingest_json(&lake, "admissions", &pq, &[]);
    assert_eq!((code, n(&v, "accepted")), (0, 6), "{v}");

    // BOM, CRLF, quoted fields, upper-case and reordered header, an extra column, padding,
    // mixed-case allowed values, a trailing blank line.
    let (h, rows) = template(&lake, "police", 3);
    let mut order: Vec<usize> = (0..h.len()).collect();
    order.reverse();
    let mut s = String::from("\u{feff}");
    s.push_str(
        &order
            .iter()
            .map(|&i| format!("\"{}\"", h[i].to_uppercase()))
            .collect::<Vec<_>>()
            .join(","),
    );
    s.push_str(",\"Officer, notes\"\r\n");
    for r in &rows {
        let cells: Vec<String> = order
            .iter()
            .map(|&i| {
                if h[i] == "category" {
                    format!("\" {} \"", r[i].to_uppercase())
                } else {
                    format!("\"{}\"", r[i])
                }
            })
            .collect();
        s.push_str(&cells.join(","));
        s.push_str(",\"free text, with a comma\"\r\n");
    }
    s.push_str("\r\n");
    let f = dir.path().join("police.csv");
    std::fs::write(&f, s).expect("write");
    let (code, v) = ingest_json(&lake, "police", &f, &[]);
    assert_eq!((code, n(&v, "accepted")), (0, 3), "{v}");
    assert_eq!(v["ignored_columns"], serde_json::json!(["Officer, notes"]));
    let cats = sql(&lake, "SELECT DISTINCT category FROM police ORDER BY 1");
    assert!(
        cats.iter().all(|r| r["category"]
            .as_str()
            .is_some_and(|c| c == c.to_lowercase())),
        "canonical values stored: {cats:?}"
    );
}

#[test]
fn reingesting_the_same_file_is_a_no_op_that_says_so() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "cab", 7);
    let f = dir.path().join("cab.csv");
    write_csv(&f, &h, &rows);
    let (_, first) = ingest_json(&lake, "cab", &f, &[]);
    let files = files_under(&lake);
    let (code, out, _) = run(marmot(&lake).args(["ingest", "cab"]).arg(&f));
    assert_eq!(code, 0);
    assert!(
        out.contains("already ingested")
            && out.contains(first["ingest_id"].as_str().unwrap_or("?")),
        "{out}"
    );
    assert_eq!(files_under(&lake), files, "a no-op writes nothing");
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM cab"), 7.0);
    // --force ingests again: the same records (same keys) are updates, not new rows.
    let (code, v) = ingest_json(&lake, "cab", &f, &["--force"]);
    assert_eq!(
        (code, n(&v, "updated_rows"), n(&v, "added_rows")),
        (0, 7, 0),
        "{v}"
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM cab"), 7.0);
}

#[test]
fn a_correction_appends_and_updates_a_replacement_needs_its_period_and_history_keeps_the_old_rows()
{
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "admissions", 10);
    let first = dir.path().join("april.csv");
    write_csv(&first, &h, &rows);
    let (_, v1) = ingest_json(&lake, "admissions", &first, &["--partner", "homerton"]);
    let v1_version = n(&v1, "table_version");
    assert!(v1["committed_at"].as_str().is_some(), "{v1}");
    // Late records sent as an increment (the default, append): they add, nothing is wiped.
    let (_, more) = template(&lake, "admissions", 13);
    let late = dir.path().join("april-late.csv");
    write_csv(&late, &h, &more[10..]);
    let (code, v) = ingest_json(&lake, "admissions", &late, &["--partner", "homerton"]);
    assert_eq!(code, 0, "{v}");
    let late_period = months_of(&v);
    assert_eq!(
        (
            n(&v, "added_rows"),
            n(&v, "updated_rows"),
            n(&v, "removed_rows")
        ),
        (3, 0, 0),
        "{v}"
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 13.0);
    // A record sent again (same spell_id) is an update of the earlier row.
    let age = h.iter().position(|c| c == "age").expect("age");
    let mut fixed = rows[..2].to_vec();
    fixed[0][age] = "77".into();
    let fix = dir.path().join("april-fix.csv");
    write_csv(&fix, &h, &fixed);
    let (_, v) = ingest_json(&lake, "admissions", &fix, &["--partner", "homerton"]);
    assert_eq!((n(&v, "added_rows"), n(&v, "updated_rows")), (0, 2), "{v}");
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 13.0);
    assert_eq!(
        sql_f64(&lake, "SELECT count(*) FROM admissions WHERE age = 77"),
        1.0
    );
    // A replacement names its period; one that would take out more than twice the rows it
    // brings is refused (nothing changed) unless forced; a dry run says what it would do.
    // The months of every row so far.
    let (a, b) = (months_of(&v1), late_period);
    let period = format!("{}..{}", (&a[..7]).min(&b[..7]), (&a[9..]).max(&b[9..]));
    let corrected = dir.path().join("april-corrected.csv");
    write_csv(&corrected, &h, &rows[..4]);
    let replace = ["--partner", "homerton", "--mode", "replace"];
    let (code, v) = ingest_json(&lake, "admissions", &corrected, &replace);
    assert_eq!(code, 2, "no period: {v}");
    let with_period = [&replace[..], &["--period", period.as_str()]].concat();
    let (code, v) = ingest_json(&lake, "admissions", &corrected, &with_period);
    assert_eq!(code, 2, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("more than 2 times"),
        "{v}"
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 13.0);
    let files = files_under(&lake);
    let dry = [&with_period[..], &["--dry-run"]].concat();
    let (code, v) = ingest_json(&lake, "admissions", &corrected, &dry);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (
            v["dry_run"].as_bool(),
            n(&v, "added_rows"),
            n(&v, "updated_rows"),
            n(&v, "removed_rows")
        ),
        (Some(true), 0, 4, 9),
        "{v}"
    );
    assert_eq!(files_under(&lake), files, "a dry run leaves nothing");
    let forced = [&with_period[..], &["--force"]].concat();
    let (code, v2) = ingest_json(&lake, "admissions", &corrected, &forced);
    assert_eq!(code, 0, "{v2}");
    assert_eq!(n(&v2, "replaced_rows"), 13, "{v2}");
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 4.0);
    // Another partner's file for the same month adds, not replaces.
    let other = dir.path().join("april-other-trust.csv");
    write_csv(&other, &h, &rows[4..7]);
    let (_, v3) = ingest_json(&lake, "admissions", &other, &["--partner", "barts"]);
    assert_eq!(n(&v3, "replaced_rows"), 0);
    assert_eq!(
        sql_f64(
            &lake,
            "SELECT count(*) FROM admissions WHERE _partner = 'homerton'"
        ),
        4.0
    );
    assert_eq!(sql_f64(&lake, "SELECT count(*) FROM admissions"), 7.0);
    // Time travel to the first submission.
    assert_eq!(count_at(&lake, "admissions", v1_version), 10);
    let hist = ok(marmot(&lake).args(["datasets", "history", "admissions"]));
    for f in ["april.csv", "april-corrected.csv", "april-other-trust.csv"] {
        assert!(hist.contains(f), "{hist}");
    }
    // A declared period: rows outside it are quarantined.
    let (code, v4) = ingest_json(
        &lake,
        "admissions",
        &first,
        &["--partner", "homerton", "--period", "2020-05", "--force"],
    );
    assert_eq!(code, 3, "{v4}");
    assert_eq!(
        v4["reasons"]["outside submission period"].as_u64(),
        Some(10),
        "{v4}"
    );
}

#[test]
fn identifiers_are_pseudonymised_and_stable_for_the_same_key() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "admissions", 3);
    let f = dir.path().join("a.csv");
    write_csv(&f, &h, &rows);
    ingest_json(&lake, "admissions", &f, &[]);
    let p = marmot_lake::Pseudonymiser::new(KEY.as_bytes()).expect("key");
    let stored = sql(
        &lake,
        "SELECT patient_id, spell_id FROM admissions ORDER BY spell_id",
    );
    let pi = h.iter().position(|c| c == "patient_id").expect("col");
    let si = h.iter().position(|c| c == "spell_id").expect("col");
    let mut expected: Vec<(String, String)> = rows
        .iter()
        .map(|r| (p.pseudonym(&r[si]), p.pseudonym(&r[pi])))
        .collect();
    expected.sort();
    let got: Vec<(String, String)> = stored
        .iter()
        .map(|r| {
            (
                r["spell_id"].as_str().unwrap_or_default().to_string(),
                r["patient_id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    for r in &rows {
        assert!(
            got.iter().all(|(s, pt)| *s != r[si] && *pt != r[pi]),
            "clear identifiers stored"
        );
    }
    // Nothing anywhere in the lake outside raw/ holds a clear identifier: tables, quarantine
    // (a rejected row carries its identifiers too), the cube, Delta logs with their statistics.
    let mut bad = rows.clone();
    bad[0][h.iter().position(|c| c == "lsoa_code").expect("col")] = "E01011950".into();
    let g = dir.path().join("b.csv");
    write_csv(&g, &h, &bad[..1]);
    let (_, v) = ingest_json(&lake, "admissions", &g, &["--partner", "other"]);
    assert_eq!(v["rejected"], 1, "{v}");
    ok(marmot(&lake).arg("cube"));
    let needles: Vec<String> = rows
        .iter()
        .flat_map(|r| [r[pi].clone(), r[si].clone()])
        .collect();
    assert_eq!(
        clear_identifiers_in_lake(&lake, &needles),
        Vec::<String>::new()
    );
    // The scan sees through compression: a planted clear identifier is found.
    let control = lake.join("quarantine/control/part-0.parquet");
    plant_compressed_parquet(&control, &rows[0][pi]);
    assert_eq!(
        clear_identifiers_in_lake(&lake, &needles),
        vec!["quarantine/control/part-0.parquet: id".to_string()]
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let f = dir.path().join("x.csv");
    std::fs::write(&f, "a\n1\n").expect("write");
    let (code, _, err) = run(marmot(&lake).args(["ingest", "no_such_dataset"]).arg(&f));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown dataset 'no_such_dataset'"), "{err}");
    let (code, _, err) = run(marmot(&lake)
        .args(["ingest", "cab", "--period", "April"])
        .arg(&f));
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(marmot(&lake).args(["ingest"]));
    assert_eq!(code, 2);
    let nowhere = dir.path().join("not-a-lake");
    let (code, _, err) = run(marmot(&nowhere).args(["datasets"]));
    assert_eq!(code, 1);
    assert!(err.contains("marmot init"), "{err}");
}

fn count_log_entries(lake: &Path, dataset: &str) -> usize {
    files_under(&lake.join("tables").join(dataset).join("_delta_log")).len()
}

#[test]
fn a_killed_ingest_leaves_the_lake_readable_and_unchanged() {
    use std::io::{BufRead, BufReader};
    let dir = fresh_lake();
    let lake = lake_path(&dir);
    let (h, rows) = template(&lake, "admissions", 20);
    let small = dir.path().join("small.csv");
    write_csv(&small, &h, &rows);
    ingest_json(&lake, "admissions", &small, &[]);
    let log_before = count_log_entries(&lake, "admissions");
    let big = dir.path().join("big.csv");
    let out = ok(marmot(&lake).args(["datasets", "template", "admissions", "--rows", "150000"]));
    std::fs::write(&big, out).expect("write");

    // 1. Killed at the worst moment: every file written, the commit not yet made.
    let mut child = marmot(&lake)
        .args(["ingest", "admissions"])
        .arg(&big)
        .env("MARMOT_FAULT", "before-commit")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut reached = false;
    for line in BufReader::new(stderr).lines() {
        if line
            .expect("line")
            .contains("fault point before-commit reached")
        {
            reached = true;
            break;
        }
    }
    assert!(reached, "the ingest should reach the commit point");
    child.kill().expect("kill");
    child.wait().expect("wait");
    assert_eq!(
        count_log_entries(&lake, "admissions"),
        log_before,
        "no commit"
    );
    assert_eq!(
        sql_f64(&lake, "SELECT count(*) FROM admissions"),
        20.0,
        "readers see the old table"
    );

    // 2. Killed at an arbitrary moment while streaming.
    let mut child = marmot(&lake)
        .args(["ingest", "admissions"])
        .arg(&big)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(400));
    child.kill().expect("kill");
    let status = child.wait().expect("wait");
    // All or nothing, wherever the kill landed: either no commit and the old 20 rows, or the
    // whole file committed (its first 20 records have the same keys: updates of the 20 rows).
    let committed = count_log_entries(&lake, "admissions") == log_before + 1;
    let rows = sql_f64(&lake, "SELECT count(*) FROM admissions");
    if committed {
        assert_eq!(rows, 150_000.0);
    } else {
        assert_eq!(count_log_entries(&lake, "admissions"), log_before);
        assert_eq!(rows, 20.0);
    }
    let finished_before_the_kill = status.success() || committed;
    // The same file then ingests normally (nothing half-recorded blocks it); on a machine fast
    // enough to commit within the 400 ms, it is already in and needs --force.
    let extra: &[&str] = if finished_before_the_kill {
        &["--force"]
    } else {
        &[]
    };
    let (code, v) = ingest_json(&lake, "admissions", &big, extra);
    assert_eq!(code, 0, "{v}");
    assert!(!v["already_ingested"].as_bool().unwrap_or(true));
}
