//! Parser behaviour on whole files: accepted syntax, error reporting, and the
//! formatter round trip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use vtpolicy_grammar::{ArgPattern, Item, SourceFile, Target, format, parse};

const SKETCH: &str = r#"version 1
policy "workspace-write"
default prompt
default read deny   # trailing
default unanalysable deny

# filesystem
allow read        "/usr/**", "/bin/**",
                  "/etc/**"
allow read, write "${workspace}/**", "${tmp}/**"
deny  read        "~/.ssh/**", "**/.env"
                  because "credentials stay out of the agent's reach"

allow  exec git [status | diff | log] ..
deny   exec git push .. [--force | -f | --force-with-lease] ..   id "no-force-push"
                                                                because "rewrites shared history"
deny   exec rm [-r | -R | --recursive] .. "/" ..
allow  exec dd "of=/dev/*" *
allow net "crates.io", "*.crates.io" port 443, 8000-9000
prompt tool "mcp__*"
limits { cpu 300s  memory 4GiB
   processes 512 }
env    keep ["PATH", "LANG",
   "LC_*"]
trusted_bin "/usr/bin"
extend "read-only"
test "force push is denied"  { exec git push --force origin main => deny }
test {
    read "~/.ssh/id_rsa" => deny
    shell "ls | wc" => allow
    net "crates.io" port 443 => allow
    tool "mcp__x" => prompt
}
"#;

fn parse_text(text: &str) -> (vtpolicy_grammar::PolicyFile, Vec<String>) {
    let source = SourceFile::new("test.vtp", text);
    let (file, diagnostics) = parse(&source);
    (file, diagnostics.iter().map(|d| d.render()).collect())
}

#[test]
fn sketch_parses_without_errors() {
    let (file, errors) = parse_text(SKETCH);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(file.items.len(), 20);
    let rules: Vec<_> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Rule(rule) => Some(rule),
            _ => None,
        })
        .collect();
    let force = rules.iter().find(|r| r.id.is_some()).expect("rule with id");
    assert_eq!(force.id.as_ref().map(|i| i.node.as_str()), Some("no-force-push"));
    assert_eq!(force.because.as_ref().map(|i| i.node.as_str()), Some("rewrites shared history"));
    let Target::Argv(args) = &force.target else { panic!("argv expected") };
    assert_eq!(args[2].node, ArgPattern::Rest);
    assert_eq!(
        args[3].node,
        ArgPattern::Alternatives(vec!["--force".into(), "-f".into(), "--force-with-lease".into()])
    );
    assert_eq!(file.comments.len(), 2);
}

#[test]
fn format_round_trips_the_sketch() {
    let (file, _) = parse_text(SKETCH);
    let formatted = format(&file);
    let (mut again, errors) = parse_text(&formatted);
    assert!(errors.is_empty(), "{formatted}\n{errors:#?}");
    assert_eq!(format(&again), formatted, "formatting is idempotent");
    let mut original = file.clone();
    original.erase_spans();
    again.erase_spans();
    assert_eq!(original.items, again.items);
    insta::assert_snapshot!(formatted);
}

#[test]
fn every_broken_statement_is_reported() {
    let text = "version 1\nallow exec\ndefault maybe\nallow read \"/a\" port 3\ndeny net \"x\" port 99999\nallow read \"\\q\"\n";
    let (file, errors) = parse_text(text);
    insta::assert_snapshot!(errors.join("\n"));
    assert_eq!(errors.len(), 5);
    assert_eq!(file.items.len(), 3, "statements after an error are still read");
}

#[test]
fn nul_bytes_are_rejected() {
    let (_, errors) = parse_text("version 1\0\n");
    assert_eq!(errors.len(), 1);
}
