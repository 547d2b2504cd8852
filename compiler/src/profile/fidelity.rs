//! The fidelity report: for every rule, which layers enforce it and where
//! each one falls short, evaluated against the Landlock ABI of the kernel
//! it will run on. Nothing the kernel cannot do is left unsaid.

use serde::Serialize;
use vtpolicy_engine::{Effect, Matcher};

use super::landlock::{LandlockRuleset, WriteDenies};
use super::model::{Network, SandboxModel};
use super::seatbelt::SeatbeltProfile;
use super::seccomp::SeccompProgram;
use crate::CompiledPolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Engine,
    Landlock,
    Seccomp,
    Seatbelt,
    Proxy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    Full,
    Partial,
    None,
}

/// What one layer does for one rule. A rule may have several entries per
/// layer, one per kind of gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerCoverage {
    pub layer: Layer,
    pub coverage: Coverage,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gap: String,
    /// The patterns or paths the gap is about.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patterns: Vec<String>,
    /// True when the entry depends on this machine's file system.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub machine_specific: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleFidelity {
    pub policy: String,
    pub rule: String,
    pub effect: Effect,
    pub layers: Vec<LayerCoverage>,
}

/// A limit of the kernel this report was made for, not tied to one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelGap {
    pub layer: Layer,
    pub gap: String,
    /// True when `run` refuses to start because of it.
    pub fatal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FidelityReport {
    /// The Landlock ABI the report was evaluated against (0: none).
    pub landlock_abi: u8,
    pub sandboxed: bool,
    pub rules: Vec<RuleFidelity>,
    pub kernel: Vec<KernelGap>,
}

pub struct Artifacts<'a> {
    pub model: &'a SandboxModel,
    pub landlock: Option<&'a LandlockRuleset>,
    pub seccomp: Option<&'a SeccompProgram>,
    pub seatbelt: Option<&'a SeatbeltProfile>,
    /// How `run` enforces host rules where the report is made.
    pub proxy: EgressProxy,
}

/// How `vtpolicy run` enforces host rules on a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressProxy {
    /// The command has a network namespace of its own, whose one way out
    /// is the egress proxy.
    Namespace,
    /// The proxy listens on the host's loopback and Landlock limits TCP
    /// connects to its port.
    HostPort,
    /// No proxy: host rules are the decision's alone.
    Unavailable,
}

pub fn report(policies: &[&CompiledPolicy], artifacts: &Artifacts<'_>, landlock_abi: u8) -> FidelityReport {
    let model = artifacts.model;
    let mut rules = Vec::new();
    for compiled in policies {
        for rule in &compiled.policy.rules {
            let mut layers = vec![cover(Layer::Engine, Coverage::Full, "")];
            if model.enabled {
                layers.extend(kernel_coverage(rule, artifacts, landlock_abi));
            }
            rules.push(RuleFidelity {
                policy: compiled.policy.name.clone(),
                rule: rule.id.to_string(),
                effect: rule.effect,
                layers,
            });
        }
    }
    FidelityReport { landlock_abi, sandboxed: model.enabled, rules, kernel: kernel_gaps(artifacts, landlock_abi) }
}

fn cover(layer: Layer, coverage: Coverage, gap: impl Into<String>) -> LayerCoverage {
    LayerCoverage { layer, coverage, gap: gap.into(), patterns: Vec::new(), machine_specific: false }
}

fn kernel_coverage(rule: &vtpolicy_engine::Rule, artifacts: &Artifacts<'_>, abi: u8) -> Vec<LayerCoverage> {
    let mut out = Vec::new();
    let kinds: Vec<&Matcher> = rule.matchers.iter().collect();
    match kinds.first() {
        // Argv rules are the engine's by nature; the report says so once.
        Some(Matcher::Exec { .. }) => {}
        Some(Matcher::Tool { .. }) => {}
        Some(Matcher::Socket { .. }) => out.push(cover(
            Layer::Seccomp,
            Coverage::Full,
            format!(
                "held in `run` by seccomp user notification (Landlock ABI {abi}; its unix socket rules, from ABI 9, are not used); a prompt cannot be asked mid-run, so only allow rules let a connection through"
            ),
        )),
        Some(Matcher::Net { .. }) => out.extend(net_coverage(rule, artifacts, abi)),
        Some(Matcher::Path { .. }) => out.extend(path_coverage(rule, artifacts, abi)),
        None => {}
    }
    out
}

