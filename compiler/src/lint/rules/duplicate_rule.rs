//! VT103 `duplicate-rule`.

use std::collections::HashMap;

use vtpolicy_engine::{Effect, Matcher};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports a rule whose patterns and effect repeat an earlier rule's exactly.

## Why is this bad?
The copy adds nothing; when one of the two is edited later, the other silently keeps the old behaviour.

## Example
```
allow exec git status
allow exec git status
```

## Fix
Delete one of them.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let rules = &policy.policy.rules;
    // Hashing keeps this linear: policies may hold 100,000 rules.
    let mut first_seen: HashMap<(Effect, &[Matcher]), usize> = HashMap::new();
    for (index, rule) in rules.iter().enumerate() {
        let earlier = *first_seen.entry((rule.effect, rule.matchers.as_slice())).or_insert(index);
        if earlier == index {
            continue;
        }
        if let Some(source) = policy.sources.get(index) {
            let first = policy.sources.get(earlier).map(|s| s.location()).unwrap_or_default();
            let first_id = rules.get(earlier).map(|r| &*r.id).unwrap_or_default();
            diagnostics.push(
                Diagnostic::warning(codes::DUPLICATE_RULE, format!("rule `{}` repeats rule `{first_id}`", rule.id))
                    .at(&source.file, source.span)
                    .with_label(format!("same patterns and effect as {first}")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn repeated_rule_is_reported() {
        check_diagnostics(
            "allow exec git status\nallow exec git status\n",
            &["VT103 3:1 rule `test:3` repeats rule `test:2`"],
        );
        check_diagnostics(
            "allow exec git status\nprompt exec git status\n",
            &["VT101 2:1 rule `test:2` never decides: `test:3` (prompt) matches everything it does"],
        );
    }
}
