//! The token tries of the exec rules: literal edges are hash lookups,
//! glob edges are tried in turn, and `..` keeps the rest of a pattern at
//! its node.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::pattern::{self, AtomGlobs, Mode, Token, Unknowns, argv_matches, compile_atom_globs, token_glob};
use crate::policy::{Atom, TokenPattern};
use crate::request::ExecRequest;

use super::{FastMap, sorted};

/// Buffers a trie walk reuses across the tries of one request.
pub(super) struct TrieWalk {
    stack: Vec<(u32, usize)>,
    children: Vec<u32>,
}

impl Default for TrieWalk {
    fn default() -> Self {
        TrieWalk { stack: Vec::with_capacity(16), children: Vec::with_capacity(8) }
    }
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

    pub(super) fn node(&mut self, index: u32) -> &mut TrieNode {
        // INVARIANT: indices come from `new_node` or are the root, and the
        // root always exists; the clamp only satisfies the type.
        let index = (index as usize).min(self.nodes.len().saturating_sub(1));
        #[expect(clippy::indexing_slicing, reason = "clamped to an existing node; the root always exists")]
        &mut self.nodes[index]
    }

    pub(super) fn new_node(&mut self) -> u32 {
        self.nodes.push(TrieNode::default());
        u32::try_from(self.nodes.len() - 1).unwrap_or(u32::MAX)
    }

    pub(super) fn insert(&mut self, tokens: &[TokenPattern], rule: u32) {
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

    pub(super) fn edge(&mut self, node: u32, atom: &Atom) -> u32 {
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

    pub(super) fn matches(
        &self,
        tokens: &[Token<'_>],
        exec: &ExecRequest,
        mode: Mode,
        walk: &mut TrieWalk,
        out: &mut Vec<usize>,
    ) {
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

    pub(super) fn collect_subtree(&self, root: u32, out: &mut Vec<usize>) {
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
    pub(super) fn children_for(&self, token: Token<'_>, exec: &ExecRequest, mode: Mode, out: &mut Vec<u32>) {
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
    pub(super) fn flag_children(&self, text: &str, out: &mut Vec<u32>) {
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
