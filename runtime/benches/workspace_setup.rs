//! Sandbox set-up on a big workspace: [`Sandbox::prepare`] (repository
//! search, kernel profiles with their search for denied paths, cgroups)
//! and the end-of-run search for repositories the command created, on a
//! `node_modules`-shaped tree, with nothing remembered between runs
//! against a warm [`WalkCache`] (every run after the first). The variants
//! take turns in one run, so machine noise hits them alike.
//!
//! `cargo bench -p vtpolicy-runtime --bench workspace_setup`. The tree has
//! `VTPOLICY_BENCH_ENTRIES` entries (default 1,000,000) and is kept under
//! `/var/tmp` between runs of the bench (making it takes a while); the
//! iteration count is `VTPOLICY_BENCH_ITERATIONS` (default 5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vtpolicy_compiler::{CompiledPolicy, Context};
use vtpolicy_runtime::sandbox::{RunPlace, Sandbox, WalkCache};
use vtpolicy_runtime::{Layering, load_policy};

/// Entries per package: 6 files and 3 directories at its top, and 9
/// subdirectories of 8 files each below those (one directory per seven
/// entries, as in real `node_modules`).
const PACKAGE_ENTRIES: usize = 90;

fn main() {
    let entries: usize = std::env::var("VTPOLICY_BENCH_ENTRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let iterations: usize = std::env::var("VTPOLICY_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let root = PathBuf::from(format!("/var/tmp/vtpolicy-bench-workspace-{entries}"));
    let workspace = root.join("ws");
    let (entry_count, dir_count) = make_tree(&root, &workspace, entries);
    println!("workspace: {entry_count} entries, {dir_count} directories ({})", workspace.display());

    let home = root.join("home");
    let tmp = root.join("tmp");
    let state = root.join("state");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let _ = std::fs::remove_dir_all(&state);
    let context = Context {
        workspace: workspace.display().to_string(),
        home: home.display().to_string(),
        tmp: tmp.display().to_string(),
        cwd: workspace.display().to_string(),
    };
    let (policy, diagnostics) = load_policy("workspace-write", &context, Layering::Enforce);
    let policy = policy.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let place = |state: Option<&Path>| RunPlace {
        workspace: workspace.clone(),
        cwd: workspace.clone(),
        tmp: tmp.clone(),
        home: home.display().to_string(),
        state: state.map(Path::to_path_buf),
    };

    // The first run with a state directory fills the cache.
    let (first, _) = set_up(&policy, place(Some(&state)));
    println!("first run, filling the cache: {:.1} ms", ms(first));

    let mut uncached = Vec::new();
    let mut cached = Vec::new();
    let mut cached_end = Vec::new();
    for _ in 0..iterations {
        uncached.push(set_up(&policy, place(None)).0);
        let (setup, end) = set_up(&policy, place(Some(&state)));
        cached.push(setup);
        cached_end.push(end);
    }
    let check = WalkCache::open(Some(&state), &workspace);
    let _ =
        vtpolicy_runtime::sandbox::GitMetadata::find(&check, &workspace, std::path::Path::new("/nonexistent")).unwrap();
    println!("directories listed by a warm run: {}", check.listed());

    let uncached = median(uncached);
    let cached = median(cached);
    let cached_end = median(cached_end);
    println!("{:<46} {:>10}", format!("median of {iterations} runs"), "ms");
    println!("{:<46} {:>10.1}", "set-up, nothing remembered", ms(uncached));
    println!("{:<46} {:>10.1}", "set-up, from the second run on", ms(cached));
    println!("{:<46} {:>10.1}", "end-of-run search, from the second run on", ms(cached_end));
    println!("ratio remembered / nothing remembered: {:.3}", cached.as_secs_f64() / uncached.as_secs_f64());
}

/// `Sandbox::prepare`, then the end-of-run search, each timed.
fn set_up(policy: &CompiledPolicy, place: RunPlace) -> (Duration, Duration) {
    let start = Instant::now();
    let sandbox = Sandbox::prepare(&[policy], place, &format!("bench-{}", std::process::id())).unwrap();
    let setup = start.elapsed();
    let leftovers = sandbox.leftovers();
    let start = Instant::now();
    let created = leftovers.created();
    let end = start.elapsed();
    assert!(created.paths.is_empty() && created.unsearched.is_none(), "{created:?}");
    (setup, end)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The bench tree, made once: a small project and its `node_modules`,
/// with a few `.env` and `.pem` files deep inside. Returns the entry and
/// directory counts.
fn make_tree(root: &Path, workspace: &Path, entries: usize) -> (usize, usize) {
    let packages = entries / PACKAGE_ENTRIES;
    let done = root.join("complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(root);
        for file in ["src/main.js", "package.json", ".git/HEAD", ".git/config", ".git/hooks/pre-commit.sample"] {
            let path = workspace.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        for package in 0..packages {
            let scope = if package % 3 == 0 { format!("@scope{}/", package % 40) } else { String::new() };
            let dir = workspace.join(format!("node_modules/{scope}package{package}"));
            for (sub, count) in [("lib", 4), ("dist", 3), ("esm", 2)] {
                for n in 0..count {
                    let leaf = dir.join(format!("{sub}/part{n}"));
                    std::fs::create_dir_all(&leaf).unwrap();
                    for file in 0..8 {
                        std::fs::write(leaf.join(format!("module{file}.js")), "").unwrap();
                    }
                }
            }
            for file in ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "index.js", "index.d.ts"] {
                std::fs::write(dir.join(file), "").unwrap();
            }
            if package % 1000 == 7 {
                std::fs::write(dir.join("lib/part0/.env"), "TOKEN=x\n").unwrap();
                std::fs::write(dir.join("dist/part1/server.pem"), "").unwrap();
            }
        }
        std::fs::write(&done, "").unwrap();
    }
    let (mut entry_count, mut dir_count) = (0, 0);
    let mut pending = vec![workspace.to_path_buf()];
    while let Some(dir) = pending.pop() {
        dir_count += 1;
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            entry_count += 1;
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            }
        }
    }
    (entry_count, dir_count)
}
