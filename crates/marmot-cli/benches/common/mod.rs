//! Shared by the benchmarks that compare Marmot with DuckDB over a demo lake: timing a child
//! process with its peak RSS, generating the lake once, and DuckDB's view of the lake.
#![allow(dead_code)]

pub mod report;

use std::path::Path;
use std::process::Command;

pub const MEASURE: &str = r#"
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode())
    # Killed by a signal (negative return code): exit 128 + the signal, as a shell would.
    sys.exit(128 - r.returncode if r.returncode < 0 else r.returncode)
# The command's own output, then the timing as the last line.
sys.stdout.write(r.stdout.decode(errors="replace"))
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"\n{dt} {u.ru_maxrss} {u.ru_utime + u.ru_stime}")
"#;

/// The start of every DuckDB script here (Python, argv[1] the lake): a connection `con` with
/// every table's Parquet files registered as views and Marmot's SQL function
/// `nhs_ethnic_group` as a macro. A macro so that `concat!` can put it in front of each script.
macro_rules! duckdb_lake {
    () => {
        r#"
import duckdb, glob, json, os, sys
lake = sys.argv[1]
con = duckdb.connect()
for kind in ("tables", "reference"):
    for d in glob.glob(os.path.join(lake, kind, "*")):
        # Curated tables are laid out by quarter (period=2020Q3/part-....parquet): every file,
        # read as plain Parquet (the directory names are not columns).
        files = sorted(glob.glob(os.path.join(d, "**", "*.parquet"), recursive=True))
        if files:
            con.execute(f"CREATE VIEW {os.path.basename(d)} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = false)")
# Marmot's SQL function nhs_ethnic_group (marmot_model::nhs_ethnic_group), as a DuckDB macro.
con.execute("""CREATE MACRO nhs_ethnic_group(c) AS CASE
    WHEN c IN ('A', 'B', 'C') THEN 'White' WHEN c IN ('D', 'E', 'F', 'G') THEN 'Mixed'
    WHEN c IN ('H', 'J', 'K', 'L', 'R') THEN 'Asian' WHEN c IN ('M', 'N', 'P') THEN 'Black'
    WHEN c = 'S' THEN 'Other' ELSE 'Not stated' END""")
"#
    };
}

/// Registers every table's Parquet files as views, then runs the queries of a JSON list
/// (argv: lake, queries file) and prints the rows returned.
pub const DUCKDB: &str = concat!(
    duckdb_lake!(),
    r#"
queries = json.load(open(sys.argv[2]))
rows = 0
for q in queries:
    rows += len(con.execute(q).fetchall())
print(rows, file=sys.stderr)
"#
);

/// DuckDB computing one DSR indicator's finished values ([`DSR_SQL`]; argv: lake, the
/// indicator's numerator SQL file, output Parquet file), written to Parquet.
pub const DUCKDB_DSR: &str = concat!(
    duckdb_lake!(),
    r#"
numerator, out = open(sys.argv[2]).read(), sys.argv[3]
# Byar's approximation of a Poisson count's limits, and Dobson's limits of a DSR from them
# (marmot_stats::ci::byars_lower / byars_upper, marmot_stats::dsr::DsrEstimate::ci), per 100,000
# (the multiplier of the bench's indicator).
con.execute("CREATE MACRO byars_lower(o, z) AS CASE WHEN o = 0 THEN 0 ELSE greatest(0, o * pow(1 - 1 / (9 * o) - z / (3 * sqrt(o)), 3)) END")
con.execute("CREATE MACRO byars_upper(o, z) AS (o + 1) * pow(1 - 1 / (9 * (o + 1)) + z / (3 * sqrt(o + 1)), 3)")
con.execute("CREATE MACRO dobson(v, var, o, b) AS v + sqrt(var / o) * (b - o) * 100000")
sql = os.environ["MARMOT_DSR_SQL"].replace("__NUMERATOR_SQL__", numerator)
con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
"#
);

/// The DSR peer's SQL (`duckdb_dsr.sql`).
pub const DSR_SQL: &str = include_str!("duckdb_dsr.sql");

