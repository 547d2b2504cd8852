//! VT112 `redundant-rule`.

use std::collections::{HashMap, HashSet};

use vtpolicy_engine::{Effect, Matcher, Rule};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lint::cover::{CoverIndex, applies_whenever, covers};
use crate::lower::CompiledPolicy;
use crate::overlap::Scope;

pub(crate) const DOC: &str = "## What it does
Reports a rule that changes no decision: another rule with the same effect matches everything it does, or its effect is the policy's default for its kind and no more permissive rule of the policy can match what it matches.

## Why is this bad?
Deleting the rule would decide every call the same. A reader takes it for a decision the policy makes, and an edit of the rule that covers it, or of the default, silently changes what it seemed to say.

## Example
```
default prompt
allow exec git status ..
allow exec git status --short
prompt exec npm publish ..
```

A rule equal to the default that carries a `because` is not reported: it is kept on purpose, typically in a policy others extend, where it still caps their allow rules (strictest wins).

## Fix
Delete the narrower rule. Keep a rule equal to the default only with a `because` that says why.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let rules = &policy.policy.rules;
    let index = CoverIndex::new(rules);
    // What rules more permissive than a prompt (allow), and than a deny
    // (allow, prompt), may match.
    let weaker_than_prompt = Reach::of(rules.iter().filter(|r| r.effect == Effect::Allow));
    let weaker_than_deny = Reach::of(rules.iter().filter(|r| r.effect < Effect::Deny));
    for (rule_index, rule) in rules.iter().enumerate() {
        // Rules of the policies it extends are reported where they are
        // written, when those are checked.
        let Some(source) = policy.own_rule_source(rule_index) else {
            continue;
        };
        let Some(first) = rule.matchers.first() else { continue };
        let covering = index.candidates(first).into_iter().find(|&other_index| {
            rules.get(other_index).is_some_and(|other| {
                other_index != rule_index
                    && other.effect == rule.effect
                    // Equal rules are VT103's.
                    && other.matchers != rule.matchers
                    && applies_whenever(other, rule)
                    && rule.matchers.iter().all(|m| other.matchers.iter().any(|o| covers(o, m)))
            })
        });
        let weaker = match rule.effect {
            Effect::Allow => None,
            Effect::Prompt => Some(&weaker_than_prompt),
            Effect::Deny => Some(&weaker_than_deny),
        };
        let diagnostic = if let Some(other) = covering.and_then(|i| Some((rules.get(i)?, policy.sources.get(i)?))) {
            let (other, at) = other;
            Diagnostic::warning(
                codes::REDUNDANT_RULE,
                format!(
                    "rule `{}` changes nothing: `{}` ({}) matches everything it does",
                    rule.id,
                    other.id,
                    rule.effect.as_str()
                ),
            )
            .at(&source.file, source.span)
            .with_label(format!("covered by the rule at {}", at.location()))
            .with_help("delete the narrower rule")
        } else if rule.because.is_none()
            && is_default(policy, rule)
            && !weaker.is_some_and(|reach| reach.may_match(rule))
        {
            Diagnostic::warning(
                codes::REDUNDANT_RULE,
                format!(
                    "rule `{}` changes nothing: `{}` is already the default and no more permissive rule can match what it matches",
                    rule.id,
                    rule.effect.as_str()
                ),
            )
            .at(&source.file, source.span)
            .with_label("the default decides these calls the same")
            .with_help("delete the rule, or say with a `because` why it stays (a policy that extends this one is capped by it)")
        } else {
            continue;
        };
        diagnostics.push(diagnostic);
    }
}

/// The rule's effect is the policy's default for every kind it applies to
/// (a path rule's reads or writes take that kind's default). Then it
/// changes nothing unless a more permissive rule may match a call it
/// matches: the strictest matching effect is the default either way.
fn is_default(policy: &CompiledPolicy, rule: &Rule) -> bool {
    let mut kinds = vtpolicy_engine::RequestKind::ALL.iter().filter(|&&kind| rule.applies_to(kind)).peekable();
    kinds.peek().is_some()
        && !rule.sandboxed_only
        && rule.running.is_none()
        && kinds.all(|&kind| policy.policy.defaults.get(kind) == Some(rule.effect))
}

/// What a set of rules may match, by the literal parts of their patterns
/// (the [`Scope`] test, shared with the native-rule export), indexed so
/// that a policy of 100,000 rules is checked in linear time: commands by
/// program, paths by their literal directories, hosts by name.
#[derive(Default)]
struct Reach {
    /// Command scopes by the program's base name; those whose program is a
    /// glob or a wildcard apart.
    programs: HashMap<String, Vec<Scope>>,
    any_program: Vec<Scope>,
    /// Per access (read, write, socket): the literal directories path
    /// globs start with, and every ancestor of those.
    paths: [HashSet<String>; 3],
    path_ancestors: [HashSet<String>; 3],
    hosts: HashSet<String>,
    any_host: bool,
    tools: Vec<Scope>,
}

const READ: usize = 0;
const WRITE: usize = 1;
const SOCKET: usize = 2;

