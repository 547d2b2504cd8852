//! Running the sandboxed child: spawn, forward signals, enforce the wall
//! timeout, and leave nothing behind.
//!
//! The command runs under the run's init (`tree.rs`), PID 1 of its own PID
//! namespace: when the command exits, init exits and the kernel kills
//! everything left in the namespace. The supervisor is also a child
//! subreaper, for systems where no PID namespace can be made: then
//! daemonised grandchildren are re-parented to it, and when the child
//! exits (or the timeout strikes) everything left in the run's cgroup, in
//! the child's process group, or re-parented to the supervisor is killed
//! and reaped.
//! The child's output descriptors are the caller's own: the supervisor
//! never reads them, so a background process holding them cannot make it
//! wait.

#![allow(unsafe_code)]

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;
use serde::Serialize;

use super::apply::SandboxError;
use super::cgroup::RunCgroups;
use super::egress::{self, Connection, EgressJudge};
use super::notify::{self, SocketDecision, SocketRules};
use super::tree::{self, LIVE_INITS, TreeSetup};

/// Signals the supervisor passes on to the child's process group.
const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Status {
    Exited(i32),
    Signaled(i32),
    TimedOut,
}

impl Status {
    /// The supervisor's own exit code for it: the child's code, 128 + the
    /// signal, or 124 on timeout.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Exited(code) => code,
            Status::Signaled(signal) => 128 + signal,
            Status::TimedOut => 124,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub status: Status,
    pub duration_ms: u64,
    /// Peak resident set of the child and its waited-for descendants.
    pub max_rss_kib: i64,
}

/// A spawned, sandboxed run: its init and, below it, the command.
pub struct Running {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    /// The command's wait status, written by init when it reaped it.
    status: OwnedFd,
    signals: SignalFd,
    started: Instant,
    cgroups: Option<RunCgroups>,
    previous_mask: SigSet,
    /// The tree was killed and reaped after the child was waited for.
    finished: bool,
    _alive: OwnedFd,
}

impl Running {
    /// Starts the tree of `setup`; unix sockets are judged by `sockets`.
    pub(super) fn start(
        setup: TreeSetup,
        cgroups: Option<RunCgroups>,
        sockets: Option<(SocketRules, Sender<SocketDecision>)>,
        egress: Option<(EgressJudge, Sender<Connection>, Option<OwnedFd>)>,
    ) -> Result<Running, SandboxError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| SandboxError(format!("{what}: {e}"));
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| fail("cannot become a child subreaper", &e))?;
        let mut mask = SigSet::empty();
        for signal in FORWARDED {
            mask.add(signal);
        }
        let previous_mask =
            mask.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK).map_err(|e| fail("signal mask", &e))?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| fail("signalfd", &e))?;
        let started = Instant::now();
        let tree = match tree::start(setup) {
            Ok(tree) => tree,
            Err(error) => {
                let _ = previous_mask.thread_set_mask();
                return Err(fail("cannot start the sandboxed command", &error));
            }
        };
        let running = Running {
            pid: tree.init_pid,
            pidfd: tree.init_pidfd,
            status: tree.status,
            signals,
            started,
            cgroups,
            previous_mask,
            finished: false,
            _alive: tree.alive,
        };
        if let (Some(listener), Some((rules, decisions))) = (tree.listener, sockets) {
            notify::serve(listener, rules, decisions).map_err(|e| fail("cannot start the socket supervisor", &e))?;
        }
        // The proxy's socket: bound in the run's network namespace by its
        // init, or on the host's loopback where there is none.
        if let Some((judge, events, host_proxy)) = egress
            && let Some(proxy) = tree.proxy.or(host_proxy)
        {
            egress::serve(proxy, judge, events).map_err(|e| fail("cannot start the egress proxy", &e))?;
        }
        Ok(running)
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// Waits for the child, forwarding signals, killing the tree at
    /// `timeout`; then kills and reaps whatever it left behind.
    pub fn wait(mut self, timeout: Option<Duration>) -> Result<Outcome, SandboxError> {
        let deadline = timeout.map(|t| self.started + t);
        let mut timed_out = false;
        loop {
            let remaining = match deadline {
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) => {
                        PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
                    }
                    None => {
                        timed_out = true;
                        break;
                    }
                },
                None => PollTimeout::NONE,
            };
            let mut fds = [
                PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, remaining) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SandboxError(format!("poll: {e}"))),
            }
            if fds[1].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                while let Ok(Some(info)) = self.signals.read_signal() {
                    if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
                        let _ = kill(Pid::from_raw(-self.pid), signal);
                    }
                }
            }
            if fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                break;
            }
        }
        if timed_out {
            // Signal only: the child itself is reaped by wait4 below.
            self.signal_tree();
        }
        let waited = wait4(self.pid);
        if let Ok(mut live) = LIVE_INITS.lock() {
            live.retain(|pid| *pid != self.pid);
        }
        let (init_status, max_rss_kib) = waited?;
        // The command's own status, unless init died before reaping it.
        let mut raw = [0u8; 4];
        let status = if read_exact(&self.status, &mut raw) { decode(i32::from_ne_bytes(raw)) } else { init_status };
        let duration_ms = self.started.elapsed().as_millis() as u64;
        // Whatever the child left running goes with it.
        self.kill_tree();
        self.finished = true;
        let status = if timed_out { Status::TimedOut } else { status };
        Ok(Outcome { status, duration_ms, max_rss_kib })
    }

    /// Kills the child's process group and everything in the run's
    /// cgroups, reaping nothing.
    fn signal_tree(&self) {
        if let Some(cgroups) = &self.cgroups {
            cgroups.kill_all();
        }
        // Init's death takes its PID namespace with it.
        // SAFETY: pidfd_send_signal on our own pidfd.
        unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.pidfd.as_raw_fd(), libc::SIGKILL, 0usize, 0u32) };
        let _ = kill(Pid::from_raw(-self.pid), Signal::SIGKILL);
    }

    /// Kills the tree and reaps everything re-parented to the supervisor.
    /// Call only once the child itself has been waited for (or abandoned).
    fn kill_tree(&mut self) {
        self.signal_tree();
        reap_descendants();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Abandoned without `wait` (an error on the way): kill it all.
        if !self.finished {
            self.kill_tree();
        }
        // Dropping the cgroups kills anything left and removes them.
        self.cgroups.take();
        let _ = self.previous_mask.thread_set_mask();
    }
}

