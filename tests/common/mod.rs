//! Helpers shared by the end-to-end tests: run the real `marmot` binary against real lakes in
//! temporary directories.
#![allow(dead_code)]

pub mod http;
pub mod procs;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The key every test uses (never a real key).
pub const KEY: &str = "marmot-test-key-0123456789abcdef";

/// Environment added to every `marmot` command of this test binary (an S3 server's settings,
/// see [`procs::shared_s3`]).
pub static EXTRA_ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// A `marmot` command with a test key and nothing from the environment that would change
/// which lake or engine it uses.
pub fn marmot_bare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_marmot"));
    c.env("MARMOT_PSEUDONYM_KEY", KEY)
        .env_remove("MARMOT_LAKE")
        .env_remove("MARMOT_PLACE")
        .env_remove("MARMOT_ENGINE")
        .env_remove("MARMOT_MEMORY_LIMIT")
        .env_remove("MARMOT_CONFIG")
        .env("MARMOT_USER", "test");
    if let Some(env) = EXTRA_ENV.get() {
        c.envs(env.iter().map(|(k, v)| (k, v)));
    }
    c
}

/// A `marmot` command over `lake` (a directory, or an `s3://` URL).
pub fn marmot(lake: &Path) -> Command {
    let mut c = marmot_bare();
    c.arg("--lake").arg(lake);
    c
}

/// How long one command may run in a test before it is killed and the test fails: a hang
/// (a cluster job waiting for a slot, a browser that never exits) must fail its test with what
/// the command printed, never stall the whole CI run.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(600);

/// Runs (stdin closed) and returns (exit code, stdout, stderr); a command still running after
/// [`COMMAND_DEADLINE`] is killed and the test fails.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("the command starts");
    finish(child, COMMAND_DEADLINE)
}

/// Waits for a child started with piped stdout and stderr, at most `deadline`: returns (exit
/// code, stdout, stderr), or kills it and panics with what it printed.
pub fn finish(mut child: Child, deadline: Duration) -> (i32, String, String) {
    fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
        let (tx, rx) = mpsc::channel();
        if let Some(mut p) = pipe {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = p.read_to_end(&mut buf);
                let _ = tx.send(buf);
            });
        }
        rx
    }
    let (out, err) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // A grandchild may hold a pipe open after the child has gone: wait for it a little only.
    let text = |rx: mpsc::Receiver<Vec<u8>>| {
        let bytes = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let (out, err) = (text(out), text(err));
    match status {
        Some(status) => (status.code().unwrap_or(-1), out, err),
        None => panic!(
            "still running after {} s, killed\nstdout:\n{out}\nstderr:\n{err}",
            deadline.as_secs()
        ),
    }
}

/// Runs and insists on success.
pub fn ok(cmd: &mut Command) -> String {
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "exit {code}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// The `marmot-cli` crate directory, read when the test runs (cargo sets it): a test binary
/// reused from a build in another checkout must not look in that checkout.
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// A new, initialised, empty lake (City and Hackney) in a temporary directory.
pub fn fresh_lake() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    ok(marmot(&lake_path(&dir)).arg("init"));
    dir
}

/// Where the lake is inside a temporary directory.
pub fn lake_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("lake")
}

/// The demo lake at scale 1, generated once per test binary.
pub fn demo_lake() -> &'static Path {
    static LAKE: OnceLock<PathBuf> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let lake = dir.join("lake");
        ok(marmot(&lake).args(["demo", "generate", "--seed", "42"]));
        lake
    })
}

/// A dataset's valid example CSV (`marmot datasets template`): header and rows.
pub fn template(lake: &Path, dataset: &str, rows: usize) -> (Vec<String>, Vec<Vec<String>>) {
    let out = ok(marmot(lake).args(["datasets", "template", dataset, "--rows", &rows.to_string()]));
    let mut lines = out
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("header");
    (header, lines.collect())
}

/// Writes a CSV file from a header and rows.
pub fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    std::fs::write(path, s).expect("write csv");
}

/// Ingests with `--format json`; returns (exit code, summary or error object).
pub fn ingest_json(
    lake: &Path,
    dataset: &str,
    file: &Path,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let (code, out, err) = run(marmot(lake)
        .args(["ingest", dataset])
        .arg(file)
        .args(["--format", "json"])
        .args(extra));
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("json ({e}): {out}\n{err}"));
    (code, v)
}

