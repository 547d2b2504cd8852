//! `vtpolicy compile`.

use vtpolicy::compiler::profile::bpf;
use vtpolicy::compiler::profile::fidelity::{Coverage, FidelityReport, Layer};
use vtpolicy::compiler::profile::seccomp::{Arch, syscall_name};
use vtpolicy::runtime::sandbox::KernelProfiles;

use crate::Exit;
use crate::args::{ArtifactFormat, CompileArgs, Target};
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &CompileArgs) -> Exit {
    let style = Style::detect();
    let format = args.format.unwrap_or(match args.target {
        Target::Graph | Target::Landlock => ArtifactFormat::Json,
        Target::Seccomp => ArtifactFormat::Disasm,
        Target::Sbpl => ArtifactFormat::Text,
        Target::Report => ArtifactFormat::Human,
        Target::Json => ArtifactFormat::Json,
        Target::Rego | Target::CodexRules => ArtifactFormat::Text,
        Target::ClaudeSettings => ArtifactFormat::Json,
    });
    let allowed: &[ArtifactFormat] = match args.target {
        Target::Graph => &[ArtifactFormat::Json, ArtifactFormat::Dot],
        Target::Landlock => &[ArtifactFormat::Json],
        Target::Seccomp => &[ArtifactFormat::Disasm, ArtifactFormat::Bin, ArtifactFormat::Json],
        Target::Sbpl => &[ArtifactFormat::Text, ArtifactFormat::Json],
        Target::Report => &[ArtifactFormat::Human, ArtifactFormat::Json],
        Target::Json => &[ArtifactFormat::Json],
        Target::Rego | Target::CodexRules => &[ArtifactFormat::Text],
        Target::ClaudeSettings => &[ArtifactFormat::Json],
    };
    if !allowed.contains(&format) {
        eprintln!("error: `--format {}` does not apply to `--target {}`", name(format), target_name(args.target));
        return Exit::Error;
    }
    let environment = match policies::environment(args.policy.workspace.as_deref(), None) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    if args.target == Target::Json {
        return policy_data(&args.policy.policies, args.output.as_deref());
    }
    if matches!(args.target, Target::ClaudeSettings | Target::CodexRules) {
        return native_rules(args, &environment, style);
    }
    let bytes = if matches!(args.target, Target::Graph | Target::Rego) {
        let Some(judge) =
            policies::judge(&args.policy.policies, environment, vtpolicy::runtime::Layering::Enforce, style)
        else {
            return Exit::Error;
        };
        match (args.target, format) {
            (Target::Rego, _) => match vtpolicy::compiler::rego::export(judge.engine().policies()) {
                Ok(module) => module.into_bytes(),
                Err(error) => {
                    eprintln!("error: cannot export to Rego: {error}");
                    return Exit::Error;
                }
            },
            (_, ArtifactFormat::Dot) => judge.engine().graph().to_dot().into_bytes(),
            _ => match json(judge.engine().graph()) {
                Ok(text) => text,
                Err(exit) => return exit,
            },
        }
    } else {
        policies::note_rego_without_kernel_profile(&args.policy.policies, style);
        let Some(loaded) = policies::load(&args.policy.policies, &environment, vtpolicy::Layering::Enforce, style)
        else {
            return Exit::Error;
        };
        let refs: Vec<_> = loaded.compiled().iter().collect();
        let profiles = match KernelProfiles::compile(&refs, &environment.context()) {
            Ok(profiles) => profiles,
            Err(message) => {
                eprintln!("error: {message}");
                return Exit::Error;
            }
        };
        match kernel_artifact(args.target, format, &profiles, &refs) {
            Ok(bytes) => bytes,
            Err(exit) => return exit,
        }
    };
    write_output(&bytes, args.output.as_deref())
}

