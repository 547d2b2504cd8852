//! Codex `.rules` files: the Starlark subset Codex's examples and its
//! "don't ask again" amendments use, read without a Starlark interpreter:
//! top-level calls of `prefix_rule`, `network_rule` and `host_executable`
//! with literal arguments. Anything else (variables, loops, functions) is
//! listed as not translated, with its line.
//!
//! Codex matches a command when its first tokens are the pattern's, exactly
//! (alternatives allowed), and takes the strictest decision of every
//! matching rule (`forbidden` > `prompt` > `allow`), as vtpolicy does; a
//! command no rule matches is asked about. `match` and `not_match`
//! examples become `test` blocks, expecting what Codex decides for them.

use vtpolicy_grammar::{ArgPattern, Kind, Rule, TestRequest};

use super::{
    ImportError, Imported, Writer, because, default_item, escape_glob, exec_rule, literal_text, net_rule, sandboxed,
};

/// A Starlark literal of the subset.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Str(String),
    List(Vec<Literal>),
    Other(String),
}

struct Call {
    name: String,
    args: Vec<(String, Literal)>,
    line: usize,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl Parser<'_> {
    fn line(&self) -> usize {
        self.text.chars().take(self.pos).filter(|&c| c == '\n').count() + 1
    }

    fn skip_space(&mut self) {
        while let Some(&c) = self.chars.get(self.pos) {
            if c == '#' {
                while self.chars.get(self.pos).is_some_and(|&c| c != '\n') {
                    self.pos += 1;
                }
            } else if c.is_whitespace() {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("line {}: expected `{c}`", self.line()))
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_space();
        let start = self.pos;
        while self.chars.get(self.pos).is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_') {
            self.pos += 1;
        }
        (self.pos > start).then(|| self.chars.get(start..self.pos).unwrap_or_default().iter().collect())
    }

    fn string(&mut self) -> Result<String, String> {
        let quote = self.chars.get(self.pos).copied().ok_or("unexpected end")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self
                .chars
                .get(self.pos)
                .copied()
                .ok_or_else(|| format!("line {}: unterminated string", self.line()))?;
            self.pos += 1;
            match c {
                c if c == quote => return Ok(out),
                '\\' => {
                    let escaped = self.chars.get(self.pos).copied().ok_or("unterminated escape")?;
                    self.pos += 1;
                    out.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        other => other,
                    });
                }
                '\n' => return Err(format!("line {}: newline in a string", self.line())),
                c => out.push(c),
            }
        }
    }

    fn literal(&mut self) -> Result<Literal, String> {
        match self.peek() {
            Some('"' | '\'') => Ok(Literal::Str(self.string()?)),
            Some('[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.peek() == Some(']') {
                        self.pos += 1;
                        return Ok(Literal::List(items));
                    }
                    items.push(self.literal()?);
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(']') => {}
                        _ => return Err(format!("line {}: expected `,` or `]`", self.line())),
                    }
                }
            }
            _ => {
                let start = self.pos;
                let word = self.ident().ok_or_else(|| format!("line {}: expected a literal", self.line()))?;
                let _ = start;
                Ok(Literal::Other(word))
            }
        }
    }

    /// One top-level call, or an error naming the line.
    fn call(&mut self) -> Result<Call, String> {
        let line = self.line();
        let name = self.ident().ok_or_else(|| format!("line {line}: expected a call"))?;
        if self.peek() != Some('(') {
            return Err(format!(
                "`{name}` starts a statement other than a call (loops, assignments and functions are not read)"
            ));
        }
        self.expect('(')?;
        let mut args = Vec::new();
        loop {
            if self.peek() == Some(')') {
                self.pos += 1;
                break;
            }
            let key = self.ident().ok_or_else(|| format!("line {}: only keyword arguments are read", self.line()))?;
            self.expect('=')?;
            args.push((key, self.literal()?));
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {}
                _ => return Err(format!("line {}: expected `,` or `)`", self.line())),
            }
        }
        Ok(Call { name, args, line })
    }

    /// Skips to the next line that starts a statement.
    fn recover(&mut self) {
        while let Some(&c) = self.chars.get(self.pos) {
            self.pos += 1;
            if c == '\n' && self.chars.get(self.pos).is_some_and(|c| c.is_ascii_alphabetic()) {
                break;
            }
        }
    }
}

/// A pattern position: one token or alternatives.
type Position = Vec<String>;

struct PrefixRule {
    pattern: Vec<Position>,
    decision: &'static str,
}

