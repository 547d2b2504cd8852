//! The macOS Seatbelt (SBPL) profile of a policy.
//!
//! `(deny default)`, then allows, then the denies that carve them: in SBPL
//! the last matching rule wins. Paths are never spliced into the profile:
//! each one is a `(param "NAME")` whose value `sandbox-exec` receives as
//! `-D NAME=value`. Globs become regular expressions built from escaped
//! literal segments. macOS resolves `/tmp`, `/var` and `/etc` to
//! `/private/...` before matching, so those paths are given in that form.

use std::fmt::Write as _;

use serde::Serialize;

use super::model::{Network, PathGlob, SandboxModel};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatbeltProfile {
    pub profile: String,
    /// `-D NAME=value` arguments, in order.
    pub params: Vec<(String, String)>,
    /// Rules or parts the profile cannot express.
    pub gaps: Vec<String>,
}

impl SeatbeltProfile {
    /// The `sandbox-exec` arguments that go with the profile.
    pub fn arguments(&self) -> Vec<String> {
        self.params.iter().map(|(name, value)| format!("-D{name}={value}")).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SeatbeltError(pub String);

/// Mach services a process needs for user lookups, and nothing that hands
/// out secrets (no keychain or security services).
const MACH_SERVICES: &[&str] =
    &["com.apple.system.opendirectoryd.libinfo", "com.apple.system.logger", "com.apple.system.notification_center"];

/// Device files every process may use.
const DEVICES_RW: &[&str] = &["/dev/null", "/dev/tty", "/dev/dtracehelper"];
const DEVICES_READ: &[&str] = &["/dev/zero", "/dev/urandom", "/dev/random"];

/// At most this many single ports are listed; a wider range allows every
/// port and says so.
const MAX_PORTS: u32 = 1024;

struct Builder {
    text: String,
    params: Vec<(String, String)>,
    gaps: Vec<String>,
}

impl Builder {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Registers `path` as parameter `PREFIX_n` and returns the reference.
    fn param(&mut self, prefix: &str, path: &str) -> Result<String, SeatbeltError> {
        check_text(path)?;
        let value = macos_path(path);
        let family = format!("{prefix}_");
        if let Some((name, _)) = self.params.iter().find(|(n, v)| n.starts_with(&family) && *v == value) {
            return Ok(format!("(param {})", quote(name)?));
        }
        let name = format!("{prefix}_{}", self.params.iter().filter(|(n, _)| n.starts_with(&family)).count());
        self.params.push((name.clone(), value));
        Ok(format!("(param {})", quote(&name)?))
    }

    /// The SBPL filter for `glob`: `subpath`/`literal` with a parameter, or
    /// a regular expression.
    fn filter(&mut self, prefix: &str, glob: &str) -> Result<String, SeatbeltError> {
        check_text(glob)?;
        if let Some(dir) = glob.strip_suffix("/**")
            && !has_wildcard(dir)
        {
            let dir = if dir.is_empty() { "/" } else { dir };
            return Ok(format!("(subpath {})", self.param(prefix, dir)?));
        }
        if !has_wildcard(glob) {
            return Ok(format!("(literal {})", self.param(prefix, glob)?));
        }
        if glob.contains(['[', '{']) {
            self.gaps.push(format!("`{glob}`: character classes and alternatives are matched literally"));
        }
        Ok(format!("(regex {})", quote(&glob_to_regex(&macos_path(glob)))?))
    }
}

/// Compiles the profile of `model`. `None` when the model does not enable
/// a sandbox.
pub fn compile(model: &SandboxModel) -> Result<Option<SeatbeltProfile>, SeatbeltError> {
    if !model.enabled {
        return Ok(None);
    }
    let mut b = Builder { text: String::new(), params: Vec::new(), gaps: Vec::new() };
    b.line("(version 1)");
    b.line("(deny default)");
    b.line("");
    b.line("; Processes: run and fork inside the sandbox, signal and inspect only it.");
    b.line("(allow process-exec process-fork)");
    b.line("(allow signal (target same-sandbox))");
    b.line("(allow process-info* (target same-sandbox))");
    b.line("(allow sysctl-read)");
    b.line("(allow pseudo-tty)");
    b.line("(allow ipc-posix-sem)");
    let services: Vec<String> =
        MACH_SERVICES.iter().map(|s| quote(s).map(|q| format!("(global-name {q})"))).collect::<Result<_, _>>()?;
    b.line(&format!("(allow mach-lookup {})", services.join(" ")));
    b.line("; realpath() and stat() of any path; contents stay governed below.");
    b.line("(allow file-read-metadata)");
    b.line("");

    b.line("; Devices every process needs.");
    let mut devices = Vec::new();
    for device in DEVICES_RW {
        devices.push(format!("(literal {})", quote(device)?));
    }
    b.line(&format!("(allow file-read* file-write-data file-ioctl {})", devices.join(" ")));
    let devices: Vec<String> =
        DEVICES_READ.iter().map(|d| quote(d).map(|q| format!("(literal {q})"))).collect::<Result<_, _>>()?;
    b.line(&format!("(allow file-read* {})", devices.join(" ")));
    b.line("");

    if model.layers.len() > 1 {
        b.gaps.push("several policies restrict the file system: SBPL has no layers, so the union of their grants is allowed and the engine enforces the intersection".to_owned());
    }
    let reads: Vec<&PathGlob> = model.layers.iter().flat_map(|l| l.read.iter().flatten()).collect();
    let read_restricted = model.layers.iter().any(|l| l.read.is_some());
    b.line("; Reads.");
    access(&mut b, "READ", "file-read*", read_restricted.then_some(&reads[..]))?;
    deny_after_allows(&mut b, "DENY_READ", &model.read_denies, &["file-read*", "file-write-unlink"])?;
    b.line("");

    let writes: Vec<&PathGlob> = model.layers.iter().flat_map(|l| l.write.iter().flatten()).collect();
    let write_restricted = model.layers.iter().any(|l| l.write.is_some());
    b.line("; Writes.");
    access(&mut b, "WRITE", "file-write*", write_restricted.then_some(&writes[..]))?;
    // Denied writes also cover creating the denied path itself, which a
    // `subpath` of its parent would otherwise allow.
    deny_after_allows(&mut b, "DENY_WRITE", &model.write_denies, &["file-write*"])?;
    b.line("(deny file-write-setugid)");
    b.line("");

    b.line("; Network.");
    match &model.network {
        Network::Open => b.line("(allow network*)"),
        Network::Off => b.line("; none: the policy allows no network"),
        Network::Tcp { connect, every_port, dns, host_rules } => {
            if *every_port {
                b.line("(allow network-outbound (remote tcp \"*:*\"))");
            } else {
                let ports: u32 = connect.iter().map(|&(lo, hi)| u32::from(hi) - u32::from(lo) + 1).sum();
                if ports > MAX_PORTS {
                    b.gaps
                        .push(format!("{ports} ports allowed: listed as every TCP port, the engine checks the ports"));
                    b.line("(allow network-outbound (remote tcp \"*:*\"))");
                } else {
                    for &(lo, hi) in connect {
                        for port in lo..=hi {
                            b.line(&format!("(allow network-outbound (remote tcp \"*:{port}\"))"));
                        }
                    }
                }
            }
            if *dns {
                b.line("(allow network-outbound (remote udp \"*:53\"))");
            }
            b.line("(allow network-outbound (remote unix-socket (literal \"/private/var/run/mDNSResponder\")))");
            if !host_rules.is_empty() {
                b.gaps.push(format!(
                    "rules {} allow hosts: Seatbelt filters by port only, so any host on those ports is reachable",
                    host_rules.join(", ")
                ));
            }
        }
    }
    if !model.read_denies.is_empty() || !model.write_denies.is_empty() {
        b.gaps.push(
            "on case-insensitive volumes (the APFS default) a literal or subpath deny does not cover other \
             spellings of its name; pattern denies match letters in either case"
                .to_owned(),
        );
    }
    if !model.path_prompts.is_empty() {
        b.gaps.push(
            "prompt rules on paths cannot ask inside the sandbox: the kernel leaves them to the engine".to_owned(),
        );
    }
    Ok(Some(SeatbeltProfile { profile: b.text, params: b.params, gaps: b.gaps }))
}

/// Allows `operation` on `grants` (everywhere when `None`: the policy does
/// not restrict it).
fn access(b: &mut Builder, prefix: &str, operation: &str, grants: Option<&[&PathGlob]>) -> Result<(), SeatbeltError> {
    let Some(grants) = grants else {
        b.line(&format!("(allow {operation})"));
        return Ok(());
    };
    for glob in grants {
        let filter = b.filter(prefix, &glob.glob)?;
        b.line(&format!("(allow {operation} {filter}) ; {}", comment(&glob.rule)));
    }
    Ok(())
}

/// The denies, after the allows they carve: the last matching rule wins.
fn deny_after_allows(
    b: &mut Builder,
    prefix: &str,
    denies: &[PathGlob],
    operations: &[&str],
) -> Result<(), SeatbeltError> {
    for glob in denies {
        let filter = b.filter(prefix, &glob.glob)?;
        b.line(&format!("(deny {} {filter}) ; {}", operations.join(" "), comment(&glob.rule)));
    }
    Ok(())
}

fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// A rule id made safe for a `;` comment (no line breaks).
fn comment(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Rejects text SBPL cannot carry safely.
fn check_text(text: &str) -> Result<(), SeatbeltError> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(SeatbeltError(format!(
            "{text:?} holds the control character {c:?}, which a Seatbelt profile cannot carry"
        )));
    }
    Ok(())
}

/// An SBPL string literal: backslash escaped before the quote.
pub fn quote(text: &str) -> Result<String, SeatbeltError> {
    check_text(text)?;
    Ok(format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// The path as macOS resolves it: `/tmp`, `/var` and `/etc` live under
/// `/private`.
pub fn macos_path(path: &str) -> String {
    for top in ["/tmp", "/var", "/etc"] {
        if path == top || path.strip_prefix(top).is_some_and(|rest| rest.starts_with('/')) {
            return format!("/private{path}");
        }
    }
    path.to_owned()
}

/// A path glob as an anchored regular expression in the subset Seatbelt
/// accepts: `**/` any directories, `**` anything, `*` within a segment,
/// `?` one character; every other character literal, letters in either
/// case (APFS is case-insensitive by default, so `.GIT/HOOKS` must not
/// slip past a `.git/hooks` deny).
pub fn glob_to_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut rest = glob;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("**/") {
            out.push_str("(.*/)?");
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix("/**")
            && after.is_empty()
        {
            out.push_str("(/.*)?");
            rest = after;
            continue;
        }
        if let Some(after) = rest.strip_prefix("**") {
            out.push_str(".*");
            rest = after;
            continue;
        }
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '.' | '+' | '(' | ')' | '{' | '}' | '|' | '^' | '$' => {
                let _ = write!(out, "[{c}]");
            }
            '[' | ']' | '\\' => {
                let _ = write!(out, "\\{c}");
            }
            c if c.is_ascii_alphabetic() => {
                let _ = write!(out, "[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase());
            }
            c => out.push(c),
        }
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    out.push('$');
    out
}
