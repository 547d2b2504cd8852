//! Importers: other agents' permission rules translated into a `.vtp`
//! policy (`vtpolicy import claude|codex FILE`).
//!
//! Each importer returns the policy text, a `#` comment above every rule
//! naming the source rule it came from, and the list of what could not be
//! translated and why, which also closes the file as a comment block. The
//! text is meant to pass `vtpolicy check` as is.
//!
//! Every rule is built as grammar AST and printed by the formatter, so
//! there is one quoting rule and the text parses back to what was built.
//! The crate depends on the grammar alone: what
//! the policies it writes decide is tested against the compiler and the
//! engine in `tests/`.

pub mod claude;
pub mod codex;
pub mod vtcode;

use std::fmt::Write as _;

pub use vtpolicy_grammar::escape_glob;
use vtpolicy_grammar::{
    ArgPattern, Default, DefaultScope, Effect, Item, Kind, PortRange, Rule, Span, Spanned, Target, TestBlock, TestCase,
    TestRequest, format_item,
};

/// A source file that cannot be read as the tool's format at all (what
/// can be read but not translated is listed in [`Imported::untranslated`]
/// instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: invalid JSON: {message}")]
    Json { file: String, message: String },
    #[error("{file}: invalid TOML: {message}")]
    Toml { file: String, message: String },
    /// Well-formed, but not the document the importer reads.
    #[error("{file}: {message}")]
    NotTheFormat { file: String, message: String },
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub policy: String,
    /// What did not translate, one line each: the source item, then why.
    pub untranslated: Vec<String>,
}

/// Builds the policy: each translated item is grammar AST, printed by the
/// formatter (one quoting rule, and text that parses back to the same
/// AST), under a comment naming its source.
pub(crate) struct Writer {
    text: String,
    untranslated: Vec<String>,
}

impl Writer {
    pub(crate) fn new(name: &str, source: &str) -> Writer {
        let mut writer = Writer { text: String::new(), untranslated: Vec::new() };
        writer.comment(&format!("Imported from {source} by `vtpolicy import`."));
        writer.item(&Item::Version(spanned(1)));
        writer.item(&Item::Policy(spanned(name.to_owned())));
        writer
    }

    /// A `#` comment line.
    pub(crate) fn comment(&mut self, text: &str) {
        let _ = writeln!(self.text, "# {}", comment(text));
    }

    /// A blank line, to open a section.
    pub(crate) fn blank(&mut self) {
        self.text.push('\n');
    }

    fn item(&mut self, item: &Item) {
        self.text.push_str(&format_item(item));
        self.text.push('\n');
    }

    /// Items with the comment naming their source.
    pub(crate) fn items(&mut self, source: &str, items: &[Item]) {
        self.blank();
        self.comment(source);
        for item in items {
            self.item(item);
        }
    }

    /// A rule with the comment naming its source.
    pub(crate) fn rule(&mut self, source: &str, rule: Rule) {
        self.items(source, &[Item::Rule(rule)]);
    }

    /// A test block of `cases`, each a request and the decision expected.
    pub(crate) fn test(&mut self, name: &str, cases: Vec<(TestRequest, &str)>) {
        let cases = cases
            .into_iter()
            .map(|(request, expect)| TestCase { request, expect: spanned(effect(expect)), span: Span::default() })
            .collect();
        self.item(&Item::Test(TestBlock { name: Some(spanned(name.to_owned())), cases, span: Span::default() }));
    }

    pub(crate) fn skip(&mut self, source: &str, why: &str) {
        self.untranslated.push(format!("{}: {why}", comment(source)));
    }

    pub(crate) fn finish(mut self) -> Imported {
        if !self.untranslated.is_empty() {
            self.blank();
            self.comment("Not translated:");
            for item in &self.untranslated {
                let _ = writeln!(self.text, "# - {}", comment(item));
            }
        }
        Imported { policy: self.text, untranslated: self.untranslated }
    }
}

/// Text made safe for a one-line comment.
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

pub(crate) fn spanned<T>(node: T) -> Spanned<T> {
    Spanned { node, span: Span::default() }
}

/// `allow`, `prompt` or `deny` (anything else is a prompt).
pub(crate) fn effect(name: &str) -> Effect {
    match name {
        "allow" => Effect::Allow,
        "deny" => Effect::Deny,
        _ => Effect::Prompt,
    }
}

fn rule(effect_name: &str, kinds: &[Kind], target: Target) -> Rule {
    Rule {
        effect: spanned(effect(effect_name)),
        kinds: kinds.iter().map(|&kind| spanned(kind)).collect(),
        target,
        id: None,
        because: None,
        sandboxed_only: None,
        running: None,
        span: Span::default(),
    }
}

/// `EFFECT exec ARGS…`.
pub(crate) fn exec_rule(effect: &str, args: Vec<ArgPattern>) -> Rule {
    rule(effect, &[Kind::Exec], Target::Argv(args.into_iter().map(spanned).collect()))
}

/// `EFFECT KINDS "S", …` for read, write and tool rules.
pub(crate) fn strings_rule(effect: &str, kinds: &[Kind], strings: &[&str]) -> Rule {
    rule(effect, kinds, Target::Strings(strings.iter().map(|s| spanned((*s).to_owned())).collect()))
}

/// `EFFECT net "HOST", … [port …]`.
pub(crate) fn net_rule(effect: &str, hosts: &[&str], ports: &[(u16, u16)]) -> Rule {
    rule(
        effect,
        &[Kind::Net],
        Target::Hosts {
            hosts: hosts.iter().map(|h| spanned((*h).to_owned())).collect(),
            ports: ports.iter().map(|&(low, high)| spanned(PortRange { low, high })).collect(),
        },
    )
}

/// `default [KIND] EFFECT`.
pub(crate) fn default_item(kind: Option<Kind>, effect_name: &str) -> Item {
    let scope = kind.map_or(DefaultScope::All, DefaultScope::Kind);
    Item::Default(Default { scope, effect: effect(effect_name), span: Span::default() })
}

/// `because TEXT` on a rule.
pub(crate) fn because(mut rule: Rule, text: &str) -> Rule {
    rule.because = Some(spanned(text.to_owned()));
    rule
}

/// `when sandboxed` on a rule.
pub(crate) fn sandboxed(mut rule: Rule) -> Rule {
    rule.sandboxed_only = Some(Span::default());
    rule
}

/// An argv token matching `text` exactly: glob characters escaped when it
/// would otherwise be read as a glob.
pub(crate) fn literal(text: &str) -> ArgPattern {
    ArgPattern::Token(literal_text(text))
}

/// The token text of [`literal`], for an alternative.
pub(crate) fn literal_text(text: &str) -> String {
    if text.contains(['*', '?']) { escape_glob(text) } else { text.to_owned() }
}
