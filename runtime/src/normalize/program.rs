//! Locating `argv[0]` and deciding whether it is trusted.
//!
//! A program is trusted when the agent cannot have written it: the file
//! that will execute, every symlink on the way to it and every directory
//! those lie in are outside the workspace, the per-call temporary
//! directory and every path the policies would let the agent write. A
//! policy's `trusted_bin` narrows that further to the programs found in
//! (or resolving into) the directories it names.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vtpolicy_engine::Program;

use super::path;

/// How bare program names (no `/`) are located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramLookup {
    /// Search these directories in order, as `PATH` would.
    Search(Vec<PathBuf>),
    /// A fixture for hermetic tests and benchmarks: exactly these programs
    /// exist, at these absolute paths (regular files, no symlinks), and
    /// nothing is read from disk.
    Fixture(Vec<(String, PathBuf)>),
    /// The first of several lookups that finds the name: a `PATH` the
    /// command line set, around the one it started with.
    Chain(Vec<ProgramLookup>),
}

impl ProgramLookup {
    /// The first executable file `name` in the searched directories, as
    /// `execvp` finds it (no symlink resolved).
    pub fn search(&self, name: &str) -> Option<PathBuf> {
        match self {
            ProgramLookup::Search(dirs) => dirs.iter().map(|dir| dir.join(name)).find(|c| is_executable(c)),
            ProgramLookup::Fixture(programs) => programs.iter().find(|(n, _)| n == name).map(|(_, p)| p.clone()),
            ProgramLookup::Chain(lookups) => lookups.iter().find_map(|lookup| lookup.search(name)),
        }
    }

    /// A fixture of `names`, each a regular file in `dir`.
    pub fn fixture(dir: &Path, names: &[&str]) -> ProgramLookup {
        ProgramLookup::Fixture(names.iter().map(|name| ((*name).to_owned(), dir.join(name))).collect())
    }
}

/// What decides whether a located program is trusted.
pub(crate) struct Trust<'a> {
    /// The workspace and the per-call temporary directory: never trusted.
    pub(crate) agent_roots: [&'a Path; 2],
    /// Whether the policies would let the agent write (or replace) `path`.
    pub(crate) writable: &'a dyn Fn(&str) -> bool,
    /// The directories every policy naming `trusted_bin` trusts; `None`
    /// when no policy names any.
    pub(crate) bin_dirs: Option<&'a [PathBuf]>,
    /// What was already found out, per judge.
    pub(crate) cache: &'a LocatedCache,
}

impl Trust<'_> {
    /// Whether nothing on `chain` could have been written by the agent.
    fn unwritable(&self, chain: &[PathBuf]) -> bool {
        chain.iter().all(|hop| {
            !self.agent_roots.iter().any(|root| hop.starts_with(root)) && !(self.writable)(&hop.to_string_lossy())
        })
    }

    /// Whether `located` (where it was found) or `resolved` (the file that
    /// runs) lies in a directory `trusted_bin` names, when one does.
    fn in_bin_dirs(&self, located: &Path, resolved: &Path) -> bool {
        let Some(dirs) = self.bin_dirs else { return true };
        let located_dir = located.parent().map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf()));
        [located_dir, resolved.parent().map(Path::to_path_buf)].iter().flatten().any(|dir| dirs.contains(dir))
    }
}

/// A fixture path's chain: `/`, its ancestors and itself.
fn fixture_chain(path: &Path) -> Vec<PathBuf> {
    let mut chain: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    chain.reverse();
    chain
}

/// Builtins of bash that run no program, by bare name. `eval`, `source`,
/// `.`, `trap`, `enable` and `exec` are handled as unanalysable or as
/// wrappers before a program is ever resolved.
fn is_shell_builtin(name: &str) -> bool {
    matches!(
        name,
        "cd" | "pushd"
            | "popd"
            | "dirs"
            | "echo"
            | "printf"
            | "test"
            | "["
            | "[["
            | "shopt"
            | "true"
            | "false"
            | "pwd"
            | "export"
            | "set"
            | "unset"
            | "shift"
            | "read"
            | "type"
            | "umask"
            | "wait"
            | "jobs"
            | "local"
            | "declare"
            | "typeset"
            | "readonly"
            | "let"
            | "getopts"
            | "hash"
            | "times"
            | ":"
            | "builtin"
            | "command"
            | "exec"
    )
}

