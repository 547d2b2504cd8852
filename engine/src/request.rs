//! Normalised requests: what the engine judges.
//!
//! The runtime turns raw tool calls into these (paths resolved, programs
//! located, shell text split into simple commands); the engine takes them as
//! they are.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::policy::RequestKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Request {
    Exec(ExecRequest),
    Read {
        path: String,
    },
    Write {
        path: String,
    },
    Net {
        host: String,
        port: u16,
    },
    /// A connection or datagram to a pathname unix socket.
    Unix {
        path: String,
    },
    Tool {
        name: String,
    },
}

impl Request {
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Exec(_) => RequestKind::Exec,
            Request::Read { .. } => RequestKind::Read,
            Request::Write { .. } => RequestKind::Write,
            Request::Net { .. } | Request::Unix { .. } => RequestKind::Net,
            Request::Tool { .. } => RequestKind::Tool,
        }
    }

    /// A short human rendering, for traces.
    pub fn describe(&self) -> String {
        match self {
            Request::Exec(exec) => {
                let mut words = vec![exec.program.spelled.clone()];
                words.extend(exec.args.iter().map(|a| match a {
                    Arg::Known(text) => text.clone(),
                    Arg::Unknown => "<unknown>".to_owned(),
                }));
                if exec.open_tail {
                    words.push("<unknown>...".to_owned());
                }
                format!("exec {}", words.join(" "))
            }
            Request::Read { path } => format!("read {path}"),
            Request::Write { path } => format!("write {path}"),
            Request::Net { host, port } => format!("net {host}:{port}"),
            Request::Unix { path } => format!("net unix {path}"),
            Request::Tool { name } => format!("tool {name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    pub program: Program,
    pub args: Vec<Arg>,
    /// The command receives further arguments not known statically
    /// (`xargs cmd`): zero or more unknown tokens follow `args`.
    #[serde(default)]
    pub open_tail: bool,
    /// Short options and the long options they stand for, as the
    /// program's model (and subcommand) gives them: `-r` and
    /// `--recursive` are one option to `rm`, so a deny or prompt rule
    /// naming either catches both spellings.
    #[serde(default, skip_serializing_if = "no_long_forms")]
    pub long_forms: Arc<[LongForm]>,
    /// Options the command behaves as if given, by its model (`git
    /// restore FILE` restores the worktree as `--worktree` would): deny
    /// and prompt rules that name them match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub implied_options: Vec<String>,
}

fn no_long_forms(forms: &Arc<[LongForm]>) -> bool {
    forms.is_empty()
}

/// `-r` is `--recursive`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongForm {
    pub short: char,
    pub long: String,
}

/// The program of an exec request, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// `argv[0]` as written.
    pub spelled: String,
    /// Every basename the program goes by: the spelled one first, then the
    /// one it resolves to. Deny and prompt rules match any of them.
    pub names: Vec<String>,
    /// The absolute path it resolves to, if it was found.
    pub path: Option<String>,
    /// Whether it resolves into a trusted bin directory. Only then can an
    /// allow rule match it.
    pub trusted: bool,
}

impl Program {
    /// A program known only by name, resolved as trusted: for tests and
    /// benchmarks, where no file system is consulted.
    pub fn trusted_name(name: &str) -> Program {
        Program { spelled: name.to_owned(), names: vec![name.to_owned()], path: None, trusted: true }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arg {
    Known(String),
    /// A word whose value is only known at run time (`$VAR`, `{}` of
    /// `find -exec`). Deny and prompt rules treat it as matching anything;
    /// allow rules only as matching `*` or `..`.
    Unknown,
}

/// One judged piece of a tool call: shell text yields one per simple
/// command and redirection, and one per construct it cannot analyse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "part", rename_all = "lowercase")]
pub enum Part {
    Request {
        /// The source text this part came from.
        label: String,
        request: Request,
    },
    Unanalysable {
        label: String,
        reason: String,
    },
}

impl Part {
    pub fn label(&self) -> &str {
        match self {
            Part::Request { label, .. } | Part::Unanalysable { label, .. } => label,
        }
    }
}
