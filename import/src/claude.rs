//! Claude Code `settings.json`: `permissions.allow`, `ask`, `deny` and
//! `defaultMode`.
//!
//! Claude evaluates deny, then ask, then allow, first match wins: deny
//! beats ask beats allow whatever the order, which is vtpolicy's
//! strictest-wins. `Bash(…)` specifiers become exec rules (a `*` word any
//! number of words, `:*` the legacy prefix form), `Read(…)` read rules,
//! `Edit(…)`/`Write(…)` write rules, with Claude's anchors (`//abs`,
//! `~/home`, `/project`, `relative`) and gitignore's rule that a pattern
//! without a slash matches at any depth; `WebFetch(domain:…)` net rules;
//! `mcp__server[__tool]` and other tool names tool rules.

use serde_json::Value;

use vtpolicy_grammar::{ArgPattern, Kind, Rule};

use super::{
    ImportError, Imported, Writer, default_item, escape_glob, exec_rule, literal, net_rule, sandboxed, strings_rule,
};

pub fn import(text: &str, source: &str) -> Result<Imported, ImportError> {
    let settings: Value = serde_json::from_str(text)
        .map_err(|e| ImportError::Json { file: source.to_owned(), message: e.to_string() })?;
    if !settings.is_object() {
        return Err(ImportError::NotTheFormat { file: source.to_owned(), message: "not a settings object".to_owned() });
    }
    let mut out = Writer::new("claude-import", source);
    out.comment("Claude evaluates deny, then ask, then allow: the strictest rule wins, as here.");
    let empty = Value::Object(serde_json::Map::new());
    let permissions = match settings.get("permissions") {
        Some(permissions) => permissions,
        None => {
            // Hooks, env and the like only: Claude asks for everything.
            out.skip("permissions", "the file has no `permissions`: the policy only asks, as Claude would");
            &empty
        }
    };
    default_mode(permissions.get("defaultMode").and_then(Value::as_str), &mut out);
    for (key, effect) in [("deny", "deny"), ("ask", "prompt"), ("allow", "allow")] {
        let Some(list) = permissions.get(key) else { continue };
        let Some(list) = list.as_array() else {
            out.skip(&format!("permissions.{key}"), "not a list");
            continue;
        };
        for entry in list {
            let Some(rule) = entry.as_str() else {
                out.skip(&format!("permissions.{key}: {entry}"), "not a string");
                continue;
            };
            let origin = format!("{key}: {rule}");
            match translate(rule, effect) {
                Ok(rule) => out.rule(&origin, rule),
                Err(why) => out.skip(&origin, &why),
            }
        }
    }
    for key in ["additionalDirectories"] {
        if permissions.get(key).is_some() {
            out.skip(
                &format!("permissions.{key}"),
                "extra directories are granted by a `.vtp` allow read/write rule instead",
            );
        }
    }
    Ok(out.finish())
}

fn default_mode(mode: Option<&str>, out: &mut Writer) {
    let workspace_tree = |effect: &str, kind: Kind| strings_rule(effect, &[kind], &["${workspace}/**"]);
    if mode != Some("bypassPermissions") && mode != Some("plan") {
        // Claude's read-only tools need no approval in the project.
        out.rule("Claude reads the project's files without asking", workspace_tree("allow", Kind::Read));
    }
    match mode {
        None | Some("default") => {
            out.items("defaultMode: default (ask for anything not allowed)", &[default_item(None, "prompt")]);
        }
        Some("acceptEdits") => {
            out.items("defaultMode: acceptEdits (ask, but accept file edits)", &[default_item(None, "prompt")]);
            out.rule("defaultMode: acceptEdits", workspace_tree("allow", Kind::Write));
        }
        Some("plan") => out.items(
            "defaultMode: plan (read, change nothing)",
            &[default_item(None, "deny"), default_item(Some(Kind::Read), "allow")],
        ),
        Some("dontAsk") => {
            out.items("defaultMode: dontAsk (deny unless pre-approved)", &[default_item(None, "deny")]);
        }
        Some("bypassPermissions") => {
            out.items("defaultMode: bypassPermissions (allow everything)", &[default_item(None, "allow")]);
            out.rule(
                "bypassPermissions still asks before writes to .git, .claude, .vscode and .idea",
                strings_rule(
                    "prompt",
                    &[Kind::Write],
                    &[
                        "${workspace}/.git/**",
                        "${workspace}/.claude/**",
                        "${workspace}/.vscode/**",
                        "${workspace}/.idea/**",
                    ],
                ),
            );
        }
        Some(other) => {
            out.items(&format!("defaultMode: {other}"), &[default_item(None, "prompt")]);
            out.skip(
                &format!("defaultMode: {other}"),
                "no equivalent (the auto mode's classifier is not a rule); asks instead",
            );
        }
    }
}

