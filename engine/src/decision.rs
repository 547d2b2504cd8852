//! Decisions, and how per-policy and per-part results combine.

use serde::{Deserialize, Serialize};

use crate::policy::{Effect, Policy, RequestKind};
use crate::request::{Part, Request};

/// A rule that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedRule {
    /// Index of the policy in the set.
    pub policy: usize,
    /// Index of the rule in its policy.
    pub rule: usize,
    pub id: String,
    pub effect: Effect,
    pub because: Option<String>,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub effect: Effect,
    /// Every matched rule whose effect is the decision's.
    pub matched: Vec<MatchedRule>,
    /// No rule decided: a default did (or every policy abstained).
    pub default_applied: bool,
    /// A prompt was raised to deny because the kernel profile would refuse
    /// the access anyway (no allow rule grants it and the kind defaults to
    /// deny).
    pub kernel_refusal: bool,
}

/// What one policy says about a request, before policies are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `None`: the policy abstains (no rule matched and no default).
    pub effect: Option<Effect>,
    pub matched_rules: Vec<usize>,
    pub default_applied: bool,
    pub kernel_refusal: bool,
}

/// The verdict of one policy given the indices of its matching rules.
pub(crate) fn verdict(policy: &Policy, kind: RequestKind, mut matched_rules: Vec<usize>) -> Verdict {
    matched_rules.sort_unstable();
    matched_rules.dedup();
    let strongest = matched_rules
        .iter()
        .filter_map(|&index| policy.rules.get(index))
        .map(|rule| rule.effect)
        .max();
    let default = policy.defaults.get(kind);
    match strongest {
        None => Verdict {
            effect: default,
            matched_rules: Vec::new(),
            default_applied: default.is_some(),
            kernel_refusal: false,
        },
        Some(effect) => {
            let allowed_by_rule = matched_rules
                .iter()
                .filter_map(|&index| policy.rules.get(index))
                .any(|rule| rule.effect == Effect::Allow);
            // The kernel profile grants read and write paths only through
            // allow rules when the kind defaults to deny.
            let kernel_refusal = effect == Effect::Prompt
                && matches!(kind, RequestKind::Read | RequestKind::Write)
                && default == Some(Effect::Deny)
                && !allowed_by_rule;
            Verdict {
                effect: Some(if kernel_refusal { Effect::Deny } else { effect }),
                matched_rules,
                default_applied: false,
                kernel_refusal,
            }
        }
    }
}

/// Combines the verdicts of every policy: strictest non-abstaining one,
/// `prompt` when all abstain.
pub(crate) fn combine(policies: &[Policy], verdicts: &[Verdict]) -> Decision {
    let effect = verdicts
        .iter()
        .filter_map(|v| v.effect)
        .max()
        .unwrap_or(Effect::Prompt);
    let mut matched = Vec::new();
    let mut default_applied = true;
    let mut kernel_refusal = false;
    for (policy_index, (policy, verdict)) in policies.iter().zip(verdicts).enumerate() {
        if verdict.effect != Some(effect) {
            continue;
        }
        if verdict.kernel_refusal {
            kernel_refusal = true;
        }
        if !verdict.default_applied {
            default_applied = false;
        }
        let winning = if verdict.kernel_refusal {
            Effect::Prompt
        } else {
            effect
        };
        for &rule_index in &verdict.matched_rules {
            if let Some(rule) = policy.rules.get(rule_index)
                && rule.effect == winning
            {
                matched.push(MatchedRule {
                    policy: policy_index,
                    rule: rule_index,
                    id: rule.id.clone(),
                    effect: rule.effect,
                    because: rule.because.clone(),
                });
            }
        }
    }
    Decision {
        effect,
        matched,
        default_applied,
        kernel_refusal,
    }
}

/// The decision on one part of a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartDecision {
    pub label: String,
    /// The normalised request, absent for unanalysable parts.
    pub request: Option<Request>,
    /// Why the part could not be analysed, if it could not.
    pub unanalysable: Option<String>,
    pub decision: Decision,
}

/// The decision on a whole tool call: the strictest of its parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallDecision {
    pub effect: Effect,
    /// The rules of every part whose effect is the call's.
    pub matched: Vec<MatchedRule>,
    pub default_applied: bool,
    pub parts: Vec<PartDecision>,
}

/// The effect of an unanalysable construct: never below `prompt`, `deny`
/// when any policy says so.
pub(crate) fn unanalysable_decision(policies: &[Policy]) -> Decision {
    let raised = policies
        .iter()
        .filter_map(|p| p.defaults.unanalysable)
        .max()
        .unwrap_or(Effect::Prompt);
    Decision {
        effect: raised.max(Effect::Prompt),
        matched: Vec::new(),
        default_applied: true,
        kernel_refusal: false,
    }
}

pub(crate) fn combine_parts(parts: &[Part], decide: impl Fn(&Request) -> Decision, policies: &[Policy]) -> CallDecision {
    let mut decided = Vec::with_capacity(parts.len());
    for part in parts {
        decided.push(match part {
            Part::Request { label, request } => PartDecision {
                label: label.clone(),
                request: Some(request.clone()),
                unanalysable: None,
                decision: decide(request),
            },
            Part::Unanalysable { label, reason } => PartDecision {
                label: label.clone(),
                request: None,
                unanalysable: Some(reason.clone()),
                decision: unanalysable_decision(policies),
            },
        });
    }
    // An empty call (blank shell text) runs nothing, but is not something a
    // policy allowed either: it prompts.
    let effect = decided
        .iter()
        .map(|p| p.decision.effect)
        .max()
        .unwrap_or(Effect::Prompt);
    let mut matched = Vec::new();
    let mut default_applied = true;
    for part in &decided {
        if part.decision.effect == effect {
            default_applied &= part.decision.default_applied;
            for rule in &part.decision.matched {
                if !matched.contains(rule) {
                    matched.push(rule.clone());
                }
            }
        }
    }
    CallDecision {
        effect,
        matched,
        default_applied,
        parts: decided,
    }
}
