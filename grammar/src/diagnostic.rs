//! The diagnostic model shared by the parser, the compiler and `check`.
//!
//! A diagnostic carries its own source file, so it can be rendered anywhere
//! without a side lookup. Rendering is plain text (the CLI adds colour).

use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::source::{SourceFile, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Where a diagnostic points: a file and a byte span in it.
#[derive(Debug, Clone)]
pub struct Location {
    pub file: Arc<SourceFile>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable rule code (`VT###`).
    pub code: &'static str,
    /// One line, lowercase, no trailing period.
    pub message: String,
    pub location: Option<Location>,
    /// Shown under the caret: what was expected.
    pub label: Option<String>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self { severity: Severity::Error, code, message: message.into(), location: None, label: None, help: None }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, message) }
    }

    pub fn at(mut self, file: &Arc<SourceFile>, span: Span) -> Self {
        self.location = Some(Location { file: Arc::clone(file), span });
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:column`, or `None` for diagnostics without a location.
    pub fn position(&self) -> Option<(String, usize, usize)> {
        let location = self.location.as_ref()?;
        let (line, column) = location.file.line_col(location.span.start);
        Some((location.file.name.clone(), line, column))
    }

    /// The one-line form: `file:line:col: error[VT001]: message`.
    pub fn one_line(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.position() {
            Some((file, line, column)) => {
                format!("{file}:{line}:{column}: {severity}[{}]: {}", self.code, self.message)
            }
            None => format!("{severity}[{}]: {}", self.code, self.message),
        }
    }

    /// The multi-line form with the source line and a caret under the span.
    pub fn render(&self) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{severity}[{}]: {}\n", self.code, self.message);
        if let Some(location) = &self.location {
            let file = &location.file;
            let (line, column) = file.line_col(location.span.start);
            let (end_line, end_column) = file.line_col(location.span.end);
            let source_line = file.line_text(line);
            let gutter = line.to_string().len();
            let pad = " ".repeat(gutter);
            let _ = writeln!(out, "{pad}--> {}:{line}:{column}", file.name);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line} | {source_line}");
            let width = if end_line == line {
                end_column.saturating_sub(column).max(1)
            } else {
                source_line.chars().count().saturating_sub(column - 1).max(1)
            };
            let indent: String =
                source_line.chars().take(column - 1).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
            let _ = write!(out, "{pad} | {indent}{}", "^".repeat(width));
            if let Some(label) = &self.label {
                let _ = write!(out, " {label}");
            }
            out.push('\n');
        } else if let Some(label) = &self.label {
            let _ = writeln!(out, "  = {label}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "  = help: {help}");
        }
        out
    }

    /// The machine-readable form used by `--format json`.
    pub fn to_report(&self) -> DiagnosticReport {
        let position = self.location.as_ref().map(|location| {
            let (line, column) = location.file.line_col(location.span.start);
            let (end_line, end_column) = location.file.line_col(location.span.end);
            (location.file.name.clone(), line, column, end_line, end_column)
        });
        DiagnosticReport {
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            file: position.as_ref().map(|p| p.0.clone()),
            line: position.as_ref().map(|p| p.1),
            column: position.as_ref().map(|p| p.2),
            end_line: position.as_ref().map(|p| p.3),
            end_column: position.as_ref().map(|p| p.4),
            label: self.label.clone(),
            help: self.help.clone(),
        }
    }
}

/// A diagnostic as JSON: stable field names, documented in the README.
#[derive(Debug, Clone, Serialize)]
pub struct DiagnosticReport {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub label: Option<String>,
    pub help: Option<String>,
}
