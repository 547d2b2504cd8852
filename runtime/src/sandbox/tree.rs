//! The process tree of a run: the supervisor clones an *init* into new
//! PID, mount and (unprivileged) user namespaces; init sets the namespaces
//! up, hands the supervisor its seccomp listener, then starts the command
//! (in its own memory until it executes, as `posix_spawn` does) and reaps
//! until the command exits.
//!
//! ```text
//! vtpolicy (supervisor, host namespaces)
//!   └─ init   PID 1 of the run: session, cgroups, rlimits, mounts, /proc, listener
//!        └─ command   capabilities dropped, Landlock, seccomp, exec
//! ```
//!
//! Why it holds: init dies with the supervisor (parent-death signal, armed
//! before anything else and checked against a liveness pipe, so a
//! supervisor that died first is noticed), and when a PID namespace's init
//! dies the kernel kills every process in it. Nothing of the run outlives
//! vtpolicy, even under SIGKILL, and the fresh `/proc` shows only the run.
//!
//! Both children run after a `clone` of a possibly multi-threaded process,
//! so they only make syscalls on values the parent prepared: no allocation,
//! no lock. A failing step is reported on the setup pipe as (step, errno)
//! and the child exits; nothing is executed.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::apply::Prepared;
use super::child::{ChildSetup, check, close_inherited_fds, drop_capabilities};
use super::notify::NotifyFilter;

/// Messages on the setup pipe: three native-endian `u32`s each.
const MESSAGE_LISTENER: u32 = 1;
const MESSAGE_FAILED: u32 = 2;
/// The egress proxy's listening socket, bound in the run's network
/// namespace.
const MESSAGE_PROXY: u32 = 3;

/// Setup steps, named in the error the supervisor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(super) enum Step {
    Liveness = 1,
    Session,
    UserNamespace,
    Cgroup,
    Rlimits,
    ProcessLimit,
    Network,
    Mounts,
    Proc,
    Listener,
    Fork,
    Signals,
    WorkingDirectory,
    Capabilities,
    Restrict,
    Descriptors,
    Exec,
}

impl Step {
    pub(super) fn describe(code: u32) -> &'static str {
        const ALL: [(Step, &str); 17] = [
            (Step::Liveness, "checking the supervisor is alive"),
            (Step::Session, "starting a new session"),
            (Step::UserNamespace, "mapping the user namespace"),
            (Step::Cgroup, "joining the run's cgroup"),
            (Step::Rlimits, "setting resource limits"),
            (Step::ProcessLimit, "capping the run's processes (pid_max of its PID namespace)"),
            (Step::Network, "setting up the run's network namespace and its proxy socket"),
            (Step::Mounts, "mounting the private file system view"),
            (Step::Proc, "mounting the run's /proc"),
            (Step::Listener, "installing the socket supervision filter"),
            (Step::Fork, "starting the command under the run's init"),
            (Step::Signals, "restoring signal handling"),
            (Step::WorkingDirectory, "entering the working directory"),
            (Step::Capabilities, "dropping capabilities"),
            (Step::Restrict, "applying Landlock and seccomp"),
            (Step::Descriptors, "closing inherited descriptors"),
            (Step::Exec, "executing the command"),
        ];
        ALL.iter().find(|(step, _)| *step as u32 == code).map_or("setting up the sandbox", |(_, text)| text)
    }
}

/// The program to execute, as C values made in the parent.
pub(super) struct Exec {
    program: CString,
    /// Kept alive for the pointer arrays.
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    envp_ptrs: Vec<*const libc::c_char>,
    cwd: CString,
    /// The stack the command's process runs on until it executes: it
    /// shares init's memory until then (see `start_command`).
    stack: CommandStack,
}

/// The command's stack, mapped for one run: its setup is a few calls deep
/// (Landlock, seccomp); pages are only backed once touched, so the size
/// costs nothing. The lowest page is a guard.
struct CommandStack {
    base: *mut libc::c_void,
    length: usize,
}

const COMMAND_STACK: usize = 1 << 20;
const GUARD: usize = 4096;

