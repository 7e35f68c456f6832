//! One source of truth for what a benchmark measured: every result line is printed and also
//! written to `benches/results/<bench>.md`, which README.md and BENCHMARKS.md quote verbatim
//! (tests/docs.rs checks that every table row of a results file appears in the docs).

use std::fmt::Write as _;

/// The results of one benchmark run.
pub struct Report {
    name: String,
    text: String,
}

impl Report {
    /// Results of `cargo bench -p marmot-cli --bench <name>`.
    pub fn new(name: impl Into<String>) -> Report {
        Report {
            name: name.into(),
            text: String::new(),
        }
    }

    /// Prints a line and keeps it for the results file.
    pub fn line(&mut self, line: impl std::fmt::Display) {
        println!("{line}");
        let _ = writeln!(self.text, "{line}");
    }

    /// Writes `benches/results/<name>.md`: the lines, under a comment saying how and when.
    pub fn finish(self) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/results");
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let text = format!(
            "<!-- written by `{}cargo bench -p marmot-cli --bench {}` on {}, {cores} cores; quoted by README.md / BENCHMARKS.md -->\n{}",
            std::env::var("MARMOT_BENCH_PLACE")
                .map(|p| format!("MARMOT_BENCH_PLACE={p} "))
                .unwrap_or_default(),
            self.name.split('-').next().unwrap_or(&self.name),
            chrono::Utc::now().format("%Y-%m-%d"),
            self.text
        );
        let path = dir.join(format!("{}.md", self.name));
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
            Ok(()) => eprintln!("results written to {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
}
