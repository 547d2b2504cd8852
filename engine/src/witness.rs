//! Concrete calls that exercise a policy's rules: each pattern's instances
//! and the calls just outside them. `diff` judges them under two policy
//! sets to find where the sets decide differently.
//!
//! A probe is a call the pattern matches (every wildcard filled in: `*`
//! with a short name or nothing, `**` with no segment or two, each
//! alternative of a token or of a brace) or one at its edge: an argv with
//! one token fewer or more, a sibling of a literal path, a subdomain of a
//! literal host, the ports either side of a range. Probes find differences
//! where rules are; they are samples, not a proof that none exist
//! elsewhere.

use std::collections::{BTreeSet, HashSet};

use crate::policy::{ArgvPattern, Atom, Matcher, Policy, TokenPattern};
use crate::request::{Arg, ExecRequest, Program, Request};

/// A concrete call, before normalisation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    Exec(Vec<String>),
    Read(String),
    Write(String),
    Connect { host: String, port: u16 },
    Socket(String),
    Tool(String),
}

/// What fills a wildcard.
const FILL: &str = "x";

/// At most this many instances of one pattern (alternatives multiply).
const PER_PATTERN: usize = 64;

/// Calls no rule is likely to name: they show the defaults.
pub fn default_probes() -> Vec<Probe> {
    vec![
        Probe::Exec(vec!["vtpolicy-probe-program".to_owned()]),
        Probe::Read("/vtpolicy-probe/file".to_owned()),
        Probe::Write("/vtpolicy-probe/file".to_owned()),
        Probe::Connect { host: "vtpolicy-probe.invalid".to_owned(), port: 443 },
        Probe::Socket("/vtpolicy-probe/socket".to_owned()),
        Probe::Tool("vtpolicy_probe_tool".to_owned()),
    ]
}

/// At most this many probes that cross one rule's directory with another's
/// any-depth pattern.
const CROSSED: usize = 4096;

/// The probes of every rule of `policies`, each once, in a stable order.
/// Path patterns that match at any depth (`**/.env`) are also tried in
/// every directory another path pattern names (`/w/.env` for `/w/**`), as
/// two such rules meet only there.
pub fn probes<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> BTreeSet<Probe> {
    let mut out = BTreeSet::new();
    let mut directories = BTreeSet::new();
    let mut anywhere = BTreeSet::new();
    for matcher in policies.into_iter().flat_map(|p| &p.rules).flat_map(|r| &r.matchers) {
        matcher_probes(matcher, &mut out);
        if let Matcher::Path { glob, .. } = matcher {
            match glob.strip_prefix("**/") {
                Some(rest) => {
                    anywhere.insert(rest.to_owned());
                }
                None => {
                    let literal: Vec<&str> = glob.split('/').take_while(|s| !has_wildcard(s)).collect();
                    // A directory: the pattern goes on below it.
                    if literal.len() > 1 && literal.len() < glob.split('/').count() {
                        directories.insert(literal.join("/"));
                    }
                }
            }
        }
    }
    let crossed = anywhere.iter().flat_map(|rest| directories.iter().map(move |dir| format!("{dir}/{rest}")));
    for glob in crossed.take(CROSSED) {
        if let Some(path) = path_instances(&glob).into_iter().next() {
            out.insert(Probe::Read(path.clone()));
            out.insert(Probe::Write(path));
        }
    }
    out
}

fn matcher_probes(matcher: &Matcher, out: &mut BTreeSet<Probe>) {
    match matcher {
        Matcher::Exec { pattern } => out.extend(argv_instances(pattern).into_iter().map(Probe::Exec)),
        Matcher::Path { read, write, glob } => {
            for path in path_instances(glob) {
                // A rule for one access also shows what the other is.
                if *read || *write {
                    out.insert(Probe::Read(path.clone()));
                    out.insert(Probe::Write(path));
                }
            }
        }
        Matcher::Net { host, ports } => {
            for host in host_instances(host) {
                for port in port_instances(ports) {
                    out.insert(Probe::Connect { host: host.clone(), port });
                }
            }
        }
        Matcher::Socket { glob } => out.extend(path_instances(glob).into_iter().map(Probe::Socket)),
        Matcher::Tool { glob } => out.extend(text_instances(glob).into_iter().map(Probe::Tool)),
    }
}

