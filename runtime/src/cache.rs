//! Compiled policies remembered between processes, so that a hook call or
//! `explain` does not parse and lower the same policy text every time.
//!
//! An entry is keyed by everything its policies came from: the binary (its
//! file's identity, which covers the embedded stock policies and program
//! catalogue), the policy specs, the layering and the compile context. It
//! holds the full text of every file the policies were read from, and is
//! used only when each of those files still reads exactly the same, so an
//! edited `extend`ed file or catalogue rebuilds it. Nothing is hashed for
//! trust: the key names a file, and the entry repeats the key material,
//! which must match in full.
//!
//! Entries live in a directory the caller gives (the state directory,
//! never the workspace). They are written to a temporary file and renamed
//! into place, so a reader sees a whole entry or none; any entry that does
//! not read back (truncated, from another version, edited) is ignored and
//! rebuilt. Policies with diagnostics (a workspace policy's dropped allow
//! rules among them) are not remembered, so their warnings are never lost.
//!
//! `${tmp}` is the one variable that differs on every call of `run` (each
//! gets a private directory). So that `run` finds its entry too, policies
//! are compiled with a placeholder for it and the entry's text has the real
//! directory put back in when it is read. That is exact because the
//! compiler copies an expanded variable into its output verbatim (it never
//! resolves or rewrites the paths a policy names), and it is done only when
//! both the placeholder and the directory are made of characters that JSON
//! and globs take literally.

use std::hash::{BuildHasher as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use vtpolicy_compiler::{
    CompiledPolicy, Context, Diagnostic, Limits, ProgramCatalogue, RuleSource, Settings, SourceFile, Span,
};

use crate::load::{Layering, load_policy};

/// Bumped whenever the entry layout changes.
const FORMAT: u32 = 2;

/// The most entries kept; the least recently written go first.
const MAX_ENTRIES: usize = 64;

/// What `${tmp}` is compiled as in a remembered entry.
const TMP_PLACEHOLDER: &str = "/vtpolicy-cached-tmp-7a3f0c91";

/// Whether `tmp` can stand where [`TMP_PLACEHOLDER`] is: an absolute path
/// other than `/`, without a trailing `/`, made of characters that are
/// literal in JSON strings and in globs.
fn substitutable(tmp: &str) -> bool {
    tmp.len() > 1
        && tmp.starts_with('/')
        && !tmp.ends_with('/')
        && tmp.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b))
}

/// What an entry was made from; must equal the caller's in full.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Key {
    format: u32,
    binary: String,
    specs: Vec<String>,
    enforce: bool,
    context: [String; 4],
}

#[derive(Serialize, Deserialize)]
struct Entry {
    key: Key,
    /// Every source file, by index: name, text, whether it was read from
    /// disk (and so must still read the same).
    files: Vec<(String, String, bool)>,
    /// Catalogue files read from disk, with their text.
    catalogues: Vec<(String, String)>,
    policies: Vec<StoredPolicy>,
}

#[derive(Serialize, Deserialize)]
struct StoredPolicy {
    policy: StoredRules,
    /// Per rule: file index, span.
    sources: Vec<(usize, usize, usize)>,
    source: usize,
    limits: Limits,
    env_keep: Vec<String>,
    trusted_bin: Vec<String>,
    /// Path, naming file index and span, text, may replace.
    programs: Vec<(String, usize, usize, usize, String, bool)>,
}

/// A policy's rules as an entry holds them: the engine's [`Policy`], with
/// each matcher externally tagged. serde reads that form in one pass,
/// where the engine's internally tagged matchers (`"kind": …`, the policy
/// JSON format) are buffered whole before they are read: parsing the
/// stock policy's 49 KB entry took 0.17 ms that way, 0.10 ms this way.
///
/// [`Policy`]: vtpolicy_engine::Policy
#[derive(Serialize, Deserialize)]
struct StoredRules {
    name: String,
    rules: Vec<StoredRule>,
    defaults: vtpolicy_engine::Defaults,
}

