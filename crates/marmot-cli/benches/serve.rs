//! Serving benchmark: `marmot serve` over the demo lake in one process, the load generator
//! `wrk` (Debian's package) in another, on loopback, sharing the machine's cores.
//!
//! The server runs twice, once with the default logging (`RUST_LOG` unset: Marmot's events and
//! a line per request at info) and once with logging off (`RUST_LOG=off`), its stderr written to
//! a file beside the lake as a service's log would be. Each run measures, at 64 and at 256
//! connections, 30 s each:
//! 1. indicator JSON: ward values of one indicator for one month (from the cube, through
//!    disclosure control), the same URL every time, so served from the response cache;
//! 2. an uncached mix: one ward's value of every monthly indicator for every month of the two
//!    years before its latest, for every ward (wrk's Lua script walks the URLs in order, each
//!    thread its own half). There are more URLs than twice the response cache holds (4,096
//!    answers; it forgets everything when full), so no URL is still cached when it comes round
//!    again: every request computes its answer (the disclosure pattern of each indicator and
//!    month, computed once by the first request that needs it, is reused, as in production);
//! 3. the indicator JSON again while the disk is busy: `dd` writing 1 GiB and flushing it, over
//!    and over, on the disk that holds the log (what the machine looks like right after a bench
//!    or an ingest has written a few GB);
//! 4. a chart PNG: the place's monthly trend of the same indicator since April 2018 (900 x 500),
//!    cached, at 64 connections; and, in the run with default logging, what a first request costs:
//!    60 chart PNGs of distinct sizes (each a new render), one after another.
//!
//! Before each measurement the bench waits until the server is idle (its CPU time stops
//! growing), so that answers still being computed for requests wrk gave up on are not charged
//! to the next row.
//!
//! Reports requests/s, p50 and p99, errors (non-2xx answers and socket errors, from wrk's
//! output; timeouts, at 5 s, named), the log lines written and dropped (the log writer drops rather than blocks; the server
//! says how many at exit), and each server's peak memory. Targets on the 2-core machine: indicator
//! JSON p99 < 25 ms at >= 5,000 requests/s, PNG p99 < 150 ms, no errors, and p99 with the default
//! logging within 2x of p99 with logging off, also while the disk is busy (issue #15).
//! `MARMOT_BENCH_SECONDS` shortens the runs. Run: `cargo bench -p marmot-cli --bench serve`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod common;

/// What wrk measured.
struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// Non-2xx answers plus socket errors, of which `timeouts` are requests wrk gave up on.
    errors: u64,
    timeouts: u64,
}

fn ms(s: &str) -> f64 {
    let (n, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .unwrap_or((s, "ms"));
    let v: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => v / 1000.0,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => v,
    }
}