impl Reach {
    fn of<'a>(rules: impl Iterator<Item = &'a Rule>) -> Reach {
        let mut reach = Reach::default();
        for matcher in rules.flat_map(|r| &r.matchers) {
            match matcher {
                Matcher::Exec { pattern } => match pattern.program_literals() {
                    Some(names) => {
                        for name in names {
                            reach.programs.entry(base_name(name).to_owned()).or_default().push(Scope::of(matcher));
                        }
                    }
                    None => reach.any_program.push(Scope::of(matcher)),
                },
                Matcher::Path { read, write, glob } => {
                    for (access, on) in [(READ, *read), (WRITE, *write)] {
                        if on {
                            reach.add_path(access, glob);
                        }
                    }
                }
                Matcher::Socket { glob } => reach.add_path(SOCKET, glob),
                Matcher::Net { host, .. } if host.contains('*') => reach.any_host = true,
                Matcher::Net { host, .. } => {
                    reach.hosts.insert(host.clone());
                }
                Matcher::Tool { .. } => reach.tools.push(Scope::of(matcher)),
            }
        }
        reach
    }

    fn add_path(&mut self, access: usize, glob: &str) {
        let prefix = vtpolicy_engine::glob_literal_dir(glob);
        let mut ancestor = prefix;
        if let Some(set) = self.path_ancestors.get_mut(access) {
            loop {
                set.insert(ancestor.to_owned());
                match ancestor.rsplit_once('/') {
                    Some((parent, _)) => ancestor = parent,
                    None => break,
                }
            }
        }
        if let Some(set) = self.paths.get_mut(access) {
            set.insert(prefix.to_owned());
        }
    }

    /// Whether a rule of the set may match a call `rule` matches: `true`
    /// unless their literal parts rule it out.
    fn may_match(&self, rule: &Rule) -> bool {
        rule.matchers.iter().any(|matcher| match matcher {
            Matcher::Exec { pattern } => {
                let scope = Scope::of(matcher);
                let overlaps = |scopes: &[Scope]| scopes.iter().any(|s| s.may_overlap(&scope));
                overlaps(&self.any_program)
                    || match pattern.program_literals() {
                        Some(names) => {
                            names.iter().any(|n| self.programs.get(base_name(n)).is_some_and(|scopes| overlaps(scopes)))
                        }
                        // A glob program: any command rule may overlap it.
                        None => self.programs.values().any(|scopes| overlaps(scopes)),
                    }
            }
            Matcher::Path { read, write, glob } => {
                (*read && self.path_related(READ, glob)) || (*write && self.path_related(WRITE, glob))
            }
            Matcher::Socket { glob } => self.path_related(SOCKET, glob),
            Matcher::Net { host, .. } => {
                self.any_host || (host.contains('*') && !self.hosts.is_empty()) || self.hosts.contains(host)
            }
            Matcher::Tool { .. } => {
                let scope = Scope::of(matcher);
                self.tools.iter().any(|s| s.may_overlap(&scope))
            }
        })
    }

    /// Whether a glob of the set and `glob` start in directories one of
    /// which lies within the other: only then can they match one path.
    fn path_related(&self, access: usize, glob: &str) -> bool {
        let prefix = vtpolicy_engine::glob_literal_dir(glob);
        if self.path_ancestors.get(access).is_some_and(|set| set.contains(prefix)) {
            return true;
        }
        let Some(paths) = self.paths.get(access) else { return false };
        let mut ancestor = prefix;
        loop {
            if paths.contains(ancestor) {
                return true;
            }
            match ancestor.rsplit_once('/') {
                Some((parent, _)) => ancestor = parent,
                None => return false,
            }
        }
    }
}

/// The name a program is matched by (`git` of `/usr/bin/git`), as
/// [`Scope`] compares programs.
fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn a_rule_covered_by_one_of_the_same_effect_is_reported() {
        check_diagnostics(
            "allow exec git status ..\nallow exec git status --short\n",
            &["VT112 3:1 rule `test:3` changes nothing: `test:2` (allow) matches everything it does"],
        );
        check_diagnostics(
            "deny write \"/w/**\"\ndeny write \"/w/.git/**\"\n",
            &["VT112 3:1 rule `test:3` changes nothing: `test:2` (deny) matches everything it does"],
        );
        // Only outside the sandbox: not covered by a sandboxed-only rule.
        check_diagnostics("allow exec make ..\n    when sandboxed\nallow exec make test\n", &[]);
    }

    #[test]
    fn a_rule_equal_to_the_default_is_reported_unless_it_overrides_an_allow() {
        check_diagnostics(
            "default prompt\nprompt exec npm publish ..\n",
            &[
                "VT112 3:1 rule `test:3` changes nothing: `prompt` is already the default and no more permissive rule can match what it matches",
            ],
        );
        check_diagnostics("default prompt\nallow exec npm ..\nprompt exec npm publish ..\n", &[]);
        // Kept on purpose, and said so.
        check_diagnostics("default prompt\nprompt exec npm publish ..\n    because \"it publishes\"\n", &[]);
        // An allow of other tools leaves the MCP prompt equal to the default.
        check_diagnostics(
            "default prompt\nallow tool \"TodoWrite\"\nprompt tool \"mcp__*\"\n",
            &[
                "VT112 4:1 rule `test:4` changes nothing: `prompt` is already the default and no more permissive rule can match what it matches",
            ],
        );
        check_diagnostics("default prompt\nallow exec \"np*\" ..\nprompt exec npm publish ..\n", &[]);
        check_diagnostics("default read deny\nallow read \"/w/**\"\ndeny read \"/w/.env\"\n", &[]);
        check_diagnostics(
            "default read deny\nallow read \"/w/**\"\ndeny read \"/etc/shadow\"\n",
            &[
                "VT112 4:1 rule `test:4` changes nothing: `deny` is already the default and no more permissive rule can match what it matches",
            ],
        );
    }
}
