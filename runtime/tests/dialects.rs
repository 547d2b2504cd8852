//! Texts that bash and POSIX sh (dash here) read differently. The judge
//! parses bash, so `run -c` executes bash, and the same text given to
//! `sh -c` (or `dash -c`) inside a command is not judged as if bash read it:
//! it is unanalysable. Each text is run through both real shells first, to
//! show the corpus really is of texts they disagree on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;
use std::process::Command;

use vtpolicy_engine::Part;
use vtpolicy_runtime::{Environment, Judge, Layering, RawRequest, load_policy};

/// Each text prints what it runs; the two shells print different things.
const CORPUS: &[&str] = &[
    r"echo $'a\' ; echo second #'",
    r#"echo $"x" ; echo y"#,
    "[[ -n x ]] && echo bash-test",
    "cat <<< here",
    "echo {a,b}",
    "echo {1..3}",
    "x=abc; echo ${x//b/X}",
    "x=abc; echo ${x:1:1}",
    "x=abc; echo ${x^^}",
    "echo hi &> /dev/null; echo after",
    "echo a |& cat",
    "cat <(echo process)",
    "(( 1 + 1 )) && echo arith",
    "function f { echo fn; }; f",
    "a=(1 2); echo ${a[1]}",
    "case x in x) echo one ;& y) echo two ;; esac",
];

fn run(shell: &str, text: &str, dir: &Path) -> String {
    let output = Command::new(shell).arg("-c").arg(text).current_dir(dir).output().expect("shell runs");
    format!(
        "{}|{}|{:?}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr).is_empty(),
        output.status.code()
    )
}

#[test]
fn bash_and_dash_read_the_corpus_differently() {
    let dir = tempfile::tempdir().expect("tempdir");
    for text in CORPUS {
        assert_ne!(
            run("/bin/bash", text, dir.path()),
            run("/bin/dash", text, dir.path()),
            "both shells read `{text}` alike"
        );
    }
}

#[test]
fn posix_shell_text_that_bash_reads_differently_is_unanalysable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().canonicalize().expect("canonical");
    let environment = Environment::detect(Some(&workspace), None).expect("environment");
    let (compiled, diagnostics) = load_policy("workspace-write", &environment.context(), Layering::Enforce);
    let judge = Judge::new(vec![compiled.unwrap_or_else(|| panic!("{diagnostics:?}"))], environment).expect("judge");
    for shell in ["sh", "dash"] {
        for text in CORPUS {
            let raw = RawRequest::Exec {
                argv: Some(vec![shell.to_owned(), "-c".to_owned(), (*text).to_owned()]),
                command: None,
                cwd: None,
                workspace: None,
            };
            let parts = judge.normalize(&raw);
            assert!(
                parts.iter().any(|p| matches!(p, Part::Unanalysable { .. })),
                "`{shell} -c {text}` was judged as bash reads it: {parts:?}"
            );
        }
    }
    // Text both read alike is judged as usual, and bash's own text as bash.
    for argv in [["sh", "-c", "echo ${HOME:-/} ${#HOME}"], ["bash", "-c", r"echo $'a\' ; echo second #'"]] {
        let raw =
            RawRequest::Exec { argv: Some(argv.map(String::from).to_vec()), command: None, cwd: None, workspace: None };
        let parts = judge.normalize(&raw);
        assert!(parts.iter().all(|p| matches!(p, Part::Request { .. })), "{argv:?}: {parts:?}");
    }
}
