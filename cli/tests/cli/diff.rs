//! `vtpolicy diff`: verdicts, exit codes, formats, and witnesses that
//! `explain` decides as reported, on generated policy pairs.

use std::path::Path;

use serde_json::Value;

use super::{vtpolicy, workdir};

/// Where the tests' policies live: beside the workspace, not in it (a
/// policy inside the workspace loses its allow rules).
fn policies(dir: &Path) -> std::path::PathBuf {
    let policies = dir.parent().expect("a parent").join("policies");
    std::fs::create_dir_all(&policies).expect("policies");
    policies
}

/// Rules the generated policies draw from: every kind of request, and
/// patterns that overlap (a deny inside an allow, a subdomain, a port).
const RULES: &[&str] = &[
    "allow exec git ..",
    "allow exec git status ..",
    "deny exec git push --force ..",
    "prompt exec git push ..",
    "allow exec cargo [build | test] ..",
    "deny exec rm -rf ..",
    "allow exec ls ..",
    "allow exec \"/usr/bin/*\" --version",
    "allow read \"${workspace}/**\"",
    "deny read \"${workspace}/.env\"",
    "allow write \"${workspace}/src/**\"",
    "prompt write \"${workspace}/**\"",
    "deny write \"**/.git/hooks/**\"",
    "allow read \"/etc/*.conf\"",
    "allow net \"github.com\" port 443",
    "allow net \"*.github.com\"",
    "deny net \"169.254.169.254\"",
    "allow net \"crates.io\" port 443, 8000-8080",
    "allow net unix \"${workspace}/**\"",
    "prompt tool \"mcp__*\"",
    "deny tool \"mcp__*__delete_*\"",
    "allow tool \"TodoWrite\"",
];

const DEFAULTS: &[&str] = &["", "default prompt", "default deny", "default read allow", "default exec allow"];

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

fn policy(rng: &mut Rng) -> String {
    let mut text = String::from("version 1\n");
    text.push_str(DEFAULTS[rng.below(DEFAULTS.len())]);
    text.push('\n');
    for rule in RULES {
        if rng.below(2) == 0 {
            text.push_str(rule);
            text.push('\n');
        }
    }
    text
}

/// A change of `base`: some rules dropped, some added, the default maybe
/// changed.
fn changed(base: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    for _ in 0..1 + rng.below(3) {
        match rng.below(3) {
            0 if lines.len() > 2 => {
                let index = 2 + rng.below(lines.len() - 2);
                lines.remove(index);
            }
            1 => lines[1] = DEFAULTS[rng.below(DEFAULTS.len())].to_owned(),
            _ => lines.push(RULES[rng.below(RULES.len())].to_owned()),
        }
    }
    lines.join("\n") + "\n"
}

fn diff_json(dir: &Path, old: &str, new: &str) -> (i32, Value) {
    let out = vtpolicy(dir, &["diff", "--format", "json", old, new], None);
    assert!(out.code == 0 || out.code == 1, "diff {old} {new}: exit {}: {}", out.code, out.stderr);
    let value: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    (out.code, value)
}

fn explained(dir: &Path, policy: &str, request: &Value) -> String {
    let file = dir.join("witness.json");
    std::fs::write(&file, request.to_string()).expect("witness");
    let out = vtpolicy(dir, &["explain", "--format", "json", "--policy", policy, "--request", "witness.json"], None);
    assert_eq!(out.code, 0, "explain {request}: {}", out.stderr);
    let value: Value = serde_json::from_str(&out.stdout).expect("explain json");
    value["decision"].as_str().expect("a decision").to_owned()
}

fn verdict(value: &Value) -> &str {
    value["verdict"].as_str().expect("a verdict")
}

