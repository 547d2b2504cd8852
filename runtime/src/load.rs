//! Finding and reading policy files: stock names, paths, `extend`s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vtpolicy_compiler::{self as compiler, CompiledPolicy, Context, Resolver, codes};
use vtpolicy_compiler::{Diagnostic, SourceFile};

/// Reads `extend`ed files relative to the file that extends them.
pub struct FileResolver;

impl Resolver for FileResolver {
    fn load(&self, name: &str, from: &SourceFile) -> Result<Arc<SourceFile>, String> {
        let base = Path::new(&from.name).parent().unwrap_or(Path::new("."));
        let path = if from.name.starts_with('<') { PathBuf::from(name) } else { base.join(name) };
        read_source(&path)
    }
}

fn read_source(path: &Path) -> Result<Arc<SourceFile>, String> {
    let canonical = std::fs::canonicalize(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = std::fs::read_to_string(&canonical).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if canonical.extension().is_some_and(|e| e == "json") {
        return policy_json_source(&canonical.to_string_lossy(), &text).map_err(|e| e.to_string());
    }
    Ok(SourceFile::new(canonical.to_string_lossy(), text))
}

/// A policy given as data (`schemas/policy.schema.json`): validated, then
/// compiled from its canonical `.vtp` form, which is what later
/// diagnostics point into (the file is named `FILE.json (as .vtp)`).
pub fn policy_json_source(path: &str, text: &str) -> Result<Arc<SourceFile>, PolicyJsonError> {
    let file = || path.to_owned();
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| PolicyJsonError::Json {
        file: file(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    crate::schemas::validate(crate::schemas::POLICY, &value)
        .map_err(|message| PolicyJsonError::Schema { file: file(), message })?;
    compiler::policy_data_source(&format!("{path} (as .vtp)"), value)
        .map_err(|message| PolicyJsonError::Data { file: file(), message })
}

/// Policy JSON that cannot be read as a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyJsonError {
    #[error("`{file}`: invalid JSON at line {line} column {column}: {message}")]
    Json { file: String, line: usize, column: usize, message: String },
    /// It does not conform to `schemas/policy.schema.json`.
    #[error("`{file}`: {message}")]
    Schema { file: String, message: String },
    /// It conforms, but says something a policy cannot (a pattern the
    /// grammar has no spelling for).
    #[error("`{file}`: {message}")]
    Data { file: String, message: String },
}

/// The source of a policy given on the command line: a stock name or a
/// file path.
pub fn policy_source(spec: &str) -> Result<Arc<SourceFile>, Diagnostic> {
    if let Some(text) = compiler::stock_policy(spec) {
        return Ok(SourceFile::new(compiler::stock_source_name(spec), text));
    }
    read_source(Path::new(spec)).map_err(|message| {
        let diagnostic = Diagnostic::error(codes::UNKNOWN_POLICY, message);
        if Path::new(spec).exists() {
            return diagnostic;
        }
        let names: Vec<&str> = compiler::STOCK.iter().map(|(n, _)| *n).collect();
        diagnostic.with_help(format!("give a policy file or a stock policy: {}", names.join(", ")))
    })
}

/// How a policy file inside the workspace is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layering {
    /// For enforcement (`explain`, `run`, hooks): a policy file inside the
    /// workspace, which any cloned repository can ship, may only tighten;
    /// its allow rules are dropped with a warning. Lint rules do not run.
    Enforce,
    /// For authoring (`check`, `test`, `fmt`): the file as written, and
    /// linted.
    AsWritten,
}

impl Layering {
    /// Whether a policy file at `path` may only tighten: loaded for
    /// enforcement from inside `workspace`.
    pub fn tightens_only(self, path: &Path, workspace: &Path) -> bool {
        self == Layering::Enforce && path.starts_with(workspace)
    }
}

/// Reads and checks the program catalogues a policy names; `false` when
/// one cannot be used (the policy then does not load: commands would be
/// judged by a catalogue other than the one written). From inside the
/// workspace a catalogue may only add programs: a model that would
/// replace a stock one is dropped with a warning, as allow rules are.
fn read_catalogues(
    catalogues: &mut [vtpolicy_compiler::ProgramCatalogue],
    tightens_only: &dyn Fn(&str) -> bool,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let mut usable = true;
    for catalogue in catalogues.iter_mut() {
        // What the file naming the catalogue may do.
        let tightens_only = tightens_only(&catalogue.source.name);
        let text = match std::fs::read_to_string(&catalogue.path) {
            Ok(text) => text,
            Err(error) => {
                diagnostics.push(
                    Diagnostic::error(codes::BAD_PROGRAM_MODEL, format!("cannot read {}: {error}", catalogue.path))
                        .at(&catalogue.source, catalogue.span),
                );
                usable = false;
                continue;
            }
        };
        let errors = catalogue_diagnostics(&catalogue.path, &text);
        if !errors.is_empty() {
            diagnostics.extend(errors);
            usable = false;
            continue;
        }
        if tightens_only {
            let replaced = crate::normalize::models::stock_names_in(&text);
            if let Some(first) = replaced.first() {
                diagnostics.push(
                    Diagnostic::warning(
                        codes::WORKSPACE_ALLOW_IGNORED,
                        format!("the model of `{first}` is ignored, with every other that replaces a stock model"),
                    )
                    .at(&catalogue.source, catalogue.span)
                    .with_label("a catalogue named from inside the workspace may only add programs"),
                );
            }
        }
        catalogue.text = text;
        catalogue.may_replace = !tightens_only;
    }
    usable
}

/// The problems of a program catalogue's text (`check_catalogue`), each
/// an error at its place in the file named `path`.
pub fn catalogue_diagnostics(path: &str, text: &str) -> Vec<Diagnostic> {
    let file = SourceFile::new(path, text);
    crate::normalize::models::check_catalogue(text)
        .into_iter()
        .map(|error| {
            Diagnostic::error(codes::BAD_PROGRAM_MODEL, error.message)
                .at(&file, compiler::Span { start: error.start, end: error.end })
        })
        .collect()
}

/// Loads and compiles one policy.
pub fn load_policy(spec: &str, context: &Context, layering: Layering) -> (Option<CompiledPolicy>, Vec<Diagnostic>) {
    let source = match policy_source(spec) {
        Ok(source) => source,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    load_policy_source(&source, context, layering)
}

/// [`load_policy`] of a policy already read: its `extend`s are read
/// relative to `source`'s name, a file inside the workspace may only
/// tighten (for [`Layering::Enforce`]).
pub fn load_policy_source(
    source: &Arc<SourceFile>,
    context: &Context,
    layering: Layering,
) -> (Option<CompiledPolicy>, Vec<Diagnostic>) {
    let workspace = Path::new(&context.workspace);
    // Each file on its own: one inside the workspace loses only its own
    // allow rules and looser settings; the stock and user policies it
    // extends keep theirs.
    let tightens_only = |name: &str| !name.starts_with('<') && layering.tightens_only(Path::new(name), workspace);
    // Lint warnings are `check`'s (which reads policies as written); an
    // enforcing load has no one to show them to.
    let lint = layering == Layering::AsWritten;
    let (compiled, mut diagnostics) = compiler::compile_layered(source, context, &FileResolver, &tightens_only, lint);
    let Some(mut compiled) = compiled else {
        return (None, diagnostics);
    };
    if !read_catalogues(&mut compiled.settings.programs, &tightens_only, &mut diagnostics) {
        return (None, diagnostics);
    }
    (Some(compiled), diagnostics)
}
