//! Ingest benchmark: a 10-million-row admissions CSV (override with MARMOT_BENCH_ROWS) ingested
//! by Marmot — every row validated against the contract, identifiers pseudonymised, Parquet and
//! Delta commit written — beside DuckDB reading the same CSV and writing Parquet, in one run.
//! Reports seconds, CPU seconds, rows/s, MB/s, peak resident memory of each process and the
//! ratio, and each tool's time with one thread beside its default.
//!
//! Needs `python3` with the `duckdb` package (`pip install duckdb`); DuckDB is skipped, and the
//! ratio not reported, when it is missing. Each tool runs as its own process under the benches'
//! Python timer (`common::MEASURE`: wall time, the child's peak RSS and CPU from getrusage).
//!
//! Run: `cargo bench -p marmot-cli --bench ingest` (release profile).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

const DUCKDB: &str = r#"
import duckdb, sys
if len(sys.argv) > 3:
    duckdb.sql(f"SET threads = {int(sys.argv[3])}")
duckdb.sql(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}', header=true)) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd)")
"#;

const DUCKDB_COUNT: &str = r#"
import duckdb, sys
print(duckdb.sql(f"SELECT count(*) FROM read_parquet('{sys.argv[1]}')").fetchall()[0][0])
"#;

struct Measured {
    seconds: f64,
    peak_mib: f64,
    /// User and system CPU seconds of the process.
    cpu: f64,
}

/// [`common::measure_cpu`] as a [`Measured`].
fn measure(args: &[&str], env: &[(&str, &str)]) -> Option<Measured> {
    common::measure_cpu(args, env).map(|(seconds, peak_mib, cpu)| Measured {
        seconds,
        peak_mib,
        cpu,
    })
}

/// Writes `rows` admissions rows over the demo place's LSOAs (deterministic, no RNG crate).
fn write_csv(path: &Path, rows: u64, lsoas: &[String]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::with_capacity(1 << 22, std::fs::File::create(path)?);
    writeln!(
        w,
        "spell_id,patient_id,admission_date,discharge_date,admission_method,primary_diagnosis,age,sex,ethnic_category,lsoa_code"
    )?;
    let codes = [
        "I21.9", "J44.1", "E11.9", "R10.4", "N39.0", "S72.0", "J18.9", "I50.0", "K35.8", "Z51.1",
    ];
    let eth = ["A", "C", "N", "M", "Z", "H", "S", "B"];
    let start = chrono::NaiveDate::from_ymd_opt(2015, 1, 1).expect("date");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let day = start + chrono::Days::new(x % 2280);
        let los = (x >> 20) % 9;
        writeln!(
            w,
            "SP{i:011},PT{:09},{day},{},{},{},{},{},{},{}",
            (x >> 8) % 400_000,
            day + chrono::Days::new(los),
            if (x >> 30).is_multiple_of(2) {
                "emergency"
            } else {
                "elective"
            },
            codes[((x >> 33) % 10) as usize],
            (x >> 40) % 100,
            if (x >> 47).is_multiple_of(2) {
                "female"
            } else {
                "male"
            },
            eth[((x >> 50) % 8) as usize],
            lsoas[((x >> 24) % lsoas.len() as u64) as usize],
        )?;
    }
    w.flush()
}

