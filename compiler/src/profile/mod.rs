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

pub mod landlock;
pub mod model;
pub mod bpf;
pub mod seccomp;
pub mod seatbelt;
pub mod fidelity;