#[derive(Serialize, Deserialize)]
struct StoredRule {
    id: Arc<str>,
    effect: vtpolicy_engine::Effect,
    because: Option<Arc<str>>,
    matchers: Vec<StoredMatcher>,
    sandboxed_only: bool,
    running: Option<vtpolicy_engine::ArgvPattern>,
}

#[derive(Serialize, Deserialize)]
enum StoredMatcher {
    Exec { pattern: vtpolicy_engine::ArgvPattern },
    Path { read: bool, write: bool, glob: String },
    Net { host: String, ports: Vec<(u16, u16)> },
    Socket { glob: String },
    Tool { glob: String },
}

impl From<&vtpolicy_engine::Policy> for StoredRules {
    fn from(policy: &vtpolicy_engine::Policy) -> StoredRules {
        use vtpolicy_engine::Matcher;
        let matcher = |matcher: &Matcher| match matcher.clone() {
            Matcher::Exec { pattern } => StoredMatcher::Exec { pattern },
            Matcher::Path { read, write, glob } => StoredMatcher::Path { read, write, glob },
            Matcher::Net { host, ports } => StoredMatcher::Net { host, ports },
            Matcher::Socket { glob } => StoredMatcher::Socket { glob },
            Matcher::Tool { glob } => StoredMatcher::Tool { glob },
        };
        StoredRules {
            name: policy.name.clone(),
            rules: policy
                .rules
                .iter()
                .map(|rule| StoredRule {
                    id: Arc::clone(&rule.id),
                    effect: rule.effect,
                    because: rule.because.clone(),
                    matchers: rule.matchers.iter().map(matcher).collect(),
                    sandboxed_only: rule.sandboxed_only,
                    running: rule.running.clone(),
                })
                .collect(),
            defaults: policy.defaults.clone(),
        }
    }
}

impl From<StoredRules> for vtpolicy_engine::Policy {
    fn from(stored: StoredRules) -> vtpolicy_engine::Policy {
        use vtpolicy_engine::Matcher;
        let matcher = |matcher: StoredMatcher| match matcher {
            StoredMatcher::Exec { pattern } => Matcher::Exec { pattern },
            StoredMatcher::Path { read, write, glob } => Matcher::Path { read, write, glob },
            StoredMatcher::Net { host, ports } => Matcher::Net { host, ports },
            StoredMatcher::Socket { glob } => Matcher::Socket { glob },
            StoredMatcher::Tool { glob } => Matcher::Tool { glob },
        };
        vtpolicy_engine::Policy {
            name: stored.name,
            rules: stored
                .rules
                .into_iter()
                .map(|rule| vtpolicy_engine::Rule {
                    id: rule.id,
                    effect: rule.effect,
                    because: rule.because,
                    matchers: rule.matchers.into_iter().map(matcher).collect(),
                    sandboxed_only: rule.sandboxed_only,
                    running: rule.running,
                })
                .collect(),
            defaults: stored.defaults,
        }
    }
}

/// The binary's identity: its path, size and modification time.
fn binary_identity() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let metadata = std::fs::metadata(&exe).ok()?;
    Some(format!(
        "{}:{}:{}:{}.{}",
        exe.display(),
        metadata.ino(),
        metadata.len(),
        metadata.mtime(),
        metadata.mtime_nsec()
    ))
}

fn key(specs: &[String], context: &Context, layering: Layering) -> Option<Key> {
    Some(Key {
        format: FORMAT,
        binary: binary_identity()?,
        specs: specs.to_vec(),
        enforce: layering == Layering::Enforce,
        context: [context.workspace.clone(), context.home.clone(), context.tmp.clone(), context.cwd.clone()],
    })
}

fn entry_path(dir: &Path, key: &Key) -> PathBuf {
    let mut hasher = foldhash::quality::FixedState::with_seed(0x7670_6f6c_6963_7921).build_hasher();
    hasher.write(serde_json::to_string(key).unwrap_or_default().as_bytes());
    dir.join(format!("policies-{:016x}.json", hasher.finish()))
}

