//! Whether a repository the run created holds only what `git init` or
//! `git clone` write into its metadata, so that it can stay where it is.
//!
//! A repository that did not exist when the run started has no read-only
//! mounts over its hooks and configuration: the command could have planted
//! a hook or a `core.fsmonitor` that runs later, outside the sandbox. Such
//! a repository is moved to the quarantine when the run ends, unless its
//! metadata is exactly what git itself makes:
//!
//! - `hooks/` absent or holding only regular files named `*.sample` (git
//!   never runs those);
//! - `info/` absent or holding only a regular `exclude`;
//! - no `commondir`, `config.worktree`, `modules/` or `worktrees/`;
//! - no interactive rebase left stopped with commands to run (`exec`);
//! - `config` a regular file whose every key, read as git reads the file
//!   (`git_config.rs`; an include is a key like any other, and not one
//!   git writes), is one that `git init`, `git clone` or setting an
//!   identity writes, and no remote's URL names a remote helper
//!   (`helper::address`).
//!
//! Anything else, or any doubt (a file git would refuse, a file too large,
//! an entry that is a symlink), keeps the quarantine.

use std::path::Path;

/// The configuration keys a repository made by git holds: `section.key`,
/// with `*` for a subsection of any name.
const KEYS: &[&str] = &[
    "core.repositoryformatversion",
    "core.filemode",
    "core.bare",
    "core.logallrefupdates",
    "core.symlinks",
    "core.ignorecase",
    "core.precomposeunicode",
    "extensions.objectformat",
    "remote.*.url",
    "remote.*.fetch",
    "branch.*.remote",
    "branch.*.merge",
    "user.name",
    "user.email",
];

/// A config larger than this is not read.
const MAX_CONFIG: u64 = 64 * 1024;

/// Whether the `.git` directory `dot_git` holds only what git itself
/// writes (see the module's documentation).
pub(super) fn made_by_git(dot_git: &Path) -> bool {
    let is_dir = |path: &Path| std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir());
    let exists = |path: &Path| std::fs::symlink_metadata(path).is_ok();
    if !is_dir(dot_git) {
        return false;
    }
    if ["commondir", "config.worktree", "modules", "worktrees"].iter().any(|name| exists(&dot_git.join(name))) {
        return false;
    }
    super::git::rebase_commands(dot_git).is_empty()
        && only_regular_files(&dot_git.join("hooks"), |name| name.ends_with(".sample"))
        && only_regular_files(&dot_git.join("info"), |name| name == "exclude")
        && config_made_by_git(&dot_git.join("config"))
}

/// `dir` is absent, or a directory holding only regular files whose names
/// `allowed` accepts.
fn only_regular_files(dir: &Path, allowed: impl Fn(&str) -> bool) -> bool {
    match std::fs::symlink_metadata(dir) {
        Err(error) => error.kind() == std::io::ErrorKind::NotFound,
        Ok(meta) if !meta.is_dir() => false,
        Ok(_) => match std::fs::read_dir(dir) {
            Err(_) => false,
            Ok(entries) => entries.into_iter().all(|entry| {
                entry.is_ok_and(|entry| {
                    entry.file_type().is_ok_and(|kind| kind.is_file())
                        && entry.file_name().to_str().is_some_and(&allowed)
                })
            }),
        },
    }
}

/// `config` is a regular file holding only keys git itself writes.
fn config_made_by_git(config: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(config) else { return false };
    if !meta.is_file() || meta.len() > MAX_CONFIG {
        return false;
    }
    let Ok(text) = std::fs::read(config) else { return false };
    // Includes are entries like any other here, and not on the list.
    let Ok(entries) = super::git_config::parse(&text) else { return false };
    entries.iter().all(|entry| {
        let value = entry.value.as_deref().unwrap_or_default();
        std::str::from_utf8(&entry.name).is_ok_and(|key| key_made_by_git(key) && value_made_by_git(key, value))
    })
}

