//! VT113 `never-matches`: an exec rule that no call can match once the
//! normaliser has seen it.
//!
//! Rules are written as commands are typed, but judged against what the
//! normaliser makes of a command: wrappers (`timeout 60`, `env FOO=1`,
//! `nice`) removed, `git -C DIR` turned into a working directory, a
//! relative program resolved to its file, options read by the program's
//! grammar. A rule spelled with any of those matches nothing. The check is
//! exact for the calls it tries: each instance of the rule's pattern is
//! judged as a real call would be, and the rule is reported when it
//! matches none of them, outside the sandbox or in it. Calls of programs
//! this machine does not have are left out: no allow rule trusts them
//! here, which says nothing of the machines that have them.

use vtpolicy_compiler::{CompiledPolicy, Diagnostic, codes};
use vtpolicy_engine::Matcher;
use vtpolicy_engine::witness::argv_pattern_instances;

use crate::judge::{Environment, Judge};
use crate::request::RawRequest;

/// The rules of `policy`'s own file that no instance of their exec
/// pattern matches once normalised. The policy is judged alone, from the
/// workspace, as its inline tests are.
pub fn never_matching_rules(
    policy: &CompiledPolicy,
    environment: &Environment,
) -> Result<Vec<Diagnostic>, vtpolicy_engine::GraphError> {
    let environment = Environment { cwd: environment.workspace.clone(), ..environment.clone() };
    let judge = Judge::new(vec![policy.clone()], environment.clone())?;
    let mut diagnostics = Vec::new();
    for (index, rule) in policy.policy.rules.iter().enumerate() {
        let Some(source) = policy.own_rule_source(index) else {
            continue;
        };
        // `when running` rules match nothing until a run lifts them.
        if rule.running.is_some() {
            continue;
        }
        let modes: &[bool] = if rule.sandboxed_only { &[true] } else { &[false, true] };
        for matcher in &rule.matchers {
            let Matcher::Exec { pattern } = matcher else { continue };
            let instances = argv_pattern_instances(pattern);
            let mut seen_as: Option<(String, Vec<Option<String>>)> = None;
            // A program this machine does not have is trusted by no allow
            // rule here, and may be elsewhere: those calls tell nothing.
            let present = |argv: &&Vec<String>| {
                argv.first().is_some_and(|program| {
                    if program.starts_with('/') {
                        std::path::Path::new(program).exists()
                    } else if program.contains('/') {
                        true
                    } else {
                        environment.lookup.search(program).is_some()
                    }
                })
            };
            let matches = instances.iter().filter(present).any(|argv| {
                let raw = RawRequest::argv(argv.iter().cloned());
                modes.iter().any(|&sandboxed| {
                    let (described, matched) = judge.matching_rules(&raw, sandboxed);
                    seen_as.get_or_insert_with(|| (argv.join(" "), described));
                    matched.contains(&(0, index))
                })
            });
            if matches {
                continue;
            }
            let Some((typed, described)) = seen_as else { continue };
            let label = match instances.first().and_then(|argv| argv.first()) {
                Some(program) if program.contains('/') && !program.starts_with('/') => format!(
                    "`{program}` is a relative program: calls match by the file it names (`\"${{workspace}}/{}\"`) or its name",
                    program.trim_start_matches("./")
                ),
                _ => format!("`{typed}` is judged as {}", parts_text(&described)),
            };
            diagnostics.push(
                Diagnostic::warning(codes::NEVER_MATCHES, format!("rule `{}` can never match a call", rule.id))
                    .at(&source.file, source.span)
                    .with_label(label)
                    .with_help(
                        "rules match commands as the normaliser sees them: without wrappers such as `timeout` or \
                         `env`, with `git -C DIR` as a working directory and a relative program as its file; \
                         write the rule for what remains (`vtpolicy explain -- ARGV` shows it)",
                    ),
            );
            break;
        }
    }
    Ok(diagnostics)
}

/// `exec make`, `exec a and exec b`, `an unanalysable part`.
fn parts_text(parts: &[Option<String>]) -> String {
    if parts.is_empty() {
        return "nothing to judge".to_owned();
    }
    let texts: Vec<String> = parts
        .iter()
        .map(|part| match part {
            Some(request) => format!("`{request}`"),
            None => "an unanalysable part".to_owned(),
        })
        .collect();
    texts.join(" and ")
}
