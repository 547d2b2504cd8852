//! The decision graph: every policy's rules indexed by request field, so a
//! decision costs the same whether a policy has ten literal rules or a
//! hundred thousand.
//!
//! - exec: two token tries (allow rules match exactly, deny and prompt
//!   rules with flag equivalences), keyed first by program, then by each
//!   argument. Literal edges are hash lookups; `..` stores the rest of the
//!   pattern at the node and matches it against the remaining tokens.
//! - read and write: one combined glob automaton per access kind.
//! - net: hash maps of exact hosts and of `*.suffix` patterns.
//! - tool: exact names in a hash map, globs in one automaton.
//!
//! The tries are in `trie.rs`, the path, host and tool tables in
//! `tables.rs`, the Graphviz rendering in `dot.rs`.

mod dot;
mod tables;
mod trie;

use tables::{GlobTable, GlobTableBuilder, HostTable, ToolTable, ToolTableBuilder};
use trie::{Trie, TrieWalk};

use std::collections::{BTreeMap, HashMap};

use serde::{Serialize, Serializer};

use crate::decision::{Decision, ExternalVerdict, Matches, Verdict, combine_with, verdict};
use crate::pattern::{
    self, Mode, OptionPattern, Token, has_unknowns, option_pattern, options_match, path_glob, path_globs,
};
use crate::policy::{Atom, Effect, Matcher, Policy, TokenPattern};
use crate::request::{ExecRequest, Request};

/// A pattern that cannot be compiled into the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub policy: String,
    pub rule_id: String,
    pub message: String,
}

impl std::error::Error for GraphError {}

impl std::fmt::Display for GraphError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule `{}` of policy `{}`: {}", self.rule_id, self.policy, self.message)
    }
}

/// The compiled form of a set of policies: the policies themselves (owned
/// here, once) and one index per policy.
#[derive(Debug)]
pub struct DecisionGraph {
    policies: Vec<Policy>,
    indexes: Vec<PolicyIndex>,
}

/// The indexes of one policy's rules. Leaves are rule indices.
#[derive(Debug, Serialize)]
pub(crate) struct PolicyIndex {
    pub(crate) exec_allow: Trie,
    /// Allow rules written `when sandboxed`: they match untrusted programs
    /// too, since the sandbox contains what runs.
    pub(crate) exec_contained: Trie,
    pub(crate) exec_strict: Trie,
    /// Deny and prompt rules that name flags, read as options (see
    /// `pattern::OptionPattern`); they also sit in `exec_strict`.
    #[serde(skip)]
    exec_options: OptionRules,
    pub(crate) read: GlobTable,
    pub(crate) write: GlobTable,
    net: HostTable,
    sockets: GlobTable,
    tool: ToolTable,
}

/// `{"policies": [{"name", "rules": [{"id", "effect"}], "exec_allow", …}]}`:
/// leaves are indices into `rules`.
impl Serialize for DecisionGraph {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct RuleLeaf<'a> {
            id: &'a str,
            effect: Effect,
        }
        #[derive(Serialize)]
        struct PolicyView<'a> {
            name: &'a str,
            rules: Vec<RuleLeaf<'a>>,
            #[serde(flatten)]
            index: &'a PolicyIndex,
        }
        #[derive(Serialize)]
        struct GraphView<'a> {
            policies: Vec<PolicyView<'a>>,
        }
        GraphView {
            policies: self
                .policies()
                .iter()
                .zip(&self.indexes)
                .map(|(policy, index)| PolicyView {
                    name: &policy.name,
                    rules: policy.rules.iter().map(|r| RuleLeaf { id: &r.id, effect: r.effect }).collect(),
                    index,
                })
                .collect(),
        }
        .serialize(serializer)
    }
}

