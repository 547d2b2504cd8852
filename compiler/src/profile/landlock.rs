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

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use vtpolicy_engine::PathPatternSet;

use super::model::{FsLayer, Network, PathGlob, SandboxModel};

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
const READ: &[FsAccess] = &[FsAccess::ReadFile, FsAccess::ReadDir, FsAccess::Execute];
/// What writing grants. Device nodes are never created.
const WRITE: &[FsAccess] = &[
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
const CARVED_READ: &[FsAccess] = &[FsAccess::ReadDir];

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

/// What a denied path found in a granted tree becomes under
/// [`WriteDenies::Mounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MountUse {
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
const ESSENTIAL_READ: &[&str] = &[
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
const ESSENTIAL_WRITE: &[&str] = &["/dev/null", "/dev/tty"];
/// `/proc/self` names whoever opens it, so a rule opened by the parent
/// would name the wrong process and each grandchild has its own: `/proc`
/// is granted as a whole, for reading.
const PROC_SELF: &str = "/proc/self";
const PROC: &str = "/proc";
const PROC_ACCESS: &[FsAccess] = &[FsAccess::ReadFile, FsAccess::ReadDir];

/// At most this many directory entries are examined while carving; what
/// lies past it is not granted rather than granted uninspected.
pub const WALK_BUDGET: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LandlockError(pub String);

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

/// Deny globs compiled for matching, each with what it can reach.
struct Denies<'a> {
    entries: Vec<DenyGlob<'a>>,
    /// Every deny glob in one automaton, indexed like `entries`.
    set: PathPatternSet,
    agent_roots: &'a [String],
    /// The globs: with the agent roots, all that `reaching` and `denying`
    /// read.
    key: String,
}

struct DenyGlob<'a> {
    source: &'a PathGlob,
    /// The glob's leading segments without wildcards: it can only match
    /// at or below this directory. Empty for `**/...`.
    prefix: String,
    /// The whole glob is a literal path.
    literal: bool,
}

impl<'a> Denies<'a> {
    fn new(globs: &'a [PathGlob], model: &'a SandboxModel, out: &mut LandlockRuleset) -> Result<Self, LandlockError> {
        let mut entries = Vec::new();
        for source in globs {
            let prefix = literal_prefix(&source.glob);
            if prefix.is_empty() || prefix == "/" {
                out.engine_only.push(Note {
                    rule: source.rule.clone(),
                    path: source.glob.clone(),
                    why: format!(
                        "matches at any depth: carved where it exists inside {} when the sandbox starts; \
                         matches created later, or inside other granted trees, are the engine's alone",
                        model.agent_roots.join(" and ")
                    ),
                });
            }
            let literal = !source.glob.contains(['*', '?', '[', '{']);
            entries.push(DenyGlob { source, prefix, literal });
        }
        let set = PathPatternSet::new(globs.iter().map(|g| g.glob.as_str()))
            .map_err(|e| LandlockError(format!("deny glob {e}")))?;
        let mut key = String::from("denies\n");
        for glob in globs {
            key.push_str(&glob.glob);
            key.push('\n');
        }
        Ok(Denies { entries, set, agent_roots: &model.agent_roots, key })
    }

    /// The first deny rule matching `path` itself.
    fn denying(&self, path: &str) -> Option<&PathGlob> {
        self.set.first_match(path).and_then(|i| self.entries.get(i)).map(|d| d.source)
    }

    fn denies(&self, path: &str) -> bool {
        self.denying(path).is_some()
    }

    /// The denies that could match `dir` or something below it.
    fn reaching(&self, dir: &str) -> Vec<&DenyGlob<'a>> {
        self.entries.iter().filter(|d| self.reaches_with(d, dir)).collect()
    }

    fn reaches_with(&self, deny: &DenyGlob<'_>, dir: &str) -> bool {
        if deny.prefix.is_empty() || deny.prefix == "/" {
            self.agent_roots.iter().any(|root| is_within(dir, root) || is_within(root, dir))
        } else {
            is_within(dir, &deny.prefix) || is_within(&deny.prefix, dir)
        }
    }
}

