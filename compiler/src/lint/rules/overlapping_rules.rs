//! VT114 `overlapping-rules`.

use serde_json::json;
use vtpolicy_engine::witness::{Probe, probe_request, shared_candidates};
use vtpolicy_engine::{Atom, Matcher, Policy, Rule, TokenPattern, reference};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lint::cover::{CoverIndex, covers};
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports two rules with different effects that overlap in part: some calls match both, and each also matches calls the other does not. The warning gives one call both match, as request JSON.

## Why is this bad?
On the overlap the stricter rule decides, whatever the order. A rule wholly inside another is a plain exception (a deny carved out of an allow) and is not reported; a partial overlap is usually an accident of how two rules were spelled, and its calls are decided by a rule their author did not have in mind.

## Example
```
allow exec git push origin ..
prompt exec git push .. --force ..
```
`git push origin --force` matches both; the prompt decides.

## Fix
Narrow one rule so that the overlap goes, or make one contain the other. If the overlap is meant, say so: `# vtpolicy: ignore VT114 reason`.
";

/// Candidates compared per rule: enough for any hand-written policy, and a
/// bound for generated ones of 100,000 rules.
const CANDIDATES_PER_RULE: usize = 64;

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let rules = &policy.policy.rules;
    let index = CoverIndex::new(rules);
    let own = |i: usize| policy.own_rule_source(i);
    let mut compared = std::collections::HashSet::new();
    for (narrow_index, narrow) in rules.iter().enumerate() {
        let Some(first) = narrow.matchers.first() else { continue };
        if narrow.running.is_some() {
            continue;
        }
        // The index offers the rules that may meet this one: the same
        // program or a glob one, an enclosing directory, a wildcard tool,
        // a `*.domain` above the host.
        for other_index in index.candidates(first).into_iter().take(CANDIDATES_PER_RULE) {
            let Some(other) = rules.get(other_index) else { continue };
            if other_index == narrow_index || other.effect == narrow.effect || other.running.is_some() {
                continue;
            }
            let (weaker, stricter, weaker_index, stricter_index) = if other.effect < narrow.effect {
                (other, narrow, other_index, narrow_index)
            } else {
                (narrow, other, narrow_index, other_index)
            };
            // A rule inside the other is an exception or VT101's, not an
            // overlap.
            let inside = |a: &Rule, b: &Rule| a.matchers.iter().all(|m| b.matchers.iter().any(|o| covers(o, m)));
            if inside(weaker, stricter) || inside(stricter, weaker) {
                continue;
            }
            // Reported once, at a rule of this file: the weaker one, whose
            // calls the other takes, when it is.
            let Some((at, other_at)) = own(weaker_index)
                .map(|s| (s, policy.sources.get(stricter_index)))
                .or_else(|| own(stricter_index).map(|s| (s, policy.sources.get(weaker_index))))
            else {
                continue;
            };
            // A pair may come up from either of its rules.
            if !compared.insert((weaker_index, stricter_index)) {
                continue;
            }
            let Some(witness) = shared_call(weaker, stricter) else { continue };
            let (weaker_id, stricter_id) = (&weaker.id, &stricter.id);
            diagnostics.push(
                Diagnostic::warning(
                    codes::OVERLAPPING_RULES,
                    format!(
                        "rules `{weaker_id}` ({}) and `{stricter_id}` ({}) overlap: both match {}, where `{stricter_id}` decides",
                        weaker.effect.as_str(),
                        stricter.effect.as_str(),
                        describe(&witness)
                    ),
                )
                .at(&at.file, at.span)
                .with_label(format!(
                    "overlaps the rule at {}",
                    other_at.map(|s| s.location()).unwrap_or_default()
                ))
                .with_help(format!(
                    "a call both match: {}; narrow one rule, or make one contain the other",
                    request_json(&witness)
                )),
            );
        }
    }
}

