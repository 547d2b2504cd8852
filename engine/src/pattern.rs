//! Matching primitives shared by the decision graph and the reference
//! interpreter: one token against one atom, an argv against a pattern, a
//! host against a host pattern.
//!
//! Tokens only known at run time (`$VAR`, `{}` of `find -exec`, the extra
//! arguments `xargs` adds) are matched two ways: a rule matches *certainly*
//! when it matches whatever their values, *possibly* when some value makes
//! it match. Allow rules need certainty. A deny or prompt rule that matches
//! only possibly is capped at the policy's effect for what cannot be
//! analysed (`prompt` unless `default unanalysable deny`).
//!
//! Flag equivalences widen deny and prompt rules only ("strict" matching):
//! `-r` matches a short-flag cluster holding `r` (`-rf`), `--force` matches
//! `--force=…` and the abbreviations `--forc`, `--for` that getopt-style
//! parsers accept. Deny and prompt rules that name flags also match as
//! options ([`OptionPattern`]): their flags in any order and spelling,
//! their other tokens against the command's operands. Allow rules match
//! tokens exactly as written, so an allow of `rm -i` never allows
//! `rm -irf`.

use std::sync::OnceLock;

use globset::{GlobBuilder, GlobMatcher};

use crate::policy::{Atom, TokenPattern};
use crate::request::{Arg, ExecRequest};

/// How tokens are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode {
    /// Allow rules: tokens exactly as written, trusted programs only.
    /// Deny and prompt rules: flag equivalences, any program.
    pub(crate) allow_rule: bool,
    /// The program must be trusted: allow rules, except those written
    /// `when sandboxed` (the sandbox contains whatever runs).
    pub(crate) needs_trust: bool,
    /// What a token only known at run time (and an open tail) may be.
    pub(crate) unknowns: Unknowns,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unknowns {
    /// The rule must match whatever the unknown values are: they match
    /// only `*` and `..`.
    ForAll,
    /// Some value of the unknowns makes the rule match: they match anything.
    Exists,
}

impl Mode {
    pub(crate) const ALLOW: Mode = Mode { allow_rule: true, needs_trust: true, unknowns: Unknowns::ForAll };
    /// Allow rules written `when sandboxed`: as written, any program.
    pub(crate) const CONTAINED: Mode = Mode { allow_rule: true, needs_trust: false, unknowns: Unknowns::ForAll };
    /// Deny and prompt rules that match whatever the unknowns are.
    pub(crate) const STRICT_CERTAIN: Mode = Mode { allow_rule: false, needs_trust: false, unknowns: Unknowns::ForAll };
    /// Deny and prompt rules that match for some value of the unknowns.
    pub(crate) const STRICT_POSSIBLE: Mode = Mode { allow_rule: false, needs_trust: false, unknowns: Unknowns::Exists };
}

/// The matcher of a single-token glob (`*` crosses `/`). Globs that are a
/// literal with one `*` at an end (`+*`, `*.sh`) are compared directly:
/// they are most argument globs, and a general matcher costs far more.
#[derive(Debug, Clone)]
pub(crate) enum TokenGlob {
    Prefix(String),
    Suffix(String),
    /// Compiled to its automaton on first use: a process judges a few
    /// calls, and most of a policy's globs never meet a token.
    General(globset::Glob, OnceLock<GlobMatcher>),
}

impl TokenGlob {
    pub(crate) fn is_match(&self, text: &str) -> bool {
        match self {
            TokenGlob::Prefix(prefix) => text.starts_with(prefix.as_str()),
            TokenGlob::Suffix(suffix) => text.ends_with(suffix.as_str()),
            TokenGlob::General(glob, matcher) => matcher.get_or_init(|| glob.compile_matcher()).is_match(text),
        }
    }
}

