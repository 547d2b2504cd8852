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

use super::{Imported, Writer, escape_glob, literal_token, quote};

pub fn import(text: &str, source: &str) -> Result<Imported, String> {
    let settings: Value = serde_json::from_str(text).map_err(|e| format!("{source}: invalid JSON: {e}"))?;
    if !settings.is_object() {
        return Err(format!("{source}: not a settings object"));
    }
    let mut out = Writer::new("claude-import", source);
    out.line("# Claude evaluates deny, then ask, then allow: the strictest rule wins, as here.");
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
                Ok(rule) => out.rule(&origin, &rule),
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
    if mode != Some("bypassPermissions") && mode != Some("plan") {
        // Claude's read-only tools need no approval in the project.
        out.rule("Claude reads the project's files without asking", "allow read \"${workspace}/**\"");
    }
    match mode {
        None | Some("default") => {
            out.rule("defaultMode: default (ask for anything not allowed)", "default prompt");
        }
        Some("acceptEdits") => {
            out.rule("defaultMode: acceptEdits (ask, but accept file edits)", "default prompt");
            out.rule("defaultMode: acceptEdits", "allow write \"${workspace}/**\"");
        }
        Some("plan") => {
            out.rule("defaultMode: plan (read, change nothing)", "default deny\ndefault read allow");
        }
        Some("dontAsk") => out.rule("defaultMode: dontAsk (deny unless pre-approved)", "default deny"),
        Some("bypassPermissions") => {
            out.rule("defaultMode: bypassPermissions (allow everything)", "default allow");
            out.rule(
                "bypassPermissions still asks before writes to .git, .claude, .vscode and .idea",
                "prompt write \"${workspace}/.git/**\", \"${workspace}/.claude/**\", \"${workspace}/.vscode/**\",\n    \"${workspace}/.idea/**\"",
            );
        }
        Some(other) => {
            out.rule(&format!("defaultMode: {other}"), "default prompt");
            out.skip(
                &format!("defaultMode: {other}"),
                "no equivalent (the auto mode's classifier is not a rule); asks instead",
            );
        }
    }
}

/// One permission rule as a `.vtp` rule.
pub(crate) fn translate(rule: &str, effect: &str) -> Result<String, String> {
    let (tool, specifier) = match rule.split_once('(') {
        Some((tool, rest)) => {
            let specifier = rest.strip_suffix(')').ok_or("unbalanced parentheses")?;
            (tool, Some(specifier))
        }
        None => (rule, None),
    };
    match (tool, specifier) {
        ("Bash", None) | ("Bash", Some("*")) => Ok(format!("{effect} exec * ..")),
        ("Bash", Some(command)) => {
            let (pattern, relative_program) = bash_rule(command)?;
            // A program of the workspace is never trusted: an allow of it
            // holds inside the kernel sandbox, where Bash calls are judged.
            let contained = relative_program && effect == "allow";
            Ok(format!("{effect} exec {pattern}{}", if contained { "\n    when sandboxed" } else { "" }))
        }
        ("Read", Some(path)) => Ok(format!("{effect} read {}", quote(&path_glob(path)?))),
        ("Edit" | "Write" | "MultiEdit" | "NotebookEdit", Some(path)) => {
            Ok(format!("{effect} write {}", quote(&path_glob(path)?)))
        }
        ("Read", None) => Ok(format!("{effect} read \"/**\"")),
        ("Edit" | "Write" | "MultiEdit", None) => Ok(format!("{effect} write \"/**\"")),
        ("WebFetch", Some(spec)) => {
            let host = spec.strip_prefix("domain:").ok_or("only `domain:` WebFetch specifiers are understood")?;
            Ok(format!("{effect} net {}", quote(host)))
        }
        ("WebFetch", None) => Ok(format!("{effect} net \"*\"")),
        (name, None) if name.starts_with("mcp__") => {
            let glob = if name.matches("__").count() == 1 { format!("{name}__*") } else { name.to_owned() };
            Ok(format!("{effect} tool {}", quote(&glob)))
        }
        (name, None) if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
            Ok(format!("{effect} tool {}", quote(name)))
        }
        (name, Some(_)) => Err(format!("`{name}(…)` specifiers have no equivalent")),
        (name, None) => Err(format!("`{name}` is not a tool name")),
    }
}

