//! `check --format github`: GitHub Actions workflow commands, one
//! annotation per diagnostic, shown on the lines they name.

use vtpolicy::grammar::{DiagnosticReport, Severity};

/// The annotation line of one diagnostic.
pub(super) fn annotation(diagnostic: &DiagnosticReport) -> String {
    let command = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut properties = Vec::new();
    if let Some(file) = diagnostic.file.as_ref().filter(|f| !f.starts_with('<')) {
        properties.push(format!("file={}", property(file)));
        if let Some(line) = diagnostic.line {
            properties.push(format!("line={line}"));
            properties.push(format!("endLine={}", diagnostic.end_line.unwrap_or(line)));
        }
        if let Some(column) = diagnostic.column {
            properties.push(format!("col={column}"));
            properties.push(format!("endColumn={}", diagnostic.end_column.unwrap_or(column)));
        }
    }
    properties.push(format!("title={}", property(diagnostic.code)));
    let mut message = diagnostic.message.clone();
    if let Some(label) = &diagnostic.label {
        message.push_str(&format!(": {label}"));
    }
    if let Some(help) = &diagnostic.help {
        message.push_str(&format!("\nhelp: {help}"));
    }
    format!("::{command} {}::{}", properties.join(","), data(&message))
}

/// A message, escaped as workflow commands require.
pub(crate) fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property value: also `:` and `,`, which end it.
pub(crate) fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_what_ends_a_property_or_a_message() {
        let report = DiagnosticReport {
            severity: Severity::Warning,
            code: "VT101",
            message: "100% shadowed, by `a:b`".to_owned(),
            file: Some("dir,x/a:b.vtp".to_owned()),
            line: Some(3),
            column: Some(1),
            end_line: Some(3),
            end_column: Some(9),
            label: None,
            help: Some("remove it".to_owned()),
        };
        assert_eq!(
            annotation(&report),
            "::warning file=dir%2Cx/a%3Ab.vtp,line=3,endLine=3,col=1,endColumn=9,title=VT101::100%25 shadowed, by `a:b`%0Ahelp: remove it"
        );
    }
}
