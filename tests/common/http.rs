//! A small HTTP/1.1 client over a TCP socket for the server tests (no client library needed:
//! requests are sent as bytes and responses parsed, chunked bodies included), and a fixture
//! that starts the real `marmot serve` on a free loopback port and stops it when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::marmot;

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// Body bytes (de-chunked, not decompressed).
    pub body: Vec<u8>,
}

impl Resp {
    /// Body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.text()))
    }

    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
            .to_string()
    }
}

/// Sends one request.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(300))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(req.as_bytes()).expect("send");
    s.write_all(body).expect("send body");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).expect("header");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .expect("chunk size hex");
            if n == 0 {
                break;
            }
            let mut chunk = vec![0u8; n];
            r.read_exact(&mut chunk).expect("chunk");
            body.extend_from_slice(&chunk);
            let mut crlf = String::new();
            r.read_line(&mut crlf).expect("chunk end");
        }
    } else {
        r.read_to_end(&mut body).expect("body");
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A running `marmot serve`, stopped on drop.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Tokens by role name (`viewer`, `partner` (org `cab`), `partner2` (org `police`),
    /// `analyst`, `admin`).
    pub tokens: BTreeMap<String, String>,
    /// Where the server's log goes when started by [`Server::start_logged`].
    log: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// The repository root.
pub fn repo() -> PathBuf {
    super::manifest_dir().join("../..")
}

impl Server {
    /// Starts a server over `lake` with one token per role.
    pub fn start(lake: &Path, extra: &[&str]) -> Server {
        Server::start_with(lake, extra, "warn", false)
    }

    /// Like [`Server::start`], with `RUST_LOG` set to `filter` and the log written to a file
    /// that [`Server::log`] reads.
    pub fn start_logged(lake: &Path, extra: &[&str], filter: &str) -> Server {
        Server::start_with(lake, extra, filter, true)
    }

    /// What the server has logged so far (started by [`Server::start_logged`]).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .unwrap_or_default()
    }

    fn start_with(lake: &Path, extra: &[&str], filter: &str, to_file: bool) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let tokens_file = dir.path().join("tokens.toml");
        let mut tokens = BTreeMap::new();
        for (name, role, org) in [
            ("viewer", "viewer", None),
            ("partner", "partner", Some("cab")),
            ("partner2", "partner", Some("police")),
            ("analyst", "analyst", None),
            ("admin", "admin", None),
        ] {
            let mut c = marmot(lake);
            c.args(["tokens", "add", "--role", role, "--tokens"])
                .arg(&tokens_file);
            if let Some(o) = org {
                c.args(["--org", o]);
            }
            let t = super::ok(&mut c).trim().to_string();
            assert!(t.starts_with("mt_"), "{t}");
            tokens.insert(name.to_string(), t);
        }
        let mut cmd = marmot(lake);
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--tokens"])
            .arg(&tokens_file);
        if !extra.contains(&"--dashboards") {
            cmd.arg("--dashboards").arg(repo().join("dashboards"));
        }
        let log = to_file.then(|| dir.path().join("server.log"));
        let stderr = match &log {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("server log file")),
            None => Stdio::inherit(),
        };
        cmd.args(extra)
            .env("RUST_LOG", filter)
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("marmot serve starts");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("marmot serve printed its address")
                .expect("line");
            if let Some(rest) = line.split("http://").nth(1) {
                break rest.trim_end_matches('/').to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            tokens,
            log,
            _dir: dir,
        }
    }

    /// GET as a role (`None`: anonymous).
    pub fn get(&self, role: Option<&str>, path: &str) -> Resp {
        self.send("GET", role, path, &[], b"")
    }

    /// Any request as a role.
    pub fn send(
        &self,
        method: &str,
        role: Option<&str>,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let auth = role.map(|r| format!("Bearer {}", self.tokens[r]));
        let mut h: Vec<(&str, &str)> = headers.to_vec();
        if let Some(a) = &auth {
            h.push(("Authorization", a));
        }
        request(&self.addr, method, path, &h, body)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit by itself; its exit code (None: still running, or killed).
    pub fn wait_exit(mut self, within: Duration) -> Option<i32> {
        let start = std::time::Instant::now();
        while start.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    /// POST JSON as a role.
    pub fn post_json(&self, role: Option<&str>, path: &str, v: &serde_json::Value) -> Resp {
        self.send(
            "POST",
            role,
            path,
            &[("Content-Type", "application/json")],
            v.to_string().as_bytes(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