/// The months an ingest summary's period covers, as `--period` takes them
/// (`YYYY-MM..YYYY-MM`).
pub fn months_of(summary: &serde_json::Value) -> String {
    let p = &summary["period"];
    // The CLI's summary has {from, to}; the API's ingest report "from..to".
    let (from, to) = match p.as_str().and_then(|s| s.split_once("..")) {
        Some((a, b)) => (a, b),
        None => (
            p["from"]
                .as_str()
                .unwrap_or_else(|| panic!("no period in {summary}")),
            p["to"]
                .as_str()
                .unwrap_or_else(|| panic!("no period in {summary}")),
        ),
    };
    format!("{}..{}", &from[..7], &to[..7])
}

/// Runs SQL and returns the rows as JSON objects.
pub fn sql(lake: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = ok(marmot(lake).args(["sql", "--format", "json", query]));
    let v: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("json from sql ({e}): {out}"));
    v.as_array().cloned().unwrap_or_default()
}

/// One number from a one-row SQL result.
pub fn sql_f64(lake: &Path, query: &str) -> f64 {
    let rows = sql(lake, query);
    let row = rows
        .first()
        .unwrap_or_else(|| panic!("no rows from {query}"));
    let v = row
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not a number: {v} from {query}"))
}

/// `count(*)` of a table at an earlier Delta version (`marmot sql --at`).
pub fn count_at(lake: &Path, table: &str, version: u64) -> u64 {
    let out = ok(marmot(lake).args([
        "sql",
        "--format",
        "csv",
        "--at",
        &format!("{table}={version}"),
        &format!("SELECT count(*) AS n FROM {table}"),
    ]));
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {out}"))
}

/// Every file under a directory (relative paths), sorted.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else if let Ok(rel) = p.strip_prefix(base) {
                    out.push(rel.display().to_string());
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Where any of `needles` (clear identifiers) is stored in a lake outside `raw/` (the one place
/// the original file is kept): every Parquet file is decoded (tables, quarantine, cube, trigger
/// tables, views, audit) and every column searched as text, since compressed pages hide their
/// strings from a byte search; every other file (Delta logs with their column statistics,
/// JSON) is searched as text. Returns "file: column" for each hit.
pub fn clear_identifiers_in_lake(lake: &Path, needles: &[String]) -> Vec<String> {
    use arrow::array::Array;
    let mut hits = Vec::new();
    let mut parquet_files = 0;
    for rel in files_under(lake) {
        if rel.starts_with("raw/") || rel.starts_with("raw\\") {
            continue;
        }
        let path = lake.join(&rel);
        if rel.ends_with(".parquet") {
            parquet_files += 1;
            let file = std::fs::File::open(&path).expect("open parquet");
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap_or_else(|e| panic!("{rel} is not readable Parquet: {e}"))
                    .build()
                    .expect("reader");
            for batch in reader {
                let batch = batch.unwrap_or_else(|e| panic!("{rel}: {e}"));
                for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                    let text = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8);
                    let Ok(text) = text else { continue };
                    let Some(text) = text.as_any().downcast_ref::<arrow::array::StringArray>()
                    else {
                        continue;
                    };
                    for v in text.iter().flatten() {
                        if needles.iter().any(|n| v.contains(n.as_str())) {
                            hits.push(format!("{rel}: {}", field.name()));
                            break;
                        }
                    }
                }
            }
        } else {
            let bytes = std::fs::read(&path).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            if needles.iter().any(|n| text.contains(n.as_str())) {
                hits.push(rel.clone());
            }
        }
    }
    assert!(
        parquet_files > 0,
        "no Parquet file under {}",
        lake.display()
    );
    hits.sort();
    hits.dedup();
    hits
}

/// Writes a zstd-compressed Parquet file holding `value` in a string column: a positive
/// control for [`clear_identifiers_in_lake`] (a byte search cannot see the value in it).
pub fn plant_compressed_parquet(path: &Path, value: &str) {
    use std::sync::Arc;
    let values: Vec<String> = (0..2000).map(|i| format!("{value}-{i}")).collect();
    let array = arrow::array::StringArray::from(values);
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Utf8, false),
    ]));
    let batch = arrow::record_batch::RecordBatch::try_new(schema.clone(), vec![Arc::new(array)])
        .expect("control file");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    std::fs::create_dir_all(path.parent().expect("control file")).expect("control file");
    let file = std::fs::File::create(path).expect("control file");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).expect("control file");
    w.write(&batch).expect("control file");
    w.close().expect("control file");
    let bytes = std::fs::read(path).expect("control file");
    assert!(
        !String::from_utf8_lossy(&bytes).contains(&format!("{value}-1999")),
        "the control must hide its strings from a byte search"
    );
}
