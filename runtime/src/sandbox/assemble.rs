//! [`Sandbox`]: everything `run` needs to execute one command under a set
//! of policies, assembled in one place: the kernel profiles, the
//! environment allow-list, resource limits, cgroups, the private mount
//! namespace and the process tree. The CLI keeps arguments, approval,
//! events and exit codes.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};

use vtpolicy_compiler::profile::landlock::{MountPlan, WriteDenies};
use vtpolicy_compiler::profile::model::{Network, PathGlob, SandboxModel};
use vtpolicy_compiler::{CompiledPolicy, Context, Limits};

use super::KernelProfiles;
use super::apply::{Enforcement, Prepared, SandboxError};
use super::cgroup::{CgroupSupport, RunCgroups};
use super::child::{ChildSetup, PreparedMounts, PrivateDirs, Resource, Rlimit};
use super::egress::{Connection, EgressJudge, PROXY_PORT, Verdict};
use super::git::GitMetadata;
use super::notify::{NotifyFilter, SocketDecision, SocketJudge, SocketRules};
use super::probe::{MountSupport, per_namespace_pid_max};
use super::supervise::Running;
use super::tree::{Exec, Namespaces, PidMax, TreeSetup};
use super::walk_cache::WalkCache;

/// Where the run happens: the paths the policies were compiled for.
#[derive(Debug, Clone)]
pub struct RunPlace {
    pub workspace: PathBuf,
    pub cwd: PathBuf,
    /// The per-call temporary directory (`${tmp}`), on the host.
    pub tmp: PathBuf,
    pub home: String,
    /// vtpolicy's state directory: kept read-only for the command, and
    /// where searches of the workspace are remembered between runs.
    pub state: Option<PathBuf>,
}

impl RunPlace {
    /// Where a call judged in `environment` runs, with vtpolicy's state
    /// directory `state`.
    pub fn of(environment: &crate::Environment, state: Option<PathBuf>) -> RunPlace {
        RunPlace {
            workspace: environment.workspace.clone(),
            cwd: environment.cwd.clone(),
            tmp: environment.tmp.clone(),
            home: environment.home.clone(),
            state,
        }
    }

    /// The compiler's view of the place: what `${workspace}` and the other
    /// variables stand for.
    pub fn context(&self) -> Context {
        crate::judge::context_of(&self.workspace, &self.home, &self.tmp, &self.cwd)
    }

    /// Refuses a workspace the sandbox would make meaningless: one that
    /// does not exist, `/`, `/tmp`, the home directory or one of its
    /// ancestors (the home's dot-files would be writable), or one holding
    /// vtpolicy's own state directory (its quarantine and approvals).
    pub fn check(&self) -> Result<(), String> {
        let workspace = &self.workspace;
        let shown = workspace.display();
        if !workspace.is_dir() {
            return Err(format!("the workspace `{shown}` does not exist or is not a directory"));
        }
        if workspace == Path::new("/") || workspace == Path::new("/tmp") {
            return Err(format!("the workspace `{shown}` is a system-wide directory; name a project directory"));
        }
        let home = std::fs::canonicalize(&self.home).unwrap_or_else(|_| PathBuf::from(&self.home));
        if home.starts_with(workspace) {
            return Err(format!(
                "the workspace `{shown}` holds the home directory, whose start-up files it would make writable; \
                 name a project directory with --workspace"
            ));
        }
        if let Some(state) = &self.state {
            let state = std::fs::canonicalize(state).unwrap_or_else(|_| state.to_path_buf());
            if state.starts_with(workspace) {
                return Err(format!("the workspace `{shown}` holds vtpolicy's state directory `{}`", state.display()));
            }
        }
        Ok(())
    }
}

/// How `run` will run a command at a place, known before it prepares
/// anything: whether the command is sandboxed (the judge then applies
/// `when sandboxed` rules) and the file-system view it is judged in.
#[derive(Debug, Clone)]
pub struct ExpectedRun {
    pub sandboxed: bool,
    pub view: MountView,
}

impl RunPlace {
    /// What `run` at this place will do with `policies`, computed without
    /// searching the workspace or touching the kernel: for a hook that
    /// judges a call now and rewrites it into `run`, which judges it again
    /// in the same view. `place.tmp` need not exist.
    pub fn expected(&self, policies: &[&CompiledPolicy]) -> ExpectedRun {
        let sandboxed = SandboxModel::new(policies, &self.context()).enabled;
        let view = if sandboxed && MountSupport::detect().available() {
            tmp_view(&self.tmp, &kept_in_tmp(self))
        } else {
            Vec::new()
        };
        ExpectedRun { sandboxed, view }
    }
}

