//! The stock policies, embedded: addressable by name wherever a policy path
//! is accepted.

/// `(name, text)` of every stock policy.
pub const STOCK: &[(&str, &str)] = &[
    ("read-only", include_str!("../../policies/read-only.vtp")),
    ("workspace-write", include_str!("../../policies/workspace-write.vtp")),
    ("danger-full-access", include_str!("../../policies/danger-full-access.vtp")),
];

/// The text of a stock policy.
pub fn stock_policy(name: &str) -> Option<&'static str> {
    STOCK.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

/// The source name stock policies are reported under.
/// Whether a source is a stock policy: named as one, or a file holding
/// one's text exactly (`policies/*.vtp` of this repository).
pub(crate) fn is_stock_source(file: &vtpolicy_grammar::SourceFile) -> bool {
    file.name.starts_with("<stock:") || STOCK.iter().any(|(_, text)| *text == file.text)
}

pub fn stock_source_name(name: &str) -> String {
    format!("<stock:{name}>")
}