/// The compiled `.vtp` policies of `specs` (Rego specs are the caller's),
/// from the entry in `dir` when one was made from the same inputs, else
/// compiled and remembered there. Diagnostics as [`load_policy`] gives
/// them; `None` when a policy does not compile.
pub fn load_policies(
    specs: &[String],
    context: &Context,
    layering: Layering,
    dir: Option<&Path>,
) -> (Option<Vec<CompiledPolicy>>, Vec<Diagnostic>) {
    if let Some(dir) = dir
        && let Some(policies) = load_remembered(specs, context, layering, dir)
    {
        return (Some(policies), Vec::new());
    }
    compile(specs, context, layering)
}

fn compile(specs: &[String], context: &Context, layering: Layering) -> (Option<Vec<CompiledPolicy>>, Vec<Diagnostic>) {
    let mut compiled = Vec::with_capacity(specs.len());
    let mut diagnostics = Vec::new();
    let mut failed = false;
    for spec in specs {
        let (policy, found) = load_policy(spec, context, layering);
        diagnostics.extend(found);
        match policy {
            Some(policy) => compiled.push(policy),
            None => failed = true,
        }
    }
    if failed || diagnostics.iter().any(Diagnostic::is_error) {
        return (None, diagnostics);
    }
    (Some(compiled), diagnostics)
}

/// The policies from the entry for these inputs, compiling and
/// remembering them first when there is none; `None` when they are not to
/// be remembered (they have diagnostics, or the inputs cannot be keyed),
/// and the caller compiles them as they are.
fn load_remembered(specs: &[String], context: &Context, layering: Layering, dir: &Path) -> Option<Vec<CompiledPolicy>> {
    let (keyed, tmp) = if substitutable(&context.tmp) {
        (Context { tmp: TMP_PLACEHOLDER.to_owned(), ..context.clone() }, Some(context.tmp.as_str()))
    } else {
        (context.clone(), None)
    };
    let key = key(specs, &keyed, layering)?;
    let path = entry_path(dir, &key);
    if let Ok(text) = std::fs::read_to_string(&path)
        && let Some(policies) = read(&text, &key, tmp)
    {
        return Some(policies);
    }
    let (Some(compiled), diagnostics) = compile(specs, &keyed, layering) else { return None };
    if !diagnostics.is_empty() {
        return None;
    }
    let text = entry_text(key.clone(), &compiled)?;
    // The placeholder must stand for `${tmp}` alone.
    if tmp.is_some() && mentions_placeholder(&compiled) {
        return None;
    }
    // A cache that cannot be written costs the next call time, nothing else.
    let _ = write(dir, &path, &text);
    match tmp {
        Some(_) => read(&text, &key, tmp),
        None => Some(compiled),
    }
}

/// Whether a policy's own text names the placeholder (so that it cannot be
/// told apart from an expanded `${tmp}`).
fn mentions_placeholder(compiled: &[CompiledPolicy]) -> bool {
    compiled.iter().any(|policy| {
        policy.sources.iter().any(|s| s.file.text.contains(TMP_PLACEHOLDER))
            || policy.source.text.contains(TMP_PLACEHOLDER)
            || policy.settings.programs.iter().any(|c| c.text.contains(TMP_PLACEHOLDER))
    })
}