impl CommandStack {
    fn new() -> io::Result<CommandStack> {
        let length = COMMAND_STACK + GUARD;
        // SAFETY: a fresh anonymous mapping, and a protection change on its
        // first page; the pointer is owned by the returned value alone.
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let stack = CommandStack { base, length };
            check(libc::mprotect(base, GUARD, libc::PROT_NONE))?;
            Ok(stack)
        }
    }

    /// The initial stack pointer: the end of the mapping (16-byte aligned,
    /// as the page size is).
    fn top(&self) -> *mut libc::c_void {
        self.base.wrapping_byte_add(self.length)
    }
}

impl Drop for CommandStack {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `new`, which nothing else uses
        // once the command has executed.
        unsafe { libc::munmap(self.base, self.length) };
    }
}

fn c_string(text: &std::ffi::OsStr) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt as _;
    CString::new(text.as_bytes()).map_err(|_| io::Error::other(format!("{text:?} holds a NUL byte")))
}

impl Exec {
    /// `program` is the file executed; `argv` starts with the name it is
    /// called by (multi-call programs such as rustup's proxies choose what
    /// to do by it).
    pub(super) fn new(
        program: &std::path::Path,
        argv: &[String],
        env: &[(String, String)],
        cwd: &std::path::Path,
    ) -> io::Result<Exec> {
        let program_c = c_string(program.as_os_str())?;
        let mut argv_c = Vec::new();
        for arg in argv {
            argv_c.push(c_string(arg.as_ref())?);
        }
        if argv_c.is_empty() {
            argv_c.push(program_c.clone());
        }
        let argv = argv_c;
        let mut envp = Vec::new();
        for (name, value) in env {
            envp.push(c_string(format!("{name}={value}").as_ref())?);
        }
        let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
        argv_ptrs.push(std::ptr::null());
        let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
        envp_ptrs.push(std::ptr::null());
        Ok(Exec {
            program: program_c,
            _argv: argv,
            _envp: envp,
            argv_ptrs,
            envp_ptrs,
            cwd: c_string(cwd.as_os_str())?,
            stack: CommandStack::new()?,
        })
    }
}

/// Which namespaces the run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Namespaces {
    /// New PID and mount namespaces (and, when not root, a user namespace
    /// owning them).
    pub(super) private: bool,
    pub(super) user: bool,
    /// A network namespace with only loopback, where the egress proxy's
    /// socket is the way out.
    pub(super) network: bool,
}

/// Everything the two children need, prepared by the supervisor.
pub(super) struct TreeSetup {
    pub(super) namespaces: Namespaces,
    pub(super) child: ChildSetup,
    pub(super) prepared: Option<Prepared>,
    pub(super) notify: Option<NotifyFilter>,
    pub(super) exec: Exec,
    /// Descriptors to put at 1 and 2 instead of the caller's own.
    pub(super) output: Option<(OwnedFd, OwnedFd)>,
    /// `vm.memfd_noexec = 2` in the run's PID namespace, where init may
    /// write it (root).
    pub(super) memfd_noexec: bool,
    /// The process cap init sets on its PID namespace.
    pub(super) pid_max: Option<PidMax>,
}

/// A cap on the processes of a run's PID namespace, through its own
/// `pid_max` (Linux 6.14 on). Once a namespace has handed out PIDs above
/// `RESERVED_PIDS` (300), the kernel allocates only from 300 up to
/// `pid_max`; init moves the namespace's last PID (`ns_last_pid`) past 300
/// before the command starts, so the command and everything it starts,
/// threads included, hold at most `pid_max - 300` PIDs at once, the
/// `processes` limit, from the first fork on.
#[derive(Debug, Clone)]
pub(super) struct PidMax {
    /// `pid_max`, as the decimal text init writes (made here: init may not
    /// allocate).
    pid_max: Vec<u8>,
}

/// The kernel's `RESERVED_PIDS`: PIDs below it are not reused once a
/// namespace has gone past it.
const RESERVED_PIDS: u64 = 300;
/// The largest `pid_max` there is (`PID_MAX_LIMIT` on 64-bit).
const PID_MAX_LIMIT: u64 = 4 * 1024 * 1024;

impl PidMax {
    pub(super) fn for_processes(processes: u64) -> PidMax {
        let pid_max = processes.saturating_add(RESERVED_PIDS).min(PID_MAX_LIMIT);
        PidMax { pid_max: pid_max.to_string().into_bytes() }
    }