/// How the run's file system differs from the host's, as mount points
/// (where the child sees it) and what they show (host paths). The judge
/// resolves paths through it, so decisions and the kernel agree.
pub type MountView = Vec<(PathBuf, PathBuf)>;

/// A command's sandbox, ready to spawn.
pub struct Sandbox {
    profiles: KernelProfiles,
    namespaces: Namespaces,
    private: PrivateDirs,
    cgroups: Option<RunCgroups>,
    rlimits: Vec<Rlimit>,
    environment: Vec<(String, String)>,
    socket_rules: SocketRules,
    place: RunPlace,
    process_limit: ProcessLimit,
    output: Option<(OwnedFd, OwnedFd)>,
    /// `None` when nothing is sandboxed.
    git: Option<GitMetadata>,
    /// How the egress proxy judges connections, and where it reports them.
    egress: Option<(EgressJudge, Sender<Connection>)>,
    /// The proxy's socket on the host's loopback, and its port, where no
    /// network namespace can be made.
    host_proxy: Option<(OwnedFd, u16)>,
    /// The policies have net rules, which only the egress proxy enforces.
    host_rules: bool,
}

/// What a run must not leave behind: write-denied paths that did not
/// exist when it started, and git metadata or repositories it created.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Leftovers {
    watched: Vec<String>,
    /// `None` when the run was not sandboxed: then no repository is new.
    git: Option<GitMetadata>,
    workspace: PathBuf,
    #[serde(default)]
    state: Option<PathBuf>,
}

/// What a run left behind that it must not have.
#[derive(Debug, Default)]
pub struct Created {
    /// The forbidden paths that exist now, to be moved aside, and why.
    pub paths: Vec<(PathBuf, Leftover)>,
    /// Symlinks on the way to git metadata that the run replaced,
    /// repointed or removed: to be put back, pointing at the target given,
    /// once what took their place (if anything, it is among `paths`) was
    /// moved aside.
    pub links: Vec<(PathBuf, PathBuf)>,
    /// Forbidden paths, or symlinks to put back, that are left alone: a
    /// directory on their way is no longer the one it was (the run put a
    /// symlink in its place), so moving or linking them would act wherever
    /// that symlink points, with vtpolicy's rights. The caller must say so
    /// and fail.
    pub displaced: Vec<PathBuf>,
    /// Why the workspace could not be searched for repositories the run
    /// created, if it could not: the caller must say so and fail.
    pub unsearched: Option<String>,
}

/// Why a path the run left is moved aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftover {
    /// A path the policies deny writing, absent when the run started.
    WriteDenied,
    /// Git metadata that was absent (a hook directory, `commondir`, …).
    GitMetadata,
    /// A repository that was not there, holding more than git writes.
    Repository,
    /// An interactive rebase's state whose todo list runs new commands.
    Rebase,
    /// What took the place of a pinned symlink.
    ReplacedLink,
}

impl Leftover {
    /// What the run did, to precede the path in a message, and why it
    /// matters, to follow the message.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Leftover::WriteDenied => ("created the write-denied path", ""),
            Leftover::GitMetadata => ("created the git metadata", " (it makes git run code outside the sandbox)"),
            Leftover::Repository => {
                ("created the repository", " (it holds more than git itself writes: hooks or configuration)")
            }
            Leftover::Rebase => (
                "left the interactive rebase",
                " (its todo list would run new commands at `git rebase --continue`; the branch being rebased is untouched: check it out to leave the stopped commit)",
            ),
            Leftover::ReplacedLink => ("put something in place of the symlink", " (the symlink leads to git metadata)"),
        }
    }
}

/// Whether the directories leading to `path` are still real directories
/// at their own paths: every path recorded when the run started, or found
/// by the end-of-run search (which follows no symlink), has a parent that
/// resolves to itself.
fn parent_in_place(path: &Path) -> bool {
    path.parent().is_none_or(|parent| std::fs::canonicalize(parent).is_ok_and(|real| real == parent))
}

