//! VT110 `broad-allow`.

use vtpolicy_engine::{Atom, Effect, Matcher, TokenPattern};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports an allow rule that lets through nearly everything of its kind: `allow exec * ..` not written
`when sandboxed`, and `allow read` or `allow write` of `/**`.

## Why is this bad?
Outside the kernel sandbox, `allow exec * ..` runs any trusted program with any arguments unasked, and a
read or write of `/**` covers the whole machine; the deny rules become the only guard.

## Example
```
allow exec * ..
allow write \"/**\"
```

## Fix
Scope it: `allow exec * .. when sandboxed` (inside the sandbox the kernel contains what runs), name the
programs and trees the agent needs, or suppress with a reason when the breadth is meant.
";

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    for (rule, source) in policy.policy.rules.iter().zip(&policy.sources) {
        if rule.effect != Effect::Allow {
            continue;
        }
        let what = rule.matchers.iter().find_map(|matcher| match matcher {
            Matcher::Exec { pattern } if !rule.sandboxed_only && any_program(pattern.tokens.first()) => {
                Some("any program outside the sandbox".to_owned())
            }
            Matcher::Path { read, write, glob } if glob == "/**" || glob == "/" => Some(format!(
                "{} of the whole file system",
                if *write {
                    "writes"
                } else if *read {
                    "reads"
                } else {
                    "access"
                }
            )),
            _ => None,
        });
        if let Some(what) = what {
            diagnostics.push(
                Diagnostic::warning(codes::BROAD_ALLOW, format!("rule `{}` allows {what}", rule.id))
                    .at(&source.file, source.span)
                    .with_label("the deny rules are the only guard left")
                    .with_help("scope it (`when sandboxed`, named programs or trees), or suppress with a reason"),
            );
        }
    }
}

/// `*`, or a single-token glob that is only `*`.
fn any_program(token: Option<&TokenPattern>) -> bool {
    match token {
        Some(TokenPattern::Any | TokenPattern::Rest) => true,
        Some(TokenPattern::OneOf(atoms)) => {
            atoms.iter().any(|atom| matches!(atom, Atom::Glob(glob) if glob.chars().all(|c| c == '*')))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn broad_allows_are_reported() {
        check_diagnostics("allow exec * ..\n", &["VT110 2:1 rule `test:2` allows any program outside the sandbox"]);
        check_diagnostics("allow exec * ..\n    when sandboxed\n", &[]);
        check_diagnostics("allow write \"/**\"\n", &["VT110 2:1 rule `test:2` allows writes of the whole file system"]);
        check_diagnostics("allow read \"/usr/**\"\n", &[]);
        check_diagnostics("deny exec * ..\n", &[]);
    }
}
