//! Native rules for other agents' own permission systems: Claude Code's
//! `permissions.allow/ask/deny` and Codex's `prefix_rule`s, for the part of
//! the policies they can express.
//!
//! The translation never lets the agent allow more than the policies do:
//! an allow rule is left out when a deny or prompt rule that could not be
//! translated might overlap it (the agent would run what vtpolicy stops).
//! Every rule left out is reported with the reason. Deny and prompt rules
//! may come out broader than written (a Codex prefix, a Claude domain
//! without its port), which only makes the agent stricter.
//!
//! Claude Code evaluates deny, then ask, then allow, and the first match
//! wins; Codex takes the strictest matching rule. Both agree with the
//! strictest-wins of vtpolicy on the rules that translate.

use vtpolicy_engine::{ArgvPattern, Atom, Effect, Matcher, Policy, Rule, TokenPattern};

use crate::Context;
use crate::overlap::Scope;

/// What could not be translated, one line each: rule id and why.
pub type Untranslated = Vec<String>;

/// The most words a pattern with alternatives expands into.
const MAX_EXPANSION: usize = 64;

/// Claude Code permission rules, in the agent's evaluation classes.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClaudePermissions {
    pub allow: Vec<String>,
    pub ask: Vec<String>,
    pub deny: Vec<String>,
}

/// One translated rule: the effect, the agent's rule texts, and what it
/// covers, to test untranslated rules against.
struct Translated {
    effect: Effect,
    texts: Vec<String>,
    scope: Scope,
}

/// A pattern of literal words, ending in "any further arguments" or not:
/// each word's alternatives.
struct Prefix {
    words: Vec<Vec<String>>,
    open: bool,
}

/// Words the agents compare as plain text: no shell syntax, no wildcard.
fn plain_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c))
}

fn prefix(pattern: &ArgvPattern) -> Result<Prefix, String> {
    let (open, fixed) = match pattern.tokens.split_last() {
        Some((TokenPattern::Rest, fixed)) => (true, fixed),
        _ => (false, pattern.tokens.as_slice()),
    };
    let mut words = Vec::new();
    for token in fixed {
        match token {
            TokenPattern::OneOf(atoms) => {
                let mut alternatives = Vec::new();
                for atom in atoms {
                    match atom {
                        Atom::Literal(word) if plain_word(word) => alternatives.push(word.clone()),
                        Atom::Literal(word) => return Err(format!("the word `{word}` is not plain text")),
                        Atom::Glob(glob) => return Err(format!("the word pattern `{glob}` has no equivalent")),
                    }
                }
                words.push(alternatives);
            }
            TokenPattern::Any => return Err("a `*` word has no equivalent".to_owned()),
            TokenPattern::Rest => return Err("`..` before the last word has no equivalent".to_owned()),
        }
    }
    if words.is_empty() {
        return Err("a pattern for any program".to_owned());
    }
    Ok(Prefix { words, open })
}

fn expand(words: &[Vec<String>]) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    for alternatives in words {
        let mut next = Vec::with_capacity(out.len() * alternatives.len());
        for start in &out {
            for word in alternatives {
                next.push(if start.is_empty() { word.clone() } else { format!("{start} {word}") });
            }
        }
        if next.len() > MAX_EXPANSION {
            return Err(format!("it expands into more than {MAX_EXPANSION} commands"));
        }
        out = next;
    }
    Ok(out)
}

/// A compiled path glob in Claude Code's anchors: `//abs`, `~/` for the
/// home, `/` for the workspace (as the importer reads them back).
fn claude_path(glob: &str, context: &Context) -> Result<String, String> {
    let under = |root: &str| {
        glob.strip_prefix(root).and_then(|rest| rest.strip_prefix('/')).filter(|_| !root.is_empty() && root != "/")
    };
    if under(&context.tmp).is_some() || glob == context.tmp {
        return Err("the per-call temporary directory has no equivalent".to_owned());
    }
    if let Some(rest) = under(&context.workspace) {
        return Ok(format!("/{rest}"));
    }
    if let Some(rest) = under(&context.home) {
        return Ok(format!("~/{rest}"));
    }
    // `**/NAME` matches at any depth of the whole file system.
    match (glob.strip_prefix('/'), glob.starts_with("**/")) {
        (Some(rest), _) => Ok(format!("//{rest}")),
        (None, true) => Ok(format!("//{glob}")),
        (None, false) => Err(format!("the glob `{glob}` is not absolute")),
    }
}

fn claude_rule(matcher: &Matcher, effect: Effect, context: &Context) -> Result<Vec<String>, String> {
    match matcher {
        Matcher::Exec { pattern } => {
            let prefix = prefix(pattern)?;
            let mut texts = Vec::new();
            for command in expand(&prefix.words)? {
                texts.push(format!("Bash({command})"));
                if prefix.open {
                    texts.push(format!("Bash({command} *)"));
                }
            }
            Ok(texts)
        }
        Matcher::Path { read, write, glob } => {
            let path = claude_path(glob, context)?;
            let mut texts = Vec::new();
            if *read {
                texts.push(format!("Read({path})"));
            }
            if *write {
                texts.push(format!("Edit({path})"));
            }
            Ok(texts)
        }
        Matcher::Net { host, ports } => {
            if host.contains('*') {
                return Err(format!("the host pattern `{host}` has no equivalent"));
            }
            let web = |port: u16| ports.iter().any(|(low, high)| *low <= port && port <= *high);
            if effect == Effect::Allow && !ports.is_empty() && !(web(443) && web(80)) {
                return Err("WebFetch rules name no port; this rule allows only some".to_owned());
            }
            Ok(vec![format!("WebFetch(domain:{host})")])
        }
        Matcher::Tool { glob } => match glob.strip_suffix("__*") {
            Some(server)
                if server.starts_with("mcp__") && !server.contains('*') && server.matches("__").count() == 1 =>
            {
                Ok(vec![server.to_owned()])
            }
            _ if !glob.contains('*') && plain_word(glob) => Ok(vec![glob.clone()]),
            _ => Err(format!("the tool pattern `{glob}` has no equivalent")),
        },
        Matcher::Socket { .. } => Err("unix socket rules have no equivalent".to_owned()),
    }
}