impl Leftovers {
    pub fn workspace(&self) -> &Path {
        &self.workspace
    }

    /// The forbidden paths that exist now.
    pub fn created(&self) -> Created {
        let mut out = Created {
            paths: self
                .watched
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.symlink_metadata().is_ok())
                .map(|p| (p, Leftover::WriteDenied))
                .collect(),
            links: Vec::new(),
            displaced: Vec::new(),
            unsearched: None,
        };
        if let Some(git) = &self.git {
            self.created_in_repositories(git, &mut out);
        }
        let (paths, displaced): (Vec<_>, Vec<_>) = out.paths.into_iter().partition(|(p, _)| parent_in_place(p));
        out.paths = paths;
        out.displaced = displaced.into_iter().map(|(p, _)| p).collect();
        let (links, displaced): (Vec<_>, Vec<_>) = out.links.into_iter().partition(|(link, _)| parent_in_place(link));
        out.links = links;
        out.displaced.extend(displaced.into_iter().map(|(link, _)| link));
        out
    }

    /// Git metadata and repositories the run created, and the pinned
    /// symlinks it changed.
    fn created_in_repositories(&self, git: &GitMetadata, out: &mut Created) {
        let mut found: Vec<(PathBuf, Leftover)> =
            git.watched_created().into_iter().map(|p| (p, Leftover::GitMetadata)).collect();
        found.extend(git.new_rebase_commands().into_iter().map(|p| (p, Leftover::Rebase)));
        for (link, target) in git.changed_links() {
            if link.symlink_metadata().is_ok() {
                found.push((link.clone(), Leftover::ReplacedLink));
            }
            out.links.push((link, target));
        }
        let cache = WalkCache::open(self.state.as_deref(), &self.workspace);
        match git.new_repositories(&cache, &self.workspace) {
            Ok(new) => found.extend(new.into_iter().map(|p| (p, Leftover::Repository))),
            Err(error) => out.unsearched = Some(error),
        }
        let _ = cache.save();
        for (path, why) in found {
            if !out.paths.iter().any(|(p, _)| path.starts_with(p)) {
                out.paths.push((path, why));
            }
        }
    }
}

/// What the spawned sandbox enforces, for the `spawn` event.
#[derive(Debug, Clone)]
pub struct Enforced {
    pub layers: Vec<String>,
    pub enforcement: Enforcement,
    /// `pid_max`, `pids_cgroup`, `rlimit` or `none`.
    pub process_limit: &'static str,
    /// What could not be enforced here.
    pub partial: Vec<String>,
}

/// The policy of the first Landlock layer that would refuse to execute
/// `program`, which `exec` would report as a bare `Permission denied`.
/// Under `/tmp`, which the run replaces, nothing is predicted.
fn unexecutable(ruleset: &vtpolicy_compiler::profile::landlock::LandlockRuleset, program: &Path) -> Option<String> {
    use vtpolicy_compiler::profile::landlock::{FileKind, FsAccess};
    let resolved = std::fs::canonicalize(program).ok()?;
    if resolved.starts_with("/tmp") {
        return None;
    }
    ruleset
        .layers
        .iter()
        .filter(|layer| layer.handled_fs.contains(&FsAccess::Execute))
        .find(|layer| {
            !layer.rules.iter().any(|rule| {
                rule.access.contains(&FsAccess::Execute)
                    && match rule.kind {
                        FileKind::Dir => resolved.starts_with(&rule.path),
                        _ => resolved == Path::new(&rule.path),
                    }
            })
        })
        .map(|layer| layer.policy.clone())
}

/// The egress judge of a sandbox that was given none: every connection
/// is refused, and nobody hears of it.
fn refuse_connections() -> (EgressJudge, Sender<Connection>) {
    let judge: EgressJudge = std::sync::Arc::new(|_: &str, _: u16| Verdict {
        effect: vtpolicy_engine::Effect::Deny,
        allowed: false,
        rules: Vec::new(),
        reason: "this sandbox was given no judge of connections".to_owned(),
        explicit: false,
    });
    (judge, channel().0)
}

/// How a run's process count is capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessLimit {
    /// The policies set no `processes` limit.
    None,
    /// `pid_max` of the run's PID namespace allows this many processes
    /// besides its init (see [`PidMax`]).
    PidMax(u64),
    /// The run's own pids cgroup.
    PidsCgroup,
    /// `RLIMIT_NPROC`, which counts every process of the user.
    Rlimit,
}

