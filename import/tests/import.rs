//! Importers on the fixtures of `conformance/imports/`: the `.vtp` they
//! write (snapshots), that it compiles cleanly, and that it decides as the
//! source tool documents (Claude: deny, then ask, then allow; Codex: the
//! strictest matching rule).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use vtpolicy_compiler::{Context, StockOnly, compile};
use vtpolicy_engine::{Arg, Effect, Engine, ExecRequest, Program, Request};
use vtpolicy_grammar::SourceFile;
use vtpolicy_import::{claude, codex, vtcode};

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../conformance/imports/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn engine(policy: &str) -> Engine {
    let context = Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() };
    let (compiled, diagnostics) = compile(&SourceFile::new("imported.vtp", policy), &context, &StockOnly);
    let errors: Vec<String> = diagnostics.iter().filter(|d| d.is_error()).map(|d| d.render()).collect();
    assert!(errors.is_empty(), "{}\n{policy}", errors.join("\n"));
    // As an agent hook judges: not sandboxed.
    Engine::new(vec![compiled.expect("compiles").policy.unsandboxed()]).expect("graph")
}

fn exec(command: &str) -> Request {
    let words: Vec<&str> = command.split_whitespace().collect();
    Request::Exec(ExecRequest {
        program: Program::trusted_name(words[0]),
        args: words[1..].iter().map(|w| Arg::Known((*w).to_owned())).collect(),
        open_tail: false,
        long_forms: Default::default(),
        implied_options: Vec::new(),
    })
}

fn check(engine: &Engine, cases: &[(Request, Effect)]) {
    for (request, expected) in cases {
        assert_eq!(engine.decide(request).effect, *expected, "{request:?}");
    }
}

#[test]
fn claude_settings() {
    let imported = claude::import(&fixture("claude/settings.json"), "settings.json").expect("imports");
    insta::assert_snapshot!("claude_settings", imported.policy);
    assert_eq!(imported.untranslated.len(), 2, "{:?}", imported.untranslated);
    let engine = engine(&imported.policy);
    let read = |p: &str| Request::Read { path: p.to_owned() };
    let write = |p: &str| Request::Write { path: p.to_owned() };
    check(
        &engine,
        &[
            // Deny beats ask beats allow.
            (exec("git push origin main --force"), Effect::Deny),
            (exec("git push origin main"), Effect::Prompt),
            (exec("git fetch origin main"), Effect::Prompt),
            (exec("curl https://example.com"), Effect::Deny),
            // `test:*` is a string prefix; `git status` exact.
            (exec("npm run test:unit"), Effect::Allow),
            (exec("npm run testing"), Effect::Allow),
            (exec("npm run build"), Effect::Prompt),
            (exec("git status"), Effect::Allow),
            (exec("git status -s"), Effect::Prompt),
            (exec("git diff HEAD~1"), Effect::Allow),
            (read("/h/.ssh/id_rsa"), Effect::Deny),
            (read("/w/.env"), Effect::Deny),
            (read("/w/certs/deep/server.pem"), Effect::Deny),
            (read("/h/.zshrc"), Effect::Allow),
            (read("/w/src/main.rs"), Effect::Allow),
            (write("/etc/hosts"), Effect::Deny),
            // acceptEdits: workspace edits pass.
            (write("/w/README.md"), Effect::Allow),
            (Request::Net { host: "github.com".into(), port: 443 }, Effect::Allow),
            (Request::Net { host: "example.com".into(), port: 443 }, Effect::Prompt),
            (Request::Tool { name: "mcp__filesystem__read_file".into() }, Effect::Allow),
            (Request::Tool { name: "mcp__github__get_issue".into() }, Effect::Allow),
            (Request::Tool { name: "mcp__github__create_issue".into() }, Effect::Prompt),
        ],
    );
}

#[test]
fn codex_rules() {
    let imported = codex::import(&fixture("codex/default.rules"), "default.rules").expect("imports");
    insta::assert_snapshot!("codex_rules", imported.policy);
    // host_executable and the loop are listed, with their lines.
    assert_eq!(imported.untranslated.len(), 2, "{:?}", imported.untranslated);
    assert!(imported.untranslated.iter().any(|u| u.starts_with("default.rules:30")), "{:?}", imported.untranslated);
    let engine = engine(&imported.policy);
    check(
        &engine,
        &[
            (exec("git reset --hard HEAD"), Effect::Deny),
            (exec("git reset --keep"), Effect::Prompt),
            (exec("git push origin main"), Effect::Prompt),
            (exec("jj push"), Effect::Prompt),
            (exec("git status --short"), Effect::Allow),
            (exec("cargo build --release"), Effect::Allow),
            (exec("cargo publish"), Effect::Prompt),
            (Request::Net { host: "crates.io".into(), port: 443 }, Effect::Allow),
            (Request::Net { host: "evil.example".into(), port: 80 }, Effect::Deny),
        ],
    );
}

#[test]
fn codex_inline_examples_become_tests() {
    let imported = codex::import(&fixture("codex/default.rules"), "default.rules").expect("imports");
    assert!(
        imported.policy.contains("test \"codex examples\" {\n    exec git reset --hard => deny\n"),
        "{}",
        imported.policy
    );
    assert!(imported.policy.contains("    exec cargo publish => prompt\n"));
}

