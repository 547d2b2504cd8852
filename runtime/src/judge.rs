//! The judge: normalises raw tool calls and decides them.

use std::path::{Path, PathBuf};

use vtpolicy_compiler::{CompiledPolicy, Context, InlineTest, RuleSource, TestRequest};
use vtpolicy_engine::{CallDecision, Effect, Engine, GraphError, Part, Request, RequestKind};

use crate::normalize::{LocatedCache, Normalizer, ProgramLookup, ProgramResolver, Trust};
use crate::request::RawRequest;

/// Where tool calls happen: the values behind `${workspace}` and friends,
/// and how bare program names are found.
#[derive(Debug, Clone)]
pub struct Environment {
    pub workspace: PathBuf,
    pub cwd: PathBuf,
    pub home: String,
    pub tmp: PathBuf,
    pub lookup: ProgramLookup,
    /// How the sandbox's file system differs from the host's (mount
    /// point, what it shows); empty when the call does not run sandboxed.
    pub mounts: Vec<(PathBuf, PathBuf)>,
    /// The calls judged will run inside the kernel sandbox: rules written
    /// `when sandboxed` apply to them.
    pub sandboxed: bool,
}

/// Why the environment of calls could not be found.
#[derive(Debug, thiserror::Error)]
pub enum EnvironmentError {
    #[error("cannot read the current directory: {0}")]
    CurrentDirectory(#[source] std::io::Error),
}

impl Environment {
    /// From the process: `HOME`, `PATH`, the current directory. Paths are
    /// made canonical so that they compare with resolved request paths.
    pub fn detect(workspace: Option<&Path>, cwd: Option<&Path>) -> Result<Environment, EnvironmentError> {
        let current = std::env::current_dir().map_err(EnvironmentError::CurrentDirectory)?;
        let canonical = |path: &Path| {
            let absolute = if path.is_absolute() { path.to_path_buf() } else { current.join(path) };
            std::fs::canonicalize(&absolute).unwrap_or(absolute)
        };
        let workspace = canonical(workspace.unwrap_or(&current));
        let cwd = cwd.map_or_else(|| workspace.clone(), canonical);
        let home = std::env::var("HOME").unwrap_or_else(|_| "/".to_owned());
        let home = canonical(Path::new(&home)).to_string_lossy().into_owned();
        // Outside `run`, `${tmp}` names a per-call directory that does not
        // exist (`run` puts its own in place). One name for every process
        // lets compiled policies be remembered between calls.
        let tmp = canonical(&std::env::temp_dir()).join("vtpolicy-call");
        let search = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).filter(|p| p.is_absolute()).collect())
            .unwrap_or_default();
        Ok(Environment {
            workspace,
            cwd,
            home,
            tmp,
            lookup: ProgramLookup::Search(search),
            mounts: Vec::new(),
            sandboxed: false,
        })
    }

    /// A fixed environment that touches nothing on disk to find programs:
    /// `workspace` is also the cwd, `${tmp}` is `workspace/.vtpolicy-tmp`
    /// (never a shared directory), and exactly `programs` exist, each in
    /// `/usr/bin`. For benchmarks, fuzzing and tests that must not depend
    /// on what is installed.
    pub fn hermetic(workspace: &Path, home: &str, programs: &[&str]) -> Environment {
        Environment {
            workspace: workspace.to_path_buf(),
            cwd: workspace.to_path_buf(),
            home: home.to_owned(),
            tmp: workspace.join(".vtpolicy-tmp"),
            lookup: ProgramLookup::fixture(Path::new("/usr/bin"), programs),
            mounts: Vec::new(),
            sandboxed: false,
        }
    }

    /// The compiler's view of the same values.
    pub fn context(&self) -> Context {
        context_of(&self.workspace, &self.home, &self.tmp, &self.cwd)
    }
}

/// What `${workspace}`, `${home}`, `${tmp}` and `${cwd}` stand for.
pub(crate) fn context_of(workspace: &Path, home: &str, tmp: &Path, cwd: &Path) -> Context {
    Context {
        workspace: workspace.to_string_lossy().into_owned(),
        home: home.to_owned(),
        tmp: tmp.to_string_lossy().into_owned(),
        cwd: cwd.to_string_lossy().into_owned(),
    }
}