/// A call both rules match, as the engine matches a request written so,
/// when each rule also matches a call the other does not (the overlap is
/// then partial: witnessed, not assumed).
fn shared_call(a: &Rule, b: &Rule) -> Option<Probe> {
    let pair =
        Policy { name: String::new(), rules: vec![plain(a), plain(b)], defaults: vtpolicy_engine::Defaults::default() };
    // Which of the two rules match a probe.
    let matching = |probe: &Probe| -> (bool, bool) {
        let trace = reference::trace(std::slice::from_ref(&pair), &probe_request(probe));
        let matched = |rule: usize| trace.iter().any(|e| e.rule == rule && e.matched);
        (matched(0), matched(1))
    };
    let own_calls =
        |rule: &Rule| -> Vec<Probe> { rule.matchers.iter().flat_map(|m| shared_candidates(m, m)).collect() };
    let only = |rule: &Rule, which: (bool, bool)| own_calls(rule).iter().any(|p| matching(p) == which);
    if !only(a, (true, false)) || !only(b, (false, true)) {
        return None;
    }
    a.matchers.iter().flat_map(|ma| b.matchers.iter().map(move |mb| (ma, mb))).find_map(|(ma, mb)| {
        shared_candidates(ma, mb).into_iter().find(|probe| {
            let named = match probe {
                Probe::Exec(argv) => argv.first().is_some_and(|p| names_program(a, p) || names_program(b, p)),
                _ => true,
            };
            named && matching(probe) == (true, true)
        })
    })
}

/// Whether a rule names `program` itself: literally, or by taking any
/// program. A program two globs alone meet in (`mkfs.mvnw` of `"*mvnw"`
/// and `"mkfs.*"`) is an artefact of their spelling, not an overlap
/// anyone wrote.
fn names_program(rule: &Rule, program: &str) -> bool {
    rule.matchers.iter().any(|m| match m {
        Matcher::Exec { pattern } => match pattern.tokens.first() {
            Some(TokenPattern::OneOf(atoms)) => {
                atoms.iter().any(|a| matches!(a, Atom::Literal(text) if text == program) || a.text() == "*")
            }
            Some(TokenPattern::Any | TokenPattern::Rest) | None => true,
        },
        _ => false,
    })
}

/// The rule with its scope lifted: the overlap of the patterns is what is
/// asked.
fn plain(rule: &Rule) -> Rule {
    Rule { sandboxed_only: false, running: None, ..rule.clone() }
}

fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Exec(argv) => format!("`{}`", argv.join(" ")),
        Probe::Read(path) => format!("reading `{path}`"),
        Probe::Write(path) => format!("writing `{path}`"),
        Probe::Connect { host, port } => format!("`{host}` port {port}"),
        Probe::Socket(path) => format!("the socket `{path}`"),
        Probe::Tool(name) => format!("the tool `{name}`"),
    }
}

fn request_json(probe: &Probe) -> String {
    let value = match probe {
        Probe::Exec(argv) => json!({ "kind": "exec", "argv": argv }),
        Probe::Read(path) => json!({ "kind": "read", "path": path }),
        Probe::Write(path) => json!({ "kind": "write", "path": path }),
        Probe::Connect { host, port } => json!({ "kind": "net", "host": host, "port": port }),
        Probe::Socket(path) => json!({ "kind": "net", "unix": path }),
        Probe::Tool(name) => json!({ "kind": "tool", "name": name }),
    };
    value.to_string()
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn a_partial_overlap_is_reported_with_a_call_both_match() {
        check_diagnostics(
            "allow exec git push origin ..\nprompt exec git push .. --force ..\n",
            &[
                "VT114 2:1 rules `test:2` (allow) and `test:3` (prompt) overlap: both match `git push origin --force`, where `test:3` decides",
            ],
        );
    }

    #[test]
    fn hosts_and_tools_overlap_too() {
        check_diagnostics(
            "allow net \"*.example.com\", \"example.com\" port 443\ndeny net \"api.example.com\" port 80-8443\n",
            &[
                "VT114 2:1 rules `test:2` (allow) and `test:3` (deny) overlap: both match `api.example.com` port 443, where `test:3` decides",
            ],
        );
        check_diagnostics(
            "allow tool \"mcp__gh__*\"\ndeny tool \"mcp__*__delete\"\n",
            &[
                "VT114 2:1 rules `test:2` (allow) and `test:3` (deny) overlap: both match the tool `mcp__gh____delete`, where `test:3` decides",
            ],
        );
    }

    #[test]
    fn exceptions_and_disjoint_rules_are_not() {
        check_diagnostics("allow exec git ..\ndeny exec git push .. --force ..\n", &[]);
        check_diagnostics("allow exec git status ..\ndeny exec git push ..\n", &[]);
        check_diagnostics("allow write \"/w/**\"\ndeny write \"/w/.git/**\"\n", &[]);
        // Inside, though the cover test cannot tell: no call only the
        // deny matches.
        check_diagnostics("allow exec \"py*\" ..\ndeny exec python3 -c ..\n", &[]);
    }
}
