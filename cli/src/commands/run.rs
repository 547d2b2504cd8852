//! `vtpolicy run`: judge, ask, sandbox, exec.
//!
//! Everything of vtpolicy's goes to standard error or the events file; the
//! command's standard streams are the caller's own.

use std::io::{BufRead as _, Write as _};
use std::time::Duration;

use vtpolicy::engine::Part;
use vtpolicy::events::{Event, EventBody};
use vtpolicy::{Effect, Judge, Layering, RawRequest, Request, RunPlace};

use crate::Exit;
use crate::args::RunArgs;
use crate::policies;
use crate::state::Approvals;
use crate::style::Style;

const DENIED: u8 = 126;
const OWN_FAILURE: u8 = 125;

/// Where events go.
struct Events {
    run: String,
    file: Option<std::fs::File>,
}

impl Events {
    fn emit(&mut self, body: EventBody) {
        let line = Event::new(&self.run, body).to_line();
        match &mut self.file {
            Some(file) => {
                if let Err(error) = writeln!(file, "{line}") {
                    eprintln!("vtpolicy: cannot write an event: {error}");
                }
            }
            None => eprintln!("{line}"),
        }
    }

    /// Reports vtpolicy's own failure: nothing ran.
    fn fail(&mut self, message: String) -> Exit {
        eprintln!("vtpolicy: {message}");
        self.emit(EventBody::Error { message, exit_code: i32::from(OWN_FAILURE) });
        Exit::Status(OWN_FAILURE)
    }
}