    /// Sets the cap; in init, after `/proc` of the namespace is mounted.
    unsafe fn apply(&self) -> io::Result<()> {
        // SAFETY: writes of buffers prepared before the clone.
        unsafe {
            write_file(c"/proc/sys/kernel/pid_max", &self.pid_max)?;
            write_file(c"/proc/sys/kernel/ns_last_pid", b"300")
        }
    }
}

/// Descriptors of a started tree, on the supervisor's side.
pub(super) struct Started {
    pub(super) init_pid: libc::pid_t,
    pub(super) init_pidfd: OwnedFd,
    /// Reads the command's wait status once init has reaped it.
    pub(super) status: OwnedFd,
    /// The seccomp listener, copied out of init.
    pub(super) listener: Option<OwnedFd>,
    /// The egress proxy's listening socket, copied out of init.
    pub(super) proxy: Option<OwnedFd>,
    /// Open for as long as the supervisor wants the tree: init sees it hang
    /// up if the supervisor is gone.
    pub(super) alive: OwnedFd,
}

/// The inits of the runs this process is supervising, registered from the
/// moment they are cloned: the orphans one run leaves must never be
/// confused with another run still going.
pub(super) static LIVE_INITS: std::sync::Mutex<Vec<libc::pid_t>> = std::sync::Mutex::new(Vec::new());

/// Held from the creation of a tree's pipes until its command executed:
/// an init cloned by another thread meanwhile would inherit the pipes'
/// write ends (init never executes, so close-on-exec does not close them)
/// and hold this start until its own run ended.
static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: fresh descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Pipes between the supervisor and its children. The child-side ends are
/// inherited across `clone`; each side closes what it does not use.
struct Pipes {
    setup: (OwnedFd, OwnedFd),
    ack: (OwnedFd, OwnedFd),
    status: (OwnedFd, OwnedFd),
    alive: (OwnedFd, OwnedFd),
}

/// Clones init with `setup`, waits for the setup to finish (the command
/// executed, or a step failed), and returns the tree's descriptors.
pub(super) fn start(setup: TreeSetup) -> io::Result<Started> {
    let _starting = STARTING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let pipes = Pipes { setup: pipe()?, ack: pipe()?, status: pipe()?, alive: pipe()? };
    let mut flags = libc::CLONE_PIDFD as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    if setup.namespaces.private {
        flags |= (libc::CLONE_NEWPID | libc::CLONE_NEWNS) as libc::c_ulong;
        if setup.namespaces.user {
            flags |= libc::CLONE_NEWUSER as libc::c_ulong;
        }
        if setup.namespaces.network {
            flags |= libc::CLONE_NEWNET as libc::c_ulong;
        }
    }
    let mut pidfd: libc::c_int = -1;
    // Held across the clone, so that no reaper lists the new init before
    // it is registered.
    let mut live = LIVE_INITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    // SAFETY: a raw clone without CLONE_VM and a null stack behaves like
    // fork: the child runs on a copy of this stack and only calls
    // `init_main`, which never returns.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, &mut pidfd as *mut libc::c_int, 0usize, 0usize) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: in the cloned child, see `init_main`.
        unsafe { init_main(&setup, &pipes) }
    }
    let pid = pid as libc::pid_t;
    live.push(pid);
    drop(live);
    // SAFETY: CLONE_PIDFD stored a fresh descriptor for us alone.
    let init_pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let Pipes { setup: (setup_r, setup_w), ack: (ack_r, ack_w), status: (status_r, status_w), alive } = pipes;
    drop((setup_w, ack_r, status_w, alive.0));
    drop(setup);
    let kill = |error: io::Error| {
        // SAFETY: pidfd_send_signal on our own pidfd.
        unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, init_pidfd.as_raw_fd(), libc::SIGKILL, 0usize, 0u32);
            libc::waitpid(pid, std::ptr::null_mut(), libc::__WALL);
        }
        if let Ok(mut live) = LIVE_INITS.lock() {
            live.retain(|p| *p != pid);
        }
        error
    };
    let mut listener = None;
    let mut proxy = None;
    loop {
        let mut message = [0u8; 12];
        let read = read_full(&setup_r, &mut message);
        if read == 0 {
            break;
        }
        let word = |i: usize| {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(message.get(i * 4..i * 4 + 4).unwrap_or(&[0; 4]));
            u32::from_ne_bytes(bytes)
        };
        if read != message.len() {
            return Err(kill(io::Error::other("the sandbox setup stopped half-way")));
        }
        match word(0) {
            message @ (MESSAGE_LISTENER | MESSAGE_PROXY) => {
                // SAFETY: pidfd_getfd on our child's pidfd; a returned
                // descriptor is ours alone.
                let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, init_pidfd.as_raw_fd(), word(1), 0u32) };
                let what = if message == MESSAGE_PROXY { "the proxy socket" } else { "the seccomp listener" };
                if fd < 0 {
                    let error = io::Error::last_os_error();
                    return Err(kill(io::Error::other(format!("cannot take {what}: {error}"))));
                }
                // SAFETY: as above.
                let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
                match message {
                    MESSAGE_PROXY => proxy = Some(fd),
                    _ => listener = Some(fd),
                }
                // SAFETY: one byte from a stack buffer.
                unsafe { libc::write(ack_w.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
            }
            MESSAGE_FAILED => {
                let error = io::Error::from_raw_os_error(word(2) as i32);
                return Err(kill(io::Error::other(format!("{}: {error}", Step::describe(word(1))))));
            }
            _ => return Err(kill(io::Error::other("unexpected message from the sandbox setup"))),
        }
    }
    Ok(Started { init_pid: pid, init_pidfd, status: status_r, listener, proxy, alive: alive.1 })
}

