//! Shell text to simple commands, redirections and unanalysable constructs.
//!
//! The parser is shuck-parser, wrapped as hostile input demands: input size
//! capped, NUL rejected, nesting depth pre-scanned, parsing on its own
//! thread with an explicit stack and a watchdog. Anything it cannot read is
//! an unanalysable part (at least `prompt`). Independently of the parser, a
//! quote-aware scan of the source marks every command substitution, process
//! substitution and backtick as unanalysable, so a nested command the
//! parser misses can never lower a decision below `prompt`.

use std::sync::mpsc;
use std::time::Duration;

use shuck_ast::{
    Command, CompoundCommand, ConditionalExpr, HeredocBodyPart, RedirectKind, RedirectTarget, Stmt, StmtSeq, Word,
    WordPart,
};
use shuck_parser::ShellDialect;
use shuck_parser::parser::{ParseStatus, Parser};

/// Longest shell text analysed.
pub(crate) const MAX_SHELL_BYTES: usize = 64 * 1024;
/// Deepest nesting of `(`, `{` and substitutions analysed.
const MAX_NESTING: usize = 64;
const PARSER_STACK_BYTES: usize = 16 * 1024 * 1024;
const PARSER_TIMEOUT: Duration = Duration::from_secs(2);

/// A word of a command as far as it is known statically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ShellWord {
    Static(String),
    Dynamic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectAccess {
    Read,
    Write,
    ReadWrite,
}