fn value_made_by_git(key: &str, value: &[u8]) -> bool {
    !(key.starts_with("remote.") && key.ends_with(".url") && value.windows(2).any(|pair| pair == b"::"))
}

/// Whether `key` (as git lists it: section and name in lower case, a
/// subsection as written) is one of [`KEYS`].
fn key_made_by_git(key: &str) -> bool {
    let Some((section, rest)) = key.split_once('.') else { return false };
    let (subsection, name) = match rest.rsplit_once('.') {
        Some((subsection, name)) => (Some(subsection), name),
        None => (None, rest),
    };
    KEYS.iter().any(|allowed| {
        let mut parts = allowed.split('.');
        let (Some(allowed_section), Some(second), third) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        match (third, subsection) {
            (None, None) => section == allowed_section && name == second,
            (Some(allowed_name), Some(_)) => second == "*" && section == allowed_section && name == allowed_name,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};

    use super::*;

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdout(Stdio::null())
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn keys_are_matched_by_section_subsection_and_name() {
        for key in ["core.bare", "remote.origin.url", "remote.a.b.fetch", "branch.main.merge", "user.email"] {
            assert!(key_made_by_git(key), "{key}");
        }
        for key in [
            "core.hookspath",
            "core.fsmonitor",
            "core.sshcommand",
            "core.worktree",
            "remote.origin.uploadpack",
            "url.x.insteadof",
            "include.path",
            "includeif.gitdir:/x.path",
            "alias.st",
            "filter.lfs.clean",
            "user.name.x",
            "core",
            "remote.url",
        ] {
            assert!(!key_made_by_git(key), "{key}");
        }
    }

    #[test]
    fn a_repository_from_git_init_and_a_commit_is_made_by_git() {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "."]);
        git(dir.path(), &["config", "user.email", "a@b.c"]);
        git(dir.path(), &["remote", "add", "origin", "https://example.com/x.git"]);
        std::fs::write(dir.path().join("f"), "x\n").unwrap();
        git(dir.path(), &["add", "f"]);
        git(dir.path(), &["-c", "user.name=A", "commit", "-qm", "first"]);
        assert!(made_by_git(&dir.path().join(".git")));
    }

    #[test]
    fn a_planted_hook_or_configuration_is_not() {
        type Plant = fn(&Path);
        let plants: [(&str, Plant); 10] = [
            ("hook", |g| std::fs::write(g.join("hooks/pre-commit"), "#!/bin/sh\n").unwrap()),
            ("hook link", |g| std::os::unix::fs::symlink("/bin/true", g.join("hooks/post-checkout.sample")).unwrap()),
            ("hooks path", |g| append(g, "[core]\n\thooksPath = /tmp/h\n")),
            ("fsmonitor, odd case and spacing", |g| append(g, "[CoRe]\nFsMonitor=/tmp/x\n")),
            // git joins a line ending in a backslash with the next one.
            ("continued line", |g| append(g, "[user]\n\tname = a \\\n\n[core]\nsshCommand = x\n")),
            ("include", |g| append(g, "[include]\n\tpath = /tmp/other\n")),
            ("remote helper", |g| append(g, "[remote \"origin\"]\n\turl = ext::sh -c touch% /tmp/x\n")),
            ("info attributes", |g| std::fs::write(g.join("info/attributes"), "* filter=x\n").unwrap()),
            ("commondir", |g| std::fs::write(g.join("commondir"), "/tmp\n").unwrap()),
            ("worktree config", |g| std::fs::write(g.join("config.worktree"), "[core]\n").unwrap()),
        ];
        for (what, plant) in plants {
            let dir = tempfile::tempdir().unwrap();
            git(dir.path(), &["init", "-q", "."]);
            let dot_git = dir.path().join(".git");
            assert!(made_by_git(&dot_git), "a fresh repository, before: {what}");
            plant(&dot_git);
            assert!(!made_by_git(&dot_git), "{what}");
        }
    }

    fn append(dot_git: &Path, text: &str) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new().append(true).open(dot_git.join("config")).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }
}
