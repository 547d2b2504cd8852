//! Carving: granting a denied path's siblings instead of the tree that
//! holds it, walking the file system the caller hands in.

use std::collections::{BTreeMap, BTreeSet};

use vtpolicy_engine::PathPatternSet;

use super::*;
use crate::profile::model::{PathGlob, SandboxModel};

/// Deny globs compiled for matching, each with what it can reach.
pub(super) struct Denies<'a> {
    entries: Vec<DenyGlob<'a>>,
    /// Every deny glob in one automaton, indexed like `entries`.
    set: PathPatternSet,
    agent_roots: &'a [String],
    /// The globs: with the agent roots, all that `reaching` and `denying`
    /// read.
    key: String,
}

pub(super) struct DenyGlob<'a> {
    source: &'a PathGlob,
    /// The glob's leading segments without wildcards: it can only match
    /// at or below this directory. Empty for `**/...`.
    prefix: String,
    /// The whole glob is a literal path.
    literal: bool,
}

impl<'a> Denies<'a> {
    pub(super) fn new(
        globs: &'a [PathGlob],
        model: &'a SandboxModel,
        out: &mut LandlockRuleset,
    ) -> Result<Self, LandlockError> {
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
    pub(super) fn denying(&self, path: &str) -> Option<&PathGlob> {
        self.set.first_match(path).and_then(|i| self.entries.get(i)).map(|d| d.source)
    }

    pub(super) fn denies(&self, path: &str) -> bool {
        self.denying(path).is_some()
    }

    /// The denies that could match `dir` or something below it.
    pub(super) fn reaching(&self, dir: &str) -> Vec<&DenyGlob<'a>> {
        self.entries.iter().filter(|d| self.reaches_with(d, dir)).collect()
    }

    pub(super) fn reaches_with(&self, deny: &DenyGlob<'_>, dir: &str) -> bool {
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
pub(super) type Part = (String, FileKind, Origin);

/// One path's accumulated rights while compiling a layer.
pub(super) struct Grant {
    kind: FileKind,
    access: BTreeSet<FsAccess>,
    origin: Origin,
    rules: BTreeSet<String>,
}

impl Grant {
    pub(super) fn into_rule(self, path: String, handled: &BTreeSet<FsAccess>) -> PathRule {
        let access = self
            .access
            .into_iter()
            .filter(|a| handled.contains(a))
            .filter(|a| self.kind == FileKind::Dir || a.applies_to_files())
            .collect();
        PathRule { path, kind: self.kind, access, origin: self.origin, rules: self.rules.into_iter().collect() }
    }
}

pub(super) struct Walker<'w, 'o> {
    fs: &'w dyn FileSystem,
    out: &'o mut LandlockRuleset,
    grants: &'w mut BTreeMap<String, Grant>,
    budget: &'w mut usize,
    /// Granting trees whole, their denied paths going to `plan` as this.
    pub(super) mounting: Option<MountUse>,
    pub(super) plan: MountPlan,
}

impl<'w, 'o> Walker<'w, 'o> {
    pub(super) fn new(
        fs: &'w dyn FileSystem,
        out: &'o mut LandlockRuleset,
        grants: &'w mut BTreeMap<String, Grant>,
        budget: &'w mut usize,
    ) -> Self {
        Walker { fs, out, grants, budget, mounting: None, plan: MountPlan::default() }
    }

    pub(super) fn add(&mut self, path: &str, kind: FileKind, access: &[FsAccess], origin: Origin, rule: &str) {
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

    pub(super) fn grant_all(
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
    pub(super) fn visit(
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
    pub(super) fn carve(
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
    pub(super) fn carve_below(
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

    pub(super) fn carve_note(&mut self, deny: &PathGlob, path: &str) {
        let note = Note {
            rule: deny.rule.clone(),
            path: path.to_owned(),
            why: "denied: carved out of the granted tree".to_owned(),
        };
        if !self.out.carved.contains(&note) {
            self.out.carved.push(note);
        }
    }

    pub(super) fn grant_proc(&mut self, rule: &str) {
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

    pub(super) fn essentials(&mut self, paths: &[&str], access: &[FsAccess], denies: &Denies<'_>) {
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

/// Drops rules that an ancestor's rule already covers with at least the
/// same rights (`/usr/bin` under `/usr`), keeping the ruleset small.
pub(super) fn collapse(rules: Vec<PathRule>) -> Vec<PathRule> {
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
pub(super) struct GrantRoot {
    path: String,
    tree: bool,
}

pub(super) fn grant_root(glob: &str) -> Option<GrantRoot> {
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
