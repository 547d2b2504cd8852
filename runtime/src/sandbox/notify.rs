//! Supervising the syscalls Landlock does not cover on this kernel, through
//! seccomp user notification: connecting or sending to pathname unix
//! sockets (Landlock ABI 9 covers them; this code is what holds below it),
//! and creating executable memfds.
//!
//! Why it holds without a race: the decision never rests on memory the
//! child could rewrite after it was read. For `connect`, `sendto` and
//! `sendmsg` the supervisor takes a copy of the child's socket
//! (`pidfd_getfd`: the same open file description), reads the family and
//! type from the copy, not from the child's memory, and
//! - lets the call continue when the socket is not `AF_UNIX`, or is a
//!   stream or seqpacket unix socket being sent on (the kernel never
//!   resolves an address for those), so the kernel and Landlock's TCP
//!   rules judge it;
//! - otherwise reads the address once, resolves it inside the child's root
//!   (`openat2` with `RESOLVE_IN_ROOT` below `/proc/PID/root`, so the
//!   child's mounts and symlinks are what count), decides on the resolved
//!   path, and performs the call itself on the copy, through
//!   `/proc/self/fd/N` of the resolved inode. What the child's memory says
//!   afterwards does not matter: the call was made with what was read.
//!
//! Abstract addresses are refused: connecting to them on the child's behalf
//! would step outside Landlock's abstract-socket scoping.
//! `memfd_create` is performed by the supervisor with `MFD_NOEXEC_SEAL` and
//! the descriptor placed in the child (`SECCOMP_IOCTL_NOTIF_ADDFD`); a
//! request for `MFD_EXEC` gets `EACCES`, as under `vm.memfd_noexec = 2`.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;

use super::child::check;

/// One decision on a unix socket, for the run's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketDecision {
    /// The socket path in the child's view.
    pub path: String,
    pub allowed: bool,
}

/// The BPF program that sends the supervised syscalls to the listener.
pub(super) struct NotifyFilter {
    program: Vec<libc::sock_filter>,
}

const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const SECCOMP_DATA_ARG4_LO: u32 = 48;
const SECCOMP_DATA_ARG4_HI: u32 = 52;
const SECCOMP_DATA_ARG5_LO: u32 = 56;

fn statement(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
}

fn jump(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf, k }
}

impl NotifyFilter {
    pub(super) fn new(audit_arch: u32) -> NotifyFilter {
        let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
        let ret = libc::BPF_RET | libc::BPF_K;
        let nr = |n: libc::c_long| n as u32;
        // Offsets are counted to the two return instructions at the end:
        // ALLOW at index 14, USER_NOTIF at 15.
        let program = vec![
            /* 0 */ statement(load, SECCOMP_DATA_ARCH),
            // Another architecture: the main filter kills it.
            /* 1 */ jump(audit_arch, 0, 12),
            /* 2 */ statement(load, SECCOMP_DATA_NR),
            /* 3 */ jump(nr(libc::SYS_connect), 11, 0),
            /* 4 */ jump(nr(libc::SYS_sendmsg), 10, 0),
            /* 5 */ jump(nr(libc::SYS_sendmmsg), 9, 0),
            /* 6 */ jump(nr(libc::SYS_memfd_create), 8, 0),
            /* 7 */ jump(nr(libc::SYS_sendto), 0, 6),
            // sendto with no address (a null pointer or a zero length)
            // resolves nothing: the registers say so, no memory is read.
            /* 8 */
            statement(load, SECCOMP_DATA_ARG4_LO),
            /* 9 */ jump(0, 0, 2),
            /* 10 */ statement(load, SECCOMP_DATA_ARG4_HI),
            /* 11 */ jump(0, 2, 0),
            /* 12 */ statement(load, SECCOMP_DATA_ARG5_LO),
            /* 13 */ jump(0, 0, 1),
            /* 14 */ statement(ret, libc::SECCOMP_RET_ALLOW),
            /* 15 */ statement(ret, libc::SECCOMP_RET_USER_NOTIF),
        ];
        NotifyFilter { program }
    }

