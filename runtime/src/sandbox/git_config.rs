//! Git's configuration files, read the way git reads them.
//!
//! The run protects what a repository's configuration makes git run (the
//! directory `core.hooksPath` names, the files `include.path` and
//! `includeIf.*.path` pull in). A reading that differs from git's is a way
//! out: a key on the line of its section header (`[core] hooksPath = x`) or
//! a value followed by a comment (`hooksPath = x ; shared`) are valid git
//! configuration, and a reader that misses them leaves those hooks
//! writable. So this follows git's own parser (`config.c`: sections,
//! subsections, keys, quoting, escapes, comments, continued lines, CRLF, a
//! leading BOM), and rejects what git rejects; a unit test compares it with
//! `git config --list` on generated files.

/// One `name = value` of a file, in order. `name` is `section.key` or
/// `section.subsection.key`, the section and key lowercased (git compares
/// them ignoring case), the subsection as written. A key without `=` has
/// no value (boolean true).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) name: Vec<u8>,
    pub(super) value: Option<Vec<u8>>,
}

/// Where a file stops being git configuration: git refuses such a file
/// (`fatal: bad config line N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SyntaxError {
    pub(super) line: usize,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is not git configuration", self.line)
    }
}

/// Git's character classes (`sane_ctype`): ASCII only.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_key_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// Characters as git's `get_next_char` returns them: CRLF is one newline,
/// and the end of the file reads as a newline, again and again.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    eof: bool,
    line: usize,
}

impl Reader<'_> {
    fn next(&mut self) -> u8 {
        let Some(&c) = self.bytes.get(self.at) else {
            self.eof = true;
            return b'\n';
        };
        self.at += 1;
        let c = if c == b'\r' && self.bytes.get(self.at) == Some(&b'\n') {
            self.at += 1;
            b'\n'
        } else {
            c
        };
        if c == b'\n' {
            self.line += 1;
        }
        c
    }

    fn error(&self) -> SyntaxError {
        SyntaxError { line: self.line }
    }
}

/// Every entry of a configuration file's text, or where git would stop.
pub(super) fn parse(text: &[u8]) -> Result<Vec<Entry>, SyntaxError> {
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut reader = Reader { bytes: text, at: 0, eof: false, line: 1 };
    let mut entries = Vec::new();
    // `section.` or `section.subsection.`, once a header was read.
    let mut section: Vec<u8> = Vec::new();
    let mut comment = false;
    loop {
        let c = reader.next();
        if c == b'\n' {
            if reader.eof {
                return Ok(entries);
            }
            comment = false;
            continue;
        }
        if comment || is_space(c) {
            continue;
        }
        if c == b'#' || c == b';' {
            comment = true;
            continue;
        }
        if c == b'[' {
            section = section_header(&mut reader)?;
            section.push(b'.');
            // A key may follow on the same line.
            continue;
        }
        if !c.is_ascii_alphabetic() {
            return Err(reader.error());
        }
        let mut name = section.clone();
        name.push(c.to_ascii_lowercase());
        let mut c = reader.next();
        while !reader.eof && is_key_char(c) {
            name.push(c.to_ascii_lowercase());
            c = reader.next();
        }
        while c == b' ' || c == b'\t' {
            c = reader.next();
        }
        let value = match c {
            b'\n' => None,
            b'=' => Some(value(&mut reader)?),
            _ => return Err(reader.error()),
        };
        entries.push(Entry { name, value });
    }
}

/// `[section]`, `[section "subsection"]` or the old `[section.subsection]`
/// (all lowercased), after its `[`.
fn section_header(reader: &mut Reader<'_>) -> Result<Vec<u8>, SyntaxError> {
    let mut name = Vec::new();
    loop {
        let c = reader.next();
        if reader.eof {
            return Err(reader.error());
        }
        if c == b']' {
            return if name.is_empty() { Err(reader.error()) } else { Ok(name) };
        }
        if is_space(c) {
            return subsection(reader, c, name);
        }
        if !is_key_char(c) && c != b'.' {
            return Err(reader.error());
        }
        name.push(c.to_ascii_lowercase());
    }
}