fn net_coverage(rule: &vtpolicy_engine::Rule, artifacts: &Artifacts<'_>, abi: u8) -> Vec<LayerCoverage> {
    let hosts: Vec<&str> = rule
        .matchers
        .iter()
        .filter_map(|m| match m {
            Matcher::Net { host, .. } => Some(host.as_str()),
            _ => None,
        })
        .collect();
    let any_host = hosts.contains(&"*");
    let proxy = match artifacts.proxy {
        EgressProxy::Namespace => cover(Layer::Proxy, Coverage::Full, ""),
        EgressProxy::HostPort => cover(
            Layer::Proxy,
            Coverage::Partial,
            "the egress proxy checks hosts, but with no network namespace here Landlock limits connects to the proxy's port by number only: that port on another address is reachable directly",
        ),
        EgressProxy::Unavailable => cover(
            Layer::Proxy,
            Coverage::None,
            "host names are checked by the egress proxy, which `run` cannot start here (it needs a network namespace, or Landlock ABI 4 for its port)",
        ),
    };
    match rule.effect {
        Effect::Allow => {
            let mut out = Vec::new();
            let landlock_gap = if abi < 4 {
                format!("Landlock ABI {abi} has no network rules (needs 4): TCP is not restricted by port")
            } else {
                "Landlock restricts TCP connect ports, not hosts: any host on these ports is reachable".to_owned()
            };
            let landlock_cov = if any_host && abi >= 4 { Coverage::Full } else { Coverage::Partial };
            out.push(cover(
                Layer::Landlock,
                landlock_cov,
                if landlock_cov == Coverage::Full { String::new() } else { landlock_gap },
            ));
            if let Some(seccomp) = artifacts.seccomp {
                let gap = if seccomp.tcp_only {
                    "only TCP sockets (and UDP when port 53 is allowed) can be created; UDP, raw, MPTCP and netlink are refused"
                } else {
                    ""
                };
                out.push(cover(Layer::Seccomp, Coverage::Partial, gap));
            }
            out.push(cover(
                Layer::Seatbelt,
                if any_host { Coverage::Full } else { Coverage::Partial },
                if any_host { "" } else { "Seatbelt filters by port here, not by host" },
            ));
            if !any_host {
                out.push(proxy);
            }
            out
        }
        _ => {
            let covered_by_off = matches!(artifacts.model.network, Network::Off);
            if covered_by_off {
                vec![cover(Layer::Seccomp, Coverage::Full, ""), cover(Layer::Seatbelt, Coverage::Full, "")]
            } else {
                vec![
                    cover(
                        Layer::Landlock,
                        Coverage::None,
                        "Landlock cannot tell hosts apart; a connection on an allowed port reaches this host",
                    ),
                    cover(Layer::Seatbelt, Coverage::None, "the profile does not resolve host names"),
                    proxy,
                ]
            }
        }
    }
}

fn path_coverage(rule: &vtpolicy_engine::Rule, artifacts: &Artifacts<'_>, abi: u8) -> Vec<LayerCoverage> {
    let mut out = Vec::new();
    let paths = |list: &[super::landlock::Note]| -> Vec<String> {
        let mut found: Vec<String> = list.iter().filter(|n| *n.rule == *rule.id).map(|n| n.path.clone()).collect();
        found.dedup();
        found
    };
    let writes = rule.matchers.iter().any(|m| matches!(m, Matcher::Path { write: true, .. }));
    match (rule.effect, artifacts.landlock) {
        (_, None) => out.push(cover(Layer::Landlock, Coverage::None, "no Landlock ruleset")),
        (Effect::Prompt, Some(_)) => out.push(cover(
            Layer::Landlock,
            Coverage::None,
            "the kernel cannot ask: inside the sandbox the path follows the grants, only explicit requests prompt",
        )),
        (effect, Some(ruleset)) => {
            let engine_only = paths(&ruleset.engine_only);
            if !engine_only.is_empty() {
                let gap = if effect == Effect::Allow {
                    "Landlock grants whole trees or single files: these patterns are not granted (narrower than the policy)"
                } else {
                    "these match at any depth: the kernel sandbox covers them only where they exist in the workspace and \
                     tmp when it starts; elsewhere the engine alone enforces them"
                };
                out.push(LayerCoverage { patterns: engine_only, ..cover(Layer::Landlock, Coverage::Partial, gap) });
            }
            let missing = paths(&ruleset.missing);
            if !missing.is_empty() {
                let gap = if effect == Effect::Allow {
                    "absent on this machine: nothing is granted"
                } else {
                    "absent on this machine: the directory that would hold it accepts no new entries"
                };
                out.push(LayerCoverage {
                    patterns: missing,
                    machine_specific: true,
                    ..cover(Layer::Landlock, Coverage::Full, gap)
                });
            }
            if effect == Effect::Deny {
                let carved = paths(&ruleset.carved);
                if !carved.is_empty() {
                    out.push(LayerCoverage {
                        patterns: carved,
                        machine_specific: true,
                        ..cover(
                            Layer::Landlock,
                            Coverage::Full,
                            "carved out of granted trees by granting their siblings",
                        )
                    });
                }
                let metadata = if writes {
                    "chmod, chown, utimes and extended attributes are not covered by Landlock"
                } else {
                    "stat and readlink are not covered by Landlock: existence and metadata stay visible"
                };
                out.push(cover(Layer::Landlock, Coverage::Full, metadata));
                if writes && abi < 3 {
                    out.push(cover(
                        Layer::Landlock,
                        Coverage::Partial,
                        format!("Landlock ABI {abi} cannot stop truncation (needs 3)"),
                    ));
                }
            }
            if !out.iter().any(|c| c.layer == Layer::Landlock) {
                out.push(cover(Layer::Landlock, Coverage::Full, ""));
            }
        }
    }
    if artifacts.seatbelt.is_some() {
        out.push(cover(Layer::Seatbelt, Coverage::Full, ""));
    }
    out
}