#[test]
fn witnesses_hold_under_explain_on_generated_pairs() {
    let (_guard, dir) = workdir();
    let at = policies(&dir);
    let (old_path, new_path) = (at.join("old.vtp").display().to_string(), at.join("new.vtp").display().to_string());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut verdicts = std::collections::BTreeMap::new();
    let mut checked = 0;
    for pair in 0..10 {
        let old = policy(&mut rng);
        let new = changed(&old, &mut rng);
        std::fs::write(&old_path, &old).expect("old");
        std::fs::write(&new_path, &new).expect("new");
        let (code, value) = diff_json(&dir, &old_path, &new_path);
        let witnesses = value["witnesses"].as_array().expect("witnesses");
        // The exit code and the verdict follow from the witnesses.
        assert_eq!(code == 0, witnesses.is_empty(), "pair {pair}");
        let more = witnesses.iter().any(|w| w["change"] == "more-permissive");
        let less = witnesses.iter().any(|w| w["change"] == "less-permissive");
        let expected = match (more, less) {
            (false, false) => "equivalent",
            (true, false) => "more-permissive",
            (false, true) => "less-permissive",
            (true, true) => "incomparable",
        };
        assert_eq!(verdict(&value), expected, "pair {pair}:\n{old}\n---\n{new}");
        *verdicts.entry(expected.to_owned()).or_insert(0) += 1;
        for witness in witnesses {
            let request = &witness["request"];
            assert_eq!(explained(&dir, &old_path, request), witness["old"]["decision"], "pair {pair}, {request}");
            assert_eq!(explained(&dir, &new_path, request), witness["new"]["decision"], "pair {pair}, {request}");
            checked += 1;
        }
        // The other way round, every change turns around.
        let (_, reversed) = diff_json(&dir, &new_path, &old_path);
        let flipped = match expected {
            "more-permissive" => "less-permissive",
            "less-permissive" => "more-permissive",
            other => other,
        };
        assert_eq!(verdict(&reversed), flipped, "pair {pair} reversed");
    }
    assert!(checked >= 20, "only {checked} witnesses checked");
    assert!(verdicts.len() >= 3, "the pairs cover too few verdicts: {verdicts:?}");
}

#[test]
fn known_changes_get_their_verdict() {
    let (_guard, dir) = workdir();
    let at = policies(&dir);
    let path = |name: &str| at.join(name).display().to_string();
    let write = |name: &str, text: &str| std::fs::write(path(name), format!("version 1\n{text}\n")).expect("policy");
    write("base.vtp", "default prompt\nallow exec git ..\ndeny exec git push --force ..");
    write("reordered.vtp", "deny exec git push --force ..\nallow exec git ..\ndefault prompt");
    write("wider.vtp", "default prompt\nallow exec git ..\nallow exec ls ..\ndeny exec git push --force ..");
    write("narrower.vtp", "default prompt\nallow exec git ..\ndeny exec git push ..");
    write("both.vtp", "default prompt\nallow exec git status ..\nallow exec ls ..\ndeny exec git push --force ..");

    let (code, value) = diff_json(&dir, &path("base.vtp"), &path("reordered.vtp"));
    assert_eq!((code, verdict(&value)), (0, "equivalent"));
    assert_eq!(value["witnesses"], Value::Array(Vec::new()));

    let (code, value) = diff_json(&dir, &path("base.vtp"), &path("wider.vtp"));
    assert_eq!((code, verdict(&value)), (1, "more-permissive"));
    let witness = &value["witnesses"][0];
    assert_eq!(witness["request"]["argv"][0], "ls");
    assert_eq!(witness["old"]["decision"], "prompt");
    assert_eq!(witness["old"]["rules"], Value::Array(Vec::new()));
    assert_eq!(witness["new"]["decision"], "allow");

    let (code, value) = diff_json(&dir, &path("base.vtp"), &path("narrower.vtp"));
    assert_eq!((code, verdict(&value)), (1, "less-permissive"));
    let argv: Vec<&str> =
        value["witnesses"][0]["request"]["argv"].as_array().expect("argv").iter().filter_map(Value::as_str).collect();
    assert_eq!(argv[..2], ["git", "push"]);

    let (code, value) = diff_json(&dir, &path("base.vtp"), &path("both.vtp"));
    assert_eq!((code, verdict(&value)), (1, "incomparable"));

    // A deny at any depth meets a workspace allow inside the workspace.
    write("tree.vtp", "default prompt\nallow read \"${workspace}/**\"");
    write("tree-env.vtp", "default prompt\nallow read \"${workspace}/**\"\ndeny read \"**/.env\"");
    let (code, value) = diff_json(&dir, &path("tree.vtp"), &path("tree-env.vtp"));
    assert_eq!((code, verdict(&value)), (1, "less-permissive"));
    let inside = value["witnesses"].as_array().expect("witnesses").iter().any(|w| {
        w["request"]["path"] == dir.join(".env").display().to_string()
            && w["old"]["decision"] == "allow"
            && w["new"]["decision"] == "deny"
    });
    assert!(inside, "{value}");

    // Stock policies and several policies per side.
    let base = path("base.vtp");
    let out = vtpolicy(&dir, &["diff", "--old", "workspace-write", "--new", "workspace-write", "--new", &base], None);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.starts_with("verdict: less-permissive"), "{}", out.stdout);
}

