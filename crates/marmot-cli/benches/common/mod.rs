//! Shared by the benchmarks that compare Marmot with DuckDB over a demo lake: timing a child
//! process with its peak RSS, generating the lake once, and DuckDB's view of the lake.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const MEASURE: &str = r#"
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
dt = time.perf_counter() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr.decode())
    sys.exit(r.returncode)
print(f"{dt} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
"#;

/// Registers every table's Parquet files as views, then runs the queries of a JSON list
/// (argv: lake, queries file) and prints the rows returned.
pub const DUCKDB: &str = r#"
import duckdb, glob, json, os, sys
lake, queries = sys.argv[1], json.load(open(sys.argv[2]))
con = duckdb.connect()
for kind in ("tables", "reference"):
    for d in glob.glob(os.path.join(lake, kind, "*")):
        files = glob.glob(os.path.join(d, "*.parquet"))
        if files:
            con.execute(f"CREATE VIEW {os.path.basename(d)} AS SELECT * FROM read_parquet({files!r})")
rows = 0
for q in queries:
    rows += len(con.execute(q).fetchall())
print(rows, file=sys.stderr)
"#;

/// Runs a command under Python's timer: (seconds, peak RSS in MiB), None when it failed.
pub fn measure(args: &[&str], env: &[(&str, &str)]) -> Option<(f64, f64)> {
    let mut c = Command::new("python3");
    c.arg("-c")
        .arg(MEASURE)
        .args(args)
        .envs(env.iter().copied());
    let out = c.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut it = text.split_whitespace();
    Some((
        it.next()?.parse().ok()?,
        it.next()?.parse::<f64>().ok()? / 1024.0,
    ))
}

/// Generates a demo lake (no cube) at `lake` unless one is there.
pub fn demo_lake(marmot: &str, key: &[(&str, &str)], lake: &Path, scale: f64) {
    if lake.join("_marmot/lake.json").exists() {
        return;
    }
    eprintln!("generating the demo lake at scale {scale} ...");
    let out = Command::new(marmot)
        .envs(key.iter().copied())
        .arg("--lake")
        .arg(lake)
        .args([
            "demo",
            "generate",
            "--scale",
            &scale.to_string(),
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
