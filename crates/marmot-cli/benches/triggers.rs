//! Trigger benchmark: every shipped signal x every area and stratum of the demo place, over the
//! demo lake's whole history (2015 to March 2021, about 325 weeks), in one run:
//! 1. Marmot, the weekly run: `marmot triggers run --week 2021-W12 --weeks 1` — one week
//!    evaluated by every method with up to 290 weeks of history, evaluations and the ranked
//!    trigger list written to the lake;
//! 2. Marmot, a 260-week backfill: `--weeks 260` — every signal x area x week for five years;
//! 3. DuckDB: the same signals' weekly counts per LSOA over the same Parquet files (the data
//!    access alone: no detection methods, no lifecycle, nothing written).
//!
//! Each runs as its own process; seconds, peak RSS and the ratios are reported. The demo scale
//! is `MARMOT_BENCH_SCALE` (default 1), the place `MARMOT_BENCH_PLACE` (default the demo place;
//! another writes `results/triggers-<place>.md`). Needs `python3` with `duckdb`
//! (`pip install duckdb`) for the peer. Run: `cargo bench -p marmot-cli --bench triggers`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{DUCKDB, measure};

fn main() {
    let scale: f64 = std::env::var("MARMOT_BENCH_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let work = std::env::var_os("MARMOT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marmot-bench"));
    let (place, results) = common::bench_place("triggers");
    let lake = work.join(format!("triggers-lake-{place}-{scale}"));
    let marmot = env!("CARGO_BIN_EXE_marmot");
    let key = [("MARMOT_PSEUDONYM_KEY", "bench-key-0123456789abcdef")];
    let lake_s = lake.display().to_string();
    common::demo_lake(marmot, &key, &lake, scale, &place);
    let run = |weeks: &str| {
        let _ = std::fs::remove_dir_all(lake.join("triggers"));
        measure(
            &[
                marmot, "--lake", &lake_s, "triggers", "run", "--week", "2021-W12", "--weeks",
                weeks,
            ],
            &key,
        )
        .expect("marmot triggers run")
    };
    eprintln!("weekly trigger run ...");
    let weekly = run("1");
    eprintln!("260-week backfill ...");
    let backfill = run("260");
    let evaluations = Command::new(marmot)
        .envs(key)
        .args([
            "--lake",
            &lake_s,
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n, count(DISTINCT signal || level || area_code || stratum) AS s FROM trigger_evaluations",
        ])
        .output()
        .expect("count");
    let counts = String::from_utf8_lossy(&evaluations.stdout)
        .lines()
        .nth(1)
        .unwrap_or("?,?")
        .to_string();

    // The same signals' weekly counts with DuckDB.
    let queries = common::weekly_count_queries();
    let qfile = work.join("trigger-queries.json");
    std::fs::write(&qfile, serde_json::to_vec(&queries).expect("json")).expect("write queries");
    eprintln!("running the same weekly counts with duckdb ...");
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
    let (n, s) = counts.split_once(',').unwrap_or(("?", "?"));
    r.line(format!(
        "\ntrigger benchmark: {place}, demo scale {scale}, {} signals, {s} area/stratum series, {cores} cores; the backfill wrote {n} evaluations",
        queries.len()
    ));
    r.line("| engine | what | seconds | peak RSS (MiB) |");
    r.line("|---|---|---:|---:|");
    r.line(format!(
        "| marmot | weekly run: 1 week x all signals x all series, every method, lifecycle, written to Delta | {:.1} | {:.0} |",
        weekly.0, weekly.1
    ));
    r.line(format!(
        "| marmot | backfill: 260 weeks x all signals x all series | {:.1} | {:.0} |",
        backfill.0, backfill.1
    ));
    match d {
        Some(d) => {
            r.line(format!(
                "| duckdb | weekly counts per LSOA only (no detection) | {:.1} | {:.0} |",
                d.0, d.1
            ));
            r.line(format!(
                "\nratio marmot weekly run / duckdb counts: {:.2}x time, {:.2}x peak memory",
                weekly.0 / d.0,
                weekly.1 / d.1
            ));
        }
        None => r.line(common::no_duckdb()),
    }
    if place == "city-and-hackney" {
        r.line(format!(
            "target (issue #4): under 5 s for the demo place: weekly run {}, 260-week backfill {}",
            if weekly.0 < 5.0 { "met" } else { "NOT met" },
            if backfill.0 < 5.0 { "met" } else { "NOT met" }
        ));
    }
    r.finish();
}
