//! Embeds the shipped query files (`queries/indicators/*.sql`, `queries/triggers/*.sql`) so the
//! binary works anywhere; a `queries/` directory given at run time overrides them.
//!
//! The manifest directory is read at run time (`std::env::var`), never with `env!`: a build
//! script binary is reused across checkouts that share a target directory, and a path baked in
//! at its compile time would point into another (possibly deleted) checkout.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn embed(manifest: &Path, sub: &str, constant: &str, what: &str, out: &mut String) {
    let rel = format!("../../queries/{sub}");
    let dir = manifest.join(&rel);
    println!("cargo:rerun-if-changed={}", dir.display());
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    let mut files: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    if files.is_empty() {
        panic!("no .sql files in {}", dir.display());
    }
    let _ = writeln!(
        out,
        "/// The shipped {what} files: (file name, text).\npub const {constant}: &[(&str, &str)] = &["
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            f.display().to_string()
        );
    }
    out.push_str("];\n");
}

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let mut indicators = String::new();
    embed(
        &manifest,
        "indicators",
        "BUILTIN_INDICATORS",
        "indicator",
        &mut indicators,
    );
    let mut triggers = String::new();
    embed(
        &manifest,
        "triggers",
        "BUILTIN_SIGNALS",
        "trigger signal",
        &mut triggers,
    );
    for (name, text) in [("indicators.rs", indicators), ("signals.rs", triggers)] {
        let dest = out_dir.join(name);
        if let Err(e) = std::fs::write(&dest, text) {
            panic!("cannot write {}: {e}", dest.display());
        }
    }
}
