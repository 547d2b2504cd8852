//! The accuracy corpus: realistic commands, each labelled with the
//! decision the stock `workspace-write` must give unsandboxed (a bare
//! agent hook) and sandboxed (`vtpolicy run`).
//!
//! Each `accuracy/<class>.txt` holds one command per line:
//!
//! ```text
//! # unsandboxed  sandboxed  shell text
//! allow   allow   cargo build --release --locked
//! prompt  allow   ./ci/test.sh
//! !allow  allow   npm run lint -- --max-warnings=0
//! ```
//!
//! A label written `!EFFECT` is the right decision that the product does
//! not give yet. Such a label is counted as a miss in the report, and the
//! test fails when the product starts to give it, so that the mark is
//! removed with the fix. Every other label must hold. The commands are
//! judged against the fixture in `accuracy/fixture.toml`: a workspace with
//! a project in it, a home with credentials, and stand-in programs in a
//! trusted bin directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use vtpolicy_engine::Effect;
use vtpolicy_runtime::RawRequest;

use crate::{Fixture, Sandbox};

/// The two ways a command is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// A bare agent hook: nothing contains the command.
    Unsandboxed,
    /// `vtpolicy run`: the kernel sandbox contains it.
    Sandboxed,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Unsandboxed, Mode::Sandboxed];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Unsandboxed => "unsandboxed",
            Mode::Sandboxed => "sandboxed",
        }
    }
}

/// A label: the decision a command must get, and whether the product is
/// known not to give it yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    pub effect: Effect,
    pub known_miss: bool,
}

/// One labelled command.
#[derive(Debug, Clone)]
pub struct Entry {
    pub class: String,
    /// `file:line`, for messages.
    pub location: String,
    pub command: String,
    pub unsandboxed: Label,
    pub sandboxed: Label,
}

impl Entry {
    pub fn label(&self, mode: Mode) -> Label {
        match mode {
            Mode::Unsandboxed => self.unsandboxed,
            Mode::Sandboxed => self.sandboxed,
        }
    }
}

/// One command judged in one mode.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub entry: Entry,
    pub mode: Mode,
    pub actual: Effect,
    /// The deciding rule ids, or why a part could not be analysed.
    pub why: String,
}

impl Outcome {
    pub fn label(&self) -> Label {
        self.entry.label(self.mode)
    }
}

/// Reads every `*.txt` file of the corpus directory.
pub fn load(dir: &Path) -> Result<Vec<Entry>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut entries = Vec::new();
    for file in files {
        let class = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let name = file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for (index, line) in text.lines().enumerate() {
            let location = format!("{name}:{}", index + 1);
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (first, rest) = split_word(trimmed);
            let (second, command) = split_word(rest);
            let unsandboxed = parse_label(first, &location)?;
            let sandboxed = parse_label(second, &location)?;
            if command.is_empty() {
                return Err(format!("{location}: no command after the two labels"));
            }
            entries.push(Entry { class: class.clone(), location, command: command.to_owned(), unsandboxed, sandboxed });
        }
    }
    Ok(entries)
}

fn split_word(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(end) => (&text[..end], text[end..].trim_start()),
        None => (text, ""),
    }
}

fn parse_label(word: &str, location: &str) -> Result<Label, String> {
    let (known_miss, name) = match word.strip_prefix('!') {
        Some(name) => (true, name),
        None => (false, word),
    };
    let effect = match name {
        "allow" => Effect::Allow,
        "prompt" => Effect::Prompt,
        "deny" => Effect::Deny,
        _ => {
            return Err(format!("{location}: `{word}` is not a label (allow, prompt, deny, or one of them after `!`)"));
        }
    };
    Ok(Label { effect, known_miss })
}

/// The corpus's fixture (`fixture.toml`) made on disk, and the
/// environment calls are judged in there.
fn fixture(dir: &Path) -> Result<(Sandbox, vtpolicy_runtime::Environment), String> {
    let fixture_path = dir.join("fixture.toml");
    let text = std::fs::read_to_string(&fixture_path).map_err(|e| format!("{}: {e}", fixture_path.display()))?;
    let fixture: Fixture = toml::from_str(&text).map_err(|e| format!("{}: {e}", fixture_path.display()))?;
    let sandbox = Sandbox::new(&fixture)?;
    let environment = sandbox.environment(&fixture);
    Ok((sandbox, environment))
}