/// Reads until `buffer` is full or end of file; the count read.
fn read_full(fd: &OwnedFd, buffer: &mut [u8]) -> usize {
    let mut done = 0;
    while done < buffer.len() {
        let rest = buffer.get_mut(done..).unwrap_or_default();
        // SAFETY: read into the live remainder of `buffer`.
        let n = unsafe { libc::read(fd.as_raw_fd(), rest.as_mut_ptr().cast(), rest.len()) };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
    done
}

/// Reports a failed step on the setup pipe and exits.
unsafe fn fail(setup: RawFd, step: Step, error: i32) -> ! {
    let mut message = [0u8; 12];
    for (i, word) in [MESSAGE_FAILED, step as u32, error as u32].iter().enumerate() {
        if let Some(slot) = message.get_mut(i * 4..i * 4 + 4) {
            slot.copy_from_slice(&word.to_ne_bytes());
        }
    }
    // SAFETY: write and _exit with a stack buffer.
    unsafe {
        libc::write(setup, message.as_ptr().cast(), message.len());
        libc::_exit(125)
    }
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

macro_rules! step {
    ($setup:expr, $step:expr, $result:expr) => {
        if let Err(error) = $result {
            fail($setup, $step, error.raw_os_error().unwrap_or(libc::EIO))
        }
    };
}

const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The command's pid as init sees it, for [`forward`].
static COMMAND: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Init's handler: the signal goes to the command's process group. (A PID
/// namespace's init receives signals from outside only through a handler.)
extern "C" fn forward(signal: libc::c_int) {
    let command = COMMAND.load(std::sync::atomic::Ordering::Relaxed);
    if command > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(-command, signal) };
    }
}

/// Init: PID 1 of the run (or, without namespaces, a plain parent).
unsafe fn init_main(setup: &TreeSetup, pipes: &Pipes) -> ! {
    let report = pipes.setup.1.as_raw_fd();
    // SAFETY (whole function): syscalls on integers and on buffers the
    // parent prepared, which this copy of its memory still holds.
    unsafe {
        libc::close(pipes.setup.0.as_raw_fd());
        libc::close(pipes.ack.1.as_raw_fd());
        libc::close(pipes.status.0.as_raw_fd());
        libc::close(pipes.alive.1.as_raw_fd());
        // Signals are the command's to receive: init passes them on (they
        // stay blocked, as the supervisor's mask had them, until the
        // command exists).
        for signal in FORWARDED {
            libc::signal(signal, forward as *const () as libc::sighandler_t);
        }
        step!(
            report,
            Step::Liveness,
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0))
        );
        let mut alive = libc::pollfd { fd: pipes.alive.0.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        if libc::poll(&mut alive, 1, 0) != 0 {
            libc::_exit(125);
        }
        libc::close(pipes.alive.0.as_raw_fd());
        step!(report, Step::Session, check(libc::setsid()));
        if setup.namespaces.private && setup.namespaces.user {
            step!(report, Step::UserNamespace, setup.child.map_user_namespace());
        }
        step!(report, Step::Cgroup, setup.child.join_cgroups());
        step!(report, Step::Rlimits, setup.child.set_rlimits());
        if setup.namespaces.private {
            step!(report, Step::Mounts, setup.child.mount());
            step!(report, Step::Proc, mount_proc());
            if let Some(prepared) = &setup.prepared {
                step!(report, Step::Proc, prepared.add_deferred_rules());
            }
            if let Some(pid_max) = &setup.pid_max {
                step!(report, Step::ProcessLimit, pid_max.apply());
            }
            if setup.memfd_noexec {
                // Best effort: the listener refuses executable memfds too.
                let _ = write_file(c"/proc/sys/vm/memfd_noexec", b"2");
            }
        }
        if setup.namespaces.network {
            // Before the socket filter: init's own sockets are not the
            // command's to be judged.
            let fd = match proxy_socket() {
                Ok(fd) => fd,
                Err(error) => fail(report, Step::Network, error.raw_os_error().unwrap_or(libc::EIO)),
            };
            hand_over(report, pipes, MESSAGE_PROXY, fd);
        }
        if let Some(notify) = &setup.notify {
            // Unprivileged outside a user namespace, a filter needs it.
            step!(report, Step::Listener, check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)));
            let fd = match notify.install() {
                Ok(fd) => fd,
                Err(error) => fail(report, Step::Listener, error.raw_os_error().unwrap_or(libc::EIO)),
            };
            hand_over(report, pipes, MESSAGE_LISTENER, fd);
        }
        libc::close(pipes.ack.0.as_raw_fd());
        let command = start_command(setup, report);
        if command < 0 {
            fail(report, Step::Fork, errno());
        }
        libc::close(report);
        let command = command as libc::pid_t;
        COMMAND.store(command, std::sync::atomic::Ordering::Relaxed);
        let empty: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        loop {
            let mut status: libc::c_int = 0;
            let pid = libc::waitpid(-1, &mut status, libc::__WALL);
            if pid == command {
                let bytes = status.to_ne_bytes();
                libc::write(pipes.status.1.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                // Init's exit kills everything left in the namespace.
                libc::_exit(0);
            }
            if pid < 0 && errno() != libc::EINTR {
                libc::_exit(125);
            }
        }
    }
}

