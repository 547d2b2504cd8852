//! The conformance corpus driver.
//!
//! Each file under `cases/<area>/` names policies (stock names or inline
//! text), a file-system fixture, and cases: a request, the expected
//! decision and, optionally, the deciding rule ids. The driver builds the
//! fixture in a fresh temporary directory (a workspace, a home, a trusted
//! bin directory with stand-in programs, planted programs and symlinks),
//! judges every case through the public runtime API, and checks that the
//! decision graph and the reference interpreter agree on every part.
//!
//! ```toml
//! policy = "workspace-write"            # or a list, or `policy_text`
//! [fixture]
//! planted = ["ws/git"]                  # executables outside trusted dirs
//! symlinks = { "ws/etc" = "/etc" }
//! files = ["ws/src/main.rs"]
//! [[case]]
//! name = "planted git"
//! request = { kind = "exec", argv = ["./git", "status"] }
//! expect = "prompt"
//! rules = []
//! ```
//!
//! `${root}`, `${workspace}` and `${home}` in requests and inline policies
//! stand for the fixture's directories.

pub mod accuracy;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use vtpolicy_engine::reference;
use vtpolicy_runtime::cases::{Case, PolicyList, check_case};
use vtpolicy_runtime::sandbox::KernelProfiles;
use vtpolicy_runtime::{Environment, Judge, Layering, ProgramLookup, load_policy};

/// Stand-in programs every fixture has in its trusted bin directory.
const TRUSTED_PROGRAMS: &[&str] = &[
    "git",
    "cargo",
    "rm",
    "ls",
    "cat",
    "find",
    "env",
    "nice",
    "timeout",
    "nohup",
    "xargs",
    "bash",
    "sh",
    "zsh",
    "dash",
    "sudo",
    "su",
    "doas",
    "curl",
    "wget",
    "dd",
    "mkfs.ext4",
    "npm",
    "pip",
    "python3",
    "make",
    "echo",
    "grep",
    "chmod",
    "stdbuf",
    "time",
    "busybox",
    "tee",
    "cp",
    "mv",
    "head",
    "tail",
    "wc",
    "sort",
    "rg",
    "mkdir",
    "touch",
    "sed",
    "awk",
    "ssh",
    "scp",
    "shutdown",
    "python",
    "node",
    "perl",
    "base64",
    "tar",
    "true",
    "false",
    "ln",
    "dd",
    "command",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[allow(dead_code)]
    description: Option<String>,
    policy: Option<PolicyList>,
    policy_text: Option<PolicyList>,
    #[serde(default)]
    fixture: Fixture,
    #[serde(rename = "case")]
    cases: Vec<Case>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    /// Executables created at these paths (relative to the fixture root),
    /// outside the trusted bin directory.
    #[serde(default)]
    planted: Vec<String>,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    dirs: Vec<String>,
    /// Link path (relative to the root) → target (as written).
    #[serde(default)]
    symlinks: BTreeMap<String, String>,
    /// Stand-in programs added to the trusted bin directory, beside
    /// [`TRUSTED_PROGRAMS`].
    #[serde(default)]
    programs: Vec<String>,
    /// The directory requests run in, relative to the root [default: `ws`].
    cwd: Option<String>,
}

/// A fixture on disk.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Sandbox {
    fn new(fixture: &Fixture) -> Result<Sandbox, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let root = std::fs::canonicalize(dir.path()).map_err(|e| e.to_string())?;
        for sub in ["ws", "home", "bin", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
        }
        for program in TRUSTED_PROGRAMS.iter().copied().chain(fixture.programs.iter().map(String::as_str)) {
            executable(&root.join("bin").join(program))?;
        }
        for path in &fixture.planted {
            executable(&root.join(path))?;
        }
        for dir in &fixture.dirs {
            std::fs::create_dir_all(root.join(dir)).map_err(|e| e.to_string())?;
        }
        for file in &fixture.files {
            let path = root.join(file);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            std::fs::write(&path, "").map_err(|e| e.to_string())?;
        }
        for (link, target) in &fixture.symlinks {
            let path = root.join(link);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            let target = target.replace("${root}", &root.to_string_lossy());
            std::os::unix::fs::symlink(&target, &path).map_err(|e| format!("symlink {link}: {e}"))?;
        }
        Ok(Sandbox { _dir: dir, root })
    }

    /// The judging environment of the fixture: its workspace, home and
    /// tmp, programs looked up in its bin directory, unsandboxed.
    fn environment(&self, fixture: &Fixture) -> Environment {
        let root = &self.root;
        Environment {
            workspace: root.join("ws"),
            cwd: root.join(fixture.cwd.as_deref().unwrap_or("ws")),
            home: root.join("home").to_string_lossy().into_owned(),
            tmp: root.join("tmp"),
            lookup: ProgramLookup::Search(vec![root.join("bin")]),
            mounts: Vec::new(),
            sandboxed: false,
        }
    }

    /// Compiles stock policies by name and inline policy texts, each with
    /// the fixture's bin directory trusted instead of the machine's.
    fn compile(
        &self,
        environment: &Environment,
        stock: &[String],
        texts: &[String],
    ) -> Result<Vec<vtpolicy_compiler::CompiledPolicy>, Vec<String>> {
        let trusted = format!("\ntrusted_bin \"{}/bin\"\n", self.root.display());
        let mut sources = Vec::new();
        for name in stock {
            sources.push(format!("version 1\npolicy \"{name}\"\nextend \"{name}\"{trusted}"));
        }
        for text in texts {
            let text = self.substitute(text);
            sources.push(if text.contains("trusted_bin") { text } else { text + &trusted });
        }
        let mut compiled = Vec::new();
        for (index, text) in sources.iter().enumerate() {
            let policy_path = self.root.join(format!("policy-{index}.vtp"));
            std::fs::write(&policy_path, text).map_err(|e| vec![e.to_string()])?;
            let (policy, diagnostics) =
                load_policy(&policy_path.to_string_lossy(), &environment.context(), Layering::AsWritten);
            let errors: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(|d| d.one_line()).collect();
            match policy {
                Some(policy) if errors.is_empty() => compiled.push(policy),
                _ => return Err(errors),
            }
        }
        Ok(compiled)
    }

    fn substitute(&self, text: &str) -> String {
        let root = self.root.to_string_lossy();
        text.replace("${root}", &root)
            .replace("${workspace}", &format!("{root}/ws"))
            .replace("${home}", &format!("{root}/home"))
    }

    fn substitute_value(&self, value: &Value) -> Value {
        match value {
            Value::String(text) => Value::String(self.substitute(text)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.substitute_value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), self.substitute_value(v))).collect())
            }
            other => other.clone(),
        }
    }
}

