//! `check --format sarif`: SARIF 2.1.0, one result per diagnostic with its
//! rule id and region, for code-scanning tools.

use serde_json::{Value, json};
use vtpolicy::grammar::{DiagnosticReport, Severity};

/// The SARIF log of `diagnostics`.
pub(super) fn log(diagnostics: &[DiagnosticReport]) -> Value {
    let mut rules: Vec<&'static str> = Vec::new();
    let mut results = Vec::new();
    for diagnostic in diagnostics {
        let index = match rules.iter().position(|code| *code == diagnostic.code) {
            Some(index) => index,
            None => {
                rules.push(diagnostic.code);
                rules.len() - 1
            }
        };
        let mut text = diagnostic.message.clone();
        if let Some(label) = &diagnostic.label {
            text.push_str(&format!(": {label}"));
        }
        let mut result = json!({
            "ruleId": diagnostic.code,
            "ruleIndex": index,
            "level": level(diagnostic.severity),
            "message": { "text": text },
        });
        // Stock policies (`<stock:…>`) have no file to point at.
        if let (Some(file), Some(line), Some(column)) = (&diagnostic.file, diagnostic.line, diagnostic.column)
            && !file.starts_with('<')
        {
            let end = (diagnostic.end_line.unwrap_or(line), diagnostic.end_column.unwrap_or(column));
            let location = locations(file, line, column, Some(end));
            if let Some(result) = result.as_object_mut() {
                result.insert("locations".to_owned(), location);
            }
        }
        results.push(result);
    }
    let rules: Vec<Value> = rules
        .iter()
        .map(|code| match vtpolicy::compiler::codes::lookup(code) {
            Some(known) => json!({
                "id": known.code,
                "name": known.name,
                "shortDescription": { "text": known.summary },
                "help": { "text": known.doc, "markdown": known.doc },
                "defaultConfiguration": { "level": level(known.severity) },
            }),
            None => json!({ "id": code }),
        })
        .collect();
    document("vtpolicy", rules, results, None)
}

/// A SARIF 2.1.0 log of one run of `tool`, with run `properties` if any.
pub(crate) fn document(tool: &str, rules: Vec<Value>, results: Vec<Value>, properties: Option<Value>) -> Value {
    let mut run = json!({
        "tool": { "driver": { "name": tool, "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
        "results": results,
    });
    if let (Some(properties), Some(object)) = (properties, run.as_object_mut()) {
        object.insert("properties".to_owned(), properties);
    }
    json!({ "$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [run] })
}

/// A result's `locations`: one region of `file`, starting at `line` and
/// `column`, ending at `end` when known.
pub(crate) fn locations(file: &str, line: usize, column: usize, end: Option<(usize, usize)>) -> Value {
    let mut region = json!({ "startLine": line, "startColumn": column });
    if let (Some((end_line, end_column)), Some(object)) = (end, region.as_object_mut()) {
        object.insert("endLine".to_owned(), end_line.into());
        object.insert("endColumn".to_owned(), end_column.into());
    }
    json!([{ "physicalLocation": { "artifactLocation": { "uri": uri(file) }, "region": region } }])
}

/// A relative path as it is; an absolute one as a `file://` URI.
pub(crate) fn uri(file: &str) -> String {
    let escaped = file.replace('%', "%25").replace(' ', "%20").replace('#', "%23").replace('?', "%3F");
    if file.starts_with('/') { format!("file://{escaped}") } else { escaped }
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
