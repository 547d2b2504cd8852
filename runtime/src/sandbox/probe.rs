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

/// Whether each PID namespace has its own `pid_max` (Linux 6.14 on), which
/// caps the processes of a run without a cgroup. On older kernels the
/// sysctl is global: writing it from a run's namespace as root would set it
/// for the whole machine, so this is decided by the kernel's version.
pub(super) fn per_namespace_pid_max() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    kernel_at_least(release.trim(), (6, 14))
}

/// Whether a kernel release (`6.18.44-generic`) is at least `major.minor`.
fn kernel_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut numbers = release.split(['.', '-', '+']).map(|n| n.parse::<u32>().ok());
    match (numbers.next().flatten(), numbers.next().flatten()) {
        (Some(found_major), Some(found_minor)) => (found_major, found_minor) >= (major, minor),
        _ => false,
    }
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
    /// Each PID namespace has its own `pid_max` ([`per_namespace_pid_max`]).
    pub per_namespace_pid_max: bool,
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
            per_namespace_pid_max: per_namespace_pid_max(),
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

#[cfg(test)]
mod tests {
    use super::kernel_at_least;

    #[test]
    fn kernel_releases_compare_by_major_and_minor() {
        assert!(kernel_at_least("6.18.44-fc-v857", (6, 14)));
        assert!(kernel_at_least("6.14.0", (6, 14)));
        assert!(kernel_at_least("7.0.1", (6, 14)));
        assert!(!kernel_at_least("6.13.12-arch1-1", (6, 14)));
        assert!(!kernel_at_least("5.15.0-105-generic", (6, 14)));
        assert!(!kernel_at_least("garbage", (6, 14)));
        assert!(!kernel_at_least("6", (6, 14)));
    }
}