impl FindQuery for Denies<'_> {
    fn key(&self, root: &str) -> String {
        // Agent roots neither above nor below `root` reach nothing there
        // (the per-call temporary directory differs in every run).
        let mut key = self.key.clone();
        for agent_root in self.agent_roots.iter().filter(|r| is_within(root, r) || is_within(r, root)) {
            key.push_str("in ");
            key.push_str(agent_root);
            key.push('\n');
        }
        key
    }

    fn reaches(&self, dir: &str) -> bool {
        self.entries.iter().any(|d| self.reaches_with(d, dir))
    }

    fn reaches_all_below(&self, dir: &str) -> bool {
        // A glob matching at any depth reaches everything in an agent root.
        self.entries.iter().any(|d| d.prefix.is_empty() || d.prefix == "/")
            && self.agent_roots.iter().any(|root| is_within(dir, root))
    }

    fn matches(&self, path: &str) -> bool {
        self.denies(path)
    }
}

/// A path of a carved tree, its kind and why it is granted.
type Part = (String, FileKind, Origin);

/// One path's accumulated rights while compiling a layer.
struct Grant {
    kind: FileKind,
    access: BTreeSet<FsAccess>,
    origin: Origin,
    rules: BTreeSet<String>,
}

impl Grant {
    fn into_rule(self, path: String, handled: &BTreeSet<FsAccess>) -> PathRule {
        let access = self
            .access
            .into_iter()
            .filter(|a| handled.contains(a))
            .filter(|a| self.kind == FileKind::Dir || a.applies_to_files())
            .collect();
        PathRule { path, kind: self.kind, access, origin: self.origin, rules: self.rules.into_iter().collect() }
    }
}

struct Walker<'w, 'o> {
    fs: &'w dyn FileSystem,
    out: &'o mut LandlockRuleset,
    grants: &'w mut BTreeMap<String, Grant>,
    budget: &'w mut usize,
    /// Granting trees whole, their denied paths going to `plan` as this.
    mounting: Option<MountUse>,
    plan: MountPlan,
}

impl<'w, 'o> Walker<'w, 'o> {
    fn new(
        fs: &'w dyn FileSystem,
        out: &'o mut LandlockRuleset,
        grants: &'w mut BTreeMap<String, Grant>,
        budget: &'w mut usize,
    ) -> Self {
        Walker { fs, out, grants, budget, mounting: None, plan: MountPlan::default() }
    }

    fn add(&mut self, path: &str, kind: FileKind, access: &[FsAccess], origin: Origin, rule: &str) {
        let mut access: BTreeSet<FsAccess> = access.iter().copied().collect();
        if path.starts_with("/dev/") && kind == FileKind::CharDevice {
            // Terminal programs need ioctls on the devices they may open.
            access.insert(FsAccess::IoctlDev);
        }
        let grant = self.grants.entry(path.to_owned()).or_insert_with(|| Grant {
            kind,
            access: BTreeSet::new(),
            origin: origin.clone(),
            rules: BTreeSet::new(),
        });
        grant.access.extend(access);
        grant.rules.insert(rule.to_owned());
        // The most specific reason wins: a granted path stays "granted".
        if origin == Origin::Granted {
            grant.origin = Origin::Granted;
        }
    }

