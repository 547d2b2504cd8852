//! The decision graph against the reference interpreter, on generated
//! policies and requests, and the order independence of decisions.

use proptest::prelude::*;
use vtpolicy_engine::{
    Arg, ArgvPattern, Atom, Defaults, Effect, Engine, ExecRequest, Matcher, Policy, Program, Request, Rule,
    TokenPattern, reference,
};

const WORDS: &[&str] = &[
    "git",
    "rm",
    "push",
    "status",
    "-r",
    "-f",
    "-R",
    "--force",
    "--force-with-lease",
    "-rf",
    "/",
    "main",
    "origin",
    "x",
    "--",
    "of=/dev/sda",
];
const GLOBS: &[&str] = &["*.rs", "--message=*", "+*", "of=/dev/*", "-*"];
const PROGRAMS: &[&str] = &["git", "rm", "cargo", "/usr/bin/git"];
const PATH_GLOBS: &[&str] = &[
    "/ws/**",
    "/ws/.git/**",
    "**/.env",
    "/etc/shadow",
    "/ws/*.rs",
    "/ws/src/**/*.rs",
    "/home/u/.ssh/**",
    "/etc/**",
    "**/.git/hooks/**",
];
const PATHS: &[&str] = &[
    "/ws/a.rs",
    "/ws/.git/config",
    "/ws/.env",
    "/etc/shadow",
    "/ws/src/x/y.rs",
    "/ws",
    "/home/u/.ssh/id_rsa",
    "/ws/sub/.git/hooks/pre-commit",
    "/etc/passwd",
    "/tmp/x",
];
const HOST_PATTERNS: &[&str] = &["crates.io", "*.crates.io", "*", "169.254.169.254", "github.com"];
const HOSTS: &[&str] = &["crates.io", "static.crates.io", "github.com", "169.254.169.254", "evil.com", "a.b.crates.io"];
const TOOL_GLOBS: &[&str] = &["mcp__*", "mcp__github__*", "read_file", "*"];
const TOOLS: &[&str] = &["mcp__github__create_issue", "mcp__fs__read", "read_file", "bash"];

fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![Just(Effect::Allow), Just(Effect::Prompt), Just(Effect::Deny)]
}

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(|w| Atom::Literal(w.to_owned())),
        1 => prop::sample::select(GLOBS).prop_map(|g| Atom::Glob(g.to_owned())),
    ]
}

fn token_pattern() -> impl Strategy<Value = TokenPattern> {
    prop_oneof![
        4 => prop::collection::vec(atom(), 1..3).prop_map(TokenPattern::OneOf),
        1 => Just(TokenPattern::Any),
        2 => Just(TokenPattern::Rest),
    ]
}

fn argv_pattern() -> impl Strategy<Value = ArgvPattern> {
    let program = prop_oneof![
        4 => prop::collection::vec(prop::sample::select(PROGRAMS), 1..3)
            .prop_map(|ps| TokenPattern::OneOf(ps.iter().map(|p| Atom::Literal((*p).to_owned())).collect())),
        1 => Just(TokenPattern::Any),
        1 => Just(TokenPattern::Rest),
    ];
    (program, prop::collection::vec(token_pattern(), 0..5)).prop_map(|(program, args)| {
        let mut tokens = vec![program];
        tokens.extend(args);
        ArgvPattern { tokens }
    })
}

fn ports() -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop_oneof![Just(vec![]), Just(vec![(443, 443)]), Just(vec![(80, 80), (8000, 9000)]),]
}

fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        4 => argv_pattern().prop_map(|pattern| Matcher::Exec { pattern }),
        3 => (prop::sample::select(PATH_GLOBS), any::<bool>(), any::<bool>()).prop_map(|(glob, read, write)| Matcher::Path {
            read: read || !write,
            write,
            glob: glob.to_owned(),
        }),
        1 => (prop::sample::select(HOST_PATTERNS), ports()).prop_map(|(host, ports)| Matcher::Net { host: host.to_owned(), ports }),
        1 => prop::sample::select(TOOL_GLOBS).prop_map(|glob| Matcher::Tool { glob: glob.to_owned() }),
    ]
}