/// Sends `fd` to the supervisor, which copies it out with `pidfd_getfd`,
/// waits for its word that it did, and closes init's copy.
unsafe fn hand_over(report: RawFd, pipes: &Pipes, kind: u32, fd: RawFd) {
    let mut message = [0u8; 12];
    for (i, word) in [kind, fd as u32, 0].iter().enumerate() {
        if let Some(slot) = message.get_mut(i * 4..i * 4 + 4) {
            slot.copy_from_slice(&word.to_ne_bytes());
        }
    }
    // SAFETY: write, read and close on descriptors and stack buffers.
    unsafe {
        libc::write(report, message.as_ptr().cast(), message.len());
        let mut ack = [0u8; 1];
        if libc::read(pipes.ack.0.as_raw_fd(), ack.as_mut_ptr().cast(), 1) != 1 {
            libc::_exit(125);
        }
        libc::close(fd);
    }
}

/// In the run's fresh network namespace: brings loopback up and binds the
/// proxy's listening socket on `127.0.0.1`.
unsafe fn proxy_socket() -> io::Result<RawFd> {
    // SAFETY: socket calls on stack values.
    unsafe {
        let control = descriptor(libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0))?;
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        request.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as libc::c_short;
        let raised = libc::ioctl(control, libc::SIOCSIFFLAGS, &request);
        let error = io::Error::last_os_error();
        libc::close(control);
        if raised < 0 {
            return Err(error);
        }
        let fd = descriptor(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0))?;
        let one: libc::c_int = 1;
        check(libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        ))?;
        let address = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: super::egress::PROXY_PORT.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be() },
            sin_zero: [0; 8],
        };
        check(libc::bind(
            fd,
            (&address as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ))?;
        check(libc::listen(fd, 128))?;
        Ok(fd)
    }
}