/// Argvs an argv pattern matches: its first choice at every position, and
/// each other choice at one position at a time (so the count stays linear).
pub fn argv_pattern_instances(pattern: &ArgvPattern) -> Vec<Vec<String>> {
    let choices: Vec<Vec<Vec<String>>> = pattern.tokens.iter().map(token_choices).collect();
    let base: Vec<Vec<String>> = choices.iter().map(|c| c.first().cloned().unwrap_or_default()).collect();
    let flatten = |positions: &[Vec<String>]| -> Vec<String> { positions.iter().flatten().cloned().collect() };
    let mut out = vec![flatten(&base)];
    for (index, position) in choices.iter().enumerate() {
        for choice in position.iter().skip(1) {
            let mut variant = base.clone();
            if let Some(slot) = variant.get_mut(index) {
                slot.clone_from(choice);
            }
            out.push(flatten(&variant));
            if out.len() >= PER_PATTERN {
                break;
            }
        }
    }
    out.retain(|argv| !argv.is_empty());
    out
}

/// Calls that both matchers may match, to be checked by matching them:
/// each one's instances, and for argv patterns an argv that fills both
/// patterns at once. Empty for matchers of different kinds.
pub fn shared_candidates(a: &Matcher, b: &Matcher) -> Vec<Probe> {
    let mut out = BTreeSet::new();
    match (a, b) {
        (Matcher::Exec { pattern: a }, Matcher::Exec { pattern: b }) => {
            out.extend(unify(&a.tokens, &b.tokens).map(Probe::Exec));
            out.extend(argv_pattern_instances(a).into_iter().chain(argv_pattern_instances(b)).map(Probe::Exec));
        }
        (Matcher::Path { read: ar, write: aw, glob: a }, Matcher::Path { read: br, write: bw, glob: b }) => {
            for path in path_instances(a).into_iter().chain(path_instances(b)) {
                if *ar && *br {
                    out.insert(Probe::Read(path.clone()));
                }
                if *aw && *bw {
                    out.insert(Probe::Write(path));
                }
            }
        }
        (Matcher::Net { host: ah, ports: ap }, Matcher::Net { host: bh, ports: bp }) => {
            // Every host of either with every port of either: the overlap
            // may take its host from one rule and its port from the other.
            let hosts: BTreeSet<String> = host_instances(ah).into_iter().chain(host_instances(bh)).collect();
            let ports: BTreeSet<u16> = port_instances(ap).into_iter().chain(port_instances(bp)).collect();
            for host in &hosts {
                out.extend(ports.iter().map(|&port| Probe::Connect { host: host.clone(), port }));
            }
        }
        (Matcher::Socket { glob: a }, Matcher::Socket { glob: b }) => {
            out.extend(path_instances(a).into_iter().chain(path_instances(b)).map(Probe::Socket));
        }
        (Matcher::Tool { glob: a }, Matcher::Tool { glob: b }) => {
            out.extend(texts_meeting(a, b).into_iter().map(Probe::Tool));
        }
        _ => {}
    }
    out.into_iter().collect()
}

/// The engine request of a probe as written: the program trusted by its
/// name, every word known, nothing normalised.
pub fn probe_request(probe: &Probe) -> Request {
    match probe {
        Probe::Exec(argv) => {
            let (program, args) = argv.split_first().map_or(("", &[][..]), |(p, rest)| (p.as_str(), rest));
            Request::Exec(ExecRequest {
                program: Program::trusted_name(program),
                args: args.iter().map(|a| Arg::Known(a.clone())).collect(),
                open_tail: false,
                long_forms: Default::default(),
                implied_options: Vec::new(),
            })
        }
        Probe::Read(path) => Request::Read { path: path.clone() },
        Probe::Write(path) => Request::Write { path: path.clone() },
        Probe::Connect { host, port } => Request::Net { host: host.clone(), port: *port },
        Probe::Socket(path) => Request::Unix { path: path.clone() },
        Probe::Tool(name) => Request::Tool { name: name.clone() },
    }
}

/// An argv both token patterns match as written, if there is one.
fn unify(a: &[TokenPattern], b: &[TokenPattern]) -> Option<Vec<String>> {
    let mut failed = HashSet::new();
    unify_from(a, b, 0, 0, &mut failed)
}