impl ProcessLimit {
    /// The name in the `spawn` event's `process_limit`.
    fn name(self) -> &'static str {
        match self {
            ProcessLimit::None => "none",
            ProcessLimit::PidMax(_) => "pid_max",
            ProcessLimit::PidsCgroup => "pids_cgroup",
            ProcessLimit::Rlimit => "rlimit",
        }
    }
}

impl Sandbox {
    /// Compiles the kernel profiles of `policies` for `place` and prepares
    /// everything around them. Refuses (nothing runs) what cannot be
    /// enforced as the policies ask.
    pub fn prepare(policies: &[&CompiledPolicy], place: RunPlace, run_id: &str) -> Result<Sandbox, SandboxError> {
        Sandbox::prepare_in(policies, place, run_id, true)
    }

    /// [`Sandbox::prepare`] as on a machine without mount, PID or user
    /// namespaces (Landlock carves write denies instead).
    pub fn prepare_without_namespaces(
        policies: &[&CompiledPolicy],
        place: RunPlace,
        run_id: &str,
    ) -> Result<Sandbox, SandboxError> {
        Sandbox::prepare_in(policies, place, run_id, false)
    }

    fn prepare_in(
        policies: &[&CompiledPolicy],
        place: RunPlace,
        run_id: &str,
        namespaces: bool,
    ) -> Result<Sandbox, SandboxError> {
        let fail = |message: String| SandboxError(message);
        let context = place.context();
        // Git metadata joins the policies' write denies; without a sandbox
        // nothing is protected, so nothing is looked for or watched.
        let cache = WalkCache::open(place.state.as_deref(), &place.workspace);
        let git = match SandboxModel::new(policies, &context).enabled {
            true => Some(
                GitMetadata::find(&cache, &place.workspace, std::path::Path::new(&place.home))
                    .map_err(|e| fail(format!("cannot search the workspace for repositories: {e}")))?,
            ),
            false => None,
        };
        let mut own_denies = git.as_ref().map(GitMetadata::write_denies).unwrap_or_default();
        own_denies.extend(place.state.iter().flat_map(|state| state_denies(state)));
        let profiles = if namespaces {
            KernelProfiles::for_run(policies, &context, &own_denies, &cache)
        } else {
            KernelProfiles::for_run_without_namespaces(policies, &context, &own_denies, &cache)
        }
        .map_err(|e| fail(e.to_string()))?;
        // A cache that cannot be written costs the next run time, nothing else.
        let _ = cache.save();
        let sandboxed = profiles.landlock.is_some() || profiles.seccomp.is_some();
        let mounts = profiles.mounts;
        let private = sandboxed && mounts.available();
        // Host rules hold through the egress proxy: best with the child in
        // a network namespace of its own, whose one way out it is; without
        // one, on the host's loopback, with Landlock limiting connects to
        // its port.
        let hosts = sandboxed
            && !matches!(profiles.model.network, Network::Off)
            && policies.iter().any(|compiled| compiled.policy.has_net_rules());
        let egress = private && hosts;
        let restricts_connects =
            profiles.landlock.as_ref().is_some_and(|r| r.layers.iter().any(|layer| layer.connect_tcp.is_some()));
        let host_proxy = match hosts && !private && restricts_connects {
            true => Some(
                std::net::TcpListener::bind(("127.0.0.1", 0))
                    .map_err(|e| fail(format!("cannot listen for the egress proxy: {e}")))?,
            ),
            false => None,
        };
        let proxy_port = match &host_proxy {
            Some(listener) => listener.local_addr().map_err(|e| fail(format!("the egress proxy's port: {e}")))?.port(),
            None => PROXY_PORT,
        };
        let namespaces = Namespaces { private, user: mounts == MountSupport::UserNamespace, network: egress };
        let mut profiles = profiles;
        if egress || host_proxy.is_some() {
            // Only the proxy answers; Landlock keeps it that way should the
            // command bind a port of its own.
            for layer in profiles.landlock.iter_mut().flat_map(|ruleset| ruleset.layers.iter_mut()) {
                if layer.connect_tcp.is_some() {
                    layer.connect_tcp = Some(vec![(proxy_port, proxy_port)]);
                }
            }
        }
        let limits = &profiles.model.limits;
        let root = nix::unistd::geteuid().is_root();
        // The run's PID namespace caps its own processes where the kernel
        // gives it a `pid_max`; a cgroup costs the child a migration (on
        // cgroup v1 several milliseconds, waiting for RCU) and RLIMIT_NPROC
        // counts every process of the user, and neither applies to root.
        let pid_max = limits.processes.filter(|_| namespaces.private && per_namespace_pid_max());
        let cgroup_processes = limits.processes.filter(|_| pid_max.is_none());
        let support = CgroupSupport::detect();
        let cgroups = match RunCgroups::create(&support, &format!("vtpolicy-{run_id}"), cgroup_processes) {
            Ok(cgroups) => Some(cgroups),
            Err(message) if root && cgroup_processes.is_some() => {
                return Err(fail(format!("cannot limit processes as root without a pids cgroup: {message}")));
            }
            Err(_) => None,
        };
        let process_limit = match (limits.processes, pid_max) {
            (None, _) => ProcessLimit::None,
            (Some(processes), Some(_)) => ProcessLimit::PidMax(processes),
            (Some(_), None) if cgroups.as_ref().is_some_and(RunCgroups::limits_processes) => ProcessLimit::PidsCgroup,
            (Some(_), None) if root => {
                return Err(fail(
                    "cannot limit processes as root: no writable pids cgroup and no per-namespace pid_max (Linux 6.14), and RLIMIT_NPROC does not apply to root".into(),
                ));
            }
            (Some(_), None) => ProcessLimit::Rlimit,
        };
        let private = if namespaces.private { private_dirs(&profiles, &place) } else { PrivateDirs::default() };
        let tmp_root = if private.tmp.is_some() { PathBuf::from("/tmp") } else { place.tmp.clone() };
        let socket_rules = SocketRules {
            roots: vec![place.workspace.clone(), tmp_root],
            judge: None,
            tcp_connect: tcp_connect(&profiles),
        };
        let git = git.filter(|_| sandboxed);
        let keep: Vec<Vec<String>> = policies.iter().map(|c| c.settings.env_keep.clone()).collect();
        let mut environment = child_environment(&keep);
        let tmpdir = if private.tmp.is_some() { "/tmp".to_owned() } else { place.tmp.to_string_lossy().into_owned() };
        let names: Vec<&str> = policies.iter().map(|c| c.policy.name.as_str()).collect();
        environment.push(("VTPOLICY_SANDBOX".into(), "1".into()));
        environment.push(("VTPOLICY_SANDBOX_RUN".into(), run_id.into()));
        environment.push(("VTPOLICY_SANDBOX_POLICY".into(), names.join(",")));
        environment.push(("TMPDIR".into(), tmpdir));
        if egress || host_proxy.is_some() {
            let proxy = format!("http://127.0.0.1:{proxy_port}");
            let names = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"];
            environment.retain(|(name, _)| !names.iter().any(|n| n.eq_ignore_ascii_case(name)));
            for name in names {
                // Loopback goes through the proxy too: nothing else listens
                // in the run's network namespace.
                let value = if name == "NO_PROXY" { String::new() } else { proxy.clone() };
                environment.push((name.to_owned(), value.clone()));
                environment.push((name.to_ascii_lowercase(), value));
            }
        }
        Ok(Sandbox {
            rlimits: rlimits(limits, process_limit == ProcessLimit::Rlimit),
            profiles,
            namespaces,
            private,
            cgroups,
            environment,
            socket_rules,
            place,
            process_limit,
            output: None,
            git,
            egress: None,
            host_proxy: host_proxy.map(|listener| (OwnedFd::from(listener), proxy_port)),
            host_rules: hosts,
        })
    }

