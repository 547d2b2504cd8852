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
}

impl KernelSupport {
    pub fn detect() -> KernelSupport {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let seccomp = status.lines().any(|l| l.starts_with("Seccomp:"));
        KernelSupport { landlock_abi: landlock_abi(), seccomp, root: nix::unistd::geteuid().is_root() }
    }
}
