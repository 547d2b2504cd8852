//! Locating `argv[0]` and deciding whether it is trusted.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use vtpolicy_engine::Program;

use super::path;

/// How bare program names (no `/`) are located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgramLookup {
    /// Search these directories in order, as `PATH` would.
    Search(Vec<PathBuf>),
    /// Treat every bare name as found in a trusted directory. Inline tests
    /// use it, so that a policy's tests do not depend on what is installed.
    AssumeTrusted,
}

impl ProgramLookup {
    /// The first executable file `name` in the searched directories, as
    /// `execvp` finds it (no symlink resolved).
    pub fn search(&self, name: &str) -> Option<PathBuf> {
        match self {
            ProgramLookup::Search(dirs) => dirs.iter().map(|dir| dir.join(name)).find(|c| is_executable(c)),
            ProgramLookup::AssumeTrusted => None,
        }
    }
}

/// Builtins of bash that run no program, by bare name. `eval`, `source`,
/// `.`, `trap`, `enable` and `exec` are handled as unanalysable or as
/// wrappers before a program is ever resolved.
const SHELL_BUILTINS: &[&str] = &[
    "cd", "pushd", "popd", "dirs", "echo", "printf", "test", "[", "true", "false", "pwd", "export", "set", "unset",
    "shift", "read", "type", "umask", "wait", "jobs", "local", "declare", "typeset", "readonly", "let", "getopts",
    "hash", "times", ":", "builtin", "command", "exec",
];

pub(crate) struct ProgramResolver<'a> {
    pub(crate) lookup: &'a ProgramLookup,
    /// Canonical trusted bin directories.
    pub(crate) trusted: &'a [PathBuf],
    pub(crate) home: &'a str,
    pub(crate) mounts: &'a [(PathBuf, PathBuf)],
}

impl ProgramResolver<'_> {
    pub(crate) fn resolve(&self, spelled: &str, cwd: &Path) -> Program {
        // Builtins run inside the shell: there is no file to plant.
        if SHELL_BUILTINS.contains(&spelled) {
            return Program::trusted_name(spelled);
        }
        let name = super::shell::basename(spelled).to_owned();
        let located = if spelled.contains('/') {
            let resolved = PathBuf::from(path::resolve_in(spelled, cwd, self.home, self.mounts));
            is_executable(&resolved).then_some(resolved)
        } else {
            match self.lookup {
                ProgramLookup::AssumeTrusted => return Program::trusted_name(spelled),
                ProgramLookup::Search(_) => self.lookup.search(spelled).map(|found| {
                    PathBuf::from(path::resolve_in(&found.to_string_lossy(), cwd, self.home, self.mounts))
                }),
            }
        };
        let mut names = vec![name];
        let (path, trusted) = match located {
            Some(resolved) => {
                if let Some(resolved_name) = resolved.file_name().map(|n| n.to_string_lossy().into_owned())
                    && !names.contains(&resolved_name)
                {
                    names.push(resolved_name);
                }
                let trusted = resolved.parent().is_some_and(|dir| self.trusted.iter().any(|t| t == dir));
                (Some(resolved.to_string_lossy().into_owned()), trusted)
            }
            None => (None, false),
        };
        Program { spelled: spelled.to_owned(), names, path, trusted }
    }
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