fn executable(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(path, "#!/bin/sh\n").map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
}

/// The number of cases in a file, for the corpus-size check.
pub fn count_cases(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| toml::from_str::<CaseFile>(&text).ok())
        .map_or(0, |file| file.cases.len())
}

/// Every kernel target compiles for the file's policies, against its
/// fixture: a sandboxing policy gets all three artifacts, each usable.
fn kernel_profiles(compiled: &[vtpolicy_compiler::CompiledPolicy], environment: &Environment) -> Vec<String> {
    use vtpolicy_compiler::profile::bpf::{self, SeccompData, Verdict};
    use vtpolicy_compiler::profile::seccomp::{Arch, syscall_number};

    let refs: Vec<&vtpolicy_compiler::CompiledPolicy> = compiled.iter().collect();
    let profiles = match KernelProfiles::compile(&refs, &environment.context()) {
        Ok(profiles) => profiles,
        Err(message) => return vec![format!("kernel profiles: {message}")],
    };
    let mut failures = Vec::new();
    if !profiles.model.enabled {
        if profiles.landlock.is_some() || profiles.seccomp.is_some() || profiles.seatbelt.is_some() {
            failures.push("a policy without a sandbox got kernel artifacts".to_owned());
        }
        return failures;
    }
    match &profiles.landlock {
        Some(ruleset) if ruleset.layers.iter().all(|l| !l.handled_fs.is_empty() || l.connect_tcp.is_some()) => {}
        other => failures.push(format!("landlock ruleset missing or empty: {other:?}")),
    }
    match (&profiles.seccomp, Arch::host()) {
        (Some(program), Some(arch)) => {
            let ptrace = syscall_number(arch, "ptrace").and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
            let data = SeccompData { nr: ptrace, arch: arch.audit(), instruction_pointer: 0, args: [0; 6] };
            if bpf::run(&program.instructions, &data) != Ok(Verdict::Errno(1)) {
                failures.push("the seccomp program does not refuse ptrace".to_owned());
            }
        }
        _ => failures.push("no seccomp program".to_owned()),
    }
    if profiles.seatbelt.as_ref().is_none_or(|p| !p.profile.starts_with("(version 1)\n(deny default)")) {
        failures.push("no Seatbelt profile".to_owned());
    }
    failures
}

/// Runs every case of one file; panics with every failure listed.
#[expect(clippy::panic, reason = "a test driver reports failures by panicking")]
pub fn run_file(path: &Path) {
    if let Err(failures) = try_run_file(path) {
        panic!("{}:\n  {}", path.display(), failures.join("\n  "));
    }
}

fn try_run_file(path: &Path) -> Result<(), Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![e.to_string()])?;
    let file: CaseFile = toml::from_str(&text).map_err(|e| vec![e.to_string()])?;
    let sandbox = Sandbox::new(&file.fixture).map_err(|e| vec![e])?;
    let environment = sandbox.environment(&file.fixture);
    let stock = file.policy.map(|p| p.names()).unwrap_or_default();
    let texts = file.policy_text.map(|p| p.names()).unwrap_or_default();
    let compiled = sandbox.compile(&environment, &stock, &texts)?;
    let mut failures = kernel_profiles(&compiled, &environment);
    let judge = Judge::new(compiled, environment).map_err(|e| vec![e.to_string()])?;
    for (index, case) in file.cases.iter().enumerate() {
        let mut case = case.clone();
        case.request = sandbox.substitute_value(&case.request);
        let name = case.name.clone().unwrap_or_else(|| format!("case {}", index + 1));
        let outcome = check_case(&judge, &case);
        if let Some(failure) = outcome.failure {
            failures.push(format!("{name}: {failure}"));
        }
        // Every implementation of the semantics must agree.
        for part in outcome.judgement.iter().flat_map(|j| &j.decision.parts) {
            if let Some(request) = &part.request {
                let from_graph = judge.engine().decide(request);
                let from_reference = reference::decide(judge.engine().policies(), request);
                if from_graph != from_reference {
                    failures.push(format!(
                        "{name}: graph and reference disagree on {}: {from_graph:?} vs {from_reference:?}",
                        request.describe()
                    ));
                }
            }
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures) }
}