/// What the walk extracts from shell text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Extracted {
    Command {
        label: String,
        argv: Vec<ShellWord>,
        /// The working directory after `cd`s seen so far, when known; `None`
        /// for the starting directory.
        cwd: CwdState,
    },
    Redirect {
        label: String,
        access: RedirectAccess,
        target: ShellWord,
        cwd: CwdState,
    },
    Unanalysable {
        label: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CwdState {
    /// The directory the text started in.
    Start,
    /// A directory reached by static `cd`s, relative to the start unless
    /// absolute.
    Changed(String),
    /// After a `cd` to a directory only known at run time.
    Unknown,
}

/// Parser threads waiting for work, at most [`MAX_IDLE_PARSERS`] (one per
/// caller judging at the same time).
static IDLE_PARSERS: std::sync::Mutex<Vec<ParserThread>> = std::sync::Mutex::new(Vec::new());

const MAX_IDLE_PARSERS: usize = 4;

struct ParseJob {
    source: String,
    home: String,
    reply: mpsc::Sender<Vec<Extracted>>,
}

/// A thread that parses and walks shell text, one job at a time.
struct ParserThread {
    jobs: mpsc::Sender<ParseJob>,
}

impl ParserThread {
    fn start() -> Option<ParserThread> {
        let (jobs, queue) = mpsc::channel::<ParseJob>();
        std::thread::Builder::new()
            .name("vtpolicy-shell-parse".to_owned())
            .stack_size(PARSER_STACK_BYTES)
            .spawn(move || {
                while let Ok(job) = queue.recv() {
                    let _ = job.reply.send(parse_and_walk(&job.source, &job.home));
                }
            })
            .ok()?;
        Some(ParserThread { jobs })
    }
}

fn parse_and_walk(source: &str, home: &str) -> Vec<Extracted> {
    let result = Parser::with_dialect(source, ShellDialect::Bash).parse();
    let mut walker = Walker { source, home, out: Vec::new() };
    if result.status != ParseStatus::Clean {
        walker.out.push(Extracted::Unanalysable {
            label: shorten(source),
            reason: "the shell parser could not read all of this text".to_owned(),
        });
    }
    if result.status != ParseStatus::Fatal {
        walker.seq(&result.file.body, &mut CwdState::Start);
    }
    walker.out
}

/// Extracts the commands of `text`. `home` expands `~`.
pub(crate) fn extract(text: &str, home: &str) -> Vec<Extracted> {
    let label = || shorten(text);
    if text.len() > MAX_SHELL_BYTES {
        return vec![Extracted::Unanalysable {
            label: label(),
            reason: format!("shell text longer than {MAX_SHELL_BYTES} bytes"),
        }];
    }
    if text.contains('\0') {
        return vec![Extracted::Unanalysable { label: label(), reason: "shell text contains a NUL byte".to_owned() }];
    }
    if nesting_depth(text) > MAX_NESTING {
        return vec![Extracted::Unanalysable {
            label: label(),
            reason: format!("shell text nested deeper than {MAX_NESTING} levels"),
        }];
    }
    let mut out = Vec::new();
    for reason in substitution_scan(text) {
        out.push(Extracted::Unanalysable { label: label(), reason: reason.to_owned() });
    }

    // Parsing runs on a parser thread with a big stack (hostile text must
    // not overflow the caller's), kept between calls: starting a thread
    // per call costs more than parsing a command.
    let worker = IDLE_PARSERS.lock().ok().and_then(|mut idle| idle.pop()).or_else(ParserThread::start);
    let Some(worker) = worker else {
        out.push(Extracted::Unanalysable { label: label(), reason: "could not start the shell parser".to_owned() });
        return out;
    };
    let (reply, receiver) = mpsc::channel();
    let job = ParseJob { source: text.to_owned(), home: home.to_owned(), reply };
    if worker.jobs.send(job).is_err() {
        out.push(Extracted::Unanalysable { label: label(), reason: "the shell parser stopped".to_owned() });
        return out;
    }
    match receiver.recv_timeout(PARSER_TIMEOUT) {
        Ok(extracted) => {
            out.extend(extracted);
            if let Ok(mut idle) = IDLE_PARSERS.lock()
                && idle.len() < MAX_IDLE_PARSERS
            {
                idle.push(worker);
            }
        }
        // The thread is dropped: it ends once the parse does, since no
        // more work can reach it.
        Err(_) => out.push(Extracted::Unanalysable {
            label: label(),
            reason: "the shell parser did not finish in time".to_owned(),
        }),
    }
    out
}

fn shorten(text: &str) -> String {
    const MAX: usize = 200;
    let text = text.trim();
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

/// Maximum nesting of brackets and substitutions, quotes ignored.
fn nesting_depth(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut max = 0;
    for c in text.chars() {
        match c {
            '(' | '{' | '[' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Command substitutions, backticks and process substitutions outside
/// single quotes. Arithmetic `$((` is not a substitution, but one nested in
/// it is found.
fn substitution_scan(text: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut note = |reason: &'static str| {
        if !found.contains(&reason) {
            found.push(reason);
        }
    };
    let bytes = text.as_bytes();
    let mut in_single = false;
    let mut in_double = false;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        let next = bytes.get(index + 1).copied();
        match byte {
            b'\\' if !in_single => index += 1,
            b'\'' if !in_double => {
                // `$'…'` is ANSI-C quoting: backslash escapes apply inside.
                in_single = !in_single;
            }
            b'"' if !in_single => in_double = !in_double,
            b'$' if !in_single && next == Some(b'(') => {
                if bytes.get(index + 2) == Some(&b'(') {
                    index += 2;
                } else {
                    note("command substitution `$(…)` runs a command whose output is only known at run time");
                }
            }
            b'`' if !in_single => {
                note("backtick command substitution runs a command whose output is only known at run time")
            }
            b'<' | b'>' if !in_single && !in_double && next == Some(b'(') => {
                note("process substitution `<(…)`/`>(…)` runs a command in the background");
            }
            _ => {}
        }
        index += 1;
    }
    found
}

/// Programs that run code given on standard input.
const INTERPRETERS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "fish",
    "python",
    "python2",
    "python3",
    "perl",
    "ruby",
    "node",
    "php",
    "lua",
    "tclsh",
    "osascript",
    "pwsh",
    "awk",
];

struct Walker<'a> {
    source: &'a str,
    home: &'a str,
    out: Vec<Extracted>,
}

impl Walker<'_> {
    fn seq(&mut self, seq: &StmtSeq, cwd: &mut CwdState) {
        for stmt in &seq.stmts {
            self.stmt(stmt, cwd);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, cwd: &mut CwdState) {
        let label = shorten(stmt.span.slice(self.source));
        let mut heredoc_input = false;
        for redirect in stmt.redirects.iter() {
            let access = match redirect.kind {
                RedirectKind::Output | RedirectKind::Clobber | RedirectKind::Append | RedirectKind::OutputBoth => {
                    Some(RedirectAccess::Write)
                }
                RedirectKind::Input => Some(RedirectAccess::Read),
                RedirectKind::ReadWrite => Some(RedirectAccess::ReadWrite),
                RedirectKind::HereDoc | RedirectKind::HereDocStrip | RedirectKind::HereString => {
                    heredoc_input = true;
                    None
                }
                RedirectKind::DupOutput | RedirectKind::DupInput => None,
            };
            match &redirect.target {
                RedirectTarget::Word(word) => {
                    self.word_commands(word, cwd);
                    if let Some(access) = access {
                        self.out.push(Extracted::Redirect {
                            label: label.clone(),
                            access,
                            target: self.word(word),
                            cwd: cwd.clone(),
                        });
                    }
                }
                RedirectTarget::Heredoc(heredoc) => {
                    for part in &heredoc.body.parts {
                        if let HeredocBodyPart::CommandSubstitution { body, .. } = &part.kind {
                            self.seq(body, &mut cwd.clone());
                        }
                    }
                }
            }
        }
        match &stmt.command {
            Command::Simple(simple) => {
                for assignment in simple.assignments.iter() {
                    if let shuck_ast::AssignmentValue::Scalar(word) = &assignment.value {
                        self.word_commands(word, cwd);
                    }
                    self.setting(&assignment.target.name, &label);
                }
                let name_text = simple.name.span.slice(self.source);
                if name_text.is_empty() && simple.args.is_empty() {
                    return;
                }
                self.word_commands(&simple.name, cwd);
                let mut argv = vec![self.word(&simple.name)];
                for arg in &simple.args {
                    self.word_commands(arg, cwd);
                    argv.push(self.word(arg));
                }
                if heredoc_input
                    && let Some(ShellWord::Static(name)) = argv.first()
                    && INTERPRETERS.contains(&basename(name))
                {
                    self.out.push(Extracted::Unanalysable {
                        label: label.clone(),
                        reason: format!("a here-document feeds code to `{name}`"),
                    });
                }
                self.special_builtin(&argv, &label, cwd);
                self.out.push(Extracted::Command { label, argv, cwd: cwd.clone() });
            }
            Command::Builtin(_) => {}
            Command::Decl(decl) => {
                for assignment in decl.assignments.iter() {
                    self.setting(&assignment.target.name, &label);
                }
                // `export`, `declare`, `local`, `readonly`, `typeset`: a
                // command of the shell's own, judged by its name and words.
                let mut argv = vec![ShellWord::Static(decl.variant.as_str().to_owned())];
                for operand in &decl.operands {
                    match operand {
                        shuck_ast::DeclOperand::Flag(word) | shuck_ast::DeclOperand::Dynamic(word) => {
                            self.word_commands(word, cwd);
                            argv.push(self.word(word));
                        }
                        shuck_ast::DeclOperand::Assignment(assignment) => {
                            if let shuck_ast::AssignmentValue::Scalar(word) = &assignment.value {
                                self.word_commands(word, cwd);
                            }
                            self.setting(&assignment.target.name, &label);
                            argv.push(ShellWord::Static(assignment.span.slice(self.source).to_owned()));
                        }
                        shuck_ast::DeclOperand::Name(name) => {
                            self.setting(&name.name, &label);
                            argv.push(ShellWord::Static(name.span.slice(self.source).to_owned()));
                        }
                    }
                }
                self.out.push(Extracted::Command { label, argv, cwd: cwd.clone() });
            }
            Command::Binary(binary) => {
                if matches!(binary.op, shuck_ast::BinaryOp::Pipe | shuck_ast::BinaryOp::PipeAll) {
                    // Each side of a pipeline runs in its own subshell.
                    self.stmt(&binary.left, &mut cwd.clone());
                    self.stmt(&binary.right, &mut cwd.clone());
                } else {
                    self.stmt(&binary.left, cwd);
                    self.stmt(&binary.right, cwd);
                }
            }
            Command::Compound(compound) => self.compound(compound, cwd),
            Command::Function(function) => self.stmt(&function.body, &mut cwd.clone()),
            Command::AnonymousFunction(function) => {
                for arg in &function.args {
                    self.word_commands(arg, cwd);
                }
                self.stmt(&function.body, &mut cwd.clone());
            }
        }
    }

    /// `eval`, `source`, `.` and `cd` change what can be known.
    /// A variable set by the text: unanalysable when it changes what runs.
    fn setting(&mut self, name: &shuck_ast::Name, label: &str) {
        if let Some(reason) = super::environment::unanalysable_setting(name.as_str()) {
            self.out.push(Extracted::Unanalysable { label: label.to_owned(), reason });
        }
    }

    fn special_builtin(&mut self, argv: &[ShellWord], label: &str, cwd: &mut CwdState) {
        let Some(ShellWord::Static(name)) = argv.first() else {
            self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "the command name is only known at run time".to_owned(),
            });
            return;
        };
        match name.as_str() {
            "eval" => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "`eval` runs text built at run time".to_owned(),
            }),
            "source" | "." => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: format!("`{name}` runs the commands of a file"),
            }),
            "trap" => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "`trap` runs text later, on a signal or on exit".to_owned(),
            }),
            "enable" => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "`enable` can load builtins from a shared object".to_owned(),
            }),
            "alias" => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "`alias` changes what later command names mean".to_owned(),
            }),
            "cd" | "pushd" => {
                let target = argv
                    .iter()
                    .skip(1)
                    .find(|w| !matches!(w, ShellWord::Static(s) if s.starts_with('-') && s.len() > 1));
                *cwd = match target {
                    None => CwdState::Changed(self.home.to_owned()),
                    Some(ShellWord::Static(dir)) => match cwd {
                        CwdState::Unknown => CwdState::Unknown,
                        _ if dir.starts_with('/') => CwdState::Changed(dir.clone()),
                        CwdState::Start => CwdState::Changed(dir.clone()),
                        CwdState::Changed(base) => CwdState::Changed(format!("{base}/{dir}")),
                    },
                    Some(ShellWord::Dynamic) => CwdState::Unknown,
                };
            }
            _ => {}
        }
    }

    fn compound(&mut self, compound: &CompoundCommand, cwd: &mut CwdState) {
        match compound {
            CompoundCommand::If(c) => {
                self.seq(&c.condition, cwd);
                self.seq(&c.then_branch, cwd);
                for (condition, body) in &c.elif_branches {
                    self.seq(condition, cwd);
                    self.seq(body, cwd);
                }
                if let Some(body) = &c.else_branch {
                    self.seq(body, cwd);
                }
            }
            CompoundCommand::For(c) => {
                for word in c.words.iter().flatten() {
                    self.word_commands(word, cwd);
                }
                self.seq(&c.body, cwd);
            }
            CompoundCommand::Repeat(c) => {
                self.word_commands(&c.count, cwd);
                self.seq(&c.body, cwd);
            }
            CompoundCommand::Foreach(c) => {
                for word in &c.words {
                    self.word_commands(word, cwd);
                }
                self.seq(&c.body, cwd);
            }
            CompoundCommand::ArithmeticFor(c) => self.seq(&c.body, cwd),
            CompoundCommand::While(c) => {
                self.seq(&c.condition, cwd);
                self.seq(&c.body, cwd);
            }
            CompoundCommand::Until(c) => {
                self.seq(&c.condition, cwd);
                self.seq(&c.body, cwd);
            }
            CompoundCommand::Case(c) => {
                self.word_commands(&c.word, cwd);
                for item in &c.cases {
                    self.seq(&item.body, cwd);
                }
            }
            CompoundCommand::Select(c) => {
                for word in &c.words {
                    self.word_commands(word, cwd);
                }
                self.seq(&c.body, cwd);
            }
            CompoundCommand::Subshell(body) => self.seq(body, &mut cwd.clone()),
            CompoundCommand::BraceGroup(body) => self.seq(body, cwd),
            CompoundCommand::Arithmetic(_) => {}
            CompoundCommand::Time(c) => {
                if let Some(stmt) = &c.command {
                    self.stmt(stmt, cwd);
                }
            }
            CompoundCommand::Conditional(c) => {
                self.conditional(&c.expression, cwd);
                // A test of the shell's own, judged by its name.
                let label = shorten(c.span.slice(self.source));
                self.out.push(Extracted::Command {
                    label,
                    argv: vec![ShellWord::Static("[[".to_owned())],
                    cwd: cwd.clone(),
                });
            }
            CompoundCommand::Coproc(c) => self.stmt(&c.body, &mut cwd.clone()),
            CompoundCommand::Always(c) => {
                self.seq(&c.body, cwd);
                self.seq(&c.always_body, cwd);
            }
        }
    }

    fn conditional(&mut self, expression: &ConditionalExpr, cwd: &mut CwdState) {
        match expression {
            ConditionalExpr::Binary(binary) => {
                self.conditional(&binary.left, cwd);
                self.conditional(&binary.right, cwd);
            }
            ConditionalExpr::Unary(unary) => self.conditional(&unary.expr, cwd),
            ConditionalExpr::Parenthesized(paren) => self.conditional(&paren.expr, cwd),
            ConditionalExpr::Word(word) | ConditionalExpr::Regex(word) => self.word_commands(word, cwd),
            _ => {}
        }
    }

    /// Judges the commands nested in a word (substitutions).
    fn word_commands(&mut self, word: &Word, cwd: &CwdState) {
        for part in &word.parts {
            self.part_commands(&part.kind, cwd);
        }
    }

    fn part_commands(&mut self, part: &WordPart, cwd: &CwdState) {
        match part {
            WordPart::CommandSubstitution { body, .. } | WordPart::ProcessSubstitution { body, .. } => {
                self.seq(body, &mut cwd.clone());
            }
            WordPart::DoubleQuoted { parts, .. } => {
                for part in parts {
                    self.part_commands(&part.kind, cwd);
                }
            }
            WordPart::ParameterExpansion { operand_word_ast: Some(word), .. }
            | WordPart::IndirectExpansion { operand_word_ast: Some(word), .. } => self.word_commands(word, cwd),
            WordPart::ArithmeticExpansion { expression_word_ast, .. } => self.word_commands(expression_word_ast, cwd),
            WordPart::Substring { offset_word_ast, length_word_ast, .. }
            | WordPart::ArraySlice { offset_word_ast, length_word_ast, .. } => {
                self.word_commands(offset_word_ast, cwd);
                if let Some(word) = length_word_ast {
                    self.word_commands(word, cwd);
                }
            }
            _ => {}
        }
    }

    /// A word's static text (quotes removed, `~` expanded), or `Dynamic`.
    fn word(&self, word: &Word) -> ShellWord {
        if word.has_active_brace_expansion() {
            return ShellWord::Dynamic;
        }
        match shuck_ast::static_command_name_text(word, self.source) {
            Some(text) => self.tilde(word, &text).map_or(ShellWord::Dynamic, ShellWord::Static),
            None => ShellWord::Dynamic,
        }
    }

    /// Tilde expansion of an unquoted leading `~` (`~` and `~/…`).
    /// Tilde expansion as bash does it on an unquoted leading `~`: `~` and
    /// `~/…` are the home directory, `~+` the current directory (`.`,
    /// wherever `cd` led), `~-` the previous one (only known at run time:
    /// `None`), `~user` that user's home. Anything else stays as written.
    fn tilde(&self, word: &Word, text: &str) -> Option<String> {
        let raw = word.span.slice(self.source);
        let Some(rest) = text.strip_prefix('~').filter(|_| raw.starts_with('~')) else {
            return Some(text.to_owned());
        };
        let (prefix, tail) = rest.split_once('/').map_or((rest, ""), |(p, t)| (p, t));
        let tail = if rest.contains('/') { format!("/{tail}") } else { String::new() };
        match prefix {
            "" => Some(format!("{}{tail}", self.home.trim_end_matches('/'))),
            "+" => Some(format!(".{tail}")),
            "-" => None,
            user if user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) => {
                match nix::unistd::User::from_name(user) {
                    Ok(Some(found)) => Some(format!("{}{tail}", found.dir.to_string_lossy().trim_end_matches('/'))),
                    _ => Some(text.to_owned()),
                }
            }
            _ => Some(text.to_owned()),
        }
    }
}

