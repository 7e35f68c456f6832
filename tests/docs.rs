//! The docs quote the benchmarks, never the other way round: every table row a benchmark wrote
//! to `crates/marmot-cli/benches/results/<bench>.md` (its last run, committed) appears verbatim
//! in README.md or BENCHMARKS.md, and no results table in the docs has a row the benches did not
//! print.

mod common;

use common::*;

fn results() -> Vec<(String, String)> {
    let dir = manifest_dir().join("benches/results");
    let mut out: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("benches/results")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (
                name,
                std::fs::read_to_string(e.path()).expect("results file"),
            )
        })
        .collect();
    out.sort();
    out
}

fn table_rows(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("|:"))
}

#[test]
fn every_benchmark_row_in_the_docs_came_from_a_benchmark_run() {
    let repo = manifest_dir().join("../..");
    let docs =
        ["README.md", "BENCHMARKS.md"].map(|f| std::fs::read_to_string(repo.join(f)).expect("doc"));
    let results = results();
    assert!(
        results.len() >= 4,
        "the benches' results files: {results:?}"
    );
    let printed: Vec<&str> = results.iter().flat_map(|(_, t)| table_rows(t)).collect();
    for (name, text) in &results {
        let rows: Vec<&str> = table_rows(text).collect();
        assert!(rows.len() >= 2, "{name}: no table");
        for row in rows {
            assert!(
                docs.iter().any(|d| d.lines().any(|l| l.trim() == row)),
                "{name}: the docs do not quote this row: {row}"
            );
        }
    }
    // The docs' benchmark tables (each after a `<!-- bench:NAME -->` comment, up to the blank
    // line that ends the table) hold only rows the benches printed.
    let mut quoted = 0;
    for doc in &docs {
        let (mut quoting, mut in_table) = (false, false);
        for line in doc.lines().map(str::trim) {
            if line.starts_with("<!-- bench:") {
                (quoting, in_table) = (true, false);
                continue;
            }
            if !line.starts_with('|') {
                if in_table {
                    (quoting, in_table) = (false, false);
                }
                continue;
            }
            in_table = true;
            if quoting && !line.starts_with("|---") {
                quoted += 1;
                assert!(
                    printed.contains(&line),
                    "a benchmark row in the docs that no bench printed: {line}"
                );
            }
        }
    }
    assert!(quoted >= 8, "the docs quote {quoted} benchmark rows");
}
