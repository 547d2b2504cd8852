//! vtpolicy as a library, for agents written in Rust: load policies (the
//! `.vtp` language, policy JSON, Rego, or a stock name), judge and explain
//! tool calls, and run a command inside the kernel sandbox compiled from
//! the same policies.
//!
//! ```
//! use vtpolicy::{Effect, Environment, Policies, RawRequest};
//!
//! let workspace = std::env::temp_dir();
//! // Programs are found in a fixed list here; `Environment::detect` uses
//! // the process's `PATH`, `HOME` and working directory.
//! let environment = Environment::hermetic(&workspace, "/home/dev", &["git", "cargo"]);
//! let policies = Policies::from_text(
//!     "agent.vtp",
//!     r#"version 1
//!        default prompt
//!        deny exec git push .. [-f | --force] ..
//!            id "no-force-push"
//!            because "rewrites shared history"
//!        allow exec cargo [build | test] .."#,
//!     &environment,
//! )?
//! .and(Policies::load(&["read-only".to_owned()], &environment, vtpolicy::Layering::Enforce)?);
//! let judge = policies.judge(environment)?;
//!
//! let judgement = judge.judge(&RawRequest::shell("cargo test && git push --force origin main"));
//! assert_eq!(judgement.effect(), Effect::Deny);
//! assert_eq!(judgement.deciding().0, ["no-force-push"]);
//! // The whole trace, as `vtpolicy explain --format json` prints it.
//! let explanation = vtpolicy::explain(&judge, &judgement);
//! assert_eq!(explanation.parts.len(), 2);
//! # Ok::<(), vtpolicy::Error>(())
//! ```
//!
//! Running a command in the sandbox: prepare it from the policies for the
//! place it runs in, judge in the view it will show, then spawn.
//!
//! ```no_run
//! use vtpolicy::sandbox::RunPlace;
//! use vtpolicy::{Effect, Environment, Layering, Policies, RawRequest};
//!
//! let mut environment = Environment::detect(None, None)?;
//! environment.tmp = std::env::temp_dir().join("my-agent-call-1");
//! std::fs::create_dir_all(&environment.tmp)?;
//! let policies = Policies::load(&["workspace-write".to_owned()], &environment, Layering::Enforce)?;
//! let place = RunPlace::of(&environment, None);
//! let sandbox = policies.sandbox(place, "call-1")?;
//! environment.mounts = sandbox.view();
//! environment.sandboxed = sandbox.is_sandboxed();
//! let judge = policies.judge(environment)?;
//! let argv = ["cargo".to_owned(), "test".to_owned()];
//! if judge.judge(&RawRequest::argv(argv.clone())).effect() == Effect::Allow {
//!     let (running, _enforced, _sockets) = sandbox.spawn(std::path::Path::new("/usr/bin/cargo"), &argv)?;
//!     let outcome = running.wait(None)?;
//!     println!("{:?}", outcome.status);
//! }
//! # Ok::<(), vtpolicy::Error>(())
//! ```
//!
//! The stages behind this facade are re-exported for tools built on them
//! (the `vtpolicy` command's `check`, `fmt` and `compile` use them):
//! [`grammar`] (policy text), [`compiler`] (AST to the decision graph and
//! kernel profiles), [`engine`] (decisions) and [`runtime`] (requests,
//! normalisation, sandbox).

use std::sync::Arc;

pub use vtpolicy_compiler as compiler;
pub use vtpolicy_engine as engine;
pub use vtpolicy_grammar as grammar;
pub use vtpolicy_import as import;
pub use vtpolicy_runtime as runtime;

pub use vtpolicy_compiler::CompiledPolicy;
pub use vtpolicy_engine::{CallDecision, Decision, Effect, MatchedRule, Request};
pub use vtpolicy_grammar::{Diagnostic, Severity, SourceFile, Span};
pub use vtpolicy_runtime::explanation::Explanation;
pub use vtpolicy_runtime::rego::RegoPolicy;
pub use vtpolicy_runtime::sandbox::{self, ExpectedRun, RunPlace, Sandbox};
pub use vtpolicy_runtime::{
    ApprovalToken, Environment, Judge, Judgement, Layering, RawRequest, RequestError, events, hook, parse_request,
    request_from_value, request_sandboxed,
};

