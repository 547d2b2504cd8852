//! Seatbelt profiles cannot run here, so they are read back with a small
//! s-expression reader and checked for structure: the header, the order of
//! allows and denies, parameters, escaping, regexes, and the absence of
//! known holes. Every stock policy's profile is a snapshot.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;
use vtpolicy_compiler::profile::model::SandboxModel;
use vtpolicy_compiler::profile::seatbelt::{self, SeatbeltProfile, glob_to_regex, quote};
use vtpolicy_compiler::{Context, STOCK, StockOnly, compile};
use vtpolicy_grammar::SourceFile;

#[derive(Debug, Clone, PartialEq)]
enum Sexp {
    Atom(String),
    Str(String),
    List(Vec<Sexp>),
}

impl Sexp {
    fn head(&self) -> Option<&str> {
        match self {
            Sexp::List(items) => match items.first() {
                Some(Sexp::Atom(a)) => Some(a),
                _ => None,
            },
            _ => None,
        }
    }

    fn items(&self) -> &[Sexp] {
        match self {
            Sexp::List(items) => items,
            _ => &[],
        }
    }

    /// Every list below this one, itself included.
    fn walk<'a>(&'a self, out: &mut Vec<&'a Sexp>) {
        out.push(self);
        for item in self.items() {
            item.walk(out);
        }
    }
}

/// Reads a whole profile: `;` comments, `"..."` strings with `\\` and
/// `\"`, `#"..."` raw strings, `#t`/`#f`, atoms and lists.
fn read(text: &str) -> Result<Vec<Sexp>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    while let Some(&c) = chars.get(pos) {
        match c {
            ';' => {
                while chars.get(pos).is_some_and(|&c| c != '\n') {
                    pos += 1;
                }
            }
            '(' => {
                stack.push(Vec::new());
                pos += 1;
            }
            ')' => {
                let list = stack.pop().ok_or("unbalanced )")?;
                stack.last_mut().ok_or("unbalanced )")?.push(Sexp::List(list));
                pos += 1;
            }
            '"' => {
                pos += 1;
                let mut s = String::new();
                loop {
                    match chars.get(pos) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            match chars.get(pos + 1) {
                                Some(&e @ ('\\' | '"')) => s.push(e),
                                other => return Err(format!("bad escape {other:?}")),
                            }
                            pos += 1;
                        }
                        Some(&c) if c.is_control() => return Err("control character in string".into()),
                        Some(&c) => s.push(c),
                    }
                    pos += 1;
                }
                pos += 1;
                stack.last_mut().ok_or("no list")?.push(Sexp::Str(s));
            }
            c if c.is_whitespace() => pos += 1,
            _ => {
                let start = pos;
                while chars.get(pos).is_some_and(|&c| !c.is_whitespace() && c != '(' && c != ')' && c != ';') {
                    pos += 1;
                }
                let atom: String = chars.get(start..pos).unwrap_or_default().iter().collect();
                stack.last_mut().ok_or("no list")?.push(Sexp::Atom(atom));
            }
        }
    }
    if stack.len() != 1 {
        return Err("unbalanced (".into());
    }
    Ok(stack.pop().unwrap_or_default())
}

fn context() -> Context {
    Context { workspace: "/w".into(), home: "/Users/dev".into(), tmp: "/tmp/call".into(), cwd: "/w".into() }
}

fn profile_of(text: &str) -> SeatbeltProfile {
    let source = SourceFile::new("p.vtp", text);
    let (policy, diagnostics) = compile(&source, &context(), &StockOnly);
    let policy = policy.unwrap_or_else(|| panic!("{diagnostics:?}"));
    seatbelt::compile(&SandboxModel::new(&[&policy], &context())).expect("compiles").expect("a profile")
}

const OPERATIONS: &[&str] = &[
    "file-read*",
    "file-read-metadata",
    "file-write*",
    "file-write-data",
    "file-write-unlink",
    "file-write-setugid",
    "file-ioctl",
    "process-exec",
    "process-fork",
    "process-info*",
    "signal",
    "sysctl-read",
    "pseudo-tty",
    "ipc-posix-sem",
    "mach-lookup",
    "network*",
    "network-outbound",
    "default",
];
const FILTERS: &[&str] = &["literal", "subpath", "regex", "param", "global-name", "target", "remote"];