fn kernel_artifact(
    target: Target,
    format: ArtifactFormat,
    profiles: &KernelProfiles,
    policies: &[&vtpolicy::compiler::CompiledPolicy],
) -> Result<Vec<u8>, Exit> {
    let none = |what: &str| {
        eprintln!("note: the policy enables no kernel sandbox, so there is no {what}");
        Ok(Vec::new())
    };
    match target {
        Target::Landlock => match &profiles.landlock {
            Some(ruleset) => json(ruleset),
            None => none("Landlock ruleset"),
        },
        Target::Seccomp => {
            let Some(program) = &profiles.seccomp else { return none("seccomp program") };
            match format {
                ArtifactFormat::Bin => Ok(program.to_bytes()),
                ArtifactFormat::Json => json(program),
                _ => {
                    let arch = Arch::host();
                    let name = |nr: u32| arch.and_then(|arch| syscall_name(arch, i64::from(nr)));
                    let mut text = format!(
                        "; seccomp program for {}: {} instructions\n",
                        program.arch,
                        program.instructions.len()
                    );
                    for denial in &program.denials {
                        text.push_str(&format!(
                            "; {} when {} -> {}: {}\n",
                            denial.syscall, denial.when, denial.errno, denial.why
                        ));
                    }
                    text.push_str(&bpf::disassemble(&program.instructions, &name));
                    Ok(text.into_bytes())
                }
            }
        }
        Target::Sbpl => {
            let Some(profile) = &profiles.seatbelt else { return none("Seatbelt profile") };
            if format == ArtifactFormat::Json {
                return json(profile);
            }
            let mut text = String::from(";; sandbox-exec");
            for argument in profile.arguments() {
                text.push_str(&format!(" {}", shell_quote(&argument)));
            }
            text.push_str(" -f PROFILE -- COMMAND\n");
            for gap in &profile.gaps {
                text.push_str(&format!(";; gap: {gap}\n"));
            }
            text.push_str(&profile.profile);
            Ok(text.into_bytes())
        }
        Target::Report if policies.is_empty() => {
            eprintln!(
                "note: no `.vtp` policy was given: Rego policies add nothing to the kernel profile, so there is none"
            );
            Ok(Vec::new())
        }
        Target::Report => {
            let report = profiles.report(policies);
            if format == ArtifactFormat::Json { json(&report) } else { Ok(render_report(&report).into_bytes()) }
        }
        Target::Graph | Target::Json | Target::Rego | Target::ClaudeSettings | Target::CodexRules => Ok(Vec::new()),
    }
}

/// `--target claude-settings` and `codex-rules`: the agents' own rules
/// for what they can express; the rest is listed on standard error.
fn native_rules(args: &CompileArgs, environment: &vtpolicy::Environment, style: Style) -> Exit {
    let Some(loaded) = policies::load(&args.policy.policies, environment, vtpolicy::Layering::Enforce, style) else {
        return Exit::Error;
    };
    if loaded.has_rego() {
        eprintln!("note: Rego policies are not translated");
    }
    let engine_policies: Vec<&vtpolicy::engine::Policy> = loaded.compiled().iter().map(|c| &c.policy).collect();
    let (bytes, untranslated) = if args.target == Target::ClaudeSettings {
        let (permissions, untranslated) =
            vtpolicy::compiler::export::claude_settings(&engine_policies, &environment.context());
        match json(&serde_json::json!({ "permissions": permissions })) {
            Ok(bytes) => (bytes, untranslated),
            Err(exit) => return exit,
        }
    } else {
        let (text, untranslated) = vtpolicy::compiler::export::codex_rules(&engine_policies);
        (text.into_bytes(), untranslated)
    };
    for line in &untranslated {
        eprintln!("not translated: {line}");
    }
    write_output(&bytes, args.output.as_deref())
}

/// `--target json`: the one policy file given, as data.
fn policy_data(policies: &[String], output: Option<&std::path::Path>) -> Exit {
    let [spec] = policies else {
        eprintln!("error: `--target json` takes exactly one `--policy`");
        return Exit::Error;
    };
    let source = match vtpolicy::runtime::policy_source(spec) {
        Ok(source) => source,
        Err(diagnostic) => {
            eprintln!("{}", diagnostic.render());
            return Exit::Error;
        }
    };
    let (file, diagnostics) = vtpolicy::grammar::parse(&source);
    if !diagnostics.is_empty() {
        policies::print_diagnostics(&diagnostics, Style::detect());
        return Exit::Error;
    }
    let bytes = match json(&vtpolicy::grammar::data::to_data(&file)) {
        Ok(bytes) => bytes,
        Err(exit) => return exit,
    };
    write_output(&bytes, output)
}

