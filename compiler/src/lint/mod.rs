//! Lint rules of `vtpolicy check`: one rule per file under `rules/`, each
//! registered in `codes` and listed in `RULES` below.

use vtpolicy_grammar::Diagnostic;

use crate::lower::CompiledPolicy;

pub(crate) mod rules;

type LintFn = fn(&CompiledPolicy, &mut Vec<Diagnostic>);

/// Every lint rule, in code order.
const RULES: &[(&str, LintFn)] = &[
    (crate::codes::UNREACHABLE_RULE, rules::unreachable_rule::check),
    (crate::codes::NETWORK_WILDCARD_HOST, rules::network_wildcard_host::check),
    (crate::codes::DUPLICATE_RULE, rules::duplicate_rule::check),
];

pub(crate) fn run(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    for (_, lint) in RULES {
        lint(policy, diagnostics);
    }
}

/// The lint rules that need the fidelity report of the kernel profiles,
/// which the caller computes against the live system: VT105, VT106.
pub fn kernel_lints(policy: &CompiledPolicy, report: &crate::profile::fidelity::FidelityReport) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    rules::kernel_gap::check(policy, report, &mut diagnostics);
    rules::kernel_abi::check(policy, report, &mut diagnostics);
    diagnostics
}

/// The codes of the registered lint rules.
pub fn lint_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = RULES.iter().map(|(code, _)| *code).collect();
    codes.extend([crate::codes::KERNEL_GAP, crate::codes::KERNEL_ABI]);
    codes
}
