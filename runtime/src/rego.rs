//! Rego policies: `--policy FILE.rego` wherever a policy is accepted,
//! evaluated with regorus.
//!
//! The module is `package vtpolicy`; `input` is the normalised request as
//! the Rego export writes it ([`vtpolicy_compiler::rego::rego_input`]), so
//! an exported policy loads back as a Rego policy and decides alike, and
//! beside those fields the call's own, named as in the request JSON
//! ([`CallFields`]): `argv`, `command`, `args` of a tool, `cwd`,
//! `workspace` and `sandboxed`.
//! `data.vtpolicy.decision` is `"allow"`, `"prompt"` or `"deny"`;
//! `rules` (rule ids) and `reasons` are optional. Undefined means the
//! policy abstains. An evaluation error, or any other value, is a denial
//! that says why: a broken policy fails closed.

use std::path::Path;
use std::sync::{Arc, Mutex};

use vtpolicy_compiler::codes;
use vtpolicy_compiler::rego::rego_input;
use vtpolicy_compiler::{Diagnostic, SourceFile, Span};
use vtpolicy_engine::{Effect, ExternalVerdict, Request};

use crate::Layering;

/// What a Rego policy reads of the call a normalised request came from,
/// beside the request itself.
#[derive(Debug, Clone, Copy)]
pub struct CallFields<'a> {
    /// The shell text of an exec call given as text.
    pub command: Option<&'a str>,
    /// The tool call's arguments.
    pub tool_args: Option<&'a serde_json::Value>,
    pub cwd: &'a Path,
    pub workspace: &'a Path,
    /// Whether the call runs inside the kernel sandbox.
    pub sandboxed: bool,
}

/// `input` for `request`: the export's fields and the call's.
pub fn input(request: &Request, call: &CallFields<'_>) -> serde_json::Value {
    use serde_json::Value;
    let mut input = rego_input(request);
    let Some(fields) = input.as_object_mut() else { return input };
    match request {
        Request::Exec(exec) => {
            // After normalisation: wrappers removed, the program as
            // spelled; an argument only known at run time is `null`.
            let argv = std::iter::once(Value::String(exec.program.spelled.clone()))
                .chain(exec.args.iter().map(|arg| match arg {
                    vtpolicy_engine::Arg::Known(text) => Value::String(text.clone()),
                    vtpolicy_engine::Arg::Unknown => Value::Null,
                }))
                .collect();
            fields.insert("argv".to_owned(), Value::Array(argv));
            if let Some(command) = call.command {
                fields.insert("command".to_owned(), Value::String(command.to_owned()));
            }
        }
        Request::Tool { .. } => {
            let args = call.tool_args.cloned().unwrap_or_else(|| Value::Object(serde_json::Map::new()));
            fields.insert("args".to_owned(), args);
        }
        Request::Read { .. } | Request::Write { .. } | Request::Net { .. } | Request::Unix { .. } => {}
    }
    let text = |path: &Path| Value::String(path.to_string_lossy().into_owned());
    fields.insert("cwd".to_owned(), text(call.cwd));
    fields.insert("workspace".to_owned(), text(call.workspace));
    fields.insert("sandboxed".to_owned(), Value::Bool(call.sandboxed));
    input
}

/// A loaded Rego policy.
pub struct RegoPolicy {
    pub name: String,
    pub source: Arc<SourceFile>,
    /// Loaded from inside the workspace for enforcement: its allows are
    /// ignored (it may only tighten).
    pub tighten_only: bool,
    engine: Mutex<regorus::Engine>,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy").field("name", &self.name).field("tighten_only", &self.tighten_only).finish()
    }
}

/// Whether `spec` names a Rego policy.
pub fn is_rego(spec: &str) -> bool {
    Path::new(spec).extension().is_some_and(|e| e == "rego")
}

impl RegoPolicy {
    /// Loads and parses `path`. Warnings: no `decision` rule, allows
    /// ignored by layering.
    pub fn load(path: &str, workspace: &Path, layering: Layering) -> (Option<RegoPolicy>, Vec<Diagnostic>) {
        let canonical = match std::fs::canonicalize(path) {
            Ok(canonical) => canonical,
            Err(error) => {
                return (
                    None,
                    vec![Diagnostic::error(codes::UNKNOWN_POLICY, format!("cannot read `{path}`: {error}"))],
                );
            }
        };
        let text = match std::fs::read_to_string(&canonical) {
            Ok(text) => text,
            Err(error) => {
                return (
                    None,
                    vec![Diagnostic::error(codes::UNKNOWN_POLICY, format!("cannot read `{path}`: {error}"))],
                );
            }
        };
        let tighten_only = layering.tightens_only(&canonical, workspace);
        RegoPolicy::from_text(&canonical.to_string_lossy(), &text, tighten_only)
    }

