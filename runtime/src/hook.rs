//! The PreToolUse hook protocol that Claude Code and Codex speak: one tool
//! call in as JSON, one permission decision out.
//!
//! This module maps a payload to the request it is judged as and a
//! decision to the answer; reading standard input, judging and exit codes
//! are the caller's. Payloads are read leniently: fields this module does
//! not use are ignored, since both agents add fields between releases.

use std::path::Path;

use serde_json::{Map, Value, json};
use vtpolicy_engine::Effect;

use crate::request::RawRequest;

/// The largest payload read. `Write` carries the whole file, so the bound
/// is generous; a larger payload is refused, not truncated.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// A payload that cannot be judged. The hook must then refuse the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, PayloadError> {
    Err(PayloadError(message.into()))
}

/// One PreToolUse call: the parts of the payload that are judged.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolUse {
    pub tool_name: String,
    pub tool_input: Map<String, Value>,
    /// The agent's working directory, where a `Bash` command runs.
    pub cwd: Option<String>,
}

impl ToolUse {
    /// Reads a payload. It must be a JSON object with a `tool_name` string
    /// and a `tool_input` object; a `hook_event_name`, when present, must
    /// be `PreToolUse`. Everything else is ignored.
    pub fn parse(text: &str) -> Result<ToolUse, PayloadError> {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => return fail(format!("the payload is not JSON (line {}, column {}): {e}", e.line(), e.column())),
        };
        let Value::Object(mut payload) = value else {
            return fail("the payload is not a JSON object");
        };
        match payload.get("hook_event_name") {
            None | Some(Value::Null) => {}
            Some(Value::String(event)) if event == "PreToolUse" => {}
            Some(other) => {
                return fail(format!("`hook_event_name` is {other}: `vtpolicy hook` answers PreToolUse only"));
            }
        }
        let tool_name = match payload.get("tool_name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            Some(_) => return fail("`tool_name` is not a non-empty string"),
            None => return fail("the payload has no `tool_name`"),
        };
        let tool_input = match payload.remove("tool_input") {
            Some(Value::Object(input)) => input,
            Some(_) => return fail("`tool_input` is not an object"),
            None => return fail("the payload has no `tool_input`"),
        };
        let cwd = match payload.get("cwd") {
            None | Some(Value::Null) => None,
            Some(Value::String(cwd)) if Path::new(cwd).is_absolute() => Some(cwd.clone()),
            Some(_) => return fail("`cwd` is not an absolute path"),
        };
        Ok(ToolUse { tool_name, tool_input, cwd })
    }

    /// Whether this is the shell tool, whose command can be rewritten to
    /// run sandboxed.
    pub fn is_shell(&self) -> bool {
        self.tool_name == "Bash"
    }

    /// The `Bash` command text.
    pub fn command(&self) -> Result<&str, PayloadError> {
        let command = self.string("command")?;
        if command.contains('\0') {
            return fail("`tool_input.command` contains a NUL byte, which no shell can run");
        }
        Ok(command)
    }

    /// The request the call is judged as:
    ///
    /// | tool | request |
    /// |---|---|
    /// | `Bash` | shell text |
    /// | `Read`, `LS` | read of the path |
    /// | `Glob`, `Grep` | read of the search root (`path`, else the cwd) |
    /// | `Write`, `Edit`, `MultiEdit`, `NotebookEdit` | write of the path |
    /// | `WebFetch` | net, host and port from the URL |
    /// | anything else, `mcp__server__tool` included | tool, with its input as arguments |
    ///
    /// `WebSearch` names no host (the agent's vendor runs the search), so
    /// it is a tool request too.
    pub fn request(&self) -> Result<RawRequest, PayloadError> {
        let cwd = self.cwd.clone();
        let path = |field: &str| self.string(field).map(str::to_owned);
        Ok(match self.tool_name.as_str() {
            "Bash" => RawRequest::Exec { argv: None, command: Some(self.command()?.to_owned()), cwd, workspace: None },
            "Read" => RawRequest::Read { path: path("file_path")?, cwd, workspace: None },
            "LS" => RawRequest::Read { path: path("path")?, cwd, workspace: None },
            "Glob" | "Grep" => {
                let root = match self.tool_input.get("path") {
                    None | Some(Value::Null) => ".".to_owned(),
                    Some(Value::String(root)) if root.is_empty() => ".".to_owned(),
                    Some(_) => path("path")?,
                };
                RawRequest::Read { path: root, cwd, workspace: None }
            }
            "Write" | "Edit" | "MultiEdit" => RawRequest::Write { path: path("file_path")?, cwd, workspace: None },
            "NotebookEdit" => RawRequest::Write { path: path("notebook_path")?, cwd, workspace: None },
            "WebFetch" => {
                let (host, port) = host_and_port(self.string("url")?)?;
                RawRequest::Net { host: Some(host), port: Some(port), unix: None, cwd, workspace: None }
            }
            name => RawRequest::Tool {
                name: name.to_owned(),
                args: Some(Value::Object(self.tool_input.clone())),
                cwd,
                workspace: None,
            },
        })
    }

    /// A string field of `tool_input`, required and non-empty.
    fn string(&self, field: &str) -> Result<&str, PayloadError> {
        match self.tool_input.get(field) {
            Some(Value::String(value)) if !value.is_empty() => Ok(value),
            Some(Value::String(_)) => fail(format!("`tool_input.{field}` is empty")),
            Some(_) => fail(format!("`tool_input.{field}` is not a string")),
            None => fail(format!("`{}` calls need `tool_input.{field}`", self.tool_name)),
        }
    }
}

