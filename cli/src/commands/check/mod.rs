//! `vtpolicy check`.

pub(crate) mod github;
pub(crate) mod sarif;

use serde::Serialize;
use vtpolicy::compiler::{codes, kernel_lints};
use vtpolicy::grammar::{Diagnostic, DiagnosticReport};
use vtpolicy::runtime::rego::RegoPolicy;
use vtpolicy::runtime::sandbox::KernelProfiles;
use vtpolicy::runtime::{TestOutcome, load_policy, run_inline_tests};

use crate::Exit;
use crate::args::{CheckArgs, ReportFormat as Format};
use crate::policies;
use crate::style::Style;

#[derive(Serialize)]
struct FileReport {
    file: String,
    policy: Option<String>,
    diagnostics: Vec<DiagnosticReport>,
    tests_passed: usize,
    tests_failed: usize,
}

#[derive(Serialize)]
struct Report {
    files: Vec<FileReport>,
    errors: usize,
    warnings: usize,
}

impl Report {
    /// Records one file's outcome, printing it in human format.
    #[expect(clippy::too_many_arguments, reason = "one file's whole outcome")]
    fn add(
        &mut self,
        file: &str,
        policy: Option<String>,
        diagnostics: Vec<Diagnostic>,
        passed: usize,
        failed: usize,
        format: Format,
        style: Style,
    ) {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        self.errors += errors;
        self.warnings += diagnostics.len() - errors;
        if format == Format::Human {
            for diagnostic in &diagnostics {
                crate::output::outln!("{}", style.diagnostic(&diagnostic.render(), diagnostic.severity));
            }
            let status = if errors == 0 { style.ok("ok") } else { style.bad("failed") };
            crate::output::outln!(
                "{status} {file}: {errors} error{}, {} warning{}, {passed} test case{} passed, {failed} failed",
                plural(errors),
                diagnostics.len() - errors,
                plural(diagnostics.len() - errors),
                plural(passed),
            );
        }
        self.files.push(FileReport {
            file: file.to_owned(),
            policy,
            diagnostics: diagnostics.iter().map(Diagnostic::to_report).collect(),
            tests_passed: passed,
            tests_failed: failed,
        });
    }
}

pub(crate) fn run(args: &CheckArgs, style: Style) -> Exit {
    if let Some(code) = &args.explain {
        return match codes::lookup(code) {
            Some(code) => {
                crate::output::outln!("{} ({}): {}\n\n{}", code.code, code.name, code.summary, code.doc.trim_end());
                Exit::Ok
            }
            None => {
                eprintln!("error: unknown diagnostic code `{code}`");
                Exit::Error
            }
        };
    }
    let environment = match policies::environment(args.workspace.as_deref(), None) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    // Program catalogues are named one by one; directories hold policies.
    let (catalogues, paths): (Vec<String>, Vec<String>) =
        args.paths.iter().cloned().partition(|p| p.ends_with(".toml") && std::path::Path::new(p).is_file());
    let mut report = Report { files: Vec::new(), errors: 0, warnings: 0 };
    for file in &catalogues {
        report.add(file, None, check_catalogue_file(file), 0, 0, args.format, style);
    }
    if paths.is_empty() {
        return finish(&report, args.format, args.deny_warnings);
    }
    let files = match policies::expand_paths(&paths, &[".vtp", ".rego"]) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    if files.is_empty() {
        eprintln!("error: no `.vtp` files found in {}", paths.join(", "));
        return Exit::Error;
    }
    let context = environment.context();
    for file in &files {
        if vtpolicy::runtime::rego::is_rego(file) {
            let (policy, mut diagnostics) =
                RegoPolicy::load(file, &environment.workspace, vtpolicy::runtime::Layering::AsWritten);
            if let Some(policy) = &policy {
                diagnostics.push(
                    Diagnostic::warning(
                        codes::REGO_NO_SANDBOX,
                        "a Rego policy decides tool calls but adds nothing to the kernel profile of `run`",
                    )
                    .at(&policy.source, vtpolicy::grammar::Span { start: 0, end: 0 })
                    .with_help(
                        "combine it with a `.vtp` policy that states the sandbox, e.g. `--policy workspace-write`",
                    ),
                );
            }
            report.add(file, policy.map(|p| p.name), diagnostics, 0, 0, args.format, style);
            continue;
        }
        let (compiled, mut diagnostics) = load_policy(file, &context, vtpolicy::runtime::Layering::AsWritten);
        let mut passed = 0;
        let mut failed = 0;
        if let Some(compiled) = &compiled {
            match KernelProfiles::compile(&[compiled], &context) {
                Ok(profiles) => {
                    let mut kernel = kernel_lints(compiled, &profiles.report(&[compiled]));
                    vtpolicy::compiler::suppress(&mut kernel);
                    diagnostics.extend(kernel);
                }
                Err(message) => diagnostics.push(
                    Diagnostic::warning(codes::KERNEL_ABI, format!("no kernel profile on this machine: {message}"))
                        .at(&compiled.source, vtpolicy::grammar::Span { start: 0, end: 0 }),
                ),
            }
            match vtpolicy::runtime::lint::never_matching_rules(compiled, &environment) {
                Ok(mut found) => {
                    vtpolicy::compiler::suppress(&mut found);
                    diagnostics.extend(found);
                }
                Err(error) => diagnostics.push(Diagnostic::error(codes::INVALID_GLOB, error.to_string())),
            }
            match run_inline_tests(compiled, &environment) {
                Ok(outcomes) => {
                    for outcome in outcomes {
                        if outcome.passed() {
                            passed += 1;
                        } else {
                            failed += 1;
                            diagnostics.push(failed_test(&outcome));
                        }
                    }
                }
                Err(error) => diagnostics.push(Diagnostic::error(codes::INVALID_GLOB, error.to_string())),
            }
        }
        report.add(file, compiled.map(|c| c.policy.name), diagnostics, passed, failed, args.format, style);
    }
    finish(&report, args.format, args.deny_warnings)
}

