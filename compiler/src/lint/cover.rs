//! Whether one rule's matchers cover another's: what VT101 (a stricter
//! rule covers it) and VT112 (a rule of the same effect does) ask.

use std::collections::HashMap;

use vtpolicy_engine::{Matcher, Rule, TokenPattern};

/// Whether `wide` applies to every call `narrow` applies to: not only
/// sandboxed when `narrow` applies outside the sandbox too, and not scoped
/// to runs `narrow` is not scoped to.
pub(crate) fn applies_whenever(wide: &Rule, narrow: &Rule) -> bool {
    (!wide.sandboxed_only || narrow.sandboxed_only) && (wide.running.is_none() || wide.running == narrow.running)
}

/// Rules indexed by what their matchers can cover, so that each rule is
/// compared with a few candidates instead of every other rule: policies may
/// hold 100,000 rules.
pub(crate) struct CoverIndex {
    /// Exec matchers by program literal; `*`/`..` programs under `None`.
    exec: HashMap<Option<String>, Vec<usize>>,
    /// Exec matchers whose program is a glob (`py*`): few, and any
    /// program may be theirs.
    exec_globs: Vec<usize>,
    /// Path matchers by glob text (equal globs, and `dir/**` under `dir`).
    paths: HashMap<String, Vec<usize>>,
    /// Hosts by pattern text (`*` included).
    hosts: HashMap<String, Vec<usize>>,
    tools: HashMap<String, Vec<usize>>,
    /// Tool matchers with a wildcard.
    tool_globs: Vec<usize>,
}

impl CoverIndex {
    pub(crate) fn new(rules: &[vtpolicy_engine::Rule]) -> CoverIndex {
        let mut index = CoverIndex {
            exec: HashMap::new(),
            exec_globs: Vec::new(),
            paths: HashMap::new(),
            hosts: HashMap::new(),
            tools: HashMap::new(),
            tool_globs: Vec::new(),
        };
        for (rule_index, rule) in rules.iter().enumerate() {
            for matcher in &rule.matchers {
                match matcher {
                    Matcher::Exec { pattern } => match pattern.tokens.first() {
                        Some(TokenPattern::OneOf(atoms)) => {
                            for atom in atoms {
                                if matches!(atom, vtpolicy_engine::Atom::Glob(_)) {
                                    index.exec_globs.push(rule_index);
                                }
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
                    Matcher::Tool { glob } => {
                        if glob.contains(['*', '?']) {
                            index.tool_globs.push(rule_index);
                        }
                        index.tools.entry(glob.clone()).or_default().push(rule_index);
                    }
                }
            }
        }
        index
    }

    pub(crate) fn candidates(&self, narrow: &Matcher) -> Vec<usize> {
        let mut out = Vec::new();
        let mut take = |list: Option<&Vec<usize>>| out.extend(list.into_iter().flatten().copied());
        match narrow {
            Matcher::Exec { pattern } => {
                take(self.exec.get(&None));
                take(Some(&self.exec_globs));
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
                // `*.d` of every domain `d` above the host.
                let mut domain = host.trim_start_matches("*.");
                while let Some((_, parent)) = domain.split_once('.') {
                    take(self.hosts.get(format!("*.{parent}").as_str()));
                    domain = parent;
                }
            }
            Matcher::Tool { glob } => {
                take(self.tools.get(glob.as_str()));
                take(Some(&self.tool_globs));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether every request `narrow` matches is also matched by `wide`. Exact
/// for literal patterns; conservative (answers `false`) otherwise.
pub(crate) fn covers(wide: &Matcher, narrow: &Matcher) -> bool {
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
