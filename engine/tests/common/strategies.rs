//! Generators of policies and requests shared by the differential tests
//! (the decision graph against the reference interpreter here, regorus on
//! the Rego export in the compiler's tests).

#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use vtpolicy_engine::{
    Arg, ArgvPattern, Atom, Defaults, Effect, ExecRequest, LongForm, Matcher, Policy, Program, Request, Rule,
    TokenPattern,
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

pub fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![Just(Effect::Allow), Just(Effect::Prompt), Just(Effect::Deny)]
}

pub fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        3 => prop::sample::select(WORDS).prop_map(|w| Atom::Literal(w.to_owned())),
        1 => prop::sample::select(GLOBS).prop_map(|g| Atom::Glob(g.to_owned())),
    ]
}

pub fn token_pattern() -> impl Strategy<Value = TokenPattern> {
    prop_oneof![
        4 => prop::collection::vec(atom(), 1..3).prop_map(TokenPattern::OneOf),
        1 => Just(TokenPattern::Any),
        2 => Just(TokenPattern::Rest),
    ]
}

pub fn argv_pattern() -> impl Strategy<Value = ArgvPattern> {
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

pub fn ports() -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop_oneof![Just(vec![]), Just(vec![(443, 443)]), Just(vec![(80, 80), (8000, 9000)]),]
}

pub fn matcher() -> impl Strategy<Value = Matcher> {
    prop_oneof![
        4 => argv_pattern().prop_map(|pattern| Matcher::Exec { pattern }),
        3 => (prop::sample::select(PATH_GLOBS), any::<bool>(), any::<bool>()).prop_map(|(glob, read, write)| Matcher::Path {
            read: read || !write,
            write,
            glob: glob.to_owned(),
        }),
        1 => (prop::sample::select(HOST_PATTERNS), ports()).prop_map(|(host, ports)| Matcher::Net { host: host.to_owned(), ports }),
        1 => prop::sample::select(TOOL_GLOBS).prop_map(|glob| Matcher::Tool { glob: glob.to_owned() }),
        1 => prop::sample::select(PATH_GLOBS).prop_map(|glob| Matcher::Socket { glob: glob.to_owned() }),
    ]
}

pub fn policy(name: &'static str) -> impl Strategy<Value = Policy> {
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
            .map(|(index, (effect, matchers))| Rule {
                id: format!("{name}-{index}").into(),
                effect,
                because: None,
                matchers,
                sandboxed_only: false,
                running: None,
            })
            .collect(),
        defaults: Defaults { read, write, exec, net, tool, unanalysable },
    })
}

pub fn request() -> impl Strategy<Value = Request> {
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
    // The spellings a model would give (`rm -r` is `rm --recursive`).
    let long_forms = prop::collection::vec(
        prop::sample::select(&[('r', "recursive"), ('R', "recursive"), ('f', "force")][..])
            .prop_map(|(short, long)| LongForm { short, long: long.to_owned() }),
        0..3,
    );
    let implied = prop::collection::vec(prop::sample::select(&["--force", "-r"][..]).prop_map(str::to_owned), 0..2);
    let exec = (program, prop::collection::vec(arg, 0..6), any::<bool>(), long_forms, implied).prop_map(
        |(program, args, open_tail, long_forms, implied_options)| {
            Request::Exec(ExecRequest { program, args, open_tail, long_forms: long_forms.into(), implied_options })
        },
    );
    prop_oneof![
        4 => exec,
        2 => prop::sample::select(PATHS).prop_map(|p| Request::Read { path: p.to_owned() }),
        2 => prop::sample::select(PATHS).prop_map(|p| Request::Write { path: p.to_owned() }),
        1 => (prop::sample::select(HOSTS), prop::sample::select(&[80u16, 443, 8080, 22][..]))
            .prop_map(|(h, port)| Request::Net { host: h.to_owned(), port }),
        1 => prop::sample::select(TOOLS).prop_map(|t| Request::Tool { name: t.to_owned() }),
        1 => prop::sample::select(PATHS).prop_map(|p| Request::Unix { path: p.to_owned() }),
    ]
}
