//! Raw tool calls to normalised requests: where bypasses are closed.
//!
//! - paths: absolute, `~` expanded, symlinks of the existing prefix followed
//!   (`path`);
//! - programs: located, trusted only inside the trusted bin directories
//!   (`program`);
//! - shell text and `sh -c`: every simple command, redirection and
//!   unanalysable construct becomes a part (`shell`);
//! - wrappers (`env`, `nohup`, `nice`, `timeout`, `time`, `stdbuf`,
//!   `command`, `exec`, `xargs`, `busybox`, `git -C`, `find -exec`) are
//!   unwrapped and the inner command judged (`wrappers`).

mod environment;
mod models;
mod path;
mod program;
mod shell;
mod wrappers;

use std::path::{Path, PathBuf};

use vtpolicy_engine::{Arg, ExecRequest, Part, Request, normalize_host};

pub use path::resolve as resolve_path;
pub(crate) use path::resolve_absolute;
pub use program::ProgramLookup;
pub(crate) use program::{LocatedCache, ProgramResolver, Trust};
use shell::{CwdState, Extracted, RedirectAccess, ShellWord};

/// How deep `sh -c "sh -c …"` and wrappers may nest before a call is
/// declared unanalysable.
const MAX_DEPTH: usize = 16;

pub(crate) struct Normalizer<'a> {
    pub(crate) home: &'a str,
    /// Whether the policies deny reading or writing a path: an argument
    /// of a program without a model that names one raises a prompt.
    pub(crate) denied: &'a dyn Fn(&str) -> bool,
    /// The sandbox's file system view (empty: the host's).
    pub(crate) mounts: &'a [(std::path::PathBuf, std::path::PathBuf)],
    pub(crate) programs: ProgramResolver<'a>,
    pub(crate) parts: Vec<Part>,
}

/// A word of an argv: known, or only known at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Word {
    Known(String),
    Unknown,
}

impl Word {
    fn text(&self) -> Option<&str> {
        match self {
            Word::Known(text) => Some(text),
            Word::Unknown => None,
        }
    }
}

impl From<ShellWord> for Word {
    fn from(word: ShellWord) -> Self {
        match word {
            ShellWord::Static(text) => Word::Known(text),
            ShellWord::Dynamic => Word::Unknown,
        }
    }
}

