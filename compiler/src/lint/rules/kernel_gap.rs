//! VT105 `kernel-gap`.

use vtpolicy_engine::Effect;
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;
use crate::profile::fidelity::{Coverage, FidelityReport, Layer};

pub(crate) const DOC: &str = "## What it does
Reports a file or network rule that the kernel sandbox enforces only in part, or not at all, and says
which layer falls short and why (`vtpolicy compile --target report` lists every rule).

## Why is this bad?
The engine judges the tool call, but the programs it starts are held only by the kernel layers. What they
cannot express is enforced for judged requests alone: a script the agent runs can reach it.

## Example
```
deny read \"**/.env\"            # carved only where it exists in the workspace and tmp
allow net \"crates.io\" port 443  # Landlock restricts the port, not the host
```

## Fix
Anchor deny patterns under a directory (`${workspace}/**/.env` is still unanchored; `${home}/.ssh/**` is
anchored), or accept the gap knowingly. Host rules are held by `run`'s egress proxy where the command gets
a network namespace of its own; the rules of the stock policies are not reported (their gaps are in the
fidelity report).
";

/// One warning per rule of `policy` whose kernel coverage is partial.
/// Argv and tool rules are the engine's by nature and are not reported.
pub(crate) fn check(policy: &CompiledPolicy, report: &FidelityReport, diagnostics: &mut Vec<Diagnostic>) {
    if !report.sandboxed {
        return;
    }
    // Which source files are stock policies, decided once per file: the
    // test compares the whole text.
    let mut stock: Vec<(&str, bool)> = Vec::new();
    for (rule, source) in policy.policy.rules.iter().zip(&policy.sources) {
        let is_stock = match stock.iter().find(|(name, _)| *name == source.file.name) {
            Some(&(_, known)) => known,
            None => {
                let known = crate::stock::is_stock_source(&source.file);
                stock.push((source.file.name.as_str(), known));
                known
            }
        };
        // The stock policies' gaps are known and written down (the
        // fidelity report, ARCHITECTURE.md): every user would see them.
        if is_stock {
            continue;
        }
        let Some(fidelity) = report.rules.iter().find(|f| f.policy == policy.policy.name && *f.rule == *rule.id) else {
            continue;
        };
        // Where the egress proxy holds a net rule whole, Landlock's ports
        // are not what enforces it.
        let proxied = fidelity.layers.iter().any(|l| l.layer == Layer::Proxy && l.coverage == Coverage::Full);
        let gaps: Vec<String> = fidelity
            .layers
            .iter()
            .filter(|l| matches!(l.layer, Layer::Landlock | Layer::Proxy) && l.coverage != Coverage::Full)
            .filter(|l| !(proxied && l.layer == Layer::Landlock && rule.matchers.iter().all(is_net)))
            .filter(|l| !l.machine_specific && !l.gap.is_empty() && !l.gap.starts_with("argv patterns"))
            .map(|l| {
                if l.patterns.is_empty() {
                    l.gap.clone()
                } else {
                    let patterns: Vec<String> = l.patterns.iter().map(|p| format!("`{p}`")).collect();
                    format!("{}: {}", patterns.join(", "), l.gap)
                }
            })
            .collect();
        if gaps.is_empty() {
            continue;
        }
        let what = match rule.effect {
            Effect::Allow => "is only partly expressed by the kernel sandbox",
            _ => "is enforced only in part by the kernel sandbox",
        };
        diagnostics.push(
            Diagnostic::warning(codes::KERNEL_GAP, format!("rule `{}` {what}", rule.id))
                .at(&source.file, source.span)
                .with_label(gaps.join("; "))
                .with_help("`vtpolicy compile --target report` shows every layer of every rule"),
        );
    }
}

fn is_net(matcher: &vtpolicy_engine::Matcher) -> bool {
    matches!(matcher, vtpolicy_engine::Matcher::Net { .. })
}