/// Builds the matcher of a single-token glob.
pub(crate) fn token_glob(glob: &str) -> Result<TokenGlob, globset::Error> {
    let plain = |text: &str| !text.contains(['*', '?', '[', ']', '{', '}', '\\']);
    if let Some(prefix) = glob.strip_suffix('*')
        && plain(prefix)
    {
        return Ok(TokenGlob::Prefix(prefix.to_owned()));
    }
    if let Some(suffix) = glob.strip_prefix('*')
        && plain(suffix)
    {
        return Ok(TokenGlob::Suffix(suffix.to_owned()));
    }
    Ok(TokenGlob::General(token_glob_builder(glob)?, OnceLock::new()))
}

pub(crate) fn token_glob_builder(glob: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(glob).literal_separator(false).backslash_escape(true).build()
}

/// Builds a path glob (`*` stays within a segment, `**` crosses segments).
pub(crate) fn path_glob(glob: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(glob).literal_separator(true).backslash_escape(true).empty_alternates(true).build()
}

/// The text of `glob` before its first wildcard, class, alternation or
/// escape: every text the glob matches starts with it.
pub fn glob_literal_prefix(glob: &str) -> &str {
    let end = glob.find(['*', '?', '[', '{', '\\']).unwrap_or(glob.len());
    glob.get(..end).unwrap_or(glob)
}

/// The whole segments of `glob` before the one holding its first
/// wildcard, class, alternation or escape, as a path: `/w/src` of
/// `/w/src/**/*.rs`, all of `/etc/shadow`, empty for `**/.env` and
/// `/*.rs`. Every path the glob matches lies within it.
pub fn glob_literal_dir(glob: &str) -> &str {
    let prefix = glob_literal_prefix(glob);
    if prefix.len() == glob.len() {
        return glob;
    }
    prefix.rfind('/').and_then(|end| prefix.get(..end)).unwrap_or_default()
}

/// The globs a path pattern compiles to: `dir/**` also matches `dir`.
pub(crate) fn path_globs(glob: &str) -> Vec<String> {
    let mut globs = vec![glob.to_owned()];
    if let Some(dir) = glob.strip_suffix("/**")
        && !dir.is_empty()
    {
        globs.push(dir.to_owned());
    }
    globs
}

/// One argv position as the matchers see it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Token<'a> {
    Program,
    Known { text: &'a str, options_ended: bool },
    Unknown,
}

/// The argv of a request as a sequence of tokens, position 0 the program.
pub(crate) fn tokens(exec: &ExecRequest) -> Vec<Token<'_>> {
    let mut out = Vec::with_capacity(exec.args.len() + 1);
    out.push(Token::Program);
    let mut options_ended = false;
    for arg in &exec.args {
        match arg {
            Arg::Known(text) => {
                out.push(Token::Known { text, options_ended });
                if text == "--" {
                    options_ended = true;
                }
            }
            Arg::Unknown => out.push(Token::Unknown),
        }
    }
    out
}

/// Whether `atom` matches the program of `exec`.
pub(crate) fn program_matches(atom: &Atom, glob: Option<&TokenGlob>, exec: &ExecRequest, mode: Mode) -> bool {
    let program = &exec.program;
    if mode.needs_trust && !program.trusted {
        return false;
    }
    // Allow rules see the name the program was called by: multi-call
    // binaries (rustup proxies, busybox) resolve to another basename.
    let candidates: &[String] =
        if mode.allow_rule { program.names.get(..1).unwrap_or_default() } else { &program.names };
    let matches_text = |text: &str| match (atom, glob) {
        (Atom::Literal(literal), _) => literal == text,
        (Atom::Glob(_), Some(glob)) => glob.is_match(text),
        (Atom::Glob(_), None) => false,
    };
    candidates.iter().any(|name| matches_text(name)) || program.path.as_deref().is_some_and(matches_text)
}

/// Whether a literal argument pattern matches a known request token.
pub(crate) fn literal_matches(literal: &str, text: &str, options_ended: bool, mode: Mode) -> bool {
    if literal == text {
        return true;
    }
    if mode.allow_rule {
        return false;
    }
    if normalize_path_token(text).is_some_and(|normal| normal == literal) {
        return true;
    }
    if options_ended {
        return false;
    }
    if let Some(long) = literal.strip_prefix("--").filter(|l| !l.is_empty()) {
        let Some(given) = text.strip_prefix("--") else {
            return false;
        };
        let name = given.split_once('=').map_or(given, |(name, _)| name);
        // `--force=x`, and getopt abbreviations of at least two characters.
        return name == long || (name.len() >= 2 && long.starts_with(name));
    }
    if let Some(short) = single_short_flag(literal) {
        return is_short_cluster(text) && text.chars().skip(1).any(|c| c == short);
    }
    false
}

