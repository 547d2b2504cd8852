//! `vtpolicy serve`: a decision server speaking JSON lines.
//!
//! Each line in is `{"id": …, "request": {…}, "explain": bool,
//! "sandboxed": bool}`; each line out answers it with the same `id`, in
//! order. Policies are compiled once and judged from any number of
//! clients at once; a watcher reloads them when their files change and
//! swaps the new judge in whole, so a request is judged by one version or
//! the other, never a mixture.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use vtpolicy::events::{Event, EventBody};
use vtpolicy::{Explanation, Judge, Judgement, Layering, request_from_value};

use crate::Exit;
use crate::args::ServeArgs;
use crate::policies;
use crate::style::Style;

/// The longest request line read; a longer one is answered with an error
/// and skipped to its end.
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// How often the policy files are checked for changes.
const RELOAD_POLL: Duration = Duration::from_millis(500);

/// The judge requests are answered with, swapped whole on reload.
type Current = Arc<RwLock<Arc<Judge>>>;

pub(crate) fn run(args: &ServeArgs, style: Style) -> Exit {
    let (judge, watched) = match load(args, style) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    let current: Current = Arc::new(RwLock::new(Arc::new(judge)));
    {
        let current = Arc::clone(&current);
        let args = args.clone();
        std::thread::spawn(move || watch(&args, &current, watched, style));
    }
    match &args.socket {
        None => {
            let stdin = std::io::stdin();
            let stdout = std::io::stdout();
            match serve_stream(&current, stdin.lock(), stdout.lock()) {
                Ok(()) => Exit::Ok,
                Err(error) => {
                    eprintln!("error: {error}");
                    Exit::Error
                }
            }
        }
        Some(path) => match serve_socket(&current, path) {
            Ok(()) => Exit::Ok,
            Err(message) => {
                eprintln!("error: {message}");
                Exit::Error
            }
        },
    }
}

/// Compiles the policies; with them, the files whose change reloads them.
fn load(args: &ServeArgs, style: Style) -> Result<(Judge, Vec<PathBuf>), String> {
    let environment = policies::environment(args.workspace.as_deref(), None).map_err(|_| "no workspace")?;
    let loaded =
        policies::load(&args.policies, &environment, Layering::Enforce, style).ok_or("the policy does not compile")?;
    let mut watched: Vec<PathBuf> = Vec::new();
    let mut watch = |path: &Path| {
        if path.is_file() && !watched.iter().any(|w| w == path) {
            watched.push(path.to_path_buf());
        }
    };
    for spec in &args.policies {
        watch(Path::new(spec));
    }
    for policy in loaded.compiled() {
        for source in &policy.sources {
            watch(Path::new(&source.file.name));
        }
        for catalogue in &policy.settings.programs {
            watch(Path::new(&catalogue.path));
        }
    }
    // The approvals reload too, appearing or changed.
    watched.extend(crate::approvals::path().filter(|path| !watched.contains(path)));
    let judge = loaded.judge(environment).map_err(|e| e.to_string())?;
    Ok((crate::approvals::attach(judge)?, watched))
}

/// What identifies a file's content without reading it.
fn fingerprint(paths: &[PathBuf]) -> Vec<Option<(i64, i64, u64, u64)>> {
    paths
        .iter()
        .map(|path| std::fs::metadata(path).ok().map(|m| (m.mtime(), m.mtime_nsec(), m.len(), m.ino())))
        .collect()
}

