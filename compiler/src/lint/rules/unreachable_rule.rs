//! VT101 `unreachable-rule`.

use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lint::cover::{CoverIndex, applies_whenever, covers};
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports a rule every request of which is also matched by a rule with a stricter effect.

## Why is this bad?
Decisions take the strictest matching effect whatever the order of rules, so the weaker rule never decides anything.
It usually means the author expected the later rule to win, as it would in a first-match language.

## Example
```
deny  exec git push ..
allow exec git push origin main
```

## Fix
Delete the weaker rule, or narrow the stricter one so that it no longer covers it.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let rules = &policy.policy.rules;
    let index = CoverIndex::new(rules);
    for (rule_index, rule) in rules.iter().enumerate() {
        let Some(first) = rule.matchers.first() else { continue };
        // Candidates that cover the first matcher; each must cover the rest.
        let shadow = index.candidates(first).into_iter().find(|&other_index| {
            rules.get(other_index).is_some_and(|other| {
                other_index != rule_index
                    && other.effect > rule.effect
                    && applies_whenever(other, rule)
                    && rule.matchers.iter().all(|m| other.matchers.iter().any(|o| covers(o, m)))
            })
        });
        let (Some(other_index), Some(source)) = (shadow, policy.sources.get(rule_index)) else {
            continue;
        };
        let Some(other) = rules.get(other_index) else { continue };
        let location = policy.sources.get(other_index).map(|s| s.location()).unwrap_or_default();
        diagnostics.push(
            Diagnostic::warning(
                codes::UNREACHABLE_RULE,
                format!(
                    "rule `{}` never decides: `{}` ({}) matches everything it does",
                    rule.id,
                    other.id,
                    other.effect.as_str()
                ),
            )
            .at(&source.file, source.span)
            .with_label(format!("overridden by the stricter rule at {location}"))
            .with_help("decisions take the strictest matching rule, whatever the order"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn allow_under_a_broader_deny_is_reported() {
        check_diagnostics(
            "deny exec git push ..\nallow exec git push origin main\n",
            &["VT101 3:1 rule `test:3` never decides: `test:2` (deny) matches everything it does"],
        );
    }

    #[test]
    fn narrower_deny_inside_an_allow_is_fine() {
        check_diagnostics("allow write \"/w/**\"\ndeny write \"/w/.git/**\"\n", &[]);
        check_diagnostics(
            "deny write \"/w/**\"\nallow write \"/w/src/**\"\n",
            &["VT101 3:1 rule `test:3` never decides: `test:2` (deny) matches everything it does"],
        );
    }
}
