//! VT106 `kernel-abi`.

use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;
use crate::profile::fidelity::FidelityReport;

pub(crate) const DOC: &str = "## What it does
Reports what the running kernel's Landlock ABI cannot enforce for this policy: below the policy's minimum
ABI `vtpolicy run` refuses to start; below ABI 6 signals and abstract unix sockets cross the sandbox.

## Why is this bad?
The kernel profile is weaker on this machine than the policy reads, or not applied at all.

## Example
```
default net deny     # needs Landlock ABI 4 for TCP port rules
```

## Fix
Run on a newer kernel (Linux 6.12 has ABI 6), or accept the reported gap.
";

/// One warning per policy for each ABI shortfall of this kernel.
pub(crate) fn check(policy: &CompiledPolicy, report: &FidelityReport, diagnostics: &mut Vec<Diagnostic>) {
    let short = report.landlock_abi < 6;
    for gap in report.kernel.iter().filter(|g| g.fatal || (short && g.gap.contains("needs"))) {
        diagnostics.push(
            Diagnostic::warning(codes::KERNEL_ABI, format!("policy `{}`: {}", policy.policy.name, gap.gap))
                .at(&policy.source, vtpolicy_grammar::Span { start: 0, end: 0 }),
        );
    }
}
