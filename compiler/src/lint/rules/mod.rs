//! One lint rule per file.

pub(crate) mod broad_allow;
pub(crate) mod duplicate_rule;
pub(crate) mod interpreter_code;
pub(crate) mod kernel_abi;
pub(crate) mod kernel_gap;
pub(crate) mod network_wildcard_host;
pub(crate) mod overlapping_rules;
pub(crate) mod redundant_rule;
pub(crate) mod unreachable_rule;
pub(crate) mod wildcard_without_apex;
