//! Generates one test function per case file under `cases/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("cases");
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::new();
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap_or(file);
        let name: String = relative
            .to_string_lossy()
            .trim_end_matches(".toml")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(
            out,
            "#[test]\nfn {name}() {{\n    vtpolicy_conformance::run_file(std::path::Path::new({:?}));\n}}\n",
            file.display().to_string()
        );
    }
    let _ = writeln!(out, "pub const CASE_FILES: usize = {};", files.len());
    let target = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("cases.rs");
    if let Err(error) = std::fs::write(&target, out) {
        println!("cargo::warning=cannot write {}: {error}", target.display());
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo::rerun-if-changed={}", path.display());
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            println!("cargo::rerun-if-changed={}", path.display());
            out.push(path);
        }
    }
}
