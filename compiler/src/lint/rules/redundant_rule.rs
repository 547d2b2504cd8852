//! VT112 `redundant-rule`.

use vtpolicy_engine::{Effect, Matcher, Rule};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lint::cover::{CoverIndex, applies_whenever, covers};
use crate::lower::CompiledPolicy;

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

## Fix
Delete the narrower rule. A rule equal to the default is worth keeping only with an `id` and a `because` that explain it, and then a `# vtpolicy: ignore VT112 reason` comment says so.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let rules = &policy.policy.rules;
    let index = CoverIndex::new(rules);
    for (rule_index, rule) in rules.iter().enumerate() {
        // Rules of the policies it extends are reported where they are
        // written, when those are checked.
        let Some(source) = policy.sources.get(rule_index).filter(|s| s.file.name == policy.source.name) else {
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
        } else if equals_default(policy, rule) {
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
            .with_help("delete the rule, or keep it with a `because` and a `# vtpolicy: ignore VT112 reason` comment")
        } else {
            continue;
        };
        diagnostics.push(diagnostic);
    }
}

/// The rule's effect is the policy's default for every kind it applies
/// to, and no rule with a more permissive effect may match a call it
/// matches (so the strictest matching effect is the default either way).
fn equals_default(policy: &CompiledPolicy, rule: &Rule) -> bool {
    let kinds: Vec<_> = vtpolicy_engine::RequestKind::ALL.iter().filter(|&&kind| rule.applies_to(kind)).collect();
    if kinds.is_empty() || rule.sandboxed_only || rule.running.is_some() {
        return false;
    }
    // A path rule applies to reads or writes; its default is that kind's.
    if !kinds.iter().all(|&&kind| policy.policy.defaults.get(kind) == Some(rule.effect)) {
        return false;
    }
    rule.effect == Effect::Allow
        || !policy.policy.rules.iter().any(|other| {
            other.effect < rule.effect && other.matchers.iter().any(|o| rule.matchers.iter().any(|m| may_overlap(o, m)))
        })
}

/// Whether two matchers may match one call; `true` unless their literal
/// parts rule it out.
fn may_overlap(a: &Matcher, b: &Matcher) -> bool {
    match (a, b) {
        (Matcher::Exec { pattern: a }, Matcher::Exec { pattern: b }) => {
            match (program_literals(&a.tokens), program_literals(&b.tokens)) {
                (Some(a), Some(b)) => a.iter().any(|p| b.contains(p)),
                _ => true,
            }
        }
        (Matcher::Path { read: ar, write: aw, glob: a }, Matcher::Path { read: br, write: bw, glob: b }) => {
            ((*ar && *br) || (*aw && *bw)) && prefixes_related(a, b)
        }
        (Matcher::Socket { glob: a }, Matcher::Socket { glob: b }) => prefixes_related(a, b),
        (Matcher::Net { host: a, .. }, Matcher::Net { host: b, .. }) => a == b || a.contains('*') || b.contains('*'),
        (Matcher::Tool { glob: a }, Matcher::Tool { glob: b }) => {
            a == b || a.contains(['*', '?']) || b.contains(['*', '?'])
        }
        _ => false,
    }
}

/// The literal program names a pattern's first position takes; `None`
/// for a wildcard or glob.
fn program_literals(tokens: &[vtpolicy_engine::TokenPattern]) -> Option<Vec<&str>> {
    match tokens.first()? {
        vtpolicy_engine::TokenPattern::OneOf(atoms) => atoms
            .iter()
            .map(|atom| match atom {
                vtpolicy_engine::Atom::Literal(text) => Some(text.as_str()),
                vtpolicy_engine::Atom::Glob(_) => None,
            })
            .collect(),
        _ => None,
    }
}

/// Whether the literal directories two globs start with lie one within
/// the other (only then can they match one path).
fn prefixes_related(a: &str, b: &str) -> bool {
    let literal = |glob: &str| -> Vec<String> {
        glob.split('/').take_while(|s| !s.contains(['*', '?', '[', '{'])).map(str::to_owned).collect()
    };
    // Segments with a wildcard end the literal part, so its segments are
    // whole names.
    let (a, b) = (literal(a), literal(b));
    let shorter = a.len().min(b.len());
    a.get(..shorter) == b.get(..shorter)
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
