//! The rule model the engine evaluates: policies as data, already resolved.
//!
//! The compiler produces these from policy text: variables are expanded,
//! paths are absolute, `extend` is flattened. Nothing here refers to text
//! positions; a rule's `id` is the key of the compiler's side table that maps
//! it back to its source.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The three effects, ordered from the most to the least permissive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    Read,
    Write,
    Exec,
    Net,
    Tool,
}

impl RequestKind {
    pub const ALL: [RequestKind; 5] =
        [RequestKind::Read, RequestKind::Write, RequestKind::Exec, RequestKind::Net, RequestKind::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Read => "read",
            RequestKind::Write => "write",
            RequestKind::Exec => "exec",
            RequestKind::Net => "net",
            RequestKind::Tool => "tool",
        }
    }
}

/// One policy: rules plus the defaults that apply when none matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    pub rules: Vec<Rule>,
    pub defaults: Defaults,
}

impl Policy {
    /// The policy as it judges calls that will not run sandboxed: its
    /// `when sandboxed` rules match nothing (they keep their place, so
    /// rule indices stay valid).
    pub fn unsandboxed(&self) -> Policy {
        let mut policy = self.clone();
        for rule in policy.rules.iter_mut().filter(|r| r.sandboxed_only) {
            rule.matchers.clear();
        }
        policy
    }

    /// Whether a rule names hosts (`net`, not `net unix`): then a sandboxed
    /// run reaches the network through the egress proxy only.
    pub fn has_net_rules(&self) -> bool {
        self.rules.iter().any(|rule| rule.matchers.iter().any(|m| matches!(m, Matcher::Net { .. })))
    }

    /// The policy for the connections of a run: each `when running` rule
    /// whose pattern `runs` says the run's command matches applies like
    /// any rule; the others still match nothing.
    pub fn while_running(&self, runs: impl Fn(&ArgvPattern) -> bool) -> Policy {
        let mut policy = self.clone();
        for rule in &mut policy.rules {
            if rule.running.as_ref().is_some_and(&runs) {
                rule.running = None;
            }
        }
        policy
    }
}

/// Per-kind defaults. A kind without a default makes the policy abstain on
/// requests of that kind that no rule matches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Defaults {
    pub read: Option<Effect>,
    pub write: Option<Effect>,
    pub exec: Option<Effect>,
    pub net: Option<Effect>,
    pub tool: Option<Effect>,
    /// The effect of a shell construct that cannot be analysed. Whatever is
    /// set here, such a construct is never allowed: the floor is `prompt`.
    pub unanalysable: Option<Effect>,
}

impl Defaults {
    pub fn get(&self, kind: RequestKind) -> Option<Effect> {
        match kind {
            RequestKind::Read => self.read,
            RequestKind::Write => self.write,
            RequestKind::Exec => self.exec,
            RequestKind::Net => self.net,
            RequestKind::Tool => self.tool,
        }
    }

    pub fn set(&mut self, kind: RequestKind, effect: Effect) {
        let slot = match kind {
            RequestKind::Read => &mut self.read,
            RequestKind::Write => &mut self.write,
            RequestKind::Exec => &mut self.exec,
            RequestKind::Net => &mut self.net,
            RequestKind::Tool => &mut self.tool,
        };
        *slot = Some(effect);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The rule's id: given in the policy, or derived from its position.
    /// Shared: every decision the rule takes part in names it.
    pub id: Arc<str>,
    pub effect: Effect,
    pub because: Option<Arc<str>>,
    /// The rule matches a request when any of its matchers does.
    pub matchers: Vec<Matcher>,
    /// `when sandboxed`: the rule applies only to calls that will run
    /// inside the kernel sandbox (the judge leaves it out of the others).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sandboxed_only: bool,
    /// `when running ARGV`: the rule matches nothing until the runtime
    /// finds the command of a run matches the pattern and lifts it
    /// ([`Policy::while_running`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ArgvPattern>,
}

impl Rule {
    pub fn applies_to(&self, kind: RequestKind) -> bool {
        self.matchers.iter().any(|m| m.applies_to(kind))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Matcher {
    Exec {
        pattern: ArgvPattern,
    },
    Path {
        read: bool,
        write: bool,
        /// An absolute glob: `*` within a segment, `**` across segments. A
        /// pattern ending in `/**` also matches the directory itself.
        glob: String,
    },
    Net {
        host: String,
        /// Inclusive port ranges; empty means every port.
        ports: Vec<(u16, u16)>,
    },
    /// A pathname unix socket: an absolute path glob, as for `Path`.
    Socket {
        glob: String,
    },
    Tool {
        glob: String,
    },
}

impl Matcher {
    pub fn applies_to(&self, kind: RequestKind) -> bool {
        match self {
            Matcher::Exec { .. } => kind == RequestKind::Exec,
            Matcher::Path { read, write, .. } => {
                (*read && kind == RequestKind::Read) || (*write && kind == RequestKind::Write)
            }
            Matcher::Net { .. } | Matcher::Socket { .. } => kind == RequestKind::Net,
            Matcher::Tool { .. } => kind == RequestKind::Tool,
        }
    }
}

/// A program pattern followed by argument patterns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ArgvPattern {
    /// Position 0 is the program, the rest are its arguments.
    pub tokens: Vec<TokenPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenPattern {
    /// One token matching any of these.
    OneOf(Vec<Atom>),
    /// Exactly one token.
    Any,
    /// Any number of tokens, none included.
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Atom {
    Literal(String),
    /// A single-token glob: `*` and `?` match any characters, `/` included.
    Glob(String),
}

impl ArgvPattern {
    /// The program names the pattern is limited to, when its program
    /// position is literal; `None` for a wildcard or glob program.
    pub fn program_literals(&self) -> Option<Vec<&str>> {
        program_literals(&self.tokens)
    }
}

/// The literal names the first of `tokens` takes; `None` when it is a
/// wildcard or holds a glob.
pub(crate) fn program_literals(tokens: &[TokenPattern]) -> Option<Vec<&str>> {
    match tokens.first()? {
        TokenPattern::OneOf(atoms) => atoms
            .iter()
            .map(|atom| match atom {
                Atom::Literal(literal) => Some(literal.as_str()),
                Atom::Glob(_) => None,
            })
            .collect(),
        TokenPattern::Any | TokenPattern::Rest => None,
    }
}

impl Atom {
    /// A literal, or a glob when `text` holds `*` or `?`.
    pub fn from_text(text: &str) -> Atom {
        if text.contains(['*', '?']) { Atom::Glob(text.to_owned()) } else { Atom::Literal(text.to_owned()) }
    }

    pub fn text(&self) -> &str {
        match self {
            Atom::Literal(text) | Atom::Glob(text) => text,
        }
    }
}
