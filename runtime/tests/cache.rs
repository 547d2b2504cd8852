//! Compiled policies remembered between processes: an entry is used only
//! when everything it came from is unchanged, and a broken one is rebuilt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

use vtpolicy_compiler::{CompiledPolicy, Context};
use vtpolicy_runtime::Layering;
use vtpolicy_runtime::cache::load_policies;

struct Dirs {
    _root: tempfile::TempDir,
    cache: PathBuf,
    policies: PathBuf,
    context: Context,
}

fn dirs() -> Dirs {
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().canonicalize().expect("canonical");
    for dir in ["ws", "home", "cache", "policies"] {
        std::fs::create_dir_all(base.join(dir)).expect("mkdir");
    }
    let s = |p: &str| base.join(p).to_string_lossy().into_owned();
    let context = Context { workspace: s("ws"), home: s("home"), tmp: s("tmp"), cwd: s("ws") };
    Dirs { cache: base.join("cache"), policies: base.join("policies"), context, _root: root }
}

fn load(dirs: &Dirs, specs: &[&str]) -> Vec<CompiledPolicy> {
    let specs: Vec<String> = specs.iter().map(|s| (*s).to_owned()).collect();
    let (compiled, diagnostics) = load_policies(&specs, &dirs.context, Layering::Enforce, Some(&dirs.cache));
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    compiled.expect("the policies compile")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect()
}

