//! VT101 `unreachable-rule`.

use std::collections::HashMap;

use vtpolicy_engine::{Matcher, TokenPattern};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
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

/// Rules indexed by what their matchers can cover, so that each rule is
/// compared with a few candidates instead of every other rule: policies may
/// hold 100,000 rules.
struct CoverIndex {
    /// Exec matchers by program literal; `*`/`..` programs under `None`.
    exec: HashMap<Option<String>, Vec<usize>>,
    /// Path matchers by glob text (equal globs, and `dir/**` under `dir`).
    paths: HashMap<String, Vec<usize>>,
    /// Hosts by pattern text (`*` included).
    hosts: HashMap<String, Vec<usize>>,
    tools: HashMap<String, Vec<usize>>,
}

impl CoverIndex {
    fn new(rules: &[vtpolicy_engine::Rule]) -> CoverIndex {
        let mut index =
            CoverIndex { exec: HashMap::new(), paths: HashMap::new(), hosts: HashMap::new(), tools: HashMap::new() };
        for (rule_index, rule) in rules.iter().enumerate() {
            for matcher in &rule.matchers {
                match matcher {
                    Matcher::Exec { pattern } => match pattern.tokens.first() {
                        Some(TokenPattern::OneOf(atoms)) => {
                            for atom in atoms {
                                index.exec.entry(Some(atom.text().to_owned())).or_default().push(rule_index);
                            }
                        }
                        _ => index.exec.entry(None).or_default().push(rule_index),
                    },
                    Matcher::Path { glob, .. } | Matcher::Socket { glob } => {
                        let key = glob.strip_suffix("/**").unwrap_or(glob).to_owned();
                        index.paths.entry(key).or_default().push(rule_index);
                    }
                    Matcher::Net { host, .. } => index.hosts.entry(host.clone()).or_default().push(rule_index),
                    Matcher::Tool { glob } => index.tools.entry(glob.clone()).or_default().push(rule_index),
                }
            }
        }
        index
    }

    fn candidates(&self, narrow: &Matcher) -> Vec<usize> {
        let mut out = Vec::new();
        let mut take = |list: Option<&Vec<usize>>| out.extend(list.into_iter().flatten().copied());
        match narrow {
            Matcher::Exec { pattern } => {
                take(self.exec.get(&None));
                if let Some(TokenPattern::OneOf(atoms)) = pattern.tokens.first() {
                    for atom in atoms {
                        take(self.exec.get(&Some(atom.text().to_owned())));
                    }
                }
            }
            Matcher::Path { glob, .. } | Matcher::Socket { glob } => {
                take(self.paths.get(glob.as_str()));
                take(self.paths.get("**"));
                take(self.paths.get(""));
                // Every ancestor directory `dir` of the glob, for `dir/**`.
                let mut prefix = glob.as_str();
                while let Some((parent, _)) = prefix.rsplit_once('/') {
                    take(self.paths.get(parent));
                    prefix = parent;
                }
            }
            Matcher::Net { host, .. } => {
                take(self.hosts.get(host.as_str()));
                take(self.hosts.get("*"));
            }
            Matcher::Tool { glob } => {
                take(self.tools.get(glob.as_str()));
                take(self.tools.get("*"));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether every request `narrow` matches is also matched by `wide`. Exact
/// for literal patterns; conservative (answers `false`) otherwise.
fn covers(wide: &Matcher, narrow: &Matcher) -> bool {
    match (wide, narrow) {
        (Matcher::Exec { pattern: w }, Matcher::Exec { pattern: n }) => tokens_cover(&w.tokens, &n.tokens),
        (Matcher::Path { read: wr, write: ww, glob: w }, Matcher::Path { read: nr, write: nw, glob: n }) => {
            (*wr || !*nr) && (*ww || !*nw) && glob_covers(w, n)
        }
        (Matcher::Net { host: wh, ports: wp }, Matcher::Net { host: nh, ports: np }) => {
            (wh == "*" || wh == nh)
                && (wp.is_empty()
                    || (!np.is_empty() && np.iter().all(|&(lo, hi)| wp.iter().any(|&(wl, wh)| wl <= lo && hi <= wh))))
        }
        (Matcher::Tool { glob: w }, Matcher::Tool { glob: n }) => w == n || w == "*",
        (Matcher::Socket { glob: w }, Matcher::Socket { glob: n }) => glob_covers(w, n),
        _ => false,
    }
}

/// `wide` is a literal prefix of `narrow`'s literal tokens, ending in `..`.
fn tokens_cover(wide: &[TokenPattern], narrow: &[TokenPattern]) -> bool {
    if wide == narrow {
        return true;
    }
    let Some((TokenPattern::Rest, prefix)) = wide.split_last() else {
        return false;
    };
    prefix.len() <= narrow.len()
        && prefix.iter().zip(narrow).all(|(w, n)| match (w, n) {
            (TokenPattern::Any, TokenPattern::OneOf(_) | TokenPattern::Any) => true,
            (TokenPattern::OneOf(wa), TokenPattern::OneOf(na)) => na.iter().all(|a| wa.contains(a)),
            _ => false,
        })
}

fn glob_covers(wide: &str, narrow: &str) -> bool {
    if wide == narrow || wide == "**" || wide == "/**" {
        return true;
    }
    match wide.strip_suffix("/**") {
        Some(dir) if !dir.contains(['*', '?', '[', '{']) => {
            narrow == dir || narrow.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
        }
        _ => false,
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