    /// A Rego module given as text, named `name` in diagnostics. With
    /// `tighten_only` its `allow` decisions are ignored, as for a module
    /// loaded from inside the workspace.
    pub fn from_text(name: &str, text: &str, tighten_only: bool) -> (Option<RegoPolicy>, Vec<Diagnostic>) {
        let name = name.to_owned();
        let text = text.to_owned();
        let source = SourceFile::new(name.clone(), text.clone());
        let mut engine = regorus::Engine::new();
        if let Err(error) = engine.add_policy(name.clone(), text.clone()) {
            return (None, vec![rego_error(&source, &error.to_string())]);
        }
        let mut diagnostics = Vec::new();
        if !text.contains("package vtpolicy") {
            diagnostics.push(
                Diagnostic::error(codes::SYNTAX_ERROR, "a Rego policy is `package vtpolicy`")
                    .at(&source, Span { start: 0, end: 0 }),
            );
            return (None, diagnostics);
        }
        if !defines(&text, "decision") {
            diagnostics.push(
                Diagnostic::warning(
                    codes::REGO_NO_DECISION,
                    "the module never defines `decision`: the policy always abstains",
                )
                .at(&source, Span { start: 0, end: 0 })
                .with_help("define `decision` as \"allow\", \"prompt\" or \"deny\""),
            );
        }
        if tighten_only {
            diagnostics.push(
                Diagnostic::warning(
                    codes::WORKSPACE_ALLOW_IGNORED,
                    "this Rego policy is loaded from inside the workspace: its `allow` decisions are ignored",
                )
                .at(&source, Span { start: 0, end: 0 }),
            );
        }
        let policy = RegoPolicy { name, source, tighten_only, engine: Mutex::new(engine) };
        (Some(policy), diagnostics)
    }

    /// What the policy says about `request`, part of the call `call`.
    pub fn decide(&self, request: &Request, call: &CallFields<'_>) -> ExternalVerdict {
        let deny = |why: String| ExternalVerdict {
            effect: Some(Effect::Deny),
            rules: vec!["rego-error".to_owned()],
            because: Some(why),
            default_applied: false,
        };
        let Ok(mut engine) = self.engine.lock() else {
            return deny("the Rego engine is unusable after an earlier failure".to_owned());
        };
        let input = match regorus::Value::from_json_str(&input(request, call).to_string()) {
            Ok(input) => input,
            Err(error) => return deny(format!("cannot build the input: {error}")),
        };
        engine.set_input(input);
        let mut eval = |rule: &str| engine.eval_rule(format!("data.vtpolicy.{rule}"));
        let decision = match eval("decision") {
            Ok(value) => value,
            Err(error) => return deny(format!("evaluation failed: {}", one_line(&error.to_string()))),
        };
        if decision == regorus::Value::Undefined {
            return ExternalVerdict { effect: None, rules: Vec::new(), because: None, default_applied: false };
        }
        let effect = match decision.as_string().map(|s| s.to_string()).as_deref() {
            Ok("allow") => Effect::Allow,
            Ok("prompt") => Effect::Prompt,
            Ok("deny") => Effect::Deny,
            _ => return deny(format!("`decision` is {decision}, not \"allow\", \"prompt\" or \"deny\"")),
        };
        if effect == Effect::Allow && self.tighten_only {
            return ExternalVerdict { effect: None, rules: Vec::new(), because: None, default_applied: false };
        }
        let strings = |value: Result<regorus::Value, _>| -> Vec<String> {
            match value {
                Ok(regorus::Value::Set(items)) => {
                    items.iter().filter_map(|v| v.as_string().ok().map(|s| s.to_string())).collect()
                }
                Ok(regorus::Value::Array(items)) => {
                    items.iter().filter_map(|v| v.as_string().ok().map(|s| s.to_string())).collect()
                }
                Ok(regorus::Value::String(text)) => vec![text.to_string()],
                _ => Vec::new(),
            }
        };
        let mut rules = strings(eval("rules"));
        let reasons = strings(eval("reasons"));
        let default_applied = rules.is_empty();
        if rules.is_empty() {
            // The module as a whole decided.
            rules.push(format!("{}:decision", short_name(&self.name)));
        }
        ExternalVerdict {
            effect: Some(effect),
            rules,
            because: (!reasons.is_empty()).then(|| reasons.join("; ")),
            default_applied,
        }
    }
}

/// A regorus error on one line: where, then what.
fn one_line(message: &str) -> String {
    let at = message.lines().find_map(|l| l.trim().strip_prefix("--> ")).unwrap_or_default();
    let what = message
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("error:"))
        .map(str::trim)
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().trim());
    if at.is_empty() { what.to_owned() } else { format!("{what} at {at}") }
}

fn short_name(path: &str) -> &str {
    Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path)
}

/// Whether a rule named `name` is defined at the start of a line.
fn defines(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let line = line.trim_start();
        line.strip_prefix(name).is_some_and(|rest| rest.starts_with([' ', '\t', ':', '=', '{']) || rest.is_empty())
            || line.strip_prefix("default ").is_some_and(|rest| rest.trim_start().starts_with(name))
    })
}

/// A regorus parse error as a diagnostic at its line and column.
fn rego_error(source: &Arc<SourceFile>, message: &str) -> Diagnostic {
    // regorus: `--> file:LINE:COL` then the source line, a caret and the
    // error; keep the last line as the message and the position as span.
    let position = message.lines().find_map(|l| l.trim().strip_prefix("--> ")).and_then(|at| {
        let mut parts = at.rsplitn(3, ':');
        let column: usize = parts.next()?.trim().parse().ok()?;
        let line: usize = parts.next()?.trim().parse().ok()?;
        Some((line, column))
    });
    let text = message
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with("error:"))
        .map(|l| l.trim_start().trim_start_matches("error:").trim().to_owned())
        .unwrap_or_else(|| message.lines().next().unwrap_or_default().to_owned());
    let diagnostic = Diagnostic::error(codes::SYNTAX_ERROR, format!("Rego: {text}"));
    match position {
        Some((line, column)) => {
            let offset = source.text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum::<usize>()
                + column.saturating_sub(1);
            let offset = offset.min(source.text.len());
            diagnostic.at(source, Span { start: offset, end: offset })
        }
        None => diagnostic.at(source, Span { start: 0, end: 0 }),
    }
}