fn unify_from(
    a: &[TokenPattern],
    b: &[TokenPattern],
    i: usize,
    j: usize,
    failed: &mut HashSet<(usize, usize)>,
) -> Option<Vec<String>> {
    if failed.contains(&(i, j)) {
        return None;
    }
    let found = match (a.get(i), b.get(j)) {
        (None, None) => Some(Vec::new()),
        (Some(TokenPattern::Rest), Some(TokenPattern::Rest)) => {
            unify_from(a, b, i + 1, j, failed).or_else(|| unify_from(a, b, i, j + 1, failed))
        }
        (Some(TokenPattern::Rest), other) | (other, Some(TokenPattern::Rest)) => {
            let a_rest = matches!(a.get(i), Some(TokenPattern::Rest));
            // The rest matches nothing more, or takes the other side's
            // next token.
            let skip = if a_rest { unify_from(a, b, i + 1, j, failed) } else { unify_from(a, b, i, j + 1, failed) };
            skip.or_else(|| {
                let token = token_choices(other?).into_iter().flatten().next()?;
                let rest = if a_rest { unify_from(a, b, i, j + 1, failed) } else { unify_from(a, b, i + 1, j, failed) };
                rest.map(|mut tail| {
                    tail.insert(0, token);
                    tail
                })
            })
        }
        (Some(x), Some(y)) => unify_token(x, y).and_then(|token| {
            unify_from(a, b, i + 1, j + 1, failed).map(|mut tail| {
                tail.insert(0, token);
                tail
            })
        }),
        _ => None,
    };
    if found.is_none() {
        failed.insert((i, j));
    }
    found
}

/// Instances of two single-token globs, and each filled with the other's
/// literal pieces: `mcp__gh__*` and `mcp__*__delete` meet in
/// `mcp__gh____delete`.
fn texts_meeting(a: &str, b: &str) -> Vec<String> {
    let mut out: Vec<String> = text_instances(a).into_iter().chain(text_instances(b)).collect();
    for (glob, other) in [(a, b), (b, a)] {
        if !glob.contains('*') {
            continue;
        }
        let pieces: Vec<&str> = other.split('*').filter(|p| !p.is_empty()).collect();
        for piece in pieces.iter().copied().chain(std::iter::once(pieces.concat().as_str())) {
            let filled = fill_text(glob, piece);
            if !out.contains(&filled) {
                out.push(filled);
            }
        }
    }
    out
}

/// A token both positions match.
fn unify_token(a: &TokenPattern, b: &TokenPattern) -> Option<String> {
    let texts = |token: &TokenPattern| -> Vec<String> { token_choices(token).into_iter().flatten().collect() };
    match (a, b) {
        (TokenPattern::Any, other) | (other, TokenPattern::Any) => texts(other).into_iter().next(),
        (TokenPattern::OneOf(x), TokenPattern::OneOf(y)) => {
            let matched = |atoms: &[Atom], text: &str| atoms.iter().any(|atom| atom_matches(atom, text));
            texts(a)
                .into_iter()
                .find(|t| matched(y, t))
                .or_else(|| texts(b).into_iter().find(|t| matched(x, t)))
                .or_else(|| {
                    x.iter().flat_map(|p| y.iter().map(move |q| (p, q))).find_map(|(p, q)| {
                        texts_meeting(p.text(), q.text()).into_iter().find(|t| atom_matches(p, t) && atom_matches(q, t))
                    })
                })
        }
        _ => None,
    }
}

/// Whether a single-token atom matches `text`, as the engine matches it.
fn atom_matches(atom: &Atom, text: &str) -> bool {
    match atom {
        Atom::Literal(literal) => literal == text,
        Atom::Glob(glob) => crate::pattern::token_glob(glob).is_ok_and(|glob| glob.is_match(text)),
    }
}

/// Instances of an argv pattern and the argvs at its edges: a token fewer
/// and a token more.
fn argv_instances(pattern: &ArgvPattern) -> Vec<Vec<String>> {
    let mut out = argv_pattern_instances(pattern);
    let Some(first) = out.first().cloned() else { return out };
    if first.len() > 1 {
        out.push(first.get(..first.len() - 1).unwrap_or_default().to_vec());
    }
    let mut longer = first;
    longer.push(FILL.to_owned());
    out.push(longer);
    out
}

/// What one pattern position can be, each as the tokens it stands for.
fn token_choices(token: &TokenPattern) -> Vec<Vec<String>> {
    match token {
        TokenPattern::OneOf(atoms) => atoms
            .iter()
            .flat_map(|atom| match atom {
                Atom::Literal(text) => vec![text.clone()],
                Atom::Glob(glob) => text_instances(glob),
            })
            .filter(|text| !text.is_empty())
            .map(|text| vec![text])
            .collect(),
        TokenPattern::Any => vec![vec![FILL.to_owned()]],
        TokenPattern::Rest => vec![Vec::new(), vec![FILL.to_owned()]],
    }
}

/// Instances of a single-token glob (`*` and `?` match anything): with
/// each wildcard filled, and with `*` empty.
fn text_instances(glob: &str) -> Vec<String> {
    let filled = fill_text(glob, FILL);
    let empty = fill_text(glob, "");
    let mut out = vec![filled];
    if !empty.is_empty() && !out.contains(&empty) {
        out.push(empty);
    }
    out
}

