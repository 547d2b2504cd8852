//! The vtpolicy runtime: turns an agent's tool call into normalised
//! requests and judges them.
//!
//! It owns the request JSON and its schema ([`parse_request`]), the
//! normalisation where real bypasses are closed (paths, programs, shell
//! text, wrappers), policy loading from files, policy JSON and stock names,
//! Rego policies ([`rego`]), and the [`Judge`] that puts them together. It
//! also runs commands: [`sandbox`] compiles the kernel profiles against
//! this machine, applies them to a child and supervises it, and [`events`]
//! describes what happened. It is the only crate that makes sandboxing
//! syscalls, all of them in [`sandbox`].
//!
//! It fails closed: what it cannot analyse becomes an unanalysable part,
//! which the engine never decides below `prompt`.

pub mod cache;
pub mod cases;
pub mod diff;
pub mod events;
pub mod explanation;
pub mod hook;
mod judge;
pub mod lint;
mod load;
mod normalize;
pub mod rego;
mod request;
pub mod sandbox;
pub mod schemas;

pub use judge::{Environment, EnvironmentError, Judge, Judgement, TestOutcome, run_inline_tests, test_request};
pub use load::{
    FileResolver, Layering, PolicyJsonError, catalogue_diagnostics, load_policy, load_policy_source,
    policy_json_source, policy_source,
};
pub use normalize::models::ApprovalToken;
pub use normalize::{ProgramLookup, resolve_path as normalize_path};
pub use request::{RawRequest, RequestError, parse_request, request_from_value, request_sandboxed};