/// Compares DuckDB's DSR output with the cube's values of the indicator without breakdown
/// (argv: the cube's directory, DuckDB's Parquet file, indicator id): prints the rows of
/// each, rows only one has, the largest relative difference of any value, limit, numerator or
/// denominator, and the values published by one and not the other.
pub const COMPARE_DSR: &str = r#"
import duckdb, glob, sys
cube, out, ind = sys.argv[1:4]
con = duckdb.connect()
# A cube written once into an empty directory: its Parquet files are the table.
files = sorted(glob.glob(f"{cube}/**/*.parquet", recursive=True))
con.execute(f"CREATE VIEW m AS SELECT * FROM read_parquet({files!r}, hive_partitioning = false) WHERE indicator_id = '{ind}' AND breakdown = ''")
con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{out}')")
cols = ["numerator", "denominator", "value", "lower_95", "upper_95", "lower_99_8", "upper_99_8"]
rel = " , ".join(f"max(abs(m.{c} - d.{c}) / greatest(abs(m.{c}), 1e-300))" for c in cols)
miss = " + ".join(f"count(*) FILTER (WHERE (m.{c} IS NULL) <> (d.{c} IS NULL))" for c in cols)
row = con.execute(f"""SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM d),
    count(*) FILTER (WHERE m.indicator_id IS NULL OR d.numerator IS NULL),
    greatest({rel}), {miss}
    FROM m FULL JOIN d USING (level, area_code, period_kind, period)""").fetchone()
print(" ".join(str(x) for x in row))
"#;

/// The line a bench prints when its DuckDB run gave nothing: "no ratio" only when Python
/// cannot import `duckdb`. DuckDB installed but failing fails the bench, so that a broken peer
/// query never reads as a missing peer.
pub fn no_duckdb() -> &'static str {
    let installed = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        !installed,
        "duckdb is installed but its run failed (its error is above)"
    );
    "\nduckdb not available (pip install duckdb): no ratio"
}

/// Why a measured command gave no figure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Failure {
    /// Killed by this signal (9, SIGKILL, is what the kernel's out-of-memory killer sends).
    Killed(i32),
    /// Exited with this status (its error was printed above the results).
    Exit(i32),
    /// Could not be started, or printed no timing.
    NotRun,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Killed(9) => write!(f, "failed: killed by SIGKILL (out of memory?)"),
            Failure::Killed(n) => write!(f, "failed: killed by signal {n}"),
            Failure::Exit(n) => write!(f, "failed: exit status {n}"),
            Failure::NotRun => write!(f, "not measured"),
        }
    }
}

/// Runs a command under Python's timer: (seconds, peak RSS in MiB), None when it failed.
pub fn measure(args: &[&str], env: &[(&str, &str)]) -> Option<(f64, f64)> {
    measure_why(args, env).ok()
}

/// [`measure`], saying why when it failed.
pub fn measure_why(args: &[&str], env: &[(&str, &str)]) -> Result<(f64, f64), Failure> {
    measure_output(args, env).map(|(s, m, _)| (s, m))
}

/// [`measure_why`] with what the command printed on stdout.
pub fn measure_output(args: &[&str], env: &[(&str, &str)]) -> Result<(f64, f64, String), Failure> {
    measure_all(args, env).map(|(s, m, _, out)| (s, m, out))
}

/// Runs a command under Python's timer: (seconds, peak RSS in MiB, user + system CPU seconds),
/// None when it failed.
pub fn measure_cpu(args: &[&str], env: &[(&str, &str)]) -> Option<(f64, f64, f64)> {
    measure_all(args, env).ok().map(|(s, m, c, _)| (s, m, c))
}

