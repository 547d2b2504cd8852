//! The tables of path, host and tool rules: one glob automaton per
//! access kind, hash maps of exact and `*.suffix` hosts, exact tool names
//! and one automaton of tool globs.

use std::collections::HashMap;
use std::sync::OnceLock;

use globset::{GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::pattern::{self, host_matches, port_matches};

use super::sorted;

#[derive(Default)]
pub(super) struct GlobTableBuilder {
    patterns: Vec<(String, u32)>,
    globs: Vec<globset::Glob>,
}

impl GlobTableBuilder {
    pub(super) fn add(&mut self, text: &str, glob: globset::Glob, rule: u32) {
        self.patterns.push((text.to_owned(), rule));
        self.globs.push(glob);
    }

    pub(super) fn build(self) -> Result<GlobTable, globset::Error> {
        Ok(GlobTable { patterns: self.patterns, globs: self.globs, set: OnceLock::new() })
    }
}

/// Globs of one kind in one automaton, built on first use: compiling it
/// costs milliseconds, and most calls (a command, say) never match a path.
#[derive(Debug, Serialize)]
pub(crate) struct GlobTable {
    pub(crate) patterns: Vec<(String, u32)>,
    #[serde(skip)]
    globs: Vec<globset::Glob>,
    #[serde(skip)]
    set: OnceLock<GlobAutomaton>,
}

/// The combined automaton, or, should it exceed the regex engine's size
/// limits, one matcher per glob (slower, same answers).
#[derive(Debug)]
pub(super) enum GlobAutomaton {
    Combined(GlobSet),
    Each(Vec<globset::GlobMatcher>),
}

impl GlobTable {
    pub(super) fn automaton(&self) -> &GlobAutomaton {
        self.set.get_or_init(|| {
            let mut builder = GlobSetBuilder::new();
            for glob in &self.globs {
                builder.add(glob.clone());
            }
            match builder.build() {
                Ok(set) => GlobAutomaton::Combined(set),
                Err(_) => GlobAutomaton::Each(self.globs.iter().map(globset::Glob::compile_matcher).collect()),
            }
        })
    }

    pub(super) fn matches(&self, text: &str, out: &mut Vec<usize>) {
        let indices: Vec<usize> = match self.automaton() {
            GlobAutomaton::Combined(set) => set.matches(text),
            GlobAutomaton::Each(matchers) => {
                matchers.iter().enumerate().filter(|(_, m)| m.is_match(text)).map(|(i, _)| i).collect()
            }
        };
        for index in indices {
            if let Some((_, rule)) = self.patterns.get(index) {
                out.push(*rule as usize);
            }
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct HostTable {
    #[serde(serialize_with = "sorted", skip_serializing_if = "HashMap::is_empty")]
    pub(crate) exact: HashMap<String, Vec<HostLeaf>>,
    /// `*.example.com` keyed by `example.com`.
    #[serde(serialize_with = "sorted", skip_serializing_if = "HashMap::is_empty")]
    pub(crate) subdomains: HashMap<String, Vec<HostLeaf>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) any: Vec<HostLeaf>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HostLeaf {
    pub(crate) rule: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<(u16, u16)>,
}

impl HostTable {
    pub(super) fn add(&mut self, pattern: &str, ports: &[(u16, u16)], rule: u32) {
        let leaf = HostLeaf { rule, ports: ports.to_vec() };
        if pattern == "*" {
            self.any.push(leaf);
        } else if let Some(suffix) = pattern.strip_prefix("*.") {
            self.subdomains.entry(suffix.to_owned()).or_default().push(leaf);
        } else {
            self.exact.entry(pattern.to_owned()).or_default().push(leaf);
        }
    }

    pub(super) fn matches(&self, host: &str, port: u16, out: &mut Vec<usize>) {
        let mut take = |leaves: &[HostLeaf]| {
            for leaf in leaves {
                if port_matches(&leaf.ports, port) {
                    out.push(leaf.rule as usize);
                }
            }
        };
        take(&self.any);
        if let Some(leaves) = self.exact.get(host) {
            take(leaves);
        }
        // Every strict parent domain: a.b.c → b.c, c.
        let mut rest = host;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(leaves) = self.subdomains.get(parent) {
                debug_assert!(host_matches(&format!("*.{parent}"), host));
                take(leaves);
            }
            rest = parent;
        }
    }
}

#[derive(Default)]
pub(super) struct ToolTableBuilder {
    exact: HashMap<String, Vec<u32>>,
    globs: GlobTableBuilder,
}

impl ToolTableBuilder {
    pub(super) fn add(&mut self, glob: &str, rule: u32) -> Result<(), globset::Error> {
        if glob.contains(['*', '?', '[', '{', '\\']) {
            let compiled = pattern::token_glob_builder(glob)?;
            self.globs.add(glob, compiled, rule);
        } else {
            self.exact.entry(glob.to_owned()).or_default().push(rule);
        }
        Ok(())
    }

    pub(super) fn build(self) -> Result<ToolTable, globset::Error> {
        Ok(ToolTable { exact: self.exact, globs: self.globs.build()? })
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct ToolTable {
    #[serde(serialize_with = "sorted", skip_serializing_if = "HashMap::is_empty")]
    pub(crate) exact: HashMap<String, Vec<u32>>,
    pub(crate) globs: GlobTable,
}

impl ToolTable {
    pub(super) fn matches(&self, name: &str, out: &mut Vec<usize>) {
        if let Some(rules) = self.exact.get(name) {
            out.extend(rules.iter().map(|&r| r as usize));
        }
        self.globs.matches(name, out);
    }
}
