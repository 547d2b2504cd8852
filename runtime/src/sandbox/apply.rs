//! Applying compiled profiles to a child process.
//!
//! Kernel objects are made in the parent ([`Prepared::new`]): the Landlock
//! rulesets with their path file descriptors, and the seccomp program. The
//! child, between `fork` and `exec`, only makes the restricting syscalls,
//! so it allocates nothing and cannot wait on a lock another thread held.

#![allow(unsafe_code)]

use std::io;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope,
};
use serde::Serialize;
use vtpolicy_compiler::profile::landlock::{FsAccess, LandlockRuleset};
use vtpolicy_compiler::profile::seccomp::SeccompProgram;

use super::probe::landlock_abi;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SandboxError(pub String);

/// What a prepared sandbox will enforce, for events and `sandbox status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    pub landlock_abi: u8,
    pub landlock_layers: usize,
    pub landlock_rules: usize,
    /// Parts of the ruleset this kernel's ABI cannot enforce.
    pub partial: Vec<String>,
    pub seccomp_instructions: usize,
}

/// One Landlock layer ready for `restrict_self`.
struct ReadyLayer {
    ruleset: RulesetCreated,
}

/// A rule on a path under `/proc`, added by the run's init once it has
/// mounted the run's own `/proc` (a rule opened on the host's `/proc`
/// would name another file system).
pub(super) struct DeferredRule {
    ruleset: std::os::fd::OwnedFd,
    path: std::ffi::CString,
    access: u64,
}

/// Profiles turned into kernel objects, to be applied by one child.
pub struct Prepared {
    layers: Vec<ReadyLayer>,
    deferred: Vec<DeferredRule>,
    seccomp: Option<Vec<seccompiler::sock_filter>>,
    pub enforcement: Enforcement,
}

impl Prepared {
    /// Creates the rulesets and the filter. Refuses when the kernel's
    /// Landlock ABI is below the ruleset's minimum.
    ///
    /// With `fresh_proc`, rules under `/proc` are left for
    /// [`Prepared::add_deferred_rules`], after the run's `/proc` is mounted.
    pub fn new(
        landlock: Option<&LandlockRuleset>,
        seccomp: Option<&SeccompProgram>,
        fresh_proc: bool,
    ) -> Result<Prepared, SandboxError> {
        let abi = landlock_abi();
        let mut enforcement = Enforcement {
            landlock_abi: abi,
            landlock_layers: 0,
            landlock_rules: 0,
            partial: Vec::new(),
            seccomp_instructions: 0,
        };
        let mut layers = Vec::new();
        let mut deferred = Vec::new();
        if let Some(ruleset) = landlock {
            if abi < ruleset.minimum_abi {
                return Err(SandboxError(format!(
                    "this kernel has Landlock ABI {abi}; the policy needs at least {}",
                    ruleset.minimum_abi
                )));
            }
            if abi < ruleset.best_abi {
                enforcement.partial.push(format!(
                    "Landlock ABI {abi} is below {}: {}",
                    ruleset.best_abi,
                    missing_features(abi)
                ));
            }
            for layer in &ruleset.layers {
                layers.push(prepare_layer(layer, abi, &mut enforcement, fresh_proc.then_some(&mut deferred))?);
            }
        }
        let seccomp = seccomp.map(|program| {
            enforcement.seccomp_instructions = program.instructions.len();
            program
                .instructions
                .iter()
                .map(|i| seccompiler::sock_filter { code: i.code, jt: i.jt, jf: i.jf, k: i.k })
                .collect()
        });
        Ok(Prepared { layers, deferred, seccomp, enforcement })
    }

