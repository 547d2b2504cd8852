//! The policy AST: what a `.vtp` file says, with spans, before any meaning is
//! given to variables, `extend` or stock names.

use std::sync::Arc;

use crate::source::{SourceFile, Span, Spanned};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Prompt,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Prompt => "prompt",
            Effect::Deny => "deny",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Read,
    Write,
    Exec,
    Net,
    Tool,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Read, Kind::Write, Kind::Exec, Kind::Net, Kind::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Exec => "exec",
            Kind::Net => "net",
            Kind::Tool => "tool",
        }
    }
}

/// A parsed `.vtp` file. Items keep source order; comments are kept apart so
/// the formatter can put them back.
#[derive(Debug, Clone)]
pub struct PolicyFile {
    pub source: Arc<SourceFile>,
    pub items: Vec<Item>,
    pub comments: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Version(Spanned<u32>),
    Policy(Spanned<String>),
    Default(Default),
    Extend(Spanned<String>),
    TrustedBin(Vec<Spanned<String>>, Span),
    /// Program catalogues, relative to the policy file.
    Programs(Vec<Spanned<String>>, Span),
    Limits(Vec<Limit>, Span),
    Env(Vec<Spanned<String>>, Span),
    Rule(Rule),
    Test(TestBlock),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Version(v) => v.span,
            Item::Policy(p) | Item::Extend(p) => p.span,
            Item::Default(d) => d.span,
            Item::TrustedBin(_, span) | Item::Programs(_, span) | Item::Limits(_, span) | Item::Env(_, span) => *span,
            Item::Rule(rule) => rule.span,
            Item::Test(test) => test.span,
        }
    }
}

/// What a `default` statement applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultScope {
    All,
    Kind(Kind),
    /// Shell constructs that cannot be analysed statically.
    Unanalysable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Default {
    pub scope: DefaultScope,
    pub effect: Effect,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub name: Spanned<String>,
    /// The quantity as written (`300s`, `4GiB`): units are checked later.
    pub value: Spanned<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub effect: Spanned<Effect>,
    pub kinds: Vec<Spanned<Kind>>,
    pub target: Target,
    pub id: Option<Spanned<String>>,
    pub because: Option<Spanned<String>>,
    /// `when sandboxed`: the rule applies only to calls that will run
    /// inside the kernel sandbox.
    pub sandboxed_only: Option<Span>,
    /// `when running ARGV`: a net rule that applies only to the
    /// connections of a run whose command matches the pattern.
    pub running: Option<Running>,
    pub span: Span,
}

/// The command pattern of `when running`, and where the modifier is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub argv: Vec<Spanned<ArgPattern>>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `exec` rules: the program followed by argument patterns.
    Argv(Vec<Spanned<ArgPattern>>),
    /// `read`/`write` path globs, `tool` name globs.
    Strings(Vec<Spanned<String>>),
    /// `net` host patterns with optional port ranges.
    Hosts { hosts: Vec<Spanned<String>>, ports: Vec<Spanned<PortRange>> },
    /// `net unix` path globs of pathname unix sockets.
    Sockets(Vec<Spanned<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgPattern {
    /// One token, bare or quoted: a glob when it contains `*` or `?`.
    Token(String),
    /// `[a | b]`: one token matching any of these token patterns.
    Alternatives(Vec<String>),
    /// `*`: exactly one token.
    Any,
    /// `..`: any number of tokens.
    Rest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub low: u16,
    pub high: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBlock {
    pub name: Option<Spanned<String>>,
    pub cases: Vec<TestCase>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub request: TestRequest,
    pub expect: Spanned<Effect>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestRequest {
    Exec(Vec<String>),
    Shell(String),
    Path(Kind, String),
    Net(String, u16),
    /// `net unix "PATH"`: a connection to a pathname unix socket.
    Unix(String),
    Tool(String),
}

impl PolicyFile {
    /// Zero every span, so two ASTs of differently formatted text compare equal.
    pub fn erase_spans(&mut self) {
        fn erase<T>(spanned: &mut Spanned<T>) {
            spanned.span = Span::default();
        }
        self.comments.clear();
        for item in &mut self.items {
            match item {
                Item::Version(v) => erase(v),
                Item::Policy(p) | Item::Extend(p) => erase(p),
                Item::Default(d) => d.span = Span::default(),
                Item::TrustedBin(list, span) | Item::Programs(list, span) | Item::Env(list, span) => {
                    list.iter_mut().for_each(erase);
                    *span = Span::default();
                }
                Item::Limits(limits, span) => {
                    for limit in limits {
                        erase(&mut limit.name);
                        erase(&mut limit.value);
                    }
                    *span = Span::default();
                }
                Item::Rule(rule) => {
                    erase(&mut rule.effect);
                    rule.kinds.iter_mut().for_each(erase);
                    match &mut rule.target {
                        Target::Argv(args) => args.iter_mut().for_each(erase),
                        Target::Strings(strings) | Target::Sockets(strings) => strings.iter_mut().for_each(erase),
                        Target::Hosts { hosts, ports } => {
                            hosts.iter_mut().for_each(erase);
                            ports.iter_mut().for_each(erase);
                        }
                    }
                    if let Some(id) = &mut rule.id {
                        erase(id);
                    }
                    if let Some(because) = &mut rule.because {
                        erase(because);
                    }
                    if let Some(span) = &mut rule.sandboxed_only {
                        *span = Span::default();
                    }
                    if let Some(running) = &mut rule.running {
                        running.argv.iter_mut().for_each(erase);
                        running.span = Span::default();
                    }
                    rule.span = Span::default();
                }
                Item::Test(test) => {
                    if let Some(name) = &mut test.name {
                        erase(name);
                    }
                    for case in &mut test.cases {
                        erase(&mut case.expect);
                        case.span = Span::default();
                    }
                    test.span = Span::default();
                }
            }
        }
    }
}