    fn grant_all(
        &mut self,
        globs: &[PathGlob],
        access: &[FsAccess],
        carved_access: &[FsAccess],
        denies: &Denies<'_>,
    ) -> Result<(), LandlockError> {
        for glob in globs {
            let Some(root) = grant_root(&glob.glob) else {
                self.out.engine_only.push(Note {
                    rule: glob.rule.clone(),
                    path: glob.glob.clone(),
                    why: "Landlock grants whole trees or single files; this pattern is neither, \
                          so the kernel does not grant it (narrower than the policy)"
                        .to_owned(),
                });
                continue;
            };
            if is_within(&root.path, PROC_SELF) {
                if access.contains(&FsAccess::ReadFile) {
                    self.grant_proc(&glob.rule);
                } else {
                    self.out.engine_only.push(Note {
                        rule: glob.rule.clone(),
                        path: glob.glob.clone(),
                        why: "only reading `/proc/self` can be granted".to_owned(),
                    });
                }
                continue;
            }
            let Some(canonical) = self.fs.canonical(&root.path) else {
                self.out.missing.push(Note {
                    rule: glob.rule.clone(),
                    path: root.path.clone(),
                    why: "does not exist: nothing to grant".to_owned(),
                });
                continue;
            };
            let Some(kind) = self.fs.kind(&canonical) else { continue };
            if !root.tree && kind == FileKind::Dir {
                self.out.engine_only.push(Note {
                    rule: glob.rule.clone(),
                    path: glob.glob.clone(),
                    why: "a directory without `/**`: Landlock would grant its whole tree, so it is not granted"
                        .to_owned(),
                });
                continue;
            }
            if let Some(deny) = denies.denying(&canonical) {
                self.carve_note(deny, &canonical);
                continue;
            }
            self.visit(&canonical, kind, access, carved_access, denies, &glob.rule)?;
        }
        Ok(())
    }

    /// Grants `path` whole when no deny reaches inside it, else carves.
    fn visit(
        &mut self,
        path: &str,
        kind: FileKind,
        access: &[FsAccess],
        carved_access: &[FsAccess],
        denies: &Denies<'_>,
        rule: &str,
    ) -> Result<(), LandlockError> {
        let creates = access.contains(&FsAccess::MakeReg);
        if let Some(mount_use) = self.mounting {
            // Only the denied paths are looked for; the tree itself is
            // granted whole and the mounts protect them. A denied
            // directory is covered whole, so nothing below it is sought.
            let found = if kind == FileKind::Dir {
                self.fs
                    .find(path, denies)
                    .map_err(|e| LandlockError(format!("cannot search `{path}` for denied paths: {e}")))?
            } else {
                Vec::new()
            };
            for (denied, _) in &found {
                if let Some(deny) = denies.denying(denied) {
                    self.carve_note(deny, denied);
                }
            }
            // A denied literal path that does not exist yet must not be
            // created: it is watched.
            let mut absent = Vec::new();
            if creates && kind == FileKind::Dir {
                for deny in denies.entries.iter().filter(|d| d.literal) {
                    let glob = &deny.source.glob;
                    if glob != path && is_within(glob, path) && self.fs.kind(glob).is_none() && !absent.contains(glob) {
                        absent.push(glob.clone());
                    }
                }
            }
            for (denied, denied_kind) in found {
                if denied_kind == FileKind::Symlink {
                    self.out.engine_only.push(Note {
                        rule: rule.to_owned(),
                        path: denied.clone(),
                        why: "a denied path that is a symlink cannot be mounted over in place".to_owned(),
                    });
                    continue;
                }
                if mount_use == MountUse::Hide {
                    self.plan.hidden.push(Hidden { path: denied, kind: denied_kind });
                    continue;
                }
                let mut ancestor = parent_of(&denied);
                while let Some(dir) = ancestor {
                    if dir == path || !is_within(dir, path) {
                        break;
                    }
                    self.plan.pinned.push(dir.to_owned());
                    ancestor = parent_of(dir);
                }
                self.plan.read_only.push(denied);
            }
            if mount_use == MountUse::ReadOnly {
                self.plan.watched.extend(absent);
            }
            self.add(path, kind, access, Origin::Granted, rule);
            return Ok(());
        }
        match self.carve(path, kind, creates, denies)? {
            None => self.add(path, kind, access, Origin::Granted, rule),
            Some(parts) => {
                for (part, kind, origin) in parts {
                    let rights = if origin == Origin::Carved { carved_access } else { access };
                    self.add(&part, kind, rights, origin, rule);
                }
            }
        }
        Ok(())
    }