    /// Whether the command runs under a kernel sandbox at all (Landlock or
    /// seccomp): the judge then applies the `when sandboxed` rules.
    pub fn is_sandboxed(&self) -> bool {
        self.profiles.landlock.is_some() || self.profiles.seccomp.is_some()
    }

    /// The run's cgroup directories, for the crash journal.
    pub fn cgroup_paths(&self) -> Vec<PathBuf> {
        self.cgroups.as_ref().map(RunCgroups::paths).unwrap_or_default()
    }

    /// The run's file system as the judge must see it.
    pub fn view(&self) -> MountView {
        match &self.private.tmp {
            Some(tmp) => tmp_view(tmp, &self.private.keep),
            None => Vec::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.profiles.model.limits
    }

    /// What the run must not leave behind, to check once it is over.
    pub fn leftovers(&self) -> Leftovers {
        Leftovers {
            watched: self.mount_plan().watched,
            git: self.git.clone(),
            workspace: self.place.workspace.clone(),
            state: self.place.state.clone(),
        }
    }

    /// The mount plan of the Landlock compiler (git metadata included).
    fn mount_plan(&self) -> MountPlan {
        self.profiles
            .landlock
            .as_ref()
            .filter(|r| r.write_denies == WriteDenies::Mounts)
            .map(|r| r.mounts.clone())
            .unwrap_or_default()
    }

    /// Judges unix sockets the command connects to with `judge` (the
    /// policies' `net unix` rules), beside the workspace and private tmp.
    pub fn with_socket_judge(mut self, judge: SocketJudge) -> Sandbox {
        self.socket_rules.judge = Some(judge);
        self
    }

    /// Judges the connections the command asks the egress proxy for with
    /// `judge`, and reports each on `events`. Without it, a run whose
    /// policies name hosts refuses every connection.
    pub fn with_egress(mut self, judge: EgressJudge, events: Sender<Connection>) -> Sandbox {
        self.egress = Some((judge, events));
        self
    }

    /// Whether the command reaches the network only through the egress
    /// proxy, in a network namespace of its own.
    pub fn has_egress_proxy(&self) -> bool {
        self.namespaces.network || self.host_proxy.is_some()
    }

    /// Gives the command these descriptors as standard output and error
    /// instead of the caller's.
    pub fn with_output(mut self, stdout: OwnedFd, stderr: OwnedFd) -> Sandbox {
        self.output = Some((stdout, stderr));
        self
    }

    /// The environment the command gets.
    pub fn environment(&self) -> &[(String, String)] {
        &self.environment
    }

    /// The policy whose Landlock layer lets the command execute no path
    /// holding `program`, if one does not: the kernel will refuse it.
    pub fn cannot_execute(&self, program: &Path) -> Option<String> {
        self.profiles.landlock.as_ref().and_then(|ruleset| unexecutable(ruleset, program))
    }

    /// Executes `program` in the sandbox with `argv` (`argv[0]` the name
    /// it is called by). Socket decisions come on the returned receiver.
    pub fn spawn(
        self,
        program: &Path,
        argv: &[String],
    ) -> Result<(Running, Enforced, Receiver<SocketDecision>), SandboxError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| SandboxError(format!("{what}: {e}"));
        if let Some(policy) = self.cannot_execute(program) {
            return Err(SandboxError(format!(
                "the policy `{policy}` grants no right to execute `{}` in the sandbox (no allow rule grants a path that holds it); nothing ran",
                program.display()
            )));
        }
        let procs = match self.cgroups.as_ref().map(RunCgroups::procs_files).transpose() {
            Ok(procs) => procs.unwrap_or_default(),
            Err(message) => return Err(SandboxError(message)),
        };
        let plan = self.mount_plan();
        if let Some(tmp) = &self.private.tmp {
            for kept in &self.private.keep {
                let relative = kept.strip_prefix("/tmp").unwrap_or(kept);
                std::fs::create_dir_all(tmp.join(relative)).map_err(|e| fail("cannot prepare the private /tmp", &e))?;
            }
        }
        let mounts = if self.namespaces.private {
            PreparedMounts::new(&plan, &self.private).map_err(SandboxError)?
        } else {
            PreparedMounts::default()
        };
        let prepared =
            Prepared::new(self.profiles.landlock.as_ref(), self.profiles.seccomp.as_ref(), self.namespaces.private)?;
        let enforcement = prepared.enforcement.clone();
        let sandboxed = self.profiles.landlock.is_some() || self.profiles.seccomp.is_some();
        let arch = vtpolicy_compiler::profile::seccomp::Arch::host()
            .ok_or_else(|| SandboxError("seccomp: this architecture is not supported".into()))?;
        let notify = sandboxed.then(|| NotifyFilter::new(arch.audit()));
        let root = nix::unistd::geteuid().is_root();
        let exec = Exec::new(program, argv, &self.environment, &self.place.cwd)
            .map_err(|e| fail("cannot prepare the command", &e))?;
        let setup = TreeSetup {
            namespaces: self.namespaces,
            child: ChildSetup::new(self.rlimits.clone(), procs, mounts),
            prepared: sandboxed.then_some(prepared),
            notify,
            exec,
            output: self.output,
            memfd_noexec: root && self.namespaces.private && !self.namespaces.user,
            pid_max: match self.process_limit {
                ProcessLimit::PidMax(processes) => Some(PidMax::for_processes(processes)),
                _ => None,
            },
        };
        let mut layers: Vec<String> =
            vec!["session".into(), "rlimits".into(), "capabilities_dropped".into(), "no_new_privs".into()];
        let mut partial = enforcement.partial.clone();
        if sandboxed {
            if self.namespaces.private {
                layers.extend(["pid_namespace", "mount_namespace", "private_tmp", "private_proc"].map(String::from));
                if self.namespaces.user {
                    layers.push("user_namespace".into());
                }
            } else {
                partial.push(
                    "no PID or mount namespace here: the process tree is held by the subreaper alone, /tmp and /proc are shared".into(),
                );
            }
            if self.profiles.landlock.is_some() {
                layers.push("landlock".into());
            }
            if self.profiles.seccomp.is_some() {
                layers.push("seccomp".into());
            }
            // On every kernel, ABI 9 included: Landlock's own unix socket
            // rules are not used yet (no kernel here has them to test on).
            layers.push("unix_sockets_seccomp_notify".into());
            layers.push("memfd_noexec".into());
        }
        match self.process_limit {
            ProcessLimit::PidMax(_) => layers.push("pid_max".into()),
            ProcessLimit::PidsCgroup => layers.push("pids_cgroup".into()),
            ProcessLimit::Rlimit | ProcessLimit::None => {}
        }
        if self.cgroups.as_ref().is_some_and(RunCgroups::kills_tree) {
            layers.push("kill_cgroup".into());
        }
        let process_limit = self.process_limit.name();
        let (sender, receiver) = channel();
        let proxied = self.namespaces.network || self.host_proxy.is_some();
        if self.namespaces.network {
            layers.extend(["network_namespace", "egress_proxy"].map(String::from));
        } else if let Some((_, port)) = &self.host_proxy {
            layers.push("egress_proxy".into());
            partial.push(format!(
                "no network namespace here: the egress proxy listens on 127.0.0.1:{port} and Landlock allows TCP connects to port {port} only, on any address, so a service on that port elsewhere is reachable directly"
            ));
        } else if self.host_rules {
            partial.push(
                "no network namespace and no Landlock network rules here: host rules are not enforced by the kernel"
                    .into(),
            );
        }
        let egress = proxied.then(|| self.egress.unwrap_or_else(refuse_connections));
        let running = Running::start(
            setup,
            self.cgroups,
            sandboxed.then_some((self.socket_rules, sender)),
            egress.map(|(judge, events)| (judge, events, self.host_proxy.map(|(socket, _)| socket))),
        )?;
        Ok((running, Enforced { layers, enforcement, process_limit, partial }, receiver))
    }
}