fn fill_text(glob: &str, star: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    let mut chars = glob.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(star),
            '?' => out.push_str(FILL),
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Instances of an absolute path glob and the paths beside it.
fn path_instances(glob: &str) -> Vec<String> {
    let mut out = Vec::new();
    for expanded in expand_braces(glob).into_iter().take(PER_PATTERN) {
        for deep in [false, true] {
            let path = fill_path(&expanded, deep);
            if !out.contains(&path) {
                out.push(path);
            }
        }
        // Beside the pattern: the last literal segment with a suffix, so
        // that `/a/b/**` also probes `/a/bx`.
        let literal: Vec<&str> = expanded.split('/').take_while(|s| !has_wildcard(s)).collect();
        if literal.len() > 1 {
            let sibling = normal(&format!("{}{FILL}", literal.join("/")));
            if !out.contains(&sibling) {
                out.push(sibling);
            }
        }
    }
    out
}

fn has_wildcard(segment: &str) -> bool {
    segment.contains(['*', '?', '[', '{'])
}

/// A path glob with its wildcards filled: `**` as nothing, or (`deep`)
/// as two segments.
fn fill_path(glob: &str, deep: bool) -> String {
    let segments: Vec<String> = glob
        .split('/')
        .filter_map(|segment| match segment {
            "**" if deep => Some(format!("{FILL}/{FILL}")),
            "**" => None,
            segment => Some(fill_segment(segment)),
        })
        .collect();
    normal(&segments.join("/"))
}

/// One segment with `*` and `?` filled and a class `[…]` as its first
/// member (or the fill, when negated).
fn fill_segment(segment: &str) -> String {
    let mut out = String::new();
    let mut chars = segment.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                out.push_str(FILL);
            }
            '?' => out.push_str(FILL),
            '\\' => out.extend(chars.next()),
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut first = None;
                for member in chars.by_ref() {
                    if member == ']' && first.is_some() {
                        break;
                    }
                    first.get_or_insert(member);
                }
                match (negated, first) {
                    (false, Some(member)) => out.push(member),
                    _ => out.push('~'),
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A path with `//` collapsed and no trailing `/` (but `/` itself).
fn normal(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", parts.join("/"))
}

/// `{a,b}` alternatives expanded, outermost first; at most
/// [`PER_PATTERN`] results.
fn expand_braces(glob: &str) -> Vec<String> {
    let Some(open) = glob.find('{') else { return vec![glob.to_owned()] };
    let mut depth = 0;
    let mut close = None;
    let mut commas = Vec::new();
    for (index, c) in glob.char_indices().skip_while(|(i, _)| *i < open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(index);
                    break;
                }
            }
            ',' if depth == 1 => commas.push(index),
            _ => {}
        }
    }
    let Some(close) = close else { return vec![glob.to_owned()] };
    let (head, tail) = (glob.get(..open).unwrap_or_default(), glob.get(close + 1..).unwrap_or_default());
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    let mut out = Vec::new();
    for pair in bounds.windows(2) {
        let [start, end] = pair else { continue };
        let alternative = glob.get(start + 1..*end).unwrap_or_default();
        for expanded in expand_braces(&format!("{head}{alternative}{tail}")) {
            if out.len() >= PER_PATTERN {
                return out;
            }
            out.push(expanded);
        }
    }
    out
}

/// A host pattern's instances: the host itself and a subdomain of it, or
/// for `*.d` a subdomain, a deeper one and the apex `d`.
fn host_instances(pattern: &str) -> Vec<String> {
    if pattern == "*" {
        return vec![format!("{FILL}.invalid")];
    }
    match pattern.strip_prefix("*.") {
        Some(apex) => vec![format!("{FILL}.{apex}"), format!("{FILL}.{FILL}.{apex}"), apex.to_owned()],
        None => vec![pattern.to_owned(), format!("{FILL}.{pattern}")],
    }
}

