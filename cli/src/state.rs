//! vtpolicy's state outside the workspace: the quarantine of paths a run
//! created where the policy denies writing, and session approvals.
//!
//! Session approvals: the `a` answer of `run`, remembered for the rest of
//! the terminal session and for that exact normalised command only.
//!
//! Stored under `$XDG_STATE_HOME/vtpolicy` (else `~/.local/state/vtpolicy`),
//! never inside the workspace: a repository must not be able to ship its
//! own approvals. A session is the terminal session (`getsid`) together
//! with its leader's start time, so a reused session id does not inherit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vtpolicy::runtime::sandbox::{Created, Leftover};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Store {
    /// Session key to approved command keys.
    sessions: BTreeMap<String, Vec<String>>,
}

pub(crate) struct Approvals {
    path: PathBuf,
    session: String,
}

/// `$XDG_STATE_HOME`, else `~/.local/state`.
fn state_base() -> Option<PathBuf> {
    std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")))
}

/// What a run must finish if its vtpolicy is killed (SIGKILL leaves no
/// chance to clean up): written before the command starts, removed when
/// the run has finished.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub(crate) run: String,
    /// The supervisor's pid and start time: a run is over when that
    /// process is gone.
    pub(crate) supervisor: i32,
    pub(crate) started: String,
    pub(crate) tmp: PathBuf,
    pub(crate) cgroups: Vec<PathBuf>,
    pub(crate) leftovers: vtpolicy::runtime::sandbox::Leftovers,
}

fn journal_dir() -> Option<PathBuf> {
    state_dir().map(|dir| dir.join("runs"))
}

impl Journal {
    /// Writes the journal; its path, to remove when the run is over.
    pub(crate) fn write(&self) -> Result<PathBuf, String> {
        let dir = journal_dir().ok_or("no state directory for the run's journal")?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let path = dir.join(format!("{}.json", self.run));
        let text = serde_json::to_string(self).map_err(|e| e.to_string())?;
        write_private(&path, &text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        Ok(path)
    }

    /// This process's pid and start time.
    pub(crate) fn supervisor() -> (i32, String) {
        let pid = std::process::id() as i32;
        (pid, start_time(pid).unwrap_or_default())
    }
}

/// Finishes every journaled run whose supervisor is gone: its quarantine,
/// its temporary directory, its cgroups. Returns each run with what was
/// done.
pub(crate) fn recover_crashed_runs() -> Vec<(String, Vec<String>)> {
    let Some(dir) = journal_dir() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(journal) = std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<Journal>(&t).ok())
        else {
            continue;
        };
        let alive = !vtpolicy::runtime::sandbox::procfs::is_zombie(journal.supervisor)
            && start_time(journal.supervisor).is_some_and(|now| now == journal.started);
        if alive {
            continue;
        }
        let mut actions = Vec::new();
        let mut created = journal.leftovers.created();
        if let Some(error) = created.unsearched.take() {
            actions.push(format!(
                "cannot search `{}` for repositories the run created: {error}",
                journal.leftovers.workspace().display()
            ));
        }
        for settled in settle(created, &journal.run) {
            actions.push(match settled {
                Settled::Moved { path, to, .. } => format!("moved `{}` to `{}`", path.display(), to.display()),
                Settled::NotMoved { path, error, .. } | Settled::NotRelinked { link: path, error } => {
                    format!("`{}`: {error}", path.display())
                }
                Settled::LeftAlone(path) => format!(
                    "left `{}` alone: a directory on the way to it was replaced by a symlink during the run",
                    path.display()
                ),
                Settled::Relinked { link, target } => {
                    format!("pointed `{}` at `{}` again", link.display(), target.display())
                }
            });
        }
        if journal.tmp.exists() && std::fs::remove_dir_all(&journal.tmp).is_ok() {
            actions.push(format!("removed `{}`", journal.tmp.display()));
        }
        for cgroup in &journal.cgroups {
            if cgroup.exists() {
                let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                if std::fs::remove_dir(cgroup).is_ok() {
                    actions.push(format!("removed cgroup `{}`", cgroup.display()));
                }
            }
        }
        let _ = std::fs::remove_file(&path);
        out.push((journal.run, actions));
    }
    out
}

