//! `vtpolicy run`: judge, ask, sandbox, exec.
//!
//! Everything of vtpolicy's goes to standard error or the events file; the
//! command's standard streams are the caller's own.

use std::io::{BufRead as _, Write as _};
use std::process::Command;
use std::time::Duration;

use vtpolicy_compiler::profile::landlock::WriteDenies;
use vtpolicy_compiler::{CompiledPolicy, Limits};
use vtpolicy_engine::{Effect, Part, Request};
use vtpolicy_runtime::events::{Event, EventBody};
use vtpolicy_runtime::sandbox::{
    CgroupSupport, ChildSetup, KernelProfiles, Prepared, PreparedMounts, Resource, Rlimit, RunCgroups, Running,
};
use vtpolicy_runtime::{Judge, Judgement, Layering, RawRequest};

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
    let Some(compiled) = policies::compile_all(&args.policy.policies, &environment, Layering::Enforce, Style::detect())
    else {
        return events.fail("the policy does not compile; nothing ran".to_owned());
    };
    let refs: Vec<&CompiledPolicy> = compiled.iter().collect();
    let profiles = match KernelProfiles::for_run(&refs, &environment.context()) {
        Ok(profiles) => profiles,
        Err(message) => return events.fail(message),
    };
    let env_keep = env_allow_list(&compiled);
    let policy_names: Vec<String> = compiled.iter().map(|c| c.policy.name.clone()).collect();
    let Some(rego) = policies::load_rego(&args.policy.policies, &environment, Layering::Enforce, Style::detect())
    else {
        return events.fail("a Rego policy does not load; nothing ran".to_owned());
    };
    let judge = match Judge::new(compiled, environment.clone()) {
        Ok(judge) => judge.with_rego(rego),
        Err(error) => return events.fail(error.to_string()),
    };

    // Judge.
    let (program, program_args, command_text) = match &args.command {
        Some(text) => ("/bin/sh".to_owned(), vec!["-c".to_owned(), text.clone()], vec![text.clone()]),
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
    let judgement = judge.judge(&raw);
    let (rules, reasons) = deciding(&judgement);
    let parts: Vec<String> = judgement.decision.parts.iter().map(|p| p.label.clone()).collect();
    events.emit(EventBody::Decision {
        command: command_text.clone(),
        parts: parts.clone(),
        effect: judgement.effect().as_str().to_owned(),
        rules: rules.clone(),
        reasons: reasons.clone(),
        default_applied: judgement.decision.default_applied,
    });
    let mut deciding_parts: Vec<&str> = judgement
        .decision
        .parts
        .iter()
        .filter(|p| p.decision.effect == judgement.effect())
        .map(|p| p.label.as_str())
        .collect();
    deciding_parts.dedup();
    let why = describe(&rules, &reasons, &deciding_parts, judgement.decision.default_applied);
    // Run the program that was judged, not whatever the child's PATH
    // would find under the same name.
    let program = match judgement.parts.first() {
        Some(Part::Request { request: Request::Exec(exec), .. })
            if args.command.is_none() && exec.program.spelled == program =>
        {
            exec.program.path.clone().unwrap_or(program)
        }
        _ => program,
    };
    match judgement.effect() {
        Effect::Allow => {}
        Effect::Deny => {
            eprintln!("vtpolicy: denied: {why}");
            return Exit::Status(DENIED);
        }
        Effect::Prompt => {
            let key = format!("{} :: {}", policy_names.join(","), parts.join(" ; "));
            let (answer, by) = approve(args.yes, &key, &command_text, &why, &environment.workspace);
            events.emit(EventBody::Approval { answer: answer.to_owned(), by: by.to_owned() });
            if answer == "denied" {
                eprintln!("vtpolicy: not approved: {why}");
                return Exit::Status(DENIED);
            }
        }
    }

    // Sandbox and run.
    let limits = &profiles.model.limits;
    let support = CgroupSupport::detect();
    let root = nix::unistd::geteuid().is_root();
    let cgroups = match RunCgroups::create(&support, &format!("vtpolicy-{run_id}"), limits.processes) {
        Ok(cgroups) => Some(cgroups),
        Err(message) if root && limits.processes.is_some() => {
            return events.fail(format!("cannot limit processes as root without a pids cgroup: {message}"));
        }
        Err(_) => None,
    };
    let pids_cgroup = cgroups.as_ref().is_some_and(RunCgroups::limits_processes);
    let cgroups_kill = cgroups.as_ref().is_some_and(RunCgroups::kills_tree);
    if root && limits.processes.is_some() && !pids_cgroup {
        return events.fail(
            "cannot limit processes as root: no writable pids cgroup (RLIMIT_NPROC does not apply to root)".to_owned(),
        );
    }
    let procs = match cgroups.as_ref().map(RunCgroups::procs_files).transpose() {
        Ok(procs) => procs.unwrap_or_default(),
        Err(message) => return events.fail(message),
    };
    let plan = profiles.landlock.as_ref().filter(|r| r.write_denies == WriteDenies::Mounts).map(|r| &r.mounts);
    let mounts = match plan.map(|plan| PreparedMounts::new(plan, profiles.mounts)).transpose() {
        Ok(mounts) => mounts.flatten(),
        Err(message) => return events.fail(message),
    };
    let setup = ChildSetup::new(rlimits(limits, !pids_cgroup), procs, mounts);
    let prepared = match Prepared::new(profiles.landlock.as_ref(), profiles.seccomp.as_ref()) {
        Ok(prepared) => prepared,
        Err(error) => return events.fail(error.to_string()),
    };
    let enforcement = prepared.enforcement.clone();
    let mut command = Command::new(&program);
    command.args(&program_args).current_dir(&environment.cwd).env_clear();
    for (name, value) in child_environment(&env_keep) {
        command.env(name, value);
    }
    command
        .env("VTPOLICY_SANDBOX", "1")
        .env("VTPOLICY_SANDBOX_RUN", &run_id)
        .env("VTPOLICY_SANDBOX_POLICY", policy_names.join(","))
        .env("TMPDIR", &environment.tmp);
    let running = match Running::start(&mut command, setup, prepared, cgroups) {
        Ok(running) => running,
        Err(error) => return events.fail(error.to_string()),
    };
    let mut layers: Vec<String> =
        vec!["session".into(), "rlimits".into(), "capabilities_dropped".into(), "no_new_privs".into()];
    if profiles.landlock.is_some() {
        layers.push("landlock".into());
    }
    if profiles.seccomp.is_some() {
        layers.push("seccomp".into());
    }
    if pids_cgroup {
        layers.push("pids_cgroup".into());
    }
    if cgroups_kill {
        layers.push("kill_cgroup".into());
    }
    let process_limit = match (limits.processes, pids_cgroup) {
        (Some(_), true) => "pids_cgroup",
        (Some(_), false) => "rlimit",
        (None, _) => "none",
    };
    events.emit(EventBody::Spawn {
        pid: running.pid(),
        layers,
        landlock_abi: enforcement.landlock_abi,
        landlock_rules: enforcement.landlock_rules,
        seccomp_instructions: enforcement.seccomp_instructions,
        partial: enforcement.partial.clone(),
        process_limit: process_limit.to_owned(),
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
    for path in plan.map(|p| p.watched.as_slice()).unwrap_or_default() {
        if std::path::Path::new(path).symlink_metadata().is_err() {
            continue;
        }
        let message = match crate::state::quarantine(std::path::Path::new(path), &run_id) {
            Ok(moved) => format!("the command created write-denied `{path}`; moved to `{}`", moved.display()),
            Err(error) => format!("the command created write-denied `{path}` and it could not be moved aside: {error}"),
        };
        eprintln!("vtpolicy: {message}");
        events.emit(EventBody::Error { message, exit_code: i32::from(DENIED) });
        code = i32::from(DENIED);
    }
    if outcome.status == vtpolicy_runtime::sandbox::Status::TimedOut {
        eprintln!("vtpolicy: timed out after {} ms; killed the command and everything it started", outcome.duration_ms);
    }
    drop(tmp);
    Exit::Status(u8::try_from(code).unwrap_or(OWN_FAILURE))
}

/// The deciding rule ids and their reasons.
fn deciding(judgement: &Judgement) -> (Vec<String>, Vec<String>) {
    let mut rules = Vec::new();
    let mut reasons = Vec::new();
    for matched in &judgement.decision.matched {
        if !rules.contains(&matched.id) {
            rules.push(matched.id.clone());
        }
        if let Some(because) = &matched.because
            && !reasons.contains(because)
        {
            reasons.push(because.clone());
        }
    }
    for part in &judgement.decision.parts {
        if let Some(reason) = &part.unanalysable
            && part.decision.effect == judgement.effect()
        {
            reasons.push(format!("`{}` cannot be analysed: {reason}", part.label));
        }
    }
    (rules, reasons)
}

fn describe(rules: &[String], reasons: &[String], parts: &[&str], default_applied: bool) -> String {
    let mut text = String::new();
    if !parts.is_empty() {
        let quoted: Vec<String> =
            parts.iter().map(|p| format!("`{}`", p.trim_end_matches([';', '|', '&', ' ']))).collect();
        text.push_str(&quoted.join(", "));
        text.push_str(": ");
    }
    text.push_str(&reasons.join("; "));
    if !rules.is_empty() {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&format!("(rule {})", rules.join(", ")));
    } else if default_applied && reasons.is_empty() {
        text.push_str("no rule matched, so the policy's default applies");
    }
    text
}

/// Asks for a `prompt` decision: the session store, `--yes`, then the
/// terminal. Returns the answer and who gave it.
fn approve(
    yes: bool,
    key: &str,
    command: &[String],
    why: &str,
    workspace: &std::path::Path,
) -> (&'static str, &'static str) {
    let approvals = Approvals::open(workspace);
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
    let mut writer = &tty;
    let _ = write!(
        writer,
        "vtpolicy: `{}` needs approval: {why}\nRun it? [y] once, [a] for the rest of this session, [n] no: ",
        command.join(" ")
    );
    let _ = writer.flush();
    let mut line = String::new();
    if std::io::BufReader::new(&tty).read_line(&mut line).is_err() {
        return ("denied", "terminal");
    }
    match line.trim() {
        "y" | "Y" | "yes" => ("once", "terminal"),
        "a" | "A" | "always" => {
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

/// The resource limits of the child: the policy's, core dumps off, and
/// the process count as an rlimit when no pids cgroup holds it.
fn rlimits(limits: &Limits, nproc: bool) -> Vec<Rlimit> {
    let mut out = vec![Rlimit { resource: Resource::Core, value: 0 }];
    let mut add = |resource, value: Option<u64>| {
        if let Some(value) = value {
            out.push(Rlimit { resource, value });
        }
    };
    add(Resource::Cpu, limits.cpu_seconds);
    add(Resource::AddressSpace, limits.memory_bytes);
    add(Resource::FileSize, limits.file_size_bytes);
    add(Resource::OpenFiles, limits.open_files);
    if nproc {
        add(Resource::Processes, limits.processes);
    }
    out
}

/// Variables every policy lets through (an allow-list: each policy must
/// keep a variable for it to pass).
fn env_allow_list(compiled: &[CompiledPolicy]) -> Vec<Vec<String>> {
    compiled.iter().map(|c| c.settings.env_keep.clone()).collect()
}

/// Names that never pass, whatever an allow-list says: credentials and
/// loader controls.
const SECRETS: &[&str] = &[
    "*_TOKEN",
    "*_TOKEN_*",
    "*SECRET*",
    "*PASSWORD*",
    "*_API_KEY",
    "*ACCESS_KEY*",
    "AWS_*",
    "SSH_AUTH_SOCK",
    "LD_*",
    "DYLD_*",
    "GH_*",
    "GITHUB_TOKEN",
];

fn child_environment(allow: &[Vec<String>]) -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(name, _)| allow.iter().all(|list| list.iter().any(|pattern| name_matches(pattern, name))))
        .filter(|(name, _)| !SECRETS.iter().any(|pattern| name_matches(pattern, name)))
        .filter(|(name, _)| !name.starts_with("VTPOLICY_SANDBOX") && name != "TMPDIR")
        .collect()
}

/// `*` matches any run of characters; everything else is literal.
fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else { return false };
            (0..=rest.len()).any(|i| rest.is_char_boundary(i) && name_matches(tail, rest.get(i..).unwrap_or_default()))
        }
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
    fn secrets_never_pass_an_allow_list() {
        assert!(name_matches("CARGO_*", "CARGO_REGISTRY_TOKEN"));
        assert!(SECRETS.iter().any(|p| name_matches(p, "CARGO_REGISTRY_TOKEN")));
        assert!(SECRETS.iter().any(|p| name_matches(p, "AWS_SECRET_ACCESS_KEY")));
        assert!(SECRETS.iter().any(|p| name_matches(p, "LD_PRELOAD")));
        assert!(!SECRETS.iter().any(|p| name_matches(p, "PATH")));
        assert!(name_matches("LC_*", "LC_ALL") && !name_matches("LC_*", "LANG"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
    }
}
