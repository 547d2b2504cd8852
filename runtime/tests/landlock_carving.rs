//! Carving denied paths out of granted trees, checked on generated
//! temporary trees under the stock `workspace-write` policy: no rule grants
//! a denied path (nor the right to create or replace it), and every path
//! the policy allows stays reachable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use vtpolicy_compiler::Context;
use vtpolicy_compiler::profile::landlock::{FileKind, FsAccess, PathRule, WriteDenies};
use vtpolicy_engine::PathPatternSet;
use vtpolicy_runtime::sandbox::KernelProfiles;
use vtpolicy_runtime::{Layering, load_policy};

const NAMES: &[&str] = &[".git", "hooks", "config", ".env", "src", "a", "id_rsa", "x.pem", ".vscode", "lib.rs"];

/// Rights that create, remove or replace entries of a directory.
const ENTRY_RIGHTS: &[FsAccess] = &[
    FsAccess::MakeReg,
    FsAccess::MakeDir,
    FsAccess::MakeSym,
    FsAccess::RemoveFile,
    FsAccess::RemoveDir,
    FsAccess::Refer,
];

fn is_within(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

fn rights(rules: &[PathRule], path: &str) -> BTreeSet<FsAccess> {
    rules
        .iter()
        .filter(|r| r.path == path || (r.kind == FileKind::Dir && is_within(path, &r.path)))
        .flat_map(|r| r.access.iter().copied())
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<(String, bool)>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().expect("type").is_dir();
        out.push((path.to_str().expect("utf-8").to_owned(), is_dir));
        if is_dir {
            walk(&path, out);
        }
    }
}

fn check_tree(paths: &[Vec<usize>]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let ws = root.join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    for path in paths {
        let mut current = ws.clone();
        for (i, name) in path.iter().enumerate() {
            current.push(NAMES[*name % NAMES.len()]);
            if i + 1 < path.len() {
                if current.is_file() {
                    break;
                }
                std::fs::create_dir_all(&current).expect("mkdir");
            } else if !current.exists() {
                std::fs::write(&current, "x").expect("write");
            }
        }
    }
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let context = Context { workspace: s(&ws), home: s(&root.join("home")), tmp: s(&root.join("tmp")), cwd: s(&ws) };
    let (compiled, diagnostics) = load_policy("workspace-write", &context, Layering::Enforce);
    let compiled = compiled.ok_or_else(|| TestCaseError::fail(format!("{diagnostics:?}")))?;
    let profiles = KernelProfiles::compile_with(&[&compiled], &context, WriteDenies::Carve)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let ruleset = profiles.landlock.as_ref().ok_or_else(|| TestCaseError::fail("no ruleset"))?;
    let rules: Vec<PathRule> = ruleset.layers.iter().flat_map(|l| l.rules.iter().cloned()).collect();
    let patterns = |globs: &[vtpolicy_compiler::profile::model::PathGlob]| -> PathPatternSet {
        PathPatternSet::new(globs.iter().map(|g| g.glob.as_str())).expect("valid globs")
    };
    let read_denies = patterns(&profiles.model.read_denies);
    let write_denies = patterns(&profiles.model.write_denies);

    let mut all = vec![(s(&ws), true)];
    walk(&ws, &mut all);
    for (path, is_dir) in &all {
        let granted = rights(&rules, path);
        let read_denied = read_denies.first_match(path).is_some();
        let write_denied = write_denies.first_match(path).is_some();
        if read_denied && !is_dir {
            prop_assert!(
                !granted.contains(&FsAccess::ReadFile) && !granted.contains(&FsAccess::Execute),
                "{path} readable"
            );
        }
        if write_denied {
            prop_assert!(
                !granted.contains(&FsAccess::WriteFile) && !granted.contains(&FsAccess::Truncate),
                "{path} writable"
            );
            if *is_dir {
                for right in ENTRY_RIGHTS {
                    prop_assert!(!granted.contains(right), "{path} grants {right:?} inside a denied directory");
                }
            }
            let parent = Path::new(path).parent().map(s).unwrap_or_default();
            for right in ENTRY_RIGHTS {
                prop_assert!(
                    !rights(&rules, &parent).contains(right),
                    "{parent} grants {right:?}: {path} can be replaced"
                );
            }
        }
        // What the policy allows stays reachable.
        if !read_denied {
            let needed = if *is_dir { FsAccess::ReadDir } else { FsAccess::ReadFile };
            prop_assert!(granted.contains(&needed), "{path} lost {needed:?}");
        }
        if !write_denied && !is_dir {
            prop_assert!(granted.contains(&FsAccess::WriteFile), "{path} lost write");
        }
    }
    // A denied path that does not exist cannot be created.
    for absent in [".vscode", ".mcp.json", ".claude"] {
        if !ws.join(absent).exists() {
            for right in [FsAccess::MakeReg, FsAccess::MakeDir, FsAccess::MakeSym] {
                prop_assert!(!rights(&rules, &s(&ws)).contains(&right), "{absent} creatable");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn carving_never_grants_a_denied_path(paths in prop::collection::vec(prop::collection::vec(0usize..NAMES.len(), 1..5), 0..24)) {
        check_tree(&paths)?;
    }
}

#[test]
fn a_typical_repository_is_carved_precisely() {
    let paths: Vec<Vec<usize>> = vec![
        vec![0, 1, 2],    // .git/hooks/config (a file named config in hooks)
        vec![0, 2],       // .git/config
        vec![3],          // .env
        vec![4, 9],       // src/lib.rs
        vec![4, 5, 3],    // src/a/.env
        vec![4, 5, 7],    // src/a/x.pem
        vec![5, 0, 1, 9], // a/.git/hooks/lib.rs (a nested repository)
    ];
    check_tree(&paths).expect("holds");
}

/// A policy that leaves reads free still has its read denies enforced: the
/// whole file system is granted except them.
#[test]
fn read_denies_hold_when_reads_are_otherwise_free() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
    for d in ["ws/src", "home/.ssh", "home/docs"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("home/.ssh/id_rsa"), "KEY").expect("write");
    let policy = root.join("p.vtp");
    std::fs::write(
        &policy,
        "version 1\ndefault allow\ndefault write deny\nallow write \"${workspace}/**\"\ndeny read \"${home}/.ssh/**\"\n",
    )
    .expect("write");
    let context = Context {
        workspace: s(&root.join("ws")),
        home: s(&root.join("home")),
        tmp: s(&root.join("tmp")),
        cwd: s(&root.join("ws")),
    };
    let (compiled, diagnostics) = load_policy(&s(&policy), &context, Layering::AsWritten);
    let compiled = compiled.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let profiles = KernelProfiles::compile_with(&[&compiled], &context, WriteDenies::Carve).expect("profiles");
    let rules: Vec<PathRule> =
        profiles.landlock.expect("ruleset").layers.iter().flat_map(|l| l.rules.iter().cloned()).collect();
    assert!(!rights(&rules, &s(&root.join("home/.ssh/id_rsa"))).contains(&FsAccess::ReadFile));
    assert!(rights(&rules, &s(&root.join("home/docs"))).contains(&FsAccess::ReadFile));
    assert!(rights(&rules, "/usr/bin/env").contains(&FsAccess::Execute));
    assert!(rights(&rules, &s(&root.join("ws/src"))).contains(&FsAccess::MakeReg));
    assert!(!rights(&rules, &s(&root.join("home/docs"))).contains(&FsAccess::WriteFile));
}
