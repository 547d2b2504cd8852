//! `vtpolicy run` of `/bin/true` under `workspace-write`, against a bare
//! fork+exec of `/bin/true` and against `bwrap` with an equivalent
//! configuration, measured side by side in one run (the variants take
//! turns, so machine noise hits them alike). Beside wall time it reports
//! the CPU time of each variant's processes, which the kernel's deferred
//! work (freeing the last run's network namespace, on the other core)
//! does not blur.
//!
//! `cargo bench -p vtpolicy-cli --bench run_overhead`; the iteration count
//! is `VTPOLICY_BENCH_ITERATIONS` (default 200). `VTPOLICY_BENCH_BASELINE`
//! names another `vtpolicy` binary (an earlier build) whose runs are
//! measured in the same turns, for before/after figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Variant {
    name: String,
    command: Box<dyn Fn() -> Command>,
    samples: Vec<Duration>,
    /// User and system time of the variant's processes (vtpolicy and the
    /// tree it waited for), without the kernel's deferred work such as
    /// freeing a network namespace, which wall time on 2 cores includes.
    cpu: Vec<Duration>,
}

fn main() {
    let iterations: usize = std::env::var("VTPOLICY_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::Builder::new().prefix("vtpolicy-bench").tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let ws = root.join("ws");
    for (path, text) in [
        ("ws/src/lib.rs", "\n"),
        ("ws/Cargo.toml", "[package]\n"),
        ("ws/.git/config", "[core]\n"),
        ("ws/.git/HEAD", "ref: refs/heads/main\n"),
        ("ws/.git/hooks/pre-commit.sample", "\n"),
        ("home/.bashrc", "\n"),
        ("home-nobody/.bashrc", "\n"),
    ] {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let root_user = nix::unistd::geteuid().is_root();
    if root_user {
        chown_tree(&root, 65534);
    }
    let mut variants = vec![Variant {
        name: "fork+exec /bin/true".into(),
        command: Box::new(|| Command::new("/bin/true")),
        samples: Vec::new(),
        cpu: Vec::new(),
    }];
    let mut binaries = vec![(String::new(), env!("CARGO_BIN_EXE_vtpolicy").to_owned())];
    if let Ok(baseline) = std::env::var("VTPOLICY_BENCH_BASELINE") {
        binaries.push((" (baseline)".to_owned(), baseline));
    }
    for (label, vtpolicy) in binaries {
        add_runs(&mut variants, &root, &ws, &vtpolicy, &label, root_user);
    }
    if Path::new("/usr/bin/bwrap").exists() {
        let ws = ws.clone();
        variants.push(Variant {
            name: "bwrap, equivalent configuration".into(),
            command: Box::new(move || {
                let mut command = Command::new("/usr/bin/bwrap");
                let ws = ws.to_str().unwrap().to_owned();
                command.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
                command.args(["--bind", &ws, &ws]);
                for protected in [".git/hooks", ".git/config"] {
                    let path = format!("{ws}/{protected}");
                    command.args(["--ro-bind", &path, &path]);
                }
                command.args([
                    "--unshare-pid",
                    "--unshare-ipc",
                    "--unshare-net",
                    "--new-session",
                    "--die-with-parent",
                    "--cap-drop",
                    "ALL",
                    "--",
                    "/bin/true",
                ]);
                command
            }),
            samples: Vec::new(),
            cpu: Vec::new(),
        });
    } else {
        eprintln!("bwrap is not installed (Debian package `bubblewrap`): its row is left out");
    }
    // Warm-up, then the variants take turns.
    for variant in &variants {
        for _ in 0..5 {
            assert!(status(&variant.command), "{} fails", variant.name);
        }
    }
    for _ in 0..iterations {
        for variant in &mut variants {
            let before = children_cpu();
            let started = Instant::now();
            let ok = status(&variant.command);
            variant.samples.push(started.elapsed());
            variant.cpu.push(children_cpu().saturating_sub(before));
            assert!(ok, "{} failed", variant.name);
        }
    }
    let bare = median(&mut variants[0].samples.clone());
    let bare_cpu = median(&mut variants[0].cpu.clone());
    println!("{iterations} iterations each, interleaved\n");
    println!("| variant | median | p90 | overhead over fork+exec | ratio | CPU median | CPU over fork+exec |");
    println!("|---|---|---|---|---|---|---|");
    for variant in &mut variants {
        let med = median(&mut variant.samples);
        let p90 = percentile(&mut variant.samples, 90);
        let overhead = med.saturating_sub(bare);
        let cpu = median(&mut variant.cpu);
        println!(
            "| {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1}x | {:.2} ms | {:.2} ms |",
            variant.name,
            ms(med),
            ms(p90),
            ms(overhead),
            med.as_secs_f64() / bare.as_secs_f64(),
            ms(cpu),
            ms(cpu.saturating_sub(bare_cpu))
        );
    }
}

/// `vtpolicy run` of `/bin/true` with `vtpolicy`, as this user and, when
/// root, as `nobody`.
fn add_runs(variants: &mut Vec<Variant>, root: &Path, ws: &Path, vtpolicy: &str, label: &str, root_user: bool) {
    let run = |home: PathBuf, uid: Option<u32>| {
        let (ws, vtpolicy) = (ws.to_path_buf(), vtpolicy.to_owned());
        move || {
            let mut command = Command::new(&vtpolicy);
            command
                .args(["run", "--policy", "workspace-write", "--events", "/dev/null", "--workspace"])
                .arg(&ws)
                .args(["--", "/bin/true"])
                .current_dir(&ws)
                .env("HOME", &home);
            if let Some(uid) = uid {
                command.uid(uid).gid(uid);
            }
            command
        }
    };
    let user = if root_user { "as root" } else { "as this user" };
    variants.push(Variant {
        name: format!("vtpolicy run ({user}){label}"),
        command: Box::new(run(root.join("home"), None)),
        samples: Vec::new(),
        cpu: Vec::new(),
    });
    if root_user {
        variants.push(Variant {
            name: format!("vtpolicy run (as nobody: user namespace){label}"),
            // A home of its own: the run's journal lives under it.
            command: Box::new(run(root.join("home-nobody"), Some(65534))),
            samples: Vec::new(),
            cpu: Vec::new(),
        });
    }
}

fn status(command: &dyn Fn() -> Command) -> bool {
    command().stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// User plus system time of every child this process has waited for.
fn children_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let time = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    time(usage.user_time()) + time(usage.system_time())
}

fn median(samples: &mut [Duration]) -> Duration {
    percentile(samples, 50)
}

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}
