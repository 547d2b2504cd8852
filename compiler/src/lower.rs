//! Policy AST to engine rules: `extend` flattened, variables expanded,
//! patterns checked, ids assigned, and a side table from rule to source.

use std::collections::HashMap;
use std::sync::Arc;

use vtpolicy_engine as engine;
use vtpolicy_grammar::{
    self as grammar, ArgPattern, DefaultScope, Diagnostic, Item, Kind, SourceFile, Span, Spanned, Target, TestRequest,
};

use crate::codes;
use crate::context::{Context, VARIABLES};
use crate::settings::{DEFAULT_ENV_KEEP, Limits, Settings, limit_unit, parse_quantity};
use crate::stock;

/// Loads the policy files that `extend` names. Stock names never reach it.
pub trait Resolver {
    /// The file `name`, as referenced from `from`. The returned file's
    /// `name` must identify it (a canonical path), for cycle detection.
    fn load(&self, name: &str, from: &SourceFile) -> Result<Arc<SourceFile>, String>;
}

/// A resolver that loads nothing: for policies that may only extend stock
/// policies (tests, fuzzing).
pub struct StockOnly;

impl Resolver for StockOnly {
    fn load(&self, name: &str, _from: &SourceFile) -> Result<Arc<SourceFile>, String> {
        Err(format!("`{name}` is not a stock policy"))
    }
}

/// Where a rule was written.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub file: Arc<SourceFile>,
    pub span: Span,
}

impl RuleSource {
    /// `file:line:column`.
    pub fn location(&self) -> String {
        let (line, column) = self.file.line_col(self.span.start);
        format!("{}:{line}:{column}", self.file.name)
    }
}

/// One inline `test` case.
#[derive(Debug, Clone)]
pub struct InlineTest {
    pub block: Option<String>,
    pub request: TestRequest,
    pub expect: engine::Effect,
    pub file: Arc<SourceFile>,
    pub span: Span,
}

/// A policy ready for the engine, with what `check` and `explain` need.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub policy: engine::Policy,
    /// Aligned with `policy.rules`.
    pub sources: Vec<RuleSource>,
    pub tests: Vec<InlineTest>,
    pub settings: Settings,
    pub source: Arc<SourceFile>,
}

impl CompiledPolicy {
    /// Where rule `index` was written, when that is this policy's own file
    /// (not a policy it extends): the rules a lint of this file reports.
    pub fn own_rule_source(&self, index: usize) -> Option<&RuleSource> {
        self.sources.get(index).filter(|s| s.file.name == self.source.name)
    }
}

/// Compiles one policy file and everything it extends. Returns the policy
/// only when there were no errors.
pub fn compile(
    source: &Arc<SourceFile>,
    context: &Context,
    resolver: &dyn Resolver,
) -> (Option<CompiledPolicy>, Vec<Diagnostic>) {
    compile_layered(source, context, resolver, &|_| false, true)
}