/// Reloads the policies whenever one of their files changes. A policy
/// that no longer compiles keeps the old judge; both outcomes are events
/// on standard error.
fn watch(args: &ServeArgs, current: &Current, mut watched: Vec<PathBuf>, style: Style) {
    let mut seen = fingerprint(&watched);
    loop {
        std::thread::sleep(RELOAD_POLL);
        let now = fingerprint(&watched);
        if now == seen {
            continue;
        }
        seen = now;
        let body = match load(args, style) {
            Ok((judge, files)) => {
                if let Ok(mut slot) = current.write() {
                    *slot = Arc::new(judge);
                }
                watched = files;
                seen = fingerprint(&watched);
                EventBody::Reload { policies: args.policies.clone(), loaded: true, message: None }
            }
            Err(message) => EventBody::Reload {
                policies: args.policies.clone(),
                loaded: false,
                message: Some(format!("{message}; the policies loaded before stay in force")),
            },
        };
        eprintln!("{}", Event::new("serve", body).to_line());
    }
}

/// Answers every line of `input` on `output`, in order, until end of
/// input. Output is flushed whenever no further request is waiting.
fn serve_stream(current: &Current, input: impl std::io::Read, output: impl Write) -> std::io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut writer = BufWriter::with_capacity(64 * 1024, output);
    let mut line = Vec::new();
    loop {
        let answer = match read_line(&mut reader, &mut line)? {
            Line::End => break,
            Line::TooLong => error_answer(Value::Null, &format!("the line is longer than {MAX_LINE_BYTES} bytes")),
            Line::Read => {
                let trimmed = line.trim_ascii();
                if trimmed.is_empty() {
                    continue;
                }
                let judge = match current.read() {
                    Ok(judge) => Arc::clone(&judge),
                    Err(poisoned) => Arc::clone(&poisoned.into_inner()),
                };
                answer(&judge, trimmed)
            }
        };
        writer.write_all(answer.as_bytes())?;
        writer.write_all(b"\n")?;
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
    writer.flush()
}

enum Line {
    Read,
    TooLong,
    End,
}

/// Reads one line into `line` (without its newline), or skips to the end
/// of a line longer than [`MAX_LINE_BYTES`] without holding it.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>) -> std::io::Result<Line> {
    line.clear();
    let mut too_long = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Read,
            });
        }
        let (chunk, done) = match buffer.iter().position(|b| *b == b'\n') {
            Some(end) => (buffer.get(..end).unwrap_or_default(), Some(end + 1)),
            None => (buffer, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_LINE_BYTES {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buffer.len());
        reader.consume(used);
        if done.is_some() {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

/// The answer to a request, fields in this order.
#[derive(Serialize)]
struct Answer {
    id: Value,
    decision: &'static str,
    rules: Vec<String>,
    reasons: Vec<String>,
    default_applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Explanation>,
}

/// The answer to a line that could not be judged.
#[derive(Serialize)]
struct ErrorAnswer<'a> {
    id: Value,
    error: &'a str,
}

/// The answer to one request line.
fn answer(judge: &Judge, line: &[u8]) -> String {
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(e) => return error_answer(Value::Null, &format!("invalid JSON at column {}: {e}", e.column())),
    };
    let Value::Object(mut message) = value else {
        return error_answer(Value::Null, "a line must be a JSON object");
    };
    let id = message.remove("id").unwrap_or(Value::Null);
    match judged(judge, message) {
        Ok((judgement, explain)) => {
            let (rules, reasons) = judgement.deciding();
            let answer = Answer {
                id,
                decision: judgement.effect().as_str(),
                rules,
                reasons,
                default_applied: judgement.decision.default_applied,
                explain: explain.then(|| Explanation::new(judge, &judgement)),
            };
            serde_json::to_string(&answer).unwrap_or_else(|e| error_answer(answer.id, &e.to_string()))
        }
        Err(message) => error_answer(id, &message),
    }
}

/// The judgement a line asks for, and whether it asks for the trace.
fn judged(judge: &Judge, mut message: Map<String, Value>) -> Result<(Judgement, bool), String> {
    let flag = |message: &mut Map<String, Value>, name: &str| match message.remove(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(flag)) => Ok(flag),
        Some(_) => Err(format!("`{name}` must be true or false")),
    };
    let explain = flag(&mut message, "explain")?;
    let sandboxed = flag(&mut message, "sandboxed")?;
    let request = message.remove("request").ok_or("the line has no `request`")?;
    if let Some(unknown) = message.keys().next() {
        return Err(format!("unknown field `{unknown}` (a line holds `id`, `request`, `explain`, `sandboxed`)"));
    }
    let sandboxed = sandboxed || request.get("sandboxed").and_then(Value::as_bool).unwrap_or(false);
    let raw = request_from_value(&request).map_err(|e| e.to_string())?;
    if let Some(workspace) = raw.workspace() {
        let asked = std::fs::canonicalize(workspace).unwrap_or_else(|_| PathBuf::from(workspace));
        if asked != judge.environment().workspace {
            return Err(format!(
                "this server judges for the workspace `{}`, not `{workspace}`",
                judge.environment().workspace.display()
            ));
        }
    }
    Ok((judge.judge_in(&raw, sandboxed), explain))
}

