//! What the kernel layers are asked to enforce, read off the policies: the
//! filesystem grants and denies, the network stance and the limits. Every
//! backend compiles from this one model, so they cannot disagree about what
//! the policy says.

use serde::Serialize;
use vtpolicy_engine::{Effect, Matcher, RequestKind};

use crate::{CompiledPolicy, Context, Limits};

/// A path glob and the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathGlob {
    pub glob: String,
    pub rule: String,
}

/// The filesystem grants of one policy that restricts reads or writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FsLayer {
    pub policy: String,
    /// `None`: this policy does not restrict reads (its default allows them).
    pub read: Option<Vec<PathGlob>>,
    pub write: Option<Vec<PathGlob>>,
}

/// How far the policies let a sandboxed process reach the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Network {
    /// The default allows the network: no socket restriction beyond the
    /// families nothing legitimate needs.
    Open,
    /// TCP only, to the ports of the allow rules (every port when one of
    /// them names none). `dns` when an allow rule covers port 53, which
    /// needs UDP.
    Tcp {
        connect: Vec<(u16, u16)>,
        every_port: bool,
        dns: bool,
        /// The allow rules whose hosts the kernel cannot check.
        host_rules: Vec<String>,
    },
    /// No allow rule for the network and a default that does not allow it.
    Off,
}

/// Everything the kernel backends compile from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SandboxModel {
    /// False when every policy allows reads, writes and the network by
    /// default: there is nothing for a kernel layer to restrict.
    pub enabled: bool,
    pub layers: Vec<FsLayer>,
    /// Deny rules of every policy: a deny anywhere is a deny overall.
    pub read_denies: Vec<PathGlob>,
    pub write_denies: Vec<PathGlob>,
    /// Prompt rules on paths. The kernel cannot ask, so they stay granted
    /// and only the engine enforces them.
    pub path_prompts: Vec<PathGlob>,
    pub network: Network,
    pub limits: Limits,
    /// Where unanchored deny globs (`**/.env`) are carved: the trees the
    /// agent's own files live in (workspace and tmp).
    pub agent_roots: Vec<String>,
    pub home: String,
}

impl SandboxModel {
    /// Reads the model off `policies` compiled for `context`.
    pub fn new(policies: &[&CompiledPolicy], context: &Context) -> SandboxModel {
        let restricts =
            |policy: &CompiledPolicy, kind: RequestKind| policy.policy.defaults.get(kind) != Some(Effect::Allow);
        let mut layers = Vec::new();
        let mut read_denies = Vec::new();
        let mut write_denies = Vec::new();
        let mut path_prompts = Vec::new();
        for compiled in policies {
            let mut read = Vec::new();
            let mut write = Vec::new();
            for rule in &compiled.policy.rules {
                for matcher in &rule.matchers {
                    let Matcher::Path { read: r, write: w, glob } = matcher else { continue };
                    let entry = PathGlob { glob: glob.clone(), rule: rule.id.to_string() };
                    match rule.effect {
                        Effect::Allow => {
                            if *r {
                                read.push(entry.clone());
                            }
                            if *w {
                                write.push(entry);
                            }
                        }
                        Effect::Deny => {
                            if *r {
                                read_denies.push(entry.clone());
                            }
                            if *w {
                                write_denies.push(entry);
                            }
                        }
                        Effect::Prompt => path_prompts.push(entry),
                    }
                }
            }
            let read = restricts(compiled, RequestKind::Read).then_some(read);
            let write = restricts(compiled, RequestKind::Write).then_some(write);
            if read.is_some() || write.is_some() {
                layers.push(FsLayer { policy: compiled.policy.name.clone(), read, write });
            }
        }
        let network = network(policies);
        let enabled =
            !layers.is_empty() || !read_denies.is_empty() || !write_denies.is_empty() || network != Network::Open;
        let mut limits = Limits::default();
        for compiled in policies {
            limits = strictest_limits(&limits, &compiled.settings.limits);
        }
        let mut agent_roots = vec![context.workspace.clone()];
        if !context.tmp.is_empty() {
            agent_roots.push(context.tmp.clone());
        }
        SandboxModel {
            enabled,
            layers,
            read_denies,
            write_denies,
            path_prompts,
            network,
            limits,
            agent_roots,
            home: context.home.clone(),
        }
    }

