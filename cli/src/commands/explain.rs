//! `vtpolicy explain`.

use std::io::Read as _;

use serde::Serialize;
use vtpolicy_engine::{Decision, Effect, MatchedRule, Request, reference::TraceEntry};
use vtpolicy_runtime::{Judge, RawRequest, parse_request};

use crate::Exit;
use crate::args::{ExplainArgs, Format};
use crate::policies;
use crate::style::Style;

/// `explain --format json`. Field names are stable (see the README).
#[derive(Serialize)]
struct Explanation {
    decision: Effect,
    matched: Vec<RuleReport>,
    default_applied: bool,
    parts: Vec<PartReport>,
}

#[derive(Serialize)]
struct RuleReport {
    id: String,
    effect: Effect,
    because: Option<String>,
    policy: String,
    source: String,
    /// Matched only for some values known at run time; effect capped.
    uncertain: bool,
}

#[derive(Serialize)]
struct PartReport {
    label: String,
    request: Option<Request>,
    unanalysable: Option<String>,
    decision: Effect,
    matched: Vec<RuleReport>,
    default_applied: bool,
    kernel_refusal: bool,
    trace: Vec<TraceReport>,
}

#[derive(Serialize)]
struct TraceReport {
    id: String,
    effect: Effect,
    policy: String,
    matched: bool,
    reason: String,
    /// The rule is about another program (folded away in human output).
    program_differs: bool,
    source: String,
}

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
    let Some(judge) = policies::judge(&args.policy.policies, environment, vtpolicy_runtime::Layering::Enforce, style)
    else {
        return Exit::Error;
    };
    let judgement = judge.judge(&raw);
    let explanation = Explanation {
        decision: judgement.decision.effect,
        matched: rules(&judge, &judgement.decision.matched),
        default_applied: judgement.decision.default_applied,
        parts: judgement
            .decision
            .parts
            .iter()
            .map(|part| {
                part_report(&judge, &part.label, part.request.as_ref(), part.unanalysable.as_deref(), &part.decision)
            })
            .collect(),
    };
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
        return Ok((raw, vtpolicy_runtime::request_sandboxed(&text)));
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

fn rules(judge: &Judge, matched: &[MatchedRule]) -> Vec<RuleReport> {
    matched
        .iter()
        .map(|rule| RuleReport {
            id: rule.id.to_string(),
            effect: rule.effect,
            because: rule.because.as_deref().map(str::to_owned),
            policy: policy_name(judge, rule.policy),
            source: source(judge, rule.policy, rule.rule),
            uncertain: rule.uncertain,
        })
        .collect()
}

fn policy_name(judge: &Judge, policy: usize) -> String {
    judge.policy_name(policy).unwrap_or_default().to_owned()
}

fn source(judge: &Judge, policy: usize, rule: usize) -> String {
    // Rego policies have no rule spans: the module's file stands for them.
    judge
        .rule_source(policy, rule)
        .map(|s| s.location())
        .or_else(|| judge.policy_name(policy).filter(|_| policy >= judge.engine().policies().len()).map(str::to_owned))
        .unwrap_or_default()
}

fn part_report(
    judge: &Judge,
    label: &str,
    request: Option<&Request>,
    unanalysable: Option<&str>,
    decision: &Decision,
) -> PartReport {
    let trace = request
        .map(|request| judge.trace(request).iter().map(|entry| trace_report(judge, entry)).collect())
        .unwrap_or_default();
    PartReport {
        label: label.to_owned(),
        request: request.cloned(),
        unanalysable: unanalysable.map(str::to_owned),
        decision: decision.effect,
        matched: rules(judge, &decision.matched),
        default_applied: decision.default_applied,
        kernel_refusal: decision.kernel_refusal,
        trace,
    }
}

fn trace_report(judge: &Judge, entry: &TraceEntry) -> TraceReport {
    TraceReport {
        id: entry.id.clone(),
        effect: entry.effect,
        policy: policy_name(judge, entry.policy),
        matched: entry.matched,
        reason: entry.reason.clone(),
        program_differs: entry.program_differs,
        source: source(judge, entry.policy, entry.rule),
    }
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
            crate::output::outln!(
                "    {}",
                style.dim("raised from prompt: no allow rule grants this path, so the kernel sandbox would refuse it")
            );
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