/// `-r` → `r`.
fn single_short_flag(literal: &str) -> Option<char> {
    let mut chars = literal.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('-'), Some(flag), None) if flag.is_ascii_alphanumeric() => Some(flag),
        _ => None,
    }
}

/// `-rf`, `-fR`: a dash followed by letters and digits.
fn is_short_cluster(text: &str) -> bool {
    text.len() > 2 && is_short_flags(text)
}

/// `-r`, `-rf`: a dash followed by one or more letters and digits.
fn is_short_flags(text: &str) -> bool {
    text.len() > 1
        && text.starts_with('-')
        && !text.starts_with("--")
        && text.chars().skip(1).all(|c| c.is_ascii_alphanumeric())
}

/// A flag a rule names: `-r` is `Short('r')`, `--force` is `Long("force")`;
/// a cluster `-rf` in a rule names each of its letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flag {
    Short(char),
    Long(String),
}

/// The flags a literal names, if it is one: `-r`, `-rf`, `--force`.
fn flags_of(literal: &str) -> Option<Vec<Flag>> {
    if let Some(long) = literal.strip_prefix("--") {
        let valid =
            long.len() >= 2 && !long.contains('=') && long.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        return valid.then(|| vec![Flag::Long(long.to_owned())]);
    }
    let cluster = literal.strip_prefix('-')?;
    let valid = !cluster.is_empty() && cluster.chars().all(|c| c.is_ascii_alphanumeric());
    valid.then(|| cluster.chars().map(Flag::Short).collect())
}

/// A deny or prompt rule's pattern read as options: what its flag
/// positions ask for, in any order and any spelling, and the rest of the
/// pattern, matched against the command's operands alone. So `rm -rf ..`
/// and `rm -r ..` catch `rm -f -r x`, `rm x -rf` and `rm --force
/// --recursive x`.
#[derive(Debug)]
pub(crate) struct OptionPattern {
    /// Per flag position, its alternatives, each a set of flags that must
    /// all be given.
    flags: Vec<Vec<Vec<Flag>>>,
    operands: Vec<TokenPattern>,
    globs: AtomGlobs,
}

impl OptionPattern {
    /// The program names the pattern is limited to, when its program
    /// position is literal: the graph indexes option rules by them.
    pub(crate) fn program_literals(&self) -> Option<Vec<&str>> {
        crate::policy::program_literals(&self.operands)
    }
}

/// `None` when the pattern names no flag (positional matching is all).
pub(crate) fn option_pattern(tokens: &[TokenPattern]) -> Option<OptionPattern> {
    let mut flags = Vec::new();
    let mut operands = Vec::new();
    for (position, token) in tokens.iter().enumerate() {
        let alternatives = match token {
            TokenPattern::OneOf(atoms) if position > 0 => atoms
                .iter()
                .map(|atom| match atom {
                    Atom::Literal(literal) => flags_of(literal),
                    Atom::Glob(_) => None,
                })
                .collect::<Option<Vec<_>>>(),
            _ => None,
        };
        match alternatives {
            Some(alternatives) => flags.push(alternatives),
            None => operands.push(token.clone()),
        }
    }
    if flags.is_empty() {
        return None;
    }
    let globs = compile_atom_globs(&operands);
    Some(OptionPattern { flags, operands, globs })
}

/// A command's argv as options and operands: options are the tokens
/// before `--` that start with `-` (`--name[=value]`, or a cluster of
/// short flags); everything else, `--` included, is an operand.
#[derive(Debug)]
pub(crate) struct Options<'a> {
    /// The program, then the operands, in order.
    operands: Vec<Token<'a>>,
    /// Where each operand is among the arguments.
    operand_args: Vec<usize>,
    shorts: Vec<char>,
    longs: Vec<&'a str>,
    /// Tokens only known at run time: each could be an option or an
    /// operand, not both.
    unknown_tokens: bool,
    /// Arguments added at run time (xargs): they could be options.
    open_tail: bool,
}