/// [`compile`], where each file `tightens_only` names (by source name)
/// may only tighten what the files it extends say: its allow rules are
/// dropped, and a default, limit or environment allow-list looser than
/// the one it would replace is ignored, each with a warning (VT104). The
/// rules and settings of the files it extends are kept as they are.
/// `lint` runs the lint rules; paths that enforce a policy skip them, as
/// their warnings are for `check` and they cost time on every call.
pub fn compile_layered(
    source: &Arc<SourceFile>,
    context: &Context,
    resolver: &dyn Resolver,
    tightens_only: &dyn Fn(&str) -> bool,
    lint: bool,
) -> (Option<CompiledPolicy>, Vec<Diagnostic>) {
    let mut lowering = Lowering {
        context,
        resolver,
        tightens_only,
        dropped_allows: Vec::new(),
        diagnostics: Vec::new(),
        in_progress: Vec::new(),
        rules: Vec::new(),
        sources: Vec::new(),
        ids: HashMap::new(),
        defaults: engine::Defaults::default(),
        limits: None,
        env_keep: None,
        trusted_bin: None,
        programs: Vec::new(),
        tests: Vec::new(),
    };
    let name = lowering.load(source, true);
    // One warning per policy, at its first dropped allow rule.
    if let Some((first_id, first_source)) = lowering.dropped_allows.first() {
        let message = match lowering.dropped_allows.len() {
            1 => format!("allow rule `{first_id}` is ignored"),
            n => format!("{n} allow rules are ignored, the first `{first_id}`"),
        };
        let warning = Diagnostic::warning(codes::WORKSPACE_ALLOW_IGNORED, message)
            .at(&first_source.file, first_source.span)
            .with_label("this policy is loaded from inside the workspace, where it may only add prompt and deny rules");
        lowering.diagnostics.push(warning);
    }
    let has_errors = lowering.diagnostics.iter().any(Diagnostic::is_error);
    let mut diagnostics = lowering.diagnostics;
    if has_errors {
        return (None, diagnostics);
    }
    // Unnamed, it narrows nothing: trust is by writability alone.
    let trusted_bin = lowering.trusted_bin.unwrap_or_default();
    let policy = CompiledPolicy {
        policy: engine::Policy { name, rules: lowering.rules, defaults: lowering.defaults },
        sources: lowering.sources,
        tests: lowering.tests,
        settings: Settings {
            limits: lowering.limits.unwrap_or_default(),
            env_keep: lowering.env_keep.unwrap_or_else(|| DEFAULT_ENV_KEEP.iter().map(|s| (*s).to_owned()).collect()),
            trusted_bin,
            programs: lowering.programs,
        },
        source: Arc::clone(source),
    };
    if lint {
        crate::lint::run(&policy, &mut diagnostics);
        crate::lint::suppress(&mut diagnostics);
    }
    (Some(policy), diagnostics)
}

struct Lowering<'a> {
    context: &'a Context,
    resolver: &'a dyn Resolver,
    /// Files (by source name) that may only tighten.
    tightens_only: &'a dyn Fn(&str) -> bool,
    /// Allow rules of such files, left out.
    dropped_allows: Vec<(String, RuleSource)>,
    diagnostics: Vec<Diagnostic>,
    /// Source names of the files being loaded, outermost first.
    in_progress: Vec<String>,
    rules: Vec<engine::Rule>,
    sources: Vec<RuleSource>,
    ids: HashMap<String, RuleSource>,
    defaults: engine::Defaults,
    limits: Option<Limits>,
    env_keep: Option<Vec<String>>,
    trusted_bin: Option<Vec<String>>,
    programs: Vec<crate::settings::ProgramCatalogue>,
    tests: Vec<InlineTest>,
}