pub(crate) fn run(args: &RunArgs) -> Exit {
    let run_id = format!("{:x}-{:x}", std::process::id(), now_ms());
    let file = match &args.events {
        Some(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => Some(file),
            Err(error) => {
                eprintln!("vtpolicy: cannot open `{}`: {error}", path.display());
                return Exit::Status(OWN_FAILURE);
            }
        },
        None => None,
    };
    let mut events = Events { run: run_id.clone(), file };
    // Runs whose vtpolicy was killed are finished first.
    for (crashed, actions) in crate::state::recover_crashed_runs() {
        if !actions.is_empty() {
            eprintln!("vtpolicy: recovered run {crashed} whose vtpolicy was killed: {}", actions.join("; "));
        }
        events.emit(EventBody::Recovered { crashed_run: crashed, actions });
    }
    let timeout = match args.timeout.as_deref().map(parse_duration).transpose() {
        Ok(timeout) => timeout,
        Err(message) => return events.fail(message),
    };

    // The command runs where vtpolicy was started; the workspace is
    // `--workspace`, else that same directory.
    let current = std::env::current_dir().ok();
    let Ok(mut environment) = policies::environment(args.policy.workspace.as_deref(), current.as_deref()) else {
        return events.fail("cannot determine the workspace".to_owned());
    };
    // The call's private temporary directory is what `${tmp}` means.
    let tmp = match tempfile::Builder::new().prefix("vtpolicy-run-").tempdir() {
        Ok(tmp) => tmp,
        Err(error) => return events.fail(format!("cannot create the private temporary directory: {error}")),
    };
    environment.tmp = std::fs::canonicalize(tmp.path()).unwrap_or_else(|_| tmp.path().to_path_buf());
    policies::note_rego_without_kernel_profile(&args.policy.policies, Style::detect());
    let Some(loaded) = policies::load_cached(&args.policy.policies, &environment, Layering::Enforce, Style::detect())
    else {
        return events.fail("the policy does not compile; nothing ran".to_owned());
    };
    let place = RunPlace::of(&environment, crate::state::state_dir());
    if let Err(message) = place.check() {
        return events.fail(message);
    }
    let sandbox = match loaded.sandbox(place, &run_id) {
        Ok(sandbox) => sandbox,
        Err(error) => return events.fail(error.to_string()),
    };
    // The command is judged in the file system it will see.
    environment.mounts = sandbox.view();
    environment.sandboxed = sandbox.is_sandboxed();
    let policy_names: Vec<String> = loaded.compiled().iter().map(|c| c.policy.name.clone()).collect();
    let judge = match loaded.judge(environment.clone()).map_err(|e| e.to_string()).and_then(crate::approvals::attach) {
        Ok(judge) => judge,
        Err(message) => return events.fail(message),
    };

    // Judge.
    let (program, program_args, command_text) = match &args.command {
        // The text runs in the shell whose grammar the judge parses.
        Some(text) => match trusted_bash(&judge) {
            Some(bash) => (bash, vec!["-c".to_owned(), text.clone()], vec![text.clone()]),
            None => return events.fail("`run -c` needs bash, found in a trusted directory; there is none".to_owned()),
        },
        None => match args.argv.split_first() {
            Some((program, rest)) => (program.clone(), rest.to_vec(), args.argv.clone()),
            None => return events.fail("no command to run".to_owned()),
        },
    };
    let raw = RawRequest::Exec {
        argv: args.command.is_none().then(|| args.argv.clone()),
        command: args.command.clone(),
        cwd: None,
        workspace: None,
    };
    let mut judge = judge;
    let mut judgement = judge.judge(&raw);
    // Net rules scoped to this command (`when running`) apply to the run,
    // its own judgement included.
    if judge.while_running(&judgement) {
        judgement = judge.judge(&raw);
    }
    let (rules, reasons) = judgement.deciding();
    let parts: Vec<String> = judgement.decision.parts.iter().map(|p| p.label.clone()).collect();
    events.emit(EventBody::Decision {
        command: command_text.clone(),
        parts: parts.clone(),
        effect: judgement.effect().as_str().to_owned(),
        rules,
        reasons,
        default_applied: judgement.decision.default_applied,
    });
    let why = judgement.summary();
    // Run the program that was judged, not whatever the child's PATH
    // would find under the same name.
    let program = match judgement.decision.parts.first().and_then(|part| part.request.as_ref()) {
        Some(Request::Exec(exec)) if args.command.is_none() && exec.program.spelled == program => {
            exec.program.path.clone().unwrap_or(program)
        }
        _ => program,
    };
    // A name the judge found no file for (a shell builtin such as `true`
    // also exists as a program) is looked up in PATH, as execvp would.
    let found = (!program.contains('/')).then(|| environment.lookup.search(&program)).flatten();
    let program = found.map_or(program, |path| path.to_string_lossy().into_owned());
    match judgement.effect() {
        Effect::Allow => {}
        Effect::Deny => {
            eprintln!("vtpolicy: denied: {why}");
            return Exit::Status(DENIED);
        }
        Effect::Prompt => {
            let key = format!("{} :: {}", policy_names.join(","), parts.join(" ; "));
            let proposals = || crate::approvals::proposals(&judge, &judgement);
            let asked = Asked { key: &key, command: &command_text, why: &why, proposals: &proposals };
            let (answer, by) = approve(args.yes, &asked, &environment);
            events.emit(EventBody::Approval { answer: answer.to_owned(), by: by.to_owned() });
            if answer == "denied" {
                eprintln!("vtpolicy: not approved: {why}");
                return Exit::Status(DENIED);
            }
        }
    }

    // Shell text runs whatever its commands resolve to; one the sandbox
    // will not let execute fails inside it with a bare "Permission
    // denied", so it is named here (the text may handle the failure, so
    // the run goes on).
    if args.command.is_some() {
        let mut named = std::collections::BTreeSet::new();
        for part in &judgement.decision.parts {
            let Some(Request::Exec(exec)) = &part.request else { continue };
            let Some(path) = exec.program.path.as_deref() else { continue };
            if !named.insert(path) {
                continue;
            }
            if let Some(policy) = sandbox.cannot_execute(std::path::Path::new(path)) {
                eprintln!(
                    "vtpolicy: warning: `{}` is `{path}`, which the policy `{policy}` grants no right to execute in the sandbox; the kernel will refuse it",
                    exec.program.spelled
                );
            }
        }
    }

    // Sandbox and run.
    let limits = sandbox.limits().clone();
    let leftovers = sandbox.leftovers();
    let (supervisor, started) = crate::state::Journal::supervisor();
    let journal = crate::state::Journal {
        run: run_id.clone(),
        supervisor,
        started,
        tmp: environment.tmp.clone(),
        cgroups: sandbox.cgroup_paths(),
        leftovers: leftovers.clone(),
    };
    let journal = match journal.write() {
        Ok(path) => path,
        Err(message) => return events.fail(format!("cannot journal the run: {message}")),
    };
    // Unix sockets the command connects to are judged by the same policies.
    let judge = std::sync::Arc::new(judge);
    let socket_judge: vtpolicy::runtime::sandbox::SocketJudge = {
        let judge = std::sync::Arc::clone(&judge);
        std::sync::Arc::new(move |path: &std::path::Path| {
            let raw = RawRequest::Net {
                host: None,
                port: None,
                unix: Some(path.to_string_lossy().into_owned()),
                cwd: None,
                workspace: None,
            };
            judge.judge(&raw).effect()
        })
    };
    let sandbox = sandbox.with_socket_judge(socket_judge);
    // Connections through the egress proxy are judged by host and port;
    // a prompt is asked on the terminal, one at a time.
    let (connections_sender, connections) = std::sync::mpsc::channel();
    let egress_judge: vtpolicy::runtime::sandbox::EgressJudge = {
        let judge = std::sync::Arc::clone(&judge);
        let (yes, environment, names) = (args.yes, environment.clone(), policy_names.join(","));
        let asking = std::sync::Mutex::new(());
        std::sync::Arc::new(move |host: &str, port: u16| {
            let raw = RawRequest::Net {
                host: Some(host.to_owned()),
                port: Some(port),
                unix: None,
                cwd: None,
                workspace: None,
            };
            let judgement = judge.judge(&raw);
            let (rules, _) = judgement.deciding();
            let reason = judgement.summary();
            let allowed = match judgement.effect() {
                Effect::Allow => true,
                Effect::Deny => false,
                Effect::Prompt => {
                    let _one = asking.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let key = format!("{names} :: net {host}:{port}");
                    let what = [format!("connect to {host}:{port}")];
                    let proposals = || vec![crate::approvals::net_proposal(host, port)];
                    let asked = Asked { key: &key, command: &what, why: &reason, proposals: &proposals };
                    approve(yes, &asked, &environment).0 != "denied"
                }
            };
            let explicit = judge.names_host(&judgement, host);
            vtpolicy::runtime::sandbox::Verdict { effect: judgement.effect(), allowed, rules, reason, explicit }
        })
    };
    let sandbox = sandbox.with_egress(egress_judge, connections_sender);
    // The file judged is executed under the name it was called by.
    let called = match &args.command {
        Some(_) => "bash".to_owned(),
        None => args.argv.first().cloned().unwrap_or_else(|| program.clone()),
    };
    let argv: Vec<String> = std::iter::once(called).chain(program_args.iter().cloned()).collect();
    let (running, enforced, sockets) = match sandbox.spawn(std::path::Path::new(&program), &argv) {
        Ok(spawned) => spawned,
        Err(error) => {
            // Nothing ran: nothing to recover.
            let _ = std::fs::remove_file(&journal);
            return events.fail(error.to_string());
        }
    };
    events.emit(EventBody::Spawn {
        pid: running.pid(),
        layers: enforced.layers,
        landlock_abi: enforced.enforcement.landlock_abi,
        landlock_rules: enforced.enforcement.landlock_rules,
        seccomp_instructions: enforced.enforcement.seccomp_instructions,
        partial: enforced.partial,
        process_limit: enforced.process_limit.to_owned(),
        uid: nix::unistd::geteuid().as_raw(),
    });
    let wall = limits.wall_milliseconds.map(Duration::from_millis);
    let deadline = match (timeout, wall) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let outcome = match running.wait(deadline) {
        Ok(outcome) => outcome,
        Err(error) => return events.fail(error.to_string()),
    };
    for socket in sockets.try_iter() {
        if !socket.allowed {
            eprintln!("vtpolicy: refused a connection to unix socket `{}`: no rule allows it", socket.path);
        }
        events.emit(EventBody::Socket { path: socket.path, allowed: socket.allowed });
    }
    for connection in connections.try_iter() {
        if let Some(refused) = &connection.refused {
            eprintln!("vtpolicy: refused a connection to {}:{}: {refused}", connection.host, connection.port);
        }
        events.emit(EventBody::Connection {
            host: connection.host,
            port: connection.port,
            protocol: connection.protocol.to_owned(),
            effect: connection.effect.as_str().to_owned(),
            allowed: connection.allowed,
            rules: connection.rules,
            address: connection.address,
            refused: connection.refused,
        });
    }
    let code = outcome.status.exit_code();
    events.emit(EventBody::Exit {
        status: outcome.status,
        exit_code: code,
        duration_ms: outcome.duration_ms,
        max_rss_kib: outcome.max_rss_kib,
    });
    // Write-denied paths the run created (they did not exist, so no mount
    // could protect them) are moved aside now that nothing of the run is
    // left to use them.
    let mut code = code;
    let mut created = leftovers.created();
    if let Some(error) = created.unsearched.take() {
        let message = format!("cannot search the workspace for repositories the command created: {error}");
        eprintln!("vtpolicy: {message}");
        events.emit(EventBody::Error { message, exit_code: i32::from(DENIED) });
        code = i32::from(DENIED);
    }
    for settled in crate::state::settle(created, &run_id) {
        use crate::state::Settled;
        let message = match settled {
            Settled::Moved { path, why, to } => {
                let (what, why) = why.describe();
                format!("the command {what} `{}`; moved it to `{}`{why}", path.display(), to.display())
            }
            Settled::NotMoved { path, why, error } => {
                let (what, why) = why.describe();
                format!("the command {what} `{}`{why}, and it could not be moved aside: {error}", path.display())
            }
            Settled::LeftAlone(path) => format!(
                "a directory on the way to `{}` was replaced by a symlink during the run; left it alone (moving it would act where the symlink points)",
                path.display()
            ),
            Settled::Relinked { link, target } => format!(
                "the command replaced or removed the symlink `{}` on the way to git metadata; pointed it at `{}` again",
                link.display(),
                target.display()
            ),
            Settled::NotRelinked { link, error } => format!(
                "the command replaced or removed the symlink `{}` on the way to git metadata: {error}",
                link.display()
            ),
        };
        eprintln!("vtpolicy: {message}");
        events.emit(EventBody::Error { message, exit_code: i32::from(DENIED) });
        code = i32::from(DENIED);
    }
    if outcome.status == vtpolicy::runtime::sandbox::Status::TimedOut {
        eprintln!("vtpolicy: timed out after {} ms; killed the command and everything it started", outcome.duration_ms);
    }
    drop(tmp);
    let _ = std::fs::remove_file(&journal);
    // Everything the run leaves outside this process is settled: events
    // written (unbuffered), the tree reaped and its cgroups removed, the
    // quarantine done, `${tmp}` and the journal removed. What is left is
    // memory (the judge, the policies, the supervisor threads' state),
    // which freeing piece by piece cost a third of a millisecond of every
    // run; the kernel reclaims it at once.
    std::process::exit(i32::from(u8::try_from(code).unwrap_or(OWN_FAILURE)))
}

