//! What the run's init and command do to themselves before the Landlock
//! and seccomp layers (see `tree.rs` for the order): map the user
//! namespace, join the run's cgroups, take the policy's resource limits,
//! set up the private mount namespace (write-denied paths mounted
//! read-only, read-denied ones covered, private `/tmp`, `/dev/shm` and
//! `/run`), and drop every capability. Only syscalls on values prepared in
//! the parent.

#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use vtpolicy_compiler::profile::landlock::{FileKind, MountPlan};

use super::tree::write_file;

/// One resource limit, soft and hard alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    pub resource: Resource,
    pub value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Core,
    Cpu,
    AddressSpace,
    FileSize,
    OpenFiles,
    Processes,
}

impl Resource {
    fn raw(self) -> libc::__rlimit_resource_t {
        match self {
            Resource::Core => libc::RLIMIT_CORE,
            Resource::Cpu => libc::RLIMIT_CPU,
            Resource::AddressSpace => libc::RLIMIT_AS,
            Resource::FileSize => libc::RLIMIT_FSIZE,
            Resource::OpenFiles => libc::RLIMIT_NOFILE,
            Resource::Processes => libc::RLIMIT_NPROC,
        }
    }
}

/// The private mount namespace of [`MountPlan`], ready for the child.
#[derive(Debug, Default)]
pub(crate) struct PreparedMounts {
    /// Mounts in order, parents first.
    mounts: Vec<Mount>,
}

/// The run's private directories: `/tmp` is the per-call temporary
/// directory, `/dev/shm` and the runtime directories are empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrivateDirs {
    /// The per-call temporary directory, bound over `/tmp`.
    pub tmp: Option<std::path::PathBuf>,
    /// Trees under `/tmp` that stay visible at their own path (the
    /// workspace, the working directory), bound back after `/tmp` is
    /// covered; the supervisor creates their mount points in `tmp`.
    pub keep: Vec<std::path::PathBuf>,
    /// Directories covered by an empty tmpfs (`/run`, `/var/run`,
    /// `$XDG_RUNTIME_DIR`), and `/dev/shm` by an empty writable one.
    pub cover: Vec<std::path::PathBuf>,
    pub shm: bool,
}

#[derive(Debug)]
enum Mount {
    /// Bind onto itself, then remount with these flags (0: stay as is).
    Bind { path: CString, remount: libc::c_ulong },
    /// Cover a file with `/dev/null`.
    HideFile { path: CString },
    /// Cover a directory with an empty read-only tmpfs of mode 000.
    HideDir { path: CString },
    /// Bind `source` (recursively) onto `target`.
    Rebind { source: CString, target: CString },
    /// An empty tmpfs with these options.
    Tmpfs { path: CString, options: &'static CStr, flags: libc::c_ulong },
}

impl PreparedMounts {
    /// Prepares `plan`: read-only binds keep the flags of the mount they
    /// sit on (a user namespace may not clear `nosuid`, `nodev`, …).
    pub(crate) fn new(plan: &MountPlan, private: &PrivateDirs) -> Result<PreparedMounts, String> {
        // 0: pinned, 1: read-only, 2: hidden file, 3: hidden directory.
        let mut paths: Vec<(&str, u8)> = plan.pinned.iter().map(|p| (p.as_str(), 0)).collect();
        paths.extend(plan.read_only.iter().map(|p| (p.as_str(), 1)));
        paths.extend(plan.hidden.iter().map(|h| (h.path.as_str(), if h.kind == FileKind::Dir { 3 } else { 2 })));
        paths.sort_by(|a, b| a.0.len().cmp(&b.0.len()).then(a.0.cmp(b.0)));
        let mut mounts = Vec::new();
        for (path, what) in paths {
            // A `..` would name an ancestor, and covering it would undo
            // every mount below it.
            if !path.starts_with('/') || std::path::Path::new(path).components().any(|c| c.as_os_str() == "..") {
                return Err(format!("cannot mount over `{path}`: not a canonical path"));
            }
            let host = super::fs::host_path(path);
            let c_path =
                CString::new(host.as_os_str().as_encoded_bytes()).map_err(|_| format!("`{path}` holds a NUL byte"))?;
            mounts.push(match what {
                0 => Mount::Bind { path: c_path, remount: 0 },
                1 => {
                    let stat = nix::sys::statvfs::statvfs(&host).map_err(|e| format!("statvfs `{path}`: {e}"))?;
                    let inherited = stat.flags().bits() as libc::c_ulong
                        & (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_NOATIME | libc::MS_NODIRATIME);
                    Mount::Bind {
                        path: c_path,
                        remount: libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | inherited,
                    }
                }
                2 => Mount::HideFile { path: c_path },
                _ => Mount::HideDir { path: c_path },
            });
        }
        let c = |path: &std::path::Path| {
            use std::os::unix::ffi::OsStrExt as _;
            CString::new(path.as_os_str().as_bytes()).map_err(|_| format!("`{}` holds a NUL byte", path.display()))
        };
        let cover_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        for dir in &private.cover {
            mounts.push(Mount::Tmpfs { path: c(dir)?, options: c"size=64k,mode=755", flags: cover_flags });
        }
        if private.shm {
            mounts.push(Mount::Tmpfs {
                path: c"/dev/shm".to_owned(),
                options: c"mode=1777",
                flags: libc::MS_NOSUID | libc::MS_NODEV,
            });
        }
        if let Some(tmp) = &private.tmp {
            // Kept trees are bound into the private tmp first, at their
            // path below `/tmp`; the recursive bind of the private tmp
            // over `/tmp` then carries them along.
            for dir in &private.keep {
                let relative = dir.strip_prefix("/tmp").unwrap_or(dir);
                mounts.push(Mount::Rebind { source: c(dir)?, target: c(&tmp.join(relative))? });
            }
            mounts.push(Mount::Rebind { source: c(tmp)?, target: c"/tmp".to_owned() });
        }
        Ok(PreparedMounts { mounts })
    }