/// Compiled policies plus the environment: decides raw tool calls.
#[derive(Debug)]
pub struct Judge {
    /// The policies' rules, as compiled.
    policies: Vec<vtpolicy_engine::Policy>,
    /// The engine of calls that run sandboxed (every rule applies).
    sandboxed: std::sync::OnceLock<Engine>,
    /// The same policies with the `when sandboxed` rules matching nothing:
    /// what judges calls that will not run sandboxed. A process mostly
    /// judges in one mode: the engine of the environment's mode is built
    /// with the judge, the other on first use.
    unsandboxed: std::sync::OnceLock<Engine>,
    /// Per policy, aligned with its rules: where each rule was written.
    sources: Vec<Vec<RuleSource>>,
    environment: Environment,
    /// The directories every policy that names `trusted_bin` trusts,
    /// canonical; `None` when none names any.
    bin_dirs: Option<Vec<PathBuf>>,
    /// Programs located so far, and whether they are trusted.
    located: LocatedCache,
    /// Rego policies, after the engine's in policy order.
    rego: Vec<crate::rego::RegoPolicy>,
    /// Whether a `.vtp` policy has a net rule: then a sandboxed call
    /// reaches the network through the egress proxy, whose refusals its
    /// decisions include.
    net_rules: bool,
    /// Program models: the stock catalogue, or it merged with the
    /// policies' own catalogues.
    models: std::borrow::Cow<'static, crate::normalize::models::Models>,
    /// The user's approvals, after the `.vtp` and Rego policies in
    /// numbering (see [`Judge::with_approvals`]).
    approvals: Option<Approvals>,
}

/// A policy of allow rules that each lift a `prompt` the user answered
/// "always" to; only its allow rules count.
#[derive(Debug)]
struct Approvals {
    name: String,
    sources: Vec<RuleSource>,
    /// Its rules for calls that run sandboxed, and without the `when
    /// sandboxed` ones for calls that do not.
    sandboxed: Engine,
    unsandboxed: Engine,
}

/// An engine whose one policy denies every kind of request.
fn refuse_everything() -> Engine {
    let deny = Some(Effect::Deny);
    let defaults =
        vtpolicy_engine::Defaults { read: deny, write: deny, exec: deny, net: deny, tool: deny, unanalysable: deny };
    let policy = vtpolicy_engine::Policy { name: "refuse-everything".to_owned(), rules: Vec::new(), defaults };
    // A policy without rules has no pattern that could fail to compile.
    Engine::new(vec![policy]).unwrap_or_else(|_| unreachable!("an empty policy compiles"))
}

/// A judged tool call: its parts (the normalised requests, or why a
/// part could not be analysed) and the decision on each.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub decision: CallDecision,
}

impl Judgement {
    pub fn effect(&self) -> Effect {
        self.decision.effect
    }

    /// The deciding rule ids, each once, and the reasons: the deciding
    /// rules' `because` texts, then why each deciding part could not be
    /// analysed.
    pub fn deciding(&self) -> (Vec<String>, Vec<String>) {
        let mut rules: Vec<String> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        for matched in &self.decision.matched {
            if !rules.iter().any(|id| **id == *matched.id) {
                rules.push(matched.id.to_string());
            }
            if let Some(because) = &matched.because
                && !reasons.iter().any(|reason| **reason == **because)
            {
                reasons.push(because.to_string());
            }
        }
        for part in &self.decision.parts {
            if let Some(reason) = &part.unanalysable
                && part.decision.effect == self.effect()
            {
                reasons.push(format!("`{}` cannot be analysed: {reason}", part.label));
            }
            if part.decision.kernel_refusal && part.decision.effect == self.effect() {
                let why = match &part.request {
                    Some(Request::Net { .. }) => {
                        "the egress proxy reaches loopback, private and link-local addresses only through an allow rule naming the host itself"
                    }
                    _ => "no allow rule grants it, so the kernel sandbox refuses it",
                };
                if !reasons.iter().any(|reason| reason == why) {
                    reasons.push(why.to_owned());
                }
            }
        }
        (rules, reasons)
    }

    /// The labels of the parts that decided, each once.
    pub fn deciding_parts(&self) -> Vec<&str> {
        let mut parts: Vec<&str> = self
            .decision
            .parts
            .iter()
            .filter(|p| p.decision.effect == self.effect())
            .map(|p| p.label.as_str())
            .collect();
        parts.dedup();
        parts
    }