/// The host and port a `WebFetch` URL connects to. Only `http` and
/// `https` are fetched; a URL this cannot read is refused.
pub fn host_and_port(url: &str) -> Result<(String, u16), PayloadError> {
    let bad = |why: &str| PayloadError(format!("cannot judge the URL `{url}`: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("it has no scheme"))?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Err(bad("only http and https URLs are fetched")),
    };
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or_default();
    // Credentials end at the last `@`, as URL parsers read them.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
    let (host, port) = match host_port.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("an IPv6 address is not closed"))?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(|| bad("text follows the IPv6 address"))?)),
            }
        }
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port = match port {
        None | Some("") => default_port,
        Some(port) => port.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| bad("the port is not a number"))?,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '%' || c.is_control()) {
        return Err(bad("it names no host this can judge"));
    }
    // `http://0xa9fea9fe/` and `http://2130706433/` are IPv4 addresses to
    // a URL parser: judge the address they name.
    let host = ipv4_number(&host).map_or(host, |address| std::net::Ipv4Addr::from(address).to_string());
    Ok((host, port))
}

/// The IPv4 address a host written in numbers names, read as the WHATWG
/// URL standard reads it: one to four parts, each decimal, `0x` hex or
/// `0` octal, the last filling the remaining bytes.
fn ipv4_number(host: &str) -> Option<u32> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        if part.is_empty() {
            return None;
        }
        let (digits, radix) = match (part.strip_prefix("0x"), part.strip_prefix('0')) {
            (Some(hex), _) => (hex, 16),
            (None, Some(octal)) if !octal.is_empty() => (octal, 8),
            _ => (*part, 10),
        };
        if !digits.chars().all(|c| c.is_digit(radix)) {
            return None;
        }
        let number = if digits.is_empty() { 0 } else { u64::from_str_radix(digits, radix).ok()? };
        numbers.push(number);
    }
    let (last, leading) = numbers.split_last()?;
    if leading.iter().any(|n| *n > 255) {
        return None;
    }
    let remaining_bits = 8 * (4 - u32::try_from(leading.len()).ok()?);
    if *last >= 1u64 << remaining_bits {
        return None;
    }
    let mut address: u64 = 0;
    for (index, number) in leading.iter().enumerate() {
        address |= number << (24 - 8 * index);
    }
    u32::try_from(address | last).ok()
}

/// The protocol's name for an effect.
pub fn permission(effect: Effect) -> &'static str {
    match effect {
        Effect::Allow => "allow",
        Effect::Prompt => "ask",
        Effect::Deny => "deny",
    }
}

