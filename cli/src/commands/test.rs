//! `vtpolicy test`.

use std::path::Path;

use serde::Serialize;
use vtpolicy::runtime::cases::{Case, CaseFile, check_case};
use vtpolicy::runtime::{load_policy, run_inline_tests};

use crate::Exit;
use crate::args::{Format, TestArgs};
use crate::policies;
use crate::style::Style;

#[derive(Serialize)]
struct Failure {
    file: String,
    case: String,
    message: String,
}

#[derive(Serialize)]
struct Report {
    passed: usize,
    failed: usize,
    failures: Vec<Failure>,
}

pub(crate) fn run(args: &TestArgs, style: Style) -> Exit {
    let environment = match policies::environment(args.workspace.as_deref(), None) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let files = match policies::expand_paths(&args.paths, &[".vtp", ".tests.toml", ".jsonl"]) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    let mut report = Report { passed: 0, failed: 0, failures: Vec::new() };
    let mut broken = false;
    for file in &files {
        let result = if file.ends_with(".tests.toml") {
            toml_cases(file, &environment, style, &mut report)
        } else if file.ends_with(".jsonl") {
            jsonl_cases(file, &environment, style, &mut report)
        } else if vtpolicy::runtime::rego::is_rego(file) {
            eprintln!(
                "note: {file}: a Rego policy carries no inline tests; test it from a case file (`policy = \"{file}\"`)"
            );
            Ok(())
        } else {
            inline_tests(file, &environment, style, &mut report)
        };
        if let Err(message) = result {
            eprintln!("error: {file}: {message}");
            broken = true;
        }
    }
    match args.format {
        Format::Human => {
            for failure in &report.failures {
                crate::output::outln!("{} {} — {}: {}", style.bad("FAIL"), failure.file, failure.case, failure.message);
            }
            crate::output::outln!("{} passed, {} failed", report.passed, report.failed);
        }
        Format::Json => match serde_json::to_string_pretty(&report) {
            Ok(json) => crate::output::outln!("{json}"),
            Err(error) => {
                eprintln!("error: {error}");
                return Exit::Error;
            }
        },
    }
    if broken {
        Exit::Error
    } else if report.failed > 0 {
        Exit::Failure
    } else {
        Exit::Ok
    }
}

fn inline_tests(
    file: &str,
    environment: &vtpolicy::runtime::Environment,
    style: Style,
    report: &mut Report,
) -> Result<(), String> {
    let (compiled, diagnostics) = load_policy(file, &environment.context(), vtpolicy::runtime::Layering::AsWritten);
    let Some(compiled) = compiled else {
        policies::print_diagnostics(&diagnostics, style);
        return Err("the policy does not compile".to_owned());
    };
    let outcomes = run_inline_tests(&compiled, environment).map_err(|e| e.to_string())?;
    for outcome in outcomes {
        if outcome.passed() {
            report.passed += 1;
        } else {
            report.failed += 1;
            let (line, _) = outcome.test.file.line_col(outcome.test.span.start);
            report.failures.push(Failure {
                file: format!("{}:{line}", outcome.test.file.name),
                case: outcome.test.block.clone().unwrap_or_else(|| "test".to_owned()),
                message: super::check::failed_test(&outcome).message,
            });
        }
    }
    Ok(())
}

fn resolve_policies(file: &str, names: Vec<String>) -> Vec<String> {
    let base = Path::new(file).parent().unwrap_or(Path::new("."));
    names
        .into_iter()
        .map(|name| {
            if vtpolicy::compiler::stock_policy(&name).is_some() || Path::new(&name).is_absolute() {
                name
            } else {
                base.join(name).to_string_lossy().into_owned()
            }
        })
        .collect()
}

fn run_cases(
    file: &str,
    policies_named: Vec<String>,
    cases: &[Case],
    environment: &vtpolicy::runtime::Environment,
    style: Style,
    report: &mut Report,
) -> Result<(), String> {
    let Some(judge) = policies::judge(
        &resolve_policies(file, policies_named),
        environment.clone(),
        vtpolicy::runtime::Layering::AsWritten,
        style,
    ) else {
        return Err("the policy does not compile".to_owned());
    };
    for (index, case) in cases.iter().enumerate() {
        let outcome = check_case(&judge, case);
        match outcome.failure {
            None => report.passed += 1,
            Some(message) => {
                report.failed += 1;
                report.failures.push(Failure {
                    file: file.to_owned(),
                    case: case.name.clone().unwrap_or_else(|| format!("case {}", index + 1)),
                    message,
                });
            }
        }
    }
    Ok(())
}

fn toml_cases(
    file: &str,
    environment: &vtpolicy::runtime::Environment,
    style: Style,
    report: &mut Report,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let parsed: CaseFile = toml::from_str(&text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
    if parsed.cases.iter().any(|c| c.policy.is_some()) {
        return Err("`policy` belongs at the top of a `.tests.toml` file, not in a case".to_owned());
    }
    run_cases(file, parsed.policy.names(), &parsed.cases, environment, style, report)
}

fn jsonl_cases(
    file: &str,
    environment: &vtpolicy::runtime::Environment,
    style: Style,
    report: &mut Report,
) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: Case = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1))?;
        let Some(policy) = case.policy.clone() else {
            return Err(format!("line {}: every line needs a `policy`", number + 1));
        };
        let location = format!("{file}:{}", number + 1);
        run_cases(&location, policy.names(), std::slice::from_ref(&case), environment, style, report)?;
    }
    Ok(())
}
