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
/// Stands for the `PATH` the text started with in a `PATH` the text set.
pub(crate) const PATH_MARKER: &str = "\u{0}PATH\u{0}";

/// Longest text parsed on the caller's stack.
const INLINE_MAX_BYTES: usize = 2048;
/// Deepest nesting parsed on the caller's stack.
const INLINE_MAX_NESTING: usize = 8;
/// Most values of a `for` loop judged one by one.
const MAX_LOOP_VALUES: usize = 16;
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
        /// The `PATH` the command is looked up in, when the text set it:
        /// directories in order, [`PATH_MARKER`] standing for the `PATH`
        /// the text started with.
        search: Option<Vec<String>>,
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
    reply: mpsc::Sender<Walked>,
}

/// What the parser thread found: the extracted commands, and where the
/// substitutions whose bodies the walk judged start.
struct Walked {
    extracted: Vec<Extracted>,
    substitutions: Vec<usize>,
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

fn parse_and_walk(source: &str, home: &str) -> Walked {
    let result = Parser::with_dialect(source, ShellDialect::Bash).parse();
    // `$HOME` and `$PWD` are expanded unless the text may set them.
    let expand_variables = only_read(source, "HOME") && only_read(source, "PWD");
    let mut walker = Walker {
        source,
        home,
        expand_variables,
        out: Vec::new(),
        substitutions: Vec::new(),
        bindings: Vec::new(),
        search: None,
        reading_path: false,
    };
    if result.status != ParseStatus::Clean {
        walker.out.push(Extracted::Unanalysable {
            label: shorten(source),
            reason: "the shell parser could not read all of this text".to_owned(),
        });
    }
    if result.status != ParseStatus::Fatal {
        walker.seq(&result.file.body, &mut CwdState::Start);
    }
    Walked { extracted: walker.out, substitutions: walker.substitutions }
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
    // Short, shallow text is parsed on the caller's stack: a thread
    // hand-off costs more than such a parse, and the nesting bound keeps
    // the stack it needs small (a test parses the deepest such text on a
    // 1 MiB stack, unoptimised).
    let inline = text.len() <= INLINE_MAX_BYTES && nesting_depth(text) <= INLINE_MAX_NESTING;
    let mut out = Vec::new();
    // The scan is the backstop for substitutions the parser might not
    // see: unless the walk judged the body of every substitution the scan
    // found, at the same place, each kind found is unanalysable.
    let (reasons, scanned) = substitution_scan(text);
    let backstop = |out: &mut Vec<Extracted>| {
        for reason in &reasons {
            out.push(Extracted::Unanalysable { label: label(), reason: (*reason).to_owned() });
        }
    };

    let walked = if inline { Ok(parse_and_walk(text, home)) } else { parse_on_thread(text, home) };
    match walked {
        Ok(walked) => {
            if !scanned.iter().all(|at| walked.substitutions.contains(at)) {
                backstop(&mut out);
            }
            out.extend(walked.extracted);
        }
        Err(reason) => {
            backstop(&mut out);
            out.push(Extracted::Unanalysable { label: label(), reason: reason.to_owned() });
        }
    }
    out
}

/// Parses on a parser thread with a big stack (hostile text must not
/// overflow the caller's), kept between calls: starting a thread per call
/// costs more than parsing a command. The error says why nothing was
/// parsed.
fn parse_on_thread(text: &str, home: &str) -> Result<Walked, &'static str> {
    let worker = IDLE_PARSERS.lock().ok().and_then(|mut idle| idle.pop()).or_else(ParserThread::start);
    let worker = worker.ok_or("could not start the shell parser")?;
    let (reply, receiver) = mpsc::channel();
    let job = ParseJob { source: text.to_owned(), home: home.to_owned(), reply };
    worker.jobs.send(job).map_err(|_| "the shell parser stopped")?;
    // On a timeout the thread is dropped: it ends once the parse does,
    // since no more work can reach it.
    let walked = receiver.recv_timeout(PARSER_TIMEOUT).map_err(|_| "the shell parser did not finish in time")?;
    if let Ok(mut idle) = IDLE_PARSERS.lock()
        && idle.len() < MAX_IDLE_PARSERS
    {
        idle.push(worker);
    }
    Ok(walked)
}