impl Normalizer<'_> {
    pub(crate) fn path(&self, path: &str, cwd: &Path) -> String {
        path::resolve_in(path, cwd, self.home, self.mounts)
    }

    pub(crate) fn host(&self, host: &str) -> String {
        normalize_host(host)
    }

    fn unanalysable(&mut self, label: &str, reason: impl Into<String>) {
        self.parts.push(Part::Unanalysable { label: label.to_owned(), reason: reason.into() });
    }

    /// Judges shell text run in `cwd`.
    pub(crate) fn shell(&mut self, text: &str, cwd: Option<&Path>, depth: usize) {
        if depth > MAX_DEPTH {
            self.unanalysable(text, format!("shell text nested more than {MAX_DEPTH} levels deep"));
            return;
        }
        for extracted in shell::extract(text, self.home) {
            match extracted {
                Extracted::Unanalysable { label, reason } => self.unanalysable(&label, reason),
                Extracted::Command { label, argv, cwd: state } => {
                    let cwd = effective_cwd(cwd, &state);
                    let argv: Vec<Word> = argv.into_iter().map(Word::from).collect();
                    self.exec(&label, argv, cwd.as_deref(), false, depth + 1);
                }
                Extracted::Redirect { label, access, target, cwd: state } => {
                    let cwd = effective_cwd(cwd, &state);
                    let ShellWord::Static(target) = target else {
                        self.unanalysable(&label, "the redirection target is only known at run time");
                        continue;
                    };
                    let Some(resolved) = self.path_from(&label, &target, cwd.as_deref()) else {
                        continue;
                    };
                    let requests = match access {
                        RedirectAccess::Read => vec![Request::Read { path: resolved }],
                        RedirectAccess::Write => vec![Request::Write { path: resolved }],
                        RedirectAccess::ReadWrite => {
                            vec![Request::Read { path: resolved.clone() }, Request::Write { path: resolved }]
                        }
                    };
                    for request in requests {
                        self.parts.push(Part::Request { label: label.clone(), request });
                    }
                }
            }
        }
    }

    /// Judges one command line: unwraps shells and wrappers, then emits the
    /// exec request of what actually runs.
    pub(crate) fn exec(&mut self, label: &str, argv: Vec<Word>, cwd: Option<&Path>, open_tail: bool, depth: usize) {
        if depth > MAX_DEPTH {
            self.unanalysable(label, format!("commands nested more than {MAX_DEPTH} levels deep"));
            return;
        }
        let Some(first) = argv.first() else {
            return;
        };
        let Some(program) = first.text().map(str::to_owned) else {
            self.unanalysable(label, "the command name is only known at run time");
            return;
        };
        let unwrapped = wrappers::unwrap(&program, &argv);
        // A wrapper is transparent only when it is the real one: a planted
        // `./env` or `/tmp/x/bash` does whatever it likes with its arguments.
        let judged_outer = !matches!(unwrapped, wrappers::Unwrapped::NotAWrapper)
            && !self.programs.resolve(&program, cwd.unwrap_or(Path::new("/"))).trusted;
        if judged_outer {
            self.emit(label, &program, &argv, cwd, open_tail, depth);
        }
        match unwrapped {
            wrappers::Unwrapped::Shell(Word::Known(text)) => {
                self.shell(&text, cwd, depth + 1);
                return;
            }
            wrappers::Unwrapped::Shell(Word::Unknown) => {
                self.unanalysable(label, format!("`{program} -c` runs text only known at run time"));
                return;
            }
            wrappers::Unwrapped::Inner {
                argv: inner,
                cwd: new_cwd,
                open_tail: inner_tail,
                also_judge_outer,
                extra,
            } => {
                for request in extra {
                    let request = match request {
                        wrappers::Extra::Unanalysable(reason) => {
                            self.unanalysable(label, reason);
                            None
                        }
                        wrappers::Extra::Write(path) => {
                            self.path_from(label, &path, cwd).map(|path| Request::Write { path })
                        }
                        wrappers::Extra::Read(path) => {
                            self.path_from(label, &path, cwd).map(|path| Request::Read { path })
                        }
                    };
                    if let Some(request) = request {
                        self.parts.push(Part::Request { label: label.to_owned(), request });
                    }
                }
                if also_judge_outer && !judged_outer {
                    self.emit(label, &program, &argv, cwd, open_tail, depth);
                }
                // A directory only known at run time leaves the inner
                // command's directory unknown; its relative paths then become
                // unanalysable where they are used.
                let inner_cwd = match new_cwd {
                    None => cwd.map(Path::to_path_buf),
                    Some(Word::Known(dir)) if !is_relative(&dir) || cwd.is_some() => {
                        Some(PathBuf::from(self.path(&dir, cwd.unwrap_or(Path::new("/")))))
                    }
                    Some(_) => None,
                };
                for command in inner {
                    self.exec(label, command, inner_cwd.as_deref(), open_tail || inner_tail, depth + 1);
                }
                return;
            }
            wrappers::Unwrapped::Unanalysable(reason) => {
                self.unanalysable(label, reason);
                return;
            }
            wrappers::Unwrapped::NotAWrapper => {}
        }
        self.emit(label, &program, &argv, cwd, open_tail, depth);
    }

    /// `path` seen from `cwd`, or `None` (with an unanalysable part) when
    /// it is relative and the directory is only known at run time.
    fn path_from(&mut self, label: &str, path: &str, cwd: Option<&Path>) -> Option<String> {
        match cwd {
            Some(cwd) => Some(self.path(path, cwd)),
            None if !is_relative(path) => Some(self.path(path, Path::new("/"))),
            None => {
                self.unanalysable(label, "the working directory is only known at run time");
                None
            }
        }
    }

    fn emit(&mut self, label: &str, program: &str, argv: &[Word], cwd: Option<&Path>, open_tail: bool, depth: usize) {
        // A bare name is looked up, not resolved against the directory.
        if program.contains('/') && is_relative(program) && cwd.is_none() {
            self.unanalysable(label, "the working directory is only known at run time");
            return;
        }
        let program = self.programs.resolve(program, cwd.unwrap_or(Path::new("/")));
        let args = argv
            .iter()
            .skip(1)
            .map(|word| match word {
                Word::Known(text) => Arg::Known(text.clone()),
                Word::Unknown => Arg::Unknown,
            })
            .collect();
        let names = program.names.clone();
        self.parts.push(Part::Request {
            label: label.to_owned(),
            request: Request::Exec(ExecRequest { program, args, open_tail }),
        });
        self.effects(label, &names, argv, cwd, depth);
    }

    /// The parts of what a command does, by its program's model; without
    /// one, a prompt for each argument that names a denied path.
    fn effects(&mut self, label: &str, names: &[String], argv: &[Word], cwd: Option<&Path>, depth: usize) {
        let args = argv.get(1..).unwrap_or_default();
        let model = names.iter().find_map(|name| models::stock().get(name).map(|m| (name, m)));
        let Some((name, model)) = model else {
            for word in args {
                let Some(text) = word.text() else { continue };
                let value = text.split_once('=').map_or(text, |(_, v)| v);
                if !(value.contains('/') || value.starts_with('.') || value.starts_with('~')) {
                    continue;
                }
                let Some(path) = self.path_from(label, value, cwd) else { continue };
                if (self.denied)(&path) {
                    self.unanalysable(
                        label,
                        format!(
                            "`{text}` names `{path}`, which the policies deny, and `{}` has no model",
                            names.first().map_or("", String::as_str)
                        ),
                    );
                }
            }
            return;
        };
        let effects = models::effects(name, model, args);
        for reason in effects.unanalysable {
            self.unanalysable(label, reason);
        }
        for (paths, write) in [(effects.reads, false), (effects.writes, true)] {
            for path in paths.iter().flat_map(|p| expand_glob(p, cwd)) {
                let path = match path {
                    Ok(path) => path,
                    Err(reason) => {
                        self.unanalysable(label, reason);
                        continue;
                    }
                };
                let Some(path) = self.path_from(label, &path, cwd) else { continue };
                let (verb, request) = if write {
                    ("write", Request::Write { path: path.clone() })
                } else {
                    ("read", Request::Read { path: path.clone() })
                };
                // The label names the model that produced the effect.
                self.parts.push(Part::Request { label: format!("{label} ({name} model: {verb}s {path})"), request });
            }
        }
        for text in effects.shell {
            self.shell(&text, cwd, depth + 1);
        }
    }
}

