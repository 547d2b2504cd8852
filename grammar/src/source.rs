//! Source files and byte spans into them.

use std::sync::{Arc, OnceLock};

/// A policy file's name (a path, or `<stock:NAME>`) and its full text.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
    /// Byte offsets where lines start, computed on first use.
    line_starts: OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { name: name.into(), text: text.into(), line_starts: OnceLock::new() })
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = clamp_to_char_boundary(&self.text, offset);
        let starts = self.line_starts();
        // Every rule needs its line (for its id): a binary search keeps
        // that linear in the size of the policy.
        let line_index = starts.partition_point(|&start| start <= offset).saturating_sub(1);
        let line_start = starts.get(line_index).copied().unwrap_or_default();
        let column = self.text.get(line_start..offset).unwrap_or_default().chars().count() + 1;
        (line_index + 1, column)
    }

    /// The full text of the one-based line `line`, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = self.line_starts();
        let Some(&start) = starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = starts.get(line).map_or(self.text.len(), |next| next.saturating_sub(1));
        self.text.get(start..end).unwrap_or_default().trim_end_matches('\r')
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts
            .get_or_init(|| std::iter::once(0).chain(self.text.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }
}

fn clamp_to_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A byte range in one source file.
///
/// Spans compare equal regardless of position only through
/// [`crate::PolicyFile::erase_spans`]; they are ordinary data otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Self { start, end }
    }

    pub(crate) fn from_pest(span: pest::Span<'_>, offset: usize) -> Self {
        Self::new(span.start() + offset, span.end() + offset)
    }
}

/// A value with the span of the text it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Self { node, span }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let file = SourceFile::new("p.vtp", "a\nbé c\n");
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(2), (2, 1));
        // `c` sits after a two-byte character.
        assert_eq!(file.line_col(6), (2, 4));
        assert_eq!(file.line_text(2), "bé c");
        assert_eq!(file.line_col(999), (3, 1));
    }
}