/// The private directories of a run: `/tmp` is `${tmp}` (keeping the
/// workspace and working directory visible where they live under it),
/// `/dev/shm` is empty, and runtime directories are covered unless a
/// policy grants something inside them.
/// vtpolicy's state directory as write denies: its approvals, journals,
/// quarantine and walk cache are not the command's to change, whatever
/// the policies grant.
fn state_denies(state: &Path) -> Vec<PathGlob> {
    let state = std::fs::canonicalize(state).unwrap_or_else(|_| state.to_path_buf());
    let glob = vtpolicy_compiler::escape_glob(&super::fs::encode(state.as_os_str()));
    let rule = || "vtpolicy-state".to_owned();
    vec![PathGlob { glob: format!("{glob}/**"), rule: rule() }, PathGlob { glob, rule: rule() }]
}

fn private_dirs(profiles: &KernelProfiles, place: &RunPlace) -> PrivateDirs {
    let granted = |dir: &str| {
        profiles.model.layers.iter().any(|layer| {
            layer.read.iter().chain(layer.write.iter()).flatten().any(|glob| {
                let g = glob.glob.as_str();
                g == dir || g.starts_with(&format!("{dir}/"))
            })
        })
    };
    let in_use = |dir: &Path| place.workspace.starts_with(dir) || place.cwd.starts_with(dir);
    let mut cover = Vec::new();
    let mut candidates = vec![PathBuf::from("/run"), PathBuf::from("/var/run")];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        candidates.push(PathBuf::from(runtime));
    }
    for dir in candidates {
        let is_dir = std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
        let already = cover.iter().any(|c: &PathBuf| dir.starts_with(c));
        if is_dir && !already && !granted(&dir.to_string_lossy()) && !in_use(&dir) {
            cover.push(dir);
        }
    }
    PrivateDirs { tmp: Some(place.tmp.clone()), keep: kept_in_tmp(place), cover, shm: Path::new("/dev/shm").is_dir() }
}

