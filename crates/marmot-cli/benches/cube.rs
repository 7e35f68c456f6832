//! Indicator cube benchmark: a demo lake with about 10 million admission rows
//! (`MARMOT_BENCH_SCALE`, default 34; plus proportional partner data), then
//! 1. Marmot: `marmot cube` from scratch — every shipped indicator's numerator SQL, roll-ups to
//!    five levels, every month, quarter and financial year (and week for weekly indicators),
//!    breakdowns, denominators, standardisation, confidence intervals and comparisons, written
//!    to the cube's Delta table;
//! 2. DuckDB: the same numerator SQL of every indicator over the same Parquet files, grouped by
//!    LSOA, month, age and sex (numerators only — no roll-up, denominators or statistics);
//! 3. the fair peer, like for like: one DSR indicator (emergency admissions, without its
//!    breakdowns) as Marmot's cube gives it — five levels, every month, quarter and April-March
//!    year, ESP2013, Dobson limits — by `marmot cube` over a query directory holding only that
//!    indicator, and by DuckDB in SQL (`common/duckdb_dsr.sql`) written to Parquet; the bench
//!    fails unless the two outputs agree value for value.
//!
//! Both run in one run, each as its own process, reporting seconds, peak RSS and the ratio.
//!
//! `MARMOT_BENCH_PLACE` runs it for another shipped place (results in `results/cube-<place>.md`).
//! Needs `python3` with `duckdb` (`pip install duckdb`). Run:
//! `cargo bench -p marmot-cli --bench cube`.

mod common;

use std::path::{Path, PathBuf};
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

    let dsr = dsr_peer(marmot, &key, &lake, &work);

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
    r.line(format!(
        "\nthe fair peer: one DSR indicator ({DSR_INDICATOR}, no breakdowns), every area of five levels, every month, quarter and financial year"
    ));
    r.line("| engine | what | seconds | peak RSS (MiB) |");
    r.line("|---|---|---:|---:|");
    r.line(format!(
        "| marmot | DSR: numerators, population, ESP2013, Dobson 95% and 99.8% limits, comparisons, written to Delta | {:.1} | {:.0} |",
        dsr.marmot.0, dsr.marmot.1
    ));
    match dsr.duckdb {
        Some(d) => {
            r.line(format!(
                "| duckdb | DSR: the same values and limits in SQL, written to Parquet | {:.1} | {:.0} |",
                d.0, d.1
            ));
            r.line(format!(
                "\nratio marmot / duckdb, like for like: {:.2}x time, {:.2}x peak memory; {}",
                dsr.marmot.0 / d.0,
                dsr.marmot.1 / d.1,
                dsr.agreement
            ));
        }
        None => r.line(common::no_duckdb()),
    }
    r.finish();
}

/// The DSR indicator of the like-for-like row.
const DSR_INDICATOR: &str = "emergency_admissions";

/// What the like-for-like DSR row measured.
struct DsrPeer {
    marmot: (f64, f64),
    duckdb: Option<(f64, f64)>,
    /// How the two outputs compare, as printed.
    agreement: String,
}

/// Runs the like-for-like DSR row: Marmot's cube of one indicator, then DuckDB's SQL, then
/// checks that they agree (panics when they do not: a peer computing something else is no
/// peer). Leaves the lake's cube holding that one indicator.
fn dsr_peer(marmot: &str, key: &[(&str, &str)], lake: &Path, work: &Path) -> DsrPeer {
    let queries = work.join("cube-dsr-queries");
    let _ = std::fs::remove_dir_all(&queries);
    std::fs::create_dir_all(queries.join("indicators")).expect("queries dir");
    // `--queries` wants both folders; no signal is needed for the cube.
    std::fs::create_dir_all(queries.join("triggers")).expect("queries dir");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../queries/indicators")
        .join(format!("{DSR_INDICATOR}.sql"));
    let text = std::fs::read_to_string(&shipped).expect("the shipped DSR indicator");
    // Without breakdowns: the output the SQL peer computes.
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("breakdowns") {
                "breakdowns = []"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(
        queries
            .join("indicators")
            .join(format!("{DSR_INDICATOR}.sql")),
        &text,
    )
    .expect("write indicator");
    let numerator = text
        .split_once("*/")
        .map(|x| x.1.trim().to_string())
        .expect("indicator SQL after its header");
    let numerator_file = work.join("cube-dsr-numerator.sql");
    std::fs::write(&numerator_file, numerator).expect("write numerator");

    let _ = std::fs::remove_dir_all(lake.join("cube"));
    let lake_s = lake.display().to_string();
    let queries_s = queries.display().to_string();
    eprintln!("one DSR indicator with marmot ...");
    let m = common::measure(
        &[marmot, "--lake", &lake_s, "--queries", &queries_s, "cube"],
        key,
    )
    .expect("marmot cube of one DSR indicator");
    eprintln!("the same DSR with duckdb ...");
    let out = work.join("cube-dsr-duckdb.parquet");
    let _ = std::fs::remove_file(&out);
    let d = common::measure(
        &[
            "python3",
            "-c",
            common::DUCKDB_DSR,
            &lake_s,
            &numerator_file.display().to_string(),
            &out.display().to_string(),
        ],
        &[("MARMOT_DSR_SQL", common::DSR_SQL)],
    );
    let agreement = match d {
        Some(_) => {
            let c = Command::new("python3")
                .args(["-c", common::COMPARE_DSR])
                .arg(lake.join("cube"))
                .arg(&out)
                .arg(DSR_INDICATOR)
                .output()
                .expect("compare");
            assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
            let text = String::from_utf8_lossy(&c.stdout).to_string();
            let f: Vec<&str> = text.split_whitespace().collect();
            assert_eq!(f.len(), 5, "the comparison printed {text}");
            let (marmot_rows, duckdb_rows, unmatched, rel, published_by_one) = (
                f[0],
                f[1],
                f[2],
                f[3].parse::<f64>().unwrap_or(f64::NAN),
                f[4],
            );
            assert!(
                marmot_rows == duckdb_rows
                    && unmatched == "0"
                    && published_by_one == "0"
                    && rel < 1e-9,
                "DuckDB's DSR does not agree with Marmot's cube: {text}"
            );
            format!(
                "the outputs agree: {marmot_rows} rows each, every value, limit, numerator and denominator within a relative {rel:.1e}"
            )
        }
        None => String::new(),
    };
    DsrPeer {
        marmot: m,
        duckdb: d,
        agreement,
    }
}
