//! The ruleset's data: access rights, rules, layers, notes, the file-system
//! view the compiler resolves paths through.

use serde::Serialize;

use super::*;

/// A Landlock filesystem access right, with the ABI that introduced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FsAccess {
    Execute,
    WriteFile,
    ReadFile,
    ReadDir,
    RemoveDir,
    RemoveFile,
    MakeChar,
    MakeDir,
    MakeReg,
    MakeSock,
    MakeFifo,
    MakeBlock,
    MakeSym,
    Refer,
    Truncate,
    IoctlDev,
}

impl FsAccess {
    pub const ALL: [FsAccess; 16] = [
        FsAccess::Execute,
        FsAccess::WriteFile,
        FsAccess::ReadFile,
        FsAccess::ReadDir,
        FsAccess::RemoveDir,
        FsAccess::RemoveFile,
        FsAccess::MakeChar,
        FsAccess::MakeDir,
        FsAccess::MakeReg,
        FsAccess::MakeSock,
        FsAccess::MakeFifo,
        FsAccess::MakeBlock,
        FsAccess::MakeSym,
        FsAccess::Refer,
        FsAccess::Truncate,
        FsAccess::IoctlDev,
    ];

    pub fn abi(self) -> u8 {
        match self {
            FsAccess::Refer => 2,
            FsAccess::Truncate => 3,
            FsAccess::IoctlDev => 5,
            _ => 1,
        }
    }

    /// Rights that mean something on a file (the rest only on directories).
    pub fn applies_to_files(self) -> bool {
        matches!(
            self,
            FsAccess::Execute | FsAccess::WriteFile | FsAccess::ReadFile | FsAccess::Truncate | FsAccess::IoctlDev
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FsAccess::Execute => "execute",
            FsAccess::WriteFile => "write_file",
            FsAccess::ReadFile => "read_file",
            FsAccess::ReadDir => "read_dir",
            FsAccess::RemoveDir => "remove_dir",
            FsAccess::RemoveFile => "remove_file",
            FsAccess::MakeChar => "make_char",
            FsAccess::MakeDir => "make_dir",
            FsAccess::MakeReg => "make_reg",
            FsAccess::MakeSock => "make_sock",
            FsAccess::MakeFifo => "make_fifo",
            FsAccess::MakeBlock => "make_block",
            FsAccess::MakeSym => "make_sym",
            FsAccess::Refer => "refer",
            FsAccess::Truncate => "truncate",
            FsAccess::IoctlDev => "ioctl_dev",
        }
    }
}

/// What reading grants: files, listings and running programs.
pub(super) const READ: &[FsAccess] = &[FsAccess::ReadFile, FsAccess::ReadDir, FsAccess::Execute];

/// What writing grants. Device nodes are never created.
pub(super) const WRITE: &[FsAccess] = &[
    FsAccess::WriteFile,
    FsAccess::Truncate,
    FsAccess::RemoveDir,
    FsAccess::RemoveFile,
    FsAccess::MakeDir,
    FsAccess::MakeReg,
    FsAccess::MakeSock,
    FsAccess::MakeFifo,
    FsAccess::MakeSym,
    FsAccess::Refer,
];

/// Rights a carved directory keeps: they cannot reach a denied file's
/// contents or create anything.
pub(super) const CARVED_READ: &[FsAccess] = &[FsAccess::ReadDir];

/// The kind of a file system entry, not following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Dir,
    File,
    CharDevice,
    Symlink,
    Other,
}

/// The file system as the compiler may see it. The runtime passes the
/// real one; tests pass temporary trees.
pub trait FileSystem {
    /// The kind of `path`, not following a final symlink; `None` if absent.
    fn kind(&self, path: &str) -> Option<FileKind>;
    /// The names of the entries of directory `path`, sorted.
    fn entries(&self, path: &str) -> Result<Vec<String>, String>;
    /// The entries of directory `path` with their kinds, sorted by name.
    /// The host answers from the directory listing itself, without a
    /// `stat` per entry.
    fn entries_with_kinds(&self, path: &str) -> Result<Vec<(String, Option<FileKind>)>, String> {
        Ok(self.entries(path)?.into_iter().map(|name| (name.clone(), self.kind(&join(path, &name)))).collect())
    }
    /// `path` with every symlink resolved; `None` if it does not exist.
    fn canonical(&self, path: &str) -> Option<String>;
    /// The entries strictly below directory `root` that `query` matches,
    /// with their kinds, sorted. Descends only into directories the query
    /// reaches and does not match itself, never through a symlink. An
    /// implementation may remember answers under [`FindQuery::key`], across
    /// calls and across runs, as long as it notices every change.
    fn find(&self, root: &str, query: &dyn FindQuery) -> Result<Vec<(String, FileKind)>, String> {
        find_by_walking(self, root, query)
    }
}

