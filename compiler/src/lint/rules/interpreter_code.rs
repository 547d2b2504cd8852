//! VT111 `interpreter-with-code`.

use vtpolicy_engine::{Atom, Effect, Matcher, TokenPattern};
use vtpolicy_grammar::Diagnostic;

use crate::codes;
use crate::lower::CompiledPolicy;

pub(crate) const DOC: &str = "## What it does
Reports an allow rule for a shell or an interpreter (`bash`, `python3`, `node`, `perl`, …) whose pattern
admits code on the command line: any arguments (`..`, `*`) or a code option (`-c`, `-e`, `--eval`).

## Why is this bad?
Such a rule allows whatever program text the agent writes. vtpolicy judges the code it can read
(shell text is parsed, scripts are checked for imports that run programs), but code is not a command:
much of what it does cannot be seen from outside.

## Example
```
allow exec python3 ..
allow exec bash -c ..
```

## Fix
Allow the scripts the project has (`allow exec python3 scripts/check.py ..`), or write the rule
`when sandboxed` so the kernel contains what the code does.
";

/// Programs that run code given on their command line.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "python",
    "python3",
    "node",
    "deno",
    "bun",
    "perl",
    "ruby",
    "php",
    "lua",
    "pwsh",
    "osascript",
];

/// Options that take code.
const CODE_OPTIONS: &[&str] = &["-c", "-e", "-E", "--eval", "-r", "-p", "--print", "-x", "-Command"];

pub(crate) fn check(policy: &CompiledPolicy, diagnostics: &mut Vec<Diagnostic>) {
    for (rule, source) in policy.policy.rules.iter().zip(&policy.sources) {
        if rule.effect != Effect::Allow || rule.sandboxed_only {
            continue;
        }
        let interpreter = rule.matchers.iter().find_map(|matcher| {
            let Matcher::Exec { pattern } = matcher else { return None };
            let program = literals(pattern.tokens.first()?).into_iter().find(|name| {
                let base = name.rsplit('/').next().unwrap_or(name);
                INTERPRETERS.contains(&base)
            })?;
            let code = match pattern.tokens.get(1) {
                None => false,
                Some(TokenPattern::Any | TokenPattern::Rest) => true,
                Some(token) => literals(token).iter().any(|word| CODE_OPTIONS.contains(&word.as_str())),
            };
            code.then_some(program)
        });
        if let Some(program) = interpreter {
            diagnostics.push(
                Diagnostic::warning(
                    codes::INTERPRETER_WITH_CODE,
                    format!("rule `{}` allows `{program}` to run any code", rule.id),
                )
                .at(&source.file, source.span)
                .with_label("code on the command line is judged only as far as it can be read")
                .with_help("allow the project's scripts by name, or write the rule `when sandboxed`"),
            );
        }
    }
}

fn literals(token: &TokenPattern) -> Vec<String> {
    match token {
        TokenPattern::OneOf(atoms) => atoms
            .iter()
            .filter_map(|atom| match atom {
                Atom::Literal(text) => Some(text.clone()),
                Atom::Glob(_) => None,
            })
            .collect(),
        TokenPattern::Any | TokenPattern::Rest => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::check_diagnostics;

    #[test]
    fn interpreters_with_code_are_reported() {
        check_diagnostics("allow exec python3 ..\n", &["VT111 2:1 rule `test:2` allows `python3` to run any code"]);
        check_diagnostics("allow exec bash -c ..\n", &["VT111 2:1 rule `test:2` allows `bash` to run any code"]);
        check_diagnostics("allow exec python3 scripts/check.py ..\n", &[]);
        check_diagnostics("allow exec node ..\n    when sandboxed\n", &[]);
        check_diagnostics("allow exec [node | npm] --version\n", &[]);
    }
}