/// Seconds, peak RSS (MiB), CPU seconds and stdout of a command run under [`MEASURE`].
fn measure_all(args: &[&str], env: &[(&str, &str)]) -> Result<(f64, f64, f64, String), Failure> {
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(MEASURE)
        .args(args)
        .envs(env.iter().copied());
    let out = c.output().map_err(|_| Failure::NotRun)?;
    if !out.status.success() {
        eprintln!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        return Err(match out.status.code() {
            Some(n) if n > 128 => Failure::Killed(n - 128),
            Some(n) => Failure::Exit(n),
            None => Failure::NotRun,
        });
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (printed, timing) = text
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", text.trim()));
    let mut it = timing.split_whitespace();
    let secs = it.next().and_then(|v| v.parse().ok());
    let kib = it.next().and_then(|v| v.parse::<f64>().ok());
    let cpu = it.next().and_then(|v| v.parse().ok());
    match (secs, kib, cpu) {
        (Some(s), Some(k), Some(c)) => Ok((s, k / 1024.0, c, printed.to_string())),
        _ => Err(Failure::NotRun),
    }
}

/// The number of rows of `table` in the lake, as `marmot sql` counts them.
pub fn table_rows(marmot: &str, key: &[(&str, &str)], lake: &str, table: &str) -> u64 {
    let counted = Command::new(marmot)
        .envs(key.iter().copied())
        .args(["--lake", lake, "sql", "--format", "csv"])
        .arg(format!("SELECT count(*) AS n FROM {table}"))
        .output()
        .expect("marmot sql");
    String::from_utf8_lossy(&counted.stdout)
        .lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a row count of {table}"))
}

/// Generates a demo lake (no cube) at `lake` unless one is there.
pub fn demo_lake(marmot: &str, key: &[(&str, &str)], lake: &Path, scale: f64, place: &str) {
    if lake.join("_marmot/lake.json").exists() {
        return;
    }
    eprintln!("generating the demo lake for {place} at scale {scale} ...");
    let out = Command::new(marmot)
        .envs(key.iter().copied())
        .arg("--lake")
        .arg(lake)
        .args([
            "demo",
            "generate",
            "--scale",
            &scale.to_string(),
            "--place",
            place,
            "--no-cube",
        ])
        .output()
        .expect("marmot demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The shipped place a bench runs on (`MARMOT_BENCH_PLACE`, default the demo place) and the
/// suffix of its results file (`cube` for the demo place, `cube-<place>` for another).
pub fn bench_place(bench: &str) -> (String, String) {
    let place = std::env::var("MARMOT_BENCH_PLACE").unwrap_or_else(|_| "city-and-hackney".into());
    let name = if place == "city-and-hackney" {
        bench.to_string()
    } else {
        format!("{bench}-{place}")
    };
    (place, name)
}

/// The ids of the shipped indicators and, for each, its numerator SQL grouped as Marmot groups
/// it (by LSOA, month, age and sex): the work DuckDB does in the cube comparisons.
pub fn numerator_queries(marmot: &str) -> (Vec<String>, Vec<String>) {
    let listing = Command::new(marmot)
        .args(["indicators", "--format", "json"])
        .output()
        .expect("indicators");
    let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&listing.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        // Indicators over datasets the demo does not generate (police.uk's street_crime, NHS
        // England's gp_appointments, read from real files) have no table in a demo lake.
        .filter(|v| {
            marmot_lake::demo::DEMO_DATASETS.contains(&v["source"].as_str().unwrap_or_default())
        })
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect();
    let mut queries = Vec::new();
    for id in &ids {
        let shown = Command::new(marmot)
            .args(["indicators", "--show", id])
            .output()
            .expect("show");
        let text = String::from_utf8_lossy(&shown.stdout).to_string();
        let sql = text
            .rsplit("\n\n")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        let cols = ["age", "sex"]
            .iter()
            .map(|c| {
                if sql.contains(&format!(" {c},")) || sql.contains(&format!(" {c}\n")) {
                    c.to_string()
                } else {
                    format!("NULL AS {c}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        queries.push(format!("SELECT lsoa_code, date_trunc('month', event_date) AS bucket, {cols}, sum(numerator) AS num FROM ({sql}) s GROUP BY ALL"));
    }
    (ids, queries)
}

/// The weekly count SQL of every shipped trigger signal (`queries/triggers/*.sql`), per LSOA
/// and week: the work DuckDB does in the trigger comparisons.
pub fn weekly_count_queries() -> Vec<String> {
    let dir = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../queries/triggers");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("queries/triggers")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read signal"))
        // The weekly run's signals: over the demo's datasets, not monthly ones.
        .filter(|text| {
            !text.contains("frequency = \"month\"")
                && marmot_lake::demo::DEMO_DATASETS
                    .iter()
                    .any(|d| text.contains(&format!("dataset = \"{d}\"")))
        })
        .map(|text| {
            let sql = text
                .split_once("*/")
                .map(|x| x.1)
                .unwrap_or_default()
                .trim()
                .to_string();
            format!(
                "SELECT lsoa_code, date_trunc('week', event_date) AS wk, sum(numerator) AS num FROM ({sql}) s GROUP BY ALL"
            )
        })
        .collect()
}
