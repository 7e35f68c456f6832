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

/// One GET over a fresh connection, giving up after 20 s (a server blocked on its log would
/// never answer).
fn get_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_server_whose_log_nobody_reads_keeps_answering_and_counts_the_lines_it_dropped() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = lake_path(&dir);
    ok(marmot(&lake).args(["init", "--place", "city", "--lad", "E09000001"]));
    // stderr is a pipe nobody reads until the end: it fills after a few hundred request lines
    // (64 KiB), then the 64 lines the log holds in memory. A server that wrote its log on the
    // request path would stop answering there.
    let mut child = marmot(&lake)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .env("MARMOT_LOG_BUFFER_LINES", "64")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("marmot serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let line = lines.next().expect("address line").expect("line");
        if let Some(rest) = line.split("http://").nth(1) {
            break rest.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    for i in 0..2000 {
        assert_eq!(
            get_status(&addr, "/api/v1/health"),
            Some(200),
            "request {i} got no answer"
        );
    }
    // Stopped, it flushes what it holds and says how many lines it dropped.
    let pid = child.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    let _ = child.wait();
    let dropped = err
        .lines()
        .find_map(|l| {
            l.strip_prefix("marmot: ")?
                .split_once(" log lines were dropped")?
                .0
                .parse::<u64>()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no count of dropped lines in: {}",
                &err[err.len().saturating_sub(2000)..]
            )
        });
    assert!(dropped > 0);
    assert!(
        err.contains("/api/v1/health"),
        "the lines it kept were written"
    );
}
