//! Serving benchmark: `marmot serve` over the demo lake in one process, the load generator
//! `wrk` (Debian's package) in another, on loopback, 64 concurrent connections for 30 s each:
//! 1. indicator JSON: ward values of one indicator for one month (from the cube, through
//!    disclosure control, cached by data version), as an anonymous viewer;
//! 2. a chart PNG: the place's monthly trend of the same indicator since April 2018 (900 x 500).
//!
//! Answers are cached by data version, so under wrk both are served from memory after the first
//! request; what a first request costs is measured too: 60 chart PNGs of distinct sizes (each a
//! new render), one after another, with their p50 and p99.
//!
//! Reports requests/s, p50 and p99 latency, errors and the server's peak memory; targets on the
//! 2-core machine: JSON p99 < 25 ms at >= 5,000 requests/s, PNG p99 < 150 ms, no errors.
//! `MARMOT_BENCH_SECONDS` shortens the runs. Run: `cargo bench -p marmot-cli --bench serve`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

mod common;

struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    errors: u64,
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

fn wrk(url: &str, seconds: u64) -> Load {
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c64",
            &format!("-d{seconds}s"),
            "--latency",
            "--timeout",
            "5s",
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    assert!(out.status.success(), "wrk failed: {text}");
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
    let socket: u64 = text
        .lines()
        .find(|l| l.contains("Socket errors"))
        .map(|l| {
            l.split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    Load {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Requests/sec in wrk's output: {text}")),
        p50_ms: field("50%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| ms(&v)).unwrap_or(f64::NAN),
        requests,
        errors: non2xx + socket,
    }
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
    let key = [("MARMOT_PSEUDONYM_KEY", "bench-key-0123456789abcdef")];
    if !lake.join("cube").exists() {
        eprintln!(
            "generating the demo lake with its cube at {} ...",
            lake.display()
        );
        let st = Command::new(marmot)
            .envs(key)
            .arg("--lake")
            .arg(&lake)
            .args(["demo", "generate"])
            .stdout(Stdio::null())
            .status()
            .expect("marmot demo generate");
        assert!(st.success());
    }
    let server = Command::new(marmot)
        .envs(key)
        .env("RUST_LOG", "error")
        .arg("--lake")
        .arg(&lake)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("marmot serve");
    // Stopped when this guard goes, panics included (an orphan would hold the terminal).
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Stop(server);
    let pid = server.0.id();
    let mut lines = BufReader::new(server.0.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let l = lines.next().expect("address line").expect("line");
        if let Some(rest) = l.split("http://").nth(1) {
            break rest.trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let json = format!(
        "http://{addr}/api/v1/indicators/emergency_admissions/values?level=ward&period=2019-09"
    );
    let png = format!("http://{addr}/api/v1/charts/trend/emergency_admissions.png?from=2018-04-01");
    // Warm: the first request computes (and caches) the answer; the benchmark measures serving.
    for url in [&json, &png] {
        let st = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", url])
            .status()
            .expect("curl");
        assert!(st.success(), "{url} answers");
    }
    eprintln!("wrk: indicator JSON, 64 connections, {seconds} s ...");
    let j = wrk(&json, seconds);
    eprintln!("wrk: chart PNG, 64 connections, {seconds} s ...");
    let p = wrk(&png, seconds);
    eprintln!("rendering 60 chart PNGs of distinct sizes (not cached) ...");
    const RENDERS: usize = 60;
    let started = std::time::Instant::now();
    let mut render_errors = 0u64;
    let mut renders: Vec<f64> = Vec::with_capacity(RENDERS);
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
    // Measured: renders done one after another over the wall time they took.
    let render_rate = renders.len() as f64 / started.elapsed().as_secs_f64();
    assert!(!renders.is_empty(), "no chart rendered");
    renders.sort_by(f64::total_cmp);
    let pct = |p: f64| renders[((renders.len() - 1) as f64 * p).round() as usize];
    let peak = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN);
    drop(server);
    let mut r = common::report::Report::new("serve");
    r.line(format!(
        "\nmarmot serve, {} cores, wrk -t2 -c64 -d{seconds}s on loopback",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    ));
    r.line("| endpoint | requests/s | p50 ms | p99 ms | requests | errors | target |\n|---|---|---|---|---|---|---|");
    r.line(format!(
        "| indicator JSON (ward values, one month) | {:.0} | {:.2} | {:.2} | {} | {} | p99 < 25 ms at >= 5,000/s: {} |",
        j.rps,
        j.p50_ms,
        j.p99_ms,
        j.requests,
        j.errors,
        if j.p99_ms < 25.0 && j.rps >= 5000.0 && j.errors == 0 {
            "met"
        } else {
            "NOT met"
        }
    ));
    r.line(format!(
        "| chart PNG (monthly trend, 900x500) | {:.0} | {:.2} | {:.2} | {} | {} | p99 < 150 ms: {} |",
        p.rps,
        p.p50_ms,
        p.p99_ms,
        p.requests,
        p.errors,
        if p.p99_ms < 150.0 && p.errors == 0 {
            "met"
        } else {
            "NOT met"
        }
    ));
    r.line(format!(
        "| chart PNG rendered (not cached), {RENDERS} distinct sizes one at a time | {:.0} | {:.2} | {:.2} | {RENDERS} | {render_errors} | p99 < 150 ms: {} |",
        render_rate,
        pct(0.5),
        pct(0.99),
        if pct(0.99) < 150.0 && render_errors == 0 {
            "met"
        } else {
            "NOT met"
        }
    ));
    r.line(format!("server peak memory: {peak:.0} MiB"));
    r.finish();
}
