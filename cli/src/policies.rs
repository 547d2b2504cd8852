//! Loading the policies named on the command line, with their diagnostics
//! printed.

use std::path::{Path, PathBuf};

use vtpolicy_compiler::CompiledPolicy;
use vtpolicy_grammar::Diagnostic;
use vtpolicy_runtime::rego::RegoPolicy;
use vtpolicy_runtime::{Environment, Judge, Layering, load_policy};

use crate::style::Style;

/// Prints diagnostics to standard error.
pub(crate) fn print_diagnostics(diagnostics: &[Diagnostic], style: Style) {
    for diagnostic in diagnostics {
        eprintln!("{}", style.diagnostic(&diagnostic.render(), diagnostic.severity));
    }
}

/// The environment calls are judged in; the error is printed.
pub(crate) fn environment(workspace: Option<&Path>, cwd: Option<&Path>) -> Result<Environment, crate::Exit> {
    Environment::detect(workspace, cwd).map_err(|message| {
        eprintln!("error: {message}");
        crate::Exit::Error
    })
}

/// Compiles every `.vtp` (or policy JSON) `--policy`; `None` (diagnostics
/// printed) when any fails. Rego specs are left to [`load_rego`].
pub(crate) fn compile_all(
    specs: &[String],
    environment: &Environment,
    layering: Layering,
    style: Style,
) -> Option<Vec<CompiledPolicy>> {
    let context = environment.context();
    let mut compiled = Vec::new();
    let mut failed = false;
    for spec in specs.iter().filter(|s| !vtpolicy_runtime::rego::is_rego(s)) {
        let (policy, diagnostics) = load_policy(spec, &context, layering);
        match loaded(policy, diagnostics, style) {
            Some(policy) => compiled.push(policy),
            None => failed = true,
        }
    }
    if failed {
        eprintln!("error: the policy does not compile; nothing was judged");
        return None;
    }
    Some(compiled)
}

/// The judge of every `--policy`, Rego ones included.
pub(crate) fn judge(specs: &[String], environment: Environment, layering: Layering, style: Style) -> Option<Judge> {
    let compiled = compile_all(specs, &environment, layering, style)?;
    let rego = load_rego(specs, &environment, layering, style)?;
    match Judge::new(compiled, environment) {
        Ok(judge) => Some(judge.with_rego(rego)),
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}

/// Says, once, that the Rego policies among `specs` add nothing to the
/// kernel profile: for commands that compile or apply one.
pub(crate) fn note_rego_without_kernel_profile(specs: &[String], style: Style) {
    if let Some(first) = specs.iter().find(|s| vtpolicy_runtime::rego::is_rego(s)) {
        let warning = Diagnostic::warning(
            vtpolicy_compiler::codes::REGO_NO_SANDBOX,
            format!(
                "`{first}` is a Rego policy: it adds nothing to the kernel profile, which comes from `.vtp` policies"
            ),
        );
        print_diagnostics(&[warning], style);
    }
}

/// Loads every Rego `--policy`; `None` (diagnostics printed) when any
/// fails.
pub(crate) fn load_rego(
    specs: &[String],
    environment: &Environment,
    layering: Layering,
    style: Style,
) -> Option<Vec<RegoPolicy>> {
    let mut rego = Vec::new();
    let mut failed = false;
    for spec in specs.iter().filter(|s| vtpolicy_runtime::rego::is_rego(s)) {
        let (policy, diagnostics) = RegoPolicy::load(spec, &environment.workspace, layering);
        match loaded(policy, diagnostics, style) {
            Some(policy) => rego.push(policy),
            None => failed = true,
        }
    }
    if failed {
        eprintln!("error: the policy does not compile; nothing was judged");
        return None;
    }
    Some(rego)
}

/// Prints a loaded policy's errors and, since a rule dropped by layering
/// changes what is enforced, its VT104 warning (other lint warnings are
/// for `check`). The policy, when it has no error.
fn loaded<T>(policy: Option<T>, diagnostics: Vec<Diagnostic>, style: Style) -> Option<T> {
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        diagnostics.into_iter().partition(Diagnostic::is_error);
    let dropped: Vec<Diagnostic> =
        warnings.into_iter().filter(|w| w.code == vtpolicy_compiler::codes::WORKSPACE_ALLOW_IGNORED).collect();
    print_diagnostics(&dropped, style);
    print_diagnostics(&errors, style);
    policy.filter(|_| errors.is_empty())
}

/// Expands directories into the files below them with one of `extensions`.
pub(crate) fn expand_paths(paths: &[String], extensions: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for path in paths {
        let as_path = PathBuf::from(path);
        if as_path.is_dir() {
            let mut found = Vec::new();
            walk(&as_path, extensions, &mut found).map_err(|e| format!("cannot read `{path}`: {e}"))?;
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, extensions: &[&str], out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, extensions, out)?;
        } else if let Some(name) = path.file_name().and_then(|n| n.to_str())
            && extensions.iter().any(|e| name.ends_with(e))
        {
            out.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}
