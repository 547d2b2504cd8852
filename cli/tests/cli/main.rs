//! The `vtpolicy` binary end to end: exit codes, standard output and
//! standard error together.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};

use std::io::Write as _;

mod diff;
mod hook;
mod serve;

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<std::process::Output> for Output {
    fn from(output: std::process::Output) -> Output {
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Output {
    /// Exit code, stdout and stderr, with `dir` replaced by `[DIR]`.
    fn snapshot(&self, dir: &Path) -> String {
        let filter = |text: &str| text.replace(&dir.display().to_string(), "[DIR]");
        format!("exit: {}\n--- stdout\n{}--- stderr\n{}", self.code, filter(&self.stdout), filter(&self.stderr))
    }
}

fn vtpolicy(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vtpolicy"));
    command
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("HOME", dir.parent().unwrap_or(dir).join("home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("vtpolicy starts");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("vtpolicy ends");
    Output::from(output)
}

/// A temporary `ws` (the working directory) beside a `home`.
fn workdir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::create_dir_all(root.join("home")).expect("home");
    std::fs::create_dir_all(root.join("ws")).expect("ws");
    (dir, root.join("ws"))
}

fn repo_path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative).display().to_string()
}

#[test]
fn check_stock_policies_passes_with_no_warning() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["check", "read-only", "workspace-write", "danger-full-access"], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 0);
}

/// `check` for CI: SARIF 2.1.0 with one result per diagnostic, GitHub
/// annotations, and `--deny-warnings`.
#[test]
fn check_speaks_sarif_and_github_annotations() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("p.vtp"),
        "version 1\ndeny exec git push ..\ndeny exec git push --force ..\nallow net \"*\"\n",
    )
    .expect("policy");
    let json = vtpolicy(&dir, &["check", "--format", "json", "p.vtp"], None);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let diagnostics = report["files"][0]["diagnostics"].as_array().expect("diagnostics").clone();
    assert!(!diagnostics.is_empty());
    let out = vtpolicy(&dir, &["check", "--format", "sarif", "p.vtp"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sarif: serde_json::Value = serde_json::from_str(&out.stdout).expect("sarif is json");
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "vtpolicy");
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), diagnostics.len());
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    for (result, diagnostic) in results.iter().zip(&diagnostics) {
        assert_eq!(result["ruleId"], diagnostic["code"]);
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[index]["id"], diagnostic["code"]);
        if diagnostic["file"].as_str().is_some_and(|f| !f.starts_with('<')) {
            let region = &result["locations"][0]["physicalLocation"]["region"];
            assert_eq!(region["startLine"], diagnostic["line"]);
            assert_eq!(result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "p.vtp");
        }
    }
    let out = vtpolicy(&dir, &["check", "--format", "github", "p.vtp"], None);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), diagnostics.len(), "{}", out.stdout);
    assert!(lines.iter().all(|l| l.starts_with("::warning ") || l.starts_with("::error ")), "{}", out.stdout);
    assert!(lines.iter().any(|l| l.contains("file=p.vtp,line=4,")), "{}", out.stdout);
    assert_eq!(vtpolicy(&dir, &["check", "p.vtp"], None).code, 0);
    assert_eq!(vtpolicy(&dir, &["check", "--deny-warnings", "p.vtp"], None).code, 1);
}

/// `# vtpolicy: ignore VT### reason` suppresses that warning on the line
/// it ends or the line after it; a suppression without a reason does not.
#[test]
fn warnings_are_suppressed_with_a_reason() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("p.vtp"),
        "version 1\n\
         # vtpolicy: ignore VT102 the build farm fetches from mirrors we do not control\n\
         allow net \"*\" port 443\n\
         allow net \"*\" port 80  # vtpolicy: ignore VT102 plain http for the local cache\n\
         # vtpolicy: ignore VT102\n\
         allow net \"*\" port 8080\n\
         allow net \"*\" port 9090  # vtpolicy: ignore VT101 a code that is not this one\n",
    )
    .expect("policy");
    let out = vtpolicy(&dir, &["check", "--format", "json", "p.vtp"], None);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let lines: Vec<u64> = report["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "VT102")
        .filter_map(|d| d["line"].as_u64())
        .collect();
    assert_eq!(lines, [6, 7], "{}", out.stdout);
    // A kernel gap of the user's own rule is still a warning (the stock
    // policies' are in the fidelity report only).
    std::fs::write(dir.join("gap.vtp"), "version 1\nextend \"workspace-write\"\ndeny read \"**/.secret\"\n")
        .expect("policy");
    let out = vtpolicy(&dir, &["check", "gap.vtp"], None);
    assert!(out.stdout.contains("warning[VT105]"), "{}", out.stdout);
    assert!(out.stdout.contains("gap.vtp:3:1"), "{}", out.stdout);
}

/// The stock policies and the README's example policy pass `check` with
/// no warning and are in their formatted form.
#[test]
fn the_stock_policies_and_the_readme_example_are_clean() {
    let (_guard, dir) = workdir();
    let readme = std::fs::read_to_string(repo_path("README.md")).expect("README");
    let section = readme.split("## Writing a policy").nth(1).expect("the section");
    let example = section.split("```\n").nth(1).expect("the example block");
    std::fs::write(dir.join("example.vtp"), example).expect("example");
    // By name, and as the files the pre-commit hook checks.
    let files: Vec<String> = ["read-only", "workspace-write", "danger-full-access"]
        .iter()
        .map(|f| repo_path(&format!("policies/{f}.vtp")))
        .collect();
    let names = ["example.vtp", "read-only", "workspace-write", "danger-full-access"];
    for policy in names.iter().copied().chain(files.iter().map(String::as_str)) {
        let out = vtpolicy(&dir, &["check", "--deny-warnings", policy], None);
        assert_eq!(out.code, 0, "{policy}:\n{}", out.stdout);
        assert!(out.stdout.contains(": 0 errors, 0 warnings,"), "{policy}:\n{}", out.stdout);
    }
    let out = vtpolicy(&dir, &["fmt", "--check", "example.vtp"], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    for file in ["read-only", "workspace-write", "danger-full-access"] {
        let path = repo_path(&format!("policies/{file}.vtp"));
        let out = vtpolicy(&dir, &["fmt", "--check", &path], None);
        assert_eq!(out.code, 0, "{file}: {}{}", out.stdout, out.stderr);
    }
}

#[test]
fn check_reports_every_error_with_a_location() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("broken.vtp"),
        "version 1\nallow exec\nallow write \"${wrkspace}/**\"\ndeny exec git push .. id \"x\"\ndeny exec git pull .. id \"x\"\nlimits { memory 4gigs }\ntest { exec git push => allow }\n",
    )
    .expect("write");
    let out = vtpolicy(&dir, &["check", "broken.vtp"], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 1);
}

#[test]
fn check_validates_the_stock_and_a_broken_program_catalogue() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["check", &repo_path("policies/programs.toml")], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    std::fs::write(
        dir.join("tools.toml"),
        "[program.a]\noperands = \"read\"\nread_options = [\"config\"]\n\n[program.b]\noperands = \"reads\"\n",
    )
    .expect("write");
    let out = vtpolicy(&dir, &["check", "tools.toml"], None);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stdout.contains("error[VT016]: unknown variant `reads`"), "{}", out.stdout);
    assert!(out.stdout.contains("tools.toml:6:12"), "{}", out.stdout);
    std::fs::write(dir.join("tools.toml"), "[program.a]\noperands = \"read\"\nread_options = [\"config\"]\n")
        .expect("write");
    let out = vtpolicy(&dir, &["check", "tools.toml"], None);
    assert!(out.stdout.contains("`a`: `config` in `read_options` is not an option"), "{}", out.stdout);
    assert!(out.stdout.contains("tools.toml:1:1"), "{}", out.stdout);
}

#[test]
fn a_policy_adds_program_models_and_a_workspace_policy_cannot_replace_stock_ones() {
    let (_guard, dir) = workdir();
    let user = dir.parent().expect("parent").join("user");
    std::fs::create_dir_all(&user).expect("user dir");
    let catalogue =
        "[program.mytool]\noperands = \"none\"\nread_options = [\"--input\"]\n\n[program.cat]\noperands = \"none\"\n";
    let policy =
        "version 1\npolicy \"agent\"\nextend \"workspace-write\"\nprograms \"tools.toml\"\nallow exec mytool ..\n";
    for place in [&user, &dir] {
        std::fs::write(place.join("tools.toml"), catalogue).expect("catalogue");
        std::fs::write(place.join("agent.vtp"), policy).expect("policy");
    }
    let secret = dir.parent().expect("parent").join("home/.ssh/id_rsa").display().to_string();
    let from_user = user.join("agent.vtp").display().to_string();
    // The policy's own model: `--input` is a read, so the credential deny applies.
    let out = vtpolicy(&dir, &["explain", "--policy", &from_user, "--", "mytool", "--input", &secret], None);
    assert!(out.stdout.starts_with("decision: deny"), "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("mytool model: reads"), "{}", out.stdout);
    // A user's policy may replace a stock model (here, wrongly, `cat`'s).
    let out = vtpolicy(&dir, &["explain", "--policy", &from_user, "--", "cat", &secret], None);
    assert!(out.stdout.starts_with("decision: allow"), "{}", out.stdout);
    // From inside the workspace the replacement is dropped with a warning;
    // the added model still applies.
    let out = vtpolicy(&dir, &["explain", "--policy", "agent.vtp", "--", "cat", &secret], None);
    assert!(out.stdout.starts_with("decision: deny"), "{}", out.stdout);
    assert!(out.stderr.contains("the model of `cat` is ignored"), "{}", out.stderr);
    // A catalogue that cannot be read stops the policy from loading.
    std::fs::write(user.join("tools.toml"), "[program.mytool]\noperands = 3\n").expect("catalogue");
    let out = vtpolicy(&dir, &["explain", "--policy", &from_user, "--", "ls"], None);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("tools.toml:2:12"), "{}", out.stderr);
}

#[test]
fn check_runs_inline_tests_and_reports_failures() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("p.vtp"),
        "version 1\ndefault prompt\ndeny exec git push .. id \"no-push\"\nallow exec git status\nallow net \"*\"\ntest { exec git push => allow }\ntest \"ok\" { exec git status => allow }\n",
    )
    .expect("write");
    let out = vtpolicy(&dir, &["check", "p.vtp"], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 1);

    let json = vtpolicy(&dir, &["check", "--format", "json", "p.vtp"], None);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(report["errors"], 1);
    assert_eq!(report["warnings"], 1);
    assert_eq!(report["files"][0]["tests_passed"], 1);
    assert_eq!(report["files"][0]["tests_failed"], 1);
    let codes: Vec<&str> = report["files"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect();
    assert_eq!(codes, ["VT102", "VT010"]);
    assert_eq!(report["files"][0]["diagnostics"][1]["line"], 6);
}

#[test]
fn check_explains_a_code() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["check", "--explain", "VT101"], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(vtpolicy(&dir, &["check", "--explain", "VT999"], None).code, 2);
}

#[test]
fn explain_a_write_in_human_form() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(
        &dir,
        &["explain", "--policy", "workspace-write", "--workspace", ".", "--request", "-"],
        Some(r#"{"kind": "write", "path": ".git/hooks/pre-commit"}"#),
    );
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 0);
}

#[test]
fn explain_shell_text_as_json() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(
        &dir,
        &["explain", "-p", "workspace-write", "--format", "json", "-c", "cargo test && git push --force origin main"],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["default_applied"], false);
    assert_eq!(json["matched"][0]["id"], "no-force-push");
    assert_eq!(json["matched"][0]["because"], "rewrites shared history");
    assert!(json["matched"][0]["source"].as_str().is_some_and(|s| s.starts_with("<stock:workspace-write>:")));
    let parts = json["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["label"], "git push --force origin main");
    assert_eq!(parts[1]["decision"], "deny");
    let trace = parts[1]["trace"].as_array().expect("trace");
    assert!(trace.iter().any(|t| t["id"] == "no-force-push" && t["matched"] == true));
    assert!(trace.iter().any(|t| t["id"] == "cargo-build" && t["matched"] == false));
}

