//! Whether two rules could match one request, told coarsely from the
//! literal parts of their patterns: the native-rule export asks it of an
//! allow and an untranslated deny, VT112 of a rule and the more
//! permissive rules around it. `false` is certain; `true` only means the
//! literal parts do not rule an overlap out.

use vtpolicy_engine::{ArgvPattern, Atom, Matcher, TokenPattern};

/// What a rule is about, coarsely: enough to tell that two rules cannot
/// overlap.
#[derive(Debug, Clone)]
pub(crate) enum Scope {
    /// The words a command must start with: each position's alternatives
    /// (literal words, or `*`/`?` word patterns), up to the first position
    /// that is neither; the program's base name first.
    Exec(Vec<Vec<String>>),
    /// The literal start of a path glob.
    Path {
        read: bool,
        write: bool,
        prefix: String,
    },
    Net(Option<String>),
    Tool(String),
    Socket,
}

impl Scope {
    pub(crate) fn of(matcher: &Matcher) -> Scope {
        match matcher {
            Matcher::Exec { pattern } => Scope::Exec(literal_words(pattern)),
            Matcher::Path { read, write, glob } => Scope::Path {
                read: *read,
                write: *write,
                prefix: vtpolicy_engine::glob_literal_prefix(glob).to_owned(),
            },
            Matcher::Net { host, .. } => Scope::Net((!host.contains('*')).then(|| host.clone())),
            Matcher::Tool { glob } => Scope::Tool(vtpolicy_engine::glob_literal_prefix(glob).to_owned()),
            Matcher::Socket { .. } => Scope::Socket,
        }
    }

    /// Whether some request could match both scopes.
    pub(crate) fn may_overlap(&self, other: &Scope) -> bool {
        match (self, other) {
            // Two commands differ for sure only where both name a word
            // and no alternative is shared.
            (Scope::Exec(a), Scope::Exec(b)) => a
                .iter()
                .zip(b)
                .all(|(one, other)| one.iter().any(|x| other.iter().any(|y| word_match(x, y) || word_match(y, x)))),
            (Scope::Path { read: r1, write: w1, prefix: p1 }, Scope::Path { read: r2, write: w2, prefix: p2 }) => {
                ((*r1 && *r2) || (*w1 && *w2)) && (p1.starts_with(p2.as_str()) || p2.starts_with(p1.as_str()))
            }
            (Scope::Net(a), Scope::Net(b)) => match (a, b) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            },
            (Scope::Tool(a), Scope::Tool(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
            _ => false,
        }
    }
}

/// Whether the word pattern `pattern` (`*` any run, `?` one character)
/// matches `word`, read as text; a word with wildcards of its own is
/// matched as if they were literal characters, which can only find more
/// overlaps.
fn word_match(pattern: &str, word: &str) -> bool {
    let (pattern, word): (Vec<char>, Vec<char>) = (pattern.chars().collect(), word.chars().collect());
    // The classic two-pointer match with one backtrack point per `*`.
    let (mut p, mut w, mut star, mut mark) = (0, 0, None, 0);
    while w < word.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some(p);
                mark = w;
                p += 1;
            }
            Some(c) if *c == '?' || Some(c) == word.get(w) => {
                p += 1;
                w += 1;
            }
            _ => match star {
                Some(at) => {
                    p = at + 1;
                    mark += 1;
                    w = mark;
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// The alternatives of each leading word of `pattern`.
fn literal_words(pattern: &ArgvPattern) -> Vec<Vec<String>> {
    let mut words = Vec::new();
    for (index, token) in pattern.tokens.iter().enumerate() {
        let TokenPattern::OneOf(atoms) = token else { break };
        let literals: Option<Vec<String>> = atoms
            .iter()
            .map(|atom| match atom {
                Atom::Literal(word) if index == 0 => Some(word.rsplit('/').next().unwrap_or(word).to_owned()),
                Atom::Literal(word) => Some(word.clone()),
                Atom::Glob(glob) if !glob.contains(['[', '{', '\\']) => Some(glob.clone()),
                Atom::Glob(_) => None,
            })
            .collect();
        match literals {
            Some(literals) => words.push(literals),
            None => break,
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_patterns() {
        assert!(word_match("*mvnw", "./mvnw"));
        assert!(!word_match("*mvnw", "ls"));
        assert!(word_match("mkfs.*", "mkfs.ext4"));
        assert!(word_match("a?c", "abc"));
        assert!(word_match("*", ""));
        assert!(!word_match("a*b", "ac"));
        assert!(word_match("a*b*c", "axxbyyc"));
    }
}