/// Why policies could not be loaded or a call could not be run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A policy has errors; `diagnostics` holds them all, with locations.
    #[error("{}", render(diagnostics))]
    Policy { diagnostics: Vec<Diagnostic> },
    #[error("{0}")]
    Graph(#[from] vtpolicy_engine::GraphError),
    #[error("{0}")]
    Sandbox(#[from] vtpolicy_runtime::sandbox::SandboxError),
    #[error("{0}")]
    Request(#[from] RequestError),
    #[error("{0}")]
    Environment(#[from] vtpolicy_runtime::EnvironmentError),
    /// The file system refused what a call needed (the run's directory).
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    let errors: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(Diagnostic::render).collect();
    match errors.is_empty() {
        true => "the policy does not compile".to_owned(),
        false => errors.join("\n"),
    }
}

/// Policies loaded for one workspace, to judge with or to sandbox with.
/// Several combine strictest-wins, as `--policy` repeated does.
#[derive(Debug, Default)]
pub struct Policies {
    compiled: Vec<CompiledPolicy>,
    rego: Vec<RegoPolicy>,
    warnings: Vec<Diagnostic>,
}

impl Policies {
    /// Loads each spec: a stock policy name, a `.vtp` file, a policy JSON
    /// file (`.json`) or a Rego module (`.rego`). `${workspace}` and the
    /// other variables take their values from `environment`. With
    /// [`Layering::Enforce`], a file inside the workspace may only tighten.
    /// Fails with every error of every spec.
    pub fn load(specs: &[String], environment: &Environment, layering: Layering) -> Result<Policies, Error> {
        Policies::load_cached(specs, environment, layering, None)
    }

    /// [`Policies::load`], with the compiled `.vtp` policies remembered in
    /// `cache` (a directory of the caller's, never inside the workspace)
    /// and taken from there while nothing they came from has changed (see
    /// [`runtime::cache`]). Rego modules are always loaded afresh.
    pub fn load_cached(
        specs: &[String],
        environment: &Environment,
        layering: Layering,
        cache: Option<&std::path::Path>,
    ) -> Result<Policies, Error> {
        let context = environment.context();
        let mut policies = Policies::default();
        let mut errors = Vec::new();
        let vtp: Vec<String> = specs.iter().filter(|s| !vtpolicy_runtime::rego::is_rego(s)).cloned().collect();
        let cache = cache.filter(|dir| !dir.starts_with(&environment.workspace));
        let (compiled, diagnostics) = vtpolicy_runtime::cache::load_policies(&vtp, &context, layering, cache);
        let loaded = compiled.map(|compiled| policies.compiled = compiled);
        policies.keep(loaded, diagnostics, &mut errors);
        for spec in specs.iter().filter(|s| vtpolicy_runtime::rego::is_rego(s)) {
            let (rego, diagnostics) = RegoPolicy::load(spec, &environment.workspace, layering);
            let loaded = rego.map(|r| policies.rego.push(r));
            policies.keep(loaded, diagnostics, &mut errors);
        }
        policies.into_result(errors)
    }

    /// A `.vtp` policy given as text, named `name` in diagnostics. Its
    /// `extend`s are read relative to the current directory.
    pub fn from_text(name: &str, text: &str, environment: &Environment) -> Result<Policies, Error> {
        let source = SourceFile::new(format!("<{name}>"), text);
        Policies::from_source(&source, environment)
    }

    /// A policy given as data (`vtpolicy schema policy`).
    pub fn from_json(name: &str, json: &str, environment: &Environment) -> Result<Policies, Error> {
        let source =
            vtpolicy_runtime::policy_json_source(&format!("<{name}>"), json).map_err(|message| Error::Policy {
                diagnostics: vec![Diagnostic::error(vtpolicy_compiler::codes::UNKNOWN_POLICY, message.to_string())],
            })?;
        Policies::from_source(&source, environment)
    }

    /// A Rego module (`package vtpolicy`) given as text.
    pub fn from_rego(name: &str, text: &str) -> Result<Policies, Error> {
        let mut policies = Policies::default();
        let mut errors = Vec::new();
        let (rego, diagnostics) = RegoPolicy::from_text(name, text, false);
        let loaded = rego.map(|r| policies.rego.push(r));
        policies.keep(loaded, diagnostics, &mut errors);
        policies.into_result(errors)
    }

    fn from_source(source: &Arc<SourceFile>, environment: &Environment) -> Result<Policies, Error> {
        let mut policies = Policies::default();
        let mut errors = Vec::new();
        let (compiled, diagnostics) =
            vtpolicy_runtime::load_policy_source(source, &environment.context(), Layering::AsWritten);
        let loaded = compiled.map(|c| policies.compiled.push(c));
        policies.keep(loaded, diagnostics, &mut errors);
        policies.into_result(errors)
    }

    fn keep(&mut self, loaded: Option<()>, diagnostics: Vec<Diagnostic>, errors: &mut Vec<Diagnostic>) {
        let failed = loaded.is_none() || diagnostics.iter().any(Diagnostic::is_error);
        if loaded.is_none() && !diagnostics.iter().any(Diagnostic::is_error) {
            // A policy that did not load is an error even if nothing said
            // why: judging without it would be judging by fewer policies.
            errors.push(Diagnostic::error(vtpolicy_compiler::codes::UNKNOWN_POLICY, "a policy did not load"));
        }
        for diagnostic in diagnostics {
            if diagnostic.is_error() || failed {
                errors.push(diagnostic);
            } else {
                self.warnings.push(diagnostic);
            }
        }
    }

    fn into_result(self, errors: Vec<Diagnostic>) -> Result<Policies, Error> {
        match errors.iter().any(Diagnostic::is_error) {
            true => Err(Error::Policy { diagnostics: errors }),
            false => Ok(self),
        }
    }

    /// These policies and `other`'s, combined strictest-wins.
    pub fn and(mut self, other: Policies) -> Policies {
        self.compiled.extend(other.compiled);
        self.rego.extend(other.rego);
        self.warnings.extend(other.warnings);
        self
    }

    /// Warnings from loading, each with its location: what the layering
    /// ignored (VT104) when loaded to enforce, and the lint warnings of
    /// `vtpolicy check` when loaded as written ([`Layering::AsWritten`]).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The `.vtp` (and policy JSON) policies, compiled.
    pub fn compiled(&self) -> &[CompiledPolicy] {
        &self.compiled
    }

    /// Whether any policy is a Rego module: those add nothing to the
    /// kernel profile.
    pub fn has_rego(&self) -> bool {
        !self.rego.is_empty()
    }

    /// What `vtpolicy run` will do at `place`, known without preparing
    /// anything: judge a call in this view when it will run there.
    pub fn expected_run(&self, place: &RunPlace) -> ExpectedRun {
        let refs: Vec<&CompiledPolicy> = self.compiled.iter().collect();
        place.expected(&refs)
    }

    /// The kernel sandbox of these policies for a command at `place`:
    /// profiles compiled against this machine, namespaces, limits and the
    /// environment allow-list, ready to spawn. Refuses what it cannot
    /// enforce as the policies ask.
    pub fn sandbox(&self, place: RunPlace, run_id: &str) -> Result<Sandbox, Error> {
        let refs: Vec<&CompiledPolicy> = self.compiled.iter().collect();
        Ok(Sandbox::prepare(&refs, place, run_id)?)
    }

    /// The judge of these policies in `environment`.
    pub fn judge(self, environment: Environment) -> Result<Judge, Error> {
        Ok(Judge::new(self.compiled, environment)?.with_rego(self.rego))
    }
}

/// The full trace of a judgement: deciding rules with where they were
/// written, and every rule considered for every part.
pub fn explain(judge: &Judge, judgement: &Judgement) -> Explanation {
    Explanation::new(judge, judgement)
}
