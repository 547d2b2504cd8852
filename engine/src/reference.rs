//! The reference interpreter: rules evaluated one by one, straight from the
//! written semantics. Slow on purpose; it is the oracle the decision graph
//! is tested against, and the source of `explain`'s per-rule trace.

use serde::{Deserialize, Serialize};

use crate::decision::{Decision, Matches, Verdict, combine, verdict};
use crate::pattern::{self, Mode, argv_matches, compile_atom_globs, host_matches, path_globs, port_matches};
use crate::policy::{Effect, Matcher, Policy, Rule};
use crate::request::Request;

/// Decides `request` against `policies` by trying every rule.
pub fn decide(policies: &[Policy], request: &Request) -> Decision {
    let verdicts: Vec<Verdict> = policies
        .iter()
        .map(|policy| {
            let mut matches = Matches::default();
            for (index, rule) in policy.rules.iter().enumerate() {
                if rule_matches(rule, request, certain_mode(rule)).is_ok() {
                    matches.certain.push(index);
                } else if rule.effect != Effect::Allow && rule_matches(rule, request, Mode::STRICT_POSSIBLE).is_ok() {
                    matches.possible.push(index);
                }
            }
            verdict(policy, request.kind(), matches)
        })
        .collect();
    combine(policies, &verdicts)
}

/// One rule considered for a request, and why it did or did not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEntry {
    pub policy: usize,
    pub rule: usize,
    pub id: String,
    pub effect: Effect,
    pub matched: bool,
    pub reason: String,
    /// The rule is about another program: the least informative miss,
    /// which renderers may fold away.
    pub program_differs: bool,
}

/// Why a rule or matcher did not match.
struct Miss {
    reason: String,
    program_differs: bool,
}

impl Miss {
    fn new(reason: String) -> Miss {
        Miss { reason, program_differs: false }
    }
}

/// Every rule of the request's kind, in policy order, with the reason it
/// matched or not.
pub fn trace(policies: &[Policy], request: &Request) -> Vec<TraceEntry> {
    let mut entries = Vec::new();
    for (policy_index, policy) in policies.iter().enumerate() {
        for (rule_index, rule) in policy.rules.iter().enumerate() {
            if !rule.applies_to(request.kind()) {
                continue;
            }
            let (matched, reason, program_differs) = match rule_matches(rule, request, certain_mode(rule)) {
                Ok(reason) => (true, reason, false),
                Err(miss) if rule.effect != Effect::Allow => match rule_matches(rule, request, Mode::STRICT_POSSIBLE) {
                    Ok(reason) => (true, format!("{reason}, for some values only known at run time"), false),
                    Err(_) => (false, miss.reason, miss.program_differs),
                },
                Err(miss) => (false, miss.reason, miss.program_differs),
            };
            entries.push(TraceEntry {
                policy: policy_index,
                rule: rule_index,
                id: rule.id.to_string(),
                effect: rule.effect,
                matched,
                reason,
                program_differs,
            });
        }
    }
    entries
}

fn certain_mode(rule: &Rule) -> Mode {
    match rule.effect {
        Effect::Allow if rule.sandboxed_only => Mode::CONTAINED,
        Effect::Allow => Mode::ALLOW,
        Effect::Prompt | Effect::Deny => Mode::STRICT_CERTAIN,
    }
}

/// `Ok(why)` when the rule matches, `Err(why not)` otherwise.
fn rule_matches(rule: &Rule, request: &Request, mode: Mode) -> Result<String, Miss> {
    if rule.running.is_some() {
        return Err(Miss::new("the rule applies only to a run whose command it names (`when running`)".to_owned()));
    }
    let mut misses = Vec::new();
    for matcher in rule.matchers.iter().filter(|m| m.applies_to(request.kind())) {
        match matcher_matches(matcher, mode, request) {
            Ok(reason) => return Ok(reason),
            Err(miss) => misses.push(miss),
        }
    }
    if misses.is_empty() {
        return Err(Miss::new(format!("the rule does not apply to {} requests", request.kind().as_str())));
    }
    Err(Miss {
        program_differs: misses.iter().all(|m| m.program_differs),
        reason: misses.into_iter().map(|m| m.reason).collect::<Vec<_>>().join("; "),
    })
}