pub(crate) struct ProgramResolver<'a> {
    pub(crate) lookup: &'a ProgramLookup,
    pub(crate) trust: &'a Trust<'a>,
    pub(crate) home: &'a str,
    pub(crate) mounts: &'a [(PathBuf, PathBuf)],
}

impl ProgramResolver<'_> {
    /// Locates `spelled` (in `search` when the command line set `PATH`)
    /// and decides whether it is trusted.
    pub(crate) fn resolve(&self, spelled: &str, cwd: &Path, search: Option<&ProgramLookup>) -> Program {
        let lookup = search.unwrap_or(self.lookup);
        // Builtins run inside the shell: there is no file to plant.
        if is_shell_builtin(spelled) {
            return Program::trusted_name(spelled);
        }
        let name = super::shell::basename(spelled);
        let untrusted =
            || Program { spelled: spelled.to_owned(), names: vec![name.to_owned()], path: None, trusted: false };
        // Where it is found, nothing resolved yet.
        let located = if spelled.contains('/') {
            let located = path::absolute(spelled, cwd, self.home);
            if let ProgramLookup::Fixture(programs) = lookup
                && !programs.iter().any(|(_, p)| *p == located)
            {
                return untrusted();
            }
            located
        } else {
            match lookup.search(spelled) {
                Some(found) => found,
                None => return untrusted(),
            }
        };
        let Some(Located { resolved, name_at, trusted }) = self.locate(&located) else { return untrusted() };
        let mut names = Vec::with_capacity(2);
        names.push(name.to_owned());
        let resolved_name = resolved.get(name_at..).unwrap_or_default();
        if !resolved_name.is_empty() && resolved_name != name {
            names.push(resolved_name.to_owned());
        }
        Program { spelled: spelled.to_owned(), names, path: Some(resolved), trusted }
    }

    /// The file `located` executes and whether it is trusted; `None` when
    /// it is not an executable file. Remembered per judge: a trusted chain
    /// is one the agent cannot change, and an untrusted one stays so.
    fn locate(&self, located: &Path) -> Option<Located> {
        if let Some(known) = self.trust.cache.lock().ok().and_then(|cache| cache.get(located).cloned()) {
            return known;
        }
        // A fixture's programs are not read from disk; anything else is
        // (a `PATH` the command line set can lead there).
        let fixture =
            matches!(self.lookup, ProgramLookup::Fixture(programs) if programs.iter().any(|(_, p)| p == located));
        let (resolved, chain) = if fixture {
            (located.to_path_buf(), fixture_chain(located))
        } else {
            // The walk sees the sandbox's mounts as the judge does (a
            // program under `/tmp` is one in `${tmp}`).
            path::resolve_recording(located, self.mounts)
        };
        let found = (fixture || is_executable(&resolved)).then(|| {
            let trusted = self.trust.unwritable(&chain) && self.trust.in_bin_dirs(located, &resolved);
            let resolved = resolved.to_string_lossy().into_owned();
            let name_at = resolved.rfind('/').map_or(0, |slash| slash + 1);
            Located { resolved, name_at, trusted }
        });
        if let Ok(mut cache) = self.trust.cache.lock() {
            cache.insert(located.to_path_buf(), found.clone());
        }
        found
    }
}

/// A located program: the file that runs, and whether it is trusted.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The file that executes, as the request's program path.
    resolved: String,
    /// Where its file name starts in `resolved`.
    name_at: usize,
    trusted: bool,
}

/// Located programs by where they were found.
pub(crate) type LocatedCache =
    std::sync::Mutex<std::collections::HashMap<PathBuf, Option<Located>, foldhash::fast::RandomState>>;

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