pub fn import(text: &str, source: &str) -> Result<Imported, ImportError> {
    let mut parser = Parser { chars: text.chars().collect(), pos: 0, text };
    let mut out = Writer::new("codex-import", source);
    out.comment("Codex takes the strictest decision of every matching rule, as here; commands no rule");
    out.comment("matches are asked about.");
    out.items("unmatched commands", &[default_item(Some(Kind::Exec), "prompt")]);
    let mut rules: Vec<PrefixRule> = Vec::new();
    let mut examples: Vec<(usize, Vec<String>, bool, usize)> = Vec::new();
    while parser.peek().is_some() {
        let start = parser.pos;
        let call = match parser.call() {
            Ok(call) => call,
            Err(error) => {
                let line = text.chars().take(start).filter(|&c| c == '\n').count() + 1;
                out.skip(&format!("{source}:{line}"), &error);
                parser.recover();
                continue;
            }
        };
        let origin = format!("{source}:{} {}", call.line, call.name);
        match call.name.as_str() {
            "prefix_rule" => match prefix_rule(&call) {
                Ok((rule, built, matches, not_matches)) => {
                    out.rule(&origin, built);
                    let index = rules.len();
                    let all = matches.into_iter().map(|e| (e, true)).chain(not_matches.into_iter().map(|e| (e, false)));
                    for (example, matches) in all {
                        match example {
                            Ok(example) => examples.push((index, example, matches, call.line)),
                            Err(why) => out.skip(&origin, &why),
                        }
                    }
                    rules.push(rule);
                }
                Err(why) => out.skip(&origin, &why),
            },
            "network_rule" => match network_rule(&call) {
                Ok(rule) => out.rule(&origin, rule),
                Err(why) => out.skip(&origin, &why),
            },
            "host_executable" => out.skip(
                &origin,
                "vtpolicy matches programs by name and trusts the directories in `trusted_bin`; list these paths' directories there",
            ),
            other => out.skip(&origin, &format!("`{other}` is not one of prefix_rule, network_rule, host_executable")),
        }
    }
    if !examples.is_empty() {
        out.blank();
        out.comment("The rules' `match` and `not_match` examples, expecting what Codex decides for them.");
        let mut cases = Vec::new();
        for (_, example, _, _) in &examples {
            let mut expected = codex_decision(&rules, example);
            // Outside the sandbox, which a test case judges, a project's
            // own program is asked about even where Codex allows it.
            if expected == "allow" && example.first().is_some_and(|p| is_relative_program(p)) {
                expected = "prompt";
            }
            cases.push((TestRequest::Exec(example.clone()), expected));
        }
        out.test("codex examples", cases);
    }
    Ok(out.finish())
}

/// `./gradlew`: a program named relative to the directory.
fn is_relative_program(program: &str) -> bool {
    program.starts_with("./")
}

/// What Codex decides for `argv`: the strictest matching rule, else ask.
fn codex_decision(rules: &[PrefixRule], argv: &[String]) -> &'static str {
    let rank = |d: &str| match d {
        "deny" => 2,
        "prompt" => 1,
        _ => 0,
    };
    rules
        .iter()
        .filter(|rule| {
            argv.len() >= rule.pattern.len()
                && rule.pattern.iter().zip(argv).all(|(alternatives, token)| alternatives.contains(token))
        })
        .map(|rule| rule.decision)
        .max_by_key(|d| rank(d))
        .unwrap_or("prompt")
}

fn arg<'a>(call: &'a Call, name: &str) -> Option<&'a Literal> {
    call.args.iter().find(|(key, _)| key == name).map(|(_, value)| value)
}