fn error_answer(id: Value, message: &str) -> String {
    serde_json::to_string(&ErrorAnswer { id, error: message })
        .unwrap_or_else(|_| r#"{"id":null,"error":"cannot write the answer"}"#.to_owned())
}

/// Listens on a unix socket only its owner can use, one thread per client.
fn serve_socket(current: &Current, path: &Path) -> Result<(), String> {
    let shown = path.display();
    if let Ok(metadata) = std::fs::symlink_metadata(path) {
        // A socket left by a server that is gone is replaced; a live one,
        // or anything that is not a socket, is not.
        let is_socket = std::os::unix::fs::FileTypeExt::is_socket(&metadata.file_type());
        if !is_socket {
            return Err(format!("`{shown}` exists and is not a socket"));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!("another server is listening on `{shown}`"));
        }
        std::fs::remove_file(path).map_err(|e| format!("cannot remove the stale socket `{shown}`: {e}"))?;
    }
    // The socket is created inside a private directory first, so nobody
    // can connect before its mode is 0600, then moved into place.
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staging = tempfile::Builder::new()
        .prefix(".vtpolicy-serve-")
        .tempdir_in(parent)
        .map_err(|e| format!("cannot create a directory beside `{shown}`: {e}"))?;
    let staged = staging.path().join("socket");
    let listener =
        std::os::unix::net::UnixListener::bind(&staged).map_err(|e| format!("cannot listen on `{shown}`: {e}"))?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict `{shown}`: {e}"))?;
    std::fs::rename(&staged, path).map_err(|e| format!("cannot move the socket to `{shown}`: {e}"))?;
    drop(staging);
    eprintln!("vtpolicy: serving on `{shown}`");
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                eprintln!("vtpolicy: a client could not connect: {error}");
                continue;
            }
        };
        let current = Arc::clone(current);
        std::thread::spawn(move || {
            let Ok(reader) = stream.try_clone() else { return };
            if let Err(error) = serve_stream(&current, reader, stream)
                && error.kind() != std::io::ErrorKind::BrokenPipe
            {
                eprintln!("vtpolicy: a client's connection failed: {error}");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Result<String, ()>> {
        let mut reader = BufReader::with_capacity(7, input);
        let mut line = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut reader, &mut line).unwrap_or(Line::End) {
                Line::End => return out,
                Line::TooLong => out.push(Err(())),
                Line::Read => out.push(Ok(String::from_utf8_lossy(&line).into_owned())),
            }
        }
    }

    #[test]
    fn lines_are_bounded_and_a_long_one_is_skipped_whole() {
        let long = "x".repeat(MAX_LINE_BYTES + 1);
        let input = format!("a\n{long}\nb\n\nlast");
        assert_eq!(
            lines(input.as_bytes()),
            vec![Ok("a".into()), Err(()), Ok("b".into()), Ok(String::new()), Ok("last".into())]
        );
        let exact = "y".repeat(MAX_LINE_BYTES);
        assert_eq!(lines(format!("{exact}\n").as_bytes()), vec![Ok(exact)]);
    }
}