    /// Installs the filter on the calling thread; returns the listener.
    /// Runs in init, between `clone` and the command's `fork`.
    pub(super) unsafe fn install(&self) -> io::Result<RawFd> {
        let program = libc::sock_fprog { len: self.program.len() as u16, filter: self.program.as_ptr().cast_mut() };
        // SAFETY: seccomp with a program that outlives the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
                &program as *const libc::sock_fprog,
            )
        };
        if fd < 0 { Err(io::Error::last_os_error()) } else { Ok(fd as RawFd) }
    }
}

/// How the policies judge a unix socket path (as the child sees it).
pub type SocketJudge = std::sync::Arc<dyn Fn(&Path) -> vtpolicy_engine::Effect + Send + Sync>;

/// What the child may connect to: what the policies allow (`net unix`
/// rules), and, unless a rule denies it, sockets below the workspace and
/// the private tmp. A `prompt` cannot be asked in the middle of a run, so
/// outside those it refuses.
#[derive(Clone)]
pub(crate) struct SocketRules {
    pub roots: Vec<PathBuf>,
    pub judge: Option<SocketJudge>,
    /// TCP connect ports every Landlock layer allows (`None`: any), for
    /// connections made on a caller's behalf.
    pub tcp_connect: Option<Vec<(u16, u16)>>,
}

impl SocketRules {
    fn allows(&self, path: &Path) -> bool {
        let inside = self.roots.iter().any(|root| path.starts_with(root));
        match self.judge.as_ref().map(|judge| judge(path)) {
            Some(vtpolicy_engine::Effect::Deny) => false,
            Some(vtpolicy_engine::Effect::Allow) => true,
            Some(vtpolicy_engine::Effect::Prompt) | None => inside,
        }
    }
}

/// Serves the listener on a thread of its own until no sandboxed process
/// is left. Decisions on sockets go to `decisions`.
pub(super) fn serve(listener: OwnedFd, rules: SocketRules, decisions: Sender<SocketDecision>) -> io::Result<()> {
    std::thread::Builder::new().name("vtpolicy-notify".into()).spawn(move || {
        let supervisor = std::sync::Arc::new(Supervisor { listener, rules, decisions });
        supervisor.run();
    })?;
    Ok(())
}

struct Supervisor {
    listener: OwnedFd,
    rules: SocketRules,
    decisions: Sender<SocketDecision>,
}

/// The answer to one notification.
enum Answer {
    Continue,
    Value(i64),
    Errno(i32),
    /// Answered already (the descriptor was placed with ADDFD's SEND flag).
    Done,
}

/// What a notification needs: an answer now, or a call made on the
/// caller's behalf, which may block (a full backlog, a slow peer) and so
/// runs on a thread of its own.
enum Triage {
    Answer(Answer),
    OnBehalf { task: Task, socket: OwnedFd, domain: i32, kind: i32 },
}

