//! Policy as data: a `.vtp` file as documented JSON
//! (`vtpolicy compile --target json`, `schemas/policy.schema.json`), and
//! back. Items keep their order; comments and source positions are not
//! part of the data. `from_data(to_data(ast))` is the AST again.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::ast::{
    ArgPattern, Default, DefaultScope, Effect, Item, Kind, Limit, PolicyFile, PortRange, Rule, Running, Target,
    TestBlock, TestCase, TestRequest,
};
use crate::source::{SourceFile, Span, Spanned};

/// The `format` of policy JSON.
pub const POLICY_DATA_FORMAT: &str = "vtpolicy.policy/1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyData {
    pub format: String,
    pub items: Vec<ItemData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ItemData {
    Version(u32),
    Policy(String),
    Default { scope: String, effect: Effect },
    Extend(String),
    TrustedBin(Vec<String>),
    Programs(Vec<String>),
    Limits(Vec<LimitData>),
    EnvKeep(Vec<String>),
    Rule(RuleData),
    Test(TestData),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitData {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleData {
    pub effect: Effect,
    pub kinds: Vec<Kind>,
    /// Exactly one of `argv`, `patterns`, `hosts` and `sockets`, by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<ArgData>>,
    /// Path globs (`read`, `write`) or tool name globs (`tool`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patterns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
    /// Path globs of pathname unix sockets (`net unix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<Vec<String>>,
    /// Inclusive `[low, high]` ranges; empty means every port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<(u16, u16)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub because: Option<String>,
    /// `when sandboxed`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandboxed_only: bool,
    /// `when running ARGV`: the command pattern, as `argv` is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Vec<ArgData>>,
}

/// One argv position: `{"token": "git"}`, `{"one_of": ["-f", "--force"]}`,
/// `"any"` (`*`) or `"rest"` (`..`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ArgData {
    Token(String),
    OneOf(Vec<String>),
    Any,
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub cases: Vec<TestCaseData>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCaseData {
    pub request: TestRequestData,
    pub expect: Effect,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TestRequestData {
    Exec(Vec<String>),
    Shell(String),
    Read(String),
    Write(String),
    Net { host: String, port: u16 },
    Unix(String),
    Tool(String),
}

fn bare<T>(node: T) -> Spanned<T> {
    Spanned { node, span: Span::default() }
}

/// The data form of `file`.
pub fn to_data(file: &PolicyFile) -> PolicyData {
    let items = file.items.iter().map(item_data).collect();
    PolicyData { format: POLICY_DATA_FORMAT.to_owned(), items }
}

fn strings(list: &[Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.node.clone()).collect()
}

fn item_data(item: &Item) -> ItemData {
    match item {
        Item::Version(v) => ItemData::Version(v.node),
        Item::Policy(p) => ItemData::Policy(p.node.clone()),
        Item::Default(d) => ItemData::Default {
            scope: match d.scope {
                DefaultScope::All => "all".to_owned(),
                DefaultScope::Kind(kind) => kind.as_str().to_owned(),
                DefaultScope::Unanalysable => "unanalysable".to_owned(),
            },
            effect: d.effect,
        },
        Item::Extend(e) => ItemData::Extend(e.node.clone()),
        Item::TrustedBin(list, _) => ItemData::TrustedBin(strings(list)),
        Item::Programs(list, _) => ItemData::Programs(strings(list)),
        Item::Limits(limits, _) => ItemData::Limits(
            limits.iter().map(|l| LimitData { name: l.name.node.clone(), value: l.value.node.clone() }).collect(),
        ),
        Item::Env(list, _) => ItemData::EnvKeep(strings(list)),
        Item::Rule(rule) => ItemData::Rule(rule_data(rule)),
        Item::Test(test) => ItemData::Test(TestData {
            name: test.name.as_ref().map(|n| n.node.clone()),
            cases: test
                .cases
                .iter()
                .map(|case| TestCaseData {
                    request: match &case.request {
                        TestRequest::Exec(argv) => TestRequestData::Exec(argv.clone()),
                        TestRequest::Shell(text) => TestRequestData::Shell(text.clone()),
                        TestRequest::Path(Kind::Write, path) => TestRequestData::Write(path.clone()),
                        TestRequest::Path(_, path) => TestRequestData::Read(path.clone()),
                        TestRequest::Net(host, port) => TestRequestData::Net { host: host.clone(), port: *port },
                        TestRequest::Unix(path) => TestRequestData::Unix(path.clone()),
                        TestRequest::Tool(name) => TestRequestData::Tool(name.clone()),
                    },
                    expect: case.expect.node,
                })
                .collect(),
        }),
    }
}

fn rule_data(rule: &Rule) -> RuleData {
    let mut data = RuleData {
        effect: rule.effect.node,
        kinds: rule.kinds.iter().map(|k| k.node).collect(),
        argv: None,
        patterns: None,
        hosts: None,
        sockets: None,
        ports: Vec::new(),
        id: rule.id.as_ref().map(|i| i.node.clone()),
        because: rule.because.as_ref().map(|b| b.node.clone()),
        sandboxed_only: rule.sandboxed_only.is_some(),
        running: rule.running.as_ref().map(|running| argv_data(&running.argv)),
    };
    match &rule.target {
        Target::Argv(args) => data.argv = Some(argv_data(args)),
        Target::Strings(list) => data.patterns = Some(strings(list)),
        Target::Sockets(list) => data.sockets = Some(strings(list)),
        Target::Hosts { hosts, ports } => {
            data.hosts = Some(strings(hosts));
            data.ports = ports.iter().map(|p| (p.node.low, p.node.high)).collect();
        }
    }
    data
}

/// The AST of `data`, as if parsed from `source` (every span empty).
/// Errors name the offending item by JSON pointer.
pub fn from_data(data: &PolicyData, source: Arc<SourceFile>) -> Result<PolicyFile, String> {
    if data.format != POLICY_DATA_FORMAT {
        return Err(format!("/format: expected `{POLICY_DATA_FORMAT}`, found `{}`", data.format));
    }
    let mut items = Vec::with_capacity(data.items.len());
    for (index, item) in data.items.iter().enumerate() {
        items.push(item_ast(item).map_err(|e| format!("/items/{index}{e}"))?);
    }
    Ok(PolicyFile { source, items, comments: Vec::new() })
}

fn list(strings: &[String]) -> Vec<Spanned<String>> {
    strings.iter().cloned().map(bare).collect()
}

fn item_ast(item: &ItemData) -> Result<Item, String> {
    Ok(match item {
        ItemData::Version(v) => Item::Version(bare(*v)),
        ItemData::Policy(p) => Item::Policy(bare(p.clone())),
        ItemData::Default { scope, effect } => {
            let scope = match scope.as_str() {
                "all" => DefaultScope::All,
                "unanalysable" => DefaultScope::Unanalysable,
                other => DefaultScope::Kind(
                    Kind::ALL
                        .into_iter()
                        .find(|k| k.as_str() == other)
                        .ok_or_else(|| format!("/default/scope: unknown scope `{other}`"))?,
                ),
            };
            Item::Default(Default { scope, effect: *effect, span: Span::default() })
        }
        ItemData::Extend(e) => Item::Extend(bare(e.clone())),
        ItemData::TrustedBin(dirs) => Item::TrustedBin(list(dirs), Span::default()),
        ItemData::Programs(files) => Item::Programs(list(files), Span::default()),
        ItemData::Limits(limits) => Item::Limits(
            limits.iter().map(|l| Limit { name: bare(l.name.clone()), value: bare(l.value.clone()) }).collect(),
            Span::default(),
        ),
        ItemData::EnvKeep(names) => Item::Env(list(names), Span::default()),
        ItemData::Rule(rule) => Item::Rule(rule_ast(rule)?),
        ItemData::Test(test) => Item::Test(TestBlock {
            name: test.name.clone().map(bare),
            cases: test
                .cases
                .iter()
                .map(|case| TestCase {
                    request: match &case.request {
                        TestRequestData::Exec(argv) => TestRequest::Exec(argv.clone()),
                        TestRequestData::Shell(text) => TestRequest::Shell(text.clone()),
                        TestRequestData::Read(path) => TestRequest::Path(Kind::Read, path.clone()),
                        TestRequestData::Write(path) => TestRequest::Path(Kind::Write, path.clone()),
                        TestRequestData::Net { host, port } => TestRequest::Net(host.clone(), *port),
                        TestRequestData::Unix(path) => TestRequest::Unix(path.clone()),
                        TestRequestData::Tool(name) => TestRequest::Tool(name.clone()),
                    },
                    expect: bare(case.expect),
                    span: Span::default(),
                })
                .collect(),
            span: Span::default(),
        }),
    })
}

fn argv_data(args: &[Spanned<ArgPattern>]) -> Vec<ArgData> {
    args.iter()
        .map(|a| match &a.node {
            ArgPattern::Token(t) => ArgData::Token(t.clone()),
            ArgPattern::Alternatives(list) => ArgData::OneOf(list.clone()),
            ArgPattern::Any => ArgData::Any,
            ArgPattern::Rest => ArgData::Rest,
        })
        .collect()
}

fn argv_ast(args: &[ArgData]) -> Vec<Spanned<ArgPattern>> {
    args.iter()
        .map(|a| {
            bare(match a {
                ArgData::Token(t) => ArgPattern::Token(t.clone()),
                ArgData::OneOf(list) => ArgPattern::Alternatives(list.clone()),
                ArgData::Any => ArgPattern::Any,
                ArgData::Rest => ArgPattern::Rest,
            })
        })
        .collect()
}

fn rule_ast(rule: &RuleData) -> Result<Rule, String> {
    let target = match (&rule.argv, &rule.patterns, &rule.hosts, &rule.sockets) {
        (None, None, None, Some(sockets)) if rule.ports.is_empty() => Target::Sockets(list(sockets)),
        (Some(argv), None, None, None) if rule.ports.is_empty() => Target::Argv(argv_ast(argv)),
        (None, Some(patterns), None, None) if rule.ports.is_empty() => Target::Strings(list(patterns)),
        (None, None, Some(hosts), None) => Target::Hosts {
            hosts: list(hosts),
            ports: rule.ports.iter().map(|&(low, high)| bare(PortRange { low, high })).collect(),
        },
        _ => {
            return Err(
                "/rule: a rule takes exactly one of `argv`, `patterns`, `hosts` and `sockets` (`ports` only with `hosts`)"
                    .into(),
            );
        }
    };
    if rule.kinds.is_empty() {
        return Err("/rule/kinds: a rule names at least one kind".into());
    }
    // The target the text form would have parsed for these kinds.
    let fits = |kind: &Kind| match &target {
        Target::Argv(_) => *kind == Kind::Exec,
        Target::Hosts { .. } | Target::Sockets(_) => *kind == Kind::Net,
        Target::Strings(_) => matches!(kind, Kind::Read | Kind::Write | Kind::Tool),
    };
    if let Some(index) = rule.kinds.iter().position(|k| !fits(k)) {
        return Err(format!(
            "/rule/kinds/{index}: exec rules take `argv`, net rules `hosts` or `sockets`, read, write and tool rules `patterns`"
        ));
    }
    Ok(Rule {
        effect: bare(rule.effect),
        kinds: rule.kinds.iter().map(|k| bare(*k)).collect(),
        target,
        id: rule.id.clone().map(bare),
        because: rule.because.clone().map(bare),
        sandboxed_only: rule.sandboxed_only.then(Span::default),
        running: rule.running.as_ref().map(|argv| Running { argv: argv_ast(argv), span: Span::default() }),
        span: Span::default(),
    })
}
