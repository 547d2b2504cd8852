//! What this kernel can enforce.

#![allow(unsafe_code)]

use serde::Serialize;

const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The Landlock ABI of the running kernel; 0 when Landlock is missing or
/// disabled.
pub fn landlock_abi() -> u8 {
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag
    // the syscall reads no memory and only returns the ABI or an error.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u8::try_from(version).unwrap_or(0)
}

/// The sandboxing facilities of this machine.
#[derive(Debug, Clone, Serialize)]
pub struct KernelSupport {
    pub landlock_abi: u8,
    /// `Seccomp:` mode of this process and whether filters can be added.
    pub seccomp: bool,
    pub root: bool,
    /// The kernel allows user namespaces (`user.max_user_namespaces` > 0).
    pub user_namespaces: bool,
    /// How `run` gets its private namespaces here.
    pub mounts: MountSupport,
}

impl KernelSupport {
    pub fn detect() -> KernelSupport {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let seccomp = status.lines().any(|l| l.starts_with("Seccomp:"));
        let user_namespaces = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0);
        KernelSupport {
            landlock_abi: landlock_abi(),
            seccomp,
            root: nix::unistd::geteuid().is_root(),
            user_namespaces,
            mounts: MountSupport::detect(),
        }
    }
}

/// Whether `run` can give the child a private mount namespace: as root
/// directly, otherwise through an unprivileged user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountSupport {
    /// Started as root: a mount namespace needs no user namespace.
    Root,
    /// Unprivileged user namespaces are allowed.
    UserNamespace,
    /// Neither: write denies fall back to Landlock carving.
    Unavailable,
}

impl MountSupport {
    pub fn detect() -> MountSupport {
        if nix::unistd::geteuid().is_root() {
            return MountSupport::Root;
        }
        let read = |path: &str| std::fs::read_to_string(path).ok().map(|t| t.trim().to_owned());
        let max = read("/proc/sys/user/max_user_namespaces").and_then(|t| t.parse::<u64>().ok()).unwrap_or(0);
        let debian_switch = read("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|t| t != "0");
        let apparmor = read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").is_none_or(|t| t != "1");
        if max > 0 && debian_switch && apparmor { MountSupport::UserNamespace } else { MountSupport::Unavailable }
    }

    pub fn available(self) -> bool {
        self != MountSupport::Unavailable
    }
}