#[test]
fn diff_reports_for_ci_and_fails_closed_on_bad_input() {
    let (_guard, dir) = workdir();
    let at = policies(&dir);
    let (old, new) = (at.join("old.vtp").display().to_string(), at.join("new.vtp").display().to_string());
    std::fs::write(&old, "version 1\ndefault prompt\n").expect("old");
    std::fs::write(&new, "version 1\ndefault prompt\nallow exec ls ..\ndeny read \"/etc/**\"\n").expect("new");
    let sarif = vtpolicy(&dir, &["diff", "--format", "sarif", &old, &new], None);
    assert_eq!(sarif.code, 1);
    let log: Value = serde_json::from_str(&sarif.stdout).expect("sarif json");
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().expect("results");
    let ids: Vec<&str> = results.iter().filter_map(|r| r["ruleId"].as_str()).collect();
    assert!(ids.contains(&"more-permissive") && ids.contains(&"less-permissive"), "{ids:?}");
    for result in results {
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].as_str().expect("a uri");
        assert!(uri.ends_with("new.vtp"), "{uri}");
        assert!(result["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(3));
    }

    let github = vtpolicy(&dir, &["diff", "--format", "github", &old, &new], None);
    assert_eq!(github.code, 1);
    let lines: Vec<&str> = github.stdout.lines().collect();
    assert_eq!(lines.len(), results.len());
    assert!(lines.iter().any(|l| l.starts_with("::warning file=") && l.contains("line=3")), "{lines:?}");
    assert!(lines.iter().any(|l| l.starts_with("::notice file=") && l.contains("line=4")), "{lines:?}");

    let human = vtpolicy(&dir, &["diff", &old, &new], None);
    assert!(human.stdout.contains("more permissive: exec ls"), "{}", human.stdout);
    assert!(human.stdout.contains("old: prompt by the default"), "{}", human.stdout);

    // A side that does not compile, or a missing one, exits 2 and says so.
    let broken_path = at.join("broken.vtp").display().to_string();
    std::fs::write(&broken_path, "version 1\nallow exec\n").expect("broken");
    let broken = vtpolicy(&dir, &["diff", &old, &broken_path], None);
    assert_eq!(broken.code, 2);
    assert!(broken.stderr.contains("the new side does not compile"), "{}", broken.stderr);
    // One closing line: the loader's own "nothing was judged" is not added.
    assert_eq!(broken.stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{}", broken.stderr);
    assert!(broken.stdout.is_empty());
    let missing = vtpolicy(&dir, &["diff", "--old", &old], None);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("give both sides"), "{}", missing.stderr);
}