    /// Adds the rules under `/proc` to their rulesets. Runs in init, after
    /// the run's `/proc` is mounted.
    pub(super) unsafe fn add_deferred_rules(&self) -> io::Result<()> {
        const LANDLOCK_RULE_PATH_BENEATH: libc::c_int = 1;
        #[repr(C, packed)]
        struct PathBeneathAttr {
            allowed_access: u64,
            parent_fd: i32,
        }
        for rule in &self.deferred {
            // SAFETY: open, landlock_add_rule and close with a C string and
            // a stack struct.
            unsafe {
                let fd = libc::open(rule.path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC);
                if fd < 0 {
                    // Absent in the run's /proc: granting less is safe.
                    continue;
                }
                let attr = PathBeneathAttr { allowed_access: rule.access, parent_fd: fd };
                let added = libc::syscall(
                    libc::SYS_landlock_add_rule,
                    std::os::fd::AsRawFd::as_raw_fd(&rule.ruleset),
                    LANDLOCK_RULE_PATH_BENEATH,
                    &attr as *const PathBeneathAttr,
                    0u32,
                );
                let error = io::Error::last_os_error();
                libc::close(fd);
                if added != 0 {
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Restricts the calling process, from the command's copy of the
    /// parent's memory.
    ///
    /// # Safety
    /// Only in the cloned command, which never returns to drop `self`.
    pub(super) unsafe fn apply_in_child(&self) -> io::Result<()> {
        // SAFETY: this process owns a copy of the parent's memory and ends
        // in exec or _exit, so the value is never dropped twice.
        let owned: Prepared = unsafe { std::ptr::read(self) };
        owned.apply()
    }

    /// Restricts the calling process.
    fn apply(self) -> io::Result<()> {
        if self.layers.is_empty() {
            nix::sys::prctl::set_no_new_privs().map_err(io::Error::from)?;
        }
        for layer in self.layers {
            let status = layer.ruleset.restrict_self().map_err(io::Error::other)?;
            if status.ruleset != RulesetStatus::FullyEnforced || !status.no_new_privs {
                return Err(io::Error::other("Landlock ruleset not fully enforced"));
            }
        }
        if let Some(program) = &self.seccomp {
            seccompiler::apply_filter(program).map_err(io::Error::other)?;
        }
        Ok(())
    }
}

fn abi_of(version: u8) -> ABI {
    ABI::from(i32::from(version))
}

fn to_landlock(access: FsAccess) -> AccessFs {
    match access {
        FsAccess::Execute => AccessFs::Execute,
        FsAccess::WriteFile => AccessFs::WriteFile,
        FsAccess::ReadFile => AccessFs::ReadFile,
        FsAccess::ReadDir => AccessFs::ReadDir,
        FsAccess::RemoveDir => AccessFs::RemoveDir,
        FsAccess::RemoveFile => AccessFs::RemoveFile,
        FsAccess::MakeChar => AccessFs::MakeChar,
        FsAccess::MakeDir => AccessFs::MakeDir,
        FsAccess::MakeReg => AccessFs::MakeReg,
        FsAccess::MakeSock => AccessFs::MakeSock,
        FsAccess::MakeFifo => AccessFs::MakeFifo,
        FsAccess::MakeBlock => AccessFs::MakeBlock,
        FsAccess::MakeSym => AccessFs::MakeSym,
        FsAccess::Refer => AccessFs::Refer,
        FsAccess::Truncate => AccessFs::Truncate,
        FsAccess::IoctlDev => AccessFs::IoctlDev,
    }
}

fn flags(access: &[FsAccess], abi: u8) -> BitFlags<AccessFs> {
    access.iter().filter(|a| a.abi() <= abi).map(|a| to_landlock(*a)).collect()
}

fn prepare_layer(
    layer: &vtpolicy_compiler::profile::landlock::Layer,
    abi: u8,
    enforcement: &mut Enforcement,
    mut deferred: Option<&mut Vec<DeferredRule>>,
) -> Result<ReadyLayer, SandboxError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| SandboxError(format!("Landlock {what}: {e}"));
    let handled = flags(&layer.handled_fs, abi);
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::HardRequirement);
    if !handled.is_empty() {
        ruleset = ruleset.handle_access(handled).map_err(|e| fail("filesystem access", &e))?;
    }
    let restricts_net = layer.connect_tcp.is_some() || layer.bind_tcp.is_some();
    if restricts_net && abi >= 4 {
        ruleset = ruleset.handle_access(AccessNet::from_all(abi_of(4))).map_err(|e| fail("network access", &e))?;
    }
    if abi >= 6 && !layer.scopes.is_empty() {
        ruleset = ruleset.scope(Scope::AbstractUnixSocket | Scope::Signal).map_err(|e| fail("scopes", &e))?;
    }
    let mut created = ruleset.create().map_err(|e| fail("ruleset", &e))?;
    for rule in &layer.rules {
        let access = flags(&rule.access, abi) & handled;
        if access.is_empty() {
            continue;
        }
        if let Some(deferred) = deferred.as_deref_mut()
            && (rule.path == "/proc" || rule.path.starts_with("/proc/"))
        {
            let clone = created.try_clone().map_err(|e| fail("ruleset", &e))?;
            let Some(ruleset) = Option::<std::os::fd::OwnedFd>::from(clone) else { continue };
            let path = std::ffi::CString::new(super::fs::host_path(&rule.path).into_os_string().into_encoded_bytes())
                .map_err(|e| fail("rule", &e))?;
            deferred.push(DeferredRule { ruleset, path, access: access.bits() });
            enforcement.landlock_rules += 1;
            continue;
        }
        let fd = match PathFd::new(super::fs::host_path(&rule.path)) {
            Ok(fd) => fd,
            // Gone since compiling: granting less is safe.
            Err(_) => continue,
        };
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| fail(&format!("rule on `{}`", rule.path), &e))?;
        enforcement.landlock_rules += 1;
    }
    if restricts_net && abi >= 4 {
        for &(lo, hi) in layer.connect_tcp.iter().flatten() {
            for port in lo..=hi {
                created = created
                    .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
                    .map_err(|e| fail("TCP port rule", &e))?;
                enforcement.landlock_rules += 1;
            }
        }
        for &(lo, hi) in layer.bind_tcp.iter().flatten() {
            for port in lo..=hi {
                created =
                    created.add_rule(NetPort::new(port, AccessNet::BindTcp)).map_err(|e| fail("TCP port rule", &e))?;
                enforcement.landlock_rules += 1;
            }
        }
    }
    enforcement.landlock_layers += 1;
    Ok(ReadyLayer { ruleset: created })
}

fn missing_features(abi: u8) -> &'static str {
    match abi {
        0..=3 => "no TCP port rules, device ioctls or scoping of signals and abstract unix sockets",
        4 => "no device ioctl rules or scoping of signals and abstract unix sockets",
        _ => "no scoping of signals and abstract unix sockets",
    }
}