/// The host directories under `/tmp` that stay visible in the private
/// `/tmp`: the workspace and the working directory, when they are there.
fn kept_in_tmp(place: &RunPlace) -> Vec<PathBuf> {
    let mut keep: Vec<PathBuf> = Vec::new();
    for dir in [&place.workspace, &place.cwd] {
        if dir.starts_with("/tmp") && !dir.starts_with(&place.tmp) && !keep.iter().any(|k| dir.starts_with(k)) {
            keep.retain(|k| !k.starts_with(dir));
            keep.push(dir.clone());
        }
    }
    keep
}

/// The private `/tmp` as the judge sees it: `/tmp` shows `tmp`, and each
/// kept directory shows itself at its own path.
fn tmp_view(tmp: &Path, keep: &[PathBuf]) -> MountView {
    let mut view = vec![(PathBuf::from("/tmp"), tmp.to_path_buf())];
    for kept in keep {
        if let Ok(relative) = kept.strip_prefix("/tmp") {
            view.push((tmp.join(relative), kept.clone()));
        }
    }
    view
}

/// The resource limits of the child: the policy's, core dumps off, and
/// the process count as an rlimit when no pids cgroup holds it.
/// The TCP ports every Landlock layer lets the command connect to; `None`
/// when no layer restricts connections.
fn tcp_connect(profiles: &KernelProfiles) -> Option<Vec<(u16, u16)>> {
    let ruleset = profiles.landlock.as_ref()?;
    let mut allowed: Option<Vec<(u16, u16)>> = None;
    for layer in &ruleset.layers {
        let Some(ports) = &layer.connect_tcp else { continue };
        allowed = Some(match allowed {
            None => ports.clone(),
            // A port passes when every layer allows it.
            Some(previous) => previous
                .iter()
                .flat_map(|&(a_low, a_high)| {
                    ports.iter().filter_map(move |&(b_low, b_high)| {
                        let (low, high) = (a_low.max(b_low), a_high.min(b_high));
                        (low <= high).then_some((low, high))
                    })
                })
                .collect(),
        });
    }
    allowed
}

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

