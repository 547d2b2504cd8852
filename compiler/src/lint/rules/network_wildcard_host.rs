//! VT102 `network-wildcard-host`.

use vtpolicy_engine::{Effect, Matcher};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports an `allow net` rule whose host pattern is `*`.

## Why is this bad?
It allows connections to every host, cloud metadata endpoints and exfiltration targets included, unless another rule denies them.

## Example
```
allow net \"*\" port 443
```

## Fix
List the hosts the agent needs, e.g. `allow net \"crates.io\", \"*.crates.io\" port 443`.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    for (rule, source) in policy.policy.rules.iter().zip(&policy.sources) {
        let wildcard = rule.matchers.iter().any(|m| matches!(m, Matcher::Net { host, .. } if host == "*"));
        if rule.effect == Effect::Allow && wildcard {
            diagnostics.push(
                Diagnostic::warning(
                    codes::NETWORK_WILDCARD_HOST,
                    format!("rule `{}` allows connections to every host", rule.id),
                )
                .at(&source.file, source.span)
                .with_label("`*` matches any host")
                .with_help("list the hosts the agent needs"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn wildcard_allow_is_reported() {
        check_diagnostics("allow net \"*\" port 443\n", &["VT102 2:1 rule `test:2` allows connections to every host"]);
        check_diagnostics("deny net \"*\" port 25\n", &[]);
        check_diagnostics("allow net \"crates.io\", \"*.crates.io\"\n", &[]);
    }
}