fn main() {
    let rows: u64 = std::env::var("MARMOT_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let work = std::env::var_os("MARMOT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marmot-bench"));
    std::fs::create_dir_all(&work).expect("bench dir");
    let marmot = env!("CARGO_BIN_EXE_marmot");
    let key = [("MARMOT_PSEUDONYM_KEY", "bench-key-0123456789abcdef")];
    let lake = work.join("lake");
    let init_lake = || {
        let _ = std::fs::remove_dir_all(&lake);
        let init = Command::new(marmot)
            .envs(key)
            .args(["--lake"])
            .arg(&lake)
            .arg("init")
            .output()
            .expect("marmot init");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );
    };
    init_lake();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lake.join("_marmot/lake.json")).expect("manifest"))
            .expect("json");
    let lsoas: Vec<String> = manifest["lsoas"]
        .as_array()
        .expect("lsoas")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();

    let csv = work.join(format!("admissions_{rows}.csv"));
    if !csv.exists() {
        eprintln!("writing {} ...", csv.display());
        write_csv(&csv, rows, &lsoas).expect("write csv");
    }
    let mb = std::fs::metadata(&csv)
        .map(|m| m.len() as f64 / 1e6)
        .unwrap_or(0.0);
    let (csv_s, lake_s) = (csv.display().to_string(), lake.display().to_string());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // One ingest into a fresh lake with `threads` validating threads (None: Marmot's default,
    // one per core). The cube refresh that follows an ingest is measured by the cube
    // benchmark, not here.
    let ingest = |threads: Option<usize>| {
        init_lake();
        let t = threads.map(|t| t.to_string());
        eprintln!(
            "ingesting {rows} rows ({mb:.0} MB) with marmot, {} validating thread(s) ...",
            threads.unwrap_or(cores)
        );
        let mut args = vec![
            marmot,
            "--lake",
            &lake_s,
            "ingest",
            "admissions",
            &csv_s,
            "--no-cube",
        ];
        if let Some(t) = &t {
            args.extend(["--threads", t.as_str()]);
        }
        let m = measure(&args, &key).expect("marmot ingest");
        // Every row written must be in the table: a bench that quarantined rows (exit 3,
        // refused above) or lost some would be measuring something else.
        let accepted = common::table_rows(marmot, &key, &lake_s, "admissions");
        assert_eq!(accepted, rows, "marmot accepted every row written");
        m
    };
    let one = (cores > 1).then(|| ingest(Some(1)));
    let m = ingest(None);
    let out = work.join("duckdb.parquet");
    let out_s = out.display().to_string();
    let d_one = if cores > 1 {
        eprintln!("copying with duckdb, one thread ...");
        measure(&["python3", "-c", DUCKDB, &csv_s, &out_s, "1"], &[])
    } else {
        None
    };
    eprintln!("copying with duckdb ...");
    let d = measure(&["python3", "-c", DUCKDB, &csv_s, &out_s], &[]);
    if d.is_some() {
        let n = Command::new("python3")
            .arg("-c")
            .arg(DUCKDB_COUNT)
            .arg(&out)
            .output()
            .expect("python3");
        let n: u64 = String::from_utf8_lossy(&n.stdout)
            .trim()
            .parse()
            .expect("duckdb's row count");
        assert_eq!(n, rows, "duckdb wrote every row");
    }

    let mut r = common::report::Report::new("ingest");
    r.line(format!(
        "\ningest benchmark: {rows} admissions rows ({rows} accepted, 0 quarantined), {mb:.0} MB CSV, {cores} cores"
    ));
    r.line("| engine | what | seconds | CPU seconds | rows/s | MB/s | peak RSS (MiB) |");
    r.line("|---|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, what: &str, x: &Measured| {
        format!(
            "| {name} | {what} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} |",
            x.seconds,
            x.cpu,
            rows as f64 / x.seconds,
            mb / x.seconds,
            x.peak_mib
        )
    };
    r.line(row(
        "marmot",
        "validate every row, pseudonymise, Parquet + Delta commit, raw copy",
        &m,
    ));
    match &d {
        Some(d) => {
            r.line(row("duckdb", "read CSV, write Parquet (no validation)", d));
            r.line(format!(
                "\nratio marmot / duckdb: {:.2}x time, {:.2}x peak memory (target: time <= 1.5x)",
                m.seconds / d.seconds,
                m.peak_mib / d.peak_mib
            ));
        }
        None => r.line(common::no_duckdb()),
    }
    // Scaling with threads: Marmot's validating threads (`--threads`; the file is parsed on
    // one more thread and written on another) and DuckDB's `threads` setting, 1 against all.
    if let Some(one) = &one {
        r.line(format!(
            "\nscaling with threads (marmot --threads, duckdb SET threads), 1 -> {cores}: marmot {:.1} s -> {:.1} s ({:.2}x faster, CPU {:.1} s -> {:.1} s){}",
            one.seconds,
            m.seconds,
            one.seconds / m.seconds,
            one.cpu,
            m.cpu,
            match (&d_one, &d) {
                (Some(a), Some(b)) => format!(
                    "; duckdb {:.1} s -> {:.1} s ({:.2}x faster)",
                    a.seconds,
                    b.seconds,
                    a.seconds / b.seconds
                ),
                _ => String::new(),
            }
        ));
    }
    r.finish();
}
