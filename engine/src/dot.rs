//! Graphviz rendering of a decision graph.

use std::fmt::Write as _;

use crate::graph::{DecisionGraph, Trie};

pub(crate) fn render(graph: &DecisionGraph) -> String {
    let mut out = String::from("digraph vtpolicy {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (policy_index, policy) in graph.policies.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_{policy_index} {{\n    label={};",
            escape(&policy.policy.name)
        );
        let root = format!("p{policy_index}");
        let _ = writeln!(out, "    {root} [label={}, shape=ellipse];", escape(&policy.policy.name));
        for (name, trie) in [("exec allow", &policy_exec(policy).0), ("exec deny/prompt", &policy_exec(policy).1)] {
            render_trie(&mut out, &root, policy_index, name, trie, policy);
        }
        let rule_id = |index: u32| {
            policy
                .policy
                .rules
                .get(index as usize)
                .map(|r| format!("{} ({})", r.id, r.effect.as_str()))
                .unwrap_or_default()
        };
        for (kind, table) in [("read", &policy.read_table().patterns), ("write", &policy.write_table().patterns)] {
            if table.is_empty() {
                continue;
            }
            let lines: Vec<String> = table.iter().map(|(glob, rule)| format!("{glob} → {}", rule_id(*rule))).collect();
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

fn policy_exec(policy: &crate::graph::PolicyGraph) -> (&Trie, &Trie) {
    policy.exec_tries()
}

fn render_trie(
    out: &mut String,
    root: &str,
    policy_index: usize,
    name: &str,
    trie: &Trie,
    policy: &crate::graph::PolicyGraph,
) {
    if trie.nodes.is_empty() {
        return;
    }
    let tag = if name.starts_with("exec allow") { "a" } else { "s" };
    let node_name = |index: u32| format!("p{policy_index}{tag}{index}");
    let rule_label = |index: &u32| {
        policy
            .policy
            .rules
            .get(*index as usize)
            .map(|r| format!("{} ({})", r.id, r.effect.as_str()))
            .unwrap_or_default()
    };
    let _ = writeln!(out, "    {} [label={}, shape=diamond];", node_name(0), escape(name));
    let _ = writeln!(out, "    {root} -> {};", node_name(0));
    for (index, node) in trie.nodes.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        let mut leaves: Vec<String> = node.terminal.iter().map(rule_label).collect();
        for tail in &node.rest {
            leaves.push(format!("{} after {}", rule_label(&tail.rule), describe_tail(&tail.tail)));
        }
        if !leaves.is_empty() {
            let _ = writeln!(
                out,
                "    {}_leaf [label={}, shape=note];\n    {} -> {}_leaf;",
                node_name(index),
                escape(&leaves.join("\n")),
                node_name(index),
                node_name(index)
            );
        }
        let mut edges: Vec<(&str, u32)> = node.literal.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        edges.sort_unstable();
        for (label, child) in edges {
            let _ = writeln!(out, "    {} -> {} [label={}];", node_name(index), node_name(child), escape(label));
        }
        for edge in &node.globs {
            let _ = writeln!(out, "    {} -> {} [label={}, style=dashed];", node_name(index), node_name(edge.child), escape(&edge.glob));
        }
        if let Some(child) = node.any {
            let _ = writeln!(out, "    {} -> {} [label=\"*\", style=dotted];", node_name(index), node_name(child));
        }
        if index != 0 && leaves.is_empty() && node.literal.is_empty() && node.globs.is_empty() && node.any.is_none() {
            continue;
        }
        if index != 0 {
            let _ = writeln!(out, "    {} [label=\"\", shape=point];", node_name(index));
        }
    }
}

fn describe_tail(tail: &[crate::policy::TokenPattern]) -> String {
    use crate::policy::TokenPattern;
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
