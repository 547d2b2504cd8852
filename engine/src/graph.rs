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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use globset::{GlobSet, GlobSetBuilder};
use serde::{Serialize, Serializer};

use crate::decision::{Decision, ExternalVerdict, Matches, Verdict, combine_with, verdict};
use crate::pattern::{
    self, AtomGlobs, Mode, OptionPattern, Token, Unknowns, argv_matches, compile_atom_globs, has_unknowns,
    host_matches, option_pattern, options_match, path_glob, path_globs, port_matches, token_glob,
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

    /// Graphviz DOT: one cluster per policy, the exec tries as trees, the
    /// path tables as record nodes.
    pub fn to_dot(&self) -> String {
        crate::dot::render(self)
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

/// Buffers a trie walk reuses across the tries of one request.
struct TrieWalk {
    stack: Vec<(u32, usize)>,
    children: Vec<u32>,
}

impl Default for TrieWalk {
    fn default() -> Self {
        TrieWalk { stack: Vec::with_capacity(16), children: Vec::with_capacity(8) }
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
type FastMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

fn sorted<S: Serializer, V: Serialize, H>(map: &HashMap<String, V, H>, serializer: S) -> Result<S::Ok, S::Error> {
    map.iter().collect::<BTreeMap<_, _>>().serialize(serializer)
}

/// A token trie over `[program, arg1, arg2, …]`.
#[derive(Debug, Serialize)]
pub(crate) struct Trie {
    /// `nodes[0]` is the root; it always exists.
    pub(crate) nodes: Vec<TrieNode>,
}

impl Default for Trie {
    fn default() -> Self {
        Trie { nodes: vec![TrieNode::default()] }
    }
}

#[derive(Debug, Default, Serialize)]
pub(crate) struct TrieNode {
    #[serde(serialize_with = "sorted", skip_serializing_if = "HashMap::is_empty")]
    pub(crate) literal: FastMap<u32>,
    /// Literal long options (`--force`), sorted, for abbreviation lookups.
    #[serde(skip)]
    long_options: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) globs: Vec<GlobEdge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) any: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) rest: Vec<RestTail>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) terminal: Vec<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GlobEdge {
    pub(crate) glob: String,
    #[serde(skip)]
    matcher: Option<pattern::TokenGlob>,
    pub(crate) child: u32,
}

/// The rest of a pattern from a `..` on, matched by dynamic programming.
#[derive(Debug, Serialize)]
pub(crate) struct RestTail {
    pub(crate) tail: Vec<TokenPattern>,
    #[serde(skip)]
    globs: Arc<AtomGlobs>,
    pub(crate) rule: u32,
}

impl Trie {
    /// Whether no rule was inserted.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.len() == 1 && self.nodes.first().is_some_and(|root| root.rest.is_empty() && root.terminal.is_empty())
    }

    fn node(&mut self, index: u32) -> &mut TrieNode {
        // INVARIANT: indices come from `new_node` or are the root, and the
        // root always exists; the clamp only satisfies the type.
        let index = (index as usize).min(self.nodes.len().saturating_sub(1));
        #[expect(clippy::indexing_slicing, reason = "clamped to an existing node; the root always exists")]
        &mut self.nodes[index]
    }

    fn new_node(&mut self) -> u32 {
        self.nodes.push(TrieNode::default());
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    fn insert(&mut self, tokens: &[TokenPattern], rule: u32) {
        let mut frontier = vec![0u32];
        for (position, token) in tokens.iter().enumerate() {
            let mut next = Vec::new();
            // One tail (and its compiled globs) for every node reached: a
            // rule over forty programs compiles its argument globs once.
            let rest = matches!(token, TokenPattern::Rest).then(|| {
                let tail = tokens.get(position..).unwrap_or_default().to_vec();
                let globs = Arc::new(compile_atom_globs(&tail));
                (tail, globs)
            });
            for node in frontier {
                match token {
                    TokenPattern::Rest => {
                        if let Some((tail, globs)) = &rest {
                            self.node(node).rest.push(RestTail { tail: tail.clone(), globs: Arc::clone(globs), rule });
                        }
                    }
                    TokenPattern::Any => {
                        let child = match self.node(node).any {
                            Some(child) => child,
                            None => {
                                let child = self.new_node();
                                self.node(node).any = Some(child);
                                child
                            }
                        };
                        next.push(child);
                    }
                    TokenPattern::OneOf(atoms) => {
                        for atom in atoms {
                            next.push(self.edge(node, atom));
                        }
                    }
                }
            }
            if matches!(token, TokenPattern::Rest) {
                return;
            }
            next.sort_unstable();
            next.dedup();
            frontier = next;
        }
        for node in frontier {
            self.node(node).terminal.push(rule);
        }
    }

    fn edge(&mut self, node: u32, atom: &Atom) -> u32 {
        match atom {
            Atom::Literal(literal) => {
                if let Some(&child) = self.node(node).literal.get(literal) {
                    return child;
                }
                let child = self.new_node();
                let parent = self.node(node);
                parent.literal.insert(literal.clone(), child);
                if literal.starts_with("--") {
                    let at = parent.long_options.partition_point(|o| o < literal);
                    parent.long_options.insert(at, literal.clone());
                }
                child
            }
            Atom::Glob(glob) => {
                if let Some(edge) = self.node(node).globs.iter().find(|e| &e.glob == glob) {
                    return edge.child;
                }
                let child = self.new_node();
                self.node(node).globs.push(GlobEdge { glob: glob.clone(), matcher: token_glob(glob).ok(), child });
                child
            }
        }
    }

    fn matches(&self, tokens: &[Token<'_>], exec: &ExecRequest, mode: Mode, walk: &mut TrieWalk, out: &mut Vec<usize>) {
        let TrieWalk { stack, children } = walk;
        stack.clear();
        stack.push((0u32, 0usize));
        while let Some((node_index, position)) = stack.pop() {
            let Some(node) = self.nodes.get(node_index as usize) else {
                continue;
            };
            for tail in &node.rest {
                if argv_matches(&tail.tail, &tail.globs, tokens, position, exec, mode) {
                    out.push(tail.rule as usize);
                }
            }
            let Some(token) = tokens.get(position).copied() else {
                if exec.open_tail {
                    // Unknown tokens follow: when some value of them will
                    // do, every pattern that continues from here matches.
                    if mode.unknowns == Unknowns::Exists {
                        self.collect_subtree(node_index, out);
                    }
                } else {
                    out.extend(node.terminal.iter().map(|&r| r as usize));
                }
                continue;
            };
            children.clear();
            node.children_for(token, exec, mode, children);
            for &child in children.iter() {
                stack.push((child, position + 1));
            }
        }
    }

    fn collect_subtree(&self, root: u32, out: &mut Vec<usize>) {
        let mut stack = vec![root];
        while let Some(index) = stack.pop() {
            let Some(node) = self.nodes.get(index as usize) else {
                continue;
            };
            out.extend(node.terminal.iter().map(|&r| r as usize));
            out.extend(node.rest.iter().map(|t| t.rule as usize));
            stack.extend(node.literal.values().copied());
            stack.extend(node.globs.iter().map(|e| e.child));
            stack.extend(node.any);
        }
    }
}

impl TrieNode {
    fn children_for(&self, token: Token<'_>, exec: &ExecRequest, mode: Mode, out: &mut Vec<u32>) {
        match token {
            Token::Program => {
                if mode.needs_trust && !exec.program.trusted {
                    return;
                }
                let names: &[String] =
                    if mode.allow_rule { exec.program.names.get(..1).unwrap_or_default() } else { &exec.program.names };
                let candidates = names.iter().map(String::as_str).chain(exec.program.path.as_deref());
                for candidate in candidates {
                    out.extend(self.literal.get(candidate).copied());
                    for edge in &self.globs {
                        if edge.matcher.as_ref().is_some_and(|m| m.is_match(candidate)) {
                            out.push(edge.child);
                        }
                    }
                }
                out.extend(self.any);
            }
            Token::Unknown => {
                out.extend(self.any);
                if mode.unknowns == Unknowns::Exists {
                    out.extend(self.literal.values().copied());
                    out.extend(self.globs.iter().map(|e| e.child));
                }
            }
            Token::Known { text, options_ended } => {
                out.extend(self.any);
                out.extend(self.literal.get(text).copied());
                for edge in &self.globs {
                    if edge.matcher.as_ref().is_some_and(|m| m.is_match(text)) {
                        out.push(edge.child);
                    }
                }
                if !mode.allow_rule {
                    if let Some(normal) = pattern::normalize_path_token(text) {
                        out.extend(self.literal.get(normal.as_str()).copied());
                    }
                    if !options_ended {
                        self.flag_children(text, out);
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
    }

    /// Edges reached through flag equivalences (see `pattern`).
    fn flag_children(&self, text: &str, out: &mut Vec<u32>) {
        if let Some(given) = text.strip_prefix("--") {
            let name = given.split_once('=').map_or(given, |(name, _)| name);
            if name.len() < 2 {
                return;
            }
            let prefix = format!("--{name}");
            let start = self.long_options.partition_point(|o| o.as_str() < prefix.as_str());
            for option in self.long_options.iter().skip(start) {
                if !option.starts_with(&prefix) {
                    break;
                }
                out.extend(self.literal.get(option).copied());
            }
        } else if text.len() > 2 && text.starts_with('-') && text.chars().skip(1).all(|c| c.is_ascii_alphanumeric()) {
            let mut flag = String::with_capacity(2);
            for c in text.chars().skip(1) {
                flag.clear();
                flag.push('-');
                flag.push(c);
                out.extend(self.literal.get(flag.as_str()).copied());
            }
        }
    }
}

#[derive(Default)]
struct GlobTableBuilder {
    patterns: Vec<(String, u32)>,
    globs: Vec<globset::Glob>,
}

impl GlobTableBuilder {
    fn add(&mut self, text: &str, glob: globset::Glob, rule: u32) {
        self.patterns.push((text.to_owned(), rule));
        self.globs.push(glob);
    }

    fn build(self) -> Result<GlobTable, globset::Error> {
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
enum GlobAutomaton {
    Combined(GlobSet),
    Each(Vec<globset::GlobMatcher>),
}

impl GlobTable {
    fn automaton(&self) -> &GlobAutomaton {
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

    fn matches(&self, text: &str, out: &mut Vec<usize>) {
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
    fn add(&mut self, pattern: &str, ports: &[(u16, u16)], rule: u32) {
        let leaf = HostLeaf { rule, ports: ports.to_vec() };
        if pattern == "*" {
            self.any.push(leaf);
        } else if let Some(suffix) = pattern.strip_prefix("*.") {
            self.subdomains.entry(suffix.to_owned()).or_default().push(leaf);
        } else {
            self.exact.entry(pattern.to_owned()).or_default().push(leaf);
        }
    }

    fn matches(&self, host: &str, port: u16, out: &mut Vec<usize>) {
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
struct ToolTableBuilder {
    exact: HashMap<String, Vec<u32>>,
    globs: GlobTableBuilder,
}

impl ToolTableBuilder {
    fn add(&mut self, glob: &str, rule: u32) -> Result<(), globset::Error> {
        if glob.contains(['*', '?', '[', '{', '\\']) {
            let compiled = pattern::token_glob_builder(glob)?;
            self.globs.add(glob, compiled, rule);
        } else {
            self.exact.entry(glob.to_owned()).or_default().push(rule);
        }
        Ok(())
    }

    fn build(self) -> Result<ToolTable, globset::Error> {
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
    fn matches(&self, name: &str, out: &mut Vec<usize>) {
        if let Some(rules) = self.exact.get(name) {
            out.extend(rules.iter().map(|&r| r as usize));
        }
        self.globs.matches(name, out);
    }
}