impl DecisionGraph {
    pub fn build(policies: Vec<Policy>) -> Result<DecisionGraph, GraphError> {
        let indexes = policies.iter().map(PolicyIndex::build).collect::<Result<_, _>>()?;
        Ok(DecisionGraph { policies, indexes })
    }

    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// Each policy with its index.
    pub(crate) fn indexed(&self) -> impl Iterator<Item = (&Policy, &PolicyIndex)> {
        self.policies.iter().zip(&self.indexes)
    }

    pub fn decide(&self, request: &Request) -> Decision {
        self.decide_with(request, &[])
    }

    /// Decides `request` with the verdicts of policies evaluated elsewhere.
    pub fn decide_with(&self, request: &Request, external: &[ExternalVerdict]) -> Decision {
        let verdicts: Vec<Verdict> = self
            .indexed()
            .map(|(policy, index)| verdict(policy, request.kind(), index.matching_rules(request)))
            .collect();
        combine_with(&self.policies, &verdicts, external)
    }
}

impl PolicyIndex {
    fn build(policy: &Policy) -> Result<PolicyIndex, GraphError> {
        let error = |rule_id: &str, message: String| GraphError {
            policy: policy.name.clone(),
            rule_id: rule_id.to_owned(),
            message,
        };
        let mut exec_allow = Trie::default();
        let mut exec_contained = Trie::default();
        let mut exec_strict = Trie::default();
        let mut exec_options = OptionRules::default();
        let mut read = GlobTableBuilder::default();
        let mut write = GlobTableBuilder::default();
        let mut net = HostTable::default();
        let mut sockets = GlobTableBuilder::default();
        let mut tool = ToolTableBuilder::default();
        for (rule_index, rule) in policy.rules.iter().enumerate() {
            let leaf =
                u32::try_from(rule_index).map_err(|_| error(&rule.id, "too many rules in one policy".to_owned()))?;
            // Scoped to a run's command that was not found running.
            if rule.running.is_some() {
                continue;
            }
            for matcher in &rule.matchers {
                match matcher {
                    Matcher::Exec { pattern } => {
                        check_token_globs(&pattern.tokens).map_err(|m| error(&rule.id, m))?;
                        let trie = match rule.effect {
                            Effect::Allow if rule.sandboxed_only => &mut exec_contained,
                            Effect::Allow => &mut exec_allow,
                            Effect::Prompt | Effect::Deny => {
                                if let Some(options) = option_pattern(&pattern.tokens) {
                                    exec_options.add(options, leaf);
                                }
                                &mut exec_strict
                            }
                        };
                        trie.insert(&pattern.tokens, leaf);
                    }
                    Matcher::Path { read: reads, write: writes, glob } => {
                        for glob in path_globs(glob) {
                            let compiled = path_glob(&glob)
                                .map_err(|e| error(&rule.id, format!("invalid path glob `{glob}`: {e}")))?;
                            if *reads {
                                read.add(&glob, compiled.clone(), leaf);
                            }
                            if *writes {
                                write.add(&glob, compiled, leaf);
                            }
                        }
                    }
                    Matcher::Net { host, ports } => net.add(host, ports, leaf),
                    Matcher::Socket { glob } => {
                        for glob in path_globs(glob) {
                            let compiled = path_glob(&glob)
                                .map_err(|e| error(&rule.id, format!("invalid socket glob `{glob}`: {e}")))?;
                            sockets.add(&glob, compiled, leaf);
                        }
                    }
                    Matcher::Tool { glob } => {
                        tool.add(glob, leaf).map_err(|e| error(&rule.id, format!("invalid tool glob `{glob}`: {e}")))?
                    }
                }
            }
        }
        let build_error = |e: globset::Error| error("*", format!("cannot build the glob automaton: {e}"));
        Ok(PolicyIndex {
            exec_allow,
            exec_contained,
            exec_strict,
            exec_options,
            read: read.build().map_err(build_error)?,
            write: write.build().map_err(build_error)?,
            net,
            sockets: sockets.build().map_err(build_error)?,
            tool: tool.build().map_err(build_error)?,
        })
    }