    /// One line saying why: the deciding parts, the reasons and the rule
    /// ids, or that the default applied.
    pub fn summary(&self) -> String {
        let (rules, reasons) = self.deciding();
        let mut text = String::new();
        let parts = self.deciding_parts();
        if !parts.is_empty() {
            let quoted: Vec<String> =
                parts.iter().map(|p| format!("`{}`", p.trim_end_matches([';', '|', '&', ' ']))).collect();
            text.push_str(&quoted.join(", "));
            text.push_str(": ");
        }
        text.push_str(&reasons.join("; "));
        if !rules.is_empty() {
            let ids = rules.join(", ");
            match reasons.is_empty() {
                true => text.push_str(&format!("rule {ids}")),
                false => text.push_str(&format!(" (rule {ids})")),
            }
        } else if self.decision.default_applied && reasons.is_empty() {
            text.push_str("no rule matched, so the policy's default applies");
        }
        text
    }
}

impl Judge {
    pub fn new(policies: Vec<CompiledPolicy>, environment: Environment) -> Result<Judge, GraphError> {
        // `trusted_bin` narrows trust: a program must lie in directories
        // that every policy naming some trusts.
        let mut bin_dirs: Option<Vec<PathBuf>> = None;
        for policy in &policies {
            if policy.settings.trusted_bin.is_empty() {
                continue;
            }
            let dirs: Vec<PathBuf> = policy
                .settings
                .trusted_bin
                .iter()
                .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| PathBuf::from(d)))
                .collect();
            match &mut bin_dirs {
                None => bin_dirs = Some(dirs),
                Some(kept) => kept.retain(|d| dirs.contains(d)),
            }
        }
        let catalogues =
            || policies.iter().flat_map(|p| &p.settings.programs).map(|c| (c.text.as_str(), c.may_replace));
        let models = if catalogues().next().is_none() {
            std::borrow::Cow::Borrowed(crate::normalize::models::stock())
        } else {
            std::borrow::Cow::Owned(crate::normalize::models::merged(catalogues()))
        };
        let mut sources = Vec::with_capacity(policies.len());
        let mut rules = Vec::with_capacity(policies.len());
        for compiled in policies {
            sources.push(compiled.sources);
            rules.push(compiled.policy);
        }
        let (sandboxed, unsandboxed) = (std::sync::OnceLock::new(), std::sync::OnceLock::new());
        // The engine of the environment's mode is built now, so that a
        // graph error is reported here.
        if environment.sandboxed {
            let _ = sandboxed.set(Engine::new(rules.clone())?);
        } else {
            let _ = unsandboxed.set(Engine::new(rules.iter().map(vtpolicy_engine::Policy::unsandboxed).collect())?);
        }
        Ok(Judge {
            net_rules: rules.iter().any(vtpolicy_engine::Policy::has_net_rules),
            policies: rules,
            sandboxed,
            unsandboxed,
            sources,
            environment,
            bin_dirs,
            located: LocatedCache::default(),
            rego: Vec::new(),
            models,
            approvals: None,
        })
    }

    /// The engine of calls that do not run sandboxed.
    fn unsandboxed(&self) -> &Engine {
        self.unsandboxed.get_or_init(|| {
            let rules: Vec<_> = self.policies.iter().map(vtpolicy_engine::Policy::unsandboxed).collect();
            Engine::new(rules).unwrap_or_else(|_| refuse_everything())
        })
    }

    /// The engine of calls that run sandboxed. Built on first use when the
    /// judge was made for unsandboxed calls; a graph error then (the
    /// compiler checks every pattern, so none is expected) gives an engine
    /// that denies everything.
    fn sandboxed(&self) -> &Engine {
        self.sandboxed.get_or_init(|| Engine::new(self.policies.clone()).unwrap_or_else(|_| refuse_everything()))
    }

    /// Adds Rego policies: they decide every request beside the engine's,
    /// strictest wins.
    pub fn with_rego(mut self, rego: Vec<crate::rego::RegoPolicy>) -> Judge {
        self.rego = rego;
        self
    }

    /// Adds the user's approvals: where a part of a call would prompt, an
    /// allow rule of `approvals` that matches it (as allow rules match:
    /// tokens as written, trusted programs) allows it instead. A deny is
    /// never lifted, nor a prompt the kernel would refuse, nor one that
    /// stands for a deny only capped for values known at run time
    /// (`rm -rf $DIR`).
    pub fn with_approvals(mut self, approvals: CompiledPolicy) -> Result<Judge, GraphError> {
        let name = approvals.policy.name.clone();
        let unsandboxed = Engine::new(vec![approvals.policy.unsandboxed()])?;
        let sandboxed = Engine::new(vec![approvals.policy])?;
        self.approvals = Some(Approvals { name, sources: approvals.sources, sandboxed, unsandboxed });
        Ok(self)
    }

    /// Where the approvals' rules are numbered: after every other policy.
    fn approvals_index(&self) -> usize {
        self.policies.len() + self.rego.len()
    }

    /// `decision` of one part of a call that runs `sandboxed` or not, with
    /// an approval's allow in place of a prompt it lifts.
    fn approved(
        &self,
        request: &Request,
        decision: vtpolicy_engine::Decision,
        sandboxed: bool,
    ) -> vtpolicy_engine::Decision {
        let Some(approvals) = &self.approvals else { return decision };
        if decision.effect != Effect::Prompt || decision.kernel_refusal || decision.matched.iter().any(|m| m.uncertain)
        {
            return decision;
        }
        let engine = if sandboxed { &approvals.sandboxed } else { &approvals.unsandboxed };
        let approval = engine.decide(request);
        if approval.effect != Effect::Allow || approval.default_applied {
            return decision;
        }
        let policy = self.approvals_index();
        vtpolicy_engine::Decision {
            effect: Effect::Allow,
            matched: approval.matched.into_iter().map(|m| vtpolicy_engine::MatchedRule { policy, ..m }).collect(),
            default_applied: false,
            kernel_refusal: false,
        }
    }

    /// The argv shape an approval of the exec `request` allows: the
    /// program as called, its subcommands and options as written, every
    /// operand and option value any token. `None` for a program no allow
    /// rule can match (not trusted) or a request that is not an exec.
    pub fn approval_shape(&self, request: &Request) -> Option<(String, Vec<crate::ApprovalToken>)> {
        let Request::Exec(exec) = request else { return None };
        if !exec.program.trusted {
            return None;
        }
        let model = exec.program.names.iter().find_map(|name| self.models.get(name));
        Some((exec.program.spelled.clone(), crate::normalize::models::approval_shape(model, &exec.args)))
    }

    pub fn rego_policies(&self) -> &[crate::rego::RegoPolicy] {
        &self.rego
    }

    /// The engine that judges this judge's calls: with the `when
    /// sandboxed` rules when they run sandboxed.
    pub fn engine(&self) -> &Engine {
        if self.environment.sandboxed { self.sandboxed() } else { self.unsandboxed() }
    }

    /// Makes this the judge of one run's connections: each `when running`
    /// rule whose command pattern an exec part of `judgement` (the run's
    /// command, judged) matches applies from now on, as an allow rule
    /// would match that part. Returns whether any rule was lifted.
    pub fn while_running(&mut self, judgement: &Judgement) -> bool {
        let commands: Vec<&Request> = judgement
            .decision
            .parts
            .iter()
            .filter_map(|part| part.request.as_ref())
            .filter(|request| matches!(request, Request::Exec(_)))
            .collect();
        let runs = |pattern: &vtpolicy_engine::ArgvPattern| {
            let probe = vtpolicy_engine::Policy {
                name: "when-running".to_owned(),
                rules: vec![vtpolicy_engine::Rule {
                    id: "when-running".into(),
                    effect: Effect::Allow,
                    because: None,
                    matchers: vec![vtpolicy_engine::Matcher::Exec { pattern: pattern.clone() }],
                    sandboxed_only: false,
                    running: None,
                }],
                defaults: vtpolicy_engine::Defaults::default(),
            };
            Engine::new(vec![probe])
                .is_ok_and(|engine| commands.iter().any(|command| engine.decide(command).effect == Effect::Allow))
        };
        let scoped: Vec<vtpolicy_engine::Policy> = self.policies.iter().map(|p| p.while_running(runs)).collect();
        if scoped == self.policies {
            return false;
        }
        self.policies = scoped;
        self.sandboxed = std::sync::OnceLock::new();
        self.unsandboxed = std::sync::OnceLock::new();
        true
    }

    /// Whether an allow rule that decided `judgement` names `host` itself in
    /// a net matcher: the same name or address, no wildcard. Only such a
    /// rule lets the egress proxy reach a loopback, private, link-local or
    /// metadata address.
    pub fn names_host(&self, judgement: &Judgement, host: &str) -> bool {
        self.rules_name_host(&judgement.decision.matched, host)
    }

    fn rules_name_host(&self, matched: &[vtpolicy_engine::MatchedRule], host: &str) -> bool {
        let host = vtpolicy_engine::normalize_host(host);
        matched.iter().any(|matched| {
            let rule = self.policies.get(matched.policy).and_then(|policy| policy.rules.get(matched.rule));
            rule.is_some_and(|rule| {
                rule.effect == Effect::Allow
                    && rule.matchers.iter().any(|matcher| {
                        matches!(matcher, vtpolicy_engine::Matcher::Net { host: pattern, .. }
                            if !pattern.contains('*') && vtpolicy_engine::normalize_host(pattern) == host)
                    })
            })
        })
    }

    /// The name of the policy at `policy` (an index of `MatchedRule` or
    /// `TraceEntry`).
    pub fn policy_name(&self, policy: usize) -> Option<&str> {
        let engine = &self.policies;
        match engine.get(policy) {
            Some(p) => Some(p.name.as_str()),
            None if policy == self.approvals_index() => self.approvals.as_ref().map(|a| a.name.as_str()),
            None => self.rego.get(policy - engine.len()).map(|p| p.name.as_str()),
        }
    }

    /// Where rule `rule` of policy `policy` was written.
    pub fn rule_source(&self, policy: usize, rule: usize) -> Option<&RuleSource> {
        match self.approvals.as_ref().filter(|_| policy == self.approvals_index()) {
            Some(approvals) => approvals.sources.get(rule),
            None => self.sources.get(policy)?.get(rule),
        }
    }

    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The `.vtp` policies' rules, as compiled (every rule, `when
    /// sandboxed` ones included).
    pub fn policies(&self) -> &[vtpolicy_engine::Policy] {
        &self.policies
    }

    /// The normalised parts of a raw request.
    pub fn normalize(&self, raw: &RawRequest) -> Vec<Part> {
        self.normalize_in(raw, self.environment.sandboxed)
    }

    /// [`Judge::normalize`] for a call that will (or will not) run inside
    /// the kernel sandbox: inside it, reads and writes of paths only known
    /// at run time are the kernel's to refuse, not a part.
    fn normalize_in(&self, raw: &RawRequest, sandboxed: bool) -> Vec<Part> {
        let writable = |path: &str| self.writable(path);
        let trust = Trust {
            agent_roots: [&self.environment.workspace, &self.environment.tmp],
            writable: &writable,
            bin_dirs: self.bin_dirs.as_deref(),
            cache: &self.located,
        };
        let denied = |path: &str| self.denied(path);
        normalize_with(raw, &self.environment, &trust, &denied, sandboxed, &self.models)
    }

    /// Whether a rule of the `.vtp` policies denies reading or writing
    /// `path` (a default that denies does not count: it denies most of the
    /// file system).
    fn denied(&self, path: &str) -> bool {
        let decide = |request: Request| {
            let decision = self.engine().decide(&request);
            decision.effect == Effect::Deny && !decision.default_applied
        };
        !self.policies.is_empty()
            && (decide(Request::Read { path: path.to_owned() }) || decide(Request::Write { path: path.to_owned() }))
    }

    /// Whether the `.vtp` policies let the agent write `path` on its own:
    /// they allow it. A write they prompt for is the person's to approve,
    /// one path at a time. With no `.vtp` policy, only the agent's own
    /// trees count, which [`Trust`] checks itself.
    fn writable(&self, path: &str) -> bool {
        // Most of a program's path (`/`, `/usr`, `/usr/bin/git`) lies where
        // no rule allows writing: answered without the write automaton.
        let engine = self.engine();
        !self.policies.is_empty()
            && !engine.cannot_allow_path(RequestKind::Write, path)
            && engine.decide(&Request::Write { path: path.to_owned() }).effect == Effect::Allow
    }

    pub fn judge(&self, raw: &RawRequest) -> Judgement {
        self.judge_in(raw, self.environment.sandboxed)
    }

    /// [`Judge::judge`] for a call that will (or will not) run inside the
    /// kernel sandbox, whatever the environment says.
    pub fn judge_in(&self, raw: &RawRequest, sandboxed: bool) -> Judgement {
        let parts = self.normalize_in(raw, sandboxed);
        let engine = if sandboxed { self.sandboxed() } else { self.unsandboxed() };
        // The call's own fields, for Rego policies alone.
        let cwd = (!self.rego.is_empty()).then(|| call_cwd(raw, &self.environment));
        let call = cwd.as_deref().map(|cwd| crate::rego::CallFields {
            command: match raw {
                RawRequest::Exec { command, .. } => command.as_deref(),
                _ => None,
            },
            tool_args: match raw {
                RawRequest::Tool { args, .. } => args.as_ref(),
                _ => None,
            },
            cwd,
            workspace: &self.environment.workspace,
            sandboxed,
        });
        // A sandboxed connection goes through the egress proxy, which
        // refuses what the decision must then say it refuses.
        let proxied = sandboxed && self.net_rules;
        let decision = engine.decide_call_adjusted(
            parts,
            |request| match &call {
                Some(call) => self.rego.iter().map(|p| p.decide(request, call)).collect(),
                None => Vec::new(),
            },
            |request, decision| {
                let decision = if proxied { self.as_the_proxy_would(request, decision) } else { decision };
                self.approved(request, decision, sandboxed)
            },
        );
        Judgement { decision }
    }

    /// A connection to a loopback, private or link-local address (or to
    /// `localhost`) that no deciding allow rule names itself: the proxy
    /// refuses it whatever the answer to a prompt, so it is denied, as
    /// paths the kernel would refuse are.
    fn as_the_proxy_would(
        &self,
        request: &Request,
        mut decision: vtpolicy_engine::Decision,
    ) -> vtpolicy_engine::Decision {
        let Request::Net { host, .. } = request else { return decision };
        if decision.effect == Effect::Deny || !crate::sandbox::internal_host(host) {
            return decision;
        }
        if self.rules_name_host(&decision.matched, host) {
            return decision;
        }
        decision.effect = Effect::Deny;
        decision.kernel_refusal = true;
        decision
    }

    /// What `raw` becomes once normalised in (or outside) the sandbox: each
    /// part described (`None` for one that cannot be analysed), and every
    /// rule (policy index, rule index) that matches a part, whatever
    /// decides.
    pub fn matching_rules(&self, raw: &RawRequest, sandboxed: bool) -> (Vec<Option<String>>, Vec<(usize, usize)>) {
        let engine = if sandboxed { self.sandboxed() } else { self.unsandboxed() };
        let mut described = Vec::new();
        let mut matched = Vec::new();
        for part in self.normalize_in(raw, sandboxed) {
            match part {
                Part::Request { request, .. } => {
                    described.push(Some(request.describe()));
                    matched
                        .extend(engine.trace(&request).into_iter().filter(|e| e.matched).map(|e| (e.policy, e.rule)));
                }
                Part::Unanalysable { .. } => described.push(None),
            }
        }
        (described, matched)
    }

    /// The per-rule trace of one normalised request.
    pub fn trace(&self, request: &Request) -> Vec<vtpolicy_engine::reference::TraceEntry> {
        self.engine().trace(request)
    }
}