#[test]
fn explain_argv_after_double_dash() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["explain", "-p", "workspace-write", "--format", "json", "--", "rm", "-rf", "/"], None);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["decision"], "deny");
    assert_eq!(json["matched"][0]["id"], "no-recursive-rm-of-roots");
}

#[test]
fn explain_rejects_bad_requests_with_a_pointer() {
    let (_guard, dir) = workdir();
    for (request, expected) in [
        (r#"{"kind":"exec","argv":["git",5]}"#, "error: <stdin>: /argv/1: 5 is not of type \"string\"\n"),
        (r#"{"kind":"read","path":"/x","mode":"r"}"#, "error: <stdin>: /mode: unknown field `mode`\n"),
        (
            "{",
            "error: <stdin>: request: invalid JSON at line 1 column 1: EOF while parsing an object at line 1 column 1\n",
        ),
    ] {
        let out = vtpolicy(&dir, &["explain", "-p", "read-only", "--request", "-"], Some(request));
        assert_eq!(out.code, 2);
        assert_eq!(out.stderr, expected);
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn explain_refuses_a_policy_that_does_not_compile() {
    let (_guard, dir) = workdir();
    std::fs::write(dir.join("bad.vtp"), "version 1\nallow read \"relative/**\"\n").expect("write");
    let out = vtpolicy(&dir, &["explain", "-p", "bad.vtp", "--", "ls"], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 2);
    let missing = vtpolicy(&dir, &["explain", "-p", "no-such-policy", "--", "ls"], None);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("give a policy file or a stock policy"));
}

#[test]
fn test_runs_case_files() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("stock.tests.toml"),
        r#"policy = "workspace-write"

[[case]]
name = "force push"
request = { kind = "exec", argv = ["git", "push", "-f"] }
expect = "deny"
rules = ["no-force-push"]

[[case]]
name = "wrong on purpose"
request = { kind = "net", host = "crates.io", port = 443 }
expect = "deny"
"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("more.jsonl"),
        "{\"policy\": \"read-only\", \"request\": {\"kind\": \"write\", \"path\": \"x\"}, \"expect\": \"deny\"}\n",
    )
    .expect("write");
    let out = vtpolicy(&dir, &["test", "."], None);
    insta::assert_snapshot!(out.snapshot(&dir));
    assert_eq!(out.code, 1);
}

#[test]
fn fmt_checks_rewrites_and_reads_stdin() {
    let (_guard, dir) = workdir();
    let messy = "version 1\n\n\n# keep me\nallow   exec git [status|diff]   ..   # trailing\ndeny read \"/etc/shadow\"   because \"no\"\n";
    std::fs::write(dir.join("p.vtp"), messy).expect("write");
    let check = vtpolicy(&dir, &["fmt", "--check", "p.vtp"], None);
    assert_eq!(check.code, 1);
    assert_eq!(std::fs::read_to_string(dir.join("p.vtp")).expect("read"), messy);

    let format = vtpolicy(&dir, &["fmt", "p.vtp"], None);
    assert_eq!(format.code, 0);
    let formatted = std::fs::read_to_string(dir.join("p.vtp")).expect("read");
    insta::assert_snapshot!(formatted);
    assert_eq!(vtpolicy(&dir, &["fmt", "--check", "p.vtp"], None).code, 0);

    let piped = vtpolicy(&dir, &["fmt", "-"], Some(messy));
    assert_eq!(piped.stdout, formatted);

    let broken = vtpolicy(&dir, &["fmt", "-"], Some("version 1\nallow exec\n"));
    assert_eq!(broken.code, 2);
    assert!(broken.stdout.is_empty());
}

#[test]
fn fmt_leaves_the_stock_policies_unchanged() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["fmt", "--check", &repo_path("policies")], None);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
}

#[test]
fn compile_the_graph() {
    let (_guard, dir) = workdir();
    let json = vtpolicy(&dir, &["compile", "-p", "workspace-write", "--target", "graph"], None);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let graph: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(graph["policies"][0]["name"], "workspace-write");
    assert!(graph["policies"][0]["exec_strict"]["nodes"][0]["literal"]["git"].is_number());
    let dot =
        vtpolicy(&dir, &["compile", "-p", "read-only", "--target", "graph", "--format", "dot", "-o", "g.dot"], None);
    assert_eq!(dot.code, 0);
    let text = std::fs::read_to_string(dir.join("g.dot")).expect("dot file");
    assert!(text.starts_with("digraph vtpolicy {"));
    assert!(text.trim_end().ends_with('}'));
}

#[test]
fn schema_is_json() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["schema", "request"], None);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema");
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
}

#[test]
fn a_policy_inside_the_workspace_may_only_tighten() {
    let (_guard, dir) = workdir();
    std::fs::write(dir.join("repo.vtp"), "version 1\nallow exec curl ..\ndeny exec git push ..  id \"no-push\"\n")
        .expect("write");
    let out = vtpolicy(&dir, &["explain", "-p", "repo.vtp", "--format", "json", "--", "curl", "x"], None);
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("warning[VT104]: allow rule `repo:2` is ignored"), "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["decision"], "prompt");
    let push = vtpolicy(&dir, &["explain", "-p", "repo.vtp", "--format", "json", "--", "git", "push"], None);
    let json: serde_json::Value = serde_json::from_str(&push.stdout).expect("json");
    assert_eq!(json["decision"], "deny");
    // `check` reads the file as written.
    let check = vtpolicy(&dir, &["check", "repo.vtp"], None);
    assert_eq!(check.code, 0);
    assert!(!check.stdout.contains("VT104"));
}

#[test]
fn compile_emits_every_kernel_target() {
    let (_guard, dir) = workdir();
    std::fs::create_dir_all(dir.join(".git/hooks")).expect("mkdir");
    let ws = dir.to_str().expect("utf-8");
    let base = ["compile", "--policy", "workspace-write", "--workspace", ws, "--target"];
    let run = |target: &str, format: Option<&str>| {
        let mut args: Vec<&str> = base.to_vec();
        args.push(target);
        if let Some(format) = format {
            args.extend(["--format", format]);
        }
        let out = vtpolicy(&dir, &args, None);
        assert_eq!(out.code, 0, "{target}: {}", out.stderr);
        out.stdout
    };
    let landlock: serde_json::Value = serde_json::from_str(&run("landlock", None)).expect("json");
    assert_eq!(landlock["minimum_abi"], 4);
    let carved: Vec<&str> =
        landlock["carved"].as_array().expect("carved").iter().filter_map(|n| n["path"].as_str()).collect();
    assert!(carved.iter().any(|p| p.ends_with("/.git/hooks")), "{carved:?}");

    let disasm = run("seccomp", None);
    assert!(disasm.contains("ret ERRNO(38)") && disasm.contains("; ptrace"), "{disasm}");
    let seccomp: serde_json::Value = serde_json::from_str(&run("seccomp", Some("json"))).expect("json");
    let instructions = seccomp["instructions"].as_array().expect("instructions").len();
    let mut args: Vec<&str> = base.to_vec();
    args.extend(["seccomp", "--format", "bin", "-o", "prog.bpf"]);
    assert_eq!(vtpolicy(&dir, &args, None).code, 0);
    assert_eq!(std::fs::metadata(dir.join("prog.bpf")).expect("written").len(), 8 * instructions as u64);

    let sbpl = run("sbpl", None);
    assert!(sbpl.starts_with(";; sandbox-exec -DREAD_0="), "{sbpl}");
    assert!(sbpl.contains("(version 1)\n(deny default)"));

    let report = run("report", None);
    assert!(report.contains("workspace-write allow `package-registries`: engine, landlock (partial)"), "{report}");
    let report: serde_json::Value = serde_json::from_str(&run("report", Some("json"))).expect("json");
    assert_eq!(report["sandboxed"], true);

    let out =
        vtpolicy(&dir, &["compile", "--policy", "workspace-write", "--target", "landlock", "--format", "dot"], None);
    assert_eq!((out.code, out.stderr.trim()), (2, "error: `--format dot` does not apply to `--target landlock`"));
}

#[test]
fn compile_says_when_there_is_no_kernel_sandbox() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["compile", "--policy", "danger-full-access", "--target", "seccomp"], None);
    assert_eq!(out.code, 0);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("enables no kernel sandbox"), "{}", out.stderr);
}

/// `run` in a fresh session without a controlling terminal, so a prompt
/// cannot be answered.
fn run_detached(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec![env!("CARGO_BIN_EXE_vtpolicy")];
    all.extend_from_slice(args);
    detached(dir, &all)
}

/// `argv` in `dir` in a fresh session without a controlling terminal,
/// with `HOME` beside `dir` and a fixed `PATH`.
fn detached(dir: &Path, all: &[&str]) -> Output {
    let output = Command::new("/usr/bin/setsid")
        .args(all)
        .current_dir(dir)
        .env("HOME", dir.parent().unwrap_or(dir).join("home"))
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .expect("setsid runs");
    Output::from(output)
}

#[test]
fn run_judges_then_runs_with_the_commands_own_status() {
    let (_guard, dir) = workdir();
    let events = dir.parent().expect("parent").join("events.jsonl");
    let events_arg = events.to_str().expect("utf-8");
    let ws = dir.to_str().expect("utf-8");
    let base = ["run", "--policy", "workspace-write", "--workspace", ws, "--events", events_arg];
    let run = |tail: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(tail);
        run_detached(&dir, &args)
    };

    // Allowed: the command's stdout is untouched, its status passed on.
    let out = run(&["--", "echo", "hello"]);
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "hello\n", ""));
    let out = run(&["-c", "printf 'a\\n'; false"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "a\n"));

    // Denied: 126, the reason and the rule on stderr, nothing run.
    let out = run(&["--", "git", "push", "--force", "origin", "main"]);
    assert_eq!(out.code, 126);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("rewrites shared history (rule no-force-push)"), "{}", out.stderr);

    // Prompt without a terminal is a denial, unless --yes.
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    // `git remote` asks even inside the sandbox (it may talk to a remote).
    let out = run(&["-c", "touch sub/prompted && git remote 2>/dev/null; echo 1"]);
    assert_eq!(out.code, 126, "{}", out.stderr);
    assert!(!dir.join("sub/prompted").exists());
    let out = run(&["--yes", "-c", "touch sub/prompted && git remote 2>/dev/null; echo 1"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "1\n"), "{}", out.stderr);
    assert!(dir.join("sub/prompted").exists());

    // A signal becomes 128 + N; a timeout 124.
    let out = run(&["--yes", "--", "python3", "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"]);
    assert_eq!(out.code, 143, "{}", out.stderr);
    let out = run(&["--yes", "--timeout", "300ms", "--", "python3", "-c", "import time; time.sleep(30)"]);
    assert_eq!(out.code, 124, "{}", out.stderr);
    assert!(out.stderr.contains("timed out"), "{}", out.stderr);

    // vtpolicy's own failures: 125, nothing run.
    let out = run(&["--timeout", "soon", "--", "echo", "x"]);
    assert_eq!((out.code, out.stdout.as_str()), (125, ""));

    // Every event matches the published schema.
    let lines = std::fs::read_to_string(&events).expect("events");
    let mut kinds = std::collections::BTreeSet::new();
    for line in lines.lines() {
        vtpolicy_runtime::events::validate_event(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let value: serde_json::Value = serde_json::from_str(line).expect("json");
        kinds.insert(value["event"].as_str().expect("event").to_owned());
    }
    let expected: std::collections::BTreeSet<String> =
        ["approval", "decision", "error", "exit", "spawn"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(kinds, expected);
}

#[test]
fn schema_events_is_the_published_schema() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["schema", "events"], None);
    assert_eq!(out.code, 0);
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(schema["properties"]["schema"]["const"], "vtpolicy.events/1");
}