    fn matching_rules(&self, request: &Request) -> Matches {
        let mut out = Matches { certain: Vec::with_capacity(4), possible: Vec::new() };
        match request {
            Request::Exec(exec) => {
                let tokens = pattern::tokens(exec);
                let mut walk = TrieWalk::default();
                self.exec_allow.matches(&tokens, exec, Mode::ALLOW, &mut walk, &mut out.certain);
                self.exec_contained.matches(&tokens, exec, Mode::CONTAINED, &mut walk, &mut out.certain);
                self.exec_strict.matches(&tokens, exec, Mode::STRICT_CERTAIN, &mut walk, &mut out.certain);
                let unknowns = has_unknowns(exec);
                if unknowns {
                    self.exec_strict.matches(&tokens, exec, Mode::STRICT_POSSIBLE, &mut walk, &mut out.possible);
                }
                self.exec_options.matches(&tokens, exec, unknowns, &mut out);
            }
            Request::Read { path } => self.read.matches(path, &mut out.certain),
            Request::Write { path } => self.write.matches(path, &mut out.certain),
            Request::Net { host, port } => self.net.matches(host, *port, &mut out.certain),
            Request::Unix { path } => self.sockets.matches(path, &mut out.certain),
            Request::Tool { name } => self.tool.matches(name, &mut out.certain),
        }
        out
    }
}

/// Deny and prompt rules read as options, indexed by the program they
/// name, so a request only tries the rules for its own program.
#[derive(Debug, Default)]
struct OptionRules {
    patterns: Vec<(OptionPattern, u32)>,
    /// Literal program name → indices into `patterns`.
    by_program: FastMap<Vec<usize>>,
    /// Patterns whose program is a glob or `*`.
    any_program: Vec<usize>,
}

impl OptionRules {
    fn add(&mut self, pattern: OptionPattern, rule: u32) {
        let index = self.patterns.len();
        match pattern.program_literals() {
            Some(names) => {
                for name in names {
                    self.by_program.entry(name.to_owned()).or_default().push(index);
                }
            }
            None => self.any_program.push(index),
        }
        self.patterns.push((pattern, rule));
    }

    fn matches(&self, tokens: &[Token<'_>], exec: &ExecRequest, unknowns: bool, out: &mut Matches) {
        if self.patterns.is_empty() {
            return;
        }
        // A deny or prompt rule matches the program by any of its names or
        // its path (see `pattern::program_matches`).
        let mut candidates = self.any_program.clone();
        for name in exec.program.names.iter().chain(exec.program.path.as_ref()) {
            if let Some(indices) = self.by_program.get(name) {
                candidates.extend_from_slice(indices);
            }
        }
        if candidates.is_empty() {
            return;
        }
        candidates.sort_unstable();
        candidates.dedup();
        let options = pattern::options(exec, tokens);
        for index in candidates {
            let Some((pattern, rule)) = self.patterns.get(index) else {
                continue;
            };
            if options_match(pattern, &options, exec, Mode::STRICT_CERTAIN) {
                out.certain.push(*rule as usize);
            }
            // `possible` holds the certain ones too.
            if unknowns && options_match(pattern, &options, exec, Mode::STRICT_POSSIBLE) {
                out.possible.push(*rule as usize);
            }
        }
    }
}

fn check_token_globs(tokens: &[TokenPattern]) -> Result<(), String> {
    for token in tokens {
        if let TokenPattern::OneOf(atoms) = token {
            for atom in atoms {
                if let Atom::Glob(glob) = atom {
                    pattern::token_glob_builder(glob).map_err(|e| format!("invalid token glob `{glob}`: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// The trie's and the option index's maps: keys come from policies, and a
/// lookup per argument is the hot path of every exec decision.
pub(super) type FastMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

pub(super) fn sorted<S: Serializer, V: Serialize, H>(
    map: &HashMap<String, V, H>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    map.iter().collect::<BTreeMap<_, _>>().serialize(serializer)
}