pub(crate) fn basename(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(text: &str) -> Vec<String> {
        extract(text, "/home/u")
            .into_iter()
            .map(|e| match e {
                Extracted::Command { argv, .. } => argv
                    .iter()
                    .map(|w| match w {
                        ShellWord::Static(s) => s.clone(),
                        ShellWord::Dynamic => "<?>".to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Extracted::Redirect { access, target, .. } => format!("{access:?} {target:?}"),
                Extracted::Unanalysable { reason, .. } => {
                    format!("unanalysable: {}", reason.split(' ').next().unwrap_or_default())
                }
            })
            .collect()
    }

    #[test]
    fn simple_commands_and_redirects() {
        assert_eq!(commands("cargo test && git push"), ["cargo test", "git push"]);
        assert_eq!(commands("ls > out.txt 2>&1"), ["Write Static(\"out.txt\")", "ls"]);
        assert_eq!(commands("( ( rm -rf / ) )"), ["rm -rf /"]);
        assert_eq!(commands("r\\\nm -rf /"), ["rm -rf /"]);
        assert_eq!(commands("$'\\x72\\x6d' -rf /"), ["rm -rf /"]);
        assert_eq!(commands("echo $'\\'' ; rm -rf / #'"), ["echo '", "rm -rf /"]);
        assert_eq!(commands("echo ok # ; rm -rf /"), ["echo ok"]);
        assert_eq!(commands("rm -rf ~/x '~'"), ["rm -rf /home/u/x ~"]);
        assert_eq!(commands("echo '$(not)'"), ["echo $(not)"]);
    }

    #[test]
    fn nested_and_dynamic_commands() {
        assert_eq!(commands("echo $(rm -rf /)"), ["unanalysable: command", "rm -rf /", "echo <?>"]);
        assert_eq!(commands("$CMD --flag"), ["unanalysable: the", "<?> --flag"]);
        assert_eq!(commands("eval \"$X\""), ["unanalysable: `eval`", "eval <?>"]);
        assert_eq!(commands("{rm,-rf,/}"), ["unanalysable: the", "<?>"]);
        assert_eq!(commands("cat <<EOF | sh\nrm -rf /\nEOF\n"), ["cat", "sh"]);
        assert_eq!(commands("bash <<EOF\nrm -rf /\nEOF\n"), ["unanalysable: a", "bash"]);
        assert_eq!(commands("echo `echo \\`rm -rf /\\``")[0], "unanalysable: backtick");
        assert_eq!(commands("(echo a")[0], "unanalysable: the");
    }

    #[test]
    fn fuzz_leak_60a778ec_pipelines_of_nested_sh_c() {
        // Found by the `shell_request` fuzzer (a leak report: the parser
        // thread outlived the call). The thread is now joined; the text
        // still splits into its four commands.
        let text = "echdtsbx $!rm\u{e} -rf| sh -c \"l!s > xc org t| sh -c \"lmst & g&it  sh -c pu ";
        assert_eq!(commands(text), ["echdtsbx <?> -rf", "sh -c l!s > xc org t| sh -c lmst", "g", "it sh -c pu"]);
    }

    #[test]
    fn hostile_input_is_refused_not_crashed_on() {
        let deep = "(".repeat(100_000);
        assert_eq!(commands(&deep), ["unanalysable: shell"]);
        let long_chain = "true && ".repeat(5_000) + "true";
        assert!(
            commands(&long_chain).iter().any(|c| c.starts_with("unanalysable")) || commands(&long_chain).len() == 5_001
        );
        assert_eq!(commands("echo a\0b"), ["unanalysable: shell"]);
    }
}
