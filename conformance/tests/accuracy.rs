//! The accuracy corpus holds: every label without `!` is the decision the
//! stock `workspace-write` gives, and every `!` label is still a miss.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::Path;

use vtpolicy_conformance::accuracy;

#[test]
fn every_label_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("accuracy");
    let entries = accuracy::load(&dir).expect("the corpus parses");
    assert!(entries.len() >= 600, "the corpus has {} commands", entries.len());
    let outcomes = accuracy::judge(&dir, &entries).expect("the corpus is judged");
    assert_eq!(outcomes.len(), entries.len() * accuracy::Mode::ALL.len());
    let failures = accuracy::failures(&outcomes);
    assert!(failures.is_empty(), "{} labels do not hold:\n  {}", failures.len(), failures.join("\n  "));
}

#[test]
fn a_bad_label_is_refused_with_its_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("build.txt"), "# ok\nallow allow cargo build\nallow maybe make\n").expect("write");
    let error = accuracy::load(dir.path()).expect_err("`maybe` is no label");
    assert!(error.starts_with("build.txt:3: `maybe`"), "{error}");
}
