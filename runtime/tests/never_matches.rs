//! VT113 against this machine's programs: rules spelled the way commands
//! are typed, not the way the normaliser sees them, are reported; rules
//! that match are not, nor rules for programs the machine lacks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use vtpolicy_compiler::{Context, SourceFile};
use vtpolicy_runtime::lint::never_matching_rules;
use vtpolicy_runtime::{Environment, Layering, load_policy_source};

fn reported(body: &str) -> Vec<(usize, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().canonicalize().expect("canonical");
    let environment = Environment::detect(Some(&workspace), None).expect("environment");
    let context: Context = environment.context();
    let source = SourceFile::new(workspace.join("p.vtp").display().to_string(), format!("version 1\n{body}"));
    let (policy, diagnostics) = load_policy_source(&source, &context, Layering::AsWritten);
    let policy = policy.unwrap_or_else(|| panic!("compiles: {diagnostics:?}"));
    never_matching_rules(&policy, &environment)
        .expect("judges")
        .iter()
        .map(|d| {
            let (_, line, _) = d.position().unwrap_or_default();
            (line, d.label.clone().unwrap_or_default())
        })
        .collect()
}

#[test]
fn rules_spelled_with_what_the_normaliser_removes_are_reported() {
    let found = reported(
        "default prompt\n\
         allow exec timeout 60 ls ..\n\
         allow exec env FOO=1 ls ..\n\
         allow exec nice -n 10 ls\n\
         allow exec git -C \"/x\" status\n\
         allow exec git --no-pager log ..\n\
         allow exec ./scripts/test.sh\n\
         allow exec bash -c \"ls\"\n",
    );
    let lines: Vec<usize> = found.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8, 9], "{found:?}");
    assert_eq!(found[0].1, "`timeout 60 ls` is judged as `exec ls`");
    assert_eq!(found[3].1, "`git -C /x status` is judged as `exec git status`");
    assert!(found[5].1.starts_with("`./scripts/test.sh` is a relative program"), "{found:?}");
}

#[test]
fn rules_that_match_or_name_absent_programs_are_not() {
    let found = reported(
        "default prompt\n\
         allow exec ls ..\n\
         allow exec git [status | log] ..\n\
         deny exec git push [--force | -f] ..\n\
         allow exec tar -xzf ..\n\
         allow exec \"*\" --version\n\
         allow exec \"${workspace}/scripts/test.sh\" ..\n    when sandboxed\n\
         allow exec vtpolicy-no-such-program build ..\n\
         deny exec rm -rf /\n",
    );
    assert_eq!(found, [], "{found:?}");
}
