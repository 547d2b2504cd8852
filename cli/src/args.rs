//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// One declarative policy for AI coding agents: lint it, test it, and ask
/// why any tool call is allowed, prompted or denied.
#[derive(Debug, Parser)]
#[command(
    name = "vtpolicy",
    version,
    about = "One declarative policy for AI coding agents: lint it, test it, ask why any tool call is allowed, prompted or denied, and run commands under it in a kernel sandbox",
    after_help = "Exit codes: 0 success; 1 the command found a problem (errors, failing tests, unformatted files); 2 the command could not run (bad arguments, a policy that does not compile, a malformed request). `run` exits with its command's status, 126 denied, 124 timed out, 125 on its own failure."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse, validate and lint policies, and run their inline tests.
    ///
    /// PATH is a `.vtp` file, a directory (searched for `*.vtp`), or a stock
    /// policy name. Exits 0 when there is no error, 1 otherwise.
    Check(CheckArgs),
    /// Decide one tool call and show why: deciding rules, defaults, parts
    /// of shell text, and every rule considered.
    ///
    /// Exits 0 when the call was evaluated, whatever the decision.
    Explain(ExplainArgs),
    /// What a policy change changes: whether NEW is equivalent to OLD,
    /// more permissive, less permissive or incomparable, with a witness
    /// call for every changed region and its old and new decisions.
    ///
    /// Each side is one policy (OLD, NEW) or several (`--old`, `--new`,
    /// repeated; combined as `--policy` combines them). Witnesses are
    /// request JSON that `explain --request` decides as shown. Exits 0 when
    /// equivalent, 1 otherwise, 2 when a side does not compile.
    Diff(DiffArgs),
    /// Run inline `test` blocks and case files (`*.tests.toml`, `*.jsonl`).
    ///
    /// Exits 0 when every case passes, 1 otherwise.
    Test(TestArgs),
    /// Rewrite policies in canonical form (comments kept).
    ///
    /// With `--check`, change nothing and exit 1 if any file would change.
    /// PATH `-` formats standard input to standard output.
    Fmt(FmtArgs),
    /// Emit a compiled artifact of a policy.
    Compile(CompileArgs),
    /// Print a JSON Schema.
    Schema(SchemaArgs),
    /// Judge a command, ask when the policy says prompt, then run it in the
    /// kernel sandbox.
    ///
    /// Exits with the command's status (128 + N when killed by signal N),
    /// 126 when denied, 124 when timed out, 125 when vtpolicy itself failed
    /// (nothing ran).
    Run(RunArgs),
    /// What this machine can enforce.
    Sandbox(SandboxArgs),
    /// Answer a Claude Code or Codex PreToolUse hook: judge the tool call
    /// on standard input and print the permission decision.
    ///
    /// An allowed or asked `Bash` call is rewritten into `vtpolicy run`
    /// with the same policies, so it executes in the kernel sandbox; it is
    /// judged as a sandboxed call. Exits 0 with the answer on standard
    /// output, or 2 with the reason on standard error when the call cannot
    /// be judged (which both agents take as a refusal); never 1.
    Hook(HookArgs),
    /// Answer decisions over JSON lines, on standard input and output or
    /// on a unix socket.
    ///
    /// Each line `{"id": 1, "request": {…}}` (with `"explain": true` for
    /// the full trace, `"sandboxed": true` for a call that will run in the
    /// sandbox) gets `{"id": 1, "decision": …, "rules": […], "reasons":
    /// […], "default_applied": …}`; a bad line gets `{"id": …, "error":
    /// …}` and the server goes on. Policies reload when their files
    /// change. Exits 0 at the end of standard input.
    Serve(ServeArgs),
    /// The rules that prompts answered "always" at `vtpolicy run` added.
    ///
    /// They live in `$XDG_STATE_HOME/vtpolicy/approvals.vtp` (else
    /// `~/.local/state/vtpolicy/approvals.vtp`), a policy read by `run`,
    /// `explain`, `hook` and `serve` beside their own: each allow rule
    /// there lifts a prompt it matches, never a deny.
    Approvals(ApprovalsArgs),
    /// Translate another agent's permission rules into a `.vtp` policy.
    ///
    /// Writes the policy to standard output (or `-o`), with a comment per
    /// translated rule; what could not be translated is listed on standard
    /// error and in a closing comment block.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApprovalsArgs {
    #[command(subcommand)]
    pub(crate) command: ApprovalsCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ApprovalsCommand {
    /// Every approval: its id and its rule.
    List,
    /// Remove the approval ID (the rest must still compile).
    Revoke { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum HookAgent {
    /// Claude Code (`.claude/settings.json` `hooks.PreToolUse`).
    ClaudeCode,
    /// Codex (`hooks.json`, the same PreToolUse protocol).
    Codex,
}

#[derive(Debug, Args)]
pub(crate) struct HookArgs {
    #[arg(value_enum)]
    pub(crate) agent: HookAgent,
    /// A policy file or stock policy name. Repeat to combine policies.
    #[arg(long = "policy", short = 'p', value_name = "P", required = true)]
    pub(crate) policies: Vec<String>,
    /// The workspace [default: `$CLAUDE_PROJECT_DIR` for Claude Code, else
    /// the payload's `cwd`]. `$CLAUDE_PROJECT_DIR` wins over this flag.
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// Judge `Bash` calls as unsandboxed and leave them as they are,
    /// instead of rewriting them to run under `vtpolicy run`.
    #[arg(long)]
    pub(crate) no_sandbox: bool,
}

#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// A policy file or stock policy name. Repeat to combine policies.
    #[arg(long = "policy", short = 'p', value_name = "P", required = true)]
    pub(crate) policies: Vec<String>,
    /// The workspace `${workspace}` stands for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// Listen on this unix socket (mode 0600, any number of clients)
    /// instead of standard input and output.
    #[arg(long, value_name = "PATH")]
    pub(crate) socket: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ImportFormat {
    /// Claude Code `settings.json` (`permissions.allow/ask/deny`, `defaultMode`).
    Claude,
    /// Codex `.rules` (`prefix_rule`, `network_rule`, `host_executable`).
    Codex,
    /// vtcode `tool-policy.json` or `vtcode.toml`.
    Vtcode,
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[arg(value_enum)]
    pub(crate) format: ImportFormat,
    /// The file to translate.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Write the policy here instead of standard output.
    #[arg(long, short = 'o', value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// Run without asking when the policy says prompt (a denial stays a
    /// denial). Without it and without a terminal, prompt means no.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Kill the command and everything it started after this long
    /// (`500ms`, `30s`, `10m`); the policy's `limits { wall … }` applies too.
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,
    /// Append the JSON-lines events here instead of standard error
    /// (see `vtpolicy schema events`).
    #[arg(long, value_name = "FILE")]
    pub(crate) events: Option<PathBuf>,
    /// Shell text to judge and run with `/bin/sh -c`, redirections included.
    #[arg(long, short = 'c', value_name = "TEXT", conflicts_with = "argv")]
    pub(crate) command: Option<String>,
    /// The program and its arguments, after `--`.
    #[arg(last = true, value_name = "ARGV", required_unless_present = "command")]
    pub(crate) argv: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    #[command(subcommand)]
    pub(crate) command: SandboxCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Landlock ABI, seccomp, user namespaces, cgroups, root or not, and
    /// what `run` will therefore enforce.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Finish what runs whose vtpolicy was killed left undone: quarantine
    /// what they created, remove their temporary directories and cgroups.
    /// `run` does this on its own before it starts.
    Recover,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Human,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyArgs {
    /// A policy file or stock policy name (`read-only`, `workspace-write`,
    /// `danger-full-access`). Repeat to combine policies: the strictest wins.
    #[arg(long = "policy", short = 'p', value_name = "P", required = true)]
    pub(crate) policies: Vec<String>,
    /// The workspace `${workspace}` stands for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(override_usage = "vtpolicy check [OPTIONS] <PATH>...\n       vtpolicy check --explain <CODE>")]
pub(crate) struct CheckArgs {
    /// Policy files, directories or stock names (at least one, unless
    /// `--explain`).
    #[arg(value_name = "PATH", required_unless_present = "explain")]
    pub(crate) paths: Vec<String>,
    /// Print the documentation of a diagnostic code (e.g. `VT101`) and exit.
    #[arg(long, value_name = "CODE", conflicts_with = "paths")]
    pub(crate) explain: Option<String>,
    /// The workspace `${workspace}` stands for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// Output format: `json` is stable (see the README), `sarif` is SARIF
    /// 2.1.0 for code scanning, `github` workflow annotations.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub(crate) format: ReportFormat,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub(crate) deny_warnings: bool,
}

/// How `check` and `diff` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReportFormat {
    Human,
    Json,
    Sarif,
    Github,
}

#[derive(Debug, Args)]
#[command(
    override_usage = "vtpolicy diff [OPTIONS] <OLD> <NEW>\n       vtpolicy diff [OPTIONS] --old <P>... --new <P>..."
)]
pub(crate) struct DiffArgs {
    /// The old policy: a file or stock policy name.
    #[arg(value_name = "OLD", requires = "new_policy")]
    pub(crate) old_policy: Option<String>,
    /// The new policy: a file or stock policy name.
    #[arg(value_name = "NEW")]
    pub(crate) new_policy: Option<String>,
    /// A policy of the old side (repeat to combine several).
    #[arg(long = "old", value_name = "P")]
    pub(crate) old: Vec<String>,
    /// A policy of the new side (repeat to combine several).
    #[arg(long = "new", value_name = "P")]
    pub(crate) new: Vec<String>,
    /// The workspace `${workspace}` stands for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// The directory calls run in [default: the workspace].
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,
    /// Output format: `json` is `{"verdict": …, "witnesses": [{"request":
    /// …, "old": …, "new": …}]}`, `sarif` is SARIF 2.1.0, `github`
    /// workflow annotations.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub(crate) format: ReportFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    /// A request JSON file, or `-` for standard input
    /// (see `vtpolicy schema request`).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["argv", "command"])]
    pub(crate) request: Option<String>,
    /// Shell text to judge, as an agent's shell tool would run it.
    #[arg(long, short = 'c', value_name = "TEXT", conflicts_with = "argv")]
    pub(crate) command: Option<String>,
    /// The directory the call runs in [default: the workspace].
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,
    /// Judge the call as one that will run inside the kernel sandbox
    /// (`vtpolicy run`): rules written `when sandboxed` apply. A request
    /// file says the same with `"sandboxed": true`.
    #[arg(long)]
    pub(crate) sandboxed: bool,
    /// Output format; `json` is stable (see the README).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
    /// The program and its arguments, after `--`.
    #[arg(last = true, value_name = "ARGV")]
    pub(crate) argv: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// Policy files, case files, directories or stock names.
    #[arg(value_name = "PATH", required = true)]
    pub(crate) paths: Vec<String>,
    /// The workspace `${workspace}` stands for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub(crate) workspace: Option<PathBuf>,
    /// Output format; `json` is stable (see the README).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct FmtArgs {
    /// Policy files or directories; `-` for standard input.
    #[arg(value_name = "PATH", required = true)]
    pub(crate) paths: Vec<String>,
    /// Report files that are not formatted; change nothing.
    #[arg(long)]
    pub(crate) check: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Target {
    /// The decision graph the engine evaluates (json, dot).
    Graph,
    /// The Landlock ruleset, resolved against this file system (json).
    Landlock,
    /// The seccomp BPF program (disasm, bin, json).
    Seccomp,
    /// The macOS Seatbelt profile with its `-D` parameters (text, json).
    Sbpl,
    /// Which layers enforce each rule, and the gaps, on this kernel (human, json).
    Report,
    /// The policy as data, as written (json; see `vtpolicy schema policy`).
    Json,
    /// A self-contained Rego module (`package vtpolicy`) deciding like the policies (text).
    Rego,
    /// Claude Code `permissions.allow/ask/deny` for what its own rules can
    /// express (json); what does not translate is listed on stderr.
    ClaudeSettings,
    /// Codex `prefix_rule`s for what its own rules can express (text);
    /// what does not translate is listed on stderr.
    CodexRules,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ArtifactFormat {
    Json,
    Dot,
    /// Raw BPF instructions as the kernel loads them (8 bytes each, host byte order).
    Bin,
    /// One BPF instruction per line, annotated.
    Disasm,
    Text,
    Human,
}

#[derive(Debug, Args)]
pub(crate) struct CompileArgs {
    #[command(flatten)]
    pub(crate) policy: PolicyArgs,
    #[arg(long, value_enum)]
    pub(crate) target: Target,
    /// Output format [default: json for graph and landlock, disasm for
    /// seccomp, text for sbpl, human for report].
    #[arg(long, value_enum)]
    pub(crate) format: Option<ArtifactFormat>,
    /// Write to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SchemaName {
    /// The request JSON accepted by `explain --request` and case files.
    Request,
    /// The JSON-lines events of `run`.
    Events,
    /// The output of `explain --format json`.
    Explain,
    /// Policy as data: `compile --target json`, `--policy FILE.json`.
    Policy,
}

#[derive(Debug, Args)]
pub(crate) struct SchemaArgs {
    #[arg(value_enum)]
    pub(crate) name: SchemaName,
}