    /// `None` when nothing below `path` is denied. Otherwise the rules
    /// that grant everything below it except the denied paths: `path`
    /// itself as carved, its clean children whole, and so on down.
    fn carve(
        &mut self,
        path: &str,
        kind: FileKind,
        creates: bool,
        denies: &Denies<'_>,
    ) -> Result<Option<Vec<Part>>, LandlockError> {
        self.carve_below(path, kind, creates, denies, false)
    }

    /// [`Self::carve`], where `denied` says `path` itself is denied: it
    /// gets no rule, but what lies below it and is not denied does.
    fn carve_below(
        &mut self,
        path: &str,
        kind: FileKind,
        creates: bool,
        denies: &Denies<'_>,
        denied: bool,
    ) -> Result<Option<Vec<Part>>, LandlockError> {
        if kind != FileKind::Dir {
            return Ok(if denied { Some(Vec::new()) } else { None });
        }
        let reaching = denies.reaching(path);
        if reaching.is_empty() && !denied {
            return Ok(None);
        }
        let mut dirty = denied;
        if creates {
            // A denied path that does not exist yet must not become
            // creatable: its nearest existing ancestor accepts no entries.
            for deny in reaching.iter().filter(|d| d.literal) {
                if self.fs.kind(&deny.source.glob).is_none()
                    && nearest_existing(self.fs, &deny.source.glob).as_deref() == Some(path)
                {
                    dirty = true;
                    let note = Note {
                        rule: deny.source.rule.clone(),
                        path: deny.source.glob.clone(),
                        why: format!("does not exist; `{path}` accepts no new entries so it cannot be created"),
                    };
                    if !self.out.missing.contains(&note) {
                        self.out.missing.push(note);
                    }
                }
            }
        }
        let entries = self
            .fs
            .entries_with_kinds(path)
            .map_err(|e| LandlockError(format!("cannot list `{path}` to carve denied paths: {e}")))?;
        // Carving past the budget grants nothing of the rest: a tree that
        // was not inspected is not granted, and the run goes on.
        match self.budget.checked_sub(entries.len() + 1) {
            Some(left) => *self.budget = left,
            None => {
                self.out.engine_only.push(Note {
                    rule: reaching.first().map_or_else(String::new, |d| d.source.rule.clone()),
                    path: path.to_owned(),
                    why: format!(
                        "more than {WALK_BUDGET} entries to examine while carving: not inspected, so not granted"
                    ),
                });
                return Ok(Some(Vec::new()));
            }
        }
        let mut parts = if denied { Vec::new() } else { vec![(path.to_owned(), FileKind::Dir, Origin::Carved)] };
        for (name, child_kind) in entries {
            let child = join(path, &name);
            if let Some(deny) = denies.denying(&child) {
                dirty = true;
                self.carve_note(deny, &child);
                // A denied directory's own entries may still be allowed
                // (`**/.env` names the directory, not what is inside).
                if child_kind == Some(FileKind::Dir)
                    && let Some(below) = self.carve_below(&child, FileKind::Dir, creates, denies, true)?
                {
                    parts.extend(below);
                }
                continue;
            }
            match child_kind {
                // A symlink's target is checked by Landlock under its own
                // path; granting the link would grant wherever it points.
                Some(FileKind::Symlink) | None => {}
                Some(kind) => match self.carve(&child, kind, creates, denies)? {
                    None => parts.push((child, kind, Origin::Sibling)),
                    Some(below) => {
                        dirty = true;
                        parts.extend(below);
                    }
                },
            }
        }
        Ok(dirty.then_some(parts))
    }

    fn carve_note(&mut self, deny: &PathGlob, path: &str) {
        let note = Note {
            rule: deny.rule.clone(),
            path: path.to_owned(),
            why: "denied: carved out of the granted tree".to_owned(),
        };
        if !self.out.carved.contains(&note) {
            self.out.carved.push(note);
        }
    }

