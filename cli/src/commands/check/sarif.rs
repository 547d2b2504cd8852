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
            let location = json!([{
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(file) },
                    "region": {
                        "startLine": line,
                        "startColumn": column,
                        "endLine": diagnostic.end_line.unwrap_or(line),
                        "endColumn": diagnostic.end_column.unwrap_or(column),
                    },
                },
            }]);
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
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "vtpolicy", "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
            "results": results,
        }],
    })
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
