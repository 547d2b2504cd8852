//! Prints the accuracy report of the stock `workspace-write`: agreement,
//! false prompts and false allows per class, sandboxed and unsandboxed,
//! then every command it decides differently from its label.
//!
//! `cargo run -p vtpolicy-conformance --bin accuracy`

use std::path::Path;
use std::process::ExitCode;

use vtpolicy_conformance::accuracy;

fn main() -> ExitCode {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("accuracy");
    let result = accuracy::load(&dir).and_then(|entries| {
        let outcomes = accuracy::judge(&dir, &entries)?;
        Ok((entries, outcomes))
    });
    match result {
        Ok((entries, outcomes)) => {
            print!("{}", accuracy::report(&entries, &outcomes));
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