/// Judges every entry in both modes against the fixture under the stock
/// `workspace-write`.
pub fn judge(dir: &Path, entries: &[Entry]) -> Result<Vec<Outcome>, String> {
    let (sandbox, environment) = fixture(dir)?;
    let compiled = sandbox.compile(&environment, &["workspace-write".to_owned()], &[]).map_err(|e| e.join("; "))?;
    let judge = vtpolicy_runtime::Judge::new(compiled, environment).map_err(|e| e.to_string())?;
    let mut outcomes = Vec::with_capacity(entries.len() * Mode::ALL.len());
    for entry in entries {
        let request = RawRequest::Exec {
            argv: None,
            command: Some(sandbox.substitute(&entry.command)),
            cwd: None,
            workspace: None,
        };
        for mode in Mode::ALL {
            let judgement = judge.judge_in(&request, mode == Mode::Sandboxed);
            let decision = &judgement.decision;
            let mut why: Vec<String> = decision.matched.iter().map(|m| m.id.to_string()).collect();
            why.dedup();
            why.extend(
                decision
                    .parts
                    .iter()
                    .filter(|p| p.decision.effect == decision.effect)
                    .filter_map(|p| p.unanalysable.as_ref().map(|u| format!("unanalysable: {u}"))),
            );
            if why.is_empty() && decision.default_applied {
                why.push("default".to_owned());
            }
            outcomes.push(Outcome { entry: entry.clone(), mode, actual: decision.effect, why: why.join(", ") });
        }
    }
    Ok(outcomes)
}

/// Counts of one class in one mode.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub total: usize,
    pub agree: usize,
    /// Labelled allow, decided prompt or deny: approval fatigue.
    pub false_prompts: usize,
    /// Labelled prompt or deny, decided allow: a hole.
    pub false_allows: usize,
    /// Labelled deny, decided prompt, or the reverse.
    pub other: usize,
}

impl Tally {
    fn add(&mut self, expected: Effect, actual: Effect) {
        self.total += 1;
        match (expected, actual) {
            _ if expected == actual => self.agree += 1,
            (Effect::Allow, _) => self.false_prompts += 1,
            (_, Effect::Allow) => self.false_allows += 1,
            _ => self.other += 1,
        }
    }
}

/// Tallies per class and mode, the totals last under `~all`.
pub fn tally(outcomes: &[Outcome]) -> BTreeMap<(String, Mode), Tally> {
    let mut tallies: BTreeMap<(String, Mode), Tally> = BTreeMap::new();
    for outcome in outcomes {
        let expected = outcome.label().effect;
        tallies.entry((outcome.entry.class.clone(), outcome.mode)).or_default().add(expected, outcome.actual);
        tallies.entry(("~all".to_owned(), outcome.mode)).or_default().add(expected, outcome.actual);
    }
    tallies
}

/// Labels that do not hold, and `!` labels that now hold.
pub fn failures(outcomes: &[Outcome]) -> Vec<String> {
    let mut failures = Vec::new();
    for outcome in outcomes {
        let entry = &outcome.entry;
        let label = outcome.label();
        let mode = outcome.mode.as_str();
        match (label.known_miss, label.effect == outcome.actual) {
            (false, false) => failures.push(format!(
                "{}: {mode}: expected {}, got {} ({}): {}",
                entry.location,
                label.effect.as_str(),
                outcome.actual.as_str(),
                outcome.why,
                entry.command
            )),
            (true, true) => failures.push(format!(
                "{}: {mode}: now decided {} as labelled; remove the `!`: {}",
                entry.location,
                label.effect.as_str(),
                entry.command
            )),
            _ => {}
        }
    }
    failures
}

/// The report: one row per class and mode, then every miss.
pub fn report(entries: &[Entry], outcomes: &[Outcome]) -> String {
    let mut out = String::new();
    let _ =
        writeln!(out, "{} commands, {} judgements against the stock workspace-write\n", entries.len(), outcomes.len());
    let _ = writeln!(
        out,
        "{:<22} {:<12} {:>5} {:>7} {:>9} {:>13} {:>12} {:>6}",
        "class", "mode", "cases", "agree", "agree %", "false prompt", "false allow", "other"
    );
    for ((class, mode), tally) in tally(outcomes) {
        let class = if class == "~all" { "all" } else { class.as_str() };
        #[expect(clippy::cast_precision_loss, reason = "percentages of small counts")]
        let percent = 100.0 * tally.agree as f64 / tally.total.max(1) as f64;
        let _ = writeln!(
            out,
            "{class:<22} {:<12} {:>5} {:>7} {percent:>8.1}% {:>13} {:>12} {:>6}",
            mode.as_str(),
            tally.total,
            tally.agree,
            tally.false_prompts,
            tally.false_allows,
            tally.other
        );
    }
    let misses: Vec<&Outcome> = outcomes.iter().filter(|o| o.label().effect != o.actual).collect();
    if !misses.is_empty() {
        let _ = writeln!(out, "\nmisses:");
        for outcome in misses {
            let entry = &outcome.entry;
            let _ = writeln!(
                out,
                "  {} {}: labelled {}, decided {} ({}): {}",
                entry.location,
                outcome.mode.as_str(),
                outcome.label().effect.as_str(),
                outcome.actual.as_str(),
                outcome.why,
                entry.command
            );
        }
    }
    out
}

