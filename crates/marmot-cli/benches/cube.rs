//! Indicator cube benchmark: a demo lake with about 10 million admission rows
//! (`MARMOT_BENCH_SCALE`, default 34; plus proportional partner data), then
//! 1. Marmot: `marmot cube` from scratch — every shipped indicator's numerator SQL, roll-ups to
//!    five levels, every month, quarter and financial year (and week for weekly indicators),
//!    breakdowns, denominators, standardisation, confidence intervals and comparisons, written
//!    to the cube's Delta table;
//! 2. DuckDB: the same numerator SQL of every indicator over the same Parquet files, grouped by
//!    LSOA, month, age and sex (numerators only — no roll-up, denominators or statistics);
//!
//! Both run in one run, each as its own process, reporting seconds, peak RSS and the ratio.
//!
//! `MARMOT_BENCH_PLACE` runs it for another shipped place (results in `results/cube-<place>.md`).
//! Needs `python3` with `duckdb` (`pip install duckdb`). Run:
//! `cargo bench -p marmot-cli --bench cube`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{DUCKDB, measure, measure_output};

fn main() {
    let scale: f64 = std::env::var("MARMOT_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(34.0);
    let work = std::env::var_os("MARMOT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marmot-bench"));
    let (place, results) = common::bench_place("cube");
    let lake = work.join(format!("cube-lake-{place}-{scale}"));
    let marmot = env!("CARGO_BIN_EXE_marmot");
    let key = [("MARMOT_PSEUDONYM_KEY", "bench-key-0123456789abcdef")];
    let lake_s = lake.display().to_string();
    common::demo_lake(marmot, &key, &lake, scale, &place);
    let _ = std::fs::remove_dir_all(lake.join("cube"));
    let admissions = Command::new(marmot)
        .envs(key)
        .args([
            "--lake",
            &lake_s,
            "sql",
            "--format",
            "csv",
            "SELECT count(*) FROM admissions",
        ])
        .output()
        .expect("count");
    let rows = String::from_utf8_lossy(&admissions.stdout)
        .lines()
        .nth(1)
        .unwrap_or("?")
        .to_string();

    eprintln!("building the cube with marmot ...");
    let (secs, mib, printed) =
        measure_output(&[marmot, "--lake", &lake_s, "cube"], &key).expect("marmot cube");
    let m = (secs, mib);
    // `marmot cube` says where its time went.
    let phases = printed
        .lines()
        .find_map(|l| l.strip_prefix("time by phase "))
        .map(str::to_string)
        .expect("marmot cube prints its time by phase");

    // The numerator SQL of every shipped indicator, grouped as Marmot groups it.
    let (ids, queries) = common::numerator_queries(marmot);
    let qfile = work.join("cube-queries.json");
    std::fs::write(&qfile, serde_json::to_vec(&queries).expect("json")).expect("write queries");
    eprintln!("running the same numerator SQL with duckdb ...");
    let d = measure(
        &[
            "python3",
            "-c",
            DUCKDB,
            &lake_s,
            &qfile.display().to_string(),
        ],
        &[],
    );

    let mut r = common::report::Report::new(results);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    r.line(format!(
        "\ncube benchmark: {place}, demo scale {scale} ({rows} admission rows), {} indicators, {cores} cores",
        ids.len()
    ));
    r.line("| engine | what | seconds | peak RSS (MiB) |");
    r.line("|---|---|---:|---:|");
    r.line(format!(
        "| marmot | full cube: numerators, roll-ups, denominators, CIs, breakdowns, comparisons, written to Delta | {:.1} | {:.0} |",
        m.0, m.1
    ));
    match d {
        Some(d) => {
            r.line(format!(
                "| duckdb | numerator SQL only | {:.1} | {:.0} |",
                d.0, d.1
            ));
            let (time, memory) = (m.0 / d.0, m.1 / d.1);
            let met = |ok: bool| if ok { "met" } else { "NOT met" };
            r.line(format!(
                "\nratio marmot / duckdb: {time:.2}x time, {memory:.2}x peak memory (targets, issue #15: time <= 1.2x {}, memory <= 1.5x {})",
                met(time <= 1.2),
                met(memory <= 1.5),
            ));
        }
        None => r.line(common::no_duckdb()),
    }
    r.line(format!("marmot's time by phase {phases}"));
    r.finish();
}
