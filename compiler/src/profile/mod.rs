//! Kernel profiles: what the policy compiles to below the engine.
//!
//! [`model`] reads the filesystem, network and limit stance off the
//! policies once; each backend compiles that model: [`landlock`] (Linux
//! filesystem and TCP), [`seccomp`] (Linux syscalls and sockets),
//! [`seatbelt`] (macOS). [`fidelity`] says, rule by rule, which layers
//! enforce it and where each one falls short.
//!
//! Everything here is pure data: the file system is seen through
//! [`landlock::FileSystem`], and nothing is applied.

pub mod bpf;
pub mod fidelity;
pub mod landlock;
pub mod model;
pub mod seatbelt;
pub mod seccomp;