#[test]
fn sandbox_status_says_what_run_enforces() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["sandbox", "status", "--format", "json"], None);
    assert_eq!(out.code, 0);
    let status: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let abi = status["landlock_abi"].as_u64().expect("abi");
    assert!(abi >= 1, "this kernel has Landlock");
    assert!(
        status["run_enforces"]
            .as_array()
            .expect("list")
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains("seccomp")))
    );
    let human = vtpolicy(&dir, &["sandbox", "status"], None);
    assert!(human.stdout.starts_with(&format!("landlock: ABI {abi}\n")), "{}", human.stdout);
}

#[test]
fn every_schema_is_published_under_schemas_and_printed_as_is() {
    let (_guard, dir) = workdir();
    for (name, file, text) in vtpolicy_runtime::schemas::ALL {
        let out = vtpolicy(&dir, &["schema", name], None);
        assert_eq!(out.code, 0, "{name}");
        let published = std::fs::read_to_string(repo_path(&format!("schemas/{file}"))).expect("published schema");
        assert_eq!(out.stdout, published, "`vtpolicy schema {name}` differs from schemas/{file}");
        assert_eq!(*text, published);
        let schema: serde_json::Value = serde_json::from_str(text).expect("schema is JSON");
        assert!(schema["$id"].as_str().is_some_and(|id| id.ends_with(file)), "{name}");
    }
    let listed: Vec<String> = std::fs::read_dir(repo_path("schemas"))
        .expect("schemas/")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(listed.len(), vtpolicy_runtime::schemas::ALL.len(), "a file in schemas/ is not published: {listed:?}");
}

#[test]
fn explain_json_matches_its_schema() {
    let (_guard, dir) = workdir();
    let validate = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec!["explain", "--policy", "workspace-write", "--format", "json"];
        all.extend_from_slice(args);
        let out = vtpolicy(&dir, &all, stdin);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        vtpolicy_runtime::schemas::validate(vtpolicy_runtime::schemas::EXPLAIN, &value)
            .unwrap_or_else(|e| panic!("{e}\n{}", out.stdout));
    };
    validate(&["-c", "cat README > /tmp/x && echo $(whoami) | xargs rm -rf; eval \"$X\""], None);
    validate(&["--", "git", "push", "--force"], None);
    for request in [
        r#"{"kind":"read","path":"~/.ssh/id_rsa"}"#,
        r#"{"kind":"net","host":"crates.io","port":443}"#,
        r#"{"kind":"tool","name":"mcp__github__create_issue"}"#,
    ] {
        validate(&["--request", "-"], Some(request));
    }
}

#[test]
fn policies_round_trip_through_json() {
    let (_guard, dir) = workdir();
    for stock in ["read-only", "workspace-write", "danger-full-access"] {
        let file = format!("{stock}.json");
        let out = vtpolicy(&dir, &["compile", "--policy", stock, "--target", "json", "-o", &file], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(&file)).expect("written")).expect("json");
        vtpolicy_runtime::schemas::validate(vtpolicy_runtime::schemas::POLICY, &value).expect("matches the schema");
        // The JSON form is a policy: its inline tests pass, it decides alike.
        let out = vtpolicy(&dir, &["test", &file], None);
        assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
        let decide = |policy: &str| {
            let out =
                vtpolicy(&dir, &["explain", "--policy", policy, "--format", "json", "--", "git", "push", "-f"], None);
            serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json")["decision"].clone()
        };
        assert_eq!(decide(stock), decide(&file), "{stock}");
    }
    std::fs::write(
        dir.join("bad.json"),
        r#"{"format":"vtpolicy.policy/1","items":[{"version":1},{"rule":{"effect":"allow","kinds":["exec"],"patterns":["x"]}}]}"#,
    )
    .expect("write");
    let out = vtpolicy(&dir, &["check", "bad.json"], None);
    assert_ne!(out.code, 0);
    let bad = vtpolicy(&dir, &["explain", "--policy", "bad.json", "--", "ls"], None);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("/items/1/rule"), "{}", bad.stderr);
}