fn codex_rule(matcher: &Matcher, effect: Effect, because: Option<&str>) -> Result<Vec<String>, String> {
    let Matcher::Exec { pattern } = matcher else {
        return Err("Codex rules are about commands only".to_owned());
    };
    let prefix = prefix(pattern)?;
    if !prefix.open {
        return Err("Codex rules are prefixes: an exact command has no equivalent".to_owned());
    }
    let words: Vec<String> = prefix
        .words
        .iter()
        .map(|alternatives| match alternatives.as_slice() {
            [one] => starlark_string(one),
            many => format!("[{}]", many.iter().map(|w| starlark_string(w)).collect::<Vec<_>>().join(", ")),
        })
        .collect();
    let decision = match effect {
        Effect::Allow => "allow",
        Effect::Prompt => "prompt",
        Effect::Deny => "forbidden",
    };
    let justification = because.map(|b| format!(", justification={}", starlark_string(b))).unwrap_or_default();
    Ok(vec![format!("prefix_rule(pattern=[{}], decision=\"{decision}\"{justification})", words.join(", "))])
}

fn starlark_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// Translates every rule with `translate`, then leaves out the allows an
/// untranslated deny or prompt might overlap.
fn translate_all(
    policies: &[&Policy],
    mut translate: impl FnMut(&Rule, &Matcher) -> Result<Vec<String>, String>,
) -> (Vec<Translated>, Untranslated) {
    let mut translated = Vec::new();
    let mut untranslated = Vec::new();
    let mut blocking: Vec<(String, Scope)> = Vec::new();
    for policy in policies {
        for rule in &policy.rules {
            if rule.sandboxed_only {
                untranslated.push(format!(
                    "{}: applies only inside the kernel sandbox, which the agent's own permissions know nothing of",
                    rule.id
                ));
                continue;
            }
            if rule.running.is_some() {
                untranslated.push(format!(
                    "{}: applies only to the connections of a `vtpolicy run` of the command it names",
                    rule.id
                ));
                continue;
            }
            for matcher in &rule.matchers {
                match translate(rule, matcher) {
                    Ok(texts) => translated.push(Translated { effect: rule.effect, texts, scope: Scope::of(matcher) }),
                    Err(why) => {
                        untranslated.push(format!("{}: {why}", rule.id));
                        if rule.effect != Effect::Allow {
                            blocking.push((rule.id.to_string(), Scope::of(matcher)));
                        }
                    }
                }
            }
        }
        for (kind, effect) in [
            ("read", policy.defaults.read),
            ("write", policy.defaults.write),
            ("exec", policy.defaults.exec),
            ("net", policy.defaults.net),
            ("tool", policy.defaults.tool),
        ] {
            if let Some(effect) = effect.filter(|e| *e != Effect::Prompt) {
                untranslated.push(format!(
                    "{}: the default `{}` for {kind} has no equivalent (the agent asks by default)",
                    policy.name,
                    effect.as_str()
                ));
            }
        }
    }
    translated.retain(|rule| {
        if rule.effect != Effect::Allow {
            return true;
        }
        match blocking.iter().find(|(_, scope)| scope.may_overlap(&rule.scope)) {
            Some((id, _)) => {
                untranslated.push(format!(
                    "{} left out: the untranslated rule {id} may refuse some of what it allows",
                    rule.texts.join(", ")
                ));
                false
            }
            None => true,
        }
    });
    (translated, untranslated)
}

/// Claude Code `permissions` for `policies` compiled in `context`.
pub fn claude_settings(policies: &[&Policy], context: &Context) -> (ClaudePermissions, Untranslated) {
    let (translated, untranslated) =
        translate_all(policies, |rule, matcher| claude_rule(matcher, rule.effect, context));
    let mut permissions = ClaudePermissions::default();
    for rule in translated {
        let list = match rule.effect {
            Effect::Allow => &mut permissions.allow,
            Effect::Prompt => &mut permissions.ask,
            Effect::Deny => &mut permissions.deny,
        };
        for text in rule.texts {
            if !list.contains(&text) {
                list.push(text);
            }
        }
    }
    (permissions, untranslated)
}

/// A Codex `.rules` file for `policies`.
pub fn codex_rules(policies: &[&Policy]) -> (String, Untranslated) {
    let (translated, untranslated) =
        translate_all(policies, |rule, matcher| codex_rule(matcher, rule.effect, rule.because.as_deref()));
    let mut text = String::from("# Generated by `vtpolicy compile --target codex-rules`.\n");
    for rule in translated {
        for line in rule.texts {
            text.push_str(&line);
            text.push('\n');
        }
    }
    (text, untranslated)
}
