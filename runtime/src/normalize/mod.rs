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
pub(crate) mod models;
mod path;
mod program;
mod shell;
mod wrappers;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use vtpolicy_engine::{Arg, ExecRequest, Part, Request, normalize_host};

pub use path::resolve as resolve_path;
pub(crate) use path::resolve_listing_links;
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
    /// Whether the call runs inside the kernel sandbox, which refuses by
    /// itself what the policies deny on the file system.
    pub(crate) sandboxed: bool,
    /// The sandbox's file system view (empty: the host's).
    pub(crate) mounts: &'a [(std::path::PathBuf, std::path::PathBuf)],
    pub(crate) programs: ProgramResolver<'a>,
    /// Program models by name: the stock catalogue and the policies'.
    pub(crate) models: &'a models::Models,
    pub(crate) parts: Vec<Part>,
    /// Where programs are looked up while judging a command whose text set
    /// `PATH`; `None` for the environment's own lookup.
    pub(crate) search: Option<ProgramLookup>,
    /// Symbolic links made by earlier commands of the same call (link,
    /// target), both resolved: a later path through one is judged as its
    /// target.
    pub(crate) links: Vec<(String, String)>,
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
                Extracted::Command { label, argv, cwd: state, search } => {
                    let cwd = effective_cwd(cwd, &state);
                    let argv: Vec<Word> = argv.into_iter().map(Word::from).collect();
                    // A `PATH` the text set holds for this command and for
                    // the shell text it runs; otherwise the inherited one.
                    let lookup = match search.map(|dirs| self.lookup_in(&dirs, cwd.as_deref())) {
                        Some(Some(lookup)) => Some(lookup),
                        // Still judged, with the inherited lookup: its
                        // deny rules hold whatever `PATH` finds.
                        Some(None) => {
                            self.unanalysable(
                                &label,
                                "`PATH` names a directory relative to one only known at run time",
                            );
                            None
                        }
                        None => None,
                    };
                    let inherited = match lookup {
                        Some(lookup) => self.search.replace(lookup),
                        None => self.search.clone(),
                    };
                    self.exec(&label, argv, cwd.as_deref(), false, depth + 1);
                    self.search = inherited;
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
            && !self.programs.resolve(&program, cwd.unwrap_or(Path::new("/")), self.search.as_ref()).trusted;
        if judged_outer {
            self.emit(label, &program, Cow::Borrowed(&argv), cwd, open_tail, depth);
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
                    self.emit(label, &program, Cow::Borrowed(&argv), cwd, open_tail, depth);
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
        self.emit(label, &program, Cow::Owned(argv), cwd, open_tail, depth);
    }

    /// `path` seen from `cwd`, or `None` (with an unanalysable part) when
    /// it is relative and the directory is only known at run time.
    fn path_from(&mut self, label: &str, path: &str, cwd: Option<&Path>) -> Option<String> {
        let resolved = match cwd {
            Some(cwd) => self.path(path, cwd),
            None if !is_relative(path) => self.path(path, Path::new("/")),
            None => {
                self.unanalysable(label, "the working directory is only known at run time");
                return None;
            }
        };
        Some(self.through_links(resolved))
    }

    /// The entries a recursive delete of `dir` takes with it that the
    /// policies protect by name: those directly inside it, and a
    /// repository's config and hooks (`dir/.git/…`, or `dir/…` when `dir`
    /// is one). Bounded: a directory with more entries is judged by its
    /// repository's alone.
    fn protected_entries(&self, dir: &str) -> Vec<String> {
        const MAX_ENTRIES: usize = 1024;
        let dir = dir.trim_end_matches('/');
        let root = Path::new(dir);
        if !root.is_dir() {
            return Vec::new();
        }
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Ok(entries) = std::fs::read_dir(root) {
            candidates.extend(entries.flatten().take(MAX_ENTRIES + 1).map(|e| e.path()));
            if candidates.len() > MAX_ENTRIES {
                candidates.clear();
            }
        }
        let repository =
            if root.file_name().is_some_and(|n| n == ".git") { root.to_path_buf() } else { root.join(".git") };
        candidates.extend(
            ["config", "hooks", "commondir"].map(|name| repository.join(name)).into_iter().filter(|p| p.exists()),
        );
        // `rm -rf .git` lists its config among its own entries too.
        candidates.sort();
        candidates.dedup();
        candidates.into_iter().map(|p| p.to_string_lossy().into_owned()).filter(|p| (self.denied)(p)).collect()
    }

    /// The lookup of a `PATH` set by the text: its directories resolved
    /// against `cwd`, the inherited lookup where `$PATH` stood.
    fn lookup_in(&self, dirs: &[String], cwd: Option<&Path>) -> Option<ProgramLookup> {
        let inherited = self.search.clone().unwrap_or_else(|| self.programs.lookup.clone());
        let mut chain = Vec::new();
        let mut run = Vec::new();
        for dir in dirs {
            if dir == shell::PATH_MARKER {
                if !run.is_empty() {
                    chain.push(ProgramLookup::Search(std::mem::take(&mut run)));
                }
                chain.push(inherited.clone());
                continue;
            }
            let base = match cwd {
                Some(cwd) => cwd,
                None if !is_relative(dir) => Path::new("/"),
                None => return None,
            };
            run.push(PathBuf::from(self.path(dir, base)));
        }
        if !run.is_empty() {
            chain.push(ProgramLookup::Search(run));
        }
        Some(ProgramLookup::Chain(chain))
    }

    /// `path` with a link made earlier in the call replaced by its target
    /// (the latest link first, a bounded number of hops).
    fn through_links(&self, mut path: String) -> String {
        for _ in 0..8 {
            let hop = self.links.iter().rev().find_map(|(link, target)| {
                let rest = path.strip_prefix(link.as_str())?;
                (rest.is_empty() || rest.starts_with('/')).then(|| format!("{target}{rest}"))
            });
            match hop {
                Some(next) if next != path => path = next,
                _ => break,
            }
        }
        path
    }

    /// The exec part of a command and the parts of its effects. `argv` is
    /// moved into the request when the caller is done with it.
    fn emit(
        &mut self,
        label: &str,
        program: &str,
        argv: Cow<'_, [Word]>,
        cwd: Option<&Path>,
        open_tail: bool,
        depth: usize,
    ) {
        // A bare name is looked up, not resolved against the directory.
        if program.contains('/') && is_relative(program) && cwd.is_none() {
            self.unanalysable(label, "the working directory is only known at run time");
            return;
        }
        let program = self.programs.resolve(program, cwd.unwrap_or(Path::new("/")), self.search.as_ref());
        let models = self.models;
        let words = argv.get(1..).unwrap_or_default();
        // The model of the first name that has one, with that name.
        let mut modelled = program
            .names
            .iter()
            .find_map(|name| models.get(name).map(|model| (name.clone(), models::effects(name, model, words))));
        // Without one, the arguments that name denied paths.
        let denied_arguments = if modelled.is_none() {
            let name = program.names.first().map_or("", String::as_str);
            self.denied_arguments(label, name, words, cwd)
        } else {
            Vec::new()
        };
        let (long_forms, implied_options) = match &mut modelled {
            Some((_, effects)) => (std::mem::take(&mut effects.long_forms), std::mem::take(&mut effects.implied)),
            None => (Default::default(), Vec::new()),
        };
        let args = argv
            .into_owned()
            .into_iter()
            .skip(1)
            .map(|word| match word {
                Word::Known(text) => Arg::Known(text),
                Word::Unknown => Arg::Unknown,
            })
            .collect();
        self.parts.push(Part::Request {
            label: label.to_owned(),
            request: Request::Exec(ExecRequest { program, args, open_tail, long_forms, implied_options }),
        });
        for reason in denied_arguments {
            self.unanalysable(label, reason);
        }
        if let Some((name, effects)) = modelled {
            self.effect_parts(label, &name, effects, cwd, depth);
        }
    }

    /// For a command with no model, why each argument that names a path
    /// the policies deny makes it unanalysable (it then prompts).
    fn denied_arguments(&mut self, label: &str, program: &str, words: &[Word], cwd: Option<&Path>) -> Vec<String> {
        let mut reasons = Vec::new();
        for word in words {
            let Some(text) = word.text() else { continue };
            let value = text.split_once('=').map_or(text, |(_, v)| v);
            if !(value.contains('/') || value.starts_with('.') || value.starts_with('~')) {
                continue;
            }
            let Some(path) = self.path_from(label, value, cwd) else { continue };
            if (self.denied)(&path) {
                reasons.push(format!("`{text}` names `{path}`, which the policies deny, and `{program}` has no model"));
            }
        }
        reasons
    }

    /// The parts of what a modelled command does.
    fn effect_parts(&mut self, label: &str, name: &str, effects: models::Effects, cwd: Option<&Path>, depth: usize) {
        for reason in effects.unanalysable {
            self.unanalysable(label, reason);
        }
        if effects.unknown_paths > 0 && !self.sandboxed {
            self.unanalysable(label, format!("`{name}` reads or writes a path only known at run time"));
        }
        let mut writes = effects.writes;
        if let Some((destination, sources)) = effects.destination {
            // Into a directory that exists (or is written as one), each
            // source becomes an entry named after it.
            let is_dir = destination.ends_with('/')
                || self.path_from(label, &destination, cwd).is_some_and(|p| Path::new(&p).is_dir());
            if is_dir {
                let base = destination.trim_end_matches('/');
                writes.extend(sources.iter().map(|s| format!("{base}/{}", entry_name(s))));
            } else {
                writes.push(destination);
            }
        }
        let mut reads = effects.reads;
        if let Some((file, write)) = effects.git_config {
            let path = match file {
                models::GitConfigFile::Global => format!("{}/.gitconfig", self.home.trim_end_matches('/')),
                models::GitConfigFile::System => "/etc/gitconfig".to_owned(),
                models::GitConfigFile::File(path) => path,
                models::GitConfigFile::Local => repository_config(cwd),
            };
            if write { writes.push(path) } else { reads.push(path) }
        }
        for tree in &effects.deleted_trees {
            for entry in expand_glob(tree, cwd).into_iter().flatten() {
                if let Some(resolved) = self.path_from(label, &entry, cwd) {
                    writes.extend(self.protected_entries(&resolved));
                }
            }
        }
        let mut unnamed_entries = Vec::new();
        for (dir, names) in effects.into {
            let base = dir.trim_end_matches('/');
            for name in names {
                if name == "*" {
                    // Entries named at run time (an archive's): one write
                    // stands for them, and only the sandbox holds them all.
                    unnamed_entries.push(format!("{base}/*"));
                    if !self.sandboxed {
                        let reason = format!("`{name}` writes entries into `{dir}` that are only known at run time");
                        self.unanalysable(label, reason);
                    }
                } else {
                    writes.push(format!("{base}/{name}"));
                }
            }
        }
        let lists = [(reads, false, false), (writes, true, false), (unnamed_entries, true, true)];
        for (paths, write, literal) in lists {
            for path in paths.iter().flat_map(|p| if literal { vec![Ok(p.clone())] } else { expand_glob(p, cwd) }) {
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
        // Links are recorded after their own writes are judged: later
        // commands of the call see through them.
        for (link, target) in effects.links {
            let Some(link) = self.path_from(label, &link, cwd) else { continue };
            // A relative target is relative to the link's directory.
            let parent = Path::new(&link).parent().unwrap_or(Path::new("/")).to_path_buf();
            let target = self.through_links(self.path(&target, &parent));
            self.links.push((link, target));
        }
        for (host, port) in effects.connections {
            let host = self.host(&host);
            self.parts.push(Part::Request {
                label: format!("{label} ({name} model: connects to {host}:{port})"),
                request: Request::Net { host, port },
            });
        }
        for text in effects.shell {
            self.shell(&text, cwd, depth + 1);
        }
    }
}

/// The `.git/config` of the repository `cwd` lies in: the nearest
/// directory upwards that holds `.git`, else `cwd`'s own.
fn repository_config(cwd: Option<&Path>) -> String {
    let Some(cwd) = cwd else { return ".git/config".to_owned() };
    let found = cwd.ancestors().find(|dir| dir.join(".git").exists()).unwrap_or(cwd);
    found.join(".git/config").to_string_lossy().into_owned()
}

/// The last component of a path as written.
fn entry_name(path: &str) -> &str {
    let trimmed = path.trim_end_matches('/');
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

/// A path operand with shell glob characters, as bash expands it now: the
/// matching paths, component by component, or the text itself when
/// nothing matches. More than [`MAX_GLOB_MATCHES`] matches, or a relative
/// glob where the directory is only known at run time, is an error naming
/// why.
fn expand_glob(path: &str, cwd: Option<&Path>) -> Vec<Result<String, String>> {
    let is_glob = |text: &str| text.contains(['*', '?', '[']);
    if !is_glob(path) {
        return vec![Ok(path.to_owned())];
    }
    let absolute = path.starts_with('/');
    let base = match (absolute, cwd) {
        (true, _) => PathBuf::from("/"),
        (false, Some(cwd)) => cwd.to_path_buf(),
        (false, None) => return vec![Err(format!("`{path}` is a glob in a directory only known at run time"))],
    };
    // Each candidate: the path as it will be written, and where it is.
    let mut candidates: Vec<(String, PathBuf)> = vec![(if absolute { "/".to_owned() } else { String::new() }, base)];
    for component in path.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for (written, on_disk) in &candidates {
            let join = |name: &str| {
                if written.is_empty() || written.ends_with('/') {
                    format!("{written}{name}")
                } else {
                    format!("{written}/{name}")
                }
            };
            if !is_glob(component) {
                next.push((join(component), on_disk.join(component)));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(on_disk) else { continue };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| shell_glob_matches(component, name))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|name| (join(&name), on_disk.join(&name))));
        }
        if next.len() > MAX_GLOB_MATCHES {
            return vec![Err(format!("`{path}` matches more than {MAX_GLOB_MATCHES} paths"))];
        }
        candidates = next;
    }
    // A match names an existing path, whatever follows the glob.
    candidates.retain(|(_, on_disk)| on_disk.symlink_metadata().is_ok());
    if candidates.is_empty() {
        return vec![Ok(path.to_owned())];
    }
    candidates.into_iter().map(|(written, _)| Ok(written)).collect()
}

/// Most paths a glob operand is judged as.
const MAX_GLOB_MATCHES: usize = 256;

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
        // Globs in directory components expand component by component.
        std::fs::create_dir(dir.path().join(".ssh")).expect("mkdir");
        std::fs::write(dir.path().join(".ssh/id_rsa"), "").expect("write");
        let found: Vec<String> = expand_glob(".ss?/id_*", Some(dir.path())).into_iter().flatten().collect();
        assert_eq!(found, [".ssh/id_rsa"]);
        assert_eq!(expand_glob("*/x", Some(dir.path())), [Ok("*/x".to_owned())]);
        assert!(expand_glob("*", None).iter().all(Result::is_err));
        assert_eq!(expand_glob("none*", Some(dir.path())), [Ok("none*".to_owned())]);
    }
}