/// A diagnostic's file as CI tools resolve it: relative to the current
/// directory (the repository, in a workflow) when it lies below it.
fn relative(mut diagnostic: DiagnosticReport) -> DiagnosticReport {
    let cwd = std::env::current_dir().ok().and_then(|d| std::fs::canonicalize(d).ok());
    if let (Some(file), Some(cwd)) = (&diagnostic.file, cwd)
        && let Ok(inside) = std::path::Path::new(file).strip_prefix(&cwd)
    {
        diagnostic.file = Some(inside.to_string_lossy().into_owned());
    }
    diagnostic
}

/// Prints the report in the machine formats, and exits by the errors
/// found (and the warnings, with `--deny-warnings`).
fn finish(report: &Report, format: Format, deny_warnings: bool) -> Exit {
    let json = match format {
        Format::Json => Some(serde_json::to_string_pretty(report)),
        Format::Sarif => {
            let diagnostics: Vec<DiagnosticReport> =
                report.files.iter().flat_map(|f| f.diagnostics.iter().cloned().map(relative)).collect();
            Some(serde_json::to_string_pretty(&sarif::log(&diagnostics)))
        }
        Format::Github => {
            for diagnostic in report.files.iter().flat_map(|f| &f.diagnostics) {
                crate::output::outln!("{}", github::annotation(&relative(diagnostic.clone())));
            }
            None
        }
        Format::Human => None,
    };
    match json {
        Some(Ok(json)) => crate::output::outln!("{json}"),
        Some(Err(error)) => {
            eprintln!("error: {error}");
            return Exit::Error;
        }
        None => {}
    }
    if report.errors == 0 && !(deny_warnings && report.warnings > 0) { Exit::Ok } else { Exit::Failure }
}

/// The problems of a program catalogue, each at its place in the file.
fn check_catalogue_file(file: &str) -> Vec<Diagnostic> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) => {
            return vec![Diagnostic::error(codes::BAD_PROGRAM_MODEL, format!("cannot read {file}: {error}"))];
        }
    };
    vtpolicy::runtime::catalogue_diagnostics(file, &text)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A failing inline test as a diagnostic at the test case.
pub(crate) fn failed_test(outcome: &TestOutcome) -> Diagnostic {
    let decision = &outcome.judgement.decision;
    let why = if decision.matched.is_empty() {
        "no rule matched; the default applied".to_owned()
    } else {
        let ids: Vec<String> = decision.matched.iter().map(|m| format!("`{}`", m.id)).collect();
        format!("decided by {}", ids.join(", "))
    };
    let unanalysable: Vec<&str> = decision.parts.iter().filter_map(|p| p.unanalysable.as_deref()).collect();
    let mut diagnostic = Diagnostic::error(
        codes::TEST_FAILED,
        format!("test expected `{}`, got `{}`", outcome.test.expect.as_str(), decision.effect.as_str()),
    )
    .at(&outcome.test.file, outcome.test.span)
    .with_label(why);
    if let Some(reason) = unanalysable.first() {
        diagnostic = diagnostic.with_help(format!("unanalysable: {reason}"));
    }
    diagnostic
}