    fn grant_proc(&mut self, rule: &str) {
        self.add(PROC, FileKind::Dir, PROC_ACCESS, Origin::Essential, rule);
        let note = Note {
            rule: rule.to_owned(),
            path: PROC.to_owned(),
            why: "granted for reading because `/proc/self` differs in every process: other processes' \
                  command lines and status are visible; their memory, environment and descriptors stay \
                  behind Landlock's ptrace scoping"
                .to_owned(),
        };
        if !self.out.widened.contains(&note) {
            self.out.widened.push(note);
        }
    }

    fn essentials(&mut self, paths: &[&str], access: &[FsAccess], denies: &Denies<'_>) {
        for path in paths {
            let Some(canonical) = self.fs.canonical(path) else { continue };
            if denies.denies(path) || denies.denies(&canonical) {
                continue;
            }
            if let Some(kind) = self.fs.kind(&canonical) {
                self.add(&canonical, kind, access, Origin::Essential, "essential");
            }
        }
    }
}

/// Adds one layer's plan to the ruleset's, sorted with parents first (a
/// parent mounted after its child would hide the child's mount).
fn merge_plan(into: &mut MountPlan, plan: MountPlan) {
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

/// Drops rules that an ancestor's rule already covers with at least the
/// same rights (`/usr/bin` under `/usr`), keeping the ruleset small.
fn collapse(rules: Vec<PathRule>) -> Vec<PathRule> {
    let covering: BTreeMap<String, BTreeSet<FsAccess>> = rules
        .iter()
        .filter(|r| r.kind == FileKind::Dir && r.origin != Origin::Carved)
        .map(|r| (r.path.clone(), r.access.iter().copied().collect()))
        .collect();
    rules
        .into_iter()
        .filter(|rule| {
            let mut ancestor = parent_of(&rule.path);
            while let Some(dir) = ancestor {
                if let Some(rights) = covering.get(dir)
                    && rule.access.iter().all(|a| rights.contains(a))
                {
                    return false;
                }
                ancestor = if dir == "/" { None } else { parent_of(dir) };
            }
            true
        })
        .collect()
}

/// What Landlock can grant for an allow glob: a tree (`dir/**`) or a single
/// literal path. `None` for anything else.
struct GrantRoot {
    path: String,
    tree: bool,
}

fn grant_root(glob: &str) -> Option<GrantRoot> {
    let (path, tree) = match glob.strip_suffix("/**") {
        Some(dir) => (if dir.is_empty() { "/" } else { dir }, true),
        None if glob == "/**" => ("/", true),
        None => (glob, false),
    };
    if path.contains(['*', '?', '[', '{', '\\']) {
        return None;
    }
    Some(GrantRoot { path: path.to_owned(), tree })
}

/// The leading directory of `glob` that holds no wildcard.
fn literal_prefix(glob: &str) -> String {
    let mut prefix = String::new();
    if !glob.starts_with('/') {
        return prefix;
    }
    for segment in glob.split('/').skip(1) {
        if segment.contains(['*', '?', '[', '{', '\\']) {
            break;
        }
        prefix.push('/');
        prefix.push_str(segment);
    }
    if prefix.is_empty() && glob.starts_with('/') && !glob.starts_with("/**") && !glob.starts_with("/*") {
        prefix.push('/');
    }
    prefix
}

/// `path` equals `dir` or lies below it.
pub(crate) fn is_within(path: &str, dir: &str) -> bool {
    if dir == "/" {
        return path.starts_with('/');
    }
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    let (parent, _) = path.rsplit_once('/')?;
    Some(if parent.is_empty() { "/" } else { parent })
}

/// The closest ancestor of `path` (itself included) that exists.
fn nearest_existing(fs: &dyn FileSystem, path: &str) -> Option<String> {
    let mut current = path;
    loop {
        if fs.kind(current).is_some() {
            return Some(current.to_owned());
        }
        current = parent_of(current)?;
        if current == "/" {
            return Some("/".to_owned());
        }
    }
}

/// `name` in directory `dir`, as the compiler spells paths.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") }
}
