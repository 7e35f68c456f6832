//! End-to-end tests of `marmot detect`: any weekly series through a detection method, with the
//! R surveillance package's parameter names, checked against that package's own outputs.

mod common;

use common::*;

/// The R `surveillance` reference outputs (read where the tests run).
fn reference_dir() -> String {
    manifest_dir()
        .join("../marmot-stats/tests/reference/surveillance")
        .display()
        .to_string()
}

fn csv_rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim_matches('"').to_string())
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(|s| s.trim_matches('"').to_string()))
                .collect()
        })
        .collect()
}

#[test]
fn ears_c1_on_a_reference_series_matches_the_r_package() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("newport.csv");
    std::fs::copy(format!("{}/series_newport.csv", reference_dir()), &input).expect("copy series");
    let out = ok(marmot(&dir.path().join("lake"))
        .args([
            "detect",
            "--method",
            "ears-c1",
            "--param",
            "alpha=0.001",
            "--param",
            "baseline=7",
        ])
        .arg("--input")
        .arg(&input));
    let got = csv_rows(&out);
    let reference =
        std::fs::read_to_string(format!("{}/ears.csv", reference_dir())).expect("reference");
    let expected: Vec<_> = csv_rows(&reference)
        .into_iter()
        .filter(|r| {
            r["series_id"] == "newport"
                && r["method"] == "C1"
                && r["alpha"] == "0.001"
                && r["baseline"] == "7"
                && r["minSigma"] == "0"
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        got.len(),
        expected.len(),
        "one output row per evaluated week"
    );
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g["t"], e["t"]);
        assert_eq!(g["alarm"], e["alarm"], "t = {}", e["t"]);
        let (a, b): (f64, f64) = (
            g["upper"].parse().expect("upper"),
            e["upperbound"].parse().expect("reference upper"),
        );
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "t = {}: {a} vs {b}",
            e["t"]
        );
    }
}

#[test]
fn farrington_flexible_json_and_parameter_errors() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("campy.csv");
    std::fs::copy(format!("{}/series_campy.csv", reference_dir()), &input).expect("copy series");
    let lake = dir.path().join("lake");
    let out = ok(marmot(&lake)
        .args([
            "detect",
            "--method",
            "farrington-flexible",
            "--format",
            "json",
        ])
        .arg("--input")
        .arg(&input));
    let rows: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let rows = rows.as_array().expect("array");
    assert!(!rows.is_empty());
    for r in rows {
        for k in ["t", "observed", "expected", "lower", "upper", "alarm"] {
            assert!(r.get(k).is_some(), "{k} in {r}");
        }
    }
    let (code, _, err) = run(marmot(&lake)
        .args([
            "detect",
            "--method",
            "farrington-flexible",
            "--param",
            "bogus=1",
        ])
        .arg("--input")
        .arg(&input));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bogus"), "{err}");
    let (code, _, err) = run(marmot(&lake)
        .args(["detect", "--method", "nope"])
        .arg("--input")
        .arg(&input));
    assert_eq!(code, 2, "{err}");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "count\n1\nx\n").expect("write");
    let (code, _, err) = run(marmot(&lake)
        .args(["detect", "--method", "ears-c1"])
        .arg("--input")
        .arg(&bad));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("row 2") && err.contains("count"), "{err}");
}
