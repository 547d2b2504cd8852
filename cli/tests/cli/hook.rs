//! `vtpolicy hook`: payloads written from the documented PreToolUse shapes
//! of Claude Code and Codex, the answers, and the rewritten `Bash`
//! commands run for real.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::{Output, workdir};

/// `vtpolicy hook AGENT ARGS…` with `payload` on standard input, in `dir`,
/// with the given environment on top of a fixed one.
fn hook(dir: &Path, args: &[&str], payload: &[u8], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vtpolicy"));
    command
        .arg("hook")
        .args(args)
        .current_dir(dir)
        .env_remove("CLAUDE_PROJECT_DIR")
        .env("HOME", home_of(dir))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("vtpolicy starts");
    let mut stdin = child.stdin.take().expect("stdin");
    // A payload over the bound is refused before it is read whole.
    let _ = stdin.write_all(payload);
    drop(stdin);
    let output = child.wait_with_output().expect("vtpolicy ends");
    Output::from(output)
}

fn home_of(dir: &Path) -> std::path::PathBuf {
    dir.parent().unwrap_or(dir).join("home")
}

/// A payload as the agent sends it, with a field neither documents.
fn payload(agent: &str, cwd: &Path, tool: &str, input: Value) -> Vec<u8> {
    let mut payload = json!({
        "session_id": "abc123",
        "transcript_path": "/home/u/.claude/projects/p/s.jsonl",
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": "toolu_01",
        "a_field_from_a_later_release": [1, 2],
    });
    if agent == "codex" {
        payload["model"] = json!("gpt-5-codex");
    }
    payload.to_string().into_bytes()
}

/// The `hookSpecificOutput` of a successful answer.
fn answer(out: &Output) -> Value {
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let value: Value = serde_json::from_str(&out.stdout).expect("the answer is JSON");
    let specific = value["hookSpecificOutput"].clone();
    assert_eq!(specific["hookEventName"], "PreToolUse");
    specific
}

#[test]
fn every_tool_kind_is_judged_for_both_agents() {
    let (_guard, ws) = workdir();
    let home = home_of(&ws);
    let (ws_s, home_s) = (ws.display().to_string(), home.display().to_string());
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("Bash", json!({"command": "cargo test --workspace", "description": "d", "timeout": 120000}), "allow", ""),
        ("Bash", json!({"command": "git push --force origin main"}), "deny", "no-force-push"),
        ("Bash", json!({"command": "git restore src/main.rs"}), "ask", "history-destruction-restore"),
        ("Read", json!({"file_path": format!("{ws_s}/src/main.rs"), "limit": 10}), "allow", ""),
        ("Read", json!({"file_path": format!("{home_s}/.ssh/id_rsa")}), "deny", "credentials"),
        ("Glob", json!({"pattern": "**/*.rs"}), "allow", ""),
        ("Grep", json!({"pattern": "key", "path": format!("{home_s}/.ssh")}), "deny", "credentials"),
        ("LS", json!({"path": ws_s}), "allow", ""),
        ("Write", json!({"file_path": format!("{ws_s}/notes.md"), "content": "x"}), "allow", "workspace-write"),
        ("Write", json!({"file_path": format!("{home_s}/.bashrc"), "content": "x"}), "deny", "default applies"),
        ("Edit", json!({"file_path": format!("{ws_s}/.git/config"), "old_string": "a", "new_string": "b"}), "deny", ""),
        ("MultiEdit", json!({"file_path": format!("{ws_s}/src/lib.rs"), "edits": []}), "allow", ""),
        ("NotebookEdit", json!({"notebook_path": format!("{ws_s}/n.ipynb"), "new_source": "x"}), "allow", ""),
        ("WebFetch", json!({"url": "http://0xa9fea9fe/latest/meta-data", "prompt": "p"}), "deny", "cloud-metadata"),
        ("WebFetch", json!({"url": "https://docs.rs/serde", "prompt": "p"}), "ask", "net docs.rs:443"),
        ("mcp__github__create_issue", json!({"title": "t", "body": "b"}), "ask", "mcp-tools"),
        ("TodoWrite", json!({"todos": []}), "allow", "agent-bookkeeping"),
        ("WebSearch", json!({"query": "q"}), "ask", "tool WebSearch"),
    ];
    for agent in ["claude-code", "codex"] {
        for (tool, input, decision, says) in &cases {
            let out =
                hook(&ws, &[agent, "--policy", "workspace-write"], &payload(agent, &ws, tool, input.clone()), &[]);
            let specific = answer(&out);
            assert_eq!(specific["permissionDecision"], *decision, "{agent} {tool} {input}: {specific}");
            let reason = specific["permissionDecisionReason"].as_str().expect("a reason");
            assert!(reason.starts_with("vtpolicy (workspace-write): "), "{reason}");
            assert!(reason.contains(says), "{agent} {tool}: `{reason}` does not say `{says}`");
            // Only shell calls that may run are rewritten.
            let rewritten = *tool == "Bash" && *decision != "deny";
            assert_eq!(specific.get("updatedInput").is_some(), rewritten, "{agent} {tool}: {specific}");
            if rewritten {
                // The rest of the input is kept.
                let updated = &specific["updatedInput"];
                assert_eq!(updated.as_object().map(|o| o.len()), input.as_object().map(|o| o.len()));
                let command = updated["command"].as_str().expect("command");
                assert!(command.contains(" run --policy 'workspace-write' --workspace "), "{command}");
            }
        }
    }
}