/// What settling one thing a run left behind did.
pub(crate) enum Settled {
    Moved {
        path: PathBuf,
        why: Leftover,
        to: PathBuf,
    },
    NotMoved {
        path: PathBuf,
        why: Leftover,
        error: String,
    },
    /// Not touched: a directory on its way was replaced by a symlink.
    LeftAlone(PathBuf),
    /// A pinned symlink put back.
    Relinked {
        link: PathBuf,
        target: PathBuf,
    },
    NotRelinked {
        link: PathBuf,
        error: String,
    },
}

/// Settles what a run left behind, for `run` and for the recovery of a
/// killed run alike: moves each forbidden path to the quarantine, then
/// puts back the pinned symlinks (whose places the moves freed). Every
/// entry is a failure of the run.
pub(crate) fn settle(created: Created, run: &str) -> Vec<Settled> {
    let mut out = Vec::new();
    for (path, why) in created.paths {
        out.push(match quarantine(&path, run) {
            Ok(to) => Settled::Moved { path, why, to },
            Err(error) => Settled::NotMoved { path, why, error },
        });
    }
    out.extend(created.displaced.into_iter().map(Settled::LeftAlone));
    for (link, target) in created.links {
        out.push(match std::os::unix::fs::symlink(&target, &link) {
            Ok(()) => Settled::Relinked { link, target },
            Err(error) => Settled::NotRelinked { link, error: format!("cannot put the symlink back: {error}") },
        });
    }
    out
}

/// Whether `path` lies inside `workspace`, as named or where it really is
/// (a symlink in the workspace could be repointed by what runs there).
pub(crate) fn lies_in(path: &Path, workspace: &Path) -> bool {
    path.starts_with(workspace) || std::fs::canonicalize(path).is_ok_and(|real| real.starts_with(workspace))
}

/// vtpolicy's state directory: `<state>/vtpolicy`.
pub(crate) fn state_dir() -> Option<PathBuf> {
    state_base().map(|base| base.join("vtpolicy"))
}

/// Moves `path` into `<state>/vtpolicy/quarantine/<run>/`, keeping its
/// full path below that directory. From another file system it is copied
/// there (symlinks as symlinks, nothing followed) and then removed; when
/// even that fails it is removed, and the error says so.
pub(crate) fn quarantine(path: &Path, run: &str) -> Result<PathBuf, String> {
    let base = state_base().ok_or("no state directory")?;
    let relative = path.strip_prefix("/").unwrap_or(path);
    let target = base.join("vtpolicy").join("quarantine").join(run).join(relative);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    }
    let moved = match std::fs::rename(path, &target) {
        Err(error) if error.kind() == std::io::ErrorKind::CrossesDevices => move_across(path, &target),
        moved => moved,
    };
    match moved {
        Ok(()) => Ok(target),
        Err(_) => {
            let _ = remove(&target);
            remove(path).map_err(|e| e.to_string())?;
            Err("removed (it could not be moved to the quarantine)".to_owned())
        }
    }
}

/// Removes a file, a symlink or a whole directory, following nothing.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// `rename` across file systems: copies `from` to `to` (directories,
/// regular files with their permissions but for set-id bits, symlinks as
/// symlinks; devices, FIFOs and sockets are dropped), then removes `from`.
fn move_across(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
        let meta = std::fs::symlink_metadata(from)?;
        if meta.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(from)?, to)
        } else if meta.is_dir() {
            std::fs::create_dir(to)?;
            for entry in std::fs::read_dir(from)? {
                let entry = entry?;
                copy(&entry.path(), &to.join(entry.file_name()))?;
            }
            std::fs::set_permissions(to, meta.permissions())
        } else if meta.is_file() {
            // Without set-id bits: the quarantine is for looking at.
            std::fs::copy(from, to)?;
            std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.permissions().mode() & 0o777))
        } else {
            Ok(())
        }
    }
    copy(from, to)?;
    remove(from)
}

