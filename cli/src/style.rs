//! Terminal colour, only when standard output is a terminal and `NO_COLOR`
//! is unset.

use std::io::IsTerminal;

use vtpolicy::engine::Effect;
use vtpolicy::grammar::Severity;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    colour: bool,
}

impl Style {
    pub(crate) fn detect() -> Style {
        Style { colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    pub(crate) fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub(crate) fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    pub(crate) fn effect(self, effect: Effect) -> String {
        let code = match effect {
            Effect::Allow => "1;32",
            Effect::Prompt => "1;33",
            Effect::Deny => "1;31",
        };
        self.paint(code, effect.as_str())
    }

    pub(crate) fn ok(self, text: &str) -> String {
        self.paint("32", text)
    }

    pub(crate) fn bad(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// A rendered diagnostic with its severity word coloured.
    pub(crate) fn diagnostic(self, rendered: &str, severity: Severity) -> String {
        if !self.colour {
            return rendered.to_owned();
        }
        let (word, code) = match severity {
            Severity::Error => ("error", "1;31"),
            Severity::Warning => ("warning", "1;33"),
        };
        rendered.replacen(word, &self.paint(code, word), 1)
    }
}