/// Where `raw` runs: its own `cwd`, resolved against the environment's,
/// else the environment's.
fn call_cwd<'a>(raw: &RawRequest, environment: &'a Environment) -> std::borrow::Cow<'a, Path> {
    raw.cwd().map_or(std::borrow::Cow::Borrowed(environment.cwd.as_path()), |cwd| {
        std::borrow::Cow::Owned(PathBuf::from(crate::normalize_path(cwd, &environment.cwd, &environment.home)))
    })
}

fn normalize_with(
    raw: &RawRequest,
    environment: &Environment,
    trust: &Trust<'_>,
    denied: &dyn Fn(&str) -> bool,
    sandboxed: bool,
    models: &crate::normalize::models::Models,
) -> Vec<Part> {
    let cwd = call_cwd(raw, environment).into_owned();
    let mut normalizer = Normalizer {
        home: &environment.home,
        denied,
        sandboxed,
        mounts: &environment.mounts,
        programs: ProgramResolver {
            lookup: &environment.lookup,
            trust,
            home: &environment.home,
            mounts: &environment.mounts,
        },
        models,
        parts: Vec::new(),
        search: None,
        links: Vec::new(),
    };
    match raw {
        RawRequest::Exec { argv: Some(argv), .. } => {
            let label = argv.join(" ");
            let words = argv.iter().map(|a| crate::normalize::Word::Known(a.clone())).collect();
            normalizer.exec(&label, words, Some(&cwd), false, 0);
        }
        RawRequest::Exec { command: Some(command), .. } => normalizer.shell(command, Some(&cwd), 0),
        RawRequest::Exec { .. } => normalizer.parts.push(Part::Unanalysable {
            label: String::new(),
            reason: "an exec request needs `argv` or `command`".to_owned(),
        }),
        RawRequest::Read { path, .. } => {
            let path = normalizer.path(path, &cwd);
            normalizer.parts.push(Part::Request { label: format!("read {path}"), request: Request::Read { path } });
        }
        RawRequest::Write { path, .. } => {
            let path = normalizer.path(path, &cwd);
            normalizer.parts.push(Part::Request { label: format!("write {path}"), request: Request::Write { path } });
        }
        RawRequest::Net { unix: Some(path), .. } => {
            let path = normalizer.path(path, &cwd);
            normalizer.parts.push(Part::Request { label: format!("net unix {path}"), request: Request::Unix { path } });
        }
        RawRequest::Net { host, port, .. } => match (host, port) {
            (Some(host), Some(port)) => {
                let host = normalizer.host(host);
                normalizer.parts.push(Part::Request {
                    label: format!("net {host}:{port}"),
                    request: Request::Net { host, port: *port },
                });
            }
            // The schema requires both; a request built in code may not.
            _ => normalizer.parts.push(Part::Unanalysable {
                label: "net".to_owned(),
                reason: "a net request needs a host and a port, or a unix socket path".to_owned(),
            }),
        },
        RawRequest::Tool { name, .. } => normalizer
            .parts
            .push(Part::Request { label: format!("tool {name}"), request: Request::Tool { name: name.clone() } }),
    }
    normalizer.parts
}