/// [`bash_pattern`], and whether the program is a relative path (`./gradlew`).
fn bash_rule(command: &str) -> Result<(String, bool), String> {
    let pattern = bash_pattern(command)?;
    Ok((pattern.clone(), pattern.starts_with("\"${cwd}/")))
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
pub(crate) fn bash_pattern(command: &str) -> Result<String, String> {
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
            if tokens.last().map(String::as_str) != Some("..") {
                tokens.push("..".to_owned());
            }
        } else if word.contains('*') {
            // A glob within the word; at the end of the command a `*` may
            // also run on over spaces, into further words.
            tokens.push(quote(word));
            if last && word.ends_with('*') {
                tokens.push("..".to_owned());
            }
        } else {
            tokens.push(literal_token(word));
        }
    }
    // A relative program is judged by the file it names, from the
    // directory the command runs in.
    let relative = words.first().and_then(|program| {
        (program.starts_with("./") || program.starts_with("../")).then(|| program.trim_start_matches("./"))
    });
    if let (Some(program), Some(first)) = (relative, tokens.first_mut()) {
        *first = quote(&format!("${{cwd}}/{program}"));
    }
    if legacy_prefix && relative.is_some() && words.len() == 1 {
        // `./gradlew:*`: the program and any arguments (not programs
        // whose names merely start so).
        tokens.push("..".to_owned());
    } else if legacy_prefix {
        // `cmd:*`: commands starting with `cmd`, even inside its last word.
        tokens.pop();
        let word = words.last().copied().unwrap_or_default();
        tokens.push(quote(&format!("{}*", escape_glob(word))));
        tokens.push("..".to_owned());
    }
    if tokens.first().map(String::as_str) == Some("..") {
        tokens.insert(0, "*".to_owned());
    }
    Ok(tokens.join(" "))
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
    use super::*;

    #[test]
    fn bash_specifiers() {
        assert_eq!(bash_pattern("npm run build").as_deref(), Ok("npm run build"));
        assert_eq!(bash_pattern("npm run test:*").as_deref(), Ok("npm run \"test*\" .."));
        assert_eq!(bash_pattern("git diff *").as_deref(), Ok("git diff .."));
        assert_eq!(bash_pattern("git * main").as_deref(), Ok("git .. main"));
        assert_eq!(bash_pattern("* --version").as_deref(), Ok("* .. --version"));
        assert_eq!(bash_pattern("ls*").as_deref(), Ok("\"ls*\" .."));
        assert!(bash_pattern("curl $URL").is_err());
        // As the normaliser judges them: wrappers and assignments removed.
        assert_eq!(bash_pattern("timeout 60 npx tsc:*").as_deref(), Ok("npx \"tsc*\" .."));
        assert_eq!(bash_pattern("LC_ALL=C sort -u").as_deref(), Ok("sort -u"));
        assert_eq!(bash_pattern("env FOO=1 nice -n 5 make test").as_deref(), Ok("make test"));
        assert!(bash_pattern("git -C /path status").is_err());
        assert!(bash_pattern("timeout * make").is_err());
        // A relative program is the file in the working directory.
        assert_eq!(bash_pattern("./gradlew:*").as_deref(), Ok("\"${cwd}/gradlew\" .."));
        assert_eq!(bash_pattern("./scripts/test.sh --ci").as_deref(), Ok("\"${cwd}/scripts/test.sh\" --ci"));
        assert_eq!(
            translate("Bash(./gradlew:*)", "allow").as_deref(),
            Ok("allow exec \"${cwd}/gradlew\" ..\n    when sandboxed")
        );
        assert_eq!(translate("Bash(./gradlew:*)", "deny").as_deref(), Ok("deny exec \"${cwd}/gradlew\" .."));
        assert_eq!(bash_pattern("make a,b").as_deref(), Ok("make \"a,b\""));
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
