//! `vtpolicy serve`: JSON lines in and out, bad lines, reload, and the
//! unix socket with concurrent clients.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{vtpolicy, workdir};

fn answers(stdout: &str) -> Vec<Value> {
    stdout.lines().map(|line| serde_json::from_str(line).expect("each answer is one JSON line")).collect()
}

#[test]
fn every_line_gets_an_answer_in_order_and_bad_lines_an_error() {
    let (_guard, dir) = workdir();
    let long = format!("{{\"id\": 9, \"request\": {{\"kind\": \"read\", \"path\": \"/{}\"}}}}", "a".repeat(1 << 20));
    let input = [
        r#"{"id": 1, "request": {"kind": "exec", "argv": ["git", "push", "--force"]}}"#,
        r#"{"id": "two", "request": {"kind": "exec", "command": "cargo test"}, "sandboxed": true}"#,
        "not json",
        r#"{"id": 4, "request": {"kind": "read"}}"#,
        r#"{"id": 5, "request": {"kind": "read", "path": "/etc/hosts"}, "verbose": true}"#,
        &long,
        "",
        r#"{"id": 7, "request": {"kind": "read", "path": "/etc/hosts"}, "explain": true}"#,
        r#"{"id": 8, "request": {"kind": "read", "path": "x", "workspace": "/"}}"#,
        r#"[1, 2]"#,
    ]
    .join("\n");
    let out = vtpolicy(&dir, &["serve", "--policy", "workspace-write"], Some(&input));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let answers = answers(&out.stdout);
    let ids: Vec<Value> = answers.iter().map(|a| a["id"].clone()).collect();
    assert_eq!(
        ids,
        vec![json!(1), json!("two"), Value::Null, json!(4), json!(5), Value::Null, json!(7), json!(8), Value::Null]
    );
    assert_eq!(
        answers[0],
        json!({"id": 1, "decision": "deny", "rules": ["no-force-push"], "reasons": ["rewrites shared history"],
               "default_applied": false})
    );
    assert_eq!(answers[1]["decision"], "allow", "sandboxed: contained");
    assert!(answers[2]["error"].as_str().is_some_and(|e| e.starts_with("invalid JSON")), "{}", answers[2]);
    assert_eq!(answers[3]["error"], "request: \"path\" is a required property");
    assert!(answers[4]["error"].as_str().is_some_and(|e| e.contains("unknown field `verbose`")));
    assert!(answers[5]["error"].as_str().is_some_and(|e| e.contains("longer than 1048576 bytes")));
    assert_eq!(answers[6]["decision"], "allow");
    assert_eq!(answers[6]["explain"]["matched"][0]["id"], "system-and-workspace-read");
    assert!(answers[6]["explain"]["parts"][0]["trace"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(answers[7]["error"].as_str().is_some_and(|e| e.contains("judges for the workspace")));
    assert_eq!(answers[8]["error"], "a line must be a JSON object");
    // Decisions agree with `explain`.
    let explained = vtpolicy(
        &dir,
        &["explain", "--policy", "workspace-write", "--format", "json", "--", "git", "push", "--force"],
        None,
    );
    let explained: Value = serde_json::from_str(&explained.stdout).expect("json");
    assert_eq!(explained["decision"], answers[0]["decision"]);
}

struct Server {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn start(dir: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
            .arg("serve")
            .args(args)
            .current_dir(dir)
            .env("HOME", dir.parent().unwrap_or(dir).join("home"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        Server { child, stdout }
    }

    fn ask(&mut self, line: &str) -> Value {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write");
        stdin.flush().expect("flush");
        let mut answer = String::new();
        self.stdout.read_line(&mut answer).expect("read");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("`{answer}`: {e}"))
    }

    /// Asks until the decision is `want`, for at most five seconds.
    fn ask_until(&mut self, line: &str, want: &str) -> Value {
        let start = Instant::now();
        loop {
            let answer = self.ask(line);
            if answer["decision"] == want || start.elapsed() > Duration::from_secs(5) {
                return answer;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let output = self.child.wait_with_output().expect("serve ends");
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

#[test]
fn policies_reload_when_they_change_and_a_broken_one_keeps_the_old() {
    let (_guard, dir) = workdir();
    // Outside the workspace, so that its allow rules count.
    let base = dir.parent().expect("parent").join("policies");
    std::fs::create_dir_all(&base).expect("dir");
    let policy_outside = base.join("agent.vtp");
    std::fs::write(&policy_outside, "version 1\ndefault prompt\nallow exec ls .. id \"ls\"\n").expect("policy");
    let mut server = Server::start(&dir, &["--policy", policy_outside.to_str().expect("utf-8")]);
    let line = r#"{"id": 1, "request": {"kind": "exec", "argv": ["ls", "-l"]}}"#;
    assert_eq!(server.ask(line)["decision"], "allow");
    std::fs::write(&policy_outside, "version 1\ndefault prompt\ndeny exec ls .. id \"no-ls\"\n").expect("policy");
    let answer = server.ask_until(line, "deny");
    assert_eq!(answer["rules"], json!(["no-ls"]), "reloaded: {answer}");
    // A policy that does not compile keeps the one in force.
    std::fs::write(&policy_outside, "version 1\nallow exec\n").expect("policy");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.ask(line)["rules"], json!(["no-ls"]));
    let stderr = server.finish();
    let events: Vec<Value> =
        stderr.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).expect("event json")).collect();
    assert!(events.iter().any(|e| e["event"] == "reload" && e["loaded"] == true), "{stderr}");
    let failed = events.iter().find(|e| e["event"] == "reload" && e["loaded"] == false).expect("a failed reload");
    assert!(failed["message"].as_str().is_some_and(|m| m.contains("stay in force")), "{failed}");
    for event in &events {
        let line = serde_json::to_string(event).expect("json");
        vtpolicy_runtime::events::validate_event(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
}

#[test]
fn the_socket_is_private_and_serves_clients_at_once() {
    let (_guard, dir) = workdir();
    let socket = dir.join("vtpolicy.sock");
    let mut server = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
        .args(["serve", "--policy", "workspace-write", "--socket"])
        .arg(&socket)
        .current_dir(&dir)
        .env("HOME", dir.parent().expect("parent").join("home"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mode = std::fs::metadata(&socket).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // A second server on the same socket refuses to start.
    let second =
        vtpolicy(&dir, &["serve", "--policy", "workspace-write", "--socket", socket.to_str().expect("utf-8")], None);
    assert_eq!(second.code, 2);
    assert!(second.stderr.contains("another server is listening"), "{}", second.stderr);

    let clients: Vec<_> = (0..4)
        .map(|client| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let stream = std::os::unix::net::UnixStream::connect(&socket).expect("connect");
                let mut writer = stream.try_clone().expect("clone");
                let mut reader = BufReader::new(stream);
                let mut decisions = Vec::new();
                for i in 0..200 {
                    let argv = if i % 2 == 0 { json!(["git", "push", "-f"]) } else { json!(["ls"]) };
                    let line = json!({"id": [client, i], "request": {"kind": "exec", "argv": argv}});
                    writeln!(writer, "{line}").expect("write");
                    let mut answer = String::new();
                    reader.read_line(&mut answer).expect("read");
                    let answer: Value = serde_json::from_str(&answer).expect("json");
                    assert_eq!(answer["id"], json!([client, i]));
                    decisions.push(answer["decision"].as_str().unwrap_or_default().to_owned());
                }
                decisions
            })
        })
        .collect();
    for client in clients {
        let decisions = client.join().expect("client");
        assert_eq!(decisions.iter().filter(|d| *d == "deny").count(), 100);
        assert_eq!(decisions.iter().filter(|d| *d == "allow").count(), 100);
    }
    let _ = server.kill();
    let _ = server.wait();
}