/// The outcome of one inline test case.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    pub test: InlineTest,
    pub request: RawRequest,
    pub judgement: Judgement,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.judgement.effect() == self.test.expect
    }
}

/// The raw request an inline test case describes. Variables expand in
/// paths and argv words.
pub fn test_request(request: &TestRequest, context: &Context) -> RawRequest {
    let expand = |text: &str, tilde: bool| context.expand(text, tilde).unwrap_or_else(|_| text.to_owned());
    match request {
        TestRequest::Exec(argv) => RawRequest::Exec {
            argv: Some(argv.iter().map(|a| expand(a, false)).collect()),
            command: None,
            cwd: None,
            workspace: None,
        },
        TestRequest::Shell(text) => {
            RawRequest::Exec { argv: None, command: Some(text.clone()), cwd: None, workspace: None }
        }
        TestRequest::Path(kind, path) => {
            let path = expand(path, true);
            match kind {
                vtpolicy_compiler::Kind::Write => RawRequest::Write { path, cwd: None, workspace: None },
                _ => RawRequest::Read { path, cwd: None, workspace: None },
            }
        }
        TestRequest::Net(host, port) => {
            RawRequest::Net { host: Some(host.clone()), port: Some(*port), unix: None, cwd: None, workspace: None }
        }
        TestRequest::Unix(path) => {
            RawRequest::Net { host: None, port: None, unix: Some(path.clone()), cwd: None, workspace: None }
        }
        TestRequest::Tool(name) => RawRequest::Tool { name: name.clone(), args: None, cwd: None, workspace: None },
    }
}

/// Runs a policy's inline tests against that policy alone, in
/// `environment`: programs are found and trusted as `explain` finds and
/// trusts them there.
pub fn run_inline_tests(policy: &CompiledPolicy, environment: &Environment) -> Result<Vec<TestOutcome>, GraphError> {
    let environment = Environment { cwd: environment.workspace.clone(), ..environment.clone() };
    let context = environment.context();
    let judge = Judge::new(vec![policy.clone()], environment)?;
    Ok(policy
        .tests
        .iter()
        .map(|test| {
            let request = test_request(&test.request, &context);
            let judgement = judge.judge(&request);
            TestOutcome { test: test.clone(), request, judgement }
        })
        .collect())
}