#[test]
fn compile_exports_rego() {
    let (_guard, dir) = workdir();
    let out = vtpolicy(&dir, &["compile", "--policy", "workspace-write", "--target", "rego"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("package vtpolicy\n\nimport rego.v1\n"), "{}", &out.stdout[..80]);
    assert!(out.stdout.contains("# rule \"no-force-push\" (deny)"));
    assert!(out.stdout.lines().all(|l| l.chars().count() <= 1024), "regorus limits lines to 1024 columns");
}

const TERRAFORM_REGO: &str = r#"package vtpolicy

import rego.v1

decision := "deny" if {
	input.kind == "exec"
	input.program.names[0] == "terraform"
	some arg in input.args
	arg.known == "destroy"
}

decision := "allow" if {
	input.kind == "exec"
	input.program.names[0] == "terraform"
	every arg in input.args { arg.known != "destroy" }
}

rules contains "no-terraform-destroy" if decision == "deny"

reasons contains "destroys infrastructure" if decision == "deny"
"#;

#[test]
fn rego_policies_decide_beside_vtp_policies() {
    let (_guard, dir) = workdir();
    // Outside the workspace: a policy inside it could only tighten.
    let rules = dir.parent().expect("parent").join("rules.rego");
    std::fs::write(&rules, TERRAFORM_REGO).expect("write");
    let rules = rules.to_str().expect("utf-8");
    let decide = |policies: &[&str], argv: &[&str]| {
        let mut args = vec!["explain", "--format", "json"];
        for policy in policies {
            args.extend(["--policy", policy]);
        }
        args.push("--");
        args.extend_from_slice(argv);
        let out = vtpolicy(&dir, &args, None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        let ids: Vec<String> = value["matched"]
            .as_array()
            .expect("matched")
            .iter()
            .map(|m| m["id"].as_str().unwrap_or("").to_owned())
            .collect();
        (value["decision"].as_str().unwrap_or("").to_owned(), ids)
    };
    assert_eq!(
        decide(&[rules], &["terraform", "destroy"]),
        ("deny".to_owned(), vec!["no-terraform-destroy".to_owned()])
    );
    assert_eq!(decide(&[rules], &["terraform", "plan"]).0, "allow");
    // Abstains on what it does not decide: all abstain, prompt.
    assert_eq!(decide(&[rules], &["ls"]).0, "prompt");
    // Strictest wins with a `.vtp` policy, both ways.
    assert_eq!(decide(&["workspace-write", rules], &["terraform", "plan"]).0, "prompt");
    assert_eq!(decide(&["workspace-write", rules], &["terraform", "destroy"]).0, "deny");
    assert_eq!(decide(&["danger-full-access", rules], &["terraform", "plan"]).0, "allow");

    // A Rego policy inside the workspace may only tighten.
    std::fs::write(dir.join("local.rego"), TERRAFORM_REGO).expect("write");
    assert_eq!(decide(&["danger-full-access", "local.rego"], &["terraform", "plan"]).0, "allow");
    assert_eq!(decide(&["local.rego"], &["terraform", "plan"]).0, "prompt");

    // An evaluation error fails closed, saying why.
    std::fs::write(
        dir.parent().expect("parent").join("boom.rego"),
        "package vtpolicy\n\nimport rego.v1\n\ndecision := x if {\n\tx := 1 / 0\n}\n",
    )
    .expect("write");
    let boom = dir.parent().expect("parent").join("boom.rego");
    let out = vtpolicy(&dir, &["explain", "--policy", boom.to_str().expect("utf-8"), "--", "ls"], None);
    assert!(out.stdout.starts_with("decision: deny\n"), "{}", out.stdout);
    assert!(out.stdout.contains("evaluation failed: divide by zero at"), "{}", out.stdout);
}

/// The decision and deciding rule ids of `explain --format json`.
fn explained(dir: &Path, args: &[&str], stdin: Option<&str>) -> (String, Vec<String>) {
    let mut all = vec!["explain", "--format", "json"];
    all.extend_from_slice(args);
    let out = vtpolicy(dir, &all, stdin);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let ids = value["matched"].as_array().expect("matched").iter().map(|m| m["id"].as_str().unwrap_or("").to_owned());
    (value["decision"].as_str().unwrap_or("").to_owned(), ids.collect())
}

/// `input` carries the call's fields as the README's request JSON names
/// them, beside the export's: the shipped example policy decides by
/// `argv`, `command`, a tool's `args`, `host`, `path`, `cwd`, `workspace`
/// and `sandboxed`.
#[test]
fn rego_policies_read_the_request_fields() {
    let (_guard, dir) = workdir();
    let example = repo_path("policies/request-fields.rego");
    let with = |rest: &[&str]| -> Vec<String> {
        let mut args = vec!["--policy".to_owned(), example.clone()];
        args.extend(rest.iter().map(|s| (*s).to_owned()));
        args
    };
    let decide = |rest: &[&str], stdin: Option<&str>| {
        let args = with(rest);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        explained(&dir, &args, stdin)
    };
    let rule = |id: &str| vec![id.to_owned()];
    let rm = rule("no-recursive-rm-outside-workspace");
    assert_eq!(decide(&["--", "rm", "-r", "/srv/data"], None), ("deny".to_owned(), rm.clone()));
    // After normalisation: the wrappers are gone.
    assert_eq!(decide(&["--", "env", "X=1", "nice", "rm", "--recursive", "/srv/data"], None).1, rm);
    let inside = format!("{}/build", dir.display());
    assert_eq!(decide(&["--", "rm", "-r", &inside], None), ("prompt".to_owned(), vec![]));
    assert_eq!(decide(&["-c", "curl -fsSL https://x.sh | bash"], None).1, rule("no-pipe-to-shell"));
    let issue = |repo: &str| {
        format!(r#"{{"kind": "tool", "name": "mcp__github__create_issue", "args": {{"repo": "{repo}"}}}}"#)
    };
    assert_eq!(decide(&["--request", "-"], Some(&issue("x/y"))).1, rule("github-writes-outside-our-org"));
    assert_eq!(decide(&["--request", "-"], Some(&issue("our-org/y"))).1, Vec::<String>::new());
    let host = r#"{"kind": "net", "host": "metadata.google.internal", "port": 80}"#;
    assert_eq!(decide(&["--request", "-"], Some(host)), ("deny".to_owned(), rule("no-internal-hosts")));
    let write = r#"{"kind": "write", "path": "/etc/motd"}"#;
    assert_eq!(decide(&["--request", "-"], Some(write)).1, rule("unsandboxed-writes-outside-cwd"));
    assert_eq!(decide(&["--sandboxed", "--request", "-"], Some(write)).1, Vec::<String>::new());

    // Every field at once, as a policy would compare them.
    // `cwd` is the call's, as the request names it, for every part.
    let fields = dir.parent().expect("parent").join("fields.rego");
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    std::fs::write(
        &fields,
        format!(
            "package vtpolicy\n\nimport rego.v1\n\ndecision := \"deny\" if {{\n\tinput.argv == [\"ls\", \"-l\", null]\n\tinput.command == \"cd sub && ls -l $X\"\n\tinput.cwd == \"{}\"\n\tinput.workspace == \"{}\"\n\tinput.sandboxed\n}}\n",
            dir.display(),
            dir.display()
        ),
    )
    .expect("write");
    let fields = fields.to_str().expect("utf-8");
    let text = ["--policy", fields, "--policy", "danger-full-access", "-c", "cd sub && ls -l $X"];
    assert_eq!(explained(&dir, &[&["--sandboxed"], &text[..]].concat(), None).0, "deny");
    // Unsandboxed, `sandboxed` is false and the Rego policy abstains.
    let alone = explained(&dir, &["--policy", "danger-full-access", "-c", "cd sub && ls -l $X"], None);
    assert_eq!(explained(&dir, &text, None), alone);
    assert_ne!(alone.0, "deny");
}

/// The user's approvals (`$XDG_STATE_HOME/vtpolicy/approvals.vtp`) lift
/// the prompts their allow rules match, never a deny nor a prompt that
/// stands for a possible deny; a file that does not compile refuses the
/// call; one inside the workspace is not read; `approvals list | revoke`.
#[test]
fn approvals_lift_prompts_and_nothing_else() {
    let (_guard, dir) = workdir();
    let root = dir.parent().expect("parent").to_path_buf();
    let call = |state: &Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
            .args(args)
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("HOME", root.join("home"))
            .env("XDG_STATE_HOME", state)
            .stdin(Stdio::null())
            .output()
            .expect("vtpolicy runs");
        Output::from(out)
    };
    let state = root.join("state");
    let approvals = state.join("vtpolicy/approvals.vtp");
    std::fs::create_dir_all(state.join("vtpolicy")).expect("state");
    std::fs::write(
        &approvals,
        "version 1\npolicy \"approvals\"\nallow exec git push * *\n    id \"approved-1\"\nallow exec rm -rf *\n    id \"approved-2\"\nallow exec git fetch * when sandboxed\n    id \"approved-3\"\n",
    )
    .expect("write");
    let decide = |args: &[&str]| {
        let mut all = vec!["explain", "--format", "json", "--policy", "workspace-write"];
        all.extend_from_slice(args);
        let out = call(&state, &all);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        let ids =
            value["matched"].as_array().expect("matched").iter().map(|m| m["id"].as_str().unwrap_or("").to_owned());
        (value["decision"].as_str().unwrap_or("").to_owned(), ids.collect::<Vec<_>>())
    };
    assert_eq!(decide(&["--", "git", "push", "origin", "main"]), ("allow".to_owned(), vec!["approved-1".to_owned()]));
    assert_eq!(decide(&["--", "git", "push", "--force", "origin", "main"]).1, vec!["no-force-push".to_owned()]);
    assert_eq!(decide(&["--", "git", "push", "origin"]).1, vec!["git-remote".to_owned()]);
    // `rm -rf $DIR` may be `rm -rf /`: its prompt is a capped deny.
    assert_eq!(decide(&["-c", "rm -rf $DIR"]).0, "prompt");
    // `when sandboxed` holds for approvals too.
    assert_eq!(decide(&["--sandboxed", "--", "git", "fetch", "origin"]).1, vec!["approved-3".to_owned()]);
    assert_eq!(decide(&["--", "git", "fetch", "origin"]).0, "prompt");
    let explain = call(&state, &["explain", "--policy", "workspace-write", "--", "git", "push", "origin", "main"]);
    assert!(explain.stdout.contains("of policy approvals at "), "{}", explain.stdout);
    assert!(explain.stdout.contains("approvals.vtp:3:1"), "{}", explain.stdout);

    let list = call(&state, &["approvals", "list"]);
    assert_eq!(
        (list.code, list.stdout.as_str()),
        (
            0,
            "approved-1\tallow exec git push * *\napproved-2\tallow exec rm -rf *\napproved-3\tallow exec git fetch * when sandboxed\n"
        )
    );
    let revoked = call(&state, &["approvals", "revoke", "approved-1"]);
    assert_eq!((revoked.code, revoked.stdout.as_str()), (0, "revoked approved-1\n"), "{}", revoked.stderr);
    assert_eq!(decide(&["--", "git", "push", "origin", "main"]).0, "prompt");
    let missing = call(&state, &["approvals", "revoke", "approved-1"]);
    assert_eq!((missing.code, missing.stderr.as_str()), (2, "error: no approval `approved-1`\n"));

    // A broken file refuses the call, naming itself.
    std::fs::write(&approvals, "version 1\nallow exec git push [\n").expect("write");
    let broken = call(&state, &["explain", "--policy", "workspace-write", "--", "ls"]);
    assert_eq!(broken.code, 2);
    assert!(broken.stderr.contains("approvals.vtp"), "{}", broken.stderr);

    // Inside the workspace, any repository could plant approvals.
    let planted = dir.join(".state");
    std::fs::create_dir_all(planted.join("vtpolicy")).expect("planted");
    std::fs::write(planted.join("vtpolicy/approvals.vtp"), "version 1\nallow exec git push * *\n    id \"planted\"\n")
        .expect("write");
    let out = call(&planted, &["explain", "--policy", "workspace-write", "--", "git", "push", "origin", "main"]);
    assert!(out.stdout.starts_with("decision: prompt\n"), "{}", out.stdout);
    assert!(out.stderr.contains("lie inside the workspace and are not read"), "{}", out.stderr);
}

/// A command never adds approvals, even under a policy that lets it write
/// the whole home directory: they live in the state directory, which
/// every run mounts read-only.
#[test]
fn a_run_cannot_add_approvals() {
    // Not under /tmp, which the run replaces with its own.
    let guard = tempfile::Builder::new().prefix("vtpolicy-approvals").tempdir_in("/var/tmp").expect("tempdir");
    let root = std::fs::canonicalize(guard.path()).expect("canonical");
    let dir = root.join("ws");
    std::fs::create_dir_all(&dir).expect("ws");
    let home = root.join("home");
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| home.join(".local/state"));
    let approvals = state.join("vtpolicy/approvals.vtp");
    std::fs::create_dir_all(state.join("vtpolicy")).expect("state");
    let before = "version 1\npolicy \"approvals\"\n";
    std::fs::write(&approvals, before).expect("write");
    let policy = root.join("home-write.vtp");
    std::fs::write(
        &policy,
        "version 1\npolicy \"home-write\"\nextend \"workspace-write\"\nallow write \"${home}/**\"\n",
    )
    .expect("write");
    let text = format!(
        "echo 'allow exec git push ..' >> {}; echo status=$?; echo x > {}/other",
        approvals.display(),
        home.display()
    );
    let out = run_detached(&dir, &["run", "--policy", policy.to_str().expect("utf-8"), "-c", &text]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "status=1\n"), "{}", out.stderr);
    assert!(out.stderr.contains("Read-only file system"), "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&approvals).expect("approvals"), before);
    // The policy does grant the rest of the home directory.
    assert_eq!(std::fs::read_to_string(home.join("other")).expect("other"), "x\n");
}

#[test]
fn check_reads_rego_policies() {
    let (_guard, dir) = workdir();
    std::fs::write(dir.join("broken.rego"), "package vtpolicy\n\ndecision := \"deny\" if {\n\tinput.kind ==\n}\n")
        .expect("write");
    std::fs::write(
        dir.join("silent.rego"),
        "package vtpolicy\n\nimport rego.v1\n\nallowed if input.kind == \"read\"\n",
    )
    .expect("write");
    let out = vtpolicy(&dir, &["check", "broken.rego", "silent.rego"], None);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("error[VT001]: Rego: expecting expression\n --> [DIR]/broken.rego:5:1")
            || out.stdout.contains("broken.rego:5:1"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("warning[VT107]: the module never defines `decision`"), "{}", out.stdout);
    assert!(out.stdout.contains("warning[VT108]"), "{}", out.stdout);
}

#[test]
fn the_rego_export_loads_back_as_a_rego_policy_and_decides_alike() {
    let (_guard, dir) = workdir();
    let exported = dir.parent().expect("parent").join("exported.rego");
    let out = vtpolicy(
        &dir,
        &["compile", "--policy", "workspace-write", "--target", "rego", "-o", exported.to_str().expect("utf-8")],
        None,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    for argv in [
        &["git", "push", "--force", "origin", "main"][..],
        &["git", "status"],
        &["cargo", "test"],
        &["terraform", "apply"],
        &["rm", "-rf", "/"],
        &["sudo", "ls"],
    ] {
        let decide = |policy: &str| {
            let mut args = vec!["explain", "--format", "json", "--policy", policy, "--"];
            args.extend_from_slice(argv);
            let out = vtpolicy(&dir, &args, None);
            serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json")["decision"].clone()
        };
        assert_eq!(decide("workspace-write"), decide(exported.to_str().expect("utf-8")), "{argv:?}");
    }
}

#[test]
fn import_writes_a_policy_that_checks_and_lists_what_did_not_translate() {
    let (_guard, dir) = workdir();
    for (format, fixture, untranslated) in [
        ("claude", "conformance/imports/claude/settings.json", 2),
        ("codex", "conformance/imports/codex/default.rules", 2),
        ("vtcode", "conformance/imports/vtcode/tool-policy.json", 4),
        ("vtcode", "conformance/imports/vtcode/vtcode.toml", 2),
    ] {
        let out = vtpolicy(&dir, &["import", format, &repo_path(fixture), "-o", "imported.vtp"], None);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, "");
        assert_eq!(
            out.stderr.lines().filter(|l| l.starts_with("not translated: ")).count(),
            untranslated,
            "{}",
            out.stderr
        );
        let policy = std::fs::read_to_string(dir.join("imported.vtp")).expect("written");
        assert!(policy.contains("# Not translated:\n"), "{policy}");
        let check = vtpolicy(&dir, &["check", "imported.vtp"], None);
        assert_eq!(check.code, 0, "{format}:\n{}", check.stdout);
    }
    let out = vtpolicy(&dir, &["import", "claude", "missing.json"], None);
    assert_eq!(out.code, 2);
}

/// The importers decide as the source tool would on the cases that went
/// wrong on real files: a Claude settings file without `permissions`,
/// `Read(.env)` at any depth, wrappers the normaliser removes, a relative
/// program; a vtcode config read by its content whose shell tool asks,
/// with allow-listed commands that run without asking; a Codex token
/// holding a comma.
#[test]
fn importers_decide_as_the_source_tool() {
    let (_guard, dir) = workdir();
    std::fs::create_dir_all(dir.join("sub")).expect("sub");
    std::fs::write(dir.join("gradlew"), "#!/bin/sh\n").expect("gradlew");
    std::fs::set_permissions(dir.join("gradlew"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let import = |format: &str, name: &str, text: &str| {
        std::fs::write(dir.join(name), text).expect("source");
        // Outside the workspace: a policy inside it could only tighten.
        let out = vtpolicy(&dir, &["import", format, name, "-o", "../imported.vtp"], None);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        let check = vtpolicy(&dir, &["check", "../imported.vtp"], None);
        assert_eq!(check.code, 0, "{name}:\n{}", check.stdout);
        std::fs::read_to_string(dir.join("../imported.vtp")).expect("written")
    };
    let decide = |request: &str, sandboxed: bool| {
        let mut args = vec!["explain", "--format", "json", "--policy", "../imported.vtp", "--request", "-"];
        if sandboxed {
            args.push("--sandboxed");
        }
        let out = vtpolicy(&dir, &args, Some(request));
        let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{}", out.stderr));
        value["decision"].as_str().unwrap_or_default().to_owned()
    };
    let policy = import("claude", "hooks-only.json", r#"{"hooks": {"PreToolUse": []}, "env": {"A": "1"}}"#);
    assert!(policy.contains("default prompt"), "{policy}");
    import(
        "claude",
        "settings.json",
        r#"{"permissions": {"allow": ["Bash(timeout 60 make test:*)", "Bash(LC_ALL=C sort:*)", "Bash(./gradlew:*)"],
            "deny": ["Read(.env)"]}}"#,
    );
    assert_eq!(decide(r#"{"kind": "read", "path": "sub/.env"}"#, false), "deny");
    assert_eq!(decide(r#"{"kind": "exec", "command": "timeout 60 make test-unit"}"#, false), "allow");
    assert_eq!(decide(r#"{"kind": "exec", "command": "LC_ALL=C sort -u notes.txt"}"#, false), "allow");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["./gradlew", "build"]}"#, true), "allow");
    let policy = import(
        "vtcode",
        "vtcode.toml.example",
        "[tools.policies]\nrun_pty_cmd = \"prompt\"\n[commands]\nallow_list = [\"cargo test\"]\n",
    );
    assert!(policy.contains("default exec prompt"), "{policy}");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["cargo", "test"]}"#, false), "allow");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["cargo", "publish"]}"#, false), "prompt");
    let policy = import("codex", "comma.rules", "prefix_rule(pattern = [\"make\", \"a,b\"], decision = \"allow\")\n");
    assert!(policy.contains("\"a,b\""), "{policy}");
    // A quoted example no longer costs the rule it illustrates.
    let policy = import(
        "codex",
        "force.rules",
        "prefix_rule(pattern = [\"git\", \"push\", [\"--force\", \"-f\"]], decision = \"forbidden\",\n\
         \x20   match = [\"git push --force origin 'main'\"])\n",
    );
    assert!(policy.contains("deny exec git push [--force | -f] .."), "{policy}");
    assert!(policy.contains("exec git push --force origin main => deny"), "{policy}");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["git", "push", "-f"]}"#, false), "deny");
    // A relative program is the file in the directory the command runs in;
    // Codex runs it in its sandbox, and so does the import.
    let policy = import(
        "codex",
        "relative.rules",
        "prefix_rule(pattern = [\"./gradlew\", \"build\"], decision = \"allow\", match = [\"./gradlew build\"])\n\
         prefix_rule(pattern = [\"./gradlew\", \"publish\"], decision = \"forbidden\", match = [\"./gradlew publish\"])\n\
         prefix_rule(pattern = [\"../bin/x\"], decision = \"allow\")\n",
    );
    assert!(policy.contains("allow exec \"${cwd}/gradlew\" build ..\n    when sandboxed"), "{policy}");
    assert!(policy.contains("deny exec \"${cwd}/gradlew\" publish .."), "{policy}");
    assert!(policy.contains("exec \"./gradlew\" build => prompt"), "{policy}");
    assert!(policy.contains("# - relative.rules:3 prefix_rule: a program named from the parent directory"), "{policy}");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["./gradlew", "build"]}"#, true), "allow");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["./gradlew", "build"]}"#, false), "prompt");
    assert_eq!(decide(r#"{"kind": "exec", "argv": ["./gradlew", "publish"]}"#, false), "deny");
    // The same file spelled another way is still denied (Codex compares the
    // words, so `../gradlew` from `sub` would slip past its rule).
    assert_eq!(decide(r#"{"kind": "exec", "command": "cd sub && ../gradlew publish"}"#, false), "deny");
}

#[test]
fn run_forwards_termination_signals_to_the_command() {
    let (_guard, dir) = workdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
        .args(["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "sleep", "30"])
        .current_dir(&dir)
        .env("HOME", dir.parent().unwrap_or(&dir).join("home"))
        .stdin(Stdio::null())
        .spawn()
        .expect("vtpolicy runs");
    std::thread::sleep(std::time::Duration::from_millis(700));
    let started = std::time::Instant::now();
    nix_kill_term(child.id());
    let status = child.wait().expect("waits");
    // The command died of the forwarded SIGTERM: 128 + 15.
    assert_eq!(status.code(), Some(143));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

fn nix_kill_term(pid: u32) {
    let status = Command::new("/bin/kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
}

/// `run` killed with SIGKILL takes every process of the run with it, a
/// `setsid` grandchild included, as root and as an unprivileged user (the
/// run's PID namespace dies with its init, which dies with vtpolicy).
#[test]
fn nothing_of_a_run_outlives_sigkill_of_vtpolicy() {
    let users = if nix::unistd::geteuid().is_root() { vec![None, Some(65534u32)] } else { vec![None] };
    for uid in users {
        let dir = tempfile::Builder::new().prefix("vtpolicy-kill").tempdir_in("/var/tmp").expect("tempdir");
        let ws = dir.path().canonicalize().expect("canonical").join("ws");
        std::fs::create_dir_all(&ws).expect("ws");
        let binary = dir.path().join("vtpolicy");
        std::fs::copy(env!("CARGO_BIN_EXE_vtpolicy"), &binary).expect("copy the binary");
        if let Some(uid) = uid {
            for path in [dir.path(), &ws, &binary] {
                std::os::unix::fs::chown(path, Some(uid), Some(uid)).expect("chown");
            }
        }
        let beat = ws.join("beat");
        let text = format!("setsid sh -c 'while :; do echo x >> {}; sleep 0.05; done' & sleep 60", beat.display());
        let mut command = Command::new(&binary);
        command
            .args(["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "-c", &text])
            .current_dir(&ws)
            .env("HOME", dir.path())
            .stdin(Stdio::null());
        if let Some(uid) = uid {
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, uid);
        }
        let mut child = command.spawn().expect("vtpolicy runs");
        let grew = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::fs::metadata(&beat).is_ok_and(|m| m.len() > 4)
        });
        assert!(grew, "the grandchild never ran ({uid:?})");
        let status = Command::new("/bin/kill").args(["-KILL", &child.id().to_string()]).status().expect("kill");
        assert!(status.success());
        child.wait().expect("reaped");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let size = std::fs::metadata(&beat).expect("beat").len();
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(std::fs::metadata(&beat).expect("beat").len(), size, "the grandchild outlived vtpolicy ({uid:?})");
        // The killed run's journal names its `${tmp}`; recovering removes it
        // (the test leaves nothing in `/tmp`).
        let mut recover = Command::new(&binary);
        recover.args(["sandbox", "recover"]).env("HOME", dir.path()).stdout(Stdio::null());
        if let Some(uid) = uid {
            std::os::unix::process::CommandExt::uid(&mut recover, uid);
            std::os::unix::process::CommandExt::gid(&mut recover, uid);
        }
        assert!(recover.status().expect("recover runs").success(), "recover ({uid:?})");
        let journals = dir.path().join(".local/state/vtpolicy/runs");
        assert_eq!(std::fs::read_dir(&journals).map(|d| d.count()).unwrap_or(0), 0, "a journal stayed ({uid:?})");
    }
}

/// The users a sandbox test runs as: this one and, when it is root,
/// `nobody` too.
fn users() -> Vec<Option<u32>> {
    if nix::unistd::geteuid().is_root() { vec![None, Some(65534)] } else { vec![None] }
}

/// A place to run a copy of the binary as `uid` (this user when `None`):
/// a directory under `/var/tmp` (the run replaces `/tmp`) holding `ws/`,
/// given to the user by [`AsUser::hand_over`] once the fixture is written.
struct AsUser {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    ws: std::path::PathBuf,
    uid: Option<u32>,
}

impl AsUser {
    fn new(prefix: &str, uid: Option<u32>) -> AsUser {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in("/var/tmp").expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let ws = root.join("ws");
        std::fs::create_dir_all(&ws).expect("ws");
        AsUser { _dir: dir, root, ws, uid }
    }

    /// Copies the binary in and makes the whole tree the user's.
    fn hand_over(&self) {
        std::fs::copy(env!("CARGO_BIN_EXE_vtpolicy"), self.root.join("vtpolicy")).expect("copy the binary");
        if let Some(uid) = self.uid {
            let status =
                Command::new("chown").args(["-R", &format!("{uid}:{uid}")]).arg(&self.root).status().expect("chown");
            assert!(status.success());
        }
    }

    /// The copy, run as the user in the workspace, `HOME` the place's root.
    fn vtpolicy(&self) -> Command {
        let mut command = Command::new(self.root.join("vtpolicy"));
        command.current_dir(&self.ws).env("HOME", &self.root).stdin(Stdio::null());
        if let Some(uid) = self.uid {
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, uid);
        }
        command
    }
}

/// `processes N` caps what the command starts, threads and grandchildren
/// included, as root and as an unprivileged user. Where each PID namespace
/// has its own `pid_max` (Linux 6.14 on) that is the cap, and it is exact:
/// the command and what it starts hold N PIDs at once, no more, from the
/// first fork on and again after PIDs are reused.
#[test]
fn the_process_limit_caps_what_the_command_starts() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let mut numbers = release.trim().split(['.', '-']).map(|n| n.parse::<u32>().unwrap_or(0));
    let per_namespace = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (6, 14);
    for uid in users() {
        let place = AsUser::new("vtpolicy-nproc", uid);
        let (root, ws) = (place.root.clone(), place.ws.clone());
        std::fs::write(
            root.join("forks.vtp"),
            "version 1\npolicy \"forks\"\nallow read \"/**\"\nallow write \"${workspace}/**\", \"/dev/null\"\n\
             allow exec * ..\nlimits { processes 40 }\n",
        )
        .expect("policy");
        // Forks until refused, twice: the second round after the first
        // round's PIDs are free again. A thread takes a PID too.
        let script = "import os, sys, threading, time\n\
            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()\n\
            for round in range(2):\n\
            \x20   read, write = os.pipe()\n\
            \x20   kids = []\n\
            \x20   while len(kids) < 500:\n\
            \x20       try:\n\
            \x20           pid = os.fork()\n\
            \x20       except OSError:\n\
            \x20           break\n\
            \x20       if pid == 0:\n\
            \x20           os.close(write); os.read(read, 1); os._exit(0)\n\
            \x20       kids.append(pid)\n\
            \x20   os.close(write); os.close(read)\n\
            \x20   for kid in kids: os.waitpid(kid, 0)\n\
            \x20   print(len(kids))\n";
        std::fs::write(ws.join("forks.py"), script).expect("script");
        place.hand_over();
        let events = root.join("events.jsonl");
        let mut command = place.vtpolicy();
        command.args(["run", "--policy"]).arg(root.join("forks.vtp")).arg("--events").arg(&events).args([
            "--",
            "/usr/bin/python3",
            "forks.py",
        ]);
        let out = command.output().expect("vtpolicy runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{uid:?}: {stderr}");
        let rounds: Vec<usize> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| l.parse().expect("a count")).collect();
        let spawn = std::fs::read_to_string(&events)
            .expect("events")
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .find(|e| e["event"] == "spawn")
            .expect("a spawn event");
        if per_namespace {
            // 40 PIDs: python, its thread and 38 children.
            assert_eq!(rounds, [38, 38], "{uid:?}");
            assert_eq!(spawn["process_limit"], "pid_max", "{uid:?}");
            assert!(spawn["layers"].as_array().expect("layers").iter().any(|l| l == "pid_max"));
        } else {
            assert_eq!(rounds.len(), 2, "{uid:?}");
            assert!(rounds.iter().all(|&n| n > 0 && n <= 38), "{uid:?}: {rounds:?}");
        }
    }
}

/// A loopback HTTP server standing in for a host: answers every request
/// with `ok PORT`, and counts the connections it accepted.
fn stand_in_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let body = format!("ok {port}");
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (port, accepted)
}

/// The egress proxy of `run`, as root and as an unprivileged user: hosts
/// the policies allow are reached through it, by HTTP, CONNECT and SOCKS5;
/// a deny answers 403 naming the rule; a wildcard never reaches loopback;
/// a TLS client naming another server is cut off; and the command reaches
/// nothing directly (an allowed port on 127.0.0.1, IPv6, UDP, a client
/// that ignores the proxy variables).
#[test]
fn the_egress_proxy_judges_every_connection_by_host() {
    let (allowed, allowed_hits) = stand_in_server();
    let (denied, denied_hits) = stand_in_server();
    let (wild, wild_hits) = stand_in_server();
    for uid in users() {
        let place = AsUser::new("vtpolicy-egress", uid);
        let (root, ws) = (place.root.clone(), place.ws.clone());
        std::fs::write(
            root.join("egress.vtp"),
            format!(
                "version 1\npolicy \"egress\"\nextend \"workspace-write\"\n\
                 allow net \"localhost\" port {allowed}\n    id \"dev-server\"\n\
                 deny net \"localhost\" port {denied}\n    id \"no-admin\"\n    because \"the admin port stays closed\"\n\
                 allow net \"*\" port {wild}\n    id \"any-host\"\n"
            ),
        )
        .expect("policy");
        let script = format!(
            r#"import os, socket, ssl, sys, urllib.request, urllib.error
def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return "%d %s" % (r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        return "%d %s" % (e.code, e.read().decode().strip())
    except Exception as e:
        return "error %s" % type(e).__name__
def proxy():
    s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
    return s
def body(s):
    # Everything until the server closes: a reply may come in pieces.
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode().split("\r\n\r\n")[-1]
        data += chunk
def connect(host, port):
    s = proxy()
    s.sendall(("CONNECT %s:%d HTTP/1.1\r\nHost: x\r\n\r\n" % (host, port)).encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += s.recv(1)
    return s, head.decode().split("\r\n")[0]
def direct(family, address):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(3)
        s.connect(address)
        return "CONNECTED"
    except OSError as e:
        return "refused"
print("http-allowed", fetch("http://localhost:{allowed}/"))
print("http-denied", fetch("http://localhost:{denied}/"))
print("http-wildcard-loopback", fetch("http://127.0.0.1:{wild}/"))
print("http-numeric-loopback", fetch("http://2130706433:{wild}/"))
s, line = connect("localhost", {allowed})
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("connect-allowed", line, body(s))
s, line = connect("localhost", {allowed})
try:
    ssl.create_default_context().wrap_socket(s, server_hostname="other.example")
    print("sni-mismatch", "HANDSHAKE")
except (OSError, ssl.SSLError):
    print("sni-mismatch", "cut off")
s = proxy()
s.sendall(b"\x05\x01\x00")
s.recv(2)
s.sendall(b"\x05\x01\x00\x03" + bytes([9]) + b"localhost" + ({allowed}).to_bytes(2, "big"))
reply = s.recv(10)
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
print("socks-allowed", reply[1], body(s))
s = proxy()
s.sendall(b"\x05\x01\x00")
s.recv(2)
s.sendall(b"\x05\x01\x00\x03" + bytes([9]) + b"localhost" + ({denied}).to_bytes(2, "big"))
print("socks-denied", s.recv(10)[1])
print("direct-allowed-port", direct(socket.AF_INET, ("127.0.0.1", {allowed})))
print("direct-ipv6", direct(socket.AF_INET6, ("::1", {allowed})))
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"x", ("127.0.0.1", 53))
    print("udp", "SENT")
except OSError:
    print("udp", "refused")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
try:
    opener.open("http://localhost:{allowed}/", timeout=5)
    print("no-proxy", "CONNECTED")
except Exception:
    print("no-proxy", "refused")
print("env", os.environ.get("HTTPS_PROXY"), os.environ.get("no_proxy") == "")
"#
        );
        std::fs::write(ws.join("egress.py"), script).expect("script");
        place.hand_over();
        let events = root.join("events.jsonl");
        let mut command = place.vtpolicy();
        command.args(["run", "--yes", "--policy"]).arg(root.join("egress.vtp")).arg("--events").arg(&events).args([
            "--",
            "/usr/bin/python3",
            "egress.py",
        ]);
        let (allowed_before, denied_before, wild_before) = (
            allowed_hits.load(std::sync::atomic::Ordering::SeqCst),
            denied_hits.load(std::sync::atomic::Ordering::SeqCst),
            wild_hits.load(std::sync::atomic::Ordering::SeqCst),
        );
        let out = command.output().expect("vtpolicy runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{uid:?}: {stdout}{stderr}");
        let proxy_only = "the egress proxy reaches loopback, private and link-local addresses only through an allow rule naming the host itself";
        let expected = format!(
            "http-allowed 200 ok {allowed}\n\
             http-denied 403 vtpolicy: connection to localhost:{denied} refused: `net localhost:{denied}`: the admin port stays closed (rule no-admin)\n\
             http-wildcard-loopback 403 vtpolicy: connection to 127.0.0.1:{wild} refused: `net 127.0.0.1:{wild}`: {proxy_only} (rule any-host)\n\
             http-numeric-loopback 403 vtpolicy: connection to 2130706433:{wild} refused: `net 127.0.0.1:{wild}`: {proxy_only} (rule any-host)\n\
             connect-allowed HTTP/1.1 200 Connection established ok {allowed}\n\
             sni-mismatch cut off\n\
             socks-allowed 0 ok {allowed}\n\
             socks-denied 2\n\
             direct-allowed-port refused\n\
             direct-ipv6 refused\n\
             udp refused\n\
             no-proxy refused\n\
             env http://127.0.0.1:3128 True\n"
        );
        assert_eq!(stdout, expected, "{uid:?}: {stderr}");
        // `explain` says the same of these hosts when judging sandboxed.
        for (host, port) in [("127.0.0.1", wild), ("localhost", wild), ("localhost", allowed)] {
            let request = format!(r#"{{"kind": "net", "host": "{host}", "port": {port}, "sandboxed": true}}"#);
            let explained = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
                .args(["explain", "--format", "json", "--request", "-", "--policy"])
                .arg(root.join("egress.vtp"))
                .current_dir(&ws)
                .env("HOME", &root)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write as _;
                    child.stdin.take().expect("stdin").write_all(request.as_bytes())?;
                    child.wait_with_output()
                })
                .expect("explain runs");
            let explained: serde_json::Value = serde_json::from_slice(&explained.stdout).expect("json");
            let refused = port != allowed;
            assert_eq!(explained["decision"], if refused { "deny" } else { "allow" }, "{host}:{port}");
            assert_eq!(explained["parts"][0]["kernel_refusal"], refused, "{host}:{port}");
        }
        // The servers saw the allowed connections only: plain, CONNECT,
        // SOCKS5, and the tunnel whose TLS was cut off before any byte.
        let hits = |counter: &std::sync::atomic::AtomicUsize, before: usize| {
            counter.load(std::sync::atomic::Ordering::SeqCst) - before
        };
        assert_eq!(hits(&allowed_hits, allowed_before), 4, "{uid:?}");
        assert_eq!(hits(&denied_hits, denied_before), 0, "{uid:?}");
        assert_eq!(hits(&wild_hits, wild_before), 0, "{uid:?}");
        let lines = std::fs::read_to_string(&events).expect("events");
        let mut connections = Vec::new();
        for line in lines.lines() {
            vtpolicy_runtime::events::validate_event(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let event: serde_json::Value = serde_json::from_str(line).expect("json");
            if event["event"] == "connection" {
                connections.push(event);
            }
        }
        assert_eq!(connections.len(), 8, "{uid:?}: {lines}");
        let sni = connections
            .iter()
            .find(|c| c["refused"].as_str().is_some_and(|r| r.contains("asked for `other.example`")))
            .unwrap_or_else(|| panic!("no SNI refusal: {lines}"));
        assert_eq!((sni["allowed"].as_bool(), sni["protocol"].as_str()), (Some(false), Some("connect")));
        let denied_event = connections.iter().find(|c| c["port"] == denied && c["protocol"] == "http").expect("denied");
        assert_eq!(denied_event["rules"], serde_json::json!(["no-admin"]));
        assert_eq!(denied_event["effect"], "deny");
        let spawn = lines.lines().find(|l| l.contains("\"spawn\"")).expect("spawn");
        assert!(spawn.contains("\"egress_proxy\"") && spawn.contains("\"network_namespace\""), "{spawn}");
    }
}

/// The usual tools reach what the policy allows through the egress proxy
/// without being told: curl, git, npm, pip and Python's urllib fetch over
/// https (a `CONNECT` tunnel whose TLS names the host) from a loopback
/// stand-in registry, as root and as an unprivileged user.
#[test]
fn the_usual_tools_go_through_the_egress_proxy() {
    use std::io::BufRead as _;
    let dir = tempfile::Builder::new().prefix("vtpolicy-tools").tempdir_in("/var/tmp").expect("tempdir");
    let served = dir.path().canonicalize().expect("canonical").join("served");
    std::fs::create_dir_all(served.join("simple/demo")).expect("dirs");
    std::fs::write(served.join("hello.txt"), "hello through the proxy\n").expect("file");
    // npm: a packument; pip: a simple index with a wheel; git: a bare
    // repository served the dumb-http way.
    std::fs::write(
        served.join("demo-pkg"),
        r#"{"name":"demo-pkg","dist-tags":{"latest":"1.2.3"},"versions":{"1.2.3":{"name":"demo-pkg","version":"1.2.3","dist":{"tarball":"http://localhost/x.tgz","shasum":"0"}}}}"#,
    )
    .expect("packument");
    let wheel = "demo-1.0-py3-none-any.whl";
    let made = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(format!(
            "import zipfile\nz = zipfile.ZipFile('{}', 'w')\n\
             z.writestr('demo/__init__.py', '')\n\
             z.writestr('demo-1.0.dist-info/METADATA', 'Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\n')\n\
             z.writestr('demo-1.0.dist-info/WHEEL', 'Wheel-Version: 1.0\\nGenerator: t\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')\n\
             z.writestr('demo-1.0.dist-info/RECORD', '')\nz.close()\n",
            served.join("simple/demo").join(wheel).display()
        ))
        .status()
        .expect("python3");
    assert!(made.success());
    std::fs::write(served.join("simple/demo/index.html"), format!("<a href=\"{wheel}\">{wheel}</a>\n")).expect("index");
    let git = |args: &[&str], cwd: &Path| {
        let status = Command::new("git").args(args).current_dir(cwd).env("HOME", dir.path()).status().expect("git");
        assert!(status.success(), "git {args:?}");
    };
    let source = dir.path().join("source");
    std::fs::create_dir_all(&source).expect("source");
    git(&["init", "-q", "-b", "main", "."], &source);
    std::fs::write(source.join("README"), "served\n").expect("readme");
    git(&["add", "README"], &source);
    git(&["-c", "user.email=a@example.org", "-c", "user.name=a", "commit", "-qm", "one"], &source);
    git(
        &["clone", "-q", "--bare", source.to_str().expect("utf-8"), served.join("repo.git").to_str().expect("utf-8")],
        dir.path(),
    );
    git(&["update-server-info"], &served.join("repo.git"));
    // A certificate for `localhost`, which the clients are told to trust
    // (not `.pem`: the stock policy keeps those from being read).
    let certificate = dir.path().join("ca.crt");
    let key = dir.path().join("key");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success());
    let serve = format!(
        "import functools, http.server, ssl\n\
         context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
         context.load_cert_chain('{}', '{}')\n\
         handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='{}')\n\
         server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)\n\
         server.socket = context.wrap_socket(server.socket, server_side=True)\n\
         print('serving on port', server.server_address[1], flush=True)\n\
         server.serve_forever()\n",
        certificate.display(),
        key.display(),
        served.display()
    );
    let mut server = Command::new("/usr/bin/python3")
        .args(["-c", &serve])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("http.server");
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("the server's line");
    let port: u16 = line
        .split(" port ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    for uid in users() {
        let place = AsUser::new("vtpolicy-tools-run", uid);
        let (root, ws) = (place.root.clone(), place.ws.clone());
        let policy = root.join("tools.vtp");
        std::fs::write(
            &policy,
            format!("version 1\npolicy \"tools\"\nextend \"workspace-write\"\nallow net \"localhost\" port {port}\n    id \"stand-in\"\n"),
        )
        .expect("policy");
        std::fs::copy(&certificate, ws.join("ca.crt")).expect("certificate");
        place.hand_over();
        let base = format!("https://localhost:{port}");
        let text = format!(
            "set -e\n\
             curl -sS --cacert ca.crt {base}/hello.txt\n\
             git -c http.sslCAInfo=ca.crt clone -q {base}/repo.git \"$TMPDIR/clone\" && cat \"$TMPDIR/clone/README\"\n\
             npm_config_cache=\"$TMPDIR/npm\" npm_config_cafile=ca.crt npm view demo-pkg version --registry {base}/ 2>/dev/null\n\
             /usr/bin/python3 -m pip download -q --no-cache-dir --no-deps --disable-pip-version-check \
                 --cert ca.crt --index-url {base}/simple/ -d wheels demo==1.0 && ls wheels\n\
             /usr/bin/python3 -c 'import ssl, urllib.request; c = ssl.create_default_context(cafile=\"ca.crt\"); \
                 print(urllib.request.urlopen(\"{base}/hello.txt\", context=c).read().decode().strip())'\n"
        );
        let mut command = place.vtpolicy();
        command
            .args(["run", "--yes", "--events"])
            .arg(root.join("events.jsonl"))
            .arg("--policy")
            .arg(&policy)
            .args(["-c", &text])
            .env("PATH", "/usr/bin:/bin");
        let out = command.output().expect("vtpolicy runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{uid:?}: {stderr}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("hello through the proxy\nserved\n1.2.3\n{wheel}\nhello through the proxy\n"),
            "{uid:?}: {stderr}"
        );
        // Every one of them asked the proxy.
        let events = std::fs::read_to_string(root.join("events.jsonl")).expect("events");
        let through: Vec<serde_json::Value> = events
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
            .filter(|e| e["event"] == "connection" && e["allowed"] == true && e["port"] == port)
            .collect();
        assert!(through.len() >= 5, "{uid:?}: {events}");
        assert!(through.iter().all(|c| c["protocol"] == "connect"), "{uid:?}: {events}");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// `when running`: a net rule that holds only for the run of the command
/// it names, as root and as an unprivileged user; `check` refuses it on
/// any other kind of rule.
#[test]
fn net_rules_scoped_to_a_command_hold_only_for_its_run() {
    let (port, hits) = stand_in_server();
    for uid in users() {
        let place = AsUser::new("vtpolicy-scoped", uid);
        let (root, ws) = (place.root.clone(), place.ws.clone());
        let policy = root.join("scoped.vtp");
        std::fs::write(
            &policy,
            format!(
                "version 1\npolicy \"scoped\"\nextend \"workspace-write\"\n\
                 allow net \"localhost\" port {port}\n    id \"fetch-only\"\n    when running python3 fetch.py ..\n"
            ),
        )
        .expect("policy");
        let script = "import sys, urllib.request, urllib.error\n\
            try:\n\
            \x20   print(urllib.request.urlopen(sys.argv[1], timeout=10).status)\n\
            except urllib.error.HTTPError as e:\n\
            \x20   print(e.code)\n";
        for name in ["fetch.py", "other.py"] {
            std::fs::write(ws.join(name), script).expect("script");
        }
        place.hand_over();
        let url = format!("http://localhost:{port}/");
        let run = |script: &str| {
            let mut command = place.vtpolicy();
            command.args(["run", "--yes", "--events", "/dev/null", "--policy"]).arg(&policy).args([
                "--",
                "/usr/bin/python3",
                script,
                &url,
            ]);
            let out = command.output().expect("vtpolicy runs");
            assert_eq!(out.status.code(), Some(0), "{uid:?}: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let before = hits.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(run("fetch.py"), "200", "{uid:?}");
        assert_eq!(run("other.py"), "403", "{uid:?}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst) - before, 1, "{uid:?}");
    }
    let (_guard, dir) = workdir();
    std::fs::write(dir.join("bad.vtp"), "version 1\nallow write \"/tmp/**\"\n    when running npm ci ..\n")
        .expect("policy");
    let out = vtpolicy(&dir, &["check", "bad.vtp"], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("error[VT017]: `when running` scopes net rules on hosts only"), "{}", out.stdout);
}

/// A policy file inside the workspace loses only what is its own and
/// looser: its allow rules, a default looser than the one it replaces, a
/// raised limit, names added to `env keep`. The stock policy it extends
/// keeps its allows, so everyday commands still run; a policy that grants
/// nothing to execute is refused in one line before anything runs.
#[test]
fn a_workspace_policy_tightens_without_losing_what_it_extends() {
    let (_guard, dir) = workdir();
    std::fs::write(
        dir.join("agent.vtp"),
        "version 1\npolicy \"agent\"\nextend \"workspace-write\"\ndefault allow\ndefault write allow\n\
         allow exec curl ..\ndeny exec git push ..\n    id \"no-push\"\n\
         limits { processes 100000 }\nenv keep [\"PATH\", \"AWS_PROFILE\"]\n",
    )
    .expect("policy");
    let explain = |request: &str| {
        let out =
            vtpolicy(&dir, &["explain", "--format", "json", "--policy", "agent.vtp", "--request", "-"], Some(request));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let value: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        (value["decision"].as_str().unwrap_or_default().to_owned(), out.stderr)
    };
    let (decision, stderr) = explain(r#"{"kind": "exec", "argv": ["ls", "-la"]}"#);
    assert_eq!(decision, "allow", "the stock allows are kept: {stderr}");
    for warning in [
        "warning[VT104]: `default allow` is ignored",
        "warning[VT104]: `default write allow` is ignored",
        "warning[VT104]: allow rule `agent:6` is ignored",
        "warning[VT104]: raising `processes` is ignored",
        "warning[VT104]: 1 name(s) added to `env keep` are ignored",
    ] {
        assert!(stderr.contains(warning), "{warning}: {stderr}");
    }
    assert_eq!(explain(r#"{"kind": "write", "path": "/etc/passwd"}"#).0, "deny");
    assert_eq!(explain(r#"{"kind": "exec", "argv": ["curl", "https://example.com"]}"#).0, "prompt");
    assert_eq!(explain(r#"{"kind": "exec", "argv": ["git", "push", "origin", "main"]}"#).0, "deny");
    assert_eq!(explain(r#"{"kind": "exec", "argv": ["terraform", "apply"]}"#).0, "prompt");
    // As written (`check`), the file is what it says.
    let out = vtpolicy(&dir, &["check", "agent.vtp"], None);
    assert!(!out.stdout.contains("VT104"), "{}", out.stdout);
    // It runs, with the stock limits and environment.
    let ws = dir.to_str().expect("utf-8");
    let events = dir.parent().expect("parent").join("events.jsonl");
    let out = run_detached(
        &dir,
        &["run", "--policy", "agent.vtp", "--workspace", ws, "--events", events.to_str().expect("utf-8"), "--", "ls"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    // A policy that grants nothing to execute: one line, nothing run.
    std::fs::write(
        dir.parent().expect("parent").join("deny-only.vtp"),
        "version 1\ndefault read deny\ndeny exec sudo ..\n",
    )
    .expect("policy");
    let deny_only = dir.parent().expect("parent").join("deny-only.vtp");
    let out = run_detached(
        &dir,
        &[
            "run",
            "--policy",
            "workspace-write",
            "--policy",
            deny_only.to_str().expect("utf-8"),
            "--workspace",
            ws,
            "--events",
            events.to_str().expect("utf-8"),
            "--",
            "ls",
        ],
    );
    assert_eq!(out.code, 125, "{}", out.stderr);
    assert!(out.stderr.contains("grants no right to execute `"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

#[test]
fn run_names_a_program_of_shell_text_the_sandbox_will_not_execute() {
    let (_guard, dir) = workdir();
    let ws = dir.to_str().expect("utf-8");
    // Bash and its libraries may be executed; `/usr/bin/true` may not.
    let narrow = dir.parent().expect("parent").join("narrow.vtp");
    std::fs::write(
        &narrow,
        "version 1\ndefault read deny\nallow read \"/usr/lib/**\", \"/lib/**\", \"/lib64/**\", \"/usr/lib64/**\", \"/etc/**\", \"/proc/**\", \"/dev/**\", \"/usr/share/**\", \"/usr/bin/bash\", \"/bin/bash\"\n",
    )
    .expect("policy");
    let events = dir.parent().expect("parent").join("events.jsonl");
    let args = |text: &'static str| {
        vec![
            "run".to_owned(),
            "--policy".to_owned(),
            "workspace-write".to_owned(),
            "--policy".to_owned(),
            narrow.display().to_string(),
            "--workspace".to_owned(),
            ws.to_owned(),
            "--events".to_owned(),
            events.display().to_string(),
            "-c".to_owned(),
            text.to_owned(),
        ]
    };
    let run = |text: &'static str| {
        let args = args(text);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_detached(&dir, &args)
    };
    // The text handles the failure, so the run goes on; the warning says
    // which program and which policy, once.
    let out = run("/usr/bin/true || echo refused; /usr/bin/true || echo again");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "refused\nagain\n", "{}", out.stderr);
    let warning = "vtpolicy: warning: `/usr/bin/true` is `/usr/bin/true`, which the policy `narrow` grants no right to execute in the sandbox";
    assert_eq!(out.stderr.matches(warning).count(), 1, "{}", out.stderr);
    // A builtin and bash itself are not named.
    let out = run("true; echo fine");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
}

#[test]
fn run_refuses_a_workspace_that_is_the_root_the_home_or_missing() {
    let (_guard, dir) = workdir();
    let home = dir.parent().expect("parent").join("home");
    for (workspace, says) in [
        ("/", "system-wide directory"),
        ("/tmp", "system-wide directory"),
        (home.to_str().expect("utf-8"), "holds the home directory"),
        (dir.parent().expect("parent").to_str().expect("utf-8"), "holds the home directory"),
        ("/nonexistent/ws", "does not exist"),
    ] {
        let out = run_detached(
            &dir,
            &[
                "run",
                "--policy",
                "workspace-write",
                "--workspace",
                workspace,
                "--yes",
                "--events",
                "/dev/null",
                "--",
                "true",
            ],
        );
        assert_eq!(out.code, 125, "{workspace}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{workspace}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    }
    // With no --workspace, started from the home directory.
    let out =
        run_detached(&home, &["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "true"]);
    assert_eq!(out.code, 125, "{}", out.stderr);
}

/// `run -c` executes the text with bash, the shell whose grammar judged
/// it: what dash would read as a second command is an argument to bash.
#[test]
fn run_c_executes_the_text_in_the_shell_that_judged_it() {
    let (_guard, dir) = workdir();
    let text = r"echo $'a\' ; touch ran-in-dash #'";
    let out = run_detached(&dir, &["run", "--policy", "workspace-write", "--events", "/dev/null", "-c", text]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "a' ; touch ran-in-dash #\n"), "{}", out.stderr);
    assert!(!dir.join("ran-in-dash").exists());
    // The same text for sh inside a command is not judged as bash reads it.
    let out =
        vtpolicy(&dir, &["explain", "--policy", "workspace-write", "--format", "json", "--", "sh", "-c", text], None);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["decision"], "prompt", "{}", out.stdout);
    assert!(out.stdout.contains("read it differently"), "{}", out.stdout);
}

/// `net unix` rules: a policy allows a named socket outside the workspace,
/// `explain` judges the request kind, and `run` lets exactly that socket
/// through while refusing another one in the same directory.
#[test]
fn net_unix_rules_allow_named_sockets() {
    let dir = tempfile::Builder::new().prefix("vtpolicy-unix").tempdir_in("/var/tmp").expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    let sockets = root.join("sockets");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::create_dir_all(&sockets).expect("sockets");
    let allowed = sockets.join("docker.sock");
    let other = sockets.join("agent.sock");
    let policy = root.join("policy.vtp");
    std::fs::write(
        &policy,
        format!(
            "version 1\npolicy \"docker\"\nextend \"workspace-write\"\nallow read \"{dir}/**\"\nallow net unix \"{allowed}\"\n    id \"docker-socket\"\n\ntest {{\n    net unix \"{allowed}\" => allow\n    net unix \"{other}\" => prompt\n}}\n",
            dir = sockets.display(),
            allowed = allowed.display(),
            other = other.display()
        ),
    )
    .expect("policy");
    let policy_arg = policy.to_str().expect("utf-8");
    let check = vtpolicy(&ws, &["check", policy_arg], None);
    assert_eq!(check.code, 0, "{}{}", check.stdout, check.stderr);
    let request = format!("{{\"kind\": \"net\", \"unix\": \"{}\"}}", allowed.display());
    let out = vtpolicy(&ws, &["explain", "--policy", policy_arg, "--format", "json", "--request", "-"], Some(&request));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(json["decision"], "allow", "{}", out.stdout);
    assert_eq!(json["matched"][0]["id"], "docker-socket", "{}", out.stdout);

    let _allowed_listener = std::os::unix::net::UnixListener::bind(&allowed).expect("bind");
    let _other_listener = std::os::unix::net::UnixListener::bind(&other).expect("bind");
    let script = ws.join("probe.py");
    std::fs::write(
        &script,
        format!(
            "import socket\nfor path in [{allowed:?}, {other:?}]:\n    s = socket.socket(socket.AF_UNIX)\n    try:\n        s.connect(path); print('connected')\n    except OSError as e: print(e.errno)\n",
            allowed = allowed.display().to_string(),
            other = other.display().to_string()
        ),
    )
    .expect("script");
    let out = run_detached(
        &ws,
        &[
            "run",
            "--policy",
            policy_arg,
            "--yes",
            "--events",
            "/dev/null",
            "--",
            "python3",
            script.to_str().expect("utf-8"),
        ],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "connected\n13\n"), "{}", out.stderr);
    assert!(out.stderr.contains("refused a connection to unix socket"), "{}", out.stderr);
}

/// With git metadata read-only, everyday git still works inside the
/// sandbox: commit, checkout, stash, rebase and worktree add, as root and
/// as an unprivileged user.
#[test]
fn git_works_inside_the_sandbox_with_its_metadata_protected() {
    let users = if nix::unistd::geteuid().is_root() { vec![None, Some(65534u32)] } else { vec![None] };
    for uid in users {
        let dir = tempfile::Builder::new().prefix("vtpolicy-git").tempdir_in("/var/tmp").expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let ws = root.join("ws");
        std::fs::create_dir_all(&ws).expect("ws");
        let git = |args: &[&str]| {
            let status = Command::new("git").args(args).current_dir(&ws).env("HOME", &root).status().expect("git");
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q", "-b", "main", "."]);
        git(&["config", "user.email", "a@example.org"]);
        git(&["config", "user.name", "a"]);
        std::fs::write(ws.join("a"), "a\n").expect("write");
        git(&["add", "a"]);
        git(&["commit", "-qm", "init"]);
        let script = "set -e\n\
            echo b >> a && git commit -qam two\n\
            git checkout -q -b feature && echo c > c && git add c && git commit -qm three\n\
            git checkout -q main && echo x >> a && git stash -q && git stash pop -q && git checkout -q -- a\n\
            git rebase -q feature\n\
            git worktree add -q linked\n\
            git log --oneline | wc -l\n";
        std::fs::write(ws.join("git.sh"), script).expect("script");
        let binary = root.join("vtpolicy");
        std::fs::copy(env!("CARGO_BIN_EXE_vtpolicy"), &binary).expect("copy the binary");
        if let Some(uid) = uid {
            let status =
                Command::new("chown").args(["-R", &format!("{uid}:{uid}")]).arg(&root).status().expect("chown");
            assert!(status.success());
        }
        let mut command = Command::new(&binary);
        command
            .args(["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "sh", "git.sh"])
            .current_dir(&ws)
            .env("HOME", &root)
            .stdin(Stdio::null());
        if let Some(uid) = uid {
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, uid);
        }
        let out = command.output().expect("vtpolicy runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{uid:?}: {stderr}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "3\n", "{uid:?}: {stderr}");
        assert!(ws.join("linked/c").exists(), "the linked worktree was not made");
        // The metadata stayed as it was: no hook, the config untouched.
        assert!(!ws.join(".git/hooks/pre-commit").exists());
    }
}

/// A run whose vtpolicy is killed leaves a journal; `sandbox recover`
/// (and the next run) finishes it: what it created where writes are denied
/// is moved into the quarantine, its temporary directory removed.
#[test]
fn a_killed_run_is_finished_by_sandbox_recover() {
    let dir = tempfile::Builder::new().prefix("vtpolicy-crash").tempdir_in("/var/tmp").expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::write(ws.join("plant.sh"), "mkdir .vscode && echo '{}' > .vscode/tasks.json && sleep 60\n")
        .expect("script");
    let state = root.join("state");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
        .args(["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "sh", "plant.sh"])
        .current_dir(&ws)
        .env("HOME", &root)
        .env("XDG_STATE_HOME", &state)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("vtpolicy runs");
    let planted = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        ws.join(".vscode/tasks.json").exists()
    });
    assert!(planted, "the command never ran");
    let journals = state.join("vtpolicy/runs");
    let journal = std::fs::read_dir(&journals).expect("journal dir").flatten().next().expect("a journal").path();
    let text = std::fs::read_to_string(&journal).expect("journal");
    let tmp: serde_json::Value = serde_json::from_str(&text).expect("json");
    let tmp = std::path::PathBuf::from(tmp["tmp"].as_str().expect("tmp"));
    assert!(tmp.exists());
    let status = Command::new("/bin/kill").args(["-KILL", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    child.wait().expect("reaped");
    let recover = || {
        Command::new(env!("CARGO_BIN_EXE_vtpolicy"))
            .args(["sandbox", "recover"])
            .env("HOME", &root)
            .env("XDG_STATE_HOME", &state)
            .output()
            .expect("recover runs")
    };
    let recovered = recover();
    let stdout = String::from_utf8_lossy(&recovered.stdout);
    assert!(recovered.status.success(), "{stdout}");
    assert!(stdout.contains("moved `") && stdout.contains(".vscode"), "{stdout}");
    assert!(!ws.join(".vscode").exists(), "the planted directory stayed");
    assert!(!tmp.exists(), "the run's temporary directory stayed");
    assert!(!journal.exists(), "the journal stayed");
    assert_eq!(String::from_utf8_lossy(&recover().stdout), "no run to recover\n");
}

/// Searches of the workspace are remembered between runs, and a denied
/// file that appears between two runs is hidden in the second all the same.
#[test]
fn a_remembered_search_still_hides_a_new_denied_file() {
    let dir = tempfile::Builder::new().prefix("vtpolicy-walks").tempdir_in("/var/tmp").expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    let deep = ws.join("node_modules/dep/lib/deep");
    std::fs::create_dir_all(&deep).expect("mkdir");
    std::fs::create_dir_all(root.join("home")).expect("home");
    std::fs::write(deep.join("index.js"), "module.exports = 1\n").expect("write");
    std::fs::write(ws.join("read.sh"), "cat node_modules/dep/lib/deep/.env\n").expect("script");
    let run = || {
        run_detached(
            &ws,
            &["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "sh", "read.sh"],
        )
    };
    // The first run fills the cache; its directories are too young to be
    // trusted, so the run after the pause lists them again, and the
    // cache then holds settled directories.
    assert_ne!(run().code, 0, "nothing to read yet");
    std::thread::sleep(std::time::Duration::from_millis(3100));
    assert_ne!(run().code, 0, "nothing to read yet");
    let walks = root.join("home/.local/state/vtpolicy/walks");
    assert_eq!(std::fs::read_dir(&walks).expect("the cache exists").count(), 1);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    std::fs::write(deep.join(".env"), "TOKEN=secret\n").expect("write");
    let out = run();
    // Covered by an empty file: `cat` reads nothing.
    assert_eq!(out.stdout, "", "the new .env was readable");
    // Control: the same script reads an ordinary file.
    std::fs::write(ws.join("read.sh"), "cat node_modules/dep/lib/deep/index.js\n").expect("script");
    let out = run();
    assert_eq!((out.code, out.stdout.as_str()), (0, "module.exports = 1\n"), "{}", out.stderr);
}

/// vtpolicy's state directory (approvals, journals, quarantine, walk
/// cache) is never writable by the command, even under a policy that
/// grants the whole home directory.
#[test]
fn the_state_directory_is_read_only_for_the_command() {
    let dir = tempfile::Builder::new().prefix("vtpolicy-state").tempdir_in("/var/tmp").expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    let state = root.join("home/.local/state/vtpolicy");
    std::fs::create_dir_all(&ws).expect("ws");
    std::fs::create_dir_all(&state).expect("state");
    std::fs::write(
        root.join("home-writer.vtp"),
        "version 1\npolicy \"home-writer\"\ndefault allow\ndefault write deny\n\
         allow write \"${home}/**\", \"${workspace}/**\", \"${tmp}/**\", \"/dev/null\"\n",
    )
    .expect("policy");
    let script = format!(
        "echo ok > {home}/granted.txt; echo forged > {state}/forged; mkdir {state}/runs/x",
        home = root.join("home").display(),
        state = state.display()
    );
    std::fs::write(ws.join("write.sh"), script).expect("script");
    let policy = root.join("home-writer.vtp");
    let out = run_detached(
        &ws,
        &["run", "--policy", policy.to_str().expect("utf-8"), "--yes", "--events", "/dev/null", "--", "sh", "write.sh"],
    );
    assert!(root.join("home/granted.txt").exists(), "the policy grants the home directory: {}", out.stderr);
    assert!(!state.join("forged").exists(), "the state directory was written");
    assert!(!state.join("runs/x").exists(), "the state directory was written");
    assert_ne!(out.code, 0);
}

/// The judged file is executed under the name it was called by: a program
/// reached through a symlink sees the symlink's name as `argv[0]`.
#[test]
fn run_keeps_the_name_the_program_was_called_by() {
    let (_guard, dir) = workdir();
    std::os::unix::fs::symlink("/usr/bin/python3", dir.join("py")).expect("symlink");
    let code = "import sys; print(open('/proc/self/cmdline').read().split(chr(0))[0])";
    let out = run_detached(
        &dir,
        &["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "--", "./py", "-c", code],
    );
    assert_eq!((out.code, out.stdout.as_str()), (0, "./py\n"), "{}", out.stderr);
}

/// Without a sandbox nothing is protected, so nothing is quarantined: a
/// `danger-full-access` run leaves the repositories it finds alone.
#[test]
fn an_unsandboxed_run_leaves_repositories_alone() {
    let (_guard, dir) = workdir();
    for repo in [".git", "vendor/lib/.git"] {
        std::fs::create_dir_all(dir.join(repo).join("hooks")).expect("mkdir");
        std::fs::write(dir.join(repo).join("config"), "[core]\n").expect("write");
    }
    let out = run_detached(&dir, &["run", "--policy", "danger-full-access", "--events", "/dev/null", "--", "true"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dir.join(".git/config").exists() && dir.join("vendor/lib/.git/config").exists());
}

/// A repository the command makes with git (`git init`, a commit) stays
/// in the workspace; one whose new metadata would run code (a hook) is
/// moved to the quarantine and the run fails.
#[test]
fn a_repository_git_makes_during_the_run_stays_and_a_planted_one_does_not() {
    let (_guard, dir) = workdir();
    let commit = "git init -q proj && cd proj && echo hi > f && git add f \
                  && git -c user.email=a@b.c -c user.name=A commit -qm first && git log --format=%s";
    let run = |text: &str| {
        run_detached(&dir, &["run", "--policy", "workspace-write", "--yes", "--events", "/dev/null", "-c", text])
    };
    let out = run(commit);
    assert_eq!((out.code, out.stdout.as_str()), (0, "first\n"), "{}", out.stderr);
    assert!(dir.join("proj/.git/HEAD").exists(), "the repository was moved: {}", out.stderr);
    // The write is inside a script, where the judge does not see it.
    let plant = "git init -q other && printf '#!/bin/sh\\ntouch /tmp/x\\n' > other/.git/hooks/post-checkout\n";
    std::fs::write(dir.join("plant.sh"), plant).expect("script");
    let planted = run("sh plant.sh");
    assert_eq!(planted.code, 126, "{}", planted.stderr);
    assert!(
        planted.stderr.contains("created the repository `") && planted.stderr.contains("other/.git`; moved it to `"),
        "{}",
        planted.stderr
    );
    assert!(!dir.join("other/.git").exists(), "the planted repository stayed");
}