#[test]
fn malformed_sources_are_errors_not_panics() {
    assert!(claude::import("{", "x.json").is_err());
    assert!(claude::import("[]", "x.json").is_err());
    // Settings without `permissions` (hooks or env only) ask for everything.
    let imported = claude::import("{}", "x.json").expect("an empty policy");
    assert_eq!(imported.untranslated.len(), 1, "{:?}", imported.untranslated);
    let imported =
        codex::import("prefix_rule(pattern = [\"a\", 3])\nprefix_rule(\n", "x.rules").expect("reads what it can");
    assert_eq!(imported.untranslated.len(), 2, "{:?}", imported.untranslated);
}

#[test]
fn vtcode_tool_policy() {
    let imported = vtcode::import(&fixture("vtcode/tool-policy.json"), "tool-policy.json").expect("imports");
    insta::assert_snapshot!("vtcode_tool_policy", imported.policy);
    assert_eq!(imported.untranslated.len(), 4, "{:?}", imported.untranslated);
    let engine = engine(&imported.policy);
    let tool = |name: &str| Request::Tool { name: name.to_owned() };
    check(
        &engine,
        &[
            (exec("make -j4"), Effect::Allow),
            (tool("memory"), Effect::Allow),
            (tool("web_fetch"), Effect::Prompt),
            (tool("delete_file"), Effect::Deny),
            (tool("mcp__github__create_issue"), Effect::Prompt),
            (tool("mcp__github__delete_repo"), Effect::Deny),
            (tool("mcp__context7__search_docs"), Effect::Allow),
            (tool("something_new"), Effect::Prompt),
            (Request::Net { host: "169.254.169.254".into(), port: 80 }, Effect::Deny),
        ],
    );
}

#[test]
fn vtcode_config() {
    let imported = vtcode::import(&fixture("vtcode/vtcode.toml"), "vtcode.toml").expect("imports");
    insta::assert_snapshot!("vtcode_config", imported.policy);
    assert_eq!(imported.untranslated.len(), 2, "{:?}", imported.untranslated);
    let engine = engine(&imported.policy);
    let net = |host: &str, port: u16| Request::Net { host: host.to_owned(), port };
    check(
        &engine,
        &[
            // [permissions] deny beats the command allow-lists and the stock prompt.
            (exec("git push origin main"), Effect::Deny),
            (exec("git status"), Effect::Allow),
            (exec("sudo ls"), Effect::Deny),
            (exec("docker run alpine"), Effect::Deny),
            (exec("kubectl get pods"), Effect::Deny),
            (exec("npm run build"), Effect::Allow),
            (exec("cargo test --workspace"), Effect::Allow),
            (exec("terraform apply"), Effect::Prompt),
            // The stock policy it extends still holds.
            (exec("git push --force"), Effect::Deny),
            (Request::Read { path: "/h/.ssh/id_rsa".into() }, Effect::Deny),
            (Request::Read { path: "/h/.config/secret/token".into() }, Effect::Deny),
            (Request::Write { path: "/w/src/main.rs".into() }, Effect::Prompt),
            (net("api.github.com", 443), Effect::Allow),
            (net("api.github.com", 80), Effect::Deny),
            (net("registry.npmjs.org", 8080), Effect::Allow),
            (net("example.com", 443), Effect::Deny),
            (Request::Tool { name: "apply_patch".into() }, Effect::Prompt),
            (Request::Tool { name: "some_tool".into() }, Effect::Deny),
        ],
    );
}

/// Every import is printed by the formatter: its text is already in
/// formatted form, and parses without a diagnostic, hostile names and
/// tokens included.
#[test]
fn imports_are_formatted_and_parse_back() {
    let hostile = r#"{"permissions": {"allow": ["Bash(make \"a,b\")", "Bash(echo a?b#c)", "Bash(git log --format=%H)",
        "Read(~/x y/**)", "WebFetch(domain:ex\"ample.com)", "mcp__s__t"], "deny": ["Bash(rm -rf /)"]}}"#;
    let imports = [
        claude::import(&fixture("claude/settings.json"), "settings.json"),
        claude::import(hostile, "hostile.json"),
        codex::import(&fixture("codex/default.rules"), "default.rules"),
        codex::import(
            "prefix_rule(pattern = [\"a\\\"b\", [\"x y\", \"#z\"]], justification = \"it's \\\"so\\\"\")\n",
            "q.rules",
        ),
        vtcode::import(&fixture("vtcode/tool-policy.json"), "tool-policy.json"),
        vtcode::import(&fixture("vtcode/vtcode.toml"), "vtcode.toml"),
    ];
    for imported in imports {
        let policy = imported.expect("imports").policy;
        let source = SourceFile::new("imported.vtp", policy.as_str());
        let (file, diagnostics) = vtpolicy_grammar::parse(&source);
        assert!(diagnostics.is_empty(), "{policy}\n{diagnostics:?}");
        assert_eq!(vtpolicy_grammar::format(&file), policy, "not in formatted form");
    }
}