impl Supervisor {
    fn run(self: &std::sync::Arc<Self>) {
        loop {
            let mut poll = libc::pollfd { fd: self.listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: poll on one live descriptor.
            let ready = unsafe { libc::poll(&mut poll, 1, -1) };
            if ready < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return;
            }
            if poll.revents & libc::POLLIN == 0 {
                // POLLHUP: every process under the filter is gone.
                return;
            }
            // SAFETY: the kernel requires a zeroed buffer.
            let mut notif: libc::seccomp_notif = unsafe { std::mem::zeroed() };
            // SAFETY: RECV fills the struct.
            let received =
                unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV as _, &mut notif) };
            if received < 0 {
                // ENOENT: the caller died before we read it.
                continue;
            }
            match self.triage(&notif) {
                Ok(Triage::Answer(answer)) => self.respond(notif.id, answer),
                Err(errno) => self.respond(notif.id, Answer::Errno(errno)),
                Ok(Triage::OnBehalf { task, socket, domain, kind }) => {
                    let supervisor = std::sync::Arc::clone(self);
                    let spawned = std::thread::Builder::new().name("vtpolicy-call".into()).spawn(move || {
                        let answer =
                            supervisor.on_behalf(&notif, &task, &socket, domain, kind).unwrap_or_else(Answer::Errno);
                        supervisor.respond(notif.id, answer);
                    });
                    if spawned.is_err() {
                        self.respond(notif.id, Answer::Errno(libc::EAGAIN));
                    }
                }
            }
        }
    }

    fn respond(&self, id: u64, answer: Answer) {
        let mut response = libc::seccomp_notif_resp { id, val: 0, error: 0, flags: 0 };
        match answer {
            Answer::Done => return,
            Answer::Continue => response.flags = libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32,
            Answer::Value(value) => response.val = value,
            Answer::Errno(errno) => response.error = -errno,
        }
        // SAFETY: SEND reads the struct. An error means the caller died.
        unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND as _, &response) };
    }

    /// Still the same task that made notification `id`?
    fn valid(&self, id: u64) -> bool {
        // SAFETY: ID_VALID reads the u64.
        unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID as _, &id) == 0 }
    }

    /// Answers what can be answered at once. The kernel fetches the
    /// descriptor again when a call continues, so a call may continue only
    /// when nothing but the blocked caller can change its descriptors: a
    /// caller with other threads gets every supervised call made on its
    /// behalf (`clone` with `CLONE_FILES` alone is refused by the seccomp
    /// program, so threads are the only sharers).
    fn triage(&self, notif: &libc::seccomp_notif) -> Result<Triage, i32> {
        let nr = libc::c_long::from(notif.data.nr);
        let args = notif.data.args;
        let pid = notif.pid as libc::pid_t;
        if nr == libc::SYS_memfd_create {
            return self.memfd_create(notif.id, pid, args[0], args[1] as u32).map(Triage::Answer);
        }
        let task = Task::open(pid)?;
        let shared = task.threads > 1;
        if !self.valid(notif.id) {
            return Err(libc::ESRCH);
        }
        let socket = task.descriptor(args[0] as RawFd)?;
        let (domain, kind) = socket_kind(&socket)?;
        // Alone, the caller cannot swap the descriptor: what is not a unix
        // socket, or a unix stream being sent on (no destination is
        // resolved), goes on in its own context, under Landlock.
        let unix_resolves = domain == libc::AF_UNIX && (kind == libc::SOCK_DGRAM || nr == libc::SYS_connect);
        if !shared && !unix_resolves {
            return Ok(Triage::Answer(Answer::Continue));
        }
        Ok(Triage::OnBehalf { task, socket, domain, kind })
    }

    /// Performs the call on the caller's socket, with what was read once.
    fn on_behalf(
        &self,
        notif: &libc::seccomp_notif,
        task: &Task,
        socket: &OwnedFd,
        domain: i32,
        kind: i32,
    ) -> Result<Answer, i32> {
        let nr = libc::c_long::from(notif.data.nr);
        let args = notif.data.args;
        let unix = domain == libc::AF_UNIX;
        let address_limit = std::mem::size_of::<libc::sockaddr_storage>();
        match nr {
            n if n == libc::SYS_connect => {
                let address = task.read(args[1], (args[2] as usize).min(address_limit))?;
                if !self.valid(notif.id) {
                    return Err(libc::ESRCH);
                }
                if !unix {
                    self.check_tcp(&address, kind)?;
                    return connect_to(socket, &address).map(|()| Answer::Value(0));
                }
                let target = self.target(task, &address)?;
                let Some(target) = target else {
                    // An address without a path: the kernel rejects it as it would.
                    return Ok(Answer::Errno(libc::EINVAL));
                };
                connect(socket, &target).map(|()| Answer::Value(0))
            }
            n if n == libc::SYS_sendto => {
                let address = task.read(args[4], (args[5] as usize).min(address_limit))?;
                let data = task.read(args[1], (args[2] as usize).min(MAX_DATAGRAM))?;
                if !self.valid(notif.id) {
                    return Err(libc::ESRCH);
                }
                let target = self.destination(task, &address, unix, kind)?;
                send(socket, &data, target.as_ref(), &[], args[3] as i32).map(|n| Answer::Value(n as i64))
            }
            n if n == libc::SYS_sendmsg => {
                let sent = self.sendmsg(notif.id, task, socket, args[1], args[2] as i32, unix, kind)?;
                Ok(Answer::Value(sent as i64))
            }
            n if n == libc::SYS_sendmmsg => {
                let count = (args[2] as usize).min(1024);
                let size = std::mem::size_of::<libc::mmsghdr>() as u64;
                let mut sent = 0;
                for i in 0..count {
                    let entry = args[1] + size * i as u64;
                    match self.sendmsg(notif.id, task, socket, entry, args[3] as i32, unix, kind) {
                        Ok(n) => {
                            let length = (n as u32).to_ne_bytes();
                            let offset = std::mem::size_of::<libc::msghdr>() as u64;
                            task.write(entry + offset, &length)?;
                            sent += 1;
                        }
                        Err(errno) if sent == 0 => return Err(errno),
                        Err(_) => break,
                    }
                }
                Ok(Answer::Value(sent))
            }
            _ => Err(libc::ENOSYS),
        }
    }

    /// Where a datagram (or an addressed send) goes: a resolved unix
    /// socket, an inet address checked as Landlock would, or nowhere given.
    fn destination(&self, task: &Task, address: &[u8], unix: bool, kind: i32) -> Result<Option<Destination>, i32> {
        if address.is_empty() {
            return Ok(None);
        }
        if unix {
            // Stream sockets ignore an address on send; datagrams resolve it.
            if kind != libc::SOCK_DGRAM {
                return Ok(None);
            }
            return Ok(self.target(task, address)?.map(Destination::Unix));
        }
        self.check_tcp(address, kind)?;
        Ok(Some(Destination::Inet(address.to_vec())))
    }

    /// Refuses a TCP destination port the Landlock ruleset does not allow
    /// (what the kernel would say in the caller's own context).
    fn check_tcp(&self, address: &[u8], kind: i32) -> Result<(), i32> {
        let Some(ports) = &self.rules.tcp_connect else { return Ok(()) };
        if kind != libc::SOCK_STREAM {
            return Ok(());
        }
        let family = address.get(..2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_ne_bytes);
        if family == Some(libc::AF_UNSPEC as u16) {
            return Ok(());
        }
        let port =
            address.get(2..4).and_then(|b| <[u8; 2]>::try_from(b).ok()).map(u16::from_be_bytes).ok_or(libc::EINVAL)?;
        if ports.iter().any(|&(low, high)| low <= port && port <= high) { Ok(()) } else { Err(libc::EACCES) }
    }

    /// One `msghdr` at `at`, sent on the child's behalf.
    #[expect(clippy::too_many_arguments, reason = "the call's parts, read once")]
    fn sendmsg(
        &self,
        id: u64,
        task: &Task,
        socket: &OwnedFd,
        at: u64,
        flags: i32,
        unix: bool,
        kind: i32,
    ) -> Result<usize, i32> {
        let header = task.read(at, std::mem::size_of::<libc::msghdr>())?;
        // SAFETY: `header` holds exactly one msghdr's bytes; read unaligned.
        let header: libc::msghdr = unsafe { std::ptr::read_unaligned(header.as_ptr().cast()) };
        let address = if header.msg_name.is_null() || header.msg_namelen == 0 {
            Vec::new()
        } else {
            task.read(
                header.msg_name as u64,
                (header.msg_namelen as usize).min(std::mem::size_of::<libc::sockaddr_storage>()),
            )?
        };
        let count = (header.msg_iovlen as usize).min(1024);
        let iovecs = task.read(header.msg_iov as u64, count * std::mem::size_of::<libc::iovec>())?;
        let mut data = Vec::new();
        for chunk in iovecs.chunks_exact(std::mem::size_of::<libc::iovec>()) {
            // SAFETY: one iovec's bytes, read unaligned.
            let iovec: libc::iovec = unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
            let room = MAX_DATAGRAM.saturating_sub(data.len());
            if iovec.iov_len > room {
                return Err(libc::EMSGSIZE);
            }
            data.extend(task.read(iovec.iov_base as u64, iovec.iov_len)?);
        }
        let control = if header.msg_control.is_null() || header.msg_controllen == 0 {
            Vec::new()
        } else {
            task.read(header.msg_control as u64, header.msg_controllen.min(MAX_CONTROL))?
        };
        let passed = task.passed_descriptors(&control)?;
        if !self.valid(id) {
            return Err(libc::ESRCH);
        }
        let target = self.destination(task, &address, unix, kind)?;
        send(socket, &data, target.as_ref(), &passed, flags)
    }

    /// The resolved socket of `address`, when it names a path; refuses
    /// abstract addresses and paths the rules do not allow.
    fn target(&self, task: &Task, address: &[u8]) -> Result<Option<OwnedFd>, i32> {
        let offset = std::mem::size_of::<libc::sa_family_t>();
        let Some(path) = address.get(offset..) else { return Ok(None) };
        if path.is_empty() {
            return Ok(None);
        }
        if path.first() == Some(&0) {
            return Err(libc::EPERM);
        }
        let path = path.split(|b| *b == 0).next().unwrap_or_default();
        let path = <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path);
        let resolved = task.resolve(Path::new(path))?;
        let seen = std::fs::read_link(format!("/proc/self/fd/{}", resolved.as_raw_fd())).map_err(errno_of)?;
        let allowed = self.rules.allows(&seen);
        let _ = self.decisions.send(SocketDecision { path: seen.to_string_lossy().into_owned(), allowed });
        if allowed { Ok(Some(resolved)) } else { Err(libc::EACCES) }
    }

    fn memfd_create(&self, id: u64, pid: libc::pid_t, name: u64, flags: u32) -> Result<Answer, i32> {
        if flags & libc::MFD_EXEC != 0 {
            return Err(libc::EACCES);
        }
        let task = Task::open(pid)?;
        let mut name = task.read_string(name, 249).unwrap_or_else(|_| b"memfd".to_vec());
        name.truncate(249);
        let name = CString::new(name).map_err(|_| libc::EINVAL)?;
        if !self.valid(id) {
            return Err(libc::ESRCH);
        }
        let cloexec = if flags & libc::MFD_CLOEXEC != 0 { libc::O_CLOEXEC as u32 } else { 0 };
        let flags = flags | libc::MFD_CLOEXEC | libc::MFD_NOEXEC_SEAL;
        // SAFETY: memfd_create with a C string; the descriptor is ours.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let add = libc::seccomp_notif_addfd {
            id,
            flags: libc::SECCOMP_ADDFD_FLAG_SEND as u32,
            srcfd: fd.as_raw_fd() as u32,
            newfd: 0,
            newfd_flags: cloexec,
        };
        // SAFETY: ADDFD reads the struct; with SEND it also answers.
        let placed = unsafe { libc::ioctl(self.listener.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ADDFD as _, &add) };
        if placed < 0 {
            return Err(last_errno());
        }
        Ok(Answer::Done)
    }
}

