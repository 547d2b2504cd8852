//! Lint rules of `vtpolicy check`: one rule per file under `rules/`, each
//! registered in `codes` and listed in `RULES` below.

use vtpolicy_grammar::Diagnostic;

use crate::lower::CompiledPolicy;

mod cover;
pub(crate) mod rules;

type LintFn = fn(&CompiledPolicy, &mut Vec<Diagnostic>);

/// Every lint rule, in code order.
const RULES: &[(&str, LintFn)] = &[
    (crate::codes::UNREACHABLE_RULE, rules::unreachable_rule::check),
    (crate::codes::NETWORK_WILDCARD_HOST, rules::network_wildcard_host::check),
    (crate::codes::DUPLICATE_RULE, rules::duplicate_rule::check),
    (crate::codes::WILDCARD_WITHOUT_APEX, rules::wildcard_without_apex::check),
    (crate::codes::BROAD_ALLOW, rules::broad_allow::check),
    (crate::codes::INTERPRETER_WITH_CODE, rules::interpreter_code::check),
    (crate::codes::REDUNDANT_RULE, rules::redundant_rule::check),
    (crate::codes::OVERLAPPING_RULES, rules::overlapping_rules::check),
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

/// Drops the warnings a comment suppresses: `# vtpolicy: ignore VT101
/// why` at the end of the line a warning points at, or alone on the line
/// before it. The reason is required; errors cannot be suppressed.
pub fn suppress(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.retain(|diagnostic| {
        if diagnostic.is_error() {
            return true;
        }
        let Some(location) = &diagnostic.location else { return true };
        let (line, _) = location.file.line_col(location.span.start);
        let same_line = location.file.line_text(line);
        let comment_of = |text: &str| text.split_once('#').map(|(_, comment)| comment.trim().to_owned());
        let line_before =
            (line > 1).then(|| location.file.line_text(line - 1)).filter(|t| t.trim_start().starts_with('#'));
        ![comment_of(same_line), line_before.and_then(comment_of)]
            .into_iter()
            .flatten()
            .any(|comment| suppresses(&comment, diagnostic.code))
    });
}

/// Whether a comment's text (after `#`) suppresses `code`.
fn suppresses(comment: &str, code: &str) -> bool {
    let Some(rest) = comment.strip_prefix("vtpolicy:") else { return false };
    let Some(rest) = rest.trim_start().strip_prefix("ignore") else { return false };
    let mut words = rest.split_whitespace();
    words.next().is_some_and(|named| named.eq_ignore_ascii_case(code)) && words.next().is_some()
}

/// The codes of the registered lint rules.
pub fn lint_codes() -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = RULES.iter().map(|(code, _)| *code).collect();
    // Checked outside the compiler: the kernel lints against the live
    // system, VT113 by the runtime's normaliser.
    codes.extend([crate::codes::KERNEL_GAP, crate::codes::KERNEL_ABI, crate::codes::NEVER_MATCHES]);
    codes
}
