//! Environment variables that change what a command runs, loads or reads
//! as configuration. Setting one (`NAME=… cmd`, `env NAME=…`, `export`,
//! `declare`, `local`, a bare assignment) makes the call unanalysable:
//! the judge cannot know what the command will do under the new value.
//! The one exception is a `PATH` the shell text sets to a value known
//! from the text, which the walk resolves programs against instead.

/// Exact names and why they matter.
const NAMES: &[(&str, &str)] = &[
    ("PATH", "changes where programs are found"),
    ("BASH_ENV", "runs shell code when bash starts"),
    ("ENV", "runs shell code when sh starts"),
    ("PROMPT_COMMAND", "runs shell code before each prompt"),
    ("SHELLOPTS", "changes the options of every shell started"),
    ("BASHOPTS", "changes the options of every shell started"),
    ("IFS", "changes how the shell splits words"),
    ("HOME", "changes where git, npm and cargo read their configuration"),
    ("XDG_CONFIG_HOME", "changes where git, npm and cargo read their configuration"),
    ("GIT_EXTERNAL_DIFF", "names a program git runs"),
    ("GIT_SSH", "names a program git runs"),
    ("GIT_SSH_COMMAND", "names a command git runs"),
    ("GIT_EXEC_PATH", "changes where git finds its own programs"),
    ("GIT_DIR", "points git at another repository and its hooks"),
    ("GIT_WORK_TREE", "points git at another working tree"),
    ("GIT_COMMON_DIR", "points git at another repository and its hooks"),
    ("GIT_EDITOR", "names a program git runs"),
    ("GIT_SEQUENCE_EDITOR", "names a program git runs"),
    ("GIT_PAGER", "names a program git runs"),
    ("GIT_ASKPASS", "names a program git runs"),
    ("GIT_PROXY_COMMAND", "names a command git runs"),
    ("GIT_TEMPLATE_DIR", "changes the hooks a new repository gets"),
    ("PYTHONSTARTUP", "runs code when Python starts"),
    ("PYTHONPATH", "changes what Python imports"),
    ("PYTHONHOME", "changes what Python imports"),
    ("NODE_OPTIONS", "changes what node loads at start-up"),
    ("NODE_PATH", "changes what node requires"),
    ("PERL5OPT", "changes what perl loads at start-up"),
    ("PERL5LIB", "changes what perl loads"),
    ("RUBYOPT", "changes what ruby loads at start-up"),
    ("RUBYLIB", "changes what ruby loads"),
    ("RUSTC", "names the compiler cargo runs"),
    ("RUSTC_WRAPPER", "names a program cargo runs around the compiler"),
    ("RUSTC_WORKSPACE_WRAPPER", "names a program cargo runs around the compiler"),
    ("CARGO_BUILD_RUSTC", "names the compiler cargo runs"),
    ("CARGO_BUILD_RUSTC_WRAPPER", "names a program cargo runs around the compiler"),
    ("CARGO_HOME", "changes where cargo reads its configuration"),
    ("EDITOR", "names a program other programs run"),
    ("VISUAL", "names a program other programs run"),
    ("PAGER", "names a program other programs run"),
    ("MANPAGER", "names a program man runs"),
    ("LESSOPEN", "names a command less runs"),
];

/// Name prefixes and why they matter.
const PREFIXES: &[(&str, &str)] = &[
    ("LD_", "changes what the dynamic loader loads"),
    ("GIT_CONFIG", "changes git's configuration, which can run programs"),
    ("BASH_FUNC_", "defines shell functions in every bash started"),
    ("CARGO_TARGET_", "can name a program cargo runs (a target runner or linker)"),
    ("NPM_CONFIG_", "changes npm's configuration, which can run scripts"),
];

/// Why setting `name` changes what a command does, if it does.
pub(crate) fn changes_what_runs(name: &str) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(known, _)| *known == name)
        .or_else(|| PREFIXES.iter().find(|(prefix, _)| name.starts_with(prefix)))
        .map(|(_, why)| *why)
}

/// The reason a call that sets `name` is unanalysable, if it is.
pub(crate) fn unanalysable_setting(name: &str) -> Option<String> {
    changes_what_runs(name).map(|why| format!("setting `{name}` {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_what_changes_what_runs_and_nothing_else() {
        for name in ["PATH", "LD_PRELOAD", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0", "BASH_ENV", "HOME", "NODE_OPTIONS"] {
            assert!(changes_what_runs(name).is_some(), "{name}");
        }
        for name in ["FOO", "RUST_LOG", "GIT_AUTHOR_NAME", "CI", "NODE_ENV", "PATHS", "LANG"] {
            assert!(changes_what_runs(name).is_none(), "{name}");
        }
    }
}
