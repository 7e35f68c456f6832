//! Real servers started by the tests: an S3-compatible object store (`s3s-fs`) and a Ballista
//! cluster (`marmot cluster scheduler` and executors), each on loopback, stopped on drop.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A child process killed when dropped.
pub struct Proc {
    child: Child,
    /// What it is (for messages).
    pub what: String,
    /// For a process held by a static (never dropped): its watcher's stdin, see [`Proc::spawn_watched`].
    _watch: Option<std::process::ChildStdin>,
}

impl Proc {
    /// Starts `cmd` with its output discarded unless `MARMOT_TEST_VERBOSE` is set.
    pub fn spawn(what: &str, cmd: &mut Command) -> Proc {
        if std::env::var_os("MARMOT_TEST_VERBOSE").is_none() {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Proc {
            child,
            what: what.to_string(),
            _watch: None,
        }
    }

    /// Starts `program args` under a shell that kills it when this test process's end closes
    /// the shell's stdin: for servers held in statics, which are never dropped.
    pub fn spawn_watched(what: &str, program: &Path, args: &[String]) -> Proc {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("\"$0\" \"$@\" & pid=$!; cat >/dev/null; kill $pid")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped());
        let mut p = Proc::spawn(what, &mut cmd);
        p._watch = p.child.stdin.take();
        p
    }

    /// Kills the process now (SIGKILL: no chance to say goodbye).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self._watch.take().is_some() {
            // Closing the watcher's stdin stops the server; then the watcher exits.
            let _ = self.child.wait();
        } else {
            self.kill();
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `addr`.
pub fn wait_listening(addr: &str, what: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if TcpStream::connect(addr).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on {addr}");
}

/// The `s3s-fs` binary: `$MARMOT_S3S_FS`, else on `PATH`, else where `.ci/run` installs it
/// (`~/.cache/marmot-tools/bin`). Missing is a failure with the install command, never a skip.
pub fn s3s_fs_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MARMOT_S3S_FS") {
        return PathBuf::from(p);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("s3s-fs");
            if p.is_file() {
                return p;
            }
        }
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let cached = home.join(".cache/marmot-tools/bin/s3s-fs");
    assert!(
        cached.is_file(),
        "the S3 tests need the s3s-fs server: run .ci/run once, or \
         `cargo install --root ~/.cache/marmot-tools s3s-fs@0.14.1 --features binary --locked`"
    );
    cached
}

/// A real S3-compatible server (s3s-fs) on loopback, storing objects under `root`.
pub struct S3Server {
    _proc: Proc,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The directory behind the server (one sub-directory per bucket).
    pub root: tempfile::TempDir,
}

/// Access key and secret the test server accepts.
pub const S3_KEY: (&str, &str) = ("marmot-test-ak", "marmot-test-secret-key");
/// The bucket every test uses.
pub const BUCKET: &str = "marmot";

impl S3Server {
    /// Starts a server with the bucket [`BUCKET`].
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(BUCKET)).expect("bucket dir");
        let port = free_port();
        let args: Vec<String> = [
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--access-key",
            S3_KEY.0,
            "--secret-key",
            S3_KEY.1,
        ]
        .iter()
        .map(|a| a.to_string())
        .chain(std::iter::once(root.path().display().to_string()))
        .collect();
        let proc = Proc::spawn_watched("s3s-fs", &s3s_fs_binary(), &args);
        let addr = format!("127.0.0.1:{port}");
        wait_listening(&addr, "s3s-fs");
        S3Server {
            _proc: proc,
            endpoint: format!("http://{addr}"),
            root,
        }
    }

    /// The environment a Marmot process needs to use this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), S3_KEY.0.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), S3_KEY.1.into()),
            ("AWS_ENDPOINT".into(), self.endpoint.clone()),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// The directory holding the object `key` of the bucket.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

/// The test binary's S3 server, started on first use; its settings are added to every
/// `marmot` command of this binary (see [`super::marmot`]).
pub fn shared_s3() -> &'static S3Server {
    static S3: OnceLock<S3Server> = OnceLock::new();
    S3.get_or_init(|| {
        let s = S3Server::start();
        let _ = super::EXTRA_ENV.set(s.env());
        s
    })
}

/// A Ballista cluster of Marmot processes on loopback: one scheduler, `n` executors.
pub struct Cluster {
    /// The executors (kill one to test recovery).
    pub executors: Vec<Proc>,
    _scheduler: Proc,
    /// `ballista://127.0.0.1:PORT`.
    pub engine: String,
    _work: tempfile::TempDir,
}

impl Cluster {
    /// Starts a scheduler (executors lost after 5 s without a heartbeat) and `n` executors
    /// (one task at a time each, heartbeat every second).
    pub fn start(n: usize) -> Cluster {
        let work = tempfile::tempdir().expect("tempdir");
        let sport = free_port();
        let saddr = format!("127.0.0.1:{sport}");
        let scheduler = Proc::spawn(
            "scheduler",
            super::marmot_bare()
                .args(["cluster", "scheduler", "--addr", &saddr])
                .args(["--executor-timeout", "5"]),
        );
        wait_listening(&saddr, "the Ballista scheduler");
        let mut executors = Vec::new();
        for i in 0..n {
            let (p, g) = (free_port(), free_port());
            let addr = format!("127.0.0.1:{p}");
            let dir = work.path().join(format!("executor-{i}"));
            std::fs::create_dir_all(&dir).expect("work dir");
            executors.push(Proc::spawn(
                &format!("executor {i}"),
                super::marmot_bare()
                    .args([
                        "cluster",
                        "executor",
                        "--scheduler",
                        &saddr,
                        "--addr",
                        &addr,
                    ])
                    .args(["--grpc-port", &g.to_string(), "--heartbeat", "1"])
                    .args(["--concurrent-tasks", "1", "--work-dir"])
                    .arg(&dir),
            ));
            wait_listening(&addr, "a Ballista executor");
            wait_listening(
                &format!("127.0.0.1:{g}"),
                "a Ballista executor's gRPC service",
            );
        }
        // Registration follows the first heartbeat.
        std::thread::sleep(Duration::from_millis(1500));
        Cluster {
            executors,
            _scheduler: scheduler,
            engine: format!("ballista://{saddr}"),
            _work: work,
        }
    }
}

impl Cluster {
    /// How many Ballista jobs the executors have run so far: each job's shuffle output goes to
    /// `<work dir>/<job id>/`, kept for 300 s after the job ends (the scheduler's default).
    pub fn jobs_run(&self) -> usize {
        let mut ids = std::collections::BTreeSet::new();
        for e in std::fs::read_dir(self._work.path())
            .expect("work dir")
            .flatten()
        {
            for j in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
                if j.path().is_dir() {
                    ids.insert(j.file_name());
                }
            }
        }
        ids.len()
    }
}

/// Copies a directory tree (a lake) to `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let p = e.path();
        let q = to.join(e.file_name());
        if p.is_dir() {
            copy_tree(&p, &q);
        } else {
            std::fs::copy(&p, &q).expect("copy");
        }
    }
}
