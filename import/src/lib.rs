//! Importers: other agents' permission rules translated into a `.vtp`
//! policy (`vtpolicy import claude|codex FILE`).
//!
//! Each importer returns the policy text, a `#` comment above every rule
//! naming the source rule it came from, and the list of what could not be
//! translated and why, which also closes the file as a comment block. The
//! text is meant to pass `vtpolicy check` as is.
//!
//! The crate depends on the grammar alone (for its quoting rules): what
//! the policies it writes decide is tested against the compiler and the
//! engine in `tests/`.

pub mod claude;
pub mod codex;
pub mod vtcode;

use std::fmt::Write as _;

pub use vtpolicy_grammar::escape_glob;

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub policy: String,
    /// What did not translate, one line each: the source item, then why.
    pub untranslated: Vec<String>,
}

/// Builds the policy text.
pub(crate) struct Writer {
    text: String,
    untranslated: Vec<String>,
}

impl Writer {
    pub(crate) fn new(name: &str, source: &str) -> Writer {
        let mut text = String::new();
        let _ = writeln!(text, "# Imported from {source} by `vtpolicy import`.");
        let _ = writeln!(text, "version 1");
        let _ = writeln!(text, "policy {}", quote(name));
        Writer { text, untranslated: Vec::new() }
    }

    pub(crate) fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// A rule with the comment naming its source.
    pub(crate) fn rule(&mut self, source: &str, rule: &str) {
        let _ = writeln!(self.text, "\n# {}", comment(source));
        self.line(rule);
    }

    pub(crate) fn skip(&mut self, source: &str, why: &str) {
        self.untranslated.push(format!("{}: {why}", comment(source)));
    }

    pub(crate) fn finish(mut self) -> Imported {
        if !self.untranslated.is_empty() {
            self.line("\n# Not translated:");
            for item in &self.untranslated {
                let _ = writeln!(self.text, "# - {item}");
            }
        }
        Imported { policy: self.text, untranslated: self.untranslated }
    }
}

/// A `.vtp` string literal.
pub(crate) fn quote(text: &str) -> String {
    vtpolicy_grammar::quote(text)
}

/// Text made safe for a one-line comment.
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// An argv token for an exec pattern: bare when it is a plain word, else
/// quoted.
pub(crate) fn token(text: &str) -> String {
    let plain = !text.is_empty()
        // `,` separates list items in `.vtp`: a token holding one is quoted.
        && text.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+".contains(c))
        && !text.starts_with("..")
        && !matches!(
            text,
            "*" | "allow" | "prompt" | "deny" | "exec" | "read" | "write" | "net" | "tool" | "id" | "because" | "port"
        );
    if plain { text.to_owned() } else { quote(text) }
}

/// An argv token matching `text` exactly: glob characters escaped.
pub(crate) fn literal_token(text: &str) -> String {
    if text.contains(['*', '?']) { quote(&escape_glob(text)) } else { token(text) }
}
