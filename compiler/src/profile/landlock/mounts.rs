//! The mount plan: what `run` hides or makes read-only in its mount
//! namespace where Landlock cannot carve.

use serde::Serialize;

use super::*;

/// What a denied path found in a granted tree becomes under
/// [`WriteDenies::Mounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MountUse {
    /// Write-denied: mounted read-only.
    ReadOnly,
    /// Read-denied: covered by an empty, unreadable mount.
    Hide,
}

/// A read-denied path covered in the child's mount namespace: a file by
/// `/dev/null`, a directory by an empty read-only tmpfs with mode 000.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hidden {
    pub path: String,
    pub kind: FileKind,
}

/// The mount plan of [`WriteDenies::Mounts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MountPlan {
    /// Existing write-denied paths, bind-mounted read-only.
    pub read_only: Vec<String>,
    /// Existing read-denied paths inside readable trees, covered.
    pub hidden: Vec<Hidden>,
    /// Directories between a writable root and a read-only path,
    /// bind-mounted onto themselves so they cannot be renamed away.
    pub pinned: Vec<String>,
    /// Write-denied paths that do not exist yet: if the run creates one,
    /// the runtime moves it aside when the run ends.
    pub watched: Vec<String>,
}

/// Adds one layer's plan to the ruleset's, sorted with parents first (a
/// parent mounted after its child would hide the child's mount).
pub(super) fn merge_plan(into: &mut MountPlan, plan: MountPlan) {
    for (list, more) in
        [(&mut into.read_only, plan.read_only), (&mut into.pinned, plan.pinned), (&mut into.watched, plan.watched)]
    {
        list.extend(more);
        list.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        list.dedup();
    }
    into.hidden.extend(plan.hidden);
    into.hidden.sort_by(|a, b| a.path.len().cmp(&b.path.len()).then(a.path.cmp(&b.path)));
    into.hidden.dedup();
    // A hidden path is covered once, by its outermost hidden ancestor; it
    // is neither read-only nor pinned (its cover is unwritable already).
    let hidden: Vec<String> = into.hidden.iter().map(|h| h.path.clone()).collect();
    into.hidden.retain(|h| !hidden.iter().any(|outer| *outer != h.path && is_within(&h.path, outer)));
    into.read_only.retain(|p| !hidden.iter().any(|outer| is_within(p, outer)));
    into.pinned.retain(|p| !hidden.iter().any(|outer| is_within(p, outer)));
    // A read-only path is never also pinned, nor below another read-only
    // path (the outer mount covers it).
    let read_only = into.read_only.clone();
    into.read_only.retain(|p| !read_only.iter().any(|outer| outer != p && is_within(p, outer)));
    let read_only = into.read_only.clone();
    into.pinned.retain(|p| !read_only.iter().any(|ro| is_within(p, ro)));
}
