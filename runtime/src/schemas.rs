//! The JSON Schemas of every JSON surface, kept under `schemas/` at the
//! root of the repository and embedded from there (`vtpolicy schema NAME`).

use std::sync::OnceLock;

use serde_json::Value;

/// Requests of `explain --request`, case files, hooks.
pub const REQUEST: &str = include_str!("../../schemas/request.schema.json");
/// `explain --format json`.
pub const EXPLAIN: &str = include_str!("../../schemas/explain.schema.json");
/// The JSON lines of `run --events`.
pub const EVENTS: &str = include_str!("../../schemas/events.schema.json");
/// Policy as data: `compile --target json`, `--policy FILE.json`.
pub const POLICY: &str = include_str!("../../schemas/policy.schema.json");

/// Every schema, by the name `vtpolicy schema` takes and its file.
pub const ALL: &[(&str, &str, &str)] = &[
    ("request", "request.schema.json", REQUEST),
    ("explain", "explain.schema.json", EXPLAIN),
    ("events", "events.schema.json", EVENTS),
    ("policy", "policy.schema.json", POLICY),
];

/// The compiled validator of `schema`, built once.
pub(crate) fn validator(schema: &'static str) -> Result<&'static jsonschema::Validator, String> {
    static CACHE: OnceLock<Vec<(&'static str, Result<jsonschema::Validator, String>)>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| {
        ALL.iter()
            .map(|(_, _, text)| {
                let compiled = serde_json::from_str::<Value>(text)
                    .map_err(|e| e.to_string())
                    .and_then(|schema| jsonschema::validator_for(&schema).map_err(|e| e.to_string()));
                (*text, compiled)
            })
            .collect()
    });
    match cache.iter().find(|(text, _)| *text == schema) {
        Some((_, Ok(validator))) => Ok(validator),
        Some((_, Err(message))) => Err(format!("the schema does not compile: {message}")),
        None => Err("not one of the published schemas".to_owned()),
    }
}

/// Validates `value` against `schema` (one of the constants above). The
/// error is the most specific one, as `JSON-pointer: message`.
pub fn validate(schema: &'static str, value: &Value) -> Result<(), String> {
    let validator = validator(schema)?;
    let mut errors: Vec<(String, String)> =
        validator.iter_errors(value).map(|e| (e.instance_path().as_str().to_owned(), e.to_string())).collect();
    errors.sort_by_key(|(pointer, _)| std::cmp::Reverse(pointer.matches('/').count()));
    match errors.into_iter().next() {
        None => Ok(()),
        Some((pointer, message)) => Err(format!("{}: {message}", if pointer.is_empty() { "/" } else { &pointer })),
    }
}
