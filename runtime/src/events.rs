//! Exec events: one JSON object per line, versioned, for SIEM ingestion.
//! `schemas/events.schema.json` is their contract (`vtpolicy schema events`).

use serde::Serialize;
use serde_json::Value;

pub const EVENTS_VERSION: &str = "vtpolicy.events/1";

/// One event. `run` ties the events of one tool call together.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub schema: &'static str,
    pub run: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    /// The judgement of the tool call.
    Decision {
        /// The call as given: argv or shell text.
        command: Vec<String>,
        /// The normalised parts, one line each.
        parts: Vec<String>,
        effect: String,
        rules: Vec<String>,
        reasons: Vec<String>,
        default_applied: bool,
    },
    /// Who answered a `prompt`, and how.
    Approval {
        /// `once`, `session`, `denied`.
        answer: String,
        /// `terminal`, `flag` (`--yes`), `store` (an earlier `a`), `none`
        /// (no terminal).
        by: String,
    },
    /// The sandboxed child started.
    Spawn {
        pid: u32,
        /// The layers actually enforced.
        layers: Vec<String>,
        landlock_abi: u8,
        landlock_rules: usize,
        seccomp_instructions: usize,
        /// What this kernel could not enforce.
        partial: Vec<String>,
        /// How the process count is limited: `pid_max` (of the run's PID
        /// namespace), `pids_cgroup`, `rlimit`, `none`.
        process_limit: String,
        uid: u32,
    },
    /// A connection or datagram to a pathname unix socket, judged by the
    /// socket supervisor: `path` as the command sees it.
    Socket {
        path: String,
        allowed: bool,
    },
    /// A connection the command asked the egress proxy for.
    Connection {
        host: String,
        port: u16,
        /// `connect`, `http` or `socks5`.
        protocol: String,
        /// What the policies decided.
        effect: String,
        /// Whether the connection was made.
        allowed: bool,
        rules: Vec<String>,
        /// The address connected to.
        address: Option<String>,
        /// Why it was refused.
        refused: Option<String>,
    },
    /// A run whose vtpolicy was killed, finished by a later one.
    Recovered {
        crashed_run: String,
        actions: Vec<String>,
    },
    Exit {
        /// `exited` with the code, `signaled` with the signal, or
        /// `timed_out`.
        status: crate::sandbox::Status,
        exit_code: i32,
        duration_ms: u64,
        max_rss_kib: i64,
    },
    Error {
        message: String,
        exit_code: i32,
    },
    /// `serve` reloaded its policies after their files changed, or kept
    /// the old ones because the new ones do not load.
    Reload {
        policies: Vec<String>,
        loaded: bool,
        message: Option<String>,
    },
}

impl Event {
    pub fn new(run: &str, body: EventBody) -> Event {
        let time_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Event { schema: EVENTS_VERSION, run: run.to_owned(), time_ms, body }
    }

    /// The event as one line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| {
            format!(
                "{{\"schema\":\"{EVENTS_VERSION}\",\"event\":\"error\",\"message\":\"cannot serialise an event: {e}\"}}"
            )
        })
    }
}

/// Validates one event line against the schema; errors name a JSON pointer.
pub fn validate_event(line: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    crate::schemas::validate(crate::schemas::EVENTS, &value)
}