/// The artifact to `-o FILE`, else standard output.
fn write_output(bytes: &[u8], output: Option<&std::path::Path>) -> Exit {
    match output {
        Some(path) => {
            if let Err(error) = std::fs::write(path, bytes) {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                return Exit::Error;
            }
        }
        None => crate::output::out_bytes(bytes),
    }
    Exit::Ok
}

pub(crate) fn render_report(report: &FidelityReport) -> String {
    let mut out = String::new();
    if !report.sandboxed {
        out.push_str("no kernel sandbox: the policies allow reads, writes and the network by default; the engine alone enforces every rule\n");
        return out;
    }
    out.push_str(&format!("kernel: Landlock ABI {}\n", report.landlock_abi));
    for gap in &report.kernel {
        out.push_str(&format!(
            "  {} {}: {}\n",
            if gap.fatal { "error" } else { "gap" },
            layer_name(gap.layer),
            gap.gap
        ));
    }
    for rule in &report.rules {
        // One mark per layer: its weakest coverage.
        let mut layers: Vec<(Layer, Coverage)> = Vec::new();
        for entry in &rule.layers {
            match layers.iter_mut().find(|(layer, _)| *layer == entry.layer) {
                Some((_, coverage)) => *coverage = weaker(*coverage, entry.coverage),
                None => layers.push((entry.layer, entry.coverage)),
            }
        }
        let marks: Vec<String> = layers
            .iter()
            .map(|(layer, coverage)| {
                let mark = match coverage {
                    Coverage::Full => "",
                    Coverage::Partial => " (partial)",
                    Coverage::None => " (no)",
                };
                format!("{}{mark}", layer_name(*layer))
            })
            .collect();
        out.push_str(&format!("{} {} `{}`: {}\n", rule.policy, rule.effect.as_str(), rule.rule, marks.join(", ")));
        for entry in rule.layers.iter().filter(|l| !l.gap.is_empty()) {
            out.push_str(&format!("    {}: {}", layer_name(entry.layer), entry.gap));
            if !entry.patterns.is_empty() {
                let shown: Vec<&str> = entry.patterns.iter().take(6).map(String::as_str).collect();
                out.push_str(&format!(" [{}", shown.join(", ")));
                if entry.patterns.len() > shown.len() {
                    out.push_str(&format!(" and {} more", entry.patterns.len() - shown.len()));
                }
                out.push(']');
            }
            out.push('\n');
        }
    }
    out
}

fn weaker(a: Coverage, b: Coverage) -> Coverage {
    match (a, b) {
        (Coverage::None, _) | (_, Coverage::None) => Coverage::None,
        (Coverage::Partial, _) | (_, Coverage::Partial) => Coverage::Partial,
        _ => Coverage::Full,
    }
}

fn layer_name(layer: Layer) -> &'static str {
    match layer {
        Layer::Engine => "engine",
        Layer::Landlock => "landlock",
        Layer::Seccomp => "seccomp",
        Layer::Seatbelt => "seatbelt",
        Layer::Proxy => "proxy",
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Exit> {
    match serde_json::to_string_pretty(value) {
        Ok(text) => Ok((text + "\n").into_bytes()),
        Err(error) => {
            eprintln!("error: cannot serialise: {error}");
            Err(Exit::Error)
        }
    }
}

/// Quotes an argument for a POSIX shell when it needs it.
fn shell_quote(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "-_=/.,:@%+".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn name(format: ArtifactFormat) -> &'static str {
    match format {
        ArtifactFormat::Json => "json",
        ArtifactFormat::Dot => "dot",
        ArtifactFormat::Bin => "bin",
        ArtifactFormat::Disasm => "disasm",
        ArtifactFormat::Text => "text",
        ArtifactFormat::Human => "human",
    }
}

fn target_name(target: Target) -> &'static str {
    match target {
        Target::Graph => "graph",
        Target::Landlock => "landlock",
        Target::Seccomp => "seccomp",
        Target::Sbpl => "sbpl",
        Target::Report => "report",
        Target::Json => "json",
        Target::Rego => "rego",
        Target::ClaudeSettings => "claude-settings",
        Target::CodexRules => "codex-rules",
    }
}