pub(crate) fn options<'a>(exec: &'a ExecRequest, tokens: &[Token<'a>]) -> Options<'a> {
    let mut out = Options {
        operands: Vec::with_capacity(tokens.len()),
        operand_args: Vec::with_capacity(tokens.len()),
        shorts: Vec::with_capacity(8),
        longs: Vec::with_capacity(4),
        unknown_tokens: false,
        open_tail: exec.open_tail,
    };
    for (position, token) in tokens.iter().enumerate() {
        match *token {
            Token::Known { text, options_ended: false } if is_option(text) => match text.strip_prefix("--") {
                Some(long) => out.longs.push(long.split_once('=').map_or(long, |(name, _)| name)),
                None => out.shorts.extend(text.chars().skip(1)),
            },
            other => {
                out.unknown_tokens |= matches!(other, Token::Unknown);
                out.operands.push(other);
                if position > 0 {
                    out.operand_args.push(position - 1);
                }
            }
        }
    }
    for implied in &exec.implied_options {
        match implied.strip_prefix("--") {
            Some(long) => out.longs.push(long),
            None => out.shorts.extend(implied.chars().skip(1)),
        }
    }
    // Each option also in its other spelling, where the program's model
    // gives both.
    for form in exec.long_forms.iter() {
        let (short, long) = (form.short, form.long.as_str());
        let long_given = out.longs.iter().any(|name| name.len() >= 2 && long.starts_with(name));
        if out.shorts.contains(&short) && !long_given {
            out.longs.push(long);
        } else if long_given && !out.shorts.contains(&short) {
            out.shorts.push(short);
        }
    }
    out
}

/// Whether a token before `--` is an option: `--name[=value]` or short
/// flags.
fn is_option(text: &str) -> bool {
    (text.starts_with("--") && text.len() > 2) || is_short_flags(text)
}

/// Whether a deny or prompt rule's option reading matches the command.
pub(crate) fn options_match(pattern: &OptionPattern, options: &Options<'_>, exec: &ExecRequest, mode: Mode) -> bool {
    let given = |flag: &Flag| match flag {
        Flag::Short(c) => options.shorts.contains(c),
        // `--force=x`, and getopt abbreviations of at least two characters.
        Flag::Long(long) => {
            options.longs.iter().any(|name| name == long || (name.len() >= 2 && long.starts_with(name)))
        }
    };
    let flags_given = |could_be_given: bool| {
        pattern.flags.iter().all(|alternatives| alternatives.iter().any(|all| all.iter().all(given)) || could_be_given)
    };
    let exists = mode.unknowns == Unknowns::Exists;
    // The run-time tokens read as operands, and the flags as written (or
    // added at run time)...
    if flags_given(exists && options.open_tail)
        && argv_matches(&pattern.operands, &pattern.globs, &options.operands, 0, exec, mode)
    {
        return true;
    }
    // ...or read as the missing flags, and then not as operands.
    if exists && options.unknown_tokens && flags_given(true) {
        let operands: Vec<Token<'_>> =
            options.operands.iter().copied().filter(|t| !matches!(t, Token::Unknown)).collect();
        return argv_matches(&pattern.operands, &pattern.globs, &operands, 0, exec, mode);
    }
    false
}

/// Per flag position of a rule, its alternatives, each the flags (`"-r"`,
/// `"--force"`) that must all be given.
pub type FlagPositions = Vec<Vec<Vec<String>>>;

/// A pattern's option reading for exporters: its flag positions and its
/// other tokens. `None` when it names no flag.
pub fn option_reading(tokens: &[TokenPattern]) -> Option<(FlagPositions, Vec<TokenPattern>)> {
    let reading = option_pattern(tokens)?;
    let flags = reading
        .flags
        .iter()
        .map(|alternatives| {
            alternatives
                .iter()
                .map(|all| {
                    all.iter()
                        .map(|flag| match flag {
                            Flag::Short(c) => format!("-{c}"),
                            Flag::Long(long) => format!("--{long}"),
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Some((flags, reading.operands))
}

/// A command's option view for exporters: the indices (into the
/// arguments) of its operands, its short flags and long options (each in
/// both spellings where the program's are known), and whether it has
/// tokens only known at run time.
pub fn option_view(exec: &ExecRequest) -> (Vec<usize>, Vec<char>, Vec<String>, bool) {
    let tokens = tokens(exec);
    let options = options(exec, &tokens);
    let longs = options.longs.iter().map(|long| (*long).to_owned()).collect();
    (options.operand_args, options.shorts, longs, options.unknown_tokens)
}

/// Compiled globs of a pattern, aligned with its atoms.
pub(crate) type AtomGlobs = Vec<Vec<Option<TokenGlob>>>;

pub(crate) fn compile_atom_globs(pattern: &[TokenPattern]) -> AtomGlobs {
    pattern
        .iter()
        .map(|token| match token {
            TokenPattern::OneOf(atoms) => atoms
                .iter()
                .map(|atom| match atom {
                    Atom::Glob(glob) => token_glob(glob).ok(),
                    Atom::Literal(_) => None,
                })
                .collect(),
            TokenPattern::Any | TokenPattern::Rest => Vec::new(),
        })
        .collect()
}

/// Whether one token pattern matches the token at `position`.
pub(crate) fn token_matches(
    pattern: &TokenPattern,
    globs: &[Option<TokenGlob>],
    token: Token<'_>,
    exec: &ExecRequest,
    mode: Mode,
) -> bool {
    match pattern {
        TokenPattern::Any => true,
        TokenPattern::Rest => true,
        TokenPattern::OneOf(atoms) => atoms.iter().enumerate().any(|(index, atom)| {
            let glob = globs.get(index).and_then(Option::as_ref);
            match token {
                Token::Program => program_matches(atom, glob, exec, mode),
                Token::Unknown => mode.unknowns == Unknowns::Exists,
                Token::Known { text, options_ended } => match atom {
                    Atom::Literal(literal) => literal_matches(literal, text, options_ended, mode),
                    Atom::Glob(_) => glob.is_some_and(|g| g.is_match(text)),
                },
            }
        }),
    }
}

/// Whether `pattern` matches `tokens[start..]` (followed by the request's
/// open tail, if any).
pub(crate) fn argv_matches(
    pattern: &[TokenPattern],
    globs: &[Vec<Option<TokenGlob>>],
    tokens: &[Token<'_>],
    start: usize,
    exec: &ExecRequest,
    mode: Mode,
) -> bool {
    argv_match(pattern, globs, tokens, start, exec, mode, MatchBy::Shortcuts)
}

/// How [`argv_match`] decides: the segment shortcuts where no tail is
/// open, or the dynamic programme always (for testing the shortcuts).
#[derive(Clone, Copy, PartialEq, Eq)]
enum MatchBy {
    Shortcuts,
    General,
}

fn argv_match(
    pattern: &[TokenPattern],
    globs: &[Vec<Option<TokenGlob>>],
    tokens: &[Token<'_>],
    start: usize,
    exec: &ExecRequest,
    mode: Mode,
    strategy: MatchBy,
) -> bool {
    // Allow rules never match an untrusted program, not even through `*`
    // or `..` in program position.
    if start == 0 && mode.needs_trust && !exec.program.trusted {
        return false;
    }
    let tokens = tokens.get(start..).unwrap_or_default();
    let matches_at = |p: usize, t: usize| match (pattern.get(p), tokens.get(t)) {
        (Some(token_pattern), Some(token)) => {
            token_matches(token_pattern, globs.get(p).map(Vec::as_slice).unwrap_or_default(), *token, exec, mode)
        }
        _ => false,
    };
    if exec.open_tail || strategy == MatchBy::General {
        return dynamic_match(pattern, tokens, exec, mode, matches_at);
    }
    segment_match(pattern, tokens.len(), matches_at)
}

/// [`argv_matches`] without an open tail: the pattern is segments of
/// single-token patterns between `..`s, the first anchored at the start,
/// the last at the end. Each middle segment is taken at its leftmost
/// match: a token's match does not depend on the others, so an earlier
/// place never leaves less room for the segments after it.
fn segment_match(pattern: &[TokenPattern], n_tokens: usize, matches_at: impl Fn(usize, usize) -> bool) -> bool {
    let segment_at = |p: usize, t: usize, len: usize| (0..len).all(|i| matches_at(p + i, t + i));
    let is_rest = |tp: &TokenPattern| *tp == TokenPattern::Rest;
    let (Some(first_rest), Some(last_rest)) = (pattern.iter().position(is_rest), pattern.iter().rposition(is_rest))
    else {
        return pattern.len() == n_tokens && segment_at(0, 0, n_tokens);
    };
    let last_len = pattern.len() - last_rest - 1;
    if first_rest + last_len > n_tokens {
        return false;
    }
    // Tokens before `limit` are left to the segments up to the last `..`.
    let limit = n_tokens - last_len;
    if !segment_at(0, 0, first_rest) || !segment_at(last_rest + 1, limit, last_len) {
        return false;
    }
    let mut t = first_rest;
    let mut p = first_rest + 1;
    while p < last_rest {
        let end = pattern.get(p..last_rest).and_then(|rest| rest.iter().position(is_rest)).map_or(last_rest, |i| p + i);
        let len = end - p;
        match (t..=limit.saturating_sub(len)).find(|&start| start + len <= limit && segment_at(p, start, len)) {
            Some(start) => t = start + len,
            None => return false,
        }
        p = end + 1;
    }
    true
}

/// The general case of [`argv_matches`]: dynamic programming over
/// (pattern, token) positions, so `..` never backtracks exponentially.
/// `can[p][t]` (pattern[p..] matches tokens[t..] and the open tail) needs
/// only row `p + 1`, so two rows are kept, on the stack for short argvs.
fn dynamic_match(
    pattern: &[TokenPattern],
    tokens: &[Token<'_>],
    exec: &ExecRequest,
    mode: Mode,
    matches_at: impl Fn(usize, usize) -> bool,
) -> bool {
    const STACK_WIDTH: usize = 32;
    let n_pattern = pattern.len();
    let n_tokens = tokens.len();
    let width = n_tokens + 1;
    let (mut stack_next, mut stack_here) = ([false; STACK_WIDTH], [false; STACK_WIDTH]);
    let (mut heap_next, mut heap_here);
    let (mut next, mut here): (&mut [bool], &mut [bool]) =
        match (stack_next.get_mut(..width), stack_here.get_mut(..width)) {
            (Some(next), Some(here)) => (next, here),
            _ => {
                heap_next = vec![false; width];
                heap_here = vec![false; width];
                (&mut heap_next, &mut heap_here)
            }
        };
    for p in (0..=n_pattern).rev() {
        for t in (0..=n_tokens).rev() {
            let value = if t == n_tokens && exec.open_tail {
                // Only unknown tokens remain, possibly none.
                match mode.unknowns {
                    Unknowns::Exists => true,
                    // Every continuation must match: only `..` can absorb
                    // tokens of any number, so the rest must be `..` alone.
                    Unknowns::ForAll => pattern
                        .get(p..)
                        .is_some_and(|rest| !rest.is_empty() && rest.iter().all(|tp| *tp == TokenPattern::Rest)),
                }
            } else if p == n_pattern {
                t == n_tokens
            } else {
                let next_p = next.get(t).copied().unwrap_or(false);
                let diagonal = next.get(t + 1).copied().unwrap_or(false);
                let skip_token = here.get(t + 1).copied().unwrap_or(false);
                match pattern.get(p) {
                    Some(TokenPattern::Rest) => next_p || (t < n_tokens && skip_token),
                    Some(_) => t < n_tokens && diagonal && matches_at(p, t),
                    None => false,
                }
            };
            if let Some(slot) = here.get_mut(t) {
                *slot = value;
            }
        }
        std::mem::swap(&mut next, &mut here);
    }
    // After the last swap, `next` holds row 0.
    next.first().copied().unwrap_or(false)
}

/// Lower-cased, trailing dot removed, and IPv4 addresses written as one
/// number (`2852039166`) or in hex put back in dotted form, so that a host
/// pattern cannot be dodged by spelling.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(&host).to_owned();
    let numeric = if let Some(hex) = host.strip_prefix("0x") {
        u32::from_str_radix(hex, 16).ok()
    } else if !host.is_empty() && host.chars().all(|c| c.is_ascii_digit()) {
        host.parse::<u32>().ok()
    } else {
        None
    };
    match numeric {
        Some(value) => std::net::Ipv4Addr::from(value).to_string(),
        None => host,
    }
}

/// `*` any host; `*.example.com` its strict subdomains; else exact.
pub(crate) fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.strip_suffix(suffix).is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        None => pattern == host,
    }
}

pub(crate) fn port_matches(ports: &[(u16, u16)], port: u16) -> bool {
    ports.is_empty() || ports.iter().any(|&(low, high)| low <= port && port <= high)
}

/// Checks that a path pattern compiles, with the engine's own options.
pub fn validate_path_glob(glob: &str) -> Result<(), String> {
    path_glob(glob).map(|_| ()).map_err(|e| e.kind().to_string())
}

/// Checks that a single-token pattern parses (a glob that parses compiles;
/// compiling it here would cost a regex per pattern).
pub fn validate_token_glob(glob: &str) -> Result<(), String> {
    token_glob_builder(glob).map(|_| ()).map_err(|e| e.kind().to_string())
}

/// The lexical normal form of a path-like argument (`//`, `/./`, trailing
/// `/` removed; `..` folded in absolute paths), or `None` when the token
/// does not look like a path or is already normal. Deny and prompt rules
/// match it as well as the token as written, so `rm -rf //` and `rm -rf /.`
/// are still `rm -rf /`.
pub fn normalize_path_token(text: &str) -> Option<String> {
    if !(text.contains('/') || text == "." || text == "..") || text.starts_with("--") {
        return None;
    }
    let absolute = text.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." if absolute => {
                parts.pop();
            }
            ".." if parts.last().is_some_and(|last| *last != "..") => {
                parts.pop();
            }
            segment => parts.push(segment),
        }
    }
    let normal = match (absolute, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_owned(),
        (false, false) => parts.join("/"),
    };
    (normal != text).then_some(normal)
}

/// Whether a request holds anything only known at run time.
pub(crate) fn has_unknowns(exec: &ExecRequest) -> bool {
    exec.open_tail || exec.args.iter().any(|a| matches!(a, Arg::Unknown))
}

/// Several path patterns in one automaton: which of them match a path.
#[derive(Debug, Clone)]
pub struct PathPatternSet {
    set: globset::GlobSet,
    /// For each glob of the set, the index of the pattern it came from.
    owners: Vec<usize>,
}

impl PathPatternSet {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<PathPatternSet, String> {
        let mut builder = globset::GlobSetBuilder::new();
        let mut owners = Vec::new();
        for (index, pattern) in patterns.into_iter().enumerate() {
            for glob in path_globs(pattern) {
                builder.add(path_glob(&glob).map_err(|e| format!("`{pattern}`: {}", e.kind()))?);
                owners.push(index);
            }
        }
        let set = builder.build().map_err(|e| e.kind().to_string())?;
        Ok(PathPatternSet { set, owners })
    }

    /// The lowest index of a pattern matching `path`.
    pub fn first_match(&self, path: &str) -> Option<usize> {
        self.set.matches(path).into_iter().filter_map(|i| self.owners.get(i).copied()).min()
    }
}

/// The regular expressions a path pattern matches with (`dir/**` also
/// `dir`), for evaluators outside the engine, such as the Rego export.
/// globset's `(?-u)` byte mode is dropped: on ASCII text the two agree.
pub fn path_pattern_regexes(glob: &str) -> Result<Vec<String>, String> {
    path_globs(glob)
        .iter()
        .map(|g| path_glob(g).map(|g| text_regex(&g)).map_err(|e| format!("glob `{g}`: {}", e.kind())))
        .collect()
}

/// The regular expression a single-token glob matches with (see
/// [`path_pattern_regexes`]).
pub fn token_glob_regex(glob: &str) -> Result<String, String> {
    token_glob_builder(glob).map(|g| text_regex(&g)).map_err(|e| format!("glob `{glob}`: {}", e.kind()))
}

fn text_regex(glob: &globset::Glob) -> String {
    let regex = glob.regex();
    regex.strip_prefix("(?-u)").unwrap_or(regex).to_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::request::Program;

    #[test]
    fn literal_prefixes_and_directories() {
        for (glob, prefix, dir) in [
            ("/w/src/**/*.rs", "/w/src/", "/w/src"),
            ("/etc/shadow", "/etc/shadow", "/etc/shadow"),
            ("**/.env", "", ""),
            ("/*.rs", "/", ""),
            ("/x*", "/x", ""),
            ("/a/{b,c}/d", "/a/", "/a"),
            ("/a/b\\*c", "/a/b", "/a"),
        ] {
            assert_eq!((glob_literal_prefix(glob), glob_literal_dir(glob)), (prefix, dir), "{glob}");
        }
    }

    fn token_pattern() -> impl Strategy<Value = TokenPattern> {
        prop_oneof![
            1 => Just(TokenPattern::Any),
            3 => Just(TokenPattern::Rest),
            1 => Just(TokenPattern::OneOf(vec![Atom::Literal("git".into())])),
            2 => Just(TokenPattern::OneOf(vec![Atom::Literal("a".into()), Atom::Literal("-f".into())])),
            1 => Just(TokenPattern::OneOf(vec![Atom::Literal("--force".into())])),
            2 => Just(TokenPattern::OneOf(vec![Atom::Glob("a*".into())])),
        ]
    }

    fn arg() -> impl Strategy<Value = Arg> {
        prop_oneof![
            Just(Arg::Known("a".into())),
            Just(Arg::Known("ab".into())),
            Just(Arg::Known("-rf".into())),
            Just(Arg::Known("--for".into())),
            Just(Arg::Known("--".into())),
            Just(Arg::Unknown),
        ]
    }

    fn mode() -> impl Strategy<Value = Mode> {
        prop_oneof![Just(Mode::ALLOW), Just(Mode::CONTAINED), Just(Mode::STRICT_CERTAIN), Just(Mode::STRICT_POSSIBLE)]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

        /// The position-by-position shortcuts answer as the dynamic
        /// programme does, from every start.
        #[test]
        fn shortcuts_agree_with_the_general_match(
            pattern in proptest::collection::vec(token_pattern(), 0..8),
            args in proptest::collection::vec(arg(), 0..8),
            open_tail: bool,
            trusted: bool,
            mode in mode(),
            start in 0usize..3,
        ) {
            let mut program = Program::trusted_name("git");
            program.trusted = trusted;
            let exec = ExecRequest { program, args, open_tail, long_forms: Default::default(), implied_options: Vec::new() };
            let globs = compile_atom_globs(&pattern);
            let all = tokens(&exec);
            let shortcut = argv_matches(&pattern, &globs, &all, start, &exec, mode);
            let general = argv_match(&pattern, &globs, &all, start, &exec, mode, MatchBy::General);
            prop_assert_eq!(shortcut, general);
        }
    }

    proptest! {
        /// The direct forms of token globs agree with the general matcher.
        #[test]
        fn plain_token_globs_agree_with_globset(
            body in "[a+./-]{0,3}",
            star_first: bool,
            text in "[a+./-]{0,5}",
        ) {
            let glob = if star_first { format!("*{body}") } else { format!("{body}*") };
            let general = token_glob_builder(&glob).map(|g| g.compile_matcher());
            prop_assert!(general.is_ok());
            let direct = token_glob(&glob);
            prop_assert!(direct.is_ok());
            prop_assert!(!matches!(direct, Ok(TokenGlob::General(..))));
            prop_assert_eq!(
                direct.map(|d| d.is_match(&text)).ok(),
                general.map(|g| g.is_match(&text)).ok()
            );
        }
    }
}