/// Each range's ends and the ports just outside; for every port, the
/// common ones.
fn port_instances(ports: &[(u16, u16)]) -> Vec<u16> {
    if ports.is_empty() {
        return vec![443, 80, 22];
    }
    let mut out = BTreeSet::new();
    for &(low, high) in ports {
        out.extend([low, high]);
        out.extend(low.checked_sub(1));
        out.extend(high.checked_add(1));
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Defaults, Effect, Rule};

    fn argv(tokens: Vec<TokenPattern>) -> Vec<String> {
        argv_instances(&ArgvPattern { tokens }).into_iter().map(|a| a.join(" ")).collect()
    }

    fn lit(text: &str) -> TokenPattern {
        TokenPattern::OneOf(vec![Atom::Literal(text.to_owned())])
    }

    #[test]
    fn argv_instances_fill_wildcards_and_probe_the_edges() {
        let tokens = vec![
            lit("git"),
            TokenPattern::OneOf(vec![Atom::Literal("push".into()), Atom::Glob("pu*".into())]),
            TokenPattern::Any,
            TokenPattern::Rest,
        ];
        assert_eq!(argv(tokens), ["git push x", "git pux x", "git pu x", "git push x x", "git push", "git push x x"]);
    }

    #[test]
    fn path_instances_cover_the_tree_its_root_and_a_sibling() {
        assert_eq!(path_instances("/w/src/**"), ["/w/src", "/w/src/x/x", "/w/srcx"]);
        assert_eq!(path_instances("**/.env"), ["/.env", "/x/x/.env"]);
        assert_eq!(path_instances("/h/.{ssh,aws}/*"), ["/h/.ssh/x", "/h/.sshx", "/h/.aws/x", "/h/.awsx"]);
        assert_eq!(path_instances("/d/[!a]b[cd]"), ["/d/~bc", "/dx"]);
        assert_eq!(path_instances("/**"), ["/", "/x/x"]);
    }

    #[test]
    fn two_argv_patterns_unify_into_an_argv_both_match() {
        let rest = TokenPattern::Rest;
        let force = TokenPattern::OneOf(vec![Atom::Literal("--force".into()), Atom::Literal("-f".into())]);
        // `git push origin ..` and `git push .. --force ..`
        let a = [lit("git"), lit("push"), lit("origin"), rest.clone()];
        let b = [lit("git"), lit("push"), rest.clone(), force, rest.clone()];
        assert_eq!(unify(&a, &b).map(|argv| argv.join(" ")).as_deref(), Some("git push origin --force"));
        let glob = TokenPattern::OneOf(vec![Atom::Glob("py*".into())]);
        assert_eq!(
            unify(&[glob, rest.clone()], &[lit("python3"), lit("-c")]),
            Some(vec!["python3".into(), "-c".into()])
        );
        assert_eq!(unify(&[lit("git"), lit("status")], &[lit("git"), lit("push"), rest]), None);
        assert!(atom_matches(&Atom::Glob("a\\*".into()), "a*"));
        assert!(!atom_matches(&Atom::Glob("a\\*".into()), "ab"));
    }

    #[test]
    fn hosts_and_ports_probe_both_sides_of_each_boundary() {
        assert_eq!(host_instances("*.example.com"), ["x.example.com", "x.x.example.com", "example.com"]);
        assert_eq!(host_instances("github.com"), ["github.com", "x.github.com"]);
        assert_eq!(port_instances(&[(80, 80), (8000, 8080)]), [79, 80, 81, 7999, 8000, 8080, 8081]);
        assert_eq!(port_instances(&[(0, 65535)]), [0, 65535]);
    }

    #[test]
    fn a_policy_probes_every_rule_once() {
        let rule = |id: &str, effect: Effect, matcher: Matcher| Rule {
            id: id.into(),
            effect,
            because: None,
            matchers: vec![matcher],
            sandboxed_only: false,
            running: None,
        };
        let path = |read, write| Matcher::Path { read, write, glob: "/w/**".to_owned() };
        let policy = Policy {
            name: "p".to_owned(),
            rules: vec![
                rule("a", Effect::Allow, path(true, false)),
                rule("b", Effect::Deny, path(true, true)),
                rule("c", Effect::Allow, Matcher::Tool { glob: "mcp__gh__*".to_owned() }),
            ],
            defaults: Defaults::default(),
        };
        let probes: Vec<Probe> = probes([&policy]).into_iter().collect();
        assert_eq!(probes.len(), 8, "{probes:?}");
        assert!(probes.contains(&Probe::Write("/w/x/x".into())));
        assert!(probes.contains(&Probe::Tool("mcp__gh__".into())));
        // An any-depth pattern is also tried in the other rules' directories.
        let env = Policy {
            rules: vec![rule(
                "e",
                Effect::Deny,
                Matcher::Path { read: true, write: false, glob: "**/.env".to_owned() },
            )],
            ..policy.clone()
        };
        let crossed = super::probes([&policy, &env]);
        assert!(crossed.contains(&Probe::Read("/w/.env".into())), "{crossed:?}");
    }
}
