//! What a policy change changes: calls that two sets of policies decide
//! differently, and whether the new set is more or less permissive.
//!
//! The calls come from the rules of both sets ([`vtpolicy_engine::witness`]:
//! each pattern's instances and the calls at its edges), from their inline
//! tests and from calls no rule names (the defaults). Each is judged by
//! both judges, as `explain` judges it: outside the sandbox, and, when that
//! shows no difference, as a sandboxed call (`when sandboxed` rules). A
//! witness is therefore exact: `explain --request` of its JSON gives the
//! decisions it reports. `Equivalent` means no probed call differs; it is
//! a sample of the calls the rules name, not a proof over every call.

use std::collections::BTreeSet;

use vtpolicy_engine::Effect;
use vtpolicy_engine::witness::{Probe, default_probes, probes};

use crate::judge::{Judge, Judgement};
use crate::request::RawRequest;

/// How the new policies compare with the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Equivalent,
    /// Some call is decided more permissively, none less.
    MorePermissive,
    /// Some call is decided less permissively, none more.
    LessPermissive,
    /// Some calls each way.
    Incomparable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Equivalent => "equivalent",
            Verdict::MorePermissive => "more-permissive",
            Verdict::LessPermissive => "less-permissive",
            Verdict::Incomparable => "incomparable",
        }
    }
}

/// Where a rule was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// One side's decision of a witness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    pub decision: Effect,
    /// The deciding rules' ids; empty when a default decided.
    pub rules: Vec<String>,
    /// Where the first deciding rule was written.
    pub location: Option<Location>,
}

/// A call the two sets decide differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    pub request: RawRequest,
    /// Judged as a call that runs inside the kernel sandbox.
    pub sandboxed: bool,
    pub old: Side,
    pub new: Side,
}

impl Witness {
    /// The new decision is more permissive than the old.
    pub fn is_more_permissive(&self) -> bool {
        self.new.decision < self.old.decision
    }

    /// The request JSON `explain --request` reads.
    pub fn request_json(&self) -> serde_json::Value {
        self.request.to_value(self.sandboxed)
    }
}

#[derive(Debug, Clone)]
pub struct PolicyDiff {
    pub verdict: Verdict,
    /// One witness per changed region: per kind of call and pair of
    /// decisions with their deciding rules.
    pub witnesses: Vec<Witness>,
    /// How many calls were judged.
    pub probed: usize,
}

/// Compares `new` with `old`. Both judge in the same environment, whose
/// workspace and directory every witness names. `extra` are further calls
/// to compare (the sets' inline tests).
pub fn diff(old: &Judge, new: &Judge, extra: &[RawRequest]) -> PolicyDiff {
    let mut all: BTreeSet<Probe> = default_probes().into_iter().collect();
    all.extend(probes(old.policies().iter().chain(new.policies())));
    let environment = new.environment();
    let cwd = Some(environment.cwd.to_string_lossy().into_owned());
    let workspace = Some(environment.workspace.to_string_lossy().into_owned());
    let mut requests: Vec<RawRequest> =
        all.into_iter().map(|probe| request(probe, cwd.clone(), workspace.clone())).collect();
    for raw in extra {
        let placed = placed(raw, &cwd, &workspace);
        if !requests.contains(&placed) {
            requests.push(placed);
        }
    }

    let mut witnesses: Vec<Witness> = Vec::new();
    let mut regions: BTreeSet<Region> = BTreeSet::new();
    for raw in &requests {
        let Some(witness) = [false, true].into_iter().find_map(|sandboxed| {
            let (before, after) = (old.judge_in(raw, sandboxed), new.judge_in(raw, sandboxed));
            (before.effect() != after.effect()).then(|| Witness {
                request: raw.clone(),
                sandboxed,
                old: side(old, &before),
                new: side(new, &after),
            })
        }) else {
            continue;
        };
        let region = Region {
            kind: kind(raw),
            old: (witness.old.decision, witness.old.rules.clone()),
            new: (witness.new.decision, witness.new.rules.clone()),
        };
        if regions.insert(region) {
            witnesses.push(witness);
        }
    }
    let more = witnesses.iter().any(Witness::is_more_permissive);
    let less = witnesses.iter().any(|w| !w.is_more_permissive());
    let verdict = match (more, less) {
        (false, false) => Verdict::Equivalent,
        (true, false) => Verdict::MorePermissive,
        (false, true) => Verdict::LessPermissive,
        (true, true) => Verdict::Incomparable,
    };
    PolicyDiff { verdict, witnesses, probed: requests.len() }
}

/// What a witness stands for: a kind of call decided one way by some
/// rules before and another way by others after.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Region {
    kind: &'static str,
    old: (Effect, Vec<String>),
    new: (Effect, Vec<String>),
}

fn side(judge: &Judge, judgement: &Judgement) -> Side {
    let (rules, _) = judgement.deciding();
    let location = judgement.decision.matched.first().and_then(|m| judge.rule_source(m.policy, m.rule)).map(|source| {
        let (line, column) = source.file.line_col(source.span.start);
        Location { file: source.file.name.clone(), line, column }
    });
    Side { decision: judgement.effect(), rules, location }
}

fn request(probe: Probe, cwd: Option<String>, workspace: Option<String>) -> RawRequest {
    match probe {
        Probe::Exec(argv) => RawRequest::Exec { argv: Some(argv), command: None, cwd, workspace },
        Probe::Read(path) => RawRequest::Read { path, cwd, workspace },
        Probe::Write(path) => RawRequest::Write { path, cwd, workspace },
        Probe::Connect { host, port } => {
            RawRequest::Net { host: Some(host), port: Some(port), unix: None, cwd, workspace }
        }
        Probe::Socket(path) => RawRequest::Net { host: None, port: None, unix: Some(path), cwd, workspace },
        Probe::Tool(name) => RawRequest::Tool { name, args: None, cwd, workspace },
    }
}

/// `raw` with the environment's directory and workspace where it names
/// none, so that its JSON is judged the same on its own.
fn placed(raw: &RawRequest, cwd: &Option<String>, workspace: &Option<String>) -> RawRequest {
    let mut raw = raw.clone();
    let (slot_cwd, slot_workspace) = match &mut raw {
        RawRequest::Exec { cwd, workspace, .. }
        | RawRequest::Read { cwd, workspace, .. }
        | RawRequest::Write { cwd, workspace, .. }
        | RawRequest::Net { cwd, workspace, .. }
        | RawRequest::Tool { cwd, workspace, .. } => (cwd, workspace),
    };
    if slot_cwd.is_none() {
        slot_cwd.clone_from(cwd);
    }
    if slot_workspace.is_none() {
        slot_workspace.clone_from(workspace);
    }
    raw
}

fn kind(raw: &RawRequest) -> &'static str {
    match raw {
        RawRequest::Exec { .. } => "exec",
        RawRequest::Read { .. } => "read",
        RawRequest::Write { .. } => "write",
        RawRequest::Net { unix: Some(_), .. } => "unix",
        RawRequest::Net { .. } => "net",
        RawRequest::Tool { .. } => "tool",
    }
}