/// The structural checks every profile passes.
fn check_structure(profile: &SeatbeltProfile) -> Vec<Sexp> {
    let forms = read(&profile.profile).unwrap_or_else(|e| panic!("{e}\n{}", profile.profile));
    assert_eq!(forms.first(), Some(&Sexp::List(vec![Sexp::Atom("version".into()), Sexp::Atom("1".into())])));
    let defaults: Vec<&Sexp> =
        forms.iter().filter(|f| f.items().get(1) == Some(&Sexp::Atom("default".into()))).collect();
    assert_eq!(defaults, vec![&Sexp::List(vec![Sexp::Atom("deny".into()), Sexp::Atom("default".into())])]);
    let mut all = Vec::new();
    for form in &forms {
        form.walk(&mut all);
    }
    for form in forms.iter().skip(1) {
        let head = form.head().unwrap_or_default();
        assert!(head == "allow" || head == "deny", "top-level {form:?}");
        let Some(Sexp::Atom(op)) = form.items().get(1) else { panic!("no operation in {form:?}") };
        assert!(OPERATIONS.contains(&op.as_str()), "unknown operation {op}");
        // No blanket mach-lookup: every one names its services.
        if op == "mach-lookup" {
            assert!(form.items().len() > 2 && form.items().iter().skip(2).all(|f| f.head() == Some("global-name")));
        }
        // The known egress hole: network with a local-address filter.
        assert!(!format!("{form:?}").contains("\"local\""), "{form:?}");
    }
    for list in &all {
        if let Some(head) = list.head()
            && !["allow", "deny", "version"].contains(&head)
        {
            assert!(FILTERS.contains(&head), "unknown filter {head}");
        }
        // Every parameter has its -D value.
        if list.head() == Some("param") {
            let Some(Sexp::Str(name)) = list.items().get(1) else { panic!("bad param {list:?}") };
            assert!(profile.params.iter().any(|(n, _)| n == name), "no -D{name}=");
        }
        // Every regex compiles and is anchored.
        if list.head() == Some("regex") {
            let Some(Sexp::Str(pattern)) = list.items().get(1) else { panic!("bad regex {list:?}") };
            assert!(pattern.starts_with('^') && pattern.ends_with('$'), "{pattern}");
            assert!(globset_free_regex(pattern), "{pattern}");
        }
    }
    // No write anywhere near the root.
    assert!(!profile.params.iter().any(|(n, v)| n.starts_with("WRITE") && v == "/"));
    forms
}

/// The regex uses only the subset Seatbelt understands.
fn globset_free_regex(pattern: &str) -> bool {
    pattern.chars().all(|c| c.is_alphanumeric() || "^$.[]*+?()/|\\-_ ~@%,=:".contains(c) || !c.is_ascii())
}

/// The index of the first form whose text contains `needle`.
fn position(forms: &[Sexp], needle: &str) -> usize {
    forms.iter().position(|f| format!("{f:?}").contains(needle)).unwrap_or_else(|| panic!("no {needle}"))
}

#[test]
fn stock_profiles_have_the_expected_structure() {
    for (name, _) in STOCK {
        let source = SourceFile::new("p.vtp", format!("version 1\nextend \"{name}\"\n"));
        let (policy, diagnostics) = compile(&source, &context(), &StockOnly);
        let policy = policy.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let Some(profile) = seatbelt::compile(&SandboxModel::new(&[&policy], &context())).expect("compiles") else {
            assert_eq!(*name, "danger-full-access", "only danger-full-access has no profile");
            continue;
        };
        check_structure(&profile);
        let mut snapshot = profile.arguments().join("\n");
        snapshot.push_str("\n\n");
        for gap in &profile.gaps {
            snapshot.push_str(&format!(";; gap: {gap}\n"));
        }
        snapshot.push_str(&profile.profile);
        insta::assert_snapshot!(format!("seatbelt_{name}"), snapshot);
    }
}

