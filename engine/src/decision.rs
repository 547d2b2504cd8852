//! Decisions, and how per-policy and per-part results combine.

use std::sync::Arc;

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
    pub id: Arc<str>,
    /// The effect the rule contributed: its own, or capped (see
    /// `uncertain`).
    pub effect: Effect,
    pub because: Option<Arc<str>>,
    /// The rule matched only for some values of what is known at run time
    /// (`$VAR`, `xargs` arguments); a deny is then capped at the policy's
    /// effect for unanalysable constructs (`prompt` unless raised).
    pub uncertain: bool,
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

/// The rules of one policy that match a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Matches {
    /// Rules that match whatever the unknown values are.
    pub certain: Vec<usize>,
    /// Rules that match for some unknown values (a superset of the
    /// certain deny and prompt rules, or empty when nothing is unknown).
    pub possible: Vec<usize>,
}

/// What one policy says about a request, before policies are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `None`: the policy abstains (no rule matched and no default).
    pub effect: Option<Effect>,
    /// Rule index, effective effect, uncertain.
    pub matched_rules: Vec<(usize, Effect, bool)>,
    pub default_applied: bool,
    pub kernel_refusal: bool,
}

/// The verdict of one policy given its matching rules.
pub(crate) fn verdict(policy: &Policy, kind: RequestKind, matches: Matches) -> Verdict {
    let Matches { mut certain, mut possible } = matches;
    certain.sort_unstable();
    certain.dedup();
    possible.sort_unstable();
    possible.dedup();
    let cap = policy.defaults.unanalysable.unwrap_or(Effect::Prompt).max(Effect::Prompt);
    let mut matched_rules: Vec<(usize, Effect, bool)> = Vec::new();
    for &index in &certain {
        if let Some(rule) = policy.rules.get(index) {
            matched_rules.push((index, rule.effect, false));
        }
    }
    for &index in &possible {
        if certain.binary_search(&index).is_err()
            && let Some(rule) = policy.rules.get(index)
        {
            matched_rules.push((index, rule.effect.min(cap), true));
        }
    }
    matched_rules.sort_unstable();
    let strongest = matched_rules.iter().map(|&(_, effect, _)| effect).max();
    let default = policy.defaults.get(kind);
    match strongest {
        None => Verdict {
            effect: default,
            matched_rules: Vec::new(),
            default_applied: default.is_some(),
            kernel_refusal: false,
        },
        Some(effect) => {
            let allowed_by_rule = matched_rules.iter().any(|&(_, effect, _)| effect == Effect::Allow);
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
/// What a policy evaluated outside the engine (a Rego module) says about
/// one request. It combines with the engine's policies like one of them;
/// its policy index comes after theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalVerdict {
    /// `None`: the policy abstains.
    pub effect: Option<Effect>,
    /// The ids of the rules that decided, in the policy's own terms.
    pub rules: Vec<String>,
    /// Why, as the policy says it.
    pub because: Option<String>,
    pub default_applied: bool,
}

pub(crate) fn combine(policies: &[Policy], verdicts: &[Verdict]) -> Decision {
    combine_with(policies, verdicts, &[])
}

pub(crate) fn combine_with(policies: &[Policy], verdicts: &[Verdict], external: &[ExternalVerdict]) -> Decision {
    let effect = verdicts
        .iter()
        .filter_map(|v| v.effect)
        .chain(external.iter().filter_map(|v| v.effect))
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
        let winning = if verdict.kernel_refusal { Effect::Prompt } else { effect };
        for &(rule_index, rule_effect, uncertain) in &verdict.matched_rules {
            if let Some(rule) = policy.rules.get(rule_index)
                && rule_effect == winning
            {
                matched.push(MatchedRule {
                    policy: policy_index,
                    rule: rule_index,
                    id: rule.id.clone(),
                    effect: rule_effect,
                    because: rule.because.clone(),
                    uncertain,
                });
            }
        }
    }
    for (offset, verdict) in external.iter().enumerate() {
        if verdict.effect != Some(effect) {
            continue;
        }
        default_applied &= verdict.default_applied;
        for (rule_index, id) in verdict.rules.iter().enumerate() {
            matched.push(MatchedRule {
                policy: policies.len() + offset,
                rule: rule_index,
                id: Arc::from(id.as_str()),
                effect,
                because: verdict.because.as_deref().map(Arc::from),
                uncertain: false,
            });
        }
    }
    Decision { effect, matched, default_applied, kernel_refusal }
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
    let raised = policies.iter().filter_map(|p| p.defaults.unanalysable).max().unwrap_or(Effect::Prompt);
    Decision { effect: raised.max(Effect::Prompt), matched: Vec::new(), default_applied: true, kernel_refusal: false }
}

pub(crate) fn combine_parts(
    parts: Vec<Part>,
    decide: impl Fn(&Request) -> Decision,
    policies: &[Policy],
) -> CallDecision {
    let mut decided = Vec::with_capacity(parts.len());
    for part in parts {
        decided.push(match part {
            Part::Request { label, request } => {
                let decision = decide(&request);
                PartDecision { label, request: Some(request), unanalysable: None, decision }
            }
            Part::Unanalysable { label, reason } => PartDecision {
                label,
                request: None,
                unanalysable: Some(reason),
                decision: unanalysable_decision(policies),
            },
        });
    }
    // An empty call (blank shell text) runs nothing, but is not something a
    // policy allowed either: it prompts.
    let effect = decided.iter().map(|p| p.decision.effect).max().unwrap_or(Effect::Prompt);
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
    CallDecision { effect, matched, default_applied, parts: decided }
}
