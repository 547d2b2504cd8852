//! Git metadata that makes git run code or read configuration from
//! elsewhere, in every repository of the workspace: what the run's mounts
//! protect, and what the run must not have created when it ends.
//!
//! For each git directory (a `.git` directory at any depth, the target of
//! a gitfile, `modules/*` and `worktrees/*` below them) the protected
//! entries are `config`, `config.worktree`, `hooks`, `commondir` and
//! `info`; each gitfile itself; and the directory `core.hooksPath` names.
//! Those that exist are mounted read-only; those that do not are watched.
//! After the run, a watched path that exists, or a repository that was not
//! there before (unless git made it and nothing was planted in it), is
//! moved into the quarantine by the caller.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vtpolicy_compiler::profile::landlock::{FileSystem, FindQuery};

/// The git metadata of a workspace when the run starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GitMetadata {
    /// Existing metadata, to be mounted read-only.
    pub read_only: Vec<PathBuf>,
    /// Absent metadata the run must not create.
    pub watched: Vec<PathBuf>,
    /// Every `.git` entry (directory or gitfile) found.
    pub repositories: BTreeSet<PathBuf>,
}

/// The rule the kernel profiles name for git metadata.
const GIT_METADATA_RULE: &str = "git-metadata";

/// What a git directory holds that changes what git runs.
const PROTECTED: &[&str] = &["config", "config.worktree", "hooks", "commondir", "info"];

impl GitMetadata {
    /// Searches `workspace` (not following symlinks) for repositories.
    pub fn find(fs: &dyn FileSystem, workspace: &Path) -> Result<GitMetadata, String> {
        let mut out = GitMetadata::default();
        for entry in dot_git_entries(fs, workspace)? {
            out.add_repository(&entry);
        }
        Ok(out)
    }

    fn add_repository(&mut self, dot_git: &Path) {
        self.repositories.insert(dot_git.to_path_buf());
        let worktree = dot_git.parent().unwrap_or(Path::new("/"));
        let git_dir = match std::fs::symlink_metadata(dot_git) {
            Ok(meta) if meta.is_dir() => dot_git.to_path_buf(),
            Ok(meta) if meta.is_file() => {
                // A gitfile: `gitdir: PATH`. The file itself is protected,
                // so the run cannot point it elsewhere.
                self.read_only.push(dot_git.to_path_buf());
                // Canonical: mounts are planned on real paths, never on
                // `..` (which would name, and cover, an ancestor).
                match read_gitfile(dot_git).and_then(|target| std::fs::canonicalize(worktree.join(target)).ok()) {
                    Some(target) => target,
                    None => return,
                }
            }
            _ => return,
        };
        self.add_git_dir(&git_dir, worktree, 0);
    }

    fn add_git_dir(&mut self, git_dir: &Path, worktree: &Path, depth: usize) {
        if depth > 8 {
            return;
        }
        for name in PROTECTED {
            let path = git_dir.join(name);
            if path.symlink_metadata().is_ok() {
                self.read_only.push(path);
            } else {
                self.watched.push(path);
            }
        }
        if let Some(hooks) = hooks_path(&git_dir.join("config")) {
            let hooks = if hooks.is_absolute() { hooks } else { worktree.join(hooks) };
            let hooks = crate::normalize::resolve_absolute(&hooks, &[]);
            if hooks.symlink_metadata().is_ok() {
                self.read_only.push(hooks);
            } else {
                self.watched.push(hooks);
            }
        }
        for nested in ["modules", "worktrees"] {
            let Ok(entries) = std::fs::read_dir(git_dir.join(nested)) else { continue };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    // A submodule's or worktree's own git directory; its
                    // working tree is elsewhere, hooks paths are relative
                    // to it and read from its own config.
                    let sub = entry.path();
                    self.add_git_dir(&sub, &sub, depth + 1);
                }
            }
        }
        self.read_only.sort();
        self.read_only.dedup();
        self.watched.sort();
        self.watched.dedup();
    }

    /// The metadata as write denies for the kernel profiles: each path, and
    /// what lies below the directories among them (a denied directory's
    /// entries would otherwise stay writable where Landlock carves).
    pub fn write_denies(&self) -> Vec<vtpolicy_compiler::profile::model::PathGlob> {
        let mut out = Vec::new();
        for path in self.read_only.iter().chain(&self.watched) {
            let glob = vtpolicy_compiler::escape_glob(&super::fs::encode(path.as_os_str()));
            let directory = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
            let rule = || GIT_METADATA_RULE.to_owned();
            if directory {
                out.push(vtpolicy_compiler::profile::model::PathGlob { glob: format!("{glob}/**"), rule: rule() });
            }
            out.push(vtpolicy_compiler::profile::model::PathGlob { glob, rule: rule() });
        }
        out
    }

    /// Watched metadata that exists now.
    pub fn watched_created(&self) -> Vec<PathBuf> {
        self.watched.iter().filter(|p| p.symlink_metadata().is_ok()).cloned().collect()
    }

    /// Repositories that were not there before, unless git itself made
    /// them: for a worktree of a known repository, or with `git init` or
    /// `git clone` and nothing added to what runs code or reads
    /// configuration (see `fresh_repository.rs`).
    pub fn new_repositories(&self, fs: &dyn FileSystem, workspace: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        for entry in dot_git_entries(fs, workspace)? {
            if self.repositories.contains(&entry)
                || self.is_linked_worktree(&entry)
                || super::fresh_repository::made_by_git(&entry)
            {
                continue;
            }
            out.push(entry);
        }
        Ok(out)
    }

    /// A gitfile `git worktree add` writes: it points into `worktrees/` of
    /// a repository found when the run started.
    fn is_linked_worktree(&self, dot_git: &Path) -> bool {
        if !std::fs::symlink_metadata(dot_git).is_ok_and(|m| m.is_file()) {
            return false;
        }
        let Some(target) = read_gitfile(dot_git) else { return false };
        let target = dot_git.parent().unwrap_or(Path::new("/")).join(target);
        self.repositories.iter().any(|repo| target.parent().is_some_and(|parent| parent == repo.join("worktrees")))
    }
}