/// The policies of an entry's `text`, when it was made from `key` and
/// every file it was read from still reads the same; `tmp`, when given,
/// takes the place of the placeholder.
fn read(text: &str, key: &Key, tmp: Option<&str>) -> Option<Vec<CompiledPolicy>> {
    let substituted;
    let text = match tmp {
        Some(tmp) => {
            substituted = text.replace(TMP_PLACEHOLDER, tmp);
            substituted.as_str()
        }
        None => text,
    };
    let entry: Entry = serde_json::from_str(text).ok()?;
    let mut expected = key.clone();
    if let Some(tmp) = tmp {
        tmp.clone_into(&mut expected.context[2]);
    }
    if entry.key != expected {
        return None;
    }
    for (name, text, on_disk) in &entry.files {
        if *on_disk && std::fs::read_to_string(name).ok().as_deref() != Some(text.as_str()) {
            return None;
        }
    }
    for (path, text) in &entry.catalogues {
        if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            return None;
        }
    }
    let files: Vec<Arc<SourceFile>> =
        entry.files.into_iter().map(|(name, text, _)| SourceFile::new(name, text)).collect();
    let file = |index: usize| files.get(index).cloned();
    let mut policies = Vec::with_capacity(entry.policies.len());
    for stored in entry.policies {
        let sources = stored
            .sources
            .iter()
            .map(|(index, start, end)| Some(RuleSource { file: file(*index)?, span: Span::new(*start, *end) }))
            .collect::<Option<Vec<_>>>()?;
        if sources.len() != stored.policy.rules.len() {
            return None;
        }
        let programs = stored
            .programs
            .into_iter()
            .map(|(path, index, start, end, text, may_replace)| {
                Some(ProgramCatalogue { path, source: file(index)?, span: Span::new(start, end), text, may_replace })
            })
            .collect::<Option<Vec<_>>>()?;
        policies.push(CompiledPolicy {
            policy: stored.policy.into(),
            sources,
            tests: Vec::new(),
            settings: Settings {
                limits: stored.limits,
                env_keep: stored.env_keep,
                trusted_bin: stored.trusted_bin,
                programs,
            },
            source: file(stored.source)?,
        });
    }
    Some(policies)
}

/// The text of the entry for `compiled`, made from `key`.
fn entry_text(key: Key, compiled: &[CompiledPolicy]) -> Option<String> {
    let mut files: Vec<(String, String, bool)> = Vec::new();
    let mut index_of = |file: &Arc<SourceFile>| -> usize {
        if let Some(index) = files.iter().position(|(name, text, _)| *name == file.name && *text == file.text) {
            return index;
        }
        // Stock sources and policy JSON (shown as `.vtp`) are not files
        // to compare; the binary and the JSON file itself stand for them.
        let on_disk = Path::new(&file.name).is_file();
        files.push((file.name.clone(), file.text.clone(), on_disk));
        files.len() - 1
    };
    let mut catalogues = Vec::new();
    let mut policies = Vec::with_capacity(compiled.len());
    for policy in compiled {
        let sources = policy.sources.iter().map(|s| (index_of(&s.file), s.span.start, s.span.end)).collect::<Vec<_>>();
        let programs = policy
            .settings
            .programs
            .iter()
            .map(|c| {
                catalogues.push((c.path.clone(), c.text.clone()));
                (c.path.clone(), index_of(&c.source), c.span.start, c.span.end, c.text.clone(), c.may_replace)
            })
            .collect();
        policies.push(StoredPolicy {
            policy: StoredRules::from(&policy.policy),
            sources,
            source: index_of(&policy.source),
            limits: policy.settings.limits.clone(),
            env_keep: policy.settings.env_keep.clone(),
            trusted_bin: policy.settings.trusted_bin.clone(),
            programs,
        });
    }
    // A policy JSON file is compiled from its canonical text, named
    // `FILE.json (as .vtp)`: the JSON file itself must stay the same.
    for (name, _, _) in files.clone() {
        if let Some(json) = name.strip_suffix(" (as .vtp)") {
            let text = std::fs::read_to_string(json).ok()?;
            files.push((json.to_owned(), text, true));
        }
    }
    let entry = Entry { key, files, catalogues, policies };
    serde_json::to_string(&entry).ok()
}

/// Puts an entry's `text` at `path` in `dir`: staged and renamed, so that
/// a concurrent reader sees the whole entry or none.
fn write(dir: &Path, path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut staged = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut staged, text.as_bytes())?;
    staged.persist(path).map_err(|e| e.error)?;
    prune(dir);
    Ok(())
}

/// Keeps the newest [`MAX_ENTRIES`] entries (one per workspace, working
/// directory and policy set in use).
fn prune(dir: &Path) {
    let Ok(read) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("policies-"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if entries.len() <= MAX_ENTRIES {
        return;
    }
    entries.sort();
    let excess = entries.len() - MAX_ENTRIES;
    for (_, path) in entries.into_iter().take(excess) {
        let _ = std::fs::remove_file(path);
    }
}
