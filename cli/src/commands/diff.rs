//! `vtpolicy diff`.

use serde_json::{Value, json};
use vtpolicy::runtime::diff::{Location, PolicyDiff, Side, Verdict, Witness, diff};
use vtpolicy::{Judge, Layering, RawRequest};

use super::check::{github, sarif};
use crate::Exit;
use crate::args::{DiffArgs, ReportFormat};
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &DiffArgs, style: Style) -> Exit {
    let old: Vec<String> = args.old_policy.iter().chain(&args.old).cloned().collect();
    let new: Vec<String> = args.new_policy.iter().chain(&args.new).cloned().collect();
    if old.is_empty() || new.is_empty() {
        eprintln!("error: give both sides: `vtpolicy diff OLD NEW`, or `--old P… --new P…`");
        return Exit::Error;
    }
    let Ok(environment) = policies::environment(args.workspace.as_deref(), args.cwd.as_deref()) else {
        return Exit::Error;
    };
    let mut tests: Vec<RawRequest> = Vec::new();
    let mut judge = |specs: &[String], side: &str| -> Option<Judge> {
        let failure = format!("the {side} side does not compile; nothing was compared");
        let loaded = policies::load_or_say(specs, &environment, Layering::Enforce, style, &failure)?;
        let context = environment.context();
        for test in loaded.compiled().iter().flat_map(|compiled| &compiled.tests) {
            tests.push(vtpolicy::runtime::test_request(&test.request, &context));
        }
        match loaded.judge(environment.clone()) {
            Ok(judge) => Some(judge),
            Err(error) => {
                eprintln!("error: the {side} side: {error}");
                None
            }
        }
    };
    let (Some(old), Some(new)) = (judge(&old, "old"), judge(&new, "new")) else {
        return Exit::Error;
    };
    let result = diff(&old, &new, &tests);
    match args.format {
        ReportFormat::Human => print_human(&result, style),
        ReportFormat::Json => crate::output::outln!("{}", to_json(&result)),
        ReportFormat::Sarif => crate::output::outln!("{}", to_sarif(&result)),
        ReportFormat::Github => {
            for witness in &result.witnesses {
                crate::output::outln!("{}", annotation(witness));
            }
        }
    }
    if result.verdict == Verdict::Equivalent { Exit::Ok } else { Exit::Failure }
}

fn change(witness: &Witness) -> &'static str {
    if witness.is_more_permissive() { "more-permissive" } else { "less-permissive" }
}

/// The call in a few words: `exec git push -f`, `read /etc/passwd`.
fn describe(request: &RawRequest, sandboxed: bool) -> String {
    let call = match request {
        RawRequest::Exec { argv: Some(argv), .. } => format!("exec {}", argv.join(" ")),
        RawRequest::Exec { command, .. } => format!("exec `{}`", command.as_deref().unwrap_or_default()),
        RawRequest::Read { path, .. } => format!("read {path}"),
        RawRequest::Write { path, .. } => format!("write {path}"),
        RawRequest::Net { unix: Some(path), .. } => format!("net unix {path}"),
        RawRequest::Net { host, port, .. } => {
            format!("net {}:{}", host.as_deref().unwrap_or_default(), port.unwrap_or_default())
        }
        RawRequest::Tool { name, .. } => format!("tool {name}"),
    };
    if sandboxed { format!("{call} (sandboxed)") } else { call }
}

fn side_text(side: &Side) -> String {
    let by = match side.rules.as_slice() {
        [] => "the default".to_owned(),
        rules => rules.join(", "),
    };
    match &side.location {
        Some(Location { file, line, column }) => format!("{} by {by} ({file}:{line}:{column})", side.decision.as_str()),
        None => format!("{} by {by}", side.decision.as_str()),
    }
}

fn print_human(result: &PolicyDiff, style: Style) {
    let regions = result.witnesses.len();
    crate::output::outln!(
        "{} {}: {regions} changed region{} among {} calls probed",
        style.bold("verdict:"),
        result.verdict.as_str(),
        if regions == 1 { "" } else { "s" },
        result.probed
    );
    for witness in &result.witnesses {
        crate::output::outln!();
        let change = match witness.is_more_permissive() {
            true => style.bad("more permissive"),
            false => style.ok("less permissive"),
        };
        crate::output::outln!("{change}: {}", style.bold(&describe(&witness.request, witness.sandboxed)));
        crate::output::outln!("  old: {}", side_text(&witness.old));
        crate::output::outln!("  new: {}", side_text(&witness.new));
        crate::output::outln!("  {}", style.dim(&format!("request: {}", witness.request_json())));
    }
}

fn side_json(side: &Side) -> Value {
    let mut value = json!({ "decision": side.decision.as_str(), "rules": side.rules });
    if let (Some(location), Some(object)) = (&side.location, value.as_object_mut()) {
        object.insert("source".to_owned(), format!("{}:{}:{}", location.file, location.line, location.column).into());
    }
    value
}

fn to_json(result: &PolicyDiff) -> Value {
    let witnesses: Vec<Value> = result
        .witnesses
        .iter()
        .map(|witness| {
            json!({
                "request": witness.request_json(),
                "old": side_json(&witness.old),
                "new": side_json(&witness.new),
                "change": change(witness),
            })
        })
        .collect();
    json!({ "verdict": result.verdict.as_str(), "probed": result.probed, "witnesses": witnesses })
}

/// The rule to point a reviewer at: the new side's, else the old side's,
/// when it was written in a file (stock policies have none).
fn location(witness: &Witness) -> Option<&Location> {
    [&witness.new.location, &witness.old.location].into_iter().flatten().find(|l| !l.file.starts_with('<'))
}

fn message(witness: &Witness) -> String {
    format!(
        "{} is {}: old {}; new {}. Request: {}",
        describe(&witness.request, witness.sandboxed),
        change(witness).replace('-', " "),
        side_text(&witness.old),
        side_text(&witness.new),
        witness.request_json()
    )
}

fn to_sarif(result: &PolicyDiff) -> Value {
    let results: Vec<Value> = result
        .witnesses
        .iter()
        .map(|witness| {
            let mut value = json!({
                "ruleId": change(witness),
                "ruleIndex": usize::from(!witness.is_more_permissive()),
                "level": if witness.is_more_permissive() { "warning" } else { "note" },
                "message": { "text": message(witness) },
                "properties": { "request": witness.request_json() },
            });
            if let (Some(location), Some(object)) = (location(witness), value.as_object_mut()) {
                object.insert(
                    "locations".to_owned(),
                    sarif::locations(&location.file, location.line, location.column, None),
                );
            }
            value
        })
        .collect();
    let rule = |id: &str, text: &str| json!({ "id": id, "shortDescription": { "text": text } });
    let rules = vec![
        rule("more-permissive", "The new policy decides this call more permissively than the old"),
        rule("less-permissive", "The new policy decides this call less permissively than the old"),
    ];
    let properties = json!({ "verdict": result.verdict.as_str(), "probed": result.probed });
    sarif::document("vtpolicy diff", rules, results, Some(properties))
}

fn annotation(witness: &Witness) -> String {
    let command = if witness.is_more_permissive() { "warning" } else { "notice" };
    let mut properties = Vec::new();
    if let Some(location) = location(witness) {
        properties.push(format!("file={}", github::property(&location.file)));
        properties.push(format!("line={}", location.line));
        properties.push(format!("col={}", location.column));
    }
    properties.push(format!("title={}", github::property(&format!("vtpolicy diff: {}", change(witness)))));
    format!("::{command} {}::{}", properties.join(","), github::data(&message(witness)))
}