/// Waits for `pid`: its status and the peak RSS of it and its waited-for
/// descendants.
fn wait4(pid: libc::pid_t) -> Result<(Status, i64), SandboxError> {
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 writes into the two stack values it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: as above.
        let result = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if result == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINTR) {
            return Err(SandboxError(format!("wait4: {error}")));
        }
    }
    Ok((decode(status), usage.ru_maxrss))
}

fn decode(status: libc::c_int) -> Status {
    if libc::WIFSIGNALED(status) {
        Status::Signaled(libc::WTERMSIG(status))
    } else {
        Status::Exited(libc::WEXITSTATUS(status))
    }
}

fn read_exact(fd: &OwnedFd, buffer: &mut [u8]) -> bool {
    // SAFETY: read into a live buffer; the pipe's writer (init) is gone,
    // so this never blocks.
    let n = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
    n == buffer.len() as isize
}

/// Kills every child of this (subreaper) process that is no live run's
/// init (the re-parented orphans), and reaps it, until none is left. Call
/// once the sandboxed child has been waited for, or is being abandoned.
fn reap_descendants() {
    let me = std::process::id() as i32;
    for _ in 0..200 {
        let orphans: Vec<i32> = {
            // Held while listing and killing: an init cloned meanwhile is
            // registered before it can be listed.
            let live = LIVE_INITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let orphans: Vec<i32> = children_of(me).into_iter().filter(|pid| !live.contains(pid)).collect();
            for pid in &orphans {
                let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(-*pid), Signal::SIGKILL);
            }
            orphans
        };
        if orphans.is_empty() {
            return;
        }
        for pid in &orphans {
            // SAFETY: waitpid on one orphan, no status kept.
            unsafe { libc::waitpid(*pid, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) };
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The pids whose parent is `parent`: from each thread's `children` list
/// when the kernel keeps one, else by scanning `/proc`.
fn children_of(parent: i32) -> Vec<i32> {
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) {
        let mut out = Vec::new();
        let mut listed = false;
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                listed = true;
                out.extend(text.split_whitespace().filter_map(|p| p.parse::<i32>().ok()));
            }
        }
        if listed {
            return out;
        }
    }
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let ppid = super::procfs::stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse::<i32>().ok()));
        if ppid == Some(parent) {
            out.push(pid);
        }
    }
    out
}