/// wrk against `url` (with a Lua script choosing the paths, when given).
fn wrk(url: &str, connections: u32, seconds: u64, script: Option<&Path>) -> Load {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
        "--timeout",
        "5s",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // wrk prints "Non-2xx" and "Socket errors" lines only when there were some.
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output: {text}"));
    let non2xx: u64 = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .and_then(|l| l.rsplit(':').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    // "Socket errors: connect 0, read 0, write 0, timeout 99"
    let socket: Vec<(String, u64)> = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| {
            l.trim_start_matches(|c| c != ':')
                .trim_start_matches(':')
                .split(',')
                .filter_map(|p| {
                    let mut w = p.split_whitespace();
                    Some((w.next()?.to_string(), w.next()?.parse::<u64>().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    Load {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}")),
        p50_ms: field("50%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        requests,
        errors: non2xx + socket.iter().map(|(_, n)| n).sum::<u64>(),
        timeouts: socket
            .iter()
            .filter(|(k, _)| k == "timeout")
            .map(|(_, n)| n)
            .sum(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Logging {
    Default,
    Off,
}

impl Logging {
    fn label(self) -> &'static str {
        match self {
            Logging::Default => "default",
            Logging::Off => "off",
        }
    }
}

/// A `marmot serve` child with its stderr in a file; killed if the bench panics.
struct Server {
    child: Option<Child>,
    addr: String,
    log: PathBuf,
}

/// What the server logged.
struct LogLines {
    written: usize,
    dropped: u64,
}

impl Server {
    fn start(marmot: &str, lake: &Path, logging: Logging, log: PathBuf) -> Server {
        let mut cmd = Command::new(marmot);
        cmd.env("MARMOT_PSEUDONYM_KEY", KEY)
            .env_remove("RUST_LOG")
            .arg("--lake")
            .arg(lake)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        if logging == Logging::Off {
            cmd.env("RUST_LOG", "off");
        }
        let mut child = cmd.spawn().expect("marmot serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut server = Server {
            child: Some(child),
            addr: String::new(),
            log,
        };
        server.addr = loop {
            let l = lines.next().expect("address line").expect("line");
            if let Some(rest) = l.split("http://").nth(1) {
                break rest.trim_end_matches('/').to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        server
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// Peak resident memory so far, MiB.
    fn peak_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    /// CPU seconds the server has used (user + system, from /proc).
    fn cpu_seconds(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .ok()
            .and_then(|s| {
                // Fields after the command name (which may hold spaces) start at ") ".
                let rest = s.rsplit_once(") ")?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
                Some(ticks / 100.0)
            })
            .unwrap_or(0.0)
    }

    /// Waits (at most a minute) until the server is idle, so that work left over from one
    /// measurement (answers to requests wrk gave up on) is not charged to the next.
    fn settle(&self) {
        let started = std::time::Instant::now();
        let mut last = self.cpu_seconds();
        while started.elapsed() < std::time::Duration::from_secs(60) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let now = self.cpu_seconds();
            if now - last < 0.05 {
                return;
            }
            last = now;
        }
        eprintln!("the server was still busy after a minute; measuring anyway");
    }

    /// Stops it as an operator would (SIGTERM: it finishes, flushes its log and says how many
    /// lines it dropped), then reads its log.
    fn stop(mut self) -> LogLines {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let started = std::time::Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if started.elapsed().as_secs() > 60 {
                    let _ = child.kill();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.wait();
        }
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let dropped = text
            .lines()
            .find(|l| l.contains("log lines were dropped"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0);
        LogLines {
            written: text.lines().count(),
            dropped,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

const KEY: &str = "bench-key-0123456789abcdef";

/// `dd` writing 1 GiB and flushing it to `dir`, again and again, until dropped.
struct DiskPressure {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl DiskPressure {
    fn start(dir: &Path) -> DiskPressure {
        let stop = Arc::new(AtomicBool::new(false));
        let file = dir.join("disk-pressure.bin");
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut gib = 0;
            while !s.load(Ordering::Relaxed) {
                let st = Command::new("dd")
                    .arg("if=/dev/zero")
                    .arg(format!("of={}", file.display()))
                    .args(["bs=1M", "count=1024", "conv=fsync", "status=none"])
                    .status()
                    .expect("dd");
                assert!(st.success(), "dd could not write {}", file.display());
                gib += 1;
            }
            let _ = std::fs::remove_file(&file);
            gib
        });
        DiskPressure {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops writing (after the 1 GiB in progress) and says how many GiB were written.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let gib = self
            .thread
            .take()
            .map(|t| t.join().unwrap_or(0))
            .unwrap_or(0);
        let _ = Command::new("sync").status();
        gib
    }
}

impl Drop for DiskPressure {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn get_json(url: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sf", url])
        .output()
        .expect("curl");
    assert!(out.status.success(), "{url} answers");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{url}: not JSON: {e}"))
}

/// The uncached mix: a Lua script for wrk over every (monthly indicator, month, ward) of the
/// two years before each indicator's latest month. Returns the script and the number of URLs.
fn uncached_mix(base: &str, dir: &Path) -> (PathBuf, usize) {
    let wards: Vec<String> = get_json(&format!("{base}/api/v1/areas?level=ward&limit=10000"))
        .as_array()
        .expect("areas: a list")
        .iter()
        .filter_map(|a| a["code"].as_str().map(str::to_string))
        .collect();
    let mut paths = Vec::new();
    for ind in get_json(&format!("{base}/api/v1/indicators"))
        .as_array()
        .expect("indicators: a list")
    {
        let (Some(id), Some("month"), Some(latest)) = (
            ind["id"].as_str(),
            ind["grain"].as_str(),
            ind["latest_period"].as_str(),
        ) else {
            continue;
        };
        let Some((y, m)) = latest
            .split_once('-')
            .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<i32>().ok()?)))
        else {
            continue;
        };
        for back in 1..=24 {
            let k = y * 12 + (m - 1) - back;
            let period = format!("{}-{:02}", k / 12, k % 12 + 1);
            for w in &wards {
                paths.push(format!(
                    "/api/v1/indicators/{id}/values?level=ward&period={period}&area={w}"
                ));
            }
        }
    }
    assert!(
        paths.len() > 2 * 4096,
        "the uncached mix needs more URLs than twice the response cache: {} ({} wards)",
        paths.len(),
        wards.len()
    );
    // Every URL answers 200 before it is timed (a mix of errors would measure the wrong thing);
    // one in 97 is tried, which also warms the disclosure patterns as production would be.
    for p in paths.iter().step_by(97) {
        let st = Command::new("curl")
            .args(["-sf", "-o", "/dev/null"])
            .arg(format!("{base}{p}"))
            .status()
            .expect("curl");
        assert!(st.success(), "{base}{p} answers");
    }
    let mut lua = String::from("local paths = {\n");
    for p in &paths {
        lua.push_str(&format!("  \"{p}\",\n"));
    }
    lua.push_str(
        r#"}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  i = id
end
function request()
  local p = paths[(i % #paths) + 1]
  i = i + 2
  return wrk.format("GET", p)
end
"#,
    );
    let script = dir.join("uncached-mix.lua");
    std::fs::write(&script, lua).expect("lua script");
    (script, paths.len())
}

/// One row of the results table.
struct Row {
    logging: Logging,
    what: String,
    connections: u32,
    load: Load,
}

/// What one server run measured.
struct Run {
    rows: Vec<Row>,
    log: LogLines,
    peak_mib: f64,
    pressure_gib: u64,
}

fn main() {
    let seconds: u64 = std::env::var("MARMOT_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let work = std::env::var_os("MARMOT_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("marmot-bench"));
    let lake = work.join("serve-lake");
    let marmot = env!("CARGO_BIN_EXE_marmot");
    if !lake.join("cube").exists() {
        eprintln!(
            "generating the demo lake with its cube at {} ...",
            lake.display()
        );
        let st = Command::new(marmot)
            .env("MARMOT_PSEUDONYM_KEY", KEY)
            .arg("--lake")
            .arg(&lake)
            .args(["demo", "generate"])
            .stdout(Stdio::null())
            .status()
            .expect("marmot demo generate");
        assert!(st.success());
    }
    let json_path = "/api/v1/indicators/emergency_admissions/values?level=ward&period=2019-09";
    let png_path = "/api/v1/charts/trend/emergency_admissions.png?from=2018-04-01";
    const RENDERS: usize = 60;
    let mut renders: Vec<f64> = Vec::with_capacity(RENDERS);
    let mut render_errors = 0u64;
    let mut render_rate = f64::NAN;
    let mut runs: Vec<Run> = Vec::new();
    for logging in [Logging::Default, Logging::Off] {
        let server = Server::start(
            marmot,
            &lake,
            logging,
            work.join(format!("serve-log-{}.txt", logging.label())),
        );
        let base = format!("http://{}", server.addr);
        let json = format!("{base}{json_path}");
        let png = format!("{base}{png_path}");
        // Warm: the first request computes (and caches) the answer.
        for url in [&json, &png] {
            let st = Command::new("curl")
                .args(["-sf", "-o", "/dev/null", url])
                .status()
                .expect("curl");
            assert!(st.success(), "{url} answers");
        }
        let (script, n) = uncached_mix(&base, &work);
        let mut rows = Vec::new();
        let mut measure = |what: &str, url: &str, connections: u32, script: Option<&Path>| {
            server.settle();
            eprintln!(
                "wrk: logging {}, {what}, {connections} connections, {seconds} s ...",
                logging.label()
            );
            rows.push(Row {
                logging,
                what: what.to_string(),
                connections,
                load: wrk(url, connections, seconds, script),
            });
        };
        for c in [64, 256] {
            measure(
                "indicator JSON (ward values, one month), cached",
                &json,
                c,
                None,
            );
        }
        for c in [64, 256] {
            measure(
                &format!("uncached mix ({n} URLs: ward x month x indicator)"),
                &base,
                c,
                Some(&script),
            );
        }
        measure("chart PNG (monthly trend, 900x500), cached", &png, 64, None);
        let pressure = DiskPressure::start(&work);
        for c in [64, 256] {
            measure(
                "indicator JSON, cached, disk busy (dd: 1 GiB + fsync, repeated)",
                &json,
                c,
                None,
            );
        }
        let pressure_gib = pressure.finish();
        if logging == Logging::Default {
            eprintln!("rendering {RENDERS} chart PNGs of distinct sizes (not cached) ...");
            let started = std::time::Instant::now();
            for i in 0..RENDERS {
                let out = Command::new("curl")
                    .args(["-sf", "-o", "/dev/null", "-w", "%{time_total}"])
                    .arg(format!("{png}&width={}&height=500", 700 + i))
                    .output()
                    .expect("curl");
                let seconds = String::from_utf8_lossy(&out.stdout).trim().parse::<f64>();
                match (out.status.success(), seconds) {
                    (true, Ok(s)) => renders.push(s * 1000.0),
                    _ => render_errors += 1,
                }
            }
            // Renders done one after another over the wall time they took.
            render_rate = renders.len() as f64 / started.elapsed().as_secs_f64();
        }
        let peak_mib = server.peak_mib();
        let log = server.stop();
        runs.push(Run {
            rows,
            log,
            peak_mib,
            pressure_gib,
        });
    }
    assert!(!renders.is_empty(), "no chart rendered");
    renders.sort_by(f64::total_cmp);
    let pct = |p: f64| renders[((renders.len() - 1) as f64 * p).round() as usize];

    let mut r = common::report::Report::new("serve");
    r.line(format!(
        "\nmarmot serve, {} cores, wrk -t2 -d{seconds}s on loopback; logging `default` is RUST_LOG unset (a line per request, to a file), `off` is RUST_LOG=off",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    ));
    r.line("| logging | endpoint | connections | requests/s | p50 ms | p99 ms | requests | errors |\n|---|---|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        for row in &run.rows {
            r.line(format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} |",
                row.logging.label(),
                row.what,
                row.connections,
                row.load.rps,
                row.load.p50_ms,
                row.load.p99_ms,
                row.load.requests,
                match row.load.timeouts {
                    0 => row.load.errors.to_string(),
                    t => format!("{} ({t} timed out at 5 s)", row.load.errors),
                }
            ));
        }
    }
    r.line(format!(
        "| default | chart PNG rendered (not cached), {RENDERS} distinct sizes one at a time | 1 | {:.0} | {:.2} | {:.2} | {RENDERS} | {render_errors} |",
        render_rate,
        pct(0.5),
        pct(0.99),
    ));
    r.line("");
    for run in &runs {
        let logging = run.rows.first().map(|x| x.logging.label()).unwrap_or("?");
        r.line(format!(
            "server with logging {logging}: peak memory {:.0} MiB; {} log lines written, {} dropped; {} GiB written by dd while the disk was busy",
            run.peak_mib, run.log.written, run.log.dropped, run.pressure_gib
        ));
    }
    // Targets.
    let find = |logging: Logging, what: &str, c: u32| {
        runs.iter()
            .flat_map(|x| &x.rows)
            .find(|x| x.logging == logging && x.what.starts_with(what) && x.connections == c)
            .map(|x| &x.load)
    };
    let met = |ok: bool| if ok { "met" } else { "NOT met" };
    let json64 = find(
        Logging::Default,
        "indicator JSON (ward values, one month)",
        64,
    );
    let png64 = find(Logging::Default, "chart PNG", 64);
    let errors: u64 = runs
        .iter()
        .flat_map(|x| &x.rows)
        .map(|x| x.load.errors)
        .sum::<u64>()
        + render_errors;
    r.line(format!(
        "targets: indicator JSON p99 < 25 ms at >= 5,000/s (default logging, 64 connections): {}; chart PNG p99 < 150 ms cached and rendered: {}; no errors: {}",
        met(json64.is_some_and(|l| l.p99_ms < 25.0 && l.rps >= 5000.0)),
        met(png64.is_some_and(|l| l.p99_ms < 150.0) && pct(0.99) < 150.0),
        met(errors == 0),
    ));
    for (what, label) in [
        ("indicator JSON (ward values, one month)", "cached JSON"),
        ("uncached mix", "uncached mix"),
        (
            "indicator JSON, cached, disk busy",
            "cached JSON, disk busy",
        ),
    ] {
        for c in [64, 256] {
            if let (Some(d), Some(o)) =
                (find(Logging::Default, what, c), find(Logging::Off, what, c))
            {
                r.line(format!(
                    "p99 default logging / logging off, {label}, {c} connections: {:.2} / {:.2} ms = {:.2}x (target <= 2x: {})",
                    d.p99_ms,
                    o.p99_ms,
                    d.p99_ms / o.p99_ms,
                    met(d.p99_ms <= 2.0 * o.p99_ms)
                ));
            }
        }
    }
    r.finish();
}