/// A path operand with shell glob characters in its last component, as
/// bash expands it now: the matching entries of its directory, or the
/// text itself when none match. Globs in a directory component are not
/// expanded (an error naming why).
fn expand_glob(path: &str, cwd: Option<&Path>) -> Vec<Result<String, String>> {
    let is_glob = |text: &str| text.contains(['*', '?', '[']);
    if !is_glob(path) {
        return vec![Ok(path.to_owned())];
    }
    let (dir, pattern) = match path.rsplit_once('/') {
        Some((dir, pattern)) => (if dir.is_empty() { "/" } else { dir }, pattern),
        None => (".", path),
    };
    if is_glob(dir) {
        return vec![Err(format!("`{path}` is a glob across directories, only known when the shell expands it"))];
    }
    let base = match (Path::new(dir).is_absolute(), cwd) {
        (true, _) => PathBuf::from(dir),
        (false, Some(cwd)) => cwd.join(dir),
        (false, None) => return vec![Err(format!("`{path}` is a glob in a directory only known at run time"))],
    };
    let Ok(entries) = std::fs::read_dir(&base) else { return vec![Ok(path.to_owned())] };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| shell_glob_matches(pattern, name))
        .collect();
    if names.is_empty() {
        return vec![Ok(path.to_owned())];
    }
    names.sort();
    let prefix = if path.contains('/') { format!("{dir}/") } else { String::new() };
    names.into_iter().map(|name| Ok(format!("{prefix}{name}"))).collect()
}

