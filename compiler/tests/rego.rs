//! The Rego export as an independent oracle: on generated policies and
//! requests, the decision graph, the reference interpreter and regorus
//! evaluating the exported module agree on the decision, the deciding rule
//! ids, whether a default applied and whether the kernel would refuse.
//!
//! `VTPOLICY_DIFFERENTIAL_CASES` raises the case count (CI runs 256).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

#[path = "../../engine/tests/common/strategies.rs"]
mod strategies;

use proptest::prelude::*;
use strategies::{policy, request};
use vtpolicy_compiler::rego::{export, rego_input};
use vtpolicy_engine::{Engine, Policy, Request, reference};

fn regorus_with(module: &str) -> Result<regorus::Engine, String> {
    let mut engine = regorus::Engine::new();
    engine.add_policy("export.rego".to_owned(), module.to_owned()).map_err(|e| format!("{e}\n{module}"))?;
    Ok(engine)
}

/// What regorus says about `request` under the exported module.
fn regorus_decides(
    engine: &mut regorus::Engine,
    request: &Request,
) -> Result<(String, Vec<String>, bool, bool), String> {
    let input = rego_input(request).to_string();
    engine.set_input(regorus::Value::from_json_str(&input).map_err(|e| e.to_string())?);
    let mut eval = |rule: &str| -> Result<serde_json::Value, String> {
        let value =
            engine.eval_rule(format!("data.vtpolicy.{rule}")).map_err(|e| format!("{rule}: {e}\ninput {input}"))?;
        let text = value.to_json_str().map_err(|e| e.to_string())?;
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    let decision = eval("decision")?.as_str().unwrap_or("undefined").to_owned();
    let mut rules: Vec<String> = eval("rules")?
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    rules.sort();
    let default_applied = eval("default_applied")?.as_bool().unwrap_or(false);
    let kernel_refusal = eval("kernel_refusal")?.as_bool().unwrap_or(false);
    Ok((decision, rules, default_applied, kernel_refusal))
}

fn engine_summary(decision: &vtpolicy_engine::Decision) -> (String, Vec<String>, bool, bool) {
    let mut ids: Vec<String> = decision.matched.iter().map(|m| m.id.to_string()).collect();
    ids.sort();
    ids.dedup();
    (decision.effect.as_str().to_owned(), ids, decision.default_applied, decision.kernel_refusal)
}

fn cases() -> u32 {
    std::env::var("VTPOLICY_DIFFERENTIAL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn graph_reference_and_regorus_agree(
        first in policy("a"),
        second in policy("b"),
        requests in prop::collection::vec(request(), 1..8),
    ) {
        let policies: Vec<Policy> = vec![first, second];
        let engine = Engine::new(policies.clone()).expect("generated patterns compile");
        let module = export(&policies).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut rego = regorus_with(&module).map_err(TestCaseError::fail)?;
        for request in &requests {
            let from_graph = engine_summary(&engine.decide(request));
            let from_reference = engine_summary(&reference::decide(&policies, request));
            prop_assert_eq!(&from_graph, &from_reference);
            let from_rego = regorus_decides(&mut rego, request).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&from_rego, &from_graph, "request {:?}\ninput {}", request, rego_input(request));
        }
    }
}

#[test]
fn stock_policies_export_and_decide_alike() {
    use vtpolicy_compiler::{Context, STOCK, StockOnly, compile};
    use vtpolicy_grammar::SourceFile;
    let context = Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() };
    let exec = |argv: &[&str]| {
        Request::Exec(vtpolicy_engine::ExecRequest {
            program: vtpolicy_engine::Program::trusted_name(argv[0]),
            args: argv[1..].iter().map(|a| vtpolicy_engine::Arg::Known((*a).to_owned())).collect(),
            open_tail: false,
            long_forms: Default::default(),
            implied_options: Vec::new(),
        })
    };
    let requests = [
        exec(&["git", "push", "--force", "origin", "main"]),
        exec(&["git", "push", "-fu", "origin", "main"]),
        exec(&["cargo", "test", "--workspace"]),
        exec(&["rm", "-rf", "/"]),
        exec(&["terraform", "apply"]),
        exec(&["cat", "/h/.ssh/id_rsa"]),
        Request::Read { path: "/h/.ssh/id_rsa".into() },
        Request::Read { path: "/w/src/lib.rs".into() },
        Request::Write { path: "/w/.git/hooks/pre-commit".into() },
        Request::Write { path: "/etc/passwd".into() },
        Request::Net { host: "static.crates.io".into(), port: 443 },
        Request::Net { host: "169.254.169.254".into(), port: 80 },
        Request::Unix { path: "/w/target/test.sock".into() },
        Request::Unix { path: "/var/run/docker.sock".into() },
        Request::Tool { name: "mcp__github__create_issue".into() },
    ];
    for (name, _) in STOCK {
        let source = SourceFile::new("p.vtp", format!("version 1\nextend \"{name}\"\n"));
        let (compiled, _) = compile(&source, &context, &StockOnly);
        // The export judges calls as unsandboxed ones.
        let policies = vec![compiled.expect("compiles").policy.unsandboxed()];
        let module = export(&policies).expect("exports");
        let mut rego = regorus_with(&module).unwrap_or_else(|e| panic!("{e}"));
        let engine = Engine::new(policies).expect("graph");
        for request in &requests {
            let expected = engine_summary(&engine.decide(request));
            let got = regorus_decides(&mut rego, request).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, expected, "{name}: {request:?}");
        }
    }
}
