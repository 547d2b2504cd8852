//! The vtpolicy engine: decides normalised tool calls against policies and
//! explains its decisions.
//!
//! It owns the rule model ([`Policy`]), the normalised request model
//! ([`Request`], [`Part`]), the [`DecisionGraph`] that answers requests in
//! time independent of the number of literal rules, and the [`reference`]
//! interpreter that evaluates rules one by one and serves as the oracle in
//! property tests and as the source of `explain` traces.
//!
//! # What it must not do
//!
//! The engine never parses policy text and never touches the operating
//! system: no file system, no environment, no syscalls. Rules carry ids; the
//! compiler keeps the table that maps them back to source spans. Paths,
//! programs and shell text reach it already normalised by the runtime.
//!
//! # Semantics
//!
//! A request's decision is the strictest effect (`deny > prompt > allow`)
//! of every rule that matches it, else its policy's default for the kind.
//! Several policies combine the same way; a policy without a matching rule
//! or default abstains; if all abstain the decision is `prompt`. Evaluation
//! is order independent.

mod decision;
mod graph;
mod pattern;
mod policy;
pub mod reference;
mod request;
pub mod witness;

pub use decision::{CallDecision, Decision, ExternalVerdict, MatchedRule, PartDecision};
pub use graph::{DecisionGraph, GraphError};
pub use pattern::{
    FlagPositions, PathPatternSet, glob_literal_dir, glob_literal_prefix, normalize_host, normalize_path_token,
    option_reading, option_view, path_pattern_regexes, token_glob_regex, validate_path_glob, validate_token_glob,
};
pub use policy::{ArgvPattern, Atom, Defaults, Effect, Matcher, Policy, RequestKind, Rule, TokenPattern};
pub use request::{Arg, ExecRequest, LongForm, Part, Program, Request};

/// A set of policies compiled into a decision graph: the engine's façade.
#[derive(Debug)]
pub struct Engine {
    graph: DecisionGraph,
}

/// Whether `path` starts like the path glob `glob` (or, for `dir/**`,
/// like `dir`, which it also matches): without that, the glob cannot match
/// it. Allocates nothing, as it runs for every hop of a program's path.
fn may_start(glob: &str, path: &str) -> bool {
    path.starts_with(glob_literal_prefix(glob))
        || glob.strip_suffix("/**").is_some_and(|dir| !dir.is_empty() && path.starts_with(glob_literal_prefix(dir)))
}

impl Engine {
    /// Compiles the policies. Fails only on a pattern that cannot be
    /// compiled, which the compiler's checks rule out for policies it built.
    pub fn new(policies: Vec<Policy>) -> Result<Engine, GraphError> {
        Ok(Engine { graph: DecisionGraph::build(policies)? })
    }

    pub fn policies(&self) -> &[Policy] {
        self.graph.policies()
    }

    pub fn graph(&self) -> &DecisionGraph {
        &self.graph
    }

    /// Whether no policy could allow `kind` (read or write) on `path`:
    /// none defaults to allowing it, and no allow rule names a glob that
    /// starts like `path` (a glob matches only paths that start with its
    /// text before the first wildcard). Then [`Engine::decide`] does not
    /// allow the request, and this answer costs no glob automaton, which
    /// is built on a table's first use and costs more than most calls.
    pub fn cannot_allow_path(&self, kind: RequestKind, path: &str) -> bool {
        self.policies().iter().all(|policy| {
            policy.defaults.get(kind) != Some(Effect::Allow)
                && policy.rules.iter().filter(|rule| rule.effect == Effect::Allow && rule.running.is_none()).all(
                    |rule| {
                        rule.matchers.iter().all(|matcher| match matcher {
                            Matcher::Path { glob, .. } if matcher.applies_to(kind) => !may_start(glob, path),
                            _ => true,
                        })
                    },
                )
        })
    }

    /// Decides one request.
    pub fn decide(&self, request: &Request) -> Decision {
        self.graph.decide(request)
    }

    /// Decides a whole tool call: every part, strictest wins.
    pub fn decide_call(&self, parts: Vec<Part>) -> CallDecision {
        decision::combine_parts(parts, |request| self.decide(request), self.policies())
    }

    /// Decides a whole tool call together with policies evaluated outside
    /// the engine: `external` gives their verdicts on each request.
    pub fn decide_call_with(
        &self,
        parts: Vec<Part>,
        external: impl Fn(&Request) -> Vec<ExternalVerdict>,
    ) -> CallDecision {
        decision::combine_parts(parts, |request| self.graph.decide_with(request, &external(request)), self.policies())
    }

    /// [`Engine::decide_call_with`], each request's decision passed
    /// through `adjust` before the parts combine: the runtime raises what
    /// its own enforcement would refuse anyway.
    pub fn decide_call_adjusted(
        &self,
        parts: Vec<Part>,
        external: impl Fn(&Request) -> Vec<ExternalVerdict>,
        adjust: impl Fn(&Request, Decision) -> Decision,
    ) -> CallDecision {
        decision::combine_parts(
            parts,
            |request| adjust(request, self.graph.decide_with(request, &external(request))),
            self.policies(),
        )
    }

    /// The per-rule trace of one request, for `explain`.
    pub fn trace(&self, request: &Request) -> Vec<reference::TraceEntry> {
        reference::trace(self.policies(), request)
    }
}