fn policy(name: &'static str) -> impl Strategy<Value = Policy> {
    let rules = prop::collection::vec((effect(), prop::collection::vec(matcher(), 1..3)), 0..14);
    let defaults = (
        prop::option::of(effect()),
        prop::option::of(effect()),
        prop::option::of(effect()),
        prop::option::of(effect()),
        prop::option::of(effect()),
        prop::option::of(prop_oneof![Just(Effect::Prompt), Just(Effect::Deny)]),
    );
    (rules, defaults).prop_map(move |(rules, (read, write, exec, net, tool, unanalysable))| Policy {
        name: name.to_owned(),
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(index, (effect, matchers))| Rule { id: format!("{name}-{index}"), effect, because: None, matchers })
            .collect(),
        defaults: Defaults { read, write, exec, net, tool, unanalysable },
    })
}

fn request() -> impl Strategy<Value = Request> {
    let arg = prop_oneof![
        8 => prop::sample::select(&[
            "push", "status", "-r", "-f", "-fr", "-Rf", "--force", "--forc", "--force=yes",
            "--force-with-lease", "--force-w", "/", "main", "origin", "x", "--", "+main",
            "--message=hi", "a.rs", "of=/dev/sda", "-x", "//", "/.", "./..", "../",
        ][..]).prop_map(|a| Arg::Known(a.to_owned())),
        2 => Just(Arg::Unknown),
    ];
    let program = (prop::sample::select(&["git", "rm", "cargo", "ls"][..]), any::<bool>(), any::<bool>()).prop_map(
        |(name, trusted, with_path)| Program {
            spelled: name.to_owned(),
            names: vec![name.to_owned()],
            path: with_path.then(|| format!("/usr/bin/{name}")),
            trusted,
        },
    );
    let exec = (program, prop::collection::vec(arg, 0..6), any::<bool>())
        .prop_map(|(program, args, open_tail)| Request::Exec(ExecRequest { program, args, open_tail }));
    prop_oneof![
        4 => exec,
        2 => prop::sample::select(PATHS).prop_map(|p| Request::Read { path: p.to_owned() }),
        2 => prop::sample::select(PATHS).prop_map(|p| Request::Write { path: p.to_owned() }),
        1 => (prop::sample::select(HOSTS), prop::sample::select(&[80u16, 443, 8080, 22][..]))
            .prop_map(|(h, port)| Request::Net { host: h.to_owned(), port }),
        1 => prop::sample::select(TOOLS).prop_map(|t| Request::Tool { name: t.to_owned() }),
    ]
}

fn summary(decision: &vtpolicy_engine::Decision) -> (Effect, Vec<String>, bool, bool) {
    // Rule indices change when rules are shuffled; ids do not.
    let mut ids: Vec<String> = decision.matched.iter().map(|m| m.id.clone()).collect();
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
    Rule { id: id.to_owned(), effect, because: None, matchers: vec![Matcher::Exec { pattern: ArgvPattern { tokens } }] }
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
        })
    };
    assert_eq!(engine.decide(&exec(&["rm", "-i", "x"])).effect, Effect::Allow);
    assert_eq!(engine.decide(&exec(&["rm", "-irf", "x"])).effect, Effect::Prompt);
    for spelling in ["--force", "-f", "-fu", "-uf", "--force=true", "--forc", "--fo"] {
        let decision = engine.decide(&exec(&["git", "push", "origin", spelling]));
        assert_eq!(decision.effect, Effect::Deny, "{spelling}");
        assert_eq!(decision.matched[0].id, "no-force");
    }
    // After `--`, tokens are operands, not flags.
    assert_eq!(engine.decide(&exec(&["git", "push", "--", "-fu"])).effect, Effect::Prompt);
}