/// The caller's variables that every policy keeps (an allow-list: each
/// policy must keep a variable for it to pass), secrets never.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_behind_a_swapped_directory_is_not_in_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(root.join("repo/.git")).expect("mkdir");
        std::fs::create_dir_all(root.join("elsewhere/info")).expect("mkdir");
        assert!(parent_in_place(&root.join("repo/.git/info")));
        std::fs::rename(root.join("repo/.git"), root.join("repo/old")).expect("rename");
        std::os::unix::fs::symlink(root.join("elsewhere"), root.join("repo/.git")).expect("symlink");
        // `repo/.git/info` exists again, but elsewhere.
        assert!(root.join("repo/.git/info").symlink_metadata().is_ok());
        assert!(!parent_in_place(&root.join("repo/.git/info")));
        assert!(parent_in_place(&root.join("repo/.git")), "the link itself lies in place");
    }

    #[test]
    fn secrets_never_pass_an_allow_list() {
        assert!(name_matches("CARGO_*", "CARGO_REGISTRY_TOKEN"));
        assert!(SECRETS.iter().any(|p| name_matches(p, "CARGO_REGISTRY_TOKEN")));
        assert!(SECRETS.iter().any(|p| name_matches(p, "AWS_SECRET_ACCESS_KEY")));
        assert!(SECRETS.iter().any(|p| name_matches(p, "LD_PRELOAD")));
        assert!(!SECRETS.iter().any(|p| name_matches(p, "PATH")));
        assert!(name_matches("LC_*", "LC_ALL") && !name_matches("LC_*", "LANG"));
    }
}