/// The answer to print on standard output (with exit status 0).
pub fn answer(effect: Effect, reason: &str, updated_input: Option<Map<String, Value>>) -> Value {
    let mut output = json!({
        "hookEventName": "PreToolUse",
        "permissionDecision": permission(effect),
        "permissionDecisionReason": reason,
    });
    if let (Some(updated), Some(object)) = (updated_input, output.as_object_mut()) {
        object.insert("updatedInput".to_owned(), Value::Object(updated));
    }
    json!({ "hookSpecificOutput": output })
}

/// `word` quoted for any POSIX shell (bash and zsh included): in single
/// quotes, where nothing is special but the quote itself.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The shell command that runs `text` under `vtpolicy run` with the
/// policies that judged it, approved (`--yes`: the hook's answer was the
/// approval). Every word is quoted, so any text survives unchanged.
pub fn sandboxed_command(
    vtpolicy: &str,
    policies: &[String],
    workspace: &str,
    events: Option<&str>,
    text: &str,
) -> String {
    let mut words = vec![shell_quote(vtpolicy), "run".to_owned()];
    for policy in policies {
        words.push("--policy".to_owned());
        words.push(shell_quote(policy));
    }
    words.push("--workspace".to_owned());
    words.push(shell_quote(workspace));
    if let Some(events) = events {
        words.push("--events".to_owned());
        words.push(shell_quote(events));
    }
    words.push("--yes".to_owned());
    words.push("-c".to_owned());
    words.push(shell_quote(text));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool_use(tool: &str, input: Value) -> ToolUse {
        let payload = json!({
            "session_id": "s", "hook_event_name": "PreToolUse", "cwd": "/w",
            "tool_name": tool, "tool_input": input, "a_future_field": {"x": 1},
        });
        ToolUse::parse(&payload.to_string()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn every_tool_kind_maps_to_its_request() {
        let request = |tool: &str, input: Value| tool_use(tool, input).request();
        let cwd = Some("/w".to_owned());
        assert_eq!(
            request("Bash", json!({"command": "ls", "timeout": 5})),
            Ok(RawRequest::Exec { argv: None, command: Some("ls".into()), cwd: cwd.clone(), workspace: None })
        );
        let read = |path: &str| Ok(RawRequest::Read { path: path.into(), cwd: cwd.clone(), workspace: None });
        let write = |path: &str| Ok(RawRequest::Write { path: path.into(), cwd: cwd.clone(), workspace: None });
        assert_eq!(request("Read", json!({"file_path": "/w/a", "limit": 3})), read("/w/a"));
        assert_eq!(request("LS", json!({"path": "/w/src"})), read("/w/src"));
        assert_eq!(request("Glob", json!({"pattern": "**/*.rs"})), read("."));
        assert_eq!(request("Grep", json!({"pattern": "x", "path": "/etc"})), read("/etc"));
        assert_eq!(request("Write", json!({"file_path": "/w/b", "content": "x"})), write("/w/b"));
        assert_eq!(request("Edit", json!({"file_path": "/w/c", "old_string": "a", "new_string": "b"})), write("/w/c"));
        assert_eq!(request("MultiEdit", json!({"file_path": "/w/d", "edits": []})), write("/w/d"));
        assert_eq!(request("NotebookEdit", json!({"notebook_path": "/w/n.ipynb"})), write("/w/n.ipynb"));
        assert_eq!(
            request("WebFetch", json!({"url": "https://Docs.RS/serde", "prompt": "p"})),
            Ok(RawRequest::Net {
                host: Some("docs.rs".into()),
                port: Some(443),
                unix: None,
                cwd: cwd.clone(),
                workspace: None
            })
        );
        assert_eq!(
            request("mcp__github__create_issue", json!({"title": "t"})),
            Ok(RawRequest::Tool {
                name: "mcp__github__create_issue".into(),
                args: Some(json!({"title": "t"})),
                cwd: cwd.clone(),
                workspace: None
            })
        );
        assert!(matches!(request("WebSearch", json!({"query": "q"})), Ok(RawRequest::Tool { .. })));
    }

    #[test]
    fn payloads_that_cannot_be_judged_are_refused() {
        let error = |text: &str| ToolUse::parse(text).err().map(|e| e.0).unwrap_or_default();
        assert!(error("{").starts_with("the payload is not JSON"));
        assert_eq!(error("[1]"), "the payload is not a JSON object");
        assert_eq!(error(r#"{"tool_name":"Bash"}"#), "the payload has no `tool_input`");
        assert_eq!(error(r#"{"tool_input":{}}"#), "the payload has no `tool_name`");
        assert_eq!(error(r#"{"tool_name":"Bash","tool_input":"ls"}"#), "`tool_input` is not an object");
        assert_eq!(
            error(r#"{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{}}"#),
            "`hook_event_name` is \"PostToolUse\": `vtpolicy hook` answers PreToolUse only"
        );
        assert_eq!(error(r#"{"cwd":"rel","tool_name":"Bash","tool_input":{}}"#), "`cwd` is not an absolute path");
        let request = |tool: &str, input: Value| tool_use(tool, input).request().err().map(|e| e.0);
        assert_eq!(request("Bash", json!({})).as_deref(), Some("`Bash` calls need `tool_input.command`"));
        assert_eq!(request("Bash", json!({"command": 3})).as_deref(), Some("`tool_input.command` is not a string"));
        assert!(request("Bash", json!({"command": "a\u{0}b"})).is_some_and(|e| e.contains("NUL")));
        assert!(request("Write", json!({"file_path": ""})).is_some());
        assert!(request("WebFetch", json!({"url": "ftp://x/"})).is_some());
    }

    #[test]
    fn urls_give_the_host_and_port_they_connect_to() {
        let at = |url: &str| host_and_port(url).ok();
        assert_eq!(at("http://example.org"), Some(("example.org".into(), 80)));
        assert_eq!(at("https://example.org:8443/a?b#c"), Some(("example.org".into(), 8443)));
        assert_eq!(at("https://user:pw@evil.example@good.example/"), Some(("good.example".into(), 443)));
        assert_eq!(at("https://[::1]:8000/"), Some(("::1".into(), 8000)));
        assert_eq!(at("https://example.org./"), Some(("example.org".into(), 443)));
        assert_eq!(at("https://example.org\\@evil.example/"), Some(("example.org".into(), 443)));
        assert_eq!(at("http://0xa9fea9fe/latest"), Some(("169.254.169.254".into(), 80)));
        assert_eq!(at("http://2130706433:8000/"), Some(("127.0.0.1".into(), 8000)));
        assert_eq!(at("http://127.1/"), Some(("127.0.0.1".into(), 80)));
        assert_eq!(at("http://0251.0376.0251.0376/"), Some(("169.254.169.254".into(), 80)));
        assert_eq!(at("http://1.2.3.4/"), Some(("1.2.3.4".into(), 80)));
        assert_eq!(at("http://123abc.example/"), Some(("123abc.example".into(), 80)));
        assert_eq!(at("https://example.org:99999/"), None);
        assert_eq!(at("https:///path"), None);
        assert_eq!(at("example.org"), None);
    }

    #[test]
    fn quoting_keeps_any_text_one_word() {
        // bash reads the quoted word back as the original text.
        for text in ["it's", "a'b'c", "$(id) `id` \\ \" ; &&", "line\nbreak", "'", ""] {
            let Ok(output) =
                std::process::Command::new("bash").args(["-c", &format!("printf %s {}", shell_quote(text))]).output()
            else {
                unreachable!("bash runs")
            };
            assert_eq!(String::from_utf8_lossy(&output.stdout), text);
        }
    }

    #[test]
    fn answers_follow_the_protocol() {
        let mut input = Map::new();
        input.insert("command".into(), json!("x"));
        assert_eq!(
            answer(Effect::Prompt, "why", Some(input)),
            json!({"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "ask",
                "permissionDecisionReason": "why", "updatedInput": {"command": "x"}}})
        );
        assert_eq!(answer(Effect::Deny, "no", None)["hookSpecificOutput"]["permissionDecision"], "deny");
    }
}