    /// True when some layer restricts writes.
    pub fn restricts_writes(&self) -> bool {
        self.layers.iter().any(|l| l.write.is_some()) || !self.write_denies.is_empty()
    }

    pub fn restricts_reads(&self) -> bool {
        self.layers.iter().any(|l| l.read.is_some()) || !self.read_denies.is_empty()
    }
}

/// The strictest network stance of `policies`. A deny rule on a host does
/// not change it: the kernel cannot tell hosts apart, so host denies are
/// the engine's and the proxy's.
fn network(policies: &[&CompiledPolicy]) -> Network {
    let mut result = Network::Open;
    for compiled in policies {
        if compiled.policy.defaults.get(RequestKind::Net) == Some(Effect::Allow) {
            continue;
        }
        let mut connect = Vec::new();
        let mut every_port = false;
        let mut host_rules: Vec<String> = Vec::new();
        for rule in &compiled.policy.rules {
            if rule.effect != Effect::Allow {
                continue;
            }
            for matcher in &rule.matchers {
                let Matcher::Net { host, ports } = matcher else { continue };
                if ports.is_empty() {
                    every_port = true;
                } else {
                    connect.extend(ports.iter().copied());
                }
                if host != "*" && !host_rules.iter().any(|id| **id == *rule.id) {
                    host_rules.push(rule.id.to_string());
                }
            }
        }
        let this = if connect.is_empty() && !every_port {
            Network::Off
        } else {
            let dns = every_port || connect.iter().any(|&(lo, hi)| lo <= 53 && 53 <= hi);
            Network::Tcp { connect: merge_ranges(connect), every_port, dns, host_rules }
        };
        result = stricter_network(result, this);
    }
    result
}

fn stricter_network(a: Network, b: Network) -> Network {
    match (a, b) {
        (Network::Off, _) | (_, Network::Off) => Network::Off,
        (Network::Open, other) | (other, Network::Open) => other,
        (
            Network::Tcp { connect: ca, every_port: ea, dns: da, host_rules: mut ha },
            Network::Tcp { connect: cb, every_port: eb, dns: db, host_rules: hb },
        ) => {
            let (connect, every_port) = match (ea, eb) {
                (true, true) => (Vec::new(), true),
                (true, false) => (cb, false),
                (false, true) => (ca, false),
                (false, false) => (intersect_ranges(&ca, &cb), false),
            };
            ha.extend(hb);
            if connect.is_empty() && !every_port {
                Network::Off
            } else {
                Network::Tcp { connect, every_port, dns: da && db, host_rules: ha }
            }
        }
    }
}

pub(crate) fn merge_ranges(mut ranges: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

fn intersect_ranges(a: &[(u16, u16)], b: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    for &(alo, ahi) in a {
        for &(blo, bhi) in b {
            let (lo, hi) = (alo.max(blo), ahi.min(bhi));
            if lo <= hi {
                out.push((lo, hi));
            }
        }
    }
    merge_ranges(out)
}

fn strictest_limits(a: &Limits, b: &Limits) -> Limits {
    let min = |x: Option<u64>, y: Option<u64>| match (x, y) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    Limits {
        cpu_seconds: min(a.cpu_seconds, b.cpu_seconds),
        memory_bytes: min(a.memory_bytes, b.memory_bytes),
        processes: min(a.processes, b.processes),
        file_size_bytes: min(a.file_size_bytes, b.file_size_bytes),
        open_files: min(a.open_files, b.open_files),
        wall_milliseconds: min(a.wall_milliseconds, b.wall_milliseconds),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_intersect() {
        assert_eq!(merge_ranges(vec![(443, 443), (80, 80), (81, 90), (85, 100)]), vec![(80, 100), (443, 443)]);
        assert_eq!(intersect_ranges(&[(80, 100), (443, 443)], &[(90, 443)]), vec![(90, 100), (443, 443)]);
    }
}