/// Whether every mention of the variable `name` in `text` reads it as
/// `$NAME` or `${NAME}`: nothing can set it (`NAME=`, `read NAME`,
/// `export NAME`, `for NAME in`, `${NAME:=…}`).
fn only_read(text: &str, name: &str) -> bool {
    let bytes = text.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut from = 0;
    while let Some(found) = text[from..].find(name) {
        let start = from + found;
        let end = start + name.len();
        from = end;
        let before = start.checked_sub(1).and_then(|i| bytes.get(i)).copied();
        let after = bytes.get(end).copied();
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            continue; // part of another name
        }
        let plain = before == Some(b'$');
        let braced = before == Some(b'{')
            && start.checked_sub(2).and_then(|i| bytes.get(i)) == Some(&b'$')
            && after == Some(b'}');
        if !plain && !braced {
            return false;
        }
    }
    true
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

/// Where command substitutions, backticks and process substitutions start
/// outside single quotes, with the reasons they make a text unanalysable.
/// Arithmetic `$((` is not a substitution, but one nested in it is found.
fn substitution_scan(text: &str) -> (Vec<&'static str>, Vec<usize>) {
    let mut found = Vec::new();
    let mut starts = Vec::new();
    let mut backticks = 0;
    let mut nested_backticks = false;
    let mut note = |reason: &'static str, at: usize| {
        starts.push(at);
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
            b'\\' if !in_single => {
                // `\`` inside backticks opens a nested substitution, which
                // the parser may read as a literal: the backstop must hold.
                if backticks % 2 == 1 && next == Some(b'`') {
                    nested_backticks = true;
                }
                index += 1;
            }
            b'\'' if !in_double => {
                // `$'…'` is ANSI-C quoting: backslash escapes apply inside.
                in_single = !in_single;
            }
            b'"' if !in_single => in_double = !in_double,
            b'$' if !in_single && next == Some(b'(') => {
                if bytes.get(index + 2) == Some(&b'(') {
                    index += 2;
                } else {
                    note("command substitution `$(…)` runs a command whose output is only known at run time", index);
                }
            }
            b'`' if !in_single => {
                // An opening and a closing backtick make one substitution.
                backticks += 1;
                if backticks % 2 == 1 {
                    note("backtick command substitution runs a command whose output is only known at run time", index);
                }
            }
            b'<' | b'>' if !in_single && !in_double && next == Some(b'(') => {
                note("process substitution `<(…)`/`>(…)` runs a command in the background", index);
            }
            _ => {}
        }
        index += 1;
    }
    if nested_backticks {
        found.push("nested backtick command substitution runs commands the parser may read as text");
        // No walk can account for this one.
        starts.push(usize::MAX);
    }
    (found, starts)
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
    /// Whether `$HOME` and `$PWD` are known (nothing in the text sets them).
    expand_variables: bool,
    out: Vec<Extracted>,
    /// Where the substitutions whose bodies were walked start, for the
    /// backstop scan.
    substitutions: Vec<usize>,
    /// `for` loop variables and the value of the pass being walked.
    bindings: Vec<(String, String)>,
    /// The `PATH` set by `PATH=…` or `export PATH=…` earlier in this shell.
    search: Option<Vec<String>>,
    /// While reading a `PATH` value: `$PATH` is [`PATH_MARKER`].
    reading_path: bool,
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
                            self.substitutions.push(part.span.start.offset());
                            self.isolated(|walker| walker.seq(body, &mut cwd.clone()));
                        }
                    }
                }
            }
        }
        match &stmt.command {
            Command::Simple(simple) => {
                let name_text = simple.name.span.slice(self.source);
                let bare = name_text.is_empty() && simple.args.is_empty();
                let mut search = self.search.clone();
                for assignment in simple.assignments.iter() {
                    if let shuck_ast::AssignmentValue::Scalar(word) = &assignment.value {
                        self.word_commands(word, cwd);
                        if assignment.target.name.as_str() == "PATH"
                            && let Some(dirs) = self.path_value(word)
                        {
                            // A prefix sets it for the command, a bare
                            // assignment for the rest of the shell.
                            search = Some(dirs);
                            continue;
                        }
                    }
                    self.setting(&assignment.target.name, &label);
                }
                if bare {
                    self.search = search;
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
                self.out.push(Extracted::Command { label, argv, cwd: cwd.clone(), search });
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
                            let mut path = None;
                            if let shuck_ast::AssignmentValue::Scalar(word) = &assignment.value {
                                self.word_commands(word, cwd);
                                if assignment.target.name.as_str() == "PATH" {
                                    path = self.path_value(word);
                                }
                            }
                            // `export PATH=…`: the rest of the shell looks
                            // programs up there.
                            match path {
                                Some(dirs) => self.search = Some(dirs),
                                None => self.setting(&assignment.target.name, &label),
                            }
                            argv.push(ShellWord::Static(assignment.span.slice(self.source).to_owned()));
                        }
                        shuck_ast::DeclOperand::Name(name) => {
                            self.setting(&name.name, &label);
                            argv.push(ShellWord::Static(name.span.slice(self.source).to_owned()));
                        }
                    }
                }
                self.out.push(Extracted::Command { label, argv, cwd: cwd.clone(), search: self.search.clone() });
            }
            Command::Binary(binary) => {
                if matches!(binary.op, shuck_ast::BinaryOp::Pipe | shuck_ast::BinaryOp::PipeAll) {
                    // Each side of a pipeline runs in its own subshell.
                    self.isolated(|walker| walker.stmt(&binary.left, &mut cwd.clone()));
                    self.isolated(|walker| walker.stmt(&binary.right, &mut cwd.clone()));
                } else {
                    self.stmt(&binary.left, cwd);
                    self.stmt(&binary.right, cwd);
                }
            }
            Command::Compound(compound) => self.compound(compound, cwd),
            Command::Function(function) => self.isolated(|walker| walker.stmt(&function.body, &mut cwd.clone())),
            Command::AnonymousFunction(function) => {
                for arg in &function.args {
                    self.word_commands(arg, cwd);
                }
                self.isolated(|walker| walker.stmt(&function.body, &mut cwd.clone()));
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
            "exec" if argv.len() == 1 => self.out.push(Extracted::Unanalysable {
                label: label.to_owned(),
                reason: "`exec` with only redirections changes the open files of every later command".to_owned(),
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
                match self.loop_values(c) {
                    // The body once per value, the variable bound to it.
                    Some((name, values)) => {
                        for value in values {
                            self.bindings.push((name.clone(), value));
                            self.seq(&c.body, cwd);
                            self.bindings.pop();
                        }
                    }
                    None => self.seq(&c.body, cwd),
                }
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
            CompoundCommand::Subshell(body) => self.isolated(|walker| walker.seq(body, &mut cwd.clone())),
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
                    search: None,
                });
            }
            CompoundCommand::Coproc(c) => self.isolated(|walker| walker.stmt(&c.body, &mut cwd.clone())),
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
            self.part_commands(part, cwd);
        }
    }

    fn part_commands(&mut self, node: &shuck_ast::WordPartNode, cwd: &CwdState) {
        match &node.kind {
            WordPart::CommandSubstitution { body, .. } | WordPart::ProcessSubstitution { body, .. } => {
                self.substitutions.push(node.span.start.offset());
                self.isolated(|walker| walker.seq(body, &mut cwd.clone()));
            }
            WordPart::DoubleQuoted { parts, .. } => {
                for part in parts {
                    self.part_commands(part, cwd);
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
        let text =
            if (self.expand_variables || self.reading_path || !self.bindings.is_empty()) && has_variable(&word.parts) {
                let mut text = String::new();
                self.expand_parts(&word.parts, false, &mut text).then_some(std::borrow::Cow::Owned(text))
            } else {
                shuck_ast::static_command_name_text(word, self.source)
            };
        match text {
            Some(text) => self.tilde(word, &text).map_or(ShellWord::Dynamic, ShellWord::Static),
            None => ShellWord::Dynamic,
        }
    }

    /// Walks `walk` as a subshell does: a `PATH` it sets stays inside.
    fn isolated(&mut self, walk: impl FnOnce(&mut Self)) {
        let saved = self.search.clone();
        walk(self);
        self.search = saved;
    }

    /// The directories of a static `PATH` value, `$PATH` in it standing
    /// for the `PATH` before (the one the text set earlier, or
    /// [`PATH_MARKER`]); an empty entry is the current directory, as for
    /// the shell. `None` when the value is only known at run time.
    fn path_value(&mut self, word: &Word) -> Option<Vec<String>> {
        self.reading_path = true;
        let value = self.word(word);
        self.reading_path = false;
        let ShellWord::Static(text) = value else { return None };
        let mut dirs = Vec::new();
        for entry in text.split(':') {
            match entry {
                PATH_MARKER => match &self.search {
                    Some(before) => dirs.extend(before.iter().cloned()),
                    None => dirs.push(PATH_MARKER.to_owned()),
                },
                "" => dirs.push(".".to_owned()),
                dir => dirs.push(dir.to_owned()),
            }
        }
        Some(dirs)
    }

    /// The value of a variable the walk knows: a `for` variable in its
    /// pass, `$HOME` the home directory, `$PWD` the directory the command
    /// runs in (`.`).
    fn variable(&self, name: &str) -> Option<String> {
        if let Some((_, value)) = self.bindings.iter().rev().find(|(bound, _)| bound == name) {
            return Some(value.clone());
        }
        if self.reading_path && name == "PATH" {
            return Some(PATH_MARKER.to_owned());
        }
        match name {
            "HOME" if self.expand_variables => Some(self.home.trim_end_matches('/').to_owned()),
            "PWD" if self.expand_variables => Some(".".to_owned()),
            _ => None,
        }
    }

    /// A `for NAME in WORDS` whose words are all static (at most
    /// [`MAX_LOOP_VALUES`]) and whose body never sets NAME.
    fn loop_values(&self, command: &shuck_ast::ForCommand) -> Option<(String, Vec<String>)> {
        let [target] = command.targets.as_slice() else { return None };
        let name = target.name.as_ref()?.as_str().to_owned();
        let words = command.words.as_ref()?;
        if words.len() > MAX_LOOP_VALUES || matches!(name.as_str(), "HOME" | "PWD") {
            return None;
        }
        if !only_read(command.body.span.slice(self.source), &name) {
            return None;
        }
        words
            .iter()
            .map(|word| match self.word(word) {
                ShellWord::Static(text) => Some(text),
                ShellWord::Dynamic => None,
            })
            .collect::<Option<Vec<String>>>()
            .map(|values| (name, values))
    }

    /// Appends the static text of `parts` with known variables expanded;
    /// `false` when any part is only known at run time.
    fn expand_parts(&self, parts: &[shuck_ast::WordPartNode], quoted: bool, out: &mut String) -> bool {
        let mut run: Vec<shuck_ast::WordPartNode> = Vec::new();
        for part in parts {
            let value = match &part.kind {
                WordPart::Variable(name) => Some(self.variable(name.as_str())),
                WordPart::Parameter(expansion) => Some(self.variable(expansion.raw_body.slice(self.source))),
                WordPart::DoubleQuoted { parts: inner, .. } if has_variable(inner) => {
                    if !self.static_run(&mut run, quoted, out) || !self.expand_parts(inner, true, out) {
                        return false;
                    }
                    continue;
                }
                _ => None,
            };
            match value {
                Some(Some(value)) => {
                    if !self.static_run(&mut run, quoted, out) {
                        return false;
                    }
                    out.push_str(&value);
                }
                Some(None) => return false,
                None => run.push(part.clone()),
            }
        }
        self.static_run(&mut run, quoted, out)
    }

    /// Appends the static text of a run of parts (decoded as inside double
    /// quotes when `quoted`) and empties the run.
    fn static_run(&self, run: &mut Vec<shuck_ast::WordPartNode>, quoted: bool, out: &mut String) -> bool {
        let Some(first) = run.first() else { return true };
        let span = first.span;
        let parts = std::mem::take(run);
        let parts = if quoted {
            vec![shuck_ast::WordPartNode::new(WordPart::DoubleQuoted { parts, dollar: false }, span)]
        } else {
            parts
        };
        let word = Word { parts, span, brace_syntax: Vec::new() };
        match shuck_ast::static_command_name_text(&word, self.source) {
            Some(text) => {
                out.push_str(&text);
                true
            }
            None => false,
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

/// Whether a variable expansion appears in `parts`, double quotes
/// included.
fn has_variable(parts: &[shuck_ast::WordPartNode]) -> bool {
    parts.iter().any(|part| match &part.kind {
        WordPart::Variable(_) | WordPart::Parameter(_) => true,
        WordPart::DoubleQuoted { parts, .. } => has_variable(parts),
        _ => false,
    })
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
        // A substitution the walk judged is no longer unanalysable: its
        // command is a part, its output an unknown word.
        assert_eq!(commands("echo $(rm -rf /)"), ["rm -rf /", "echo <?>"]);
        assert_eq!(commands("cat \"$HOME/.ssh/id_rsa\" $PWD/x"), ["cat /home/u/.ssh/id_rsa ./x"]);
        assert_eq!(commands("HOME=/tmp; cat $HOME/x"), ["unanalysable: setting", "cat <?>"]);
        assert_eq!(commands("for f in a b; do cat \"$f\"; done"), ["cat a", "cat b"]);
        assert_eq!(commands("for f in a; do f=x; cat $f; done"), ["cat <?>"]);
        assert_eq!(commands("exec 3> x")[1], "unanalysable: `exec`");
        // Each substitution the scan finds must be one the walk judged, at
        // the same place: the walk skips case patterns, so the scan holds.
        assert_eq!(commands("case a in $(rm -rf ~)) echo;; esac")[0], "unanalysable: command");
        assert_eq!(commands("echo `id` <(ls) \"$(pwd)\""), ["id", "ls", "pwd", "echo <?> <?> <?>"]);
        assert_eq!(commands("cat <<EOF\n$(id)\nEOF\n"), ["id", "cat"]);
        assert_eq!(commands("echo $'\\'' $(rm -rf ~) ''"), ["rm -rf /home/u", "echo ' <?> "]);
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
    fn the_deepest_text_parsed_inline_fits_a_small_stack() {
        // Every construct that nests, at the inline bound, on a stack half
        // the smallest a caller's thread gets by default (2 MiB), in a
        // debug build, which needs several times the stack of a release.
        const STACK: usize = 1024 * 1024;
        let depth = INLINE_MAX_NESTING;
        let texts = [
            format!("{}rm -rf /{}", "( ".repeat(depth), " )".repeat(depth)),
            format!("echo {}x{}", "$(echo ".repeat(depth), ")".repeat(depth)),
            format!("{}ls{}", "{ ".repeat(depth), "; }".repeat(depth)),
            format!("{}ls{}", "if true; then ".repeat(depth), "; fi".repeat(depth)),
            format!("echo $(( {}1{} ))", "(".repeat(depth - 2), ")".repeat(depth - 2)),
            format!("[[ {}a == b{} ]]", "( ".repeat(depth - 2), " )".repeat(depth - 2)),
            format!("echo {}x{}", "\"$(echo ".repeat(depth / 2), ")\"".repeat(depth / 2)),
        ];
        for text in texts {
            assert!(text.len() <= INLINE_MAX_BYTES && nesting_depth(&text) <= INLINE_MAX_NESTING, "{text}");
            let owned = text.clone();
            let walked = std::thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || parse_and_walk(&owned, "/home/u").extracted.len())
                .expect("thread")
                .join();
            assert!(walked.is_ok_and(|n| n > 0), "{text}");
        }
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
