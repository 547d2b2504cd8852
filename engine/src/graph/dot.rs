//! Graphviz rendering of a decision graph.

use std::fmt::Write as _;

use super::DecisionGraph;
use super::trie::Trie;
use crate::policy::{Policy, TokenPattern};

impl DecisionGraph {
    /// Graphviz DOT: one cluster per policy, the exec tries as trees, the
    /// path tables as record nodes.
    pub fn to_dot(&self) -> String {
        render(self)
    }
}

fn render(graph: &DecisionGraph) -> String {
    let mut out = String::from("digraph vtpolicy {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (policy_index, (policy, index)) in graph.indexed().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{policy_index} {{\n    label={};", escape(&policy.name));
        let root = format!("p{policy_index}");
        let _ = writeln!(out, "    {root} [label={}, shape=ellipse];", escape(&policy.name));
        render_trie(&mut out, &root, "a", "exec allow", &index.exec_allow, policy);
        render_trie(&mut out, &root, "s", "exec deny/prompt", &index.exec_strict, policy);
        for (kind, table) in [("read", &index.read.patterns), ("write", &index.write.patterns)] {
            if table.is_empty() {
                continue;
            }
            let lines: Vec<String> =
                table.iter().map(|(glob, rule)| format!("{glob} → {}", rule_label(policy, *rule))).collect();
            let _ = writeln!(
                out,
                "    {root}_{kind} [label={}];\n    {root} -> {root}_{kind} [label=\"{kind}\"];",
                escape(&lines.join("\n"))
            );
        }
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

/// `id (effect)` of a leaf.
fn rule_label(policy: &Policy, rule: u32) -> String {
    policy.rules.get(rule as usize).map(|r| format!("{} ({})", r.id, r.effect.as_str())).unwrap_or_default()
}

fn render_trie(out: &mut String, root: &str, tag: &str, name: &str, trie: &Trie, policy: &Policy) {
    if trie.is_empty() {
        return;
    }
    let node_name = |index: u32| format!("{root}{tag}{index}");
    let _ = writeln!(out, "    {} [label={}, shape=diamond];", node_name(0), escape(name));
    let _ = writeln!(out, "    {root} -> {};", node_name(0));
    for (index, node) in trie.nodes.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut leaves: Vec<String> = node.terminal.iter().map(|&rule| rule_label(policy, rule)).collect();
        for tail in &node.rest {
            leaves.push(format!("{} after {}", rule_label(policy, tail.rule), describe_tail(&tail.tail)));
        }
        if !leaves.is_empty() {
            let _ = writeln!(
                out,
                "    {0}_leaf [label={1}, shape=note];\n    {0} -> {0}_leaf;",
                node_name(index),
                escape(&leaves.join("\n"))
            );
        }
        let mut edges: Vec<(&str, u32)> = node.literal.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        edges.sort_unstable();
        for (label, child) in edges {
            let _ = writeln!(out, "    {} -> {} [label={}];", node_name(index), node_name(child), escape(label));
        }
        for edge in &node.globs {
            let _ = writeln!(
                out,
                "    {} -> {} [label={}, style=dashed];",
                node_name(index),
                node_name(edge.child),
                escape(&edge.glob)
            );
        }
        if let Some(child) = node.any {
            let _ = writeln!(out, "    {} -> {} [label=\"*\", style=dotted];", node_name(index), node_name(child));
        }
        if index != 0 {
            let _ = writeln!(out, "    {} [label=\"\", shape=point];", node_name(index));
        }
    }
}

fn describe_tail(tail: &[TokenPattern]) -> String {
    tail.iter()
        .map(|t| match t {
            TokenPattern::Any => "*".to_owned(),
            TokenPattern::Rest => "..".to_owned(),
            TokenPattern::OneOf(atoms) => atoms.iter().map(|a| a.text()).collect::<Vec<_>>().join("|"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\l"),
            c => out.push(c),
        }
    }
    if text.contains('\n') {
        out.push_str("\\l");
    }
    out.push('"');
    out
}
