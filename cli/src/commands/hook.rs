//! `vtpolicy hook claude-code|codex`: one PreToolUse call judged.
//!
//! It fails closed: whatever stops it from judging the call (bad payload,
//! a policy that does not compile, an unusable workspace, a bug) exits 2
//! with the reason on standard error, which both agents treat as a block.
//! Exit 1 would let the call run, so it never happens.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use vtpolicy::hook::{self, MAX_PAYLOAD_BYTES, ToolUse};
use vtpolicy::{Effect, Judge, Layering, RunPlace};

use crate::Exit;
use crate::args::{HookAgent, HookArgs};
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &HookArgs, style: Style) -> Exit {
    let answered = std::panic::catch_unwind(|| answer(args, style));
    let answer = match answered {
        Ok(Ok(answer)) => answer,
        Ok(Err(message)) => {
            eprintln!("vtpolicy: the call is refused: {message}");
            return Exit::Error;
        }
        Err(_) => {
            eprintln!("vtpolicy: the call is refused: vtpolicy failed while judging it");
            return Exit::Error;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{answer}").and_then(|()| stdout.flush()) {
        Ok(()) => Exit::Ok,
        Err(error) => {
            eprintln!("vtpolicy: the call is refused: cannot write the answer: {error}");
            Exit::Error
        }
    }
}

/// Reads standard input up to the bound; more is an error, not a cut.
fn read_payload() -> Result<String, String> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_PAYLOAD_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    std::io::stdin().lock().take(limit).read_to_end(&mut bytes).map_err(|e| format!("cannot read the payload: {e}"))?;
    if bytes.len() > MAX_PAYLOAD_BYTES {
        return Err(format!("the payload is larger than {} MiB", MAX_PAYLOAD_BYTES >> 20));
    }
    String::from_utf8(bytes).map_err(|_| "the payload is not UTF-8".to_owned())
}

fn answer(args: &HookArgs, style: Style) -> Result<serde_json::Value, String> {
    let call = ToolUse::parse(&read_payload()?).map_err(|e| e.to_string())?;
    let request = call.request().map_err(|e| e.to_string())?;
    let project_dir = match args.agent {
        HookAgent::ClaudeCode => std::env::var_os("CLAUDE_PROJECT_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
        HookAgent::Codex => None,
    };
    let cwd = call.cwd.as_deref().map(Path::new);
    let workspace = project_dir.or_else(|| args.workspace.clone()).or_else(|| cwd.map(Path::to_path_buf));
    // A rewritten call runs in a private temporary directory that does not
    // exist yet: the environment's `${tmp}` stands for it.
    let mut environment = policies::environment(workspace.as_deref(), cwd).map_err(|_| "no workspace".to_owned())?;
    let place = RunPlace::of(&environment, crate::state::state_dir());
    // A workspace `run` refuses is refused for every tool: `Write` to
    // `${workspace}/**` would otherwise reach the home's start-up files.
    place.check()?;
    let loaded = policies::load_cached(&args.policies, &environment, Layering::Enforce, style)
        .ok_or("the policy does not compile")?;
    let rewrite = call.is_shell() && !args.no_sandbox;
    if rewrite {
        let expected = loaded.expected_run(&place);
        environment.sandboxed = expected.sandboxed;
        environment.mounts = expected.view;
    }
    let judge = loaded.judge(environment).map_err(|e| e.to_string())?;
    let judge = crate::approvals::attach(judge)?;
    let judgement = judge.judge(&request);
    let effect = judgement.effect();
    let reason = format!("vtpolicy ({}): {}", args.policies.join(", "), judgement.summary());
    let updated = match (rewrite, effect) {
        // Asked calls are rewritten too: the agent asks the human, then
        // runs the sandboxed form. A client that ignores `updatedInput`
        // with `ask` runs the call as the human approved it.
        (true, Effect::Allow | Effect::Prompt) => {
            let command = call.command().map_err(|e| e.to_string())?;
            let mut input = call.tool_input.clone();
            let text = sandboxed_command(args, &judge, command)?;
            input.insert("command".to_owned(), serde_json::Value::String(text));
            Some(input)
        }
        _ => None,
    };
    // The process ends once the answer is written: the judge and the
    // policies are memory the kernel reclaims at exit, faster than
    // freeing them piece by piece here.
    std::mem::forget(judge);
    Ok(hook::answer(effect, &reason, updated))
}

/// `command` as a `vtpolicy run` invocation with the same policies (files
/// made absolute, so the call may run from any directory) and workspace.
fn sandboxed_command(args: &HookArgs, judge: &Judge, command: &str) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the vtpolicy binary: {e}"))?;
    let exe = exe.to_str().ok_or("the vtpolicy binary's path is not UTF-8")?.to_owned();
    let mut specs = Vec::with_capacity(args.policies.len());
    for spec in &args.policies {
        if vtpolicy::compiler::stock_policy(spec).is_some() {
            specs.push(spec.clone());
            continue;
        }
        let absolute = std::fs::canonicalize(spec).map_err(|e| format!("cannot resolve the policy `{spec}`: {e}"))?;
        specs.push(absolute.to_str().ok_or_else(|| format!("the policy path `{spec}` is not UTF-8"))?.to_owned());
    }
    let workspace = judge.environment().workspace.to_str().ok_or("the workspace path is not UTF-8")?;
    // The run's events go to the state directory, not into the agent's
    // view of the command's output.
    let events = crate::state::state_dir().map(|dir| dir.join("hook-events.jsonl"));
    if let Some(dir) = events.as_deref().and_then(Path::parent) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    let events = events.as_deref().and_then(Path::to_str);
    Ok(hook::sandboxed_command(&exe, &specs, workspace, events, command))
}
