//! The stock `workspace-write` exported to Claude Code settings and Codex
//! rules, and imported back: the agents' own rules never allow a call the
//! policy does not, and the rules that translate decide as they did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;

use vtpolicy_conformance::accuracy;
use vtpolicy_engine::Effect;

#[test]
fn exported_rules_round_trip_without_allowing_more() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("accuracy");
    let entries = accuracy::load(&dir).expect("the corpus parses");
    let trips = accuracy::round_trip(&dir, &entries).expect("exported and imported");
    assert_eq!(trips.len(), 2);
    for trip in &trips {
        assert!(trip.judged > entries.len(), "{}: {} requests", trip.target, trip.judged);
        assert!(
            trip.escalations.is_empty(),
            "{}: the imported rules allow {} call(s) the policy does not:\n  {}",
            trip.target,
            trip.escalations.len(),
            trip.escalations.join("\n  ")
        );
        // Most decisions come back unchanged; the rest are denials that
        // became prompts (what did not translate falls to the default).
        assert!(trip.same * 2 > trip.judged, "{}: {} of {} unchanged", trip.target, trip.same, trip.judged);
        // The request named `name`, or ending in it after its kind.
        let decided = |name: &str| {
            let (kind, rest) = name.split_once(' ').unwrap_or(("", name));
            trip.named
                .iter()
                .find(|(n, _, _)| n == name || (n.starts_with(kind) && n.ends_with(rest) && !kind.is_empty()))
                .map(|(_, a, b)| (*a, *b))
                .unwrap_or_else(|| panic!("{}: no request `{name}`", trip.target))
        };
        for (name, effect) in [("git push origin main", Effect::Prompt), ("npm publish", Effect::Prompt)] {
            assert_eq!(decided(name), (effect, effect), "{}: {name}", trip.target);
        }
        // Codex rules are about commands only: imported back, the reads
        // `ls` makes fall to the default, where Codex itself runs it.
        if trip.target == "claude-settings" {
            for (name, effect) in [
                ("ls -lah src tests", Effect::Allow),
                ("read /home/.ssh/id_rsa", Effect::Deny),
                ("write /ws/.git/config", Effect::Deny),
                ("write /ws/src/main.rs", Effect::Allow),
                ("read /etc/hosts", Effect::Allow),
                ("tool TodoWrite", Effect::Allow),
                ("net 169.254.169.254:443", Effect::Deny),
            ] {
                let (before, after) = decided(name);
                assert_eq!((before, after), (effect, effect), "claude-settings: {name}");
            }
            let settings: serde_json::Value = serde_json::from_str(&trip.exported).expect("json");
            for list in ["allow", "ask", "deny"] {
                assert!(settings["permissions"][list].as_array().is_some_and(|l| !l.is_empty()), "{list} is empty");
            }
        }
    }
}
