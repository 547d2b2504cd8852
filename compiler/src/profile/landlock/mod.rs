//! The Landlock ruleset of a policy, as plain data.
//!
//! Landlock can only grant. A path-beneath rule on a directory grants its
//! whole subtree, so a deny inside a granted tree (`ws/.git/hooks` in a
//! writable `ws`, `/etc/shadow` in a readable `/etc`) is compiled by
//! granting the denied path's siblings instead, recursively down to it. The
//! directories on the way ("carved" directories) keep only the rights that
//! cannot reach the denied path: listing for reads, nothing for writes, so
//! no new entry can be created directly in them.
//!
//! Paths are resolved against the file system the caller hands in
//! ([`FileSystem`]); the compiler itself never touches the OS.
//!
//! `types.rs` holds the ruleset's data and the file-system view,
//! `carving.rs` the walk that carves denies out of grants, `mounts.rs` the
//! mount plan used where carving is not, `paths.rs` the path helpers.

mod carving;
mod mounts;
mod paths;
mod types;

use std::collections::{BTreeMap, BTreeSet};

pub use mounts::*;
pub use paths::*;
pub use types::*;

use carving::{Denies, Grant, Walker, collapse};

use super::model::{FsLayer, Network, PathGlob, SandboxModel};

/// Compiles the ruleset of `model` against `fs`. `None` when the model
/// restricts nothing Landlock handles.
pub fn compile(
    model: &SandboxModel,
    fs: &dyn FileSystem,
    strategy: WriteDenies,
) -> Result<Option<LandlockRuleset>, LandlockError> {
    if !model.enabled {
        return Ok(None);
    }
    let mut out = LandlockRuleset {
        minimum_abi: 1,
        best_abi: 1,
        layers: Vec::new(),
        carved: Vec::new(),
        missing: Vec::new(),
        engine_only: Vec::new(),
        widened: Vec::new(),
        write_denies: strategy,
        mounts: MountPlan::default(),
    };
    let read_denies = Denies::new(&model.read_denies, model, &mut out)?;
    let write_denies = Denies::new(&model.write_denies, model, &mut out)?;
    let mut budget = WALK_BUDGET;

    // A policy that leaves reads (or writes) free still has the denies of
    // every policy to enforce: it grants everything but them. With no
    // restricting policy at all, one layer carries the denies.
    let everything = [PathGlob { glob: "/**".to_owned(), rule: "default".to_owned() }];
    let denies_only = [FsLayer { policy: "denies".to_owned(), read: None, write: None }];
    let has_denies = !model.read_denies.is_empty() || !model.write_denies.is_empty();
    let layers: &[FsLayer] = if model.layers.is_empty() && has_denies { &denies_only } else { &model.layers };
    for layer in layers {
        let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
        let mut handled = BTreeSet::new();
        let mut walker = Walker::new(fs, &mut out, &mut grants, &mut budget);
        let read = layer.read.as_deref().or((!model.read_denies.is_empty()).then_some(&everything[..]));
        let write = layer.write.as_deref().or((!model.write_denies.is_empty()).then_some(&everything[..]));
        if let Some(read) = read {
            handled.extend(READ.iter().copied());
            handled.insert(FsAccess::IoctlDev);
            walker.mounting = (strategy == WriteDenies::Mounts).then_some(MountUse::Hide);
            walker.grant_all(read, READ, CARVED_READ, &read_denies)?;
            walker.mounting = None;
            walker.essentials(ESSENTIAL_READ, READ, &read_denies);
            if !read_denies.denies(PROC_SELF) {
                walker.grant_proc("essential");
            }
        }
        if let Some(write) = write {
            handled.extend(WRITE.iter().copied());
            walker.mounting = (strategy == WriteDenies::Mounts).then_some(MountUse::ReadOnly);
            walker.grant_all(write, WRITE, &[], &write_denies)?;
            walker.mounting = None;
            walker.essentials(ESSENTIAL_WRITE, WRITE, &write_denies);
        }
        let plan = std::mem::take(&mut walker.plan);
        let rules = collapse(grants.into_iter().map(|(path, g)| g.into_rule(path, &handled)).collect());
        merge_plan(&mut out.mounts, plan);
        out.layers.push(Layer {
            policy: layer.policy.clone(),
            handled_fs: handled.into_iter().collect(),
            rules,
            connect_tcp: None,
            bind_tcp: None,
            scopes: vec!["abstract_unix_socket", "signal"],
        });
    }

    let restricts_net = matches!(model.network, Network::Tcp { every_port: false, .. } | Network::Off);
    if restricts_net {
        let connect = match &model.network {
            Network::Tcp { connect, .. } => connect.clone(),
            _ => Vec::new(),
        };
        if out.layers.is_empty() {
            out.layers.push(Layer {
                policy: "network".to_owned(),
                handled_fs: Vec::new(),
                rules: Vec::new(),
                connect_tcp: None,
                bind_tcp: None,
                scopes: vec!["abstract_unix_socket", "signal"],
            });
        }
        for layer in &mut out.layers {
            layer.connect_tcp = Some(connect.clone());
            layer.bind_tcp = Some(Vec::new());
        }
    }

    out.minimum_abi = if model.restricts_writes() { 3 } else { 1 };
    if restricts_net {
        out.minimum_abi = out.minimum_abi.max(4);
    }
    let uses_ioctl = out.layers.iter().any(|l| l.handled_fs.contains(&FsAccess::IoctlDev));
    out.best_abi = if uses_ioctl || !out.layers.is_empty() { 6 } else { out.minimum_abi };
    Ok(Some(out))
}