    /// Runs in init, inside its new mount namespace.
    unsafe fn apply(&self) -> io::Result<()> {
        // SAFETY: mount with pointers to C strings that outlive the calls.
        unsafe {
            let root = c"/";
            check(libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            let null = std::ptr::null::<libc::c_char>();
            for mount in &self.mounts {
                match mount {
                    Mount::Bind { path, remount } => {
                        check(libc::mount(path.as_ptr(), path.as_ptr(), null, libc::MS_BIND, null.cast()))?;
                        if *remount != 0 {
                            check(libc::mount(null, path.as_ptr(), null, *remount, null.cast()))?;
                        }
                    }
                    Mount::HideFile { path } => {
                        check(libc::mount(c"/dev/null".as_ptr(), path.as_ptr(), null, libc::MS_BIND, null.cast()))?;
                    }
                    Mount::HideDir { path } => {
                        let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
                        let options = c"size=4k,mode=000";
                        check(libc::mount(
                            c"tmpfs".as_ptr(),
                            path.as_ptr(),
                            c"tmpfs".as_ptr(),
                            flags,
                            options.as_ptr().cast(),
                        ))?;
                    }
                    Mount::Rebind { source, target } => {
                        check(libc::mount(
                            source.as_ptr(),
                            target.as_ptr(),
                            null,
                            libc::MS_BIND | libc::MS_REC,
                            null.cast(),
                        ))?;
                    }
                    Mount::Tmpfs { path, options, flags } => {
                        check(libc::mount(
                            c"tmpfs".as_ptr(),
                            path.as_ptr(),
                            c"tmpfs".as_ptr(),
                            *flags,
                            options.as_ptr().cast(),
                        ))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The setup of the run's init and command, prepared in the parent.
#[derive(Debug)]
pub(crate) struct ChildSetup {
    pub rlimits: Vec<Rlimit>,
    /// The private mount namespace.
    pub mounts: PreparedMounts,
    /// `uid_map` and `gid_map` lines mapping the caller's ids to
    /// themselves, for a user namespace (not root).
    pub id_maps: (Vec<u8>, Vec<u8>),
    /// `cgroup.procs` of each cgroup the child joins, opened for writing.
    pub cgroup_procs: Vec<OwnedFd>,
    /// `/proc/sys/kernel/cap_last_cap`.
    pub last_cap: u32,
}

impl ChildSetup {
    pub(crate) fn new(rlimits: Vec<Rlimit>, cgroup_procs: Vec<OwnedFd>, mounts: PreparedMounts) -> ChildSetup {
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(63);
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let id_maps = (format!("{uid} {uid} 1\n").into_bytes(), format!("{gid} {gid} 1\n").into_bytes());
        ChildSetup { rlimits, mounts, id_maps, cgroup_procs, last_cap }
    }

    /// Maps the caller's ids into the user namespace init was cloned in.
    pub(super) unsafe fn map_user_namespace(&self) -> io::Result<()> {
        // SAFETY: writes of prepared buffers to files of this process.
        unsafe {
            write_file(c"/proc/self/setgroups", b"deny")?;
            write_file(c"/proc/self/uid_map", &self.id_maps.0)?;
            write_file(c"/proc/self/gid_map", &self.id_maps.1)
        }
    }

    pub(super) unsafe fn join_cgroups(&self) -> io::Result<()> {
        for fd in &self.cgroup_procs {
            let zero = b"0\n";
            // SAFETY: write of a literal to an open descriptor.
            if unsafe { libc::write(fd.as_raw_fd(), zero.as_ptr().cast(), zero.len()) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    pub(super) unsafe fn set_rlimits(&self) -> io::Result<()> {
        for limit in &self.rlimits {
            let value = libc::rlimit { rlim_cur: limit.value, rlim_max: limit.value };
            // SAFETY: setrlimit with a stack struct.
            check(unsafe { libc::setrlimit(limit.resource.raw(), &value) })?;
        }
        Ok(())
    }

    pub(super) unsafe fn mount(&self) -> io::Result<()> {
        // SAFETY: see `PreparedMounts::apply`.
        unsafe { self.mounts.apply() }
    }
}

const SECBIT_NOROOT: libc::c_ulong = 1 << 0;
const SECBIT_NOROOT_LOCKED: libc::c_ulong = 1 << 1;
const SECBIT_NO_SETUID_FIXUP: libc::c_ulong = 1 << 2;
const SECBIT_NO_SETUID_FIXUP_LOCKED: libc::c_ulong = 1 << 3;
const SECBIT_KEEP_CAPS_LOCKED: libc::c_ulong = 1 << 5;
const SECBIT_NO_CAP_AMBIENT_RAISE: libc::c_ulong = 1 << 6;
const SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED: libc::c_ulong = 1 << 7;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties every capability set: bounding, ambient, inheritable,
/// permitted, effective. As root, first locks the securebits so that
/// uid 0 gains nothing back at `exec`.
pub(super) unsafe fn drop_capabilities(last_cap: u32) -> io::Result<()> {
    // SAFETY: prctl and capset with integer arguments and stack buffers.
    unsafe {
        if libc::geteuid() == 0 {
            let bits = SECBIT_NOROOT
                | SECBIT_NOROOT_LOCKED
                | SECBIT_NO_SETUID_FIXUP
                | SECBIT_NO_SETUID_FIXUP_LOCKED
                | SECBIT_KEEP_CAPS_LOCKED
                | SECBIT_NO_CAP_AMBIENT_RAISE
                | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
            check(libc::prctl(libc::PR_SET_SECUREBITS, bits, 0, 0, 0))?;
        }
        for cap in 0..=last_cap {
            // Without CAP_SETPCAP the bounding set cannot shrink, but then
            // it grants nothing either: permitted is empty and stays so.
            let dropped = libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
            if dropped != 0 && libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) == 1 {
                let error = io::Error::last_os_error();
                let unprivileged = error.raw_os_error() == Some(libc::EPERM);
                if !unprivileged {
                    return Err(error);
                }
            }
        }
        check(libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0, 0, 0))?;
        let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
        let data = [CapData { effective: 0, permitted: 0, inheritable: 0 }; 2];
        if libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Marks every descriptor above 2 close-on-exec: only 0, 1 and 2 reach
/// the program.
pub(super) fn close_inherited_fds() -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with integer arguments.
    let result =
        unsafe { libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(super) fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}