/// One permission rule as a `.vtp` rule.
pub(crate) fn translate(rule: &str, effect: &str) -> Result<Rule, String> {
    let (tool, specifier) = match rule.split_once('(') {
        Some((tool, rest)) => {
            let specifier = rest.strip_suffix(')').ok_or("unbalanced parentheses")?;
            (tool, Some(specifier))
        }
        None => (rule, None),
    };
    match (tool, specifier) {
        ("Bash", None) | ("Bash", Some("*")) => Ok(exec_rule(effect, vec![ArgPattern::Any, ArgPattern::Rest])),
        ("Bash", Some(command)) => {
            let (pattern, relative_program) = bash_rule(command)?;
            // A program of the workspace is never trusted: an allow of it
            // holds inside the kernel sandbox, where Bash calls are judged.
            let rule = exec_rule(effect, pattern);
            Ok(if relative_program && effect == "allow" { sandboxed(rule) } else { rule })
        }
        ("Read", Some(path)) => Ok(strings_rule(effect, &[Kind::Read], &[&path_glob(path)?])),
        ("Edit" | "Write" | "MultiEdit" | "NotebookEdit", Some(path)) => {
            Ok(strings_rule(effect, &[Kind::Write], &[&path_glob(path)?]))
        }
        ("Read", None) => Ok(strings_rule(effect, &[Kind::Read], &["/**"])),
        ("Edit" | "Write" | "MultiEdit", None) => Ok(strings_rule(effect, &[Kind::Write], &["/**"])),
        ("WebFetch", Some(spec)) => {
            let host = spec.strip_prefix("domain:").ok_or("only `domain:` WebFetch specifiers are understood")?;
            Ok(net_rule(effect, &[host], &[]))
        }
        ("WebFetch", None) => Ok(net_rule(effect, &["*"], &[])),
        (name, None) if name.starts_with("mcp__") => {
            let glob = if name.matches("__").count() == 1 { format!("{name}__*") } else { name.to_owned() };
            Ok(strings_rule(effect, &[Kind::Tool], &[&glob]))
        }
        (name, None) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok(strings_rule(effect, &[Kind::Tool], &[name]))
        }
        (name, Some(_)) => Err(format!("`{name}(…)` specifiers have no equivalent")),
        (name, None) => Err(format!("`{name}` is not a tool name")),
    }
}

/// [`bash_pattern`], and whether the program is a relative path (`./gradlew`).
fn bash_rule(command: &str) -> Result<(Vec<ArgPattern>, bool), String> {
    let pattern = bash_pattern(command)?;
    let relative = matches!(pattern.first(), Some(ArgPattern::Token(program)) if program.starts_with("${cwd}/"));
    Ok((pattern, relative))
}