/// A descriptor a call returned, or its error.
fn descriptor(fd: libc::c_int) -> io::Result<RawFd> {
    if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(fd) }
}

/// What the command's process starts from.
struct CommandStart<'a> {
    setup: &'a TreeSetup,
    report: RawFd,
    init: libc::pid_t,
}

/// Starts the command the way `posix_spawn` does: with `CLONE_VM |
/// CLONE_VFORK` it runs in init's memory, on a stack of its own, while
/// init waits until it has executed (or failed). Nothing is copied, so the
/// start does not pay for duplicating the supervisor's address space, nor
/// `exec` for tearing the copy down. Init does nothing meanwhile, and the
/// command's steps only make syscalls on values prepared before the tree
/// was cloned, as init's own do. Returns the command's pid, or -1.
unsafe fn start_command(setup: &TreeSetup, report: RawFd) -> libc::pid_t {
    extern "C" fn entry(start: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `start` is the `CommandStart` on init's stack, live while
        // init waits for this process to execute.
        unsafe {
            let start = &*(start as *const CommandStart<'_>);
            command_main(start.setup, start.report, start.init)
        }
    }
    // SAFETY: getpid, and clone with a stack that stays allocated (it is
    // part of `setup`) and a start record that outlives the vfork wait.
    unsafe {
        let mut start = CommandStart { setup, report, init: libc::getpid() };
        libc::clone(
            entry,
            setup.exec.stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut start as *mut CommandStart<'_>).cast(),
        )
    }
}

/// The command: last restrictions, then `exec`.
unsafe fn command_main(setup: &TreeSetup, report: RawFd, init: libc::pid_t) -> ! {
    // SAFETY (whole function): as in `init_main`.
    unsafe {
        for signal in FORWARDED {
            libc::signal(signal, libc::SIG_DFL);
        }
        let empty: libc::sigset_t = std::mem::zeroed();
        step!(report, Step::Signals, check(libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut())));
        step!(
            report,
            Step::Liveness,
            check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0))
        );
        if libc::getppid() != init {
            libc::_exit(125);
        }
        // Its own session and process group, without a controlling
        // terminal; init forwards the supervisor's signals to the group.
        step!(report, Step::Session, check(libc::setsid()));
        step!(report, Step::WorkingDirectory, check(libc::chdir(setup.exec.cwd.as_ptr())));
        step!(report, Step::Capabilities, drop_capabilities(setup.child.last_cap));
        if let Some(prepared) = &setup.prepared {
            step!(report, Step::Restrict, prepared.apply_in_child());
        } else {
            step!(report, Step::Restrict, nix::sys::prctl::set_no_new_privs().map_err(io::Error::from));
        }
        if let Some((stdout, stderr)) = &setup.output {
            step!(report, Step::Descriptors, check(libc::dup2(stdout.as_raw_fd(), 1)));
            step!(report, Step::Descriptors, check(libc::dup2(stderr.as_raw_fd(), 2)));
        }
        step!(report, Step::Descriptors, close_inherited_fds());
        libc::execve(setup.exec.program.as_ptr(), setup.exec.argv_ptrs.as_ptr(), setup.exec.envp_ptrs.as_ptr());
        fail(report, Step::Exec, errno());
    }
}

unsafe fn mount_proc() -> io::Result<()> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    // SAFETY: mount with C string literals.
    check(unsafe { libc::mount(c"proc".as_ptr(), c"/proc".as_ptr(), c"proc".as_ptr(), flags, std::ptr::null()) })
}

pub(super) unsafe fn write_file(path: &CStr, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: open/write/close on a C string and a live buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let written = libc::write(fd, bytes.as_ptr().cast(), bytes.len());
        let error = io::Error::last_os_error();
        libc::close(fd);
        if written != bytes.len() as isize {
            return Err(error);
        }
    }
    Ok(())
}