/// At most this much data is sent on a datagram's behalf.
const MAX_DATAGRAM: usize = 256 * 1024;
const MAX_CONTROL: usize = 4096;

fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn errno_of(error: io::Error) -> i32 {
    error.raw_os_error().unwrap_or(libc::EIO)
}

/// A thread of the run: its id for `/proc` and memory, and a pidfd of its
/// process for its descriptors.
struct Task {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    /// Threads of its process when the call was received.
    threads: usize,
}

impl Task {
    /// `tid` is the thread that made the call; descriptors belong to its
    /// thread group, whose leader `pidfd_open` takes.
    fn open(tid: libc::pid_t) -> Result<Task, i32> {
        let status = std::fs::read_to_string(format!("/proc/{tid}/status")).map_err(errno_of)?;
        let field = |name: &str| {
            status.lines().find_map(|line| line.strip_prefix(name)).and_then(|value| value.trim().parse::<usize>().ok())
        };
        let tgid = field("Tgid:").and_then(|t| libc::pid_t::try_from(t).ok()).ok_or(libc::ESRCH)?;
        let threads = field("Threads:").ok_or(libc::ESRCH)?;
        let pid = tid;
        // SAFETY: pidfd_open with integers; the descriptor is ours.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, tgid, 0u32) };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: fresh descriptor.
        Ok(Task { pid, pidfd: unsafe { OwnedFd::from_raw_fd(fd as RawFd) }, threads })
    }