/// Whether `name` matches the bash glob `pattern` (`*`, `?`, `[…]`); a
/// leading `.` is only matched by a literal one.
fn shell_glob_matches(pattern: &str, name: &str) -> bool {
    if name.starts_with('.') && !pattern.starts_with('.') {
        return false;
    }
    fn matches(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|skip| matches(rest, n.get(skip..).unwrap_or_default())),
            Some(('?', rest)) => !n.is_empty() && matches(rest, n.get(1..).unwrap_or_default()),
            Some(('[', rest)) => {
                let Some(close) = rest.iter().skip(1).position(|&c| c == ']').map(|i| i + 1) else {
                    return n.first() == Some(&'[') && matches(rest, n.get(1..).unwrap_or_default());
                };
                let (class, after) = rest.split_at(close);
                let Some(&c) = n.first() else { return false };
                let (negated, class) = match class.split_first() {
                    Some(('!' | '^', tail)) => (true, tail),
                    _ => (false, class),
                };
                let mut hit = false;
                let mut rest = class;
                while let Some((&first, tail)) = rest.split_first() {
                    match tail {
                        ['-', last, after @ ..] => {
                            hit |= first <= c && c <= *last;
                            rest = after;
                        }
                        _ => {
                            hit |= first == c;
                            rest = tail;
                        }
                    }
                }
                hit != negated && matches(after.get(1..).unwrap_or_default(), n.get(1..).unwrap_or_default())
            }
            Some((literal, rest)) => n.first() == Some(literal) && matches(rest, n.get(1..).unwrap_or_default()),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches(&p, &n)
}

/// Whether a path depends on the working directory (`~` and `$HOME` do not).
fn is_relative(path: &str) -> bool {
    !(path.starts_with('/') || path.starts_with('~') || path.starts_with("$HOME") || path.starts_with("${HOME}"))
}

fn effective_cwd(start: Option<&Path>, state: &CwdState) -> Option<PathBuf> {
    match state {
        CwdState::Start => start.map(Path::to_path_buf),
        CwdState::Unknown => None,
        CwdState::Changed(dir) if dir.starts_with('/') => Some(PathBuf::from(dir)),
        CwdState::Changed(dir) => start.map(|s| s.join(dir)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_globs_match_as_bash_matches_them() {
        assert!(shell_glob_matches(".en?", ".env"));
        assert!(!shell_glob_matches("*", ".env"), "a leading dot needs a literal one");
        assert!(shell_glob_matches("*.pem", "server.pem"));
        assert!(shell_glob_matches("id_[rd]sa", "id_rsa"));
        assert!(!shell_glob_matches("id_[!r]sa", "id_rsa"));
        assert!(shell_glob_matches("[a-c]x", "bx"));
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".env"), "").expect("write");
        std::fs::write(dir.path().join("a.txt"), "").expect("write");
        let found: Vec<String> = expand_glob(".en?", Some(dir.path())).into_iter().flatten().collect();
        assert_eq!(found, [".env"]);
        let found: Vec<String> = expand_glob("*", Some(dir.path())).into_iter().flatten().collect();
        assert_eq!(found, ["a.txt"]);
        assert!(expand_glob("*/x", Some(dir.path())).iter().all(Result::is_err));
        assert_eq!(expand_glob("none*", Some(dir.path())), [Ok("none*".to_owned())]);
    }
}
