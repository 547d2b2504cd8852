//! Decision latency and compile time.
//!
//! `cargo bench -p vtpolicy-runtime --bench decide`. Decide figures are for
//! normalised requests (the engine alone), on the stock `workspace-write`
//! policy and on generated policies of N literal exec rules and N path
//! globs; `judge_*` adds normalisation (program lookup, shell parsing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::fmt::Write as _;

use vtpolicy_compiler::SourceFile;
use vtpolicy_compiler::{Context, StockOnly, compile};
use vtpolicy_engine::{Arg, Engine, ExecRequest, Program, Request};
use vtpolicy_runtime::{Environment, Judge, Layering, RawRequest, load_policy};

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 1_000, 10_000, 100_000];

fn context() -> Context {
    Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() }
}

fn exec(argv: &[&str]) -> Request {
    Request::Exec(ExecRequest {
        program: Program::trusted_name(argv[0]),
        args: argv[1..].iter().map(|a| Arg::Known((*a).to_owned())).collect(),
        open_tail: false,
        long_forms: Default::default(),
        implied_options: Vec::new(),
    })
}

/// `n` literal exec rules and `n` path globs (directory trees and file
/// extensions, the shapes policies use; globs that need a regular
/// expression, such as `**/secret*/x`, share one regex set instead).
fn generated_policy(n: usize) -> String {
    let mut text = String::from("version 1\npolicy \"generated\"\ndefault prompt\ndefault read deny\n");
    for i in 0..n {
        let _ = writeln!(text, "allow exec tool{i} sub{i} --flag{i} ..");
    }
    for i in 0..n {
        if i % 2 == 0 {
            let _ = writeln!(text, "allow read \"/data/d{i}/**\"");
        } else {
            let _ = writeln!(text, "deny read \"**/*.secret{i}\"");
        }
    }
    text
}

fn engine_for(text: &str) -> Engine {
    let source = SourceFile::new("generated.vtp", text);
    let (policy, diagnostics) = compile(&source, &context(), &StockOnly);
    let policy = policy.unwrap_or_else(|| panic!("{:?}", diagnostics.first().map(|d| d.one_line())));
    Engine::new(vec![policy.policy]).expect("graph")
}

fn stock_engine() -> Engine {
    let source = SourceFile::new(
        "<stock:workspace-write>",
        vtpolicy_compiler::stock_policy("workspace-write").unwrap_or_default(),
    );
    engine_for(&source.text)
}

#[divan::bench]
fn decide_stock_exec_allow(bencher: divan::Bencher) {
    let engine = stock_engine();
    let request = exec(&["cargo", "test", "--workspace"]);
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench]
fn decide_stock_exec_force_push(bencher: divan::Bencher) {
    let engine = stock_engine();
    let request = exec(&["git", "push", "-f", "origin", "main"]);
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench]
fn decide_stock_write(bencher: divan::Bencher) {
    let engine = stock_engine();
    let request = Request::Write { path: "/w/src/main.rs".into() };
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench(args = SIZES)]
fn decide_literal_exec(bencher: divan::Bencher, n: usize) {
    let engine = engine_for(&generated_policy(n));
    let hit = format!("tool{}", n / 2);
    let sub = format!("sub{}", n / 2);
    let flag = format!("--flag{}", n / 2);
    let request = exec(&[&hit, &sub, &flag, "x"]);
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench(args = SIZES)]
fn decide_path_glob(bencher: divan::Bencher, n: usize) {
    let engine = engine_for(&generated_policy(n));
    let request = Request::Read { path: format!("/data/d{}/src/lib.rs", (n / 2) & !1) };
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench(args = SIZES, sample_count = 5, sample_size = 1)]
fn compile_generated(bencher: divan::Bencher, n: usize) {
    let text = generated_policy(n);
    bencher.bench_local(|| engine_for(divan::black_box(&text)));
}

fn judge() -> Judge {
    let environment = Environment::hermetic(
        std::path::Path::new("/w"),
        "/h",
        &["git", "cargo", "tail", "ls", "cat", "grep", "make", "rm", "sh", "bash"],
    );
    let (policy, _) = load_policy("workspace-write", &environment.context(), Layering::Enforce);
    Judge::new(vec![policy.expect("stock")], environment).expect("judge")
}

#[divan::bench]
fn judge_stock_argv(bencher: divan::Bencher) {
    let judge = judge();
    let request = RawRequest::Exec {
        argv: Some(vec!["git".into(), "push".into(), "-f".into()]),
        command: None,
        cwd: None,
        workspace: None,
    };
    bencher.bench_local(|| judge.judge(divan::black_box(&request)));
}

#[divan::bench]
fn judge_stock_shell_text(bencher: divan::Bencher) {
    let judge = judge();
    let request = RawRequest::Exec {
        argv: None,
        command: Some("cargo build && cargo test 2>&1 | tail -n 20".into()),
        cwd: None,
        workspace: None,
    };
    bencher.bench_local(|| judge.judge(divan::black_box(&request)));
}