#[test]
fn denies_come_after_the_allows_they_carve() {
    let source = SourceFile::new("p.vtp", "version 1\nextend \"workspace-write\"\n");
    let (policy, _) = compile(&source, &context(), &StockOnly);
    let profile = seatbelt::compile(&SandboxModel::new(&[&policy.expect("compiles")], &context()))
        .expect("compiles")
        .expect("profile");
    let forms = check_structure(&profile);
    let write_ws = profile
        .params
        .iter()
        .find(|(n, v)| n.starts_with("WRITE") && v == "/w")
        .map(|(n, _)| n.clone())
        .expect("workspace param");
    let allow_write = forms
        .iter()
        .position(|f| {
            f.head() == Some("allow")
                && format!("{f:?}").contains("file-write*")
                && format!("{f:?}").contains(&write_ws)
        })
        .expect("workspace write");
    let hooks = position(&forms, "[hH][oO][oO][kK][sS]");
    assert!(hooks > allow_write, "the hooks deny must follow the workspace allow");
    let home_ssh = profile
        .params
        .iter()
        .find(|(n, v)| n.starts_with("DENY_READ") && v == "/Users/dev/.ssh")
        .map(|(n, _)| n.clone())
        .expect("ssh param");
    assert!(position(&forms, &home_ssh) > position(&forms, "READ_0"));
    // `/tmp` and `/etc` are given in their `/private` form.
    assert!(profile.params.iter().any(|(_, v)| v == "/private/tmp/call"));
    assert!(profile.params.iter().any(|(_, v)| v == "/private/etc/shadow"));
    // Only the registries' port is open, to any host (a reported gap).
    assert!(profile.profile.contains("(allow network-outbound (remote tcp \"*:443\"))"));
    assert!(!profile.profile.contains("(allow network*)"));
    assert!(profile.gaps.iter().any(|g| g.contains("package-registries")));
}

#[test]
fn hostile_paths_are_escaped_or_refused() {
    let profile = profile_of("version 1\ndefault deny\nallow read \"/a \\\"q\\\" b\\\\c/)(/**\"\n");
    check_structure(&profile);
    assert_eq!(profile.params.first().map(|(_, v)| v.as_str()), Some("/a \"q\" b\\c/)("));
    assert_eq!(quote("a\\\"b").expect("quotes"), "\"a\\\\\\\"b\"");
    assert!(quote("a\nb").is_err(), "control characters are refused");
    assert!(
        seatbelt::compile(&SandboxModel {
            read_denies: vec![vtpolicy_compiler::profile::model::PathGlob {
                glob: "/x\u{7}/**".into(),
                rule: "r".into()
            }],
            enabled: true,
            ..SandboxModel::new(&[], &context())
        })
        .is_err()
    );
}

#[test]
fn glob_regexes_match_what_the_glob_matches() {
    let cases = [
        ("**/.env", "/w/.env", true),
        ("**/.env", "/w/sub/.env", true),
        ("**/.env", "/w/x.env", false),
        ("**/.ENV", "/w/.env", true),
        ("**/*.pem", "/w/a/b.pem", true),
        ("**/*.pem", "/w/a/b.pem/c", false),
        ("/w/*.rs", "/w/a.rs", true),
        ("/w/*.rs", "/w/a/b.rs", false),
        ("**/.git/hooks/**", "/w/.git/hooks/pre-commit", true),
        ("**/.git/hooks/**", "/w/.git/hooks", true),
        ("**/.git/hooks/**", "/w/.git/hooksx", false),
        ("/a+b(c)/**", "/a+b(c)/d", true),
        ("/a+b(c)/**", "/aab(c)/d", false),
    ];
    for (glob, path, expected) in cases {
        let pattern = glob_to_regex(glob);
        let regex = regex_lite(&pattern);
        assert_eq!(regex(path), expected, "{glob} vs {path}");
    }
}

