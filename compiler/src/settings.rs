//! Non-rule settings of a policy: limits, the environment allow-list and
//! the trusted bin directories.

use serde::{Deserialize, Serialize};

/// Resource limits, in base units. `None`: not limited by this policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub cpu_seconds: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub wall_milliseconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    pub limits: Limits,
    /// Names (or `*` patterns) of environment variables passed to the child.
    pub env_keep: Vec<String>,
    /// Directories that narrow which trusted programs allow rules can
    /// match; empty when the policy names none.
    pub trusted_bin: Vec<String>,
    /// Program catalogues the policy adds (`programs "FILE"`), as absolute
    /// paths, in the order written; their text once the runtime read it.
    pub programs: Vec<ProgramCatalogue>,
}

/// A program catalogue named by a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramCatalogue {
    pub path: String,
    /// Where the policy names it.
    #[serde(skip)]
    pub source: std::sync::Arc<vtpolicy_grammar::SourceFile>,
    #[serde(skip)]
    pub span: vtpolicy_grammar::Span,
    /// Filled by the loader; empty until then.
    #[serde(skip)]
    pub text: String,
    /// Whether its models may replace stock ones (set by the loader:
    /// not for a policy inside the workspace).
    #[serde(skip)]
    pub may_replace: bool,
}

/// The environment allow-list when a policy names none.
pub const DEFAULT_ENV_KEEP: &[&str] = &["PATH", "HOME", "LANG", "LC_*", "TERM", "USER", "LOGNAME", "TZ"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Duration,
    Size,
    Count,
}

pub(crate) fn limit_unit(name: &str) -> Option<Unit> {
    Some(match name {
        "cpu" | "wall" => Unit::Duration,
        "memory" | "file_size" => Unit::Size,
        "processes" | "open_files" => Unit::Count,
        _ => return None,
    })
}

/// Parses `300s` / `10m` (to milliseconds), `4GiB` (to bytes), `512`.
pub(crate) fn parse_quantity(text: &str, unit: Unit) -> Result<u64, String> {
    let digits_end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(digits_end);
    let number: u64 =
        number.parse().map_err(|_| format!("`{text}` does not start with a number that fits in 64 bits"))?;
    let multiplier: u64 = match unit {
        Unit::Count => match suffix {
            "" => 1,
            _ => return Err(format!("a count takes no unit, found `{suffix}`")),
        },
        Unit::Duration => match suffix {
            "ms" => 1,
            "s" | "" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(format!("unknown duration unit `{suffix}`; expected `ms`, `s`, `m` or `h`")),
        },
        Unit::Size => match suffix {
            "" | "B" => 1,
            "KiB" | "K" => 1 << 10,
            "MiB" | "M" => 1 << 20,
            "GiB" | "G" => 1 << 30,
            "TiB" | "T" => 1 << 40,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "TB" => 1_000_000_000_000,
            _ => {
                return Err(format!(
                    "unknown size unit `{suffix}`; expected `B`, `KiB`, `MiB`, `GiB`, `TiB`, `KB`, `MB`, `GB` or `TB`"
                ));
            }
        },
    };
    number.checked_mul(multiplier).ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("300s", Unit::Duration), Ok(300_000));
        assert_eq!(parse_quantity("10m", Unit::Duration), Ok(600_000));
        assert_eq!(parse_quantity("4GiB", Unit::Size), Ok(4 << 30));
        assert_eq!(parse_quantity("512", Unit::Count), Ok(512));
        assert!(parse_quantity("4gigs", Unit::Size).is_err());
        assert!(parse_quantity("3x", Unit::Count).is_err());
        assert!(parse_quantity("99999999999999999999", Unit::Count).is_err());
        assert!(parse_quantity("18446744073709551615TiB", Unit::Size).is_err());
    }
}
