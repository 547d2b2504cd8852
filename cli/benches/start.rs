//! From process start to answer: `vtpolicy hook` and `explain` on the stock
//! `workspace-write`, against `/bin/true` and `vtpolicy --version` (the
//! cost of starting this binary at all), measured side by side: the
//! variants take turns, so machine noise hits them alike.
//!
//! `cargo bench -p vtpolicy-cli --bench start`; the iteration count is
//! `VTPOLICY_BENCH_ITERATIONS` (default 200). `VTPOLICY_BENCH_BASELINE`
//! names another `vtpolicy` binary (an earlier build) whose hook and
//! explain rows are measured in the same turns, for before/after figures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Variant {
    name: &'static str,
    args: Vec<String>,
    stdin: Vec<u8>,
    samples: Vec<Duration>,
}

fn main() {
    let iterations: usize = std::env::var("VTPOLICY_BENCH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::Builder::new().prefix("vtpolicy-bench-start").tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    let vtpolicy = env!("CARGO_BIN_EXE_vtpolicy").to_owned();
    let payload = |tool: &str, input: serde_json::Value| {
        serde_json::json!({"hook_event_name": "PreToolUse", "cwd": ws, "tool_name": tool, "tool_input": input})
            .to_string()
            .into_bytes()
    };
    let hook = vec![vtpolicy.clone(), "hook".into(), "claude-code".into(), "--policy".into(), "workspace-write".into()];
    let mut variants = vec![
        Variant { name: "/bin/true", args: vec!["/bin/true".into()], stdin: Vec::new(), samples: Vec::new() },
        Variant {
            name: "vtpolicy --version",
            args: vec![vtpolicy.clone(), "--version".into()],
            stdin: Vec::new(),
            samples: Vec::new(),
        },
        Variant {
            name: "hook Read",
            args: hook.clone(),
            stdin: payload("Read", serde_json::json!({"file_path": ws.join("src/main.rs")})),
            samples: Vec::new(),
        },
        Variant {
            name: "hook Bash (rewritten)",
            args: hook,
            stdin: payload("Bash", serde_json::json!({"command": "cargo test && git status"})),
            samples: Vec::new(),
        },
        Variant {
            name: "explain argv",
            args: [
                vtpolicy.as_str(),
                "explain",
                "--policy",
                "workspace-write",
                "--format",
                "json",
                "--",
                "git",
                "status",
            ]
            .map(str::to_owned)
            .to_vec(),
            stdin: Vec::new(),
            samples: Vec::new(),
        },
    ];
    if let Ok(baseline) = std::env::var("VTPOLICY_BENCH_BASELINE") {
        let measured: Vec<(String, Vec<String>, Vec<u8>)> = variants
            .iter()
            .filter(|v| v.args[0] == vtpolicy && v.args[1] != "--version")
            .map(|v| (format!("{} (baseline)", v.name), v.args.clone(), v.stdin.clone()))
            .collect();
        for (name, mut args, stdin) in measured {
            args[0] = baseline.clone();
            variants.push(Variant { name: Box::leak(name.into_boxed_str()), args, stdin, samples: Vec::new() });
        }
    }
    let once = |variant: &Variant| {
        let mut child = Command::new(&variant.args[0])
            .args(&variant.args[1..])
            .current_dir(&ws)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(&variant.stdin);
        drop(stdin);
        assert!(child.wait().unwrap().success(), "{} fails", variant.name);
    };
    for variant in &variants {
        for _ in 0..5 {
            once(variant);
        }
    }
    for _ in 0..iterations {
        for variant in &mut variants {
            let started = Instant::now();
            once(variant);
            variant.samples.push(started.elapsed());
        }
    }
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let bare = median(&mut variants[0].samples.clone());
    println!("{iterations} iterations each, interleaved\n");
    println!("| variant | median | over /bin/true |");
    println!("|---|---|---|");
    for variant in &mut variants {
        let med = median(&mut variant.samples);
        println!(
            "| {} | {:.2} ms | {:.2} ms |",
            variant.name,
            med.as_secs_f64() * 1e3,
            med.saturating_sub(bare).as_secs_f64() * 1e3
        );
    }
}
