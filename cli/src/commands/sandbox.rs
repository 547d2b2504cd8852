//! `vtpolicy sandbox status`.

use serde::Serialize;
use vtpolicy::runtime::sandbox::{CgroupSupport, KernelSupport, MountSupport};

use crate::Exit;
use crate::args::{Format, SandboxArgs, SandboxCommand};

#[derive(Serialize)]
struct Status {
    landlock_abi: u8,
    landlock: Vec<&'static str>,
    landlock_missing: Vec<&'static str>,
    seccomp: bool,
    user_namespaces: bool,
    cgroups: CgroupSupport,
    root: bool,
    /// What `run` enforces on this machine.
    run_enforces: Vec<String>,
    run_cannot: Vec<String>,
}

const FEATURES: &[(u8, &str)] = &[
    (1, "file system access rights"),
    (2, "cross-directory rename and link (refer)"),
    (3, "truncation"),
    (4, "TCP bind and connect ports"),
    (5, "device ioctls"),
    (6, "scoping of signals and abstract unix sockets"),
    (7, "denial audit logging"),
    (8, "restricting every thread at once"),
    (9, "pathname unix sockets"),
];

pub(crate) fn run(args: &SandboxArgs) -> Exit {
    let format = match args.command {
        SandboxCommand::Status { format } => format,
        SandboxCommand::Recover => {
            let recovered = crate::state::recover_crashed_runs();
            for (run, actions) in &recovered {
                crate::output::outln!("recovered run {run}: {}", actions.join("; "));
            }
            if recovered.is_empty() {
                crate::output::outln!("no run to recover");
            }
            return Exit::Ok;
        }
    };
    let kernel = KernelSupport::detect();
    let cgroups = CgroupSupport::detect();
    let user_namespaces = kernel.user_namespaces;
    let abi = kernel.landlock_abi;
    let landlock = FEATURES.iter().filter(|(v, _)| *v <= abi).map(|(_, f)| *f).collect();
    let landlock_missing = FEATURES.iter().filter(|(v, _)| *v > abi).map(|(_, f)| *f).collect();
    let mut enforces = Vec::new();
    let mut cannot = Vec::new();
    match abi {
        0 => cannot.push("Landlock is unavailable: `run` refuses every sandboxing policy".to_owned()),
        1..=2 => cannot.push(format!("Landlock ABI {abi}: policies that restrict writes need 3; `run` refuses them")),
        3 => {
            enforces.push("Landlock file rules".to_owned());
            cannot.push("Landlock ABI 3: policies that restrict the network need 4; `run` refuses them".to_owned());
        }
        _ => enforces.push(format!("Landlock file{} rules", if abi >= 4 { " and TCP port" } else { "" })),
    }
    if kernel.seccomp {
        enforces.push(
            "pathname unix sockets outside the workspace and the private tmp refused unless a `net unix` rule allows them, abstract addresses too, and no executable memfd (seccomp user notification)".to_owned(),
        );
    }
    if abi < 6 && abi > 0 {
        cannot.push("scoping signals and abstract unix sockets (needs Landlock ABI 6)".to_owned());
    }
    if kernel.seccomp {
        enforces.push("the seccomp program (syscalls and socket families)".to_owned());
    } else {
        cannot.push("seccomp is unavailable: `run` refuses sandboxing policies".to_owned());
    }
    enforces
        .push("no capabilities, no_new_privs, a new session, only descriptors 0-2, a scrubbed environment".to_owned());
    match (&cgroups.pids, kernel.root) {
        _ if kernel.per_namespace_pid_max && kernel.mounts.available() => enforces.push(
            "process-count limits through the pid_max of the run's own PID namespace (threads count; no cgroup to join)"
                .to_owned(),
        ),
        (Some(_), _) => enforces.push("process-count limits through a pids cgroup".to_owned()),
        (None, false) => {
            enforces.push("process-count limits through RLIMIT_NPROC (counts every process of the user)".to_owned())
        }
        (None, true) => cannot.push(
            "process-count limits as root: no writable pids cgroup, so `run` refuses policies with `processes`"
                .to_owned(),
        ),
    }
    if kernel.mounts.available() {
        enforces.push(
            "host rules through vtpolicy's egress proxy, the command in a network namespace of its own with only loopback"
                .to_owned(),
        );
        enforces.push(
            "a PID namespace with a fresh /proc showing only the run; killing vtpolicy, even with SIGKILL, kills every process of the run"
                .to_owned(),
        );
        enforces.push(
            "private /tmp (the run's temporary directory), empty /dev/shm, /run and $XDG_RUNTIME_DIR covered"
                .to_owned(),
        );
        enforces.push("git metadata of every repository in the workspace mounted read-only".to_owned());
    } else {
        cannot.push(
            "a PID namespace: processes that leave the run's session survive a SIGKILL of vtpolicy; /tmp and /proc are shared"
                .to_owned(),
        );
        cannot.push(
            "a network namespace: the egress proxy listens on the host's loopback and Landlock (ABI 4) lets the command connect to its port only, but to that port on any address"
                .to_owned(),
        );
    }
    if kernel.root && kernel.mounts.available() {
        enforces.push("vm.memfd_noexec = 2 in the run's PID namespace".to_owned());
    }
    match kernel.mounts {
        MountSupport::Root => enforces.push(
            "write-denied paths mounted read-only and read-denied ones covered, in a private mount namespace".to_owned(),
        ),
        MountSupport::UserNamespace => enforces.push(
            "write-denied paths mounted read-only and read-denied ones covered, in a private mount namespace inside a user namespace (which also empties the bounding set)"
                .to_owned(),
        ),
        MountSupport::Unavailable => cannot.push(
            "a private mount namespace: write denies fall back to Landlock carving, so directories holding denied paths accept no new entries"
                .to_owned(),
        ),
    }
    enforces.push(
        "killing the whole process tree as child subreaper (and through cgroup.kill when the pids cgroup is a v2 one)"
            .to_owned(),
    );
    if kernel.root {
        enforces.push("the bounding set emptied and securebits locked (started as root)".to_owned());
    } else if kernel.mounts == MountSupport::UserNamespace {
        enforces.push("the bounding set emptied inside the user namespace".to_owned());
    } else {
        cannot.push(
            "emptying the capability bounding set (needs CAP_SETPCAP; permitted and effective sets are empty)"
                .to_owned(),
        );
    }
    let status = Status {
        landlock_abi: abi,
        landlock,
        landlock_missing,
        seccomp: kernel.seccomp,
        user_namespaces,
        cgroups,
        root: kernel.root,
        run_enforces: enforces,
        run_cannot: cannot,
    };
    if format == Format::Json {
        match serde_json::to_string_pretty(&status) {
            Ok(json) => crate::output::outln!("{json}"),
            Err(error) => {
                eprintln!("error: {error}");
                return Exit::Error;
            }
        }
        return Exit::Ok;
    }
    crate::output::outln!("landlock: ABI {abi}");
    for feature in &status.landlock {
        crate::output::outln!("  covers {feature}");
    }
    for feature in &status.landlock_missing {
        crate::output::outln!("  lacks  {feature}");
    }
    crate::output::outln!("seccomp: {}", if status.seccomp { "available" } else { "unavailable" });
    crate::output::outln!("user namespaces: {}", if status.user_namespaces { "available" } else { "unavailable" });
    let show =
        |p: &Option<std::path::PathBuf>| p.as_ref().map_or("none writable".to_owned(), |d| d.display().to_string());
    crate::output::outln!("cgroups: kill {}; pids {}", show(&status.cgroups.kill), show(&status.cgroups.pids));
    crate::output::outln!("running as root: {}", if status.root { "yes" } else { "no" });
    crate::output::outln!("run enforces:");
    for line in &status.run_enforces {
        crate::output::outln!("  {line}");
    }
    crate::output::outln!("run cannot enforce:");
    for line in &status.run_cannot {
        crate::output::outln!("  {line}");
    }
    Exit::Ok
}