/// The words of a command after the wrappers and variable assignments
/// that vtpolicy's normaliser removes before judging (`LC_ALL=C`,
/// `timeout 60`, `nice -n 5`, `nohup`, `time`, `env A=1`): a rule keeps
/// the command they run. `Err` for a wrapper spelled with a pattern.
fn unwrapped<'a>(mut words: &'a [&'a str]) -> Result<&'a [&'a str], String> {
    let assignment = |w: &str| {
        w.split_once('=')
            .is_some_and(|(name, _)| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    };
    loop {
        let Some((first, rest)) = words.split_first() else { return Ok(words) };
        let skip = match *first {
            w if assignment(w) => 1,
            "nohup" | "time" => 1,
            "env" => 1 + rest.iter().take_while(|w| assignment(w) || w.starts_with('-')).count(),
            "nice" => match rest {
                ["-n", _, ..] => 3,
                [flag, ..] if flag.starts_with('-') => 2,
                _ => 1,
            },
            // Options, then the duration.
            "timeout" => 2 + rest.iter().take_while(|w| w.starts_with('-')).count(),
            _ => return Ok(words),
        };
        if words.iter().take(skip).any(|w| w.contains('*')) {
            return Err(format!("the wrapper `{first}` is spelled with a pattern"));
        }
        words = words.get(skip..).ok_or_else(|| format!("`{first}` runs no command"))?;
    }
}

/// `npm run test:*` (legacy prefix), `git * main`, `ls *`, `ls*`.
pub(crate) fn bash_pattern(command: &str) -> Result<Vec<ArgPattern>, String> {
    let (command, legacy_prefix) = match command.strip_suffix(":*") {
        Some(prefix) => (prefix, true),
        None => (command, false),
    };
    let all: Vec<&str> = command.split_whitespace().collect();
    if all.iter().any(|w| w.contains(['"', '\'', '$', '`', '|', '&', ';', '<', '>'])) {
        return Err("quotes, variables and shell operators in a specifier have no token equivalent".to_owned());
    }
    let words = unwrapped(&all)?.to_vec();
    if words.is_empty() {
        return Err("an empty command".to_owned());
    }
    if words.first() == Some(&"git")
        && words
            .iter()
            .skip(1)
            .take_while(|w| w.starts_with('-'))
            .any(|w| ["-C", "--git-dir", "--work-tree"].iter().any(|o| w == o || w.starts_with(&format!("{o}="))))
    {
        // The normaliser runs `git -C DIR status` as `git status` in DIR.
        return Err(
            "`git -C`, `--git-dir` and `--work-tree` choose where git runs, which a rule cannot name".to_owned()
        );
    }
    let mut tokens = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let last = index + 1 == words.len();
        if *word == "*" {
            // `*` as a word: any number of words.
            if tokens.last() != Some(&ArgPattern::Rest) {
                tokens.push(ArgPattern::Rest);
            }
        } else if word.contains('*') {
            // A glob within the word; at the end of the command a `*` may
            // also run on over spaces, into further words.
            tokens.push(ArgPattern::Token((*word).to_owned()));
            if last && word.ends_with('*') {
                tokens.push(ArgPattern::Rest);
            }
        } else {
            tokens.push(literal(word));
        }
    }
    // A relative program is judged by the file it names, from the
    // directory the command runs in.
    let relative = words.first().and_then(|program| {
        (program.starts_with("./") || program.starts_with("../")).then(|| program.trim_start_matches("./"))
    });
    if let (Some(program), Some(first)) = (relative, tokens.first_mut()) {
        *first = ArgPattern::Token(format!("${{cwd}}/{program}"));
    }
    if legacy_prefix && relative.is_some() && words.len() == 1 {
        // `./gradlew:*`: the program and any arguments (not programs
        // whose names merely start so).
        tokens.push(ArgPattern::Rest);
    } else if legacy_prefix {
        // `cmd:*`: commands starting with `cmd`, even inside its last word.
        tokens.pop();
        let word = words.last().copied().unwrap_or_default();
        tokens.push(ArgPattern::Token(format!("{}*", escape_glob(word))));
        tokens.push(ArgPattern::Rest);
    }
    if tokens.first() == Some(&ArgPattern::Rest) {
        tokens.insert(0, ArgPattern::Any);
    }
    Ok(tokens)
}

/// A Claude path specifier as an absolute vtpolicy glob.
fn path_glob(spec: &str) -> Result<String, String> {
    if spec.is_empty() {
        return Err("an empty path".to_owned());
    }
    let (base, rest) = if let Some(rest) = spec.strip_prefix("//") {
        ("", rest)
    } else if let Some(rest) = spec.strip_prefix("~/") {
        ("${home}", rest)
    } else if let Some(rest) = spec.strip_prefix('/') {
        ("${workspace}", rest)
    } else {
        ("${cwd}", spec.strip_prefix("./").unwrap_or(spec))
    };
    let rest = rest.trim_end_matches('/');
    let directory = spec.ends_with('/');
    // gitignore: a pattern without a slash (`.env`, `*.key`, `secrets/`)
    // matches at any depth; an anchored one (`./x`, `/x`, `~/x`, `//x`)
    // where it says.
    let anywhere = base == "${cwd}" && !spec.starts_with("./") && !rest.contains('/');
    let mut glob = if anywhere { format!("{base}/**/{rest}") } else { format!("{base}/{rest}") };
    if directory {
        glob.push_str("/**");
    }
    Ok(glob)
}

#[cfg(test)]
mod tests {
    use vtpolicy_grammar::{Item, format_item};

    use super::*;

    /// The pattern as the formatter prints it.
    fn pattern(command: &str) -> Result<String, String> {
        bash_pattern(command).map(|args| {
            let rule = format_item(&Item::Rule(exec_rule("allow", args)));
            rule.trim_start_matches("allow exec ").to_owned()
        })
    }

    fn translated(rule: &str, effect: &str) -> Result<String, String> {
        translate(rule, effect).map(|rule| format_item(&Item::Rule(rule)))
    }

    #[test]
    fn bash_specifiers() {
        assert_eq!(pattern("npm run build").as_deref(), Ok("npm run build"));
        assert_eq!(pattern("npm run test:*").as_deref(), Ok("npm run \"test*\" .."));
        assert_eq!(pattern("git diff *").as_deref(), Ok("git diff .."));
        assert_eq!(pattern("git * main").as_deref(), Ok("git .. main"));
        assert_eq!(pattern("* --version").as_deref(), Ok("* .. --version"));
        assert_eq!(pattern("ls*").as_deref(), Ok("\"ls*\" .."));
        assert!(pattern("curl $URL").is_err());
        // As the normaliser judges them: wrappers and assignments removed.
        assert_eq!(pattern("timeout 60 npx tsc:*").as_deref(), Ok("npx \"tsc*\" .."));
        assert_eq!(pattern("LC_ALL=C sort -u").as_deref(), Ok("sort -u"));
        assert_eq!(pattern("env FOO=1 nice -n 5 make test").as_deref(), Ok("make test"));
        assert!(pattern("git -C /path status").is_err());
        assert!(pattern("timeout * make").is_err());
        // A relative program is the file in the working directory.
        assert_eq!(pattern("./gradlew:*").as_deref(), Ok("\"${cwd}/gradlew\" .."));
        assert_eq!(pattern("./scripts/test.sh --ci").as_deref(), Ok("\"${cwd}/scripts/test.sh\" --ci"));
        assert_eq!(
            translated("Bash(./gradlew:*)", "allow").as_deref(),
            Ok("allow exec \"${cwd}/gradlew\" ..\n    when sandboxed")
        );
        assert_eq!(translated("Bash(./gradlew:*)", "deny").as_deref(), Ok("deny exec \"${cwd}/gradlew\" .."));
        assert_eq!(pattern("make a,b").as_deref(), Ok("make \"a,b\""));
        // Glob characters in a literal word are escaped, and quoted.
        assert_eq!(pattern("echo a?b:*").as_deref(), Ok("echo \"a\\\\?b*\" .."));
    }

    #[test]
    fn path_anchors() {
        assert_eq!(path_glob("//etc/**").as_deref(), Ok("/etc/**"));
        assert_eq!(path_glob("~/.ssh/**").as_deref(), Ok("${home}/.ssh/**"));
        assert_eq!(path_glob("/src/**").as_deref(), Ok("${workspace}/src/**"));
        assert_eq!(path_glob("./.env").as_deref(), Ok("${cwd}/.env"));
        assert_eq!(path_glob(".env").as_deref(), Ok("${cwd}/**/.env"));
        assert_eq!(path_glob("*.env").as_deref(), Ok("${cwd}/**/*.env"));
        assert_eq!(path_glob("secrets/").as_deref(), Ok("${cwd}/**/secrets/**"));
    }
}