impl Approvals {
    /// The store of this session; `None` when there is no session to key
    /// it by, no home, or the store would live inside `workspace`.
    pub(crate) fn open(workspace: &Path) -> Option<Approvals> {
        Approvals::open_in(state_base()?, workspace)
    }

    fn open_in(base: PathBuf, workspace: &Path) -> Option<Approvals> {
        if lies_in(&base, workspace) {
            return None;
        }
        Some(Approvals { path: base.join("vtpolicy").join("approvals.json"), session: session_key()? })
    }

    pub(crate) fn contains(&self, command: &str) -> bool {
        self.load().sessions.get(&self.session).is_some_and(|keys| keys.iter().any(|k| k == command))
    }

    pub(crate) fn remember(&self, command: &str) -> Result<(), String> {
        let mut store = self.load();
        // Sessions that ended are dropped as the store is rewritten.
        store.sessions.retain(|key, _| session_alive(key));
        store.sessions.entry(self.session.clone()).or_default().push(command.to_owned());
        let dir = self.path.parent().ok_or("no directory for the approval store")?;
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let text = serde_json::to_string_pretty(&store).map_err(|e| e.to_string())?;
        let temporary = self.path.with_extension("json.tmp");
        write_private(&temporary, &text).map_err(|e| format!("cannot write `{}`: {e}", temporary.display()))?;
        std::fs::rename(&temporary, &self.path).map_err(|e| format!("cannot write `{}`: {e}", self.path.display()))
    }

    fn load(&self) -> Store {
        std::fs::read_to_string(&self.path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

/// `sid:starttime` of this process's session.
fn session_key() -> Option<String> {
    let sid = nix::unistd::getsid(None).ok()?.as_raw();
    Some(format!("{sid}:{}", start_time(sid)?))
}

fn session_alive(key: &str) -> bool {
    let Some((sid, start)) = key.split_once(':') else { return false };
    sid.parse::<i32>().ok().and_then(start_time).is_some_and(|now| now == start)
}

/// Field 22 of `/proc/PID/stat`: start time in clock ticks since boot.
fn start_time(pid: i32) -> Option<String> {
    vtpolicy::runtime::sandbox::procfs::stat_fields(pid)?.get(19).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_moves_across_file_systems_without_following_links() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("from/hooks")).expect("mkdir");
        std::fs::write(root.join("from/hooks/pre-commit"), "x").expect("write");
        std::fs::set_permissions(root.join("from/hooks/pre-commit"), std::fs::Permissions::from_mode(0o4755))
            .expect("chmod");
        std::fs::write(root.join("outside"), "keep").expect("write");
        std::os::unix::fs::symlink(root.join("outside"), root.join("from/link")).expect("symlink");
        move_across(&root.join("from"), &root.join("to")).expect("moved");
        assert!(!root.join("from").exists());
        assert_eq!(std::fs::read_to_string(root.join("to/hooks/pre-commit")).expect("read"), "x");
        let mode = std::fs::metadata(root.join("to/hooks/pre-commit")).expect("meta").permissions().mode();
        assert_eq!(mode & 0o7777, 0o755, "no set-id bit");
        assert_eq!(std::fs::read_link(root.join("to/link")).expect("link"), root.join("outside"));
        assert_eq!(std::fs::read_to_string(root.join("outside")).expect("read"), "keep");
    }

    #[test]
    fn approvals_are_never_kept_in_the_workspace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ws = dir.path().canonicalize().expect("canonical");
        assert!(Approvals::open_in(ws.join(".state"), &ws).is_none());
        assert!(Approvals::open_in(ws.clone(), &ws).is_none());
        let outside = tempfile::tempdir().expect("tempdir");
        // Outside the workspace the store opens (given a session to key by).
        if session_key().is_some() {
            assert!(Approvals::open_in(outside.path().to_path_buf(), &ws).is_some());
        }
    }
}
