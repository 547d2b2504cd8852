//! The decision graph against the reference interpreter, on generated
//! policies and requests, and the order independence of decisions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::strategies::{policy, request};
use proptest::prelude::*;
use vtpolicy_engine::{
    Arg, ArgvPattern, Atom, Defaults, Effect, Engine, ExecRequest, Matcher, Policy, Program, Request, RequestKind,
    Rule, TokenPattern, reference,
};

fn summary(decision: &vtpolicy_engine::Decision) -> (Effect, Vec<String>, bool, bool) {
    // Rule indices change when rules are shuffled; ids do not.
    let mut ids: Vec<String> = decision.matched.iter().map(|m| m.id.to_string()).collect();
    ids.sort();
    (decision.effect, ids, decision.default_applied, decision.kernel_refusal)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn graph_agrees_with_reference(
        first in policy("a"),
        second in policy("b"),
        requests in prop::collection::vec(request(), 1..8),
    ) {
        let policies = vec![first, second];
        let engine = Engine::new(policies.clone()).expect("generated patterns compile");
        for request in &requests {
            let from_graph = engine.decide(request);
            let from_reference = reference::decide(&policies, request);
            prop_assert_eq!(&from_graph, &from_reference, "request {:?}", request);
        }
    }

    #[test]
    fn decisions_do_not_depend_on_rule_or_policy_order(
        first in policy("a"),
        second in policy("b"),
        request in request(),
        seed in any::<u64>(),
    ) {
        let engine = Engine::new(vec![first.clone(), second.clone()]).expect("compiles");
        let expected = summary(&engine.decide(&request));

        let mut shuffled_first = first.clone();
        let mut shuffled_second = second.clone();
        shuffle(&mut shuffled_first.rules, seed);
        shuffle(&mut shuffled_second.rules, seed.rotate_left(17));
        let reordered = Engine::new(vec![shuffled_second, shuffled_first]).expect("compiles");
        prop_assert_eq!(summary(&reordered.decide(&request)), expected);
    }

    #[test]
    fn a_path_that_cannot_be_allowed_is_not(
        first in policy("a"),
        second in policy("b"),
        request in request(),
    ) {
        let engine = Engine::new(vec![first, second]).expect("compiles");
        let (kind, path) = match &request {
            Request::Read { path } => (RequestKind::Read, path),
            Request::Write { path } => (RequestKind::Write, path),
            _ => return Ok(()),
        };
        if engine.cannot_allow_path(kind, path) {
            prop_assert_ne!(engine.decide(&request).effect, Effect::Allow);
        }
    }
}

#[test]
fn cannot_allow_path_answers_from_prefixes_and_defaults() {
    let rule = |effect, glob: &str| Rule {
        id: glob.into(),
        effect,
        because: None,
        matchers: vec![Matcher::Path { read: false, write: true, glob: glob.to_owned() }],
        sandboxed_only: false,
        running: None,
    };
    let policy = |defaults: Defaults| Policy {
        name: "p".into(),
        rules: vec![
            rule(Effect::Allow, "/ws/**"),
            rule(Effect::Allow, "/home/u/.cache/{a,b}/**"),
            rule(Effect::Deny, "**/.git/hooks/**"),
        ],
        defaults,
    };
    let denying = Engine::new(vec![policy(Defaults { write: Some(Effect::Deny), ..Defaults::default() })]).unwrap();
    for path in ["/", "/usr", "/usr/bin/git", "/w", "/home/u/.cach"] {
        assert!(denying.cannot_allow_path(RequestKind::Write, path), "{path}");
    }
    // `/ws/**` also matches `/ws`; `{` ends the literal text.
    for path in ["/ws", "/ws/a.rs", "/ws/.git/hooks/x", "/home/u/.cache/a/x", "/home/u/.cache/zz"] {
        assert!(!denying.cannot_allow_path(RequestKind::Write, path), "{path}");
    }
    // Reads are another kind: no allow rule names them.
    assert!(denying.cannot_allow_path(RequestKind::Read, "/ws/a.rs"));
    let allowing = Engine::new(vec![policy(Defaults { write: Some(Effect::Allow), ..Defaults::default() })]).unwrap();
    assert!(!allowing.cannot_allow_path(RequestKind::Write, "/usr/bin/git"));
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for index in (1..items.len()).rev() {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let other = (seed >> 33) as usize % (index + 1);
        items.swap(index, other);
    }
}

/// An exec rule from tokens: `[a|b]` is an alternative, `..` rest.
fn exec_rule(id: &str, effect: Effect, tokens: &[&str]) -> Rule {
    let tokens = tokens
        .iter()
        .map(|token| match *token {
            ".." => TokenPattern::Rest,
            alternatives => TokenPattern::OneOf(alternatives.split('|').map(|a| Atom::Literal(a.to_owned())).collect()),
        })
        .collect();
    Rule {
        id: id.into(),
        effect,
        because: None,
        matchers: vec![Matcher::Exec { pattern: ArgvPattern { tokens } }],
        sandboxed_only: false,
        running: None,
    }
}

#[test]
fn allow_rules_match_tokens_exactly_and_deny_rules_see_flag_spellings() {
    let policy = Policy {
        name: "p".into(),
        rules: vec![
            exec_rule("allow-rm-i", Effect::Allow, &["rm", "-i", ".."]),
            exec_rule("no-force", Effect::Deny, &["git", "push", "..", "--force|-f", ".."]),
        ],
        defaults: Defaults { exec: Some(Effect::Prompt), ..Defaults::default() },
    };
    let engine = Engine::new(vec![policy]).expect("compiles");
    let exec = |argv: &[&str]| {
        Request::Exec(ExecRequest {
            program: Program::trusted_name(argv[0]),
            args: argv[1..].iter().map(|a| Arg::Known((*a).to_owned())).collect(),
            open_tail: false,
            long_forms: Default::default(),
            implied_options: Vec::new(),
        })
    };
    assert_eq!(engine.decide(&exec(&["rm", "-i", "x"])).effect, Effect::Allow);
    assert_eq!(engine.decide(&exec(&["rm", "-irf", "x"])).effect, Effect::Prompt);
    for spelling in ["--force", "-f", "-fu", "-uf", "--force=true", "--forc", "--fo"] {
        let decision = engine.decide(&exec(&["git", "push", "origin", spelling]));
        assert_eq!(decision.effect, Effect::Deny, "{spelling}");
        assert_eq!(&*decision.matched[0].id, "no-force");
    }
    // After `--`, tokens are operands, not flags.
    assert_eq!(engine.decide(&exec(&["git", "push", "--", "-fu"])).effect, Effect::Prompt);
}