fn string_arg(call: &Call, name: &str) -> Result<Option<String>, String> {
    match arg(call, name) {
        None => Ok(None),
        Some(Literal::Str(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn decision(call: &Call) -> Result<&'static str, String> {
    match string_arg(call, "decision")?.as_deref() {
        None | Some("allow") => Ok("allow"),
        Some("prompt") => Ok("prompt"),
        Some("forbidden") => Ok("deny"),
        Some(other) => Err(format!("unknown decision `{other}`")),
    }
}

/// An example's words, or why it could not be read.
type Example = Result<Vec<String>, String>;

type PrefixParts = (PrefixRule, Rule, Vec<Example>, Vec<Example>);

fn prefix_rule(call: &Call) -> Result<PrefixParts, String> {
    let Some(Literal::List(pattern)) = arg(call, "pattern") else {
        return Err("`pattern` is not a list".to_owned());
    };
    let mut positions = Vec::new();
    for item in pattern {
        positions.push(match item {
            Literal::Str(token) => vec![token.clone()],
            Literal::List(alternatives) => alternatives
                .iter()
                .map(|a| match a {
                    Literal::Str(text) => Ok(text.clone()),
                    _ => Err("an alternative that is not a string".to_owned()),
                })
                .collect::<Result<_, _>>()?,
            Literal::Other(name) => return Err(format!("`{name}` in a pattern: only literals are read")),
        });
    }
    if positions.is_empty() || positions.iter().any(Vec::is_empty) {
        return Err("an empty pattern".to_owned());
    }
    let decision = decision(call)?;
    if positions.first().is_some_and(|programs| programs.iter().any(|p| p.starts_with("../"))) {
        return Err("a program named from the parent directory (`../x`) depends on where the command runs; \
                    no rule can name it"
            .to_owned());
    }
    let relative = positions.first().is_some_and(|programs| programs.iter().any(|p| is_relative_program(p)));
    let mut args: Vec<ArgPattern> = positions
        .iter()
        .enumerate()
        .map(|(index, alternatives)| {
            let mut tokens: Vec<String> = alternatives
                .iter()
                .map(|t| match index == 0 && is_relative_program(t) {
                    // The file it names, from the directory the command runs in.
                    true => format!("${{cwd}}/{}", escape_glob(t.trim_start_matches("./"))),
                    false => literal_text(t),
                })
                .collect();
            match tokens.len() {
                1 => ArgPattern::Token(tokens.remove(0)),
                _ => ArgPattern::Alternatives(tokens),
            }
        })
        .collect();
    // A prefix: any arguments may follow.
    args.push(ArgPattern::Rest);
    let mut built = exec_rule(decision, args);
    // A program of the project is not trusted outside the sandbox; Codex
    // too runs it in its sandbox.
    if relative && decision == "allow" {
        built = sandboxed(built);
    }
    if let Some(justification) = string_arg(call, "justification")? {
        built = because(built, &justification);
    }
    // An example that cannot be read is left out, not the rule with it.
    let examples = |name: &str| -> Vec<Example> {
        match arg(call, name) {
            None => Vec::new(),
            Some(Literal::List(items)) => items
                .iter()
                .map(|item| match item {
                    Literal::List(tokens) => tokens
                        .iter()
                        .map(|t| match t {
                            Literal::Str(text) => Ok(text.clone()),
                            _ => Err(format!("a `{name}` token that is not a string")),
                        })
                        .collect(),
                    // Codex splits string examples with shlex.
                    Literal::Str(command) => shlex_split(command)
                        .ok_or_else(|| format!("the `{name}` example `{command}` has an unclosed quote")),
                    Literal::Other(other) => Err(format!("a `{name}` example `{other}` that is not a literal")),
                })
                .collect(),
            Some(_) => vec![Err(format!("`{name}` is not a list"))],
        }
    };
    let rule = PrefixRule { pattern: positions, decision };
    Ok((rule, built, examples("match"), examples("not_match")))
}

/// A command split into words as Python's `shlex.split` does (POSIX
/// mode): single quotes literal, double quotes with `\` escaping `"`,
/// `\`, `$` and `` ` ``, a `\` outside quotes escaping the next
/// character. `None` for an unclosed quote or a trailing `\`.
fn shlex_split(command: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(done) = word.take() {
                    words.push(done);
                }
            }
            '\'' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '\'' => break,
                        other => current.push(other),
                    }
                }
            }
            '"' => {
                let current = word.get_or_insert_with(String::new);
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            escaped @ ('"' | '\\' | '$' | '`') => current.push(escaped),
                            other => {
                                current.push('\\');
                                current.push(other);
                            }
                        },
                        other => current.push(other),
                    }
                }
            }
            '\\' => word.get_or_insert_with(String::new).push(chars.next()?),
            other => word.get_or_insert_with(String::new).push(other),
        }
    }
    words.extend(word);
    Some(words)
}

fn network_rule(call: &Call) -> Result<Rule, String> {
    let host = string_arg(call, "host")?.ok_or("no `host`")?;
    let ports: &[(u16, u16)] = match string_arg(call, "protocol")?.as_deref() {
        Some("https" | "https_connect" | "http-connect") => &[(443, 443)],
        Some("http") => &[(80, 80)],
        Some("socks5_tcp" | "socks5_udp") | None => &[],
        Some(other) => return Err(format!("unknown protocol `{other}`")),
    };
    let rule = net_rule(decision(call)?, &[&host], ports);
    Ok(match string_arg(call, "justification")? {
        Some(justification) => because(rule, &justification),
        None => rule,
    })
}

#[cfg(test)]
mod shlex_tests {
    use super::shlex_split;

    #[test]
    fn examples_split_as_shlex_does() {
        let split = |text: &str| shlex_split(text).map(|w| w.join("|"));
        assert_eq!(split("git push --force"), Some("git|push|--force".into()));
        assert_eq!(split("git commit -m 'fix: a thing'"), Some("git|commit|-m|fix: a thing".into()));
        assert_eq!(split(r#"echo "a \"b\" c" d\ e"#), Some(r#"echo|a "b" c|d e"#.into()));
        assert_eq!(split("echo ''"), Some("echo|".into()));
        assert_eq!(split("echo 'open"), None);
    }
}
