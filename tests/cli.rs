//! The command line's shape: commands that need no lake never create or open one, and every
//! outcome ends with its documented exit code (0 ok, 1 failure, 2 usage; 3, partial, is an
//! ingest's and tested in tests/ingest.rs).

mod common;

use common::*;

/// A series the R `surveillance` package was run on (the reference copy in marmot-stats).
fn series() -> std::path::PathBuf {
    manifest_dir().join("../marmot-stats/tests/reference/surveillance/series_newport.csv")
}

/// Everything in `dir`, directories included (an empty `lake/` counts).
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn commands_that_need_no_lake_create_nothing_in_an_empty_directory() {
    let empty = tempfile::tempdir().expect("tempdir");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let tokens = elsewhere.path().join("tokens.toml");
    let series = series();
    let series = series.to_str().expect("utf-8 path");
    let commands: &[&[&str]] = &[
        &["--help"],
        &["functions"],
        &["indicators"],
        &["indicators", "--show", "emergency_admissions"],
        &["triggers", "signals"],
        &["datasets", "describe"],
        &["datasets", "template", "admissions", "--rows", "3"],
        &["detect", "--input", series, "--method", "ears-c1"],
        &["tokens", "list"],
    ];
    for args in commands {
        let out = ok(marmot_bare()
            .current_dir(empty.path())
            .env("MARMOT_TOKENS", &tokens)
            .args(*args));
        assert!(!out.is_empty(), "marmot {args:?} printed nothing");
        assert_eq!(
            listing(empty.path()),
            Vec::<String>::new(),
            "marmot {args:?} wrote into the working directory"
        );
    }
    // A template from a lake-less directory uses the demo place's real LSOAs (E01...).
    let csv = ok(marmot_bare().current_dir(empty.path()).args([
        "datasets",
        "template",
        "admissions",
        "--rows",
        "2",
    ]));
    assert!(csv.contains(",E0100"), "{csv}");
    assert!(!empty.path().join("lake").exists());
}

#[test]
fn usage_errors_exit_2_and_failures_exit_1_without_making_a_lake() {
    let empty = tempfile::tempdir().expect("tempdir");
    let series = series();
    let series = series.to_str().expect("utf-8 path");
    let cases: &[(&[&str], i32, &str)] = &[
        // The caller's to fix: a bad flag value, an unknown name.
        (
            &["detect", "--input", series, "--method", "crystal-ball"],
            2,
            "crystal-ball",
        ),
        (
            &["indicator", "no_such_indicator", "--period", "2020-Q2"],
            2,
            "unknown indicator",
        ),
        (
            &[
                "indicator",
                "emergency_admissions",
                "--level",
                "galaxy",
                "--period",
                "2020-Q2",
            ],
            2,
            "galaxy",
        ),
        (&["indicator", "emergency_admissions"], 2, "--period"),
        (
            &["--memory-limit", "lots", "functions"],
            2,
            "memory limit 'lots'",
        ),
        (
            &["tokens", "add", "--role", "root"],
            2,
            "unknown role 'root'",
        ),
        // The work's: a file that is not there.
        (
            &["detect", "--input", "missing.csv", "--method", "ears-c1"],
            1,
            "missing.csv",
        ),
    ];
    for (args, code, says) in cases {
        let (got, _, err) = run(marmot_bare().current_dir(empty.path()).args(*args));
        assert_eq!(got, *code, "marmot {args:?}: {err}");
        assert!(
            err.contains(says),
            "marmot {args:?} should say {says}: {err}"
        );
    }
    assert_eq!(listing(empty.path()), Vec::<String>::new());
}