    /// A copy of descriptor `fd` of the task: the same open file description.
    fn descriptor(&self, fd: RawFd) -> Result<OwnedFd, i32> {
        // SAFETY: pidfd_getfd with integers; the descriptor is ours.
        let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0u32) };
        if copy < 0 {
            return Err(match last_errno() {
                libc::EBADF => libc::EBADF,
                other => other,
            });
        }
        // SAFETY: fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(copy as RawFd) })
    }

    fn read(&self, address: u64, length: usize) -> Result<Vec<u8>, i32> {
        let mut buffer = vec![0u8; length];
        if length == 0 {
            return Ok(buffer);
        }
        let local = libc::iovec { iov_base: buffer.as_mut_ptr().cast(), iov_len: length };
        let remote = libc::iovec { iov_base: address as *mut libc::c_void, iov_len: length };
        // SAFETY: process_vm_readv into our live buffer.
        let read = unsafe { libc::process_vm_readv(self.pid, &local, 1, &remote, 1, 0) };
        if read != length as isize {
            return Err(libc::EFAULT);
        }
        Ok(buffer)
    }

    fn write(&self, address: u64, bytes: &[u8]) -> Result<(), i32> {
        let local = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
        let remote = libc::iovec { iov_base: address as *mut libc::c_void, iov_len: bytes.len() };
        // SAFETY: process_vm_writev from our live buffer.
        let written = unsafe { libc::process_vm_writev(self.pid, &local, 1, &remote, 1, 0) };
        if written != bytes.len() as isize { Err(libc::EFAULT) } else { Ok(()) }
    }

    /// A NUL-terminated string of at most `max` bytes.
    fn read_string(&self, address: u64, max: usize) -> Result<Vec<u8>, i32> {
        let mut out = Vec::new();
        let mut at = address;
        while out.len() < max {
            // Page by page: a read must not cross into an unmapped page.
            let to_page_end = 4096 - (at % 4096) as usize;
            let chunk = self.read(at, to_page_end.min(max - out.len()))?;
            if let Some(end) = chunk.iter().position(|b| *b == 0) {
                out.extend_from_slice(chunk.get(..end).unwrap_or_default());
                return Ok(out);
            }
            at += chunk.len() as u64;
            out.extend(chunk);
        }
        Ok(out)
    }

    /// `path`, as the task would open it: relative to its working
    /// directory, inside its root, symlinks followed there. An `O_PATH`
    /// descriptor on the final inode.
    fn resolve(&self, path: &Path) -> Result<OwnedFd, i32> {
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            // The working directory as the task sees it (its mount namespace).
            std::fs::read_link(format!("/proc/{}/cwd", self.pid)).map_err(errno_of)?.join(path)
        };
        let root = CString::new(format!("/proc/{}/root", self.pid)).map_err(|_| libc::EINVAL)?;
        // SAFETY: open a C string; the descriptor is ours.
        let root_fd = unsafe { libc::open(root.as_ptr(), libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        if root_fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: fresh descriptor.
        let root_fd = unsafe { OwnedFd::from_raw_fd(root_fd) };
        let relative = absolute.strip_prefix("/").unwrap_or(&absolute);
        let relative = if relative.as_os_str().is_empty() { Path::new(".") } else { relative };
        let c_path = CString::new(relative.as_os_str().as_encoded_bytes()).map_err(|_| libc::EINVAL)?;
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 with a C string and a struct that outlive the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root_fd.as_raw_fd(),
                c_path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(last_errno());
        }
        // SAFETY: fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
    }

    /// The descriptors an `SCM_RIGHTS` control block passes, copied out of
    /// the task; any other control message is refused.
    fn passed_descriptors(&self, control: &[u8]) -> Result<Vec<OwnedFd>, i32> {
        let mut out = Vec::new();
        let header = std::mem::size_of::<libc::cmsghdr>();
        let mut at = 0;
        while at + header <= control.len() {
            let bytes = control.get(at..at + header).ok_or(libc::EINVAL)?;
            // SAFETY: one cmsghdr's bytes, read unaligned.
            let cmsg: libc::cmsghdr = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            if cmsg.cmsg_len < header || at + cmsg.cmsg_len > control.len() {
                return Err(libc::EINVAL);
            }
            if cmsg.cmsg_level != libc::SOL_SOCKET || cmsg.cmsg_type != libc::SCM_RIGHTS {
                return Err(libc::EPERM);
            }
            let data = control.get(at + header..at + cmsg.cmsg_len).ok_or(libc::EINVAL)?;
            for fd in data.chunks_exact(4) {
                let fd = i32::from_ne_bytes(fd.try_into().unwrap_or([0xff; 4]));
                out.push(self.descriptor(fd)?);
            }
            // CMSG_ALIGN: the next header starts on a size_t boundary.
            let align = std::mem::size_of::<usize>();
            at += cmsg.cmsg_len.div_ceil(align) * align;
        }
        Ok(out)
    }
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn socket_kind(socket: &OwnedFd) -> Result<(i32, i32), i32> {
    let get = |option: libc::c_int| {
        let mut value: libc::c_int = 0;
        let mut length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt into a stack integer.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                option,
                (&mut value as *mut libc::c_int).cast(),
                &mut length,
            )
        };
        if result < 0 { Err(last_errno()) } else { Ok(value) }
    };
    // A descriptor that is not a socket: let the kernel say ENOTSOCK.
    match get(libc::SO_DOMAIN) {
        Ok(domain) => Ok((domain, get(libc::SO_TYPE)?)),
        Err(libc::ENOTSOCK) => Ok((-1, -1)),
        Err(errno) => Err(errno),
    }
}

