//! Test cases kept as data: `*.tests.toml` and `*.jsonl` files for
//! `vtpolicy test`, and the conformance corpus.
//!
//! ```toml
//! policy = ["workspace-write"]        # names or paths, relative to the file
//!
//! [[case]]
//! name = "force push"
//! request = { kind = "exec", argv = ["git", "push", "-f"] }
//! expect = "deny"
//! rules = ["no-force-push"]           # optional: the deciding rule ids
//! ```
//!
//! A `.jsonl` file holds one case per line with the same fields, `policy`
//! included on each line.

use serde::Deserialize;
use serde_json::Value;
use vtpolicy_engine::Effect;

use crate::judge::{Judge, Judgement};
use crate::request::request_from_value;

/// One or several policies.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PolicyList {
    One(String),
    Many(Vec<String>),
}

impl PolicyList {
    pub fn names(&self) -> Vec<String> {
        match self {
            PolicyList::One(name) => vec![name.clone()],
            PolicyList::Many(names) => names.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: Option<String>,
    /// Only in `.jsonl` files, where each line stands alone.
    pub policy: Option<PolicyList>,
    pub request: Value,
    pub expect: Effect,
    /// The deciding rule ids, in any order.
    pub rules: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub policy: PolicyList,
    #[serde(rename = "case", default)]
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone)]
pub struct CaseOutcome {
    pub judgement: Option<Judgement>,
    /// `None` when the case passed.
    pub failure: Option<String>,
}

/// Judges a case and compares the decision (and deciding rules) with the
/// expectation.
pub fn check_case(judge: &Judge, case: &Case) -> CaseOutcome {
    let raw = match request_from_value(&case.request) {
        Ok(raw) => raw,
        Err(error) => {
            return CaseOutcome { judgement: None, failure: Some(format!("invalid request: {error}")) };
        }
    };
    let sandboxed = case.request.get("sandboxed").and_then(Value::as_bool).unwrap_or(judge.environment().sandboxed);
    let judgement = judge.judge_in(&raw, sandboxed);
    let mut failures = Vec::new();
    if judgement.effect() != case.expect {
        failures.push(format!("expected `{}`, got `{}`", case.expect.as_str(), judgement.effect().as_str()));
    }
    if let Some(expected) = &case.rules {
        let mut expected = expected.clone();
        expected.sort();
        let mut actual: Vec<String> = judgement.decision.matched.iter().map(|m| m.id.to_string()).collect();
        actual.sort();
        actual.dedup();
        if actual != expected {
            failures.push(format!("expected deciding rules {expected:?}, got {actual:?}"));
        }
    }
    let failure = (!failures.is_empty()).then(|| {
        let unanalysable: Vec<&str> =
            judgement.decision.parts.iter().filter_map(|p| p.unanalysable.as_deref()).collect();
        let mut message = failures.join("; ");
        if !unanalysable.is_empty() {
            message.push_str(&format!(" (unanalysable: {})", unanalysable.join("; ")));
        }
        message
    });
    CaseOutcome { judgement: Some(judgement), failure }
}
