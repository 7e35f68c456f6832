//! Shared helpers for the reference-vector tests.
#![allow(dead_code)]

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;

/// Tolerance every deterministic column is held to: relative, or absolute when the reference
/// value is exactly 0. The reference README says 1e-12 is achievable, and it is here.
pub const TOL: f64 = 1e-12;

pub type Row = HashMap<String, String>;

pub fn reference_path(file: &str) -> PathBuf {
    reference_path_in("phe-methods", file)
}

/// A file of one reference set (`phe-methods`, `surveillance`) under `tests/reference/`.
pub fn reference_path_in(set: &str, file: &str) -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests")
    .join("reference")
    .join(set)
    .join(file)
}

pub fn read(file: &str) -> Vec<Row> {
    read_in("phe-methods", file)
}

/// Every row of a reference CSV of one set, as column -> text.
pub fn read_in(set: &str, file: &str) -> Vec<Row> {
    read_path(&reference_path_in(set, file))
}

/// Every row of a reference CSV anywhere (e.g. the repository's `tests/fixtures/`), as
/// column -> text.
pub fn read_path(path: &std::path::Path) -> Vec<Row> {
    let mut reader = csv::Reader::from_path(path)
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

pub fn opt(row: &Row, col: &str) -> Option<f64> {
    let s = row.get(col).unwrap_or_else(|| panic!("no column {col}"));
    if s == "NA" {
        None
    } else {
        Some(
            s.parse()
                .unwrap_or_else(|_| panic!("{col}: bad number {s}")),
        )
    }
}

pub fn num(row: &Row, col: &str) -> f64 {
    opt(row, col).unwrap_or_else(|| panic!("{col} is NA"))
}

pub fn text<'a>(row: &'a Row, col: &str) -> &'a str {
    row.get(col).unwrap_or_else(|| panic!("no column {col}"))
}

/// Tracks the worst relative difference seen, and asserts each against [`TOL`].
#[derive(Default)]
pub struct Checker {
    pub worst: Cell<f64>,
    pub count: Cell<usize>,
}

impl Checker {
    pub fn close(&self, actual: f64, expected: f64, ctx: &str) {
        let diff = (actual - expected).abs();
        let rel = if expected == 0.0 {
            diff
        } else {
            diff / expected.abs()
        };
        if rel > self.worst.get() {
            self.worst.set(rel);
        }
        self.count.set(self.count.get() + 1);
        assert!(
            rel <= TOL,
            "{ctx}: got {actual:e}, expected {expected:e} (relative difference {rel:e})"
        );
    }

    pub fn close_opt(&self, actual: Option<f64>, expected: Option<f64>, ctx: &str) {
        match (actual, expected) {
            (Some(a), Some(e)) => self.close(a, e, ctx),
            (None, None) => self.count.set(self.count.get() + 1),
            _ => panic!("{ctx}: got {actual:?}, expected {expected:?}"),
        }
    }

    pub fn report(&self, name: &str) {
        eprintln!(
            "{name}: {} values checked, worst relative difference {:e}",
            self.count.get(),
            self.worst.get()
        );
    }
}

/// Reference rows and outputs side by side, after checking that there are as many of each
/// (a zip would silently stop at the shorter); counts the rows compared.
pub fn paired<'a, A, B>(
    expected: &'a [A],
    got: &'a [B],
    compared: &mut usize,
) -> impl Iterator<Item = (&'a A, &'a B)> {
    assert_eq!(got.len(), expected.len(), "outputs vs reference rows");
    *compared += expected.len();
    expected.iter().zip(got)
}