/// Where a call made on the caller's behalf sends to.
enum Destination {
    /// A resolved unix socket, addressed through `/proc/self/fd/N`.
    Unix(OwnedFd),
    /// An inet address as the caller gave it.
    Inet(Vec<u8>),
}

/// `connect` with an address as the caller gave it (inet, already checked).
fn connect_to(socket: &OwnedFd, address: &[u8]) -> Result<(), i32> {
    // SAFETY: connect with a live buffer of the given length.
    let result =
        unsafe { libc::connect(socket.as_raw_fd(), address.as_ptr().cast(), address.len() as libc::socklen_t) };
    check(result).map_err(errno_of)
}

/// `/proc/self/fd/N` of `target` as a unix address.
fn address_of(target: &OwnedFd) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain data; zero is a valid value.
    let mut address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let path = format!("/proc/self/fd/{}", target.as_raw_fd());
    for (slot, byte) in address.sun_path.iter_mut().zip(path.bytes()) {
        *slot = byte as libc::c_char;
    }
    let length = std::mem::size_of::<libc::sa_family_t>() + path.len() + 1;
    (address, length as libc::socklen_t)
}

fn connect(socket: &OwnedFd, target: &OwnedFd) -> Result<(), i32> {
    let (address, length) = address_of(target);
    // SAFETY: connect with a stack address.
    let result = unsafe { libc::connect(socket.as_raw_fd(), (&address as *const libc::sockaddr_un).cast(), length) };
    check(result).map_err(errno_of)
}