fn matcher_matches(matcher: &Matcher, mode: Mode, request: &Request) -> Result<String, Miss> {
    match (matcher, request) {
        (Matcher::Exec { pattern }, Request::Exec(exec)) => {
            let globs = compile_atom_globs(&pattern.tokens);
            let tokens = pattern::tokens(exec);
            let program_ok = pattern.tokens.first().is_none_or(|first| {
                pattern::token_matches(
                    first,
                    globs.first().map(Vec::as_slice).unwrap_or_default(),
                    pattern::Token::Program,
                    exec,
                    Mode::STRICT_CERTAIN,
                )
            });
            if argv_matches(&pattern.tokens, &globs, &tokens, 0, exec, mode) {
                return Ok(format!("argv matches `{}`", describe_argv(pattern)));
            }
            if !mode.allow_rule
                && let Some(options) = pattern::option_pattern(&pattern.tokens)
                && pattern::options_match(&options, &pattern::options(exec, &tokens), exec, mode)
            {
                return Ok(format!("options and operands match `{}`", describe_argv(pattern)));
            }
            if !program_ok {
                return Err(Miss {
                    reason: format!("program `{}` is not `{}`", exec.program.spelled, describe_argv_head(pattern)),
                    program_differs: true,
                });
            }
            if mode.needs_trust && !exec.program.trusted {
                return Err(Miss::new(format!(
                    "program `{}` does not resolve into a trusted bin directory; allow rules only match trusted programs",
                    exec.program.spelled
                )));
            }
            Err(Miss::new(format!("arguments do not match `{}`", describe_argv(pattern))))
        }
        (Matcher::Path { glob, .. }, Request::Read { path } | Request::Write { path }) => {
            glob_match("path", glob, path)
        }
        (Matcher::Socket { glob }, Request::Unix { path }) => glob_match("socket path", glob, path),
        (Matcher::Net { host, ports }, Request::Net { host: given, port }) => {
            if !host_matches(host, given) {
                Err(Miss::new(format!("host does not match `{host}`")))
            } else if !port_matches(ports, *port) {
                Err(Miss::new(format!("port {port} is not among the rule's ports")))
            } else {
                Ok(format!("host matches `{host}`"))
            }
        }
        (Matcher::Tool { glob }, Request::Tool { name }) => {
            if pattern::token_glob(glob).is_ok_and(|g| g.is_match(name)) {
                Ok(format!("tool name matches `{glob}`"))
            } else {
                Err(Miss::new(format!("tool name does not match `{glob}`")))
            }
        }
        _ => Err(Miss::new("the rule does not apply to this kind of request".to_owned())),
    }
}

/// Whether `path` matches the path glob `glob`, said of `what`.
fn glob_match(what: &str, glob: &str, path: &str) -> Result<String, Miss> {
    let hit = path_globs(glob).iter().any(|g| pattern::path_glob(g).is_ok_and(|g| g.compile_matcher().is_match(path)));
    if hit { Ok(format!("{what} matches `{glob}`")) } else { Err(Miss::new(format!("{what} does not match `{glob}`"))) }
}

fn describe_argv(pattern: &crate::policy::ArgvPattern) -> String {
    pattern.tokens.iter().map(describe_token).collect::<Vec<_>>().join(" ")
}

fn describe_argv_head(pattern: &crate::policy::ArgvPattern) -> String {
    pattern.tokens.first().map(describe_token).unwrap_or_default()
}

fn describe_token(token: &crate::policy::TokenPattern) -> String {
    use crate::policy::TokenPattern;
    match token {
        TokenPattern::Any => "*".to_owned(),
        TokenPattern::Rest => "..".to_owned(),
        TokenPattern::OneOf(atoms) if atoms.len() == 1 => {
            atoms.first().map(|a| a.text().to_owned()).unwrap_or_default()
        }
        TokenPattern::OneOf(atoms) => format!("[{}]", atoms.iter().map(|a| a.text()).collect::<Vec<_>>().join(" | ")),
    }
}