/// `bash` as the judge resolves it, if it is a trusted program.
fn trusted_bash(judge: &Judge) -> Option<String> {
    let raw = RawRequest::Exec { argv: Some(vec!["bash".to_owned()]), command: None, cwd: None, workspace: None };
    match judge.normalize(&raw).first() {
        Some(Part::Request { request: Request::Exec(exec), .. }) if exec.program.trusted => exec.program.path.clone(),
        _ => None,
    }
}

/// A prompt to answer.
struct Asked<'a> {
    /// What the session store remembers it by.
    key: &'a str,
    command: &'a [String],
    why: &'a str,
    /// The rules that "always" would add, none when it cannot be offered:
    /// worked out only when a person is asked.
    proposals: &'a dyn Fn() -> Vec<String>,
}

/// Asks for a `prompt` decision: the session store, `--yes`, then the
/// terminal. Returns the answer and who gave it.
fn approve(yes: bool, asked: &Asked<'_>, environment: &vtpolicy::Environment) -> (&'static str, &'static str) {
    let Asked { key, command, why, proposals } = *asked;
    let approvals = Approvals::open(&environment.workspace);
    if approvals.as_ref().is_some_and(|a| a.contains(key)) {
        return ("session", "store");
    }
    if yes {
        return ("once", "flag");
    }
    let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") else {
        eprintln!("vtpolicy: approval needed but there is no terminal (use --yes to approve prompts)");
        return ("denied", "none");
    };
    let proposals = proposals();
    let mut writer = &tty;
    let always = if proposals.is_empty() { "" } else { ", [a] always (adds a rule)" };
    let _ = write!(
        writer,
        "vtpolicy: `{}` needs approval: {why}\nRun it? [y] once, [s] for the rest of this session{always}, [n] no: ",
        command.join(" ")
    );
    let _ = writer.flush();
    let read_line = || {
        let mut line = String::new();
        std::io::BufReader::new(&tty).read_line(&mut line).ok().map(|_| line.trim().to_owned())
    };
    let Some(line) = read_line() else { return ("denied", "terminal") };
    match line.as_str() {
        "y" | "Y" | "yes" => ("once", "terminal"),
        "a" | "A" | "always" if !proposals.is_empty() => {
            let path = crate::approvals::path().map(|p| p.display().to_string()).unwrap_or_default();
            let _ = writeln!(writer, "Add to `{path}`:");
            for rule in &proposals {
                let _ = writeln!(writer, "  {rule}");
            }
            let _ = write!(writer, "[y] add, [n] run once only: ");
            let _ = writer.flush();
            if !read_line().is_some_and(|answer| matches!(answer.as_str(), "y" | "Y" | "yes")) {
                return ("once", "terminal");
            }
            match crate::approvals::append(&proposals, &command.join(" "), environment) {
                Ok(ids) => {
                    // The judges of this run were made before the rule: the
                    // session store answers the same question until it ends.
                    if let Some(approvals) = &approvals {
                        let _ = approvals.remember(key);
                    }
                    let _ = writeln!(
                        writer,
                        "vtpolicy: added {} (`vtpolicy approvals revoke ID` removes one)",
                        ids.join(", ")
                    );
                    ("always", "terminal")
                }
                Err(message) => {
                    eprintln!("vtpolicy: the approval holds for this run only: {message}");
                    ("once", "terminal")
                }
            }
        }
        "s" | "S" | "session" => {
            match &approvals {
                Some(approvals) => {
                    if let Err(message) = approvals.remember(key) {
                        eprintln!("vtpolicy: the approval holds for this run only: {message}");
                    }
                }
                None => eprintln!("vtpolicy: no session to remember the approval in; it holds for this run only"),
            }
            ("session", "terminal")
        }
        _ => ("denied", "terminal"),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().map_err(|_| format!("invalid duration `{text}` (e.g. `30s`, `10m`)"))?;
    let millis = match unit {
        "ms" => Some(number),
        "s" | "" => number.checked_mul(1000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => None,
    };
    millis.map(Duration::from_millis).ok_or_else(|| format!("invalid duration `{text}` (e.g. `30s`, `10m`)"))
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}