fn send(
    socket: &OwnedFd,
    data: &[u8],
    target: Option<&Destination>,
    passed: &[OwnedFd],
    flags: i32,
) -> Result<usize, i32> {
    let mut iov = libc::iovec { iov_base: data.as_ptr().cast_mut().cast(), iov_len: data.len() };
    // SAFETY: msghdr is plain data; zero is a valid value.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_iov = &mut iov;
    header.msg_iovlen = 1;
    let mut unix_address = match target {
        Some(Destination::Unix(fd)) => Some(address_of(fd)),
        _ => None,
    };
    let mut inet_address = match target {
        Some(Destination::Inet(bytes)) => bytes.clone(),
        _ => Vec::new(),
    };
    if let Some((address, length)) = unix_address.as_mut() {
        header.msg_name = (address as *mut libc::sockaddr_un).cast();
        header.msg_namelen = *length;
    } else if !inet_address.is_empty() {
        header.msg_name = inet_address.as_mut_ptr().cast();
        header.msg_namelen = inet_address.len() as libc::socklen_t;
    }
    let fds: Vec<i32> = passed.iter().map(AsRawFd::as_raw_fd).collect();
    let mut control;
    if !fds.is_empty() {
        let payload = (fds.len() * 4) as u32;
        // SAFETY: CMSG_SPACE and CMSG_LEN are arithmetic.
        let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
        control = vec![0u8; space];
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = space;
        // SAFETY: the control buffer holds one header and its payload.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fds.len() * 4);
        }
    }
    // SAFETY: sendmsg with buffers that outlive the call.
    let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, flags | libc::MSG_NOSIGNAL) };
    if sent < 0 { Err(last_errno()) } else { Ok(sent as usize) }
}
