//! Lint rules of `vtpolicy check` that need the runtime: they judge
//! requests as the normaliser will see them, on this machine. One rule per
//! file; their codes and documentation are in the compiler's table with
//! the others.

mod never_matches;

pub use never_matches::never_matching_rules;