fn because(compiled: &[CompiledPolicy], id: &str) -> String {
    compiled
        .iter()
        .flat_map(|c| &c.policy.rules)
        .find(|r| &*r.id == id)
        .and_then(|r| r.because.as_deref().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn an_entry_is_read_back_whole() {
    let dirs = dirs();
    let first = load(&dirs, &["workspace-write"]);
    let [entry] = entries(&dirs.cache).try_into().expect("one entry");
    // Read from the entry, the policies are the ones compiled, with their
    // sources and settings.
    let second = load(&dirs, &["workspace-write"]);
    assert_eq!(first.len(), second.len());
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(a.policy, b.policy);
        assert_eq!(a.settings, b.settings);
        let locations = |c: &CompiledPolicy| c.sources.iter().map(|s| s.location()).collect::<Vec<_>>();
        assert_eq!(locations(a), locations(b));
    }
    // And it is the entry that answered: an edit of it shows.
    let text = std::fs::read_to_string(&entry).expect("entry");
    std::fs::write(&entry, text.replace("rewrites shared history", "read from the entry")).expect("edit");
    assert_eq!(because(&load(&dirs, &["workspace-write"]), "no-force-push"), "read from the entry");
}

#[test]
fn a_changed_extended_file_rebuilds_the_entry() {
    let dirs = dirs();
    let base = dirs.policies.join("base.vtp");
    let top = dirs.policies.join("top.vtp");
    std::fs::write(&base, "version 1\ndeny exec rm .. id \"no-rm\" because \"first\"\n").expect("base");
    std::fs::write(&top, "version 1\nextend \"base.vtp\"\nallow exec ls ..\n").expect("top");
    let spec = top.to_str().expect("utf-8");
    assert_eq!(because(&load(&dirs, &[spec]), "no-rm"), "first");
    std::fs::write(&base, "version 1\ndeny exec rm .. id \"no-rm\" because \"second\"\n").expect("base");
    assert_eq!(because(&load(&dirs, &[spec]), "no-rm"), "second");
    // A different context (another workspace) is another entry.
    let mut other = dirs.context.clone();
    other.cwd.push_str("/sub");
    let (compiled, _) = load_policies(&[spec.to_owned()], &other, Layering::Enforce, Some(&dirs.cache));
    assert!(compiled.is_some());
    assert_eq!(entries(&dirs.cache).len(), 2);
}

#[test]
fn a_broken_entry_is_ignored_and_rebuilt() {
    let dirs = dirs();
    let first = load(&dirs, &["read-only"]);
    let [entry] = entries(&dirs.cache).try_into().expect("one entry");
    for garbage in ["", "{", "{\"key\": 1}", "null"] {
        std::fs::write(&entry, garbage).expect("corrupt");
        assert_eq!(load(&dirs, &["read-only"])[0].policy, first[0].policy, "after `{garbage}`");
        assert!(std::fs::read_to_string(&entry).expect("rewritten").len() > 100, "rebuilt after `{garbage}`");
    }
}

#[test]
fn policies_with_diagnostics_are_not_remembered() {
    let dirs = dirs();
    // Inside the workspace, its allow rule is dropped with a warning.
    let policy = Path::new(&dirs.context.workspace).join("agent.vtp");
    std::fs::write(&policy, "version 1\nallow exec ls ..\n").expect("policy");
    let spec = vec![policy.to_string_lossy().into_owned()];
    for _ in 0..2 {
        let (compiled, diagnostics) = load_policies(&spec, &dirs.context, Layering::Enforce, Some(&dirs.cache));
        assert!(compiled.is_some());
        assert_eq!(diagnostics.len(), 1, "the warning every time: {diagnostics:?}");
    }
    assert!(entries(&dirs.cache).is_empty());
    // Nor are policies that do not compile.
    std::fs::write(&policy, "version 1\nallow exec\n").expect("policy");
    let (compiled, _) = load_policies(&spec, &dirs.context, Layering::Enforce, Some(&dirs.cache));
    assert!(compiled.is_none());
    assert!(entries(&dirs.cache).is_empty());
}

#[test]
fn concurrent_writers_and_readers_see_whole_entries() {
    let dirs = std::sync::Arc::new(dirs());
    let expected = load(&dirs, &["workspace-write"])[0].policy.clone();
    let entry = entries(&dirs.cache).pop().expect("an entry");
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let dirs = std::sync::Arc::clone(&dirs);
            let entry = entry.clone();
            let expected = expected.clone();
            std::thread::spawn(move || {
                for round in 0..25 {
                    // Half the rounds force a rewrite while others read.
                    if (thread + round) % 2 == 0 {
                        let _ = std::fs::remove_file(&entry);
                    }
                    assert_eq!(load(&dirs, &["workspace-write"])[0].policy, expected);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread failed");
    }
    assert_eq!(entries(&dirs.cache).len(), 1, "no staged file is left behind");
}

/// The policies of `specs` compiled afresh, without any entry.
fn uncached(context: &Context, specs: &[String]) -> Vec<CompiledPolicy> {
    load_policies(specs, context, Layering::Enforce, None).0.expect("the policies compile")
}

#[test]
fn calls_with_their_own_tmp_share_one_entry_and_keep_their_tmp() {
    let dirs = dirs();
    let policy = dirs.policies.join("scratch.vtp");
    std::fs::write(&policy, "version 1\nextend \"workspace-write\"\nallow write \"${tmp}/out/**\"\n").expect("policy");
    let specs = vec![policy.to_string_lossy().into_owned()];
    for tmp in ["/tmp/vtpolicy-run-aB3_x.1", "/var/tmp/other-run"] {
        let context = Context { tmp: tmp.to_owned(), ..dirs.context.clone() };
        let (compiled, diagnostics) = load_policies(&specs, &context, Layering::Enforce, Some(&dirs.cache));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let compiled = compiled.expect("compiles");
        let fresh = uncached(&context, &specs);
        for (a, b) in compiled.iter().zip(&fresh) {
            assert_eq!(a.policy, b.policy, "with ${{tmp}} = {tmp}");
        }
        let json = serde_json::to_string(&compiled[0].policy).expect("json");
        assert!(json.contains(&format!("{tmp}/out/**")), "{json}");
    }
    assert_eq!(entries(&dirs.cache).len(), 1, "one entry serves every tmp");
}

#[test]
fn a_tmp_with_other_characters_or_a_policy_naming_the_placeholder_is_compiled_as_is() {
    let dirs = dirs();
    let policy = dirs.policies.join("odd.vtp");
    std::fs::write(&policy, "version 1\nallow write \"${tmp}/**\"\ndeny read \"/vtpolicy-cached-tmp-7a3f0c91/**\"\n")
        .expect("policy");
    let specs = vec![policy.to_string_lossy().into_owned()];
    for tmp in ["/tmp/with space", "/tmp/plain"] {
        let context = Context { tmp: tmp.to_owned(), ..dirs.context.clone() };
        for _ in 0..2 {
            let (compiled, _) = load_policies(&specs, &context, Layering::Enforce, Some(&dirs.cache));
            assert_eq!(compiled.expect("compiles")[0].policy, uncached(&context, &specs)[0].policy, "{tmp}");
        }
    }
}
