//! Every diagnostic code, in one table: `vtpolicy check --explain VT###`.
//!
//! Codes are never reused. Errors (`VT0##`) come from parsing and lowering;
//! warnings (`VT1##`) are the lint rules under `lint/rules/`, one per file.

use vtpolicy_grammar::Severity;

/// A diagnostic code and its documentation.
#[derive(Debug, Clone, Copy)]
pub struct Code {
    pub code: &'static str,
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    /// Markdown with the sections `## What it does`, `## Why is this bad?`,
    /// `## Example`, `## Fix`.
    pub doc: &'static str,
}

macro_rules! codes {
    ($($konst:ident = $code:literal, $name:literal, $severity:ident, $summary:literal, $doc:expr;)*) => {
        $(pub const $konst: &str = $code;)*
        /// All codes, in code order.
        pub const CODES: &[Code] = &[
            $(Code { code: $code, name: $name, severity: Severity::$severity, summary: $summary, doc: $doc },)*
        ];
    };
}

codes! {
    SYNTAX_ERROR = "VT001", "syntax-error", Error, "the text is not valid .vtp syntax",
        "## What it does\nReports text the grammar cannot read.\n\n## Why is this bad?\nA policy that does not parse cannot be enforced; vtpolicy refuses to run with it.\n\n## Example\n```\nallow exec\n```\n\n## Fix\nWrite what the label under the caret expects, e.g. `allow exec git status`.\n";
    UNKNOWN_VARIABLE = "VT002", "unknown-variable", Error, "a `${…}` variable that does not exist",
        "## What it does\nReports a variable other than `${workspace}`, `${home}`, `${tmp}` and `${cwd}`.\n\n## Why is this bad?\nAn unknown variable cannot be expanded; guessing would make the pattern mean something else.\n\n## Example\n```\nallow write \"${wrkspace}/**\"\n```\n\n## Fix\nUse one of the four variables.\n";
    INVALID_GLOB = "VT003", "invalid-glob", Error, "a glob that cannot be compiled",
        "## What it does\nReports a path, token or tool glob with unbalanced `[` or `{`.\n\n## Why is this bad?\nThe pattern cannot be matched.\n\n## Example\n```\ndeny read \"/etc/[abc\"\n```\n\n## Fix\nClose the class or alternation, or escape it with `\\\\`.\n";
    DUPLICATE_ID = "VT004", "duplicate-rule-id", Error, "two rules share one `id`",
        "## What it does\nReports an `id` used by two rules of one policy (its `extend`s included).\n\n## Why is this bad?\n`explain` and the events name deciding rules by id; two rules with one id make them ambiguous.\n\n## Example\n```\ndeny exec sudo .. id \"priv\"\ndeny exec su .. id \"priv\"\n```\n\n## Fix\nGive each rule its own id.\n";
    INVALID_QUANTITY = "VT005", "invalid-quantity", Error, "a size, duration or count that cannot be read",
        "## What it does\nReports a limit whose value has an unknown unit or does not fit.\n\n## Why is this bad?\nA limit that cannot be read cannot be enforced.\n\n## Example\n```\nlimits { memory 4 gigs }\n```\n\n## Fix\nSizes take `B`, `KiB`, `MiB`, `GiB`, `TiB` (or `KB`, `MB`, `GB`); durations `ms`, `s`, `m`, `h`; counts no unit.\n";
    UNKNOWN_POLICY = "VT006", "unknown-policy", Error, "an `extend` of a policy that cannot be found",
        "## What it does\nReports an `extend` naming neither a stock policy nor a readable file.\n\n## Why is this bad?\nThe policy would silently lack the rules it meant to include.\n\n## Example\n```\nextend \"workspace-wirte\"\n```\n\n## Fix\nName a stock policy (`read-only`, `workspace-write`, `danger-full-access`) or a `.vtp` file, relative to the extending file.\n";
    CYCLIC_EXTEND = "VT007", "cyclic-extend", Error, "policies that extend each other in a cycle",
        "## What it does\nReports an `extend` that leads back to a policy already being extended.\n\n## Why is this bad?\nThe combined policy is not well defined.\n\n## Example\n```\n# a.vtp\nextend \"b.vtp\"\n# b.vtp\nextend \"a.vtp\"\n```\n\n## Fix\nMove the shared rules into a third file both extend.\n";
    MIXED_KINDS = "VT008", "mixed-rule-kinds", Error, "one rule for kinds that take different patterns",
        "## What it does\nReports a rule listing `exec`, `net` or `tool` together with another kind.\n\n## Why is this bad?\nAn argv pattern, a host and a path glob are different things; only `read` and `write` share path patterns.\n\n## Example\n```\nallow read, exec \"/usr/**\"\n```\n\n## Fix\nWrite one rule per kind.\n";
    BAD_VERSION = "VT009", "unsupported-version", Error, "a missing or unsupported `version`",
        "## What it does\nReports a file without `version 1`, or with a version this vtpolicy does not know.\n\n## Why is this bad?\nThe language version pins the semantics a policy was written for.\n\n## Example\n```\nversion 2\n```\n\n## Fix\nStart the file with `version 1`.\n";
    TEST_FAILED = "VT010", "failing-test", Error, "an inline `test` case whose decision differs",
        "## What it does\nRuns every `test` case and reports those whose decision is not the expected one.\n\n## Why is this bad?\nThe policy does not do what its author wrote down it should.\n\n## Example\n```\ntest { exec git push --force => deny }\n```\n\n## Fix\nFix the rules, or the expectation if the rules are right. `vtpolicy explain` shows which rules decided.\n";
    CONFLICTING_DEFAULT = "VT011", "conflicting-default", Error, "two `default`s for the same kind in one file",
        "## What it does\nReports a kind given two different defaults in one file.\n\n## Why is this bad?\nOnly one can apply; the file does not say which.\n\n## Example\n```\ndefault write deny\ndefault write prompt\n```\n\n## Fix\nKeep one.\n";
    UNKNOWN_LIMIT = "VT012", "unknown-limit", Error, "a limit vtpolicy does not know",
        "## What it does\nReports a name in `limits { }` other than `cpu`, `memory`, `processes`, `file_size`, `open_files`, `wall`.\n\n## Why is this bad?\nA limit that is silently ignored protects nothing.\n\n## Example\n```\nlimits { ram 4GiB }\n```\n\n## Fix\nUse one of the known names.\n";
    ALLOW_UNANALYSABLE = "VT013", "allow-unanalysable", Error, "`default unanalysable allow`",
        "## What it does\nReports an attempt to allow shell constructs that cannot be analysed.\n\n## Why is this bad?\nCommand substitution, `eval` and friends hide what runs; they are never allowed.\n\n## Example\n```\ndefault unanalysable allow\n```\n\n## Fix\nUse `prompt` (the floor) or `deny`.\n";
    RELATIVE_PATH = "VT014", "relative-path-pattern", Error, "a path pattern that is not absolute",
        "## What it does\nReports a `read`/`write` pattern or `trusted_bin` directory that is neither absolute nor starts with `**`.\n\n## Why is this bad?\nRequests are judged on absolute, resolved paths; a relative pattern would never match.\n\n## Example\n```\nallow write \"src/**\"\n```\n\n## Fix\nAnchor it: `\"${workspace}/src/**\"`.\n";
    EMPTY_PATTERN = "VT015", "empty-pattern", Error, "an empty string where a pattern is required",
        "## What it does\nReports `\"\"` used as a path, host, tool name or program.\n\n## Why is this bad?\nIt matches nothing a request can carry, so the rule is dead.\n\n## Example\n```\ndeny read \"\"\n```\n\n## Fix\nWrite the pattern, or delete the rule.\n";
    BAD_PROGRAM_MODEL = "VT016", "bad-program-model", Error, "a program catalogue entry that cannot be used",
        "## What it does\nReports a program catalogue (`programs.toml`) that does not parse, names a field or operand role that does not exist, spells an option without its leading `-`, lets a script option take no value, or gives one program name to two models.\n\n## Why is this bad?\nThe catalogue says what programs do with their arguments; commands are judged by it. A model that cannot be read would leave commands judged by their spelling alone, and two models for one name leave it unclear which one judges.\n\n## Example\n```\n[program.mytool]\noperands = \"reads\"\nread_options = [\"config\"]\n```\n\n## Fix\nUse a role from the list at the top of `policies/programs.toml` (`operands = \"read\"`) and spell options as given on the command line (`\"--config\"`).\n";
    SCOPED_RULE = "VT017", "scope-on-non-net-rule", Error, "`when running` on a rule that is not a net rule on hosts",
        "## What it does\nReports `when running` on an exec, path, unix socket or tool rule.\n\n## Why is this bad?\n`when running ARGV` lets a run reach hosts only while its command is the one named (registries only for `npm ci`). Only the egress proxy can tell which run a connection belongs to; other rules would silently apply everywhere or nowhere.\n\n## Example\n```\nallow write \"${home}/.npm/**\"\n    when running npm ci ..\n```\n\n## Fix\nRemove `when running`, or scope the hosts the command needs: `allow net \"registry.npmjs.org\" port 443 when running npm ci ..`.\n";
    UNREACHABLE_RULE = "VT101", "unreachable-rule", Warning, "a rule that a stricter rule always overrides",
        crate::lint::rules::unreachable_rule::DOC;
    NETWORK_WILDCARD_HOST = "VT102", "network-wildcard-host", Warning, "network access allowed to every host",
        crate::lint::rules::network_wildcard_host::DOC;
    DUPLICATE_RULE = "VT103", "duplicate-rule", Warning, "the same pattern twice with the same effect",
        crate::lint::rules::duplicate_rule::DOC;
    WORKSPACE_ALLOW_IGNORED = "VT104", "workspace-allow-ignored", Warning, "an allow rule in a policy loaded from the workspace",
        "## What it does\nReports `allow` rules of a policy file that lives inside the workspace.\n\n## Why is this bad?\nAny cloned repository can ship such a file; it may only tighten the policy, so its allow rules are ignored.\n\n## Example\n```\n# ./.vtpolicy.vtp\nallow exec curl ..\n```\n\n## Fix\nMove allow rules to a policy outside the workspace.\n";
    KERNEL_GAP = "VT105", "kernel-gap", Warning, "a rule the kernel sandbox enforces only in part",
        crate::lint::rules::kernel_gap::DOC;
    KERNEL_ABI = "VT106", "kernel-abi", Warning, "the running kernel cannot enforce the whole kernel profile",
        crate::lint::rules::kernel_abi::DOC;
    REGO_NO_DECISION = "VT107", "rego-no-decision", Warning, "a Rego policy that never defines `decision`",
        "## What it does\nReports a Rego policy (`package vtpolicy`) with no `decision` rule.\n\n## Why is this bad?\nWithout `decision` the policy abstains on every request: it decides nothing.\n\n## Example\n```\npackage vtpolicy\nallow if input.kind == \"read\"\n```\n\n## Fix\nDefine `decision` as `\"allow\"`, `\"prompt\"` or `\"deny\"`, e.g. `decision := \"deny\" if input.kind == \"net\"`.\n";
    REGO_NO_SANDBOX = "VT108", "rego-no-sandbox", Warning, "a Rego policy has no kernel profile",
        "## What it does\nReports that a Rego policy adds nothing to the kernel sandbox of `vtpolicy run`.\n\n## Why is this bad?\nThe kernel profile (Landlock, seccomp, Seatbelt) is compiled from `.vtp` policies; a Rego module decides tool calls but declares no readable or writable trees, network or limits. With Rego policies alone, `run` applies no kernel sandbox.\n\n## Example\n```\nvtpolicy run --policy rules.rego -- make\n```\n\n## Fix\nCombine it with a `.vtp` policy that states the sandbox: `--policy workspace-write --policy rules.rego`.\n";
    WILDCARD_WITHOUT_APEX = "VT109", "wildcard-without-apex", Warning, "`*.example.com` without `example.com`",
        crate::lint::rules::wildcard_without_apex::DOC;
    BROAD_ALLOW = "VT110", "broad-allow", Warning, "an allow of nearly everything of its kind",
        crate::lint::rules::broad_allow::DOC;
    INTERPRETER_WITH_CODE = "VT111", "interpreter-with-code", Warning, "a shell or interpreter allowed with code arguments",
        crate::lint::rules::interpreter_code::DOC;
    REDUNDANT_RULE = "VT112", "redundant-rule", Warning, "a rule that changes no decision: covered by one of the same effect, or equal to the default",
        crate::lint::rules::redundant_rule::DOC;
    NEVER_MATCHES = "VT113", "never-matches", Warning, "an exec rule no call can match once normalised",
        "## What it does\nReports an exec rule that matches none of the calls its pattern describes once they are normalised: each instance of the pattern (wildcards filled in, each alternative) is judged as a real call would be, outside the sandbox and in it, and the rule matches none. Only the policy's own rules are checked, against this machine's programs.\n\n## Why is this bad?\nRules are judged against what the normaliser makes of a command, not its spelling: wrappers such as `timeout 60`, `nice`, `env FOO=1` and `FOO=1` are removed, `git -C DIR` becomes a working directory, a relative program (`./x`, `bin/x`) is the file it names, and options are read by the program's grammar. A rule spelled with any of those matches nothing, and the command it was meant for falls to another rule or the default.\n\n## Example\n```\nallow exec timeout 60 make ..\nallow exec git -C \"/src\" status\n```\n\n## Fix\nWrite the rule for the command that remains: `allow exec make ..`, `allow exec git status`. `vtpolicy explain -- ARGV` shows how a command is judged.\n";
    OVERLAPPING_RULES = "VT114", "overlapping-rules", Warning, "rules with different effects that overlap in part",
        crate::lint::rules::overlapping_rules::DOC;
}

/// The documentation of a code, looked up by code (`VT012`) or name.
pub fn lookup(code_or_name: &str) -> Option<&'static Code> {
    CODES.iter().find(|c| c.code.eq_ignore_ascii_case(code_or_name) || c.name == code_or_name)
}
