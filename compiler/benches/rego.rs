//! Decide latency of the decision graph against regorus evaluating the
//! Rego export of the same generated policies, side by side in one run.
//!
//! `cargo bench -p vtpolicy-compiler --bench rego`. A policy of N rules is
//! N literal exec rules (`allow exec toolI subI --flagI ..`); the request
//! hits the middle one. regorus evaluates `data.vtpolicy.decision` on a
//! prepared engine with the input set, as a server would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::fmt::Write as _;

use vtpolicy_compiler::rego::{export, rego_input};
use vtpolicy_compiler::{Context, StockOnly, compile};
use vtpolicy_engine::{Arg, Engine, ExecRequest, Policy, Program, Request};
use vtpolicy_grammar::SourceFile;

fn main() {
    divan::main();
}

const SIZES: &[usize] = &[10, 100, 1_000, 10_000];

fn policy(n: usize) -> Policy {
    let mut text = String::from("version 1\npolicy \"generated\"\ndefault prompt\n");
    for i in 0..n {
        let _ = writeln!(text, "allow exec tool{i} sub{i} --flag{i} ..");
    }
    let context = Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() };
    let (compiled, diagnostics) = compile(&SourceFile::new("generated.vtp", text), &context, &StockOnly);
    compiled.unwrap_or_else(|| panic!("{:?}", diagnostics.first().map(|d| d.one_line()))).policy
}

fn request(n: usize) -> Request {
    let i = n / 2;
    Request::Exec(ExecRequest {
        program: Program::trusted_name(&format!("tool{i}")),
        args: [format!("sub{i}"), format!("--flag{i}"), "x".to_owned()].into_iter().map(Arg::Known).collect(),
        open_tail: false,
        long_forms: Default::default(),
        implied_options: Vec::new(),
    })
}

#[divan::bench(args = SIZES)]
fn graph(bencher: divan::Bencher, n: usize) {
    let engine = Engine::new(vec![policy(n)]).expect("graph");
    let request = request(n);
    assert_eq!(engine.decide(&request).effect.as_str(), "allow");
    bencher.bench_local(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench(args = SIZES, sample_count = 20, sample_size = 1)]
fn regorus(bencher: divan::Bencher, n: usize) {
    let module = export(&[policy(n)]).expect("exports");
    let mut engine = regorus::Engine::new();
    // The export of 10,000 rules exceeds regorus's default file limits.
    engine.set_policy_length_config(regorus::PolicyLengthConfig {
        max_col: std::num::NonZeroU32::new(1024).expect("non-zero"),
        max_file_bytes: std::num::NonZeroUsize::new(1 << 30).expect("non-zero"),
        max_lines: std::num::NonZeroUsize::new(10_000_000).expect("non-zero"),
    });
    engine.add_policy("export.rego".to_owned(), module).expect("regorus parses the export");
    let input = regorus::Value::from_json_str(&rego_input(&request(n)).to_string()).expect("input");
    engine.set_input(input);
    let decision = engine.eval_rule("data.vtpolicy.decision".to_owned()).expect("evaluates");
    assert_eq!(decision.as_string().map(|s| s.to_string()).unwrap_or_default(), "allow");
    bencher.bench_local(|| engine.eval_rule(divan::black_box("data.vtpolicy.decision".to_owned())));
}
