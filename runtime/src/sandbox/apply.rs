//! Applying compiled profiles to a child process.
//!
//! Kernel objects are made in the parent ([`Prepared::new`]): the Landlock
//! rulesets with their path file descriptors, and the seccomp program. The
//! child, between `fork` and `exec`, only makes the restricting syscalls,
//! so it allocates nothing and cannot wait on a lock another thread held.

#![allow(unsafe_code)]

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

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

/// Profiles turned into kernel objects, to be applied by one child.
pub struct Prepared {
    layers: Vec<ReadyLayer>,
    seccomp: Option<Vec<seccompiler::sock_filter>>,
    pub enforcement: Enforcement,
}

impl Prepared {
    /// Creates the rulesets and the filter. Refuses when the kernel's
    /// Landlock ABI is below the ruleset's minimum.
    pub fn new(landlock: Option<&LandlockRuleset>, seccomp: Option<&SeccompProgram>) -> Result<Prepared, SandboxError> {
        let abi = landlock_abi();
        let mut enforcement = Enforcement {
            landlock_abi: abi,
            landlock_layers: 0,
            landlock_rules: 0,
            partial: Vec::new(),
            seccomp_instructions: 0,
        };
        let mut layers = Vec::new();
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
                layers.push(prepare_layer(layer, abi, &mut enforcement)?);
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
        Ok(Prepared { layers, seccomp, enforcement })
    }

    /// Restricts the calling process. Runs in the child between `fork` and
    /// `exec`.
    pub(super) fn apply(self) -> io::Result<()> {
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

/// Spawns `command` with `prepared` applied between `fork` and `exec`. Any
/// failure to restrict makes the spawn fail: nothing runs unsandboxed.
pub fn spawn(command: &mut Command, prepared: Prepared) -> io::Result<Child> {
    let mut slot = Some(prepared);
    let hook = move || match slot.take() {
        Some(prepared) => prepared.apply(),
        None => Err(io::Error::other("sandbox applied twice")),
    };
    // SAFETY: the hook runs in the forked child. It only makes syscalls
    // (prctl, landlock_restrict_self, seccomp) on objects made in the
    // parent, and closes their descriptors.
    unsafe { command.pre_exec(hook) };
    command.spawn()
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
        let fd = match PathFd::new(&rule.path) {
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