impl Lowering<'_> {
    /// Loads one file (its extends first). Returns the policy's name.
    fn load(&mut self, source: &Arc<SourceFile>, top_level: bool) -> String {
        self.in_progress.push(source.name.clone());
        let (file, diagnostics) = grammar::parse(source);
        self.diagnostics.extend(diagnostics);

        let name = file
            .items
            .iter()
            .find_map(|item| match item {
                Item::Policy(name) => Some(name.node.clone()),
                _ => None,
            })
            .unwrap_or_else(|| default_policy_name(&source.name));
        self.check_version(&file);

        // Extended policies first: this file's settings override theirs.
        for item in &file.items {
            if let Item::Extend(target) = item {
                self.extend(source, &target.node, target.span);
            }
        }

        let mut file_defaults: HashMap<String, (engine::Effect, Span)> = HashMap::new();
        for item in &file.items {
            match item {
                Item::Default(default) => self.default(source, default, &mut file_defaults),
                Item::Rule(rule) => self.rule(source, &name, rule),
                Item::Limits(limits, _) => self.limits(source, limits),
                Item::Env(list, span) => {
                    let mut keep: Vec<String> = list.iter().map(|s| s.node.clone()).collect();
                    if (self.tightens_only)(&source.name) {
                        // Only names the list it replaces passes already.
                        let before = self
                            .env_keep
                            .clone()
                            .unwrap_or_else(|| DEFAULT_ENV_KEEP.iter().map(|s| (*s).to_owned()).collect());
                        let added = keep.iter().filter(|name| !before.contains(name)).count();
                        keep.retain(|name| before.contains(name));
                        if added > 0 {
                            self.diagnostics.push(
                                Diagnostic::warning(
                                    codes::WORKSPACE_ALLOW_IGNORED,
                                    format!("{added} name(s) added to `env keep` are ignored"),
                                )
                                .at(source, *span)
                                .with_label("this policy is loaded from inside the workspace, where it may only pass fewer variables"),
                            );
                        }
                    }
                    self.env_keep = Some(keep);
                }
                Item::Programs(list, _) => {
                    // Relative to the file that names them, as `extend` is.
                    let base = std::path::Path::new(&source.name).parent().map(std::path::Path::to_path_buf);
                    for file in list {
                        let path = match &base {
                            Some(base) if !file.node.starts_with('/') => {
                                base.join(&file.node).to_string_lossy().into_owned()
                            }
                            _ => file.node.clone(),
                        };
                        self.programs.push(crate::settings::ProgramCatalogue {
                            path,
                            source: Arc::clone(source),
                            span: file.span,
                            text: String::new(),
                            may_replace: false,
                        });
                    }
                }
                Item::TrustedBin(list, _) => {
                    let mut dirs = Vec::new();
                    for dir in list {
                        if let Some(expanded) = self.expand_path(source, &dir.node, dir.span) {
                            dirs.push(expanded);
                        }
                    }
                    self.trusted_bin = Some(dirs);
                }
                Item::Test(test) if top_level => {
                    for case in &test.cases {
                        self.tests.push(InlineTest {
                            block: test.name.as_ref().map(|n| n.node.clone()),
                            request: case.request.clone(),
                            expect: effect(case.expect.node),
                            file: Arc::clone(source),
                            span: case.span,
                        });
                    }
                }
                Item::Test(_) | Item::Version(_) | Item::Policy(_) | Item::Extend(_) => {}
            }
        }
        self.in_progress.pop();
        name
    }

    fn check_version(&mut self, file: &grammar::PolicyFile) {
        let versions: Vec<_> = file
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Version(v) => Some(v),
                _ => None,
            })
            .collect();
        match versions.as_slice() {
            // A file that did not parse at all already has its errors.
            [] if !file.items.is_empty() => {
                self.diagnostics.push(
                    Diagnostic::error(codes::BAD_VERSION, "missing `version 1`")
                        .at(&file.source, Span::new(0, 0))
                        .with_label("expected `version 1` as the first statement"),
                );
            }
            [version, ..] if version.node != 1 => self.diagnostics.push(
                Diagnostic::error(codes::BAD_VERSION, format!("unsupported version `{}`", version.node))
                    .at(&file.source, version.span)
                    .with_label("this vtpolicy reads version 1"),
            ),
            _ => {}
        }
    }

    fn extend(&mut self, from: &Arc<SourceFile>, target: &str, span: Span) {
        let loaded = match stock::stock_policy(target) {
            Some(text) => Ok(SourceFile::new(stock::stock_source_name(target), text)),
            None => self.resolver.load(target, from),
        };
        match loaded {
            Ok(base) => {
                if self.in_progress.contains(&base.name) {
                    let chain = self.in_progress.join("` → `");
                    self.diagnostics.push(
                        Diagnostic::error(codes::CYCLIC_EXTEND, format!("`extend` cycle: `{chain}` → `{}`", base.name))
                            .at(from, span)
                            .with_label("this extends a policy that is already being extended"),
                    );
                    return;
                }
                self.load(&base, false);
            }
            Err(message) => {
                let names: Vec<&str> = stock::STOCK.iter().map(|(n, _)| *n).collect();
                self.diagnostics.push(
                    Diagnostic::error(codes::UNKNOWN_POLICY, format!("cannot extend `{target}`: {message}"))
                        .at(from, span)
                        .with_label("expected a stock policy name or a policy file")
                        .with_help(format!("stock policies: {}", names.join(", "))),
                );
            }
        }
    }

    fn default(
        &mut self,
        source: &Arc<SourceFile>,
        default: &grammar::Default,
        seen: &mut HashMap<String, (engine::Effect, Span)>,
    ) {
        let effect = effect(default.effect);
        let key = match default.scope {
            DefaultScope::All => "all".to_owned(),
            DefaultScope::Kind(kind) => kind.as_str().to_owned(),
            DefaultScope::Unanalysable => "unanalysable".to_owned(),
        };
        if let Some((previous, _)) = seen.get(&key)
            && *previous != effect
        {
            self.diagnostics.push(
                Diagnostic::error(codes::CONFLICTING_DEFAULT, format!("conflicting defaults for `{key}`"))
                    .at(source, default.span)
                    .with_label(format!("`{key}` already defaults to `{}` above", previous.as_str())),
            );
            return;
        }
        seen.insert(key, (effect, default.span));
        // From a file that may only tighten, a default looser than the one
        // it replaces (or than `prompt`, where none is set) stays unset.
        let tightens_only = (self.tightens_only)(&source.name);
        let mut ignored = false;
        let mut set = |defaults: &mut engine::Defaults, kind: engine::RequestKind| {
            if tightens_only && effect < defaults.get(kind).unwrap_or(engine::Effect::Prompt) {
                ignored = true;
            } else {
                defaults.set(kind, effect);
            }
        };
        match default.scope {
            // `default E` sets every kind, then per-kind defaults override
            // it whatever their order in the file.
            DefaultScope::All => {
                for kind in engine::RequestKind::ALL {
                    if !seen.contains_key(kind.as_str()) {
                        set(&mut self.defaults, kind);
                    }
                }
            }
            DefaultScope::Kind(kind) => set(&mut self.defaults, request_kind(kind)),
            DefaultScope::Unanalysable => {
                if effect == engine::Effect::Allow {
                    self.diagnostics.push(
                        Diagnostic::error(
                            codes::ALLOW_UNANALYSABLE,
                            "shell constructs that cannot be analysed are never allowed",
                        )
                        .at(source, default.span)
                        .with_label("expected `prompt` or `deny`"),
                    );
                    return;
                }
                if tightens_only && effect < self.defaults.unanalysable.unwrap_or(engine::Effect::Prompt) {
                    ignored = true;
                } else {
                    self.defaults.unanalysable = Some(effect);
                }
            }
        }
        if ignored {
            self.diagnostics.push(
                Diagnostic::warning(codes::WORKSPACE_ALLOW_IGNORED, format!("`{}` is ignored", source.text.get(default.span.start..default.span.end).unwrap_or("default")))
                    .at(source, default.span)
                    .with_label("this policy is loaded from inside the workspace, where a default may only be stricter than the one it replaces"),
            );
        }
    }

    fn limits(&mut self, source: &Arc<SourceFile>, limits: &[grammar::Limit]) {
        let mut out = self.limits.clone().unwrap_or_default();
        for limit in limits {
            let Some(unit) = limit_unit(&limit.name.node) else {
                self.diagnostics.push(
                    Diagnostic::error(codes::UNKNOWN_LIMIT, format!("unknown limit `{}`", limit.name.node))
                        .at(source, limit.name.span)
                        .with_label("expected one of `cpu`, `memory`, `processes`, `file_size`, `open_files`, `wall`"),
                );
                continue;
            };
            match parse_quantity(&limit.value.node, unit) {
                Ok(value) => {
                    let slot = match limit.name.node.as_str() {
                        "cpu" => {
                            out.cpu_seconds = Some(value.div_ceil(1000));
                            continue;
                        }
                        "memory" => &mut out.memory_bytes,
                        "processes" => &mut out.processes,
                        "file_size" => &mut out.file_size_bytes,
                        "open_files" => &mut out.open_files,
                        _ => &mut out.wall_milliseconds,
                    };
                    *slot = Some(value);
                }
                Err(message) => self.diagnostics.push(
                    Diagnostic::error(codes::INVALID_QUANTITY, format!("invalid value for `{}`", limit.name.node))
                        .at(source, limit.value.span)
                        .with_label(message),
                ),
            }
        }
        if (self.tightens_only)(&source.name) {
            // Each limit may only come down; one the file would raise or
            // lift keeps the value it had.
            let before = self.limits.clone().unwrap_or_default();
            let mut raised = Vec::new();
            for (name, old, new) in [
                ("cpu", before.cpu_seconds, &mut out.cpu_seconds),
                ("memory", before.memory_bytes, &mut out.memory_bytes),
                ("processes", before.processes, &mut out.processes),
                ("file_size", before.file_size_bytes, &mut out.file_size_bytes),
                ("open_files", before.open_files, &mut out.open_files),
                ("wall", before.wall_milliseconds, &mut out.wall_milliseconds),
            ] {
                if let (Some(old), Some(value)) = (old, *new)
                    && value > old
                {
                    *new = Some(old);
                    raised.push(name);
                }
            }
            if let (false, Some(first)) = (raised.is_empty(), limits.first()) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        codes::WORKSPACE_ALLOW_IGNORED,
                        format!("raising `{}` is ignored", raised.join("`, `")),
                    )
                    .at(source, first.name.span)
                    .with_label("this policy is loaded from inside the workspace, where limits may only come down"),
                );
            }
        }
        self.limits = Some(out);
    }

    fn rule(&mut self, source: &Arc<SourceFile>, policy_name: &str, rule: &grammar::Rule) {
        let kinds: Vec<Kind> = rule.kinds.iter().map(|k| k.node).collect();
        let exclusive = kinds.iter().any(|k| matches!(k, Kind::Exec | Kind::Net | Kind::Tool));
        if exclusive && kinds.len() > 1 {
            let span = rule.kinds.first().map_or(rule.span, |k| k.span);
            self.diagnostics.push(
                Diagnostic::error(codes::MIXED_KINDS, "`exec`, `net` and `tool` cannot share a rule with other kinds")
                    .at(source, span)
                    .with_label("only `read` and `write` share one pattern list")
                    .with_help("write one rule per kind"),
            );
            return;
        }
        let errors_before = self.diagnostics.len();
        let mut matchers = Vec::new();
        match &rule.target {
            Target::Argv(args) => {
                let pattern = self.argv_pattern(source, args);
                matchers.push(engine::Matcher::Exec { pattern });
            }
            Target::Strings(strings) => {
                let read = kinds.contains(&Kind::Read);
                let write = kinds.contains(&Kind::Write);
                for string in strings {
                    if kinds.contains(&Kind::Tool) {
                        if self.non_empty(source, &string.node, string.span)
                            && self.check_glob(source, &string.node, string.span, engine::validate_token_glob)
                        {
                            matchers.push(engine::Matcher::Tool { glob: string.node.clone() });
                        }
                    } else if let Some(glob) = self.expand_path(source, &string.node, string.span)
                        && self.check_glob(source, &glob, string.span, engine::validate_path_glob)
                    {
                        matchers.push(engine::Matcher::Path { read, write, glob });
                    }
                }
            }
            Target::Sockets(paths) => {
                for path in paths {
                    if let Some(glob) = self.expand_path(source, &path.node, path.span)
                        && self.check_glob(source, &glob, path.span, engine::validate_path_glob)
                    {
                        matchers.push(engine::Matcher::Socket { glob });
                    }
                }
            }
            Target::Hosts { hosts, ports } => {
                let ports: Vec<(u16, u16)> = ports.iter().map(|p| (p.node.low, p.node.high)).collect();
                for host in hosts {
                    if let Some(host_pattern) = self.host(source, &host.node, host.span) {
                        matchers.push(engine::Matcher::Net { host: host_pattern, ports: ports.clone() });
                    }
                }
            }
        }
        if self.diagnostics.len() > errors_before {
            return;
        }
        let rule_source = RuleSource { file: Arc::clone(source), span: rule.span };
        let id = match &rule.id {
            Some(id) => {
                if let Some(previous) = self.ids.get(&id.node) {
                    self.diagnostics.push(
                        Diagnostic::error(codes::DUPLICATE_ID, format!("rule id `{}` is already used", id.node))
                            .at(source, id.span)
                            .with_label(format!("first used at {}", previous.location())),
                    );
                    return;
                }
                id.node.clone()
            }
            None => {
                let (line, _) = source.line_col(rule.span.start);
                format!("{policy_name}:{line}")
            }
        };
        let running = match &rule.running {
            Some(running) if !matches!(rule.target, Target::Hosts { .. }) => {
                self.diagnostics.push(
                    Diagnostic::error(codes::SCOPED_RULE, "`when running` scopes net rules on hosts only")
                        .at(source, running.span)
                        .with_label("this rule is not a `net` rule on hosts")
                        .with_help("remove `when running`, or write the hosts the command may reach as a net rule"),
                );
                return;
            }
            Some(running) => Some(self.argv_pattern(source, &running.argv)),
            None => None,
        };
        self.ids.insert(id.clone(), rule_source.clone());
        if rule.effect.node == grammar::Effect::Allow && (self.tightens_only)(&source.name) {
            self.dropped_allows.push((id, rule_source));
            return;
        }
        self.rules.push(engine::Rule {
            id: id.into(),
            effect: effect(rule.effect.node),
            because: rule.because.as_ref().map(|b| Arc::from(b.node.as_str())),
            matchers,
            sandboxed_only: rule.sandboxed_only.is_some(),
            running,
        });
        self.sources.push(rule_source);
    }

    fn argv_pattern(&mut self, source: &Arc<SourceFile>, args: &[Spanned<ArgPattern>]) -> engine::ArgvPattern {
        let mut tokens = Vec::new();
        for arg in args {
            match &arg.node {
                ArgPattern::Any => tokens.push(engine::TokenPattern::Any),
                ArgPattern::Rest => tokens.push(engine::TokenPattern::Rest),
                ArgPattern::Token(text) => {
                    if let Some(atom) = self.atom(source, text, arg.span) {
                        tokens.push(engine::TokenPattern::OneOf(vec![atom]));
                    }
                }
                ArgPattern::Alternatives(options) => {
                    let atoms: Vec<_> = options.iter().filter_map(|o| self.atom(source, o, arg.span)).collect();
                    tokens.push(engine::TokenPattern::OneOf(atoms));
                }
            }
        }
        engine::ArgvPattern { tokens }
    }

    fn atom(&mut self, source: &Arc<SourceFile>, text: &str, span: Span) -> Option<engine::Atom> {
        let expanded = match self.context.expand(text, false) {
            Ok(expanded) => expanded,
            Err(range) => {
                self.unknown_variable(source, text, span, range);
                return None;
            }
        };
        let atom = engine::Atom::from_text(&expanded);
        if let engine::Atom::Glob(glob) = &atom
            && !self.check_glob(source, glob, span, engine::validate_token_glob)
        {
            return None;
        }
        Some(atom)
    }

    fn non_empty(&mut self, source: &Arc<SourceFile>, text: &str, span: Span) -> bool {
        if text.is_empty() {
            self.diagnostics.push(
                Diagnostic::error(codes::EMPTY_PATTERN, "empty pattern")
                    .at(source, span)
                    .with_label("this matches nothing"),
            );
        }
        !text.is_empty()
    }

    fn check_glob(
        &mut self,
        source: &Arc<SourceFile>,
        glob: &str,
        span: Span,
        validate: fn(&str) -> Result<(), String>,
    ) -> bool {
        match validate(glob) {
            Ok(()) => true,
            Err(message) => {
                self.diagnostics.push(
                    Diagnostic::error(codes::INVALID_GLOB, format!("invalid glob `{glob}`"))
                        .at(source, span)
                        .with_label(message),
                );
                false
            }
        }
    }

    /// An absolute path pattern with variables and `~` expanded.
    fn expand_path(&mut self, source: &Arc<SourceFile>, text: &str, span: Span) -> Option<String> {
        if !self.non_empty(source, text, span) {
            return None;
        }
        let expanded = match self.context.expand(text, true) {
            Ok(expanded) => expanded,
            Err(range) => {
                self.unknown_variable(source, text, span, range);
                return None;
            }
        };
        if !(expanded.starts_with('/') || expanded.starts_with("**")) {
            self.diagnostics.push(
                Diagnostic::error(codes::RELATIVE_PATH, format!("path pattern `{text}` is not absolute"))
                    .at(source, span)
                    .with_label("requests are judged on absolute paths")
                    .with_help(format!("anchor it: `${{workspace}}/{text}`, or match at any depth: `**/{text}`")),
            );
            return None;
        }
        Some(expanded)
    }

    fn host(&mut self, source: &Arc<SourceFile>, text: &str, span: Span) -> Option<String> {
        if !self.non_empty(source, text, span) {
            return None;
        }
        let host = engine::normalize_host(text);
        let wildcard_ok = host == "*"
            || host.strip_prefix("*.").is_some_and(|rest| !rest.is_empty() && !rest.contains('*'))
            || !host.contains('*');
        if !wildcard_ok {
            self.diagnostics.push(
                Diagnostic::error(codes::INVALID_GLOB, format!("invalid host pattern `{text}`"))
                    .at(source, span)
                    .with_label("`*` stands alone or as the first label (`*.example.com`)"),
            );
            return None;
        }
        Some(host)
    }

    fn unknown_variable(&mut self, source: &Arc<SourceFile>, text: &str, span: Span, range: std::ops::Range<usize>) {
        // The string's span includes its opening quote.
        let start = span.start + 1 + range.start;
        let variable = text.get(range.clone()).unwrap_or(text);
        let known: Vec<String> = VARIABLES.iter().map(|v| format!("`${{{v}}}`")).collect();
        self.diagnostics.push(
            Diagnostic::error(codes::UNKNOWN_VARIABLE, format!("unknown variable `{variable}`"))
                .at(source, Span::new(start, start + range.len()))
                .with_label(format!("expected one of {}", known.join(", "))),
        );
    }
}

fn default_policy_name(source_name: &str) -> String {
    let base = source_name.rsplit('/').next().unwrap_or(source_name);
    base.strip_suffix(".vtp").unwrap_or(base).to_owned()
}

pub(crate) fn effect(effect: grammar::Effect) -> engine::Effect {
    match effect {
        grammar::Effect::Allow => engine::Effect::Allow,
        grammar::Effect::Prompt => engine::Effect::Prompt,
        grammar::Effect::Deny => engine::Effect::Deny,
    }
}

pub(crate) fn request_kind(kind: Kind) -> engine::RequestKind {
    match kind {
        Kind::Read => engine::RequestKind::Read,
        Kind::Write => engine::RequestKind::Write,
        Kind::Exec => engine::RequestKind::Exec,
        Kind::Net => engine::RequestKind::Net,
        Kind::Tool => engine::RequestKind::Tool,
    }
}
