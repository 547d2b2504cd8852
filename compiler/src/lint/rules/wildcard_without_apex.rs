//! VT109 `wildcard-without-apex`.

use vtpolicy_engine::Matcher;
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports a host pattern `*.example.com` when no rule of the same effect names `example.com` itself.

## Why is this bad?
`*.example.com` matches the subdomains only, not `example.com`: an allow leaves the site itself asking,
and, worse, a deny leaves it reachable.

## Example
```
deny net \"*.tracker.example\"
```

## Fix
Name the apex too: `deny net \"tracker.example\", \"*.tracker.example\"`, or suppress the warning with
a reason when only the subdomains are meant: `# vtpolicy: ignore VT109 the apex serves no API`.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    let hosts = |effect| {
        policy.policy.rules.iter().filter(move |r| r.effect == effect).flat_map(|r| &r.matchers).filter_map(|m| match m
        {
            Matcher::Net { host, .. } => Some(host.as_str()),
            _ => None,
        })
    };
    for (rule, source) in policy.policy.rules.iter().zip(&policy.sources) {
        let missing: Vec<&str> = rule
            .matchers
            .iter()
            .filter_map(|m| match m {
                Matcher::Net { host, .. } => host.strip_prefix("*."),
                _ => None,
            })
            .filter(|apex| !hosts(rule.effect).any(|host| host == *apex || host == "*"))
            .collect();
        if let Some(first) = missing.first() {
            let names: Vec<String> = missing.iter().map(|apex| format!("`{apex}`")).collect();
            diagnostics.push(
                Diagnostic::warning(
                    codes::WILDCARD_WITHOUT_APEX,
                    format!("rule `{}` names the subdomains of {} but not the host itself", rule.id, names.join(", ")),
                )
                .at(&source.file, source.span)
                .with_label(format!("`*.{first}` does not match `{first}`"))
                .with_help(format!("add `\"{first}\"`, or suppress with a reason if only the subdomains are meant")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn a_wildcard_without_its_apex_is_reported() {
        check_diagnostics(
            "deny net \"*.tracker.example\"\n",
            &["VT109 2:1 rule `test:2` names the subdomains of `tracker.example` but not the host itself"],
        );
        check_diagnostics("allow net \"crates.io\", \"*.crates.io\" port 443\n", &[]);
        check_diagnostics("allow net \"*.crates.io\" port 443\nallow net \"crates.io\" port 443\n", &[]);
        // A deny of the apex does not cover an allow's subdomains.
        check_diagnostics(
            "allow net \"*.a.example\"\ndeny net \"a.example\"\n",
            &["VT109 2:1 rule `test:2` names the subdomains of `a.example` but not the host itself"],
        );
    }
}
