//! Loading the policies named on the command line, with their diagnostics
//! printed.

use std::path::{Path, PathBuf};

use vtpolicy::{Diagnostic, Environment, Judge, Layering, Policies};

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

/// Loads every `--policy` (`.vtp`, policy JSON, Rego, stock names);
/// `None` (diagnostics printed) when any fails.
pub(crate) fn load(specs: &[String], environment: &Environment, layering: Layering, style: Style) -> Option<Policies> {
    load_from(specs, environment, layering, None, style, NOT_JUDGED)
}

/// [`load`], saying `failure` (one line, after the diagnostics) when a
/// policy does not compile.
pub(crate) fn load_or_say(
    specs: &[String],
    environment: &Environment,
    layering: Layering,
    style: Style,
    failure: &str,
) -> Option<Policies> {
    load_from(specs, environment, layering, None, style, failure)
}

const NOT_JUDGED: &str = "the policy does not compile; nothing was judged";

/// [`load`], with compiled policies remembered under the state directory
/// (`cache/`) between calls.
pub(crate) fn load_cached(
    specs: &[String],
    environment: &Environment,
    layering: Layering,
    style: Style,
) -> Option<Policies> {
    let cache = crate::state::state_dir().map(|state| state.join("cache"));
    load_from(specs, environment, layering, cache.as_deref(), style, NOT_JUDGED)
}

fn load_from(
    specs: &[String],
    environment: &Environment,
    layering: Layering,
    cache: Option<&Path>,
    style: Style,
    failure: &str,
) -> Option<Policies> {
    match Policies::load_cached(specs, environment, layering, cache) {
        Ok(policies) => {
            print_diagnostics(&dropped_allows(policies.warnings()), style);
            Some(policies)
        }
        Err(vtpolicy::Error::Policy { diagnostics }) => {
            let errors: Vec<Diagnostic> = diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
            print_diagnostics(&dropped_allows(&diagnostics), style);
            print_diagnostics(&errors, style);
            eprintln!("error: {failure}");
            None
        }
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}

/// The judge of every `--policy`.
pub(crate) fn judge(specs: &[String], environment: Environment, layering: Layering, style: Style) -> Option<Judge> {
    match load(specs, &environment, layering, style)?.judge(environment) {
        Ok(judge) => Some(judge),
        Err(error) => {
            eprintln!("error: {error}");
            None
        }
    }
}

/// Of a policy's warnings, the one printed outside `check`: a rule dropped
/// by layering changes what is enforced (VT104). Other lint warnings are
/// for `check`.
fn dropped_allows(diagnostics: &[Diagnostic]) -> Vec<Diagnostic> {
    diagnostics
        .iter()
        .filter(|w| !w.is_error() && w.code == vtpolicy::compiler::codes::WORKSPACE_ALLOW_IGNORED)
        .cloned()
        .collect()
}

/// Says, once, that the Rego policies among `specs` add nothing to the
/// kernel profile: for commands that compile or apply one.
pub(crate) fn note_rego_without_kernel_profile(specs: &[String], style: Style) {
    if let Some(first) = specs.iter().find(|s| vtpolicy::runtime::rego::is_rego(s)) {
        let warning = Diagnostic::warning(
            vtpolicy::compiler::codes::REGO_NO_SANDBOX,
            format!(
                "`{first}` is a Rego policy: it adds nothing to the kernel profile, which comes from `.vtp` policies"
            ),
        );
        print_diagnostics(&[warning], style);
    }
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