/// A policy exported to another agent's native rules and imported back.
pub struct RoundTrip {
    /// `claude-settings` or `codex-rules`.
    pub target: &'static str,
    /// The exported rules, as the agent reads them.
    pub exported: String,
    /// Requests judged, and how many got the source's decision back.
    pub judged: usize,
    pub same: usize,
    /// Requests the imported policy allows and the source does not: each
    /// is a call the agent's own rules would let through unasked.
    pub escalations: Vec<String>,
    /// Decisions of named requests: (request, source, imported).
    pub named: Vec<(String, Effect, Effect)>,
}

/// Exports the stock `workspace-write` to Claude Code settings and Codex
/// rules, imports each back, and judges the corpus's commands and a set of
/// file, tool and network requests under both, unsandboxed (the agent's own
/// rules know nothing of the sandbox).
pub fn round_trip(dir: &Path, entries: &[Entry]) -> Result<Vec<RoundTrip>, String> {
    let (sandbox, environment) = fixture(dir)?;
    let source = sandbox.compile(&environment, &["workspace-write".to_owned()], &[]).map_err(|e| e.join("; "))?;
    let policies: Vec<&vtpolicy_engine::Policy> = source.iter().map(|c| &c.policy).collect();
    let context = environment.context();
    let (permissions, _) = vtpolicy_compiler::export::claude_settings(&policies, &context);
    let settings = serde_json::json!({ "permissions": permissions }).to_string();
    let (rules, _) = vtpolicy_compiler::export::codex_rules(&policies);
    let claude = vtpolicy_import::claude::import(&settings, "settings.json").map_err(|e| e.to_string())?;
    let codex = vtpolicy_import::codex::import(&rules, "exported.rules").map_err(|e| e.to_string())?;
    let source_judge = vtpolicy_runtime::Judge::new(source, environment.clone()).map_err(|e| e.to_string())?;

    let mut requests: Vec<(String, RawRequest)> = entries
        .iter()
        .map(|entry| {
            let command = sandbox.substitute(&entry.command);
            (command.clone(), RawRequest::shell(command))
        })
        .collect();
    let path = |kind: &str, path: &str| {
        let path = sandbox.substitute(path);
        let raw = match kind {
            "read" => RawRequest::Read { path: path.clone(), cwd: None, workspace: None },
            _ => RawRequest::Write { path: path.clone(), cwd: None, workspace: None },
        };
        (format!("{kind} {path}"), raw)
    };
    for file in [
        "${home}/.ssh/id_rsa",
        "${workspace}/.git/config",
        "${workspace}/src/main.rs",
        "${workspace}/.env",
        "/etc/hosts",
    ] {
        requests.push(path("read", file));
        requests.push(path("write", file));
    }
    for tool in ["TodoWrite", "Task", "mcp__github__create_issue", "WebSearch"] {
        requests.push((
            format!("tool {tool}"),
            RawRequest::Tool { name: tool.to_owned(), args: None, cwd: None, workspace: None },
        ));
    }
    for host in ["docs.rs", "crates.io", "169.254.169.254"] {
        let raw =
            RawRequest::Net { host: Some(host.to_owned()), port: Some(443), unix: None, cwd: None, workspace: None };
        requests.push((format!("net {host}:443"), raw));
    }

    let mut out = Vec::new();
    for (target, exported, imported) in [("claude-settings", settings, claude), ("codex-rules", rules, codex)] {
        let compiled = sandbox.compile(&environment, &[], &[imported.policy]).map_err(|e| e.join("; "))?;
        let judge = vtpolicy_runtime::Judge::new(compiled, environment.clone()).map_err(|e| e.to_string())?;
        let mut trip = RoundTrip { target, exported, judged: 0, same: 0, escalations: Vec::new(), named: Vec::new() };
        for (name, request) in &requests {
            let before = source_judge.judge_in(request, false).effect();
            let after = judge.judge_in(request, false).effect();
            trip.judged += 1;
            if before == after {
                trip.same += 1;
            }
            if after == Effect::Allow && before != Effect::Allow {
                trip.escalations.push(format!("{name}: {} before, allow after", before.as_str()));
            }
            trip.named.push((name.clone(), before, after));
        }
        out.push(trip);
    }
    Ok(out)
}
