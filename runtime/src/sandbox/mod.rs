//! The kernel sandbox: compiling a policy's profiles against this machine
//! and applying them to a child process.
//!
//! [`KernelProfiles::compile`] resolves the Landlock ruleset against the
//! live file system and builds the seccomp program; [`Sandbox`] assembles
//! everything a run needs around them (environment, limits, cgroups, the
//! private namespaces) and spawns the one process tree (`tree.rs`) in which
//! they are applied. Every failure refuses to run.

mod apply;
mod assemble;
mod cgroup;
mod child;
mod egress;
mod fresh_repository;
mod fs;
mod git;
mod git_config;
mod notify;
mod probe;
pub mod procfs;
mod supervise;
mod tree;
mod walk_cache;

pub use apply::{Enforcement, Prepared, SandboxError};
pub use assemble::{Created, Enforced, ExpectedRun, Leftover, Leftovers, MountView, RunPlace, Sandbox};
pub use cgroup::{CgroupSupport, RunCgroups};
pub use child::{Resource, Rlimit};
pub(crate) use egress::internal_host;
pub use egress::{Connection, EgressJudge, PROXY_PORT, Verdict};
pub use fs::HostFileSystem;
pub use git::GitMetadata;
pub use notify::{SocketDecision, SocketJudge};
pub use probe::{KernelSupport, MountSupport, landlock_abi};
pub use supervise::{Outcome, Running, Status};
pub use walk_cache::WalkCache;

use vtpolicy_compiler::profile::fidelity::{self, Artifacts, FidelityReport};
use vtpolicy_compiler::profile::landlock::{self, FileSystem, LandlockRuleset, WriteDenies};
use vtpolicy_compiler::profile::model::{PathGlob, SandboxModel};
use vtpolicy_compiler::profile::seatbelt::{self, SeatbeltProfile};
use vtpolicy_compiler::profile::seccomp::{self, Arch, SeccompProgram};
use vtpolicy_compiler::{CompiledPolicy, Context};

/// Every kernel artifact of a set of policies, compiled for this machine.
#[derive(Debug)]
pub struct KernelProfiles {
    pub model: SandboxModel,
    pub landlock: Option<LandlockRuleset>,
    pub seccomp: Option<SeccompProgram>,
    pub seatbelt: Option<SeatbeltProfile>,
    /// How `run` gets a private mount namespace on this machine.
    pub mounts: MountSupport,
}

/// Why a kernel profile could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("landlock: {0}")]
    Landlock(#[from] vtpolicy_compiler::profile::landlock::LandlockError),
    #[error("seccomp: {0}")]
    Seccomp(#[from] vtpolicy_compiler::profile::seccomp::SeccompError),
    #[error("seccomp: this architecture is not supported")]
    UnsupportedArchitecture,
    #[error("seatbelt: {0}")]
    Seatbelt(#[from] vtpolicy_compiler::profile::seatbelt::SeatbeltError),
}

fn strategy_for(mounts: MountSupport) -> WriteDenies {
    if mounts.available() { WriteDenies::Mounts } else { WriteDenies::Carve }
}

impl KernelProfiles {
    /// Every artifact, for this machine: write denies are enforced with
    /// mounts where `run` can make a private mount namespace.
    pub fn compile(policies: &[&CompiledPolicy], context: &Context) -> Result<KernelProfiles, ProfileError> {
        let mounts = MountSupport::detect();
        KernelProfiles::build(policies, context, mounts, strategy_for(mounts), true)
    }

    /// Every artifact, with write denies enforced as `strategy` says.
    pub fn compile_with(
        policies: &[&CompiledPolicy],
        context: &Context,
        strategy: WriteDenies,
    ) -> Result<KernelProfiles, ProfileError> {
        KernelProfiles::build(policies, context, MountSupport::detect(), strategy, true)
    }

    /// What `run` applies on this machine: Landlock and seccomp, no
    /// Seatbelt profile. `extra_write_denies` join the policies' own (the
    /// run's git metadata), enforced as they are: mounted read-only,
    /// watched when absent, or carved. `fs` is the file system searched
    /// for denied paths (a [`WalkCache`] remembers its searches).
    pub fn for_run(
        policies: &[&CompiledPolicy],
        context: &Context,
        extra_write_denies: &[PathGlob],
        fs: &dyn FileSystem,
    ) -> Result<KernelProfiles, ProfileError> {
        let mounts = MountSupport::detect();
        KernelProfiles::build_with(policies, context, mounts, strategy_for(mounts), false, extra_write_denies, fs)
    }

    /// What `run` would apply on a machine where no mount namespace can be
    /// made: Landlock carving, no private namespaces.
    pub fn for_run_without_namespaces(
        policies: &[&CompiledPolicy],
        context: &Context,
        extra_write_denies: &[PathGlob],
        fs: &dyn FileSystem,
    ) -> Result<KernelProfiles, ProfileError> {
        KernelProfiles::build_with(
            policies,
            context,
            MountSupport::Unavailable,
            WriteDenies::Carve,
            false,
            extra_write_denies,
            fs,
        )
    }

    fn build(
        policies: &[&CompiledPolicy],
        context: &Context,
        mounts: MountSupport,
        strategy: WriteDenies,
        seatbelt: bool,
    ) -> Result<KernelProfiles, ProfileError> {
        KernelProfiles::build_with(policies, context, mounts, strategy, seatbelt, &[], &HostFileSystem)
    }

    fn build_with(
        policies: &[&CompiledPolicy],
        context: &Context,
        mounts: MountSupport,
        strategy: WriteDenies,
        seatbelt: bool,
        extra_write_denies: &[PathGlob],
        fs: &dyn FileSystem,
    ) -> Result<KernelProfiles, ProfileError> {
        let mut model = SandboxModel::new(policies, context);
        if model.enabled {
            model.write_denies.extend_from_slice(extra_write_denies);
        }
        let landlock = landlock::compile(&model, fs, strategy)?;
        let arch = Arch::host().ok_or(ProfileError::UnsupportedArchitecture)?;
        let seccomp = seccomp::compile(&model, arch)?;
        let seatbelt = if seatbelt { seatbelt::compile(&model)? } else { None };
        Ok(KernelProfiles { model, landlock, seccomp, seatbelt, mounts })
    }

    /// The fidelity report against the Landlock ABI of this kernel.
    pub fn report(&self, policies: &[&CompiledPolicy]) -> FidelityReport {
        let proxy = if self.mounts.available() {
            fidelity::EgressProxy::Namespace
        } else if self.landlock.as_ref().is_some_and(|r| r.layers.iter().any(|l| l.connect_tcp.is_some())) {
            fidelity::EgressProxy::HostPort
        } else {
            fidelity::EgressProxy::Unavailable
        };
        let artifacts = Artifacts {
            proxy,
            model: &self.model,
            landlock: self.landlock.as_ref(),
            seccomp: self.seccomp.as_ref(),
            seatbelt: self.seatbelt.as_ref(),
        };
        fidelity::report(policies, &artifacts, landlock_abi())
    }
}
