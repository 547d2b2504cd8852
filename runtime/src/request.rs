//! The request JSON (`--request`, case files), validated against
//! `schemas/request.schema.json` ([`crate::schemas::REQUEST`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool call as an agent describes it, before normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum RawRequest {
    Exec {
        #[serde(skip_serializing_if = "Option::is_none")]
        argv: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        command: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
    },
    Read {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
    },
    Write {
        path: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
    },
    /// A host and port, or (`unix`) a pathname unix socket; the schema
    /// makes them exclusive.
    Net {
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        unix: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
    },
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        workspace: Option<String>,
    },
}

impl RawRequest {
    /// A program and its arguments, run in the environment's cwd.
    pub fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> RawRequest {
        RawRequest::Exec {
            argv: Some(argv.into_iter().map(Into::into).collect()),
            command: None,
            cwd: None,
            workspace: None,
        }
    }

    /// Shell text, parsed into its commands and redirections.
    pub fn shell(text: impl Into<String>) -> RawRequest {
        RawRequest::Exec { argv: None, command: Some(text.into()), cwd: None, workspace: None }
    }

    pub fn cwd(&self) -> Option<&str> {
        match self {
            RawRequest::Exec { cwd, .. }
            | RawRequest::Read { cwd, .. }
            | RawRequest::Write { cwd, .. }
            | RawRequest::Net { cwd, .. }
            | RawRequest::Tool { cwd, .. } => cwd.as_deref(),
        }
    }

    /// The request JSON of this call (what `explain --request` reads);
    /// `sandboxed` adds `"sandboxed": true`.
    pub fn to_value(&self, sandboxed: bool) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if sandboxed && let Value::Object(object) = &mut value {
            object.insert("sandboxed".to_owned(), true.into());
        }
        value
    }

    pub fn workspace(&self) -> Option<&str> {
        match self {
            RawRequest::Exec { workspace, .. }
            | RawRequest::Read { workspace, .. }
            | RawRequest::Write { workspace, .. }
            | RawRequest::Net { workspace, .. }
            | RawRequest::Tool { workspace, .. } => workspace.as_deref(),
        }
    }
}

/// A request that does not conform to the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if pointer.is_empty() { "request" } else { pointer.as_str() })]
pub struct RequestError {
    /// JSON pointer to the offending value (`/argv/0`), empty for the root.
    pub pointer: String,
    pub message: String,
}

/// Parses and validates request JSON. Every error names a JSON pointer.
pub fn parse_request(text: &str) -> Result<RawRequest, RequestError> {
    let value: Value = serde_json::from_str(text).map_err(|e| RequestError {
        pointer: String::new(),
        message: format!("invalid JSON at line {} column {}: {e}", e.line(), e.column()),
    })?;
    request_from_value(&value)
}

/// Whether the request says it will run inside the kernel sandbox (its
/// `sandboxed` field).
pub fn request_sandboxed(text: &str) -> bool {
    serde_json::from_str::<Value>(text).ok().and_then(|v| v.get("sandboxed").and_then(Value::as_bool)).unwrap_or(false)
}

pub fn request_from_value(value: &Value) -> Result<RawRequest, RequestError> {
    let validator = crate::schemas::validator(crate::schemas::REQUEST).map_err(|message| RequestError {
        pointer: String::new(),
        message: format!("the request schema: {message}"),
    })?;
    let mut errors: Vec<RequestError> = validator
        .iter_errors(value)
        .map(|error| {
            let mut pointer = error.instance_path().as_str().to_owned();
            let message = match error.kind() {
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    if let Some(first) = unexpected.first() {
                        pointer.push('/');
                        pointer.push_str(&first.replace('~', "~0").replace('/', "~1"));
                    }
                    format!(
                        "unknown field{} {}",
                        if unexpected.len() > 1 { "s" } else { "" },
                        unexpected.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
                    )
                }
                // The schema's `oneOf`s: exec takes `argv` or `command`, net
                // a host and port or a unix socket.
                jsonschema::error::ValidationErrorKind::OneOfMultipleValid { .. }
                | jsonschema::error::ValidationErrorKind::OneOfNotValid { .. } => {
                    if value.get("kind").and_then(Value::as_str) == Some("net") {
                        "a net request takes `host` and `port`, or `unix`".to_owned()
                    } else {
                        "an exec request takes exactly one of `argv` and `command`".to_owned()
                    }
                }
                _ => error.to_string(),
            };
            RequestError { pointer, message }
        })
        .collect();
    // The deepest error is the most specific one.
    errors.sort_by_key(|e| std::cmp::Reverse(e.pointer.matches('/').count()));
    if let Some(error) = errors.into_iter().next() {
        return Err(error);
    }
    // `sandboxed` describes where the call runs, not the call: the judge
    // reads it (`request_sandboxed`), the request does not carry it.
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("sandboxed");
    }
    serde_json::from_value(value).map_err(|e| RequestError { pointer: String::new(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse_request(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn valid_requests_parse() {
        assert!(parse_request(r#"{"kind":"exec","argv":["git","status"],"cwd":"/w"}"#).is_ok());
        assert!(parse_request(r#"{"kind":"exec","command":"ls | wc"}"#).is_ok());
        assert!(parse_request(r#"{"kind":"net","host":"crates.io","port":443}"#).is_ok());
        assert!(parse_request(r#"{"kind":"tool","name":"mcp__x","args":{"a":1}}"#).is_ok());
    }

    #[test]
    fn errors_carry_a_json_pointer() {
        assert_eq!(error(r#"{"kind":"exec","argv":["git",5]}"#), "/argv/1: 5 is not of type \"string\"");
        assert_eq!(error(r#"{"kind":"read","path":"/x","mode":"r"}"#), "/mode: unknown field `mode`");
        assert_eq!(
            error(r#"{"kind":"net","host":"x","port":70000}"#),
            "/port: 70000 is greater than the maximum of 65535"
        );
        assert!(error(r#"{"kind":"fly"}"#).starts_with("/kind: "));
        assert_eq!(error(r#"{"kind":"exec"}"#), "request: an exec request takes exactly one of `argv` and `command`");
        assert_eq!(
            error(r#"{"kind":"net","unix":"/s","host":"a","port":1}"#),
            "request: a net request takes `host` and `port`, or `unix`"
        );
        assert_eq!(error(r#"{"kind":"net","host":"a"}"#), "request: a net request takes `host` and `port`, or `unix`");
        assert_eq!(
            error(r#"{"kind":"exec","argv":["ls"],"command":"ls"}"#),
            "request: an exec request takes exactly one of `argv` and `command`"
        );
        assert!(error(r#"{"kind":"exec","argv":[]}"#).starts_with("/argv: "));
        assert!(error("{").starts_with("request: invalid JSON at line 1"));
    }
}