/// What [`FileSystem::find`] looks for.
pub trait FindQuery {
    /// Names the query below `root`: two queries with one key there
    /// answer alike at and below it.
    fn key(&self, root: &str) -> String;
    /// Whether a match could lie below directory `dir`.
    fn reaches(&self, dir: &str) -> bool;
    /// Whether [`FindQuery::reaches`] holds for `dir` and every directory
    /// below it, so a search need not ask.
    fn reaches_all_below(&self, _dir: &str) -> bool {
        false
    }
    /// Whether `path` is a match.
    fn matches(&self, path: &str) -> bool;
}

/// [`FileSystem::find`] by listing every directory it descends into.
pub fn find_by_walking<F: FileSystem + ?Sized>(
    fs: &F,
    root: &str,
    query: &dyn FindQuery,
) -> Result<Vec<(String, FileKind)>, String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        if !query.reaches(&dir) {
            continue;
        }
        for (name, kind) in fs.entries_with_kinds(&dir)? {
            let path = join(&dir, &name);
            match kind {
                Some(kind) if query.matches(&path) => found.push((path, kind)),
                Some(FileKind::Dir) => pending.push(path),
                _ => {}
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found)
}

/// Why a rule is in the ruleset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A path an allow rule grants as a whole.
    Granted,
    /// A sibling granted instead of a tree that holds a denied path.
    Sibling,
    /// A directory on the way to a denied path: keeps only listing rights.
    Carved,
    /// Needed by every process to start.
    Essential,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathRule {
    /// Canonical path the rule is opened on.
    pub path: String,
    pub kind: FileKind,
    pub access: Vec<FsAccess>,
    pub origin: Origin,
    /// The allow rules (or `essential`) that grant it.
    pub rules: Vec<String>,
}

/// One Landlock layer: the grants of one policy. Layers stack, so a path
/// is reachable only when every layer grants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layer {
    pub policy: String,
    /// The rights this layer restricts, each usable from its ABI on.
    pub handled_fs: Vec<FsAccess>,
    pub rules: Vec<PathRule>,
    /// TCP ports, restricted from ABI 4; `None` when the layer does not
    /// restrict that direction.
    pub connect_tcp: Option<Vec<(u16, u16)>>,
    pub bind_tcp: Option<Vec<(u16, u16)>>,
    /// Abstract unix sockets and signals across the sandbox boundary
    /// (ABI 6).
    pub scopes: Vec<&'static str>,
}

/// A path the policy names that Landlock does not or cannot enforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub rule: String,
    pub path: String,
    pub why: String,
}

/// How write denies inside writable trees are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteDenies {
    /// Landlock alone: grant the siblings of denied paths. Directories on
    /// the way accept no new entries.
    Carve,
    /// The runtime gives the child a private mount namespace in which
    /// write-denied paths that exist are bind-mounted read-only, the
    /// directories leading to them are pinned (a mount point cannot be
    /// renamed or removed), and read-denied paths are covered by empty
    /// unreadable mounts, so Landlock can grant trees whole.
    Mounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LandlockRuleset {
    /// Below this ABI the policy's guarantees do not hold: `run` refuses.
    pub minimum_abi: u8,
    /// The ABI that enforces everything this ruleset describes.
    pub best_abi: u8,
    pub layers: Vec<Layer>,
    /// Denied paths found inside granted trees: carved out of them, or
    /// covered by the mount plan.
    pub carved: Vec<Note>,
    /// Paths a rule names that do not exist here.
    pub missing: Vec<Note>,
    /// Rules Landlock cannot express; the engine alone enforces them.
    pub engine_only: Vec<Note>,
    /// Paths granted beyond what the policy allows, and why.
    pub widened: Vec<Note>,
    pub write_denies: WriteDenies,
    /// With [`WriteDenies::Mounts`]: what the runtime mounts.
    pub mounts: MountPlan,
}

impl LandlockRuleset {
    pub fn rule_count(&self) -> usize {
        self.layers.iter().map(|l| l.rules.len()).sum()
    }
}

/// Paths every process needs to start, granted even when no rule names
/// them (unless a deny does). Absent ones are skipped.
pub(super) const ESSENTIAL_READ: &[&str] = &[
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/etc/ld.so.cache",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
    "/dev/tty",
];

pub(super) const ESSENTIAL_WRITE: &[&str] = &["/dev/null", "/dev/tty"];

/// `/proc/self` names whoever opens it, so a rule opened by the parent
/// would name the wrong process and each grandchild has its own: `/proc`
/// is granted as a whole, for reading.
pub(super) const PROC_SELF: &str = "/proc/self";

pub(super) const PROC: &str = "/proc";

pub(super) const PROC_ACCESS: &[FsAccess] = &[FsAccess::ReadFile, FsAccess::ReadDir];

/// At most this many directory entries are examined while carving; what
/// lies past it is not granted rather than granted uninspected.
pub const WALK_BUDGET: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LandlockError(pub String);