fn kernel_gaps(artifacts: &Artifacts<'_>, abi: u8) -> Vec<KernelGap> {
    let mut out = Vec::new();
    if artifacts.model.enabled {
        out.push(KernelGap {
            layer: Layer::Engine,
            gap: "exec rules judge the tool call's own command line once; the programs it starts are held by the \
                  file, network and syscall layers, not by argv patterns"
                .into(),
            fatal: false,
        });
    }
    let Some(ruleset) = artifacts.landlock else {
        if artifacts.model.enabled {
            out.push(KernelGap { layer: Layer::Landlock, gap: "no Landlock ruleset".into(), fatal: false });
        }
        return out;
    };
    for note in &ruleset.widened {
        out.push(KernelGap { layer: Layer::Landlock, gap: format!("`{}` {}", note.path, note.why), fatal: false });
    }
    if abi < ruleset.minimum_abi {
        out.push(KernelGap {
            layer: Layer::Landlock,
            gap: format!(
                "this kernel has Landlock ABI {abi}; the policy needs {} ({}): `run` refuses to start",
                ruleset.minimum_abi,
                if ruleset.minimum_abi >= 4 { "network ports" } else { "truncation of read-only files" }
            ),
            fatal: true,
        });
    }
    if abi < 6 {
        out.push(KernelGap {
            layer: Layer::Landlock,
            gap: format!("Landlock ABI {abi} cannot scope signals and abstract unix sockets (needs 6): the sandbox can signal and connect to outside processes"),
            fatal: false,
        });
    }
    if abi < 5 {
        out.push(KernelGap {
            layer: Layer::Landlock,
            gap: format!("Landlock ABI {abi} does not restrict device ioctls (needs 5)"),
            fatal: false,
        });
    }
    out.push(KernelGap {
        layer: Layer::Landlock,
        gap: format!(
            "pathname unix sockets are not restricted by Landlock here (its unix socket rules need ABI 9; this \
             kernel: {abi}); `run` holds them with seccomp user notification instead: connections and datagrams \
             to sockets outside the workspace and the private tmp that no `net unix` rule allows are refused \
             (EACCES), abstract addresses too (EPERM)"
        ),
        fatal: false,
    });
    match ruleset.write_denies {
        WriteDenies::Carve => out.push(KernelGap {
            layer: Layer::Landlock,
            gap: "directories that hold a write-denied path (carved directories) accept no new entries: creating, \
                  renaming or removing files directly in them fails"
                .into(),
            fatal: false,
        }),
        WriteDenies::Mounts => {
            out.push(KernelGap {
                layer: Layer::Landlock,
                gap: "write-denied paths absent when the run starts can be created during it; `run` moves them into \
                      its quarantine when the run ends and exits 126"
                    .into(),
                fatal: false,
            });
            out.push(KernelGap {
                layer: Layer::Landlock,
                gap: "read-denied files are covered by /dev/null (reads succeed, empty) and directories by an empty \
                      unreadable tmpfs; their names stay visible"
                    .into(),
                fatal: false,
            });
        }
    }
    if let Some(seccomp) = artifacts.seccomp
        && seccomp.tcp_only
        && !matches!(artifacts.model.network, Network::Tcp { dns: true, .. })
    {
        out.push(KernelGap {
            layer: Layer::Seccomp,
            gap: "UDP is refused, so DNS over UDP fails: allow port 53 or resolve through a proxy".into(),
            fatal: false,
        });
    }
    out
}