/// The quoted subsection of a header: a backslash keeps the character
/// after it, whatever it is; the header ends right after the quote.
fn subsection(reader: &mut Reader<'_>, first: u8, mut name: Vec<u8>) -> Result<Vec<u8>, SyntaxError> {
    let mut c = first;
    loop {
        if c == b'\n' {
            return Err(reader.error());
        }
        c = reader.next();
        if !is_space(c) {
            break;
        }
    }
    if c != b'"' {
        return Err(reader.error());
    }
    name.push(b'.');
    loop {
        let mut c = reader.next();
        if c == b'\n' {
            return Err(reader.error());
        }
        if c == b'"' {
            break;
        }
        if c == b'\\' {
            c = reader.next();
            if c == b'\n' {
                return Err(reader.error());
            }
        }
        name.push(c);
    }
    if reader.next() != b']' {
        return Err(reader.error());
    }
    Ok(name)
}

/// A value after its `=`: unquoted blanks at either end dropped and each
/// one inside read as a space, `"` toggles quoting, `;` or `#` outside
/// quotes starts a comment, and `\n`, `\t`, `\b`, `\\`, `\"` and a
/// backslash before the end of the line (the value goes on) are the only
/// escapes. Git hands values on as C strings, so a NUL ends one.
fn value(reader: &mut Reader<'_>) -> Result<Vec<u8>, SyntaxError> {
    let mut quote = false;
    let mut comment = false;
    let mut value = Vec::new();
    // Unquoted blanks since the last character, written out only if
    // another one follows.
    let mut spaces = 0;
    loop {
        let c = reader.next();
        if c == b'\n' {
            if quote {
                return Err(reader.error());
            }
            if let Some(nul) = value.iter().position(|&b| b == 0) {
                value.truncate(nul);
            }
            return Ok(value);
        }
        if comment {
            continue;
        }
        if is_space(c) && !quote {
            if !value.is_empty() {
                spaces += 1;
            }
            continue;
        }
        if !quote && (c == b';' || c == b'#') {
            comment = true;
            continue;
        }
        value.extend(std::iter::repeat_n(b' ', spaces));
        spaces = 0;
        match c {
            b'\\' => {
                let escaped = match reader.next() {
                    b'\n' => continue,
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'n' => b'\n',
                    c @ (b'\\' | b'"') => c,
                    _ => return Err(reader.error()),
                };
                value.push(escaped);
            }
            b'"' => quote = !quote,
            c => value.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(String, Option<String>)> {
        parse(text.as_bytes())
            .expect("parses")
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(&e.name).into_owned(),
                    e.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
                )
            })
            .collect()
    }

    fn one(name: &str, value: &str) -> Vec<(String, Option<String>)> {
        vec![(name.to_owned(), Some(value.to_owned()))]
    }

    #[test]
    fn reads_what_a_line_based_reader_misses() {
        assert_eq!(entries("[core] hooksPath = .hooks\n"), one("core.hookspath", ".hooks"));
        assert_eq!(entries("[core]\n\thooksPath = .hooks ; shared\n"), one("core.hookspath", ".hooks"));
        assert_eq!(entries("[core]\n\thooksPath = .hooks# shared\n"), one("core.hookspath", ".hooks"));
        assert_eq!(entries("[CoRe]\r\n\tHOOKSPATH=\".ho\"oks\r\n"), one("core.hookspath", ".hooks"));
        assert_eq!(entries("[core]\n\thooksPath = .ho\\\noks\n"), one("core.hookspath", ".hooks"));
        assert_eq!(entries("[core]\n\thooksPath = \" a;b \" \n"), one("core.hookspath", " a;b "));
        assert_eq!(entries("\u{feff}[core]hooksPath=x"), one("core.hookspath", "x"));
        assert_eq!(entries("[core]\n\thooksPath = a\tb  \n"), one("core.hookspath", "a b"));
    }

    #[test]
    fn names_sections_and_subsections() {
        assert_eq!(entries("[remote \"Origin\"]\n\tURL = x\n"), one("remote.Origin.url", "x"));
        assert_eq!(entries("[includeIf \"gitdir:~/w/\"]\n\tpath = a\n"), one("includeif.gitdir:~/w/.path", "a"));
        assert_eq!(entries("[Remote.Origin]\n\turl = x\n"), one("remote.origin.url", "x"));
        assert_eq!(entries("[a \"x\\\"y\\z\"]k=v\n"), one("a.x\"yz.k", "v"));
        assert_eq!(entries("[core]\n\tbare\n"), vec![("core.bare".to_owned(), None)]);
    }

    #[test]
    fn rejects_what_git_rejects() {
        for text in [
            "[core\n",
            "[]\n",
            "[core x]\n",
            "[core \"x\"\n",
            "[core]\n\tkey ; comment\n",
            "[core]\n\t1key = v\n",
            "[core]\n\tkey = \"open\n",
            "[core]\n\tkey = \\q\n",
        ] {
            assert!(parse(text.as_bytes()).is_err(), "{text:?}");
        }
        assert_eq!(parse(b"[core]\n\tok = 1\n\t!bad\n"), Err(SyntaxError { line: 3 }));
    }

    /// Fragments generated files are made of: every construct the parser
    /// distinguishes, and the characters at its edges.
    const FRAGMENTS: &[&str] = &[
        "[core]",
        "[core ",
        "\"x\"]",
        "[remote \"o\\\"r\"]",
        "[a.B]",
        "[",
        "]",
        "hooksPath",
        "HooksPath",
        "include",
        "path",
        " = ",
        "=",
        " ",
        "\t",
        "\n",
        "\r\n",
        "\r",
        ";",
        "#",
        "\"",
        "\\",
        "\\n",
        "\\t",
        "\\\n",
        "x",
        "-",
        ".",
        "1",
        "~/",
        "/abs",
        "\0",
        "\u{feff}",
        "é",
    ];

    fn git_list(text: &[u8]) -> Option<Vec<Entry>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("config");
        std::fs::write(&file, text).expect("write");
        let output = std::process::Command::new("/usr/bin/git")
            .args(["config", "--no-includes", "--null", "--list", "--file"])
            .arg(&file)
            .env_clear()
            .env("HOME", dir.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs: these tests compare with it");
        if !output.status.success() {
            return None;
        }
        let mut entries = Vec::new();
        for item in output.stdout.split(|&b| b == 0).filter(|item| !item.is_empty()) {
            let entry = match item.iter().position(|&b| b == b'\n') {
                Some(newline) => Entry {
                    name: item.get(..newline).unwrap_or_default().to_vec(),
                    value: Some(item.get(newline + 1..).unwrap_or_default().to_vec()),
                },
                None => Entry { name: item.to_vec(), value: None },
            };
            entries.push(entry);
        }
        Some(entries)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

        /// Git's own reading of the same file: refused by both, or the
        /// same entries in the same order.
        #[test]
        fn reads_files_as_git_does(pieces in proptest::collection::vec(0..FRAGMENTS.len(), 0..24)) {
            let text: String = pieces.iter().filter_map(|&i| FRAGMENTS.get(i).copied()).collect();
            // Mostly well-formed files: a header first, as real ones have.
            for text in [text.clone(), format!("[core]\n{text}"), format!("[core]\n\thooksPath = {text}\n")] {
                let ours = parse(text.as_bytes()).ok();
                proptest::prop_assert_eq!(ours, git_list(text.as_bytes()), "{:?}", text);
            }
        }
    }
}