#[test]
fn a_call_that_cannot_be_judged_is_refused_with_exit_2() {
    let (_guard, ws) = workdir();
    let good = |tool: &str, input: Value| payload("claude-code", &ws, tool, input);
    let mut oversized = br#"{"tool_name":"Write","tool_input":{"file_path":"/x","content":""#.to_vec();
    oversized.resize(17 * 1024 * 1024, b'a');
    oversized.extend_from_slice(b"\"}}");
    let cases: Vec<(Vec<&str>, Vec<u8>, &str)> = vec![
        (vec![], b"{\"tool_name\": ".to_vec(), "the payload is not JSON"),
        (vec![], b"".to_vec(), "the payload is not JSON"),
        (vec![], br#"{"tool_name":"Bash","cwd":"/"}"#.to_vec(), "no `tool_input`"),
        (vec![], br#"{"tool_name":"Bash","tool_input":"ls"}"#.to_vec(), "`tool_input` is not an object"),
        (
            vec![],
            br#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#.to_vec(),
            "PreToolUse only",
        ),
        (vec![], vec![0xff, 0xfe], "not UTF-8"),
        (vec![], oversized, "larger than 16 MiB"),
        (vec![], good("Bash", json!({"description": "no command"})), "need `tool_input.command`"),
        (vec![], good("WebFetch", json!({"url": "file:///etc/passwd"})), "only http and https"),
        (vec!["--policy", "no-such-policy"], good("Bash", json!({"command": "ls"})), "does not compile"),
        (vec!["--workspace", "/"], good("Read", json!({"file_path": "/etc/hosts"})), "system-wide directory"),
    ];
    for agent in ["claude-code", "codex"] {
        for (extra, input, says) in &cases {
            let mut args = vec![agent];
            if !extra.contains(&"--policy") {
                args.extend(["--policy", "workspace-write"]);
            }
            args.extend(extra.iter().copied());
            let out = hook(&ws, &args, input, &[]);
            assert_eq!(out.code, 2, "{agent} `{says}`: stdout {} stderr {}", out.stdout, out.stderr);
            assert!(out.stdout.is_empty(), "no answer on stdout: {}", out.stdout);
            assert!(out.stderr.contains(says), "{agent}: `{}` does not say `{says}`", out.stderr);
            assert!(out.stderr.contains("the call is refused"), "{}", out.stderr);
        }
    }
    // The home directory as the workspace (no flag, the payload's cwd).
    let home = home_of(&ws);
    let out = hook(
        &home,
        &["claude-code", "--policy", "workspace-write"],
        &payload("claude-code", &home, "Write", json!({"file_path": format!("{}/.bashrc", home.display())})),
        &[],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("holds the home directory"), "{}", out.stderr);
}

#[test]
fn the_workspace_is_the_project_dir_then_the_flag_then_the_cwd() {
    let (_guard, ws) = workdir();
    let sub = ws.join("sub");
    std::fs::create_dir_all(&sub).expect("sub");
    let write_in_ws = json!({"file_path": format!("{}/top.txt", ws.display())});
    let decide = |agent: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![agent, "--policy", "workspace-write"];
        all.extend_from_slice(args);
        let out = hook(&ws, &all, &payload(agent, &sub, "Write", write_in_ws.clone()), env);
        answer(&out)["permissionDecision"].as_str().unwrap_or_default().to_owned()
    };
    let ws_s = ws.display().to_string();
    // The cwd alone makes `sub` the workspace: `top.txt` is outside it.
    assert_eq!(decide("claude-code", &[], &[]), "deny");
    assert_eq!(decide("claude-code", &[], &[("CLAUDE_PROJECT_DIR", &ws_s)]), "allow");
    assert_eq!(decide("claude-code", &["--workspace", &ws_s], &[]), "allow");
    let sub_s = sub.display().to_string();
    assert_eq!(decide("claude-code", &["--workspace", &ws_s], &[("CLAUDE_PROJECT_DIR", &sub_s)]), "deny");
    // Codex does not read Claude Code's variable.
    assert_eq!(decide("codex", &["--workspace", &ws_s], &[("CLAUDE_PROJECT_DIR", &sub_s)]), "allow");
}

/// Runs a rewritten command as the agent's shell tool would: `bash -c`,
/// in the payload's cwd, without a terminal.
fn run_rewritten(ws: &Path, command: &str) -> Output {
    super::detached(ws, &["bash", "-c", command])
}

fn rewritten(ws: &Path, args: &[&str], text: &str) -> (String, String) {
    let mut all = vec!["claude-code", "--policy", "workspace-write"];
    all.extend_from_slice(args);
    let out = hook(ws, &all, &payload("claude-code", ws, "Bash", json!({"command": text})), &[]);
    let specific = answer(&out);
    let decision = specific["permissionDecision"].as_str().unwrap_or_default().to_owned();
    (decision, specific["updatedInput"]["command"].as_str().unwrap_or_default().to_owned())
}

#[test]
fn a_rewritten_bash_call_runs_in_the_sandbox() {
    let (_guard, ws) = workdir();
    let home = home_of(&ws);
    // A project script nobody modelled: contained, so allowed sandboxed.
    std::fs::write(
        ws.join("build.sh"),
        format!(
            "#!/bin/sh\necho \"sandbox=$VTPOLICY_SANDBOX\"\necho built > out.txt\n\
             echo x > {home}/escaped && echo ESCAPED-HOME\necho x > /var/tmp/vtpolicy-hook-escape-$$ && echo ESCAPED-VAR\n",
            home = home.display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(ws.join("build.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let text = "./build.sh; echo \"it's $((6 * 7))\" > /tmp/notes.md; cat /tmp/notes.md";
    let (decision, command) = rewritten(&ws, &[], text);
    assert_eq!(decision, "allow", "{command}");
    let out = run_rewritten(&ws, &command);
    assert_eq!(out.code, 0, "{command}\n{}", out.stderr);
    assert_eq!(out.stdout, "sandbox=1\nit's 42\n", "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(ws.join("out.txt")).ok().as_deref(), Some("built\n"));
    assert!(!home.join("escaped").exists(), "the script wrote outside the workspace");
    assert!(!out.stdout.contains("ESCAPED"), "{}", out.stdout);
    // The private /tmp: the note never reached the host's.
    assert!(std::fs::read_to_string("/tmp/notes.md").map_or(true, |t| t != "it's 42\n"), "the host's /tmp was written");

    // Unsandboxed, the same script is not contained, so it asks, and the
    // call is left as it is.
    let out = hook(
        &ws,
        &["claude-code", "--policy", "workspace-write", "--no-sandbox"],
        &payload("claude-code", &ws, "Bash", json!({"command": "./build.sh"})),
        &[],
    );
    let specific = answer(&out);
    assert_eq!(specific["permissionDecision"], "ask");
    assert!(specific.get("updatedInput").is_none(), "{specific}");
}

#[test]
fn the_rewrite_keeps_any_text_exactly() {
    let (_guard, ws) = workdir();
    for text in [
        "printf '%s|' \"a'b\" 'c\"d' $'e\\tf'",
        "echo 'single'\"double\"; echo \\$HOME",
        "printf '%s\\n' 'line one' \\\n  'line two'",
        "x='$(touch pwned)'; echo \"$x\"",
    ] {
        let direct = run_rewritten(&ws, text);
        let (decision, command) = rewritten(&ws, &[], text);
        assert_eq!(decision, "allow", "{text}: {command}");
        let sandboxed = run_rewritten(&ws, &command);
        assert_eq!((sandboxed.code, &sandboxed.stdout), (0, &direct.stdout), "{text}\n{}", sandboxed.stderr);
        assert!(!ws.join("pwned").exists());
    }
}

#[test]
fn a_policy_file_is_named_by_its_absolute_path_in_the_rewrite() {
    let (_guard, ws) = workdir();
    let policies = ws.parent().expect("parent").join("policies");
    std::fs::create_dir_all(&policies).expect("dir");
    std::fs::write(policies.join("extra.vtp"), "version 1\nextend \"workspace-write\"\ndeny exec rm .. id \"no-rm\"\n")
        .expect("policy");
    let out = hook(
        &policies,
        &["claude-code", "--policy", "extra.vtp", "--workspace", ws.to_str().expect("utf-8")],
        &payload("claude-code", &ws, "Bash", json!({"command": "echo ok"})),
        &[],
    );
    let command = answer(&out)["updatedInput"]["command"].as_str().unwrap_or_default().to_owned();
    let absolute = format!("--policy '{}'", policies.join("extra.vtp").display());
    assert!(command.contains(&absolute), "{command}");
    let ran = run_rewritten(&ws, &command);
    assert_eq!((ran.code, ran.stdout.as_str()), (0, "ok\n"), "{}", ran.stderr);
    // The rewrite runs under the same policy: its deny holds there too.
    let out = hook(
        &policies,
        &["claude-code", "--policy", "extra.vtp", "--workspace", ws.to_str().expect("utf-8")],
        &payload("claude-code", &ws, "Bash", json!({"command": "rm -f notes"})),
        &[],
    );
    assert_eq!(answer(&out)["permissionDecision"], "deny", "{}", out.stdout);
}
