//! `explain --format json`, and the `explain` answers of `serve`: a
//! judgement with the rules behind it, where they were written, and the
//! per-rule trace of every part. Field names are stable (see the README
//! and `schemas/explain.schema.json`).

use serde::Serialize;
use vtpolicy_engine::{Decision, Effect, MatchedRule, Request, reference::TraceEntry};

use crate::{Judge, Judgement};

/// A judgement explained.
#[derive(Serialize)]
pub struct Explanation {
    pub decision: Effect,
    pub matched: Vec<RuleReport>,
    pub default_applied: bool,
    pub parts: Vec<PartReport>,
}

#[derive(Serialize)]
pub struct RuleReport {
    pub id: String,
    pub effect: Effect,
    pub because: Option<String>,
    pub policy: String,
    pub source: String,
    /// Matched only for some values known at run time; effect capped.
    pub uncertain: bool,
}

#[derive(Serialize)]
pub struct PartReport {
    pub label: String,
    pub request: Option<Request>,
    pub unanalysable: Option<String>,
    pub decision: Effect,
    pub matched: Vec<RuleReport>,
    pub default_applied: bool,
    pub kernel_refusal: bool,
    pub trace: Vec<TraceReport>,
}

#[derive(Serialize)]
pub struct TraceReport {
    pub id: String,
    pub effect: Effect,
    pub policy: String,
    pub matched: bool,
    pub reason: String,
    /// The rule is about another program (folded away in human output).
    pub program_differs: bool,
    pub source: String,
}

impl Explanation {
    pub fn new(judge: &Judge, judgement: &Judgement) -> Explanation {
        Explanation {
            decision: judgement.decision.effect,
            matched: rules(judge, &judgement.decision.matched),
            default_applied: judgement.decision.default_applied,
            parts: judgement
                .decision
                .parts
                .iter()
                .map(|part| {
                    part_report(judge, &part.label, part.request.as_ref(), part.unanalysable.as_deref(), &part.decision)
                })
                .collect(),
        }
    }
}

pub fn rules(judge: &Judge, matched: &[MatchedRule]) -> Vec<RuleReport> {
    matched
        .iter()
        .map(|rule| RuleReport {
            id: rule.id.to_string(),
            effect: rule.effect,
            because: rule.because.as_deref().map(str::to_owned),
            policy: policy_name(judge, rule.policy),
            source: source(judge, rule.policy, rule.rule),
            uncertain: rule.uncertain,
        })
        .collect()
}

fn policy_name(judge: &Judge, policy: usize) -> String {
    judge.policy_name(policy).unwrap_or_default().to_owned()
}

fn source(judge: &Judge, policy: usize, rule: usize) -> String {
    // Rego policies have no rule spans: the module's file stands for them.
    judge
        .rule_source(policy, rule)
        .map(|s| s.location())
        .or_else(|| judge.policy_name(policy).filter(|_| policy >= judge.engine().policies().len()).map(str::to_owned))
        .unwrap_or_default()
}

fn part_report(
    judge: &Judge,
    label: &str,
    request: Option<&Request>,
    unanalysable: Option<&str>,
    decision: &Decision,
) -> PartReport {
    let trace = request
        .map(|request| judge.trace(request).iter().map(|entry| trace_report(judge, entry)).collect())
        .unwrap_or_default();
    PartReport {
        label: label.to_owned(),
        request: request.cloned(),
        unanalysable: unanalysable.map(str::to_owned),
        decision: decision.effect,
        matched: rules(judge, &decision.matched),
        default_applied: decision.default_applied,
        kernel_refusal: decision.kernel_refusal,
        trace,
    }
}

fn trace_report(judge: &Judge, entry: &TraceEntry) -> TraceReport {
    TraceReport {
        id: entry.id.clone(),
        effect: entry.effect,
        policy: policy_name(judge, entry.policy),
        matched: entry.matched,
        reason: entry.reason.clone(),
        program_differs: entry.program_differs,
        source: source(judge, entry.policy, entry.rule),
    }
}