/// A minimal matcher for the regex subset the generator emits, so the test
/// does not trust the generator's own idea of it: literal characters,
/// `[..]` classes of literals, `[^/]`, `.`, `*`, `?` on a group or atom,
/// `(...)` groups without alternation.
fn regex_lite(pattern: &str) -> impl Fn(&str) -> bool + use<> {
    #[derive(Debug, Clone)]
    enum Node {
        Class(Vec<char>, bool),
        Any,
        Group(Vec<(Node, char)>),
    }
    fn parse(chars: &[char], pos: &mut usize) -> Vec<(Node, char)> {
        let mut out = Vec::new();
        while let Some(&c) = chars.get(*pos) {
            *pos += 1;
            let node = match c {
                ')' => return out,
                '(' => Node::Group(parse(chars, pos)),
                '.' => Node::Any,
                '\\' => {
                    let e = chars.get(*pos).copied().unwrap_or('\\');
                    *pos += 1;
                    Node::Class(vec![e], false)
                }
                '[' => {
                    let negated = chars.get(*pos) == Some(&'^');
                    if negated {
                        *pos += 1;
                    }
                    let mut set = Vec::new();
                    while let Some(&c) = chars.get(*pos) {
                        *pos += 1;
                        if c == ']' {
                            break;
                        }
                        set.push(c);
                    }
                    Node::Class(set, negated)
                }
                '^' | '$' => continue,
                c => Node::Class(vec![c], false),
            };
            let quantifier = match chars.get(*pos) {
                Some(&q @ ('*' | '?' | '+')) => {
                    *pos += 1;
                    q
                }
                _ => '1',
            };
            out.push((node, quantifier));
        }
        out
    }
    fn matches(seq: &[(Node, char)], text: &[char]) -> Vec<usize> {
        // All lengths of `text` prefixes `seq` can consume.
        let mut ends = vec![0];
        for (node, q) in seq {
            let mut next = Vec::new();
            for &start in &ends {
                let one = |s: usize| -> Vec<usize> {
                    match node {
                        Node::Any => {
                            if s < text.len() {
                                vec![s + 1]
                            } else {
                                vec![]
                            }
                        }
                        Node::Class(set, neg) => match text.get(s) {
                            Some(c) if set.contains(c) != *neg => vec![s + 1],
                            _ => vec![],
                        },
                        Node::Group(inner) => {
                            matches(inner, text.get(s..).unwrap_or_default()).into_iter().map(|e| s + e).collect()
                        }
                    }
                };
                match q {
                    '?' => {
                        next.push(start);
                        next.extend(one(start));
                    }
                    '*' | '+' => {
                        let mut frontier = vec![start];
                        if *q == '*' {
                            next.push(start);
                        }
                        let mut seen = vec![start];
                        while let Some(s) = frontier.pop() {
                            for e in one(s) {
                                if !seen.contains(&e) {
                                    seen.push(e);
                                    next.push(e);
                                    frontier.push(e);
                                }
                            }
                        }
                    }
                    _ => next.extend(one(start)),
                }
            }
            next.sort_unstable();
            next.dedup();
            ends = next;
        }
        ends
    }
    let chars: Vec<char> = pattern.chars().collect();
    let seq = parse(&chars, &mut 0);
    move |text: &str| {
        let text: Vec<char> = text.chars().collect();
        matches(&seq, &text).contains(&text.len())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any printable path reads back as the same parameter value.
    #[test]
    fn paths_round_trip_through_the_profile(name in "[ -~]{1,20}") {
        prop_assume!(!name.contains(['*', '?', '[', ']', '{', '}', '\\', '/']));
        let profile = profile_of(&format!(
            "version 1\ndefault deny\nallow read \"/d/{}/**\"\n",
            name.replace('"', "\\\"")
        ));
        let forms = read(&profile.profile).map_err(TestCaseError::fail)?;
        prop_assert!(!forms.is_empty());
        let expected = format!("/d/{name}");
        prop_assert!(profile.params.iter().any(|(_, v)| *v == expected));
    }
}
