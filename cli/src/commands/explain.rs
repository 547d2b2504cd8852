//! `vtpolicy explain`.

use std::io::Read as _;

use vtpolicy::runtime::explanation::RuleReport;
use vtpolicy::{Explanation, RawRequest, parse_request};

use crate::Exit;
use crate::args::{ExplainArgs, Format};
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &ExplainArgs, style: Style) -> Exit {
    let (raw, sandboxed) = match read_request(args) {
        Ok(raw) => raw,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    let workspace = args.policy.workspace.clone().or_else(|| raw.workspace().map(Into::into));
    let cwd = args.cwd.clone().or_else(|| raw.cwd().map(Into::into));
    let mut environment = match policies::environment(workspace.as_deref(), cwd.as_deref()) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    environment.sandboxed = args.sandboxed || sandboxed;
    let Some(loaded) = policies::load_cached(&args.policy.policies, &environment, vtpolicy::Layering::Enforce, style)
    else {
        return Exit::Error;
    };
    let judge = match loaded.judge(environment) {
        Ok(judge) => judge,
        Err(error) => {
            eprintln!("error: {error}");
            return Exit::Error;
        }
    };
    let judge = match crate::approvals::attach(judge) {
        Ok(judge) => judge,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    let judgement = judge.judge(&raw);
    let explanation = Explanation::new(&judge, &judgement);
    match args.format {
        Format::Json => match serde_json::to_string_pretty(&explanation) {
            Ok(json) => crate::output::outln!("{json}"),
            Err(error) => {
                eprintln!("error: {error}");
                return Exit::Error;
            }
        },
        Format::Human => print_human(&explanation, style),
    }
    // The process ends here: the judge is memory the kernel reclaims at
    // exit, faster than freeing it piece by piece.
    drop(explanation);
    std::mem::forget(judge);
    Exit::Ok
}

/// The call, and whether the request file says it runs sandboxed.
fn read_request(args: &ExplainArgs) -> Result<(RawRequest, bool), String> {
    if let Some(file) = &args.request {
        let text = if file == "-" {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read standard input: {e}"))?;
            text
        } else {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read `{file}`: {e}"))?
        };
        let name = if file == "-" { "<stdin>" } else { file.as_str() };
        let raw = parse_request(&text).map_err(|e| format!("{name}: {e}"))?;
        return Ok((raw, vtpolicy::runtime::request_sandboxed(&text)));
    }
    if let Some(command) = &args.command {
        return Ok((
            RawRequest::Exec { argv: None, command: Some(command.clone()), cwd: None, workspace: None },
            false,
        ));
    }
    if args.argv.is_empty() {
        return Err("give the call to judge: `--request FILE`, `--command TEXT`, or `-- PROGRAM ARGS…`".to_owned());
    }
    Ok((RawRequest::Exec { argv: Some(args.argv.clone()), command: None, cwd: None, workspace: None }, false))
}

fn print_human(explanation: &Explanation, style: Style) {
    crate::output::outln!("{} {}", style.bold("decision:"), style.effect(explanation.decision));
    for rule in &explanation.matched {
        print_rule(rule, style, "  ");
    }
    if explanation.matched.is_empty() {
        crate::output::outln!("  {}", style.dim("no rule decided: the default applied"));
    }
    for part in &explanation.parts {
        crate::output::outln!();
        let what = match (&part.request, &part.unanalysable) {
            (Some(request), _) => request.describe(),
            (None, Some(reason)) => format!("unanalysable: {reason}"),
            (None, None) => String::new(),
        };
        crate::output::outln!(
            "{} {}  {}",
            style.effect(part.decision),
            style.bold(&part.label),
            style.dim(&format!("→ {what}"))
        );
        if part.kernel_refusal {
            let why = match &part.request {
                Some(vtpolicy::engine::Request::Net { .. }) => {
                    "raised to deny: the egress proxy reaches loopback, private and link-local addresses only through an allow rule naming the host itself"
                }
                _ => "raised from prompt: no allow rule grants this path, so the kernel sandbox would refuse it",
            };
            crate::output::outln!("    {}", style.dim(why));
        }
        if part.default_applied && part.unanalysable.is_none() {
            crate::output::outln!("    {}", style.dim("no rule matched: the default applied"));
        }
        // Rules about other programs say nothing about this call: counted,
        // not listed (`--format json` lists them).
        let other_programs = part.trace.iter().filter(|e| e.program_differs).count();
        for entry in part.trace.iter().filter(|e| !e.program_differs) {
            let mark = if entry.matched { style.ok("✓") } else { style.dim("✗") };
            crate::output::outln!(
                "    {mark} {} ({}) {}: {}",
                entry.id,
                entry.effect.as_str(),
                style.dim(&format!("at {}", entry.source)),
                entry.reason
            );
        }
        if other_programs > 0 {
            crate::output::outln!(
                "    {}",
                style.dim(&format!("({other_programs} rules about other programs not shown)"))
            );
        }
    }
}

fn print_rule(rule: &RuleReport, style: Style, indent: &str) {
    crate::output::outln!(
        "{indent}rule {} ({}) of policy {} at {}",
        style.bold(&rule.id),
        style.effect(rule.effect),
        rule.policy,
        rule.source
    );
    if let Some(because) = &rule.because {
        crate::output::outln!("{indent}  because {because}");
    }
    if rule.uncertain {
        crate::output::outln!(
            "{indent}  {}",
            style.dim(
                "matches only for some values known at run time; capped at the effect for unanalysable constructs"
            )
        );
    }
}