/// The `.git` entries below `root`, not descending into them.
fn dot_git_entries(fs: &dyn FileSystem, root: &Path) -> Result<Vec<PathBuf>, String> {
    let root = super::fs::encode(root.as_os_str());
    let found = fs.find(&root, &DotGit)?;
    Ok(found.into_iter().map(|(path, _)| super::fs::host_path(&path)).collect())
}

/// Entries named `.git`, anywhere.
struct DotGit;

impl FindQuery for DotGit {
    fn key(&self, _root: &str) -> String {
        "entries named .git".to_owned()
    }

    fn reaches(&self, _dir: &str) -> bool {
        true
    }

    fn reaches_all_below(&self, _dir: &str) -> bool {
        true
    }

    fn matches(&self, path: &str) -> bool {
        path.rsplit('/').next() == Some(".git")
    }
}

fn read_gitfile(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    (!target.is_empty()).then(|| PathBuf::from(target))
}

/// `core.hooksPath` of a git config file, if set (the last one wins, as
/// in git).
fn hooks_path(config: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(config).ok()?;
    let mut in_core = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_core = line.trim_start_matches('[').trim_start().to_ascii_lowercase().starts_with("core")
                && !line.contains('"');
            continue;
        }
        if !in_core {
            continue;
        }
        if let Some((key, value)) = line.split_once('=')
            && key.trim().eq_ignore_ascii_case("hookspath")
        {
            let value = value.trim().trim_matches('"');
            found = Some(PathBuf::from(value));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::super::fs::HostFileSystem;
    use super::*;

    #[test]
    fn finds_repositories_gitfiles_modules_worktrees_and_hooks_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(ws.join(".git/hooks")).expect("mkdir");
        std::fs::write(ws.join(".git/config"), "[core]\n\thooksPath = .husky\n").expect("write");
        std::fs::create_dir_all(ws.join(".git/modules/lib/hooks")).expect("mkdir");
        std::fs::write(ws.join(".git/modules/lib/config"), "[core]\n").expect("write");
        std::fs::create_dir_all(ws.join("lib")).expect("mkdir");
        std::fs::write(ws.join("lib/.git"), "gitdir: ../.git/modules/lib\n").expect("write");
        std::fs::create_dir_all(ws.join("vendor/dep/.git")).expect("mkdir");
        let found = GitMetadata::find(&HostFileSystem, &ws).expect("searched");
        // Gitfile targets are canonical: no `..` could name an ancestor.
        assert!(found.read_only.iter().chain(&found.watched).all(|p| !p.to_string_lossy().contains("..")), "{found:?}");
        assert!(found.read_only.contains(&ws.join(".git/config")));
        assert!(found.read_only.contains(&ws.join(".git/hooks")));
        assert!(found.watched.contains(&ws.join(".git/commondir")));
        assert!(found.watched.contains(&ws.join(".husky")), "hooksPath: {found:?}");
        assert!(found.read_only.contains(&ws.join(".git/modules/lib/config")));
        assert!(found.read_only.contains(&ws.join("lib/.git")), "gitfile");
        assert!(found.watched.contains(&ws.join("vendor/dep/.git/config")));
        assert!(found.watched_created().is_empty());
        assert!(found.new_repositories(&HostFileSystem, &ws).expect("searched").is_empty());
        std::fs::create_dir_all(ws.join("new/.git")).expect("mkdir");
        std::fs::write(ws.join(".git/commondir"), "/elsewhere\n").expect("write");
        let created = found.new_repositories(&HostFileSystem, &ws).expect("searched");
        assert_eq!(created, vec![ws.join("new/.git")]);
        assert_eq!(found.watched_created(), vec![ws.join(".git/commondir")]);
    }

    #[test]
    fn a_worktree_git_made_is_not_a_new_repository() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().canonicalize().expect("canonical");
        std::fs::create_dir_all(ws.join(".git")).expect("mkdir");
        let found = GitMetadata::find(&HostFileSystem, &ws).expect("searched");
        std::fs::create_dir_all(ws.join(".git/worktrees/wt")).expect("mkdir");
        std::fs::create_dir_all(ws.join("wt")).expect("mkdir");
        std::fs::write(ws.join("wt/.git"), format!("gitdir: {}/.git/worktrees/wt\n", ws.display())).expect("write");
        let created = found.new_repositories(&HostFileSystem, &ws).expect("searched");
        assert!(created.is_empty(), "{created:?}");
    }
}
