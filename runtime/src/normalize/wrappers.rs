//! Commands that run another command: what runs inside them.
//!
//! Each wrapper's own options are skipped as its manual documents them; an
//! option that could change what runs in ways the judge cannot follow
//! (`env -S`, `git -c`, `git --exec-path=…`) makes the call unanalysable.

use super::Word;
use super::shell::basename;

pub(crate) enum Unwrapped {
    NotAWrapper,
    /// `sh -c TEXT`: judge the text.
    Shell(Word),
    Inner {
        /// The command lines that run (several for `find -exec … -exec …`).
        argv: Vec<Vec<Word>>,
        /// Directory the inner commands run in, when the wrapper changes it.
        cwd: Option<Word>,
        /// The inner command receives further unknown arguments.
        open_tail: bool,
        /// The wrapper does work of its own that rules should see.
        also_judge_outer: bool,
        /// Files the wrapper itself reads or writes.
        extra: Vec<Extra>,
    },
    Unanalysable(String),
}

pub(crate) enum Extra {
    Read(String),
    Write(String),
    /// Something the wrapper does that cannot be analysed (beside the
    /// inner command, which is still judged).
    Unanalysable(String),
}

fn inner(argv: &[Word]) -> Unwrapped {
    if argv.is_empty() {
        return Unwrapped::NotAWrapper;
    }
    Unwrapped::Inner {
        argv: vec![argv.to_vec()],
        cwd: None,
        open_tail: false,
        also_judge_outer: false,
        extra: Vec::new(),
    }
}

pub(crate) fn unwrap(program: &str, argv: &[Word]) -> Unwrapped {
    let args = argv.get(1..).unwrap_or_default();
    match basename(program) {
        shell_name @ ("sh" | "bash" | "zsh" | "dash" | "ksh" | "mksh" | "ash") => shell(shell_name, args),
        "env" => env(args),
        "nohup" => match args.first() {
            Some(Word::Known(first)) if first.starts_with("--") && first != "--" => Unwrapped::NotAWrapper,
            Some(Word::Known(first)) if first == "--" => inner(args.get(1..).unwrap_or_default()),
            _ => inner(args),
        },
        "nice" => options(args, &["-n", "--adjustment"], &[], |flag| {
            flag.len() > 1 && flag.get(1..).is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
        })
        .map_or_else(Unwrapped::Unanalysable, inner),
        "timeout" => match options(
            args,
            &["-s", "--signal", "-k", "--kill-after"],
            &["--foreground", "--preserve-status", "-v", "--verbose"],
            |_| false,
        ) {
            // The first operand is the duration.
            Ok(rest) => inner(rest.get(1..).unwrap_or_default()),
            Err(reason) => Unwrapped::Unanalysable(reason),
        },
        "stdbuf" => options(args, &["-i", "-o", "-e", "--input", "--output", "--error"], &[], |_| false)
            .map_or_else(Unwrapped::Unanalysable, inner),
        "time" => time(args),
        "command" => match args.first() {
            Some(Word::Known(flag)) if flag == "-v" || flag == "-V" => Unwrapped::NotAWrapper,
            _ => options(args, &[], &["-p"], |_| false).map_or_else(Unwrapped::Unanalysable, inner),
        },
        "exec" => match options(args, &["-a"], &["-c", "-l", "-cl", "-lc"], |_| false) {
            Ok([]) => Unwrapped::Inner {
                argv: Vec::new(),
                cwd: None,
                open_tail: false,
                also_judge_outer: false,
                extra: Vec::new(),
            },
            Ok(rest) => inner(rest),
            Err(reason) => Unwrapped::Unanalysable(reason),
        },
        "builtin" => inner(args),
        "busybox" => match args.first() {
            Some(Word::Known(applet)) if !applet.starts_with('-') => inner(args),
            _ => Unwrapped::NotAWrapper,
        },
        "xargs" => xargs(args),
        "find" => find(args),
        "npx" | "bunx" | "pnpx" => package_runner(args),
        "npm" | "pnpm" | "yarn" | "bun" => match args.first() {
            Some(Word::Known(verb)) if matches!(verb.as_str(), "exec" | "x" | "dlx") => {
                package_runner(args.get(1..).unwrap_or_default())
            }
            _ => Unwrapped::NotAWrapper,
        },
        "git" => git(argv),
        _ => Unwrapped::NotAWrapper,
    }
}

/// Skips options: `with_value` take the next word (or `=value`, or an
/// attached value for short ones), `flags` take none, `numeric` accepts
/// extra forms. Returns the words after the options.
fn options<'a>(
    args: &'a [Word],
    with_value: &[&str],
    flags: &[&str],
    numeric: impl Fn(&str) -> bool,
) -> Result<&'a [Word], String> {
    let mut index = 0;
    while let Some(word) = args.get(index) {
        let Word::Known(text) = word else {
            return Err("an option of the wrapper is only known at run time".to_owned());
        };
        if text == "--" {
            return Ok(args.get(index + 1..).unwrap_or_default());
        }
        if !text.starts_with('-') || text == "-" {
            return Ok(args.get(index..).unwrap_or_default());
        }
        if flags.contains(&text.as_str()) || numeric(text) {
            index += 1;
        } else if with_value.contains(&text.as_str()) {
            index += 2;
        } else if with_value.iter().any(|option| {
            (option.starts_with("--") && text.starts_with(&format!("{option}=")))
                || (!option.starts_with("--") && text.starts_with(option) && text.len() > option.len())
        }) {
            index += 1;
        } else {
            return Err(format!("unknown wrapper option `{text}`"));
        }
    }
    Ok(&[])
}

/// Constructs that bash reads one way and a POSIX shell (dash) another,
/// or that only bash has. The engine parses bash, so text for any other
/// shell that holds one of them is not judged as bash would read it.
const DIALECT_DIFFERENCES: &[(&str, &str)] = &[
    ("$'", "ANSI-C quoting `$'…'`"),
    ("$\"", "locale quoting `$\"…\"`"),
    ("[[", "`[[ … ]]`"),
    ("<<<", "here-strings"),
    ("&>", "`&>` redirection"),
    ("|&", "`|&` pipes"),
    ("<(", "process substitution"),
    (">(", "process substitution"),
    ("((", "arithmetic commands"),
    ("function ", "the `function` keyword"),
    ("=(", "array assignment"),
    ("${!", "indirect expansion"),
    (";;&", "`;;&` case fall-through"),
    (";&", "`;&` case fall-through"),
];

/// Why bash and the POSIX shell `program` might read `text` differently.
pub(crate) fn dialect_difference(program: &str, text: &str) -> Option<&'static str> {
    if program == "bash" {
        return None;
    }
    if let Some((_, what)) = DIALECT_DIFFERENCES.iter().find(|(needle, _)| text.contains(needle)) {
        return Some(what);
    }
    braces(text)
}

/// Brace expansion (`{a,b}`, `{1..3}`) and bash-only parameter
/// operations (`${x//a/b}`, `${x:1:2}`, `${x^^}`, `${x,,}`).
fn braces(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    for (open, _) in text.match_indices('{') {
        let parameter = open > 0 && bytes.get(open - 1) == Some(&b'$');
        let Some(length) = text.get(open + 1..).and_then(|rest| rest.find('}')) else { continue };
        let inside = text.get(open + 1..open + 1 + length).unwrap_or_default();
        if parameter {
            // The name: a special parameter or an identifier (or digits).
            let name = inside
                .strip_prefix(['@', '*', '?', '$', '-'])
                .unwrap_or_else(|| inside.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_'));
            let operator = if name.len() == inside.len() && inside.starts_with('#') { "" } else { name };
            const POSIX: [&str; 10] = [":-", ":=", ":?", ":+", "-", "=", "?", "+", "%", "#"];
            if !operator.is_empty() && !POSIX.iter().any(|op| operator.starts_with(op)) {
                return Some("bash-only parameter expansion");
            }
        } else if !inside.contains(char::is_whitespace) && (inside.contains(',') || inside.contains("..")) {
            return Some("brace expansion");
        }
    }
    None
}

fn shell(program: &str, args: &[Word]) -> Unwrapped {
    let mut saw_c = false;
    let mut index = 0;
    while let Some(word) = args.get(index) {
        let Word::Known(text) = word else {
            return if saw_c {
                Unwrapped::Shell(Word::Unknown)
            } else {
                Unwrapped::Unanalysable("a shell option is only known at run time".to_owned())
            };
        };
        if text == "--" || text == "-" {
            index += 1;
            break;
        }
        if let Some(long) = text.strip_prefix("--") {
            let name = long.split_once('=').map_or(long, |(name, _)| name);
            if matches!(name, "rcfile" | "init-file") {
                return Unwrapped::Unanalysable(format!("`{program} --{name}` runs the commands of a file first"));
            }
            index += 1;
            continue;
        }
        if (text.starts_with('-') || text.starts_with('+')) && text.len() > 1 {
            let cluster = text.get(1..).unwrap_or_default();
            if text.starts_with('-') && cluster.contains('i') {
                return Unwrapped::Unanalysable(format!(
                    "an interactive `{program} -i` runs its start-up files and reads commands from the terminal"
                ));
            }
            saw_c |= cluster.contains('c');
            index += if cluster.contains(['o', 'O']) { 2 } else { 1 };
            continue;
        }
        break;
    }
    match (saw_c, args.get(index)) {
        (true, Some(Word::Known(text))) => match dialect_difference(program, text) {
            Some(what) => Unwrapped::Unanalysable(format!(
                "`{program} -c` text with {what}: bash, whose grammar the judge parses, and {program} may read it differently"
            )),
            None => Unwrapped::Shell(Word::Known(text.clone())),
        },
        (true, Some(text)) => Unwrapped::Shell(text.clone()),
        _ => Unwrapped::NotAWrapper,
    }
}

fn env(args: &[Word]) -> Unwrapped {
    let mut index = 0;
    let mut cwd = None;
    while let Some(word) = args.get(index) {
        let Word::Known(text) = word else {
            return Unwrapped::Unanalysable("an argument of `env` is only known at run time".to_owned());
        };
        match text.as_str() {
            "--" => {
                index += 1;
                break;
            }
            "-i" | "-" | "--ignore-environment" | "-0" | "--null" | "-v" | "--debug" => index += 1,
            "-u" | "--unset" => index += 2,
            "-C" | "--chdir" => {
                cwd = args.get(index + 1).cloned();
                index += 2;
            }
            t if t.starts_with("-S") || t.starts_with("--split-string") => {
                return Unwrapped::Unanalysable("`env -S` splits a string into a command line".to_owned());
            }
            t if t.starts_with("--chdir=") => {
                cwd = Some(Word::Known(t.trim_start_matches("--chdir=").to_owned()));
                index += 1;
            }
            t if t.starts_with("-C") => {
                cwd = Some(Word::Known(t.get(2..).unwrap_or_default().to_owned()));
                index += 1;
            }
            t if t.starts_with("-u") || t.starts_with("--unset=") || t.starts_with("--") => index += 1,
            t if t.starts_with('-') => return Unwrapped::Unanalysable(format!("unknown `env` option `{t}`")),
            _ => break,
        }
    }
    // NAME=VALUE assignments.
    let mut extra = Vec::new();
    while let Some(Word::Known(text)) = args.get(index) {
        match text.split_once('=') {
            Some((name, _)) if !name.is_empty() && !name.contains('/') => {
                if let Some(reason) = super::environment::unanalysable_setting(name) {
                    extra.push(Extra::Unanalysable(reason));
                }
                index += 1;
            }
            _ => break,
        }
    }
    if matches!(args.get(index), Some(Word::Unknown)) {
        return Unwrapped::Unanalysable("an argument of `env` is only known at run time".to_owned());
    }
    match args.get(index..) {
        Some(rest) if !rest.is_empty() => {
            Unwrapped::Inner { argv: vec![rest.to_vec()], cwd, open_tail: false, also_judge_outer: false, extra }
        }
        _ => Unwrapped::NotAWrapper,
    }
}

fn time(args: &[Word]) -> Unwrapped {
    let mut extra = Vec::new();
    let mut index = 0;
    while let Some(Word::Known(text)) = args.get(index) {
        match text.as_str() {
            "--" => {
                index += 1;
                break;
            }
            "-p" | "-v" | "-a" | "-q" | "--portability" | "--verbose" | "--append" | "--quiet" => index += 1,
            "-o" | "--output" => {
                if let Some(Word::Known(file)) = args.get(index + 1) {
                    extra.push(Extra::Write(file.clone()));
                }
                index += 2;
            }
            "-f" | "--format" => index += 2,
            t if t.starts_with("--output=") => {
                extra.push(Extra::Write(t.trim_start_matches("--output=").to_owned()));
                index += 1;
            }
            t if t.starts_with("--format=") => index += 1,
            t if t.starts_with('-') => return Unwrapped::Unanalysable(format!("unknown `time` option `{t}`")),
            _ => break,
        }
    }
    match args.get(index..) {
        Some(rest) if !rest.is_empty() => {
            Unwrapped::Inner { argv: vec![rest.to_vec()], cwd: None, open_tail: false, also_judge_outer: false, extra }
        }
        _ => Unwrapped::NotAWrapper,
    }
}

fn xargs(args: &[Word]) -> Unwrapped {
    let mut extra = Vec::new();
    let mut replace: Option<String> = None;
    let mut index = 0;
    while let Some(word) = args.get(index) {
        let Word::Known(text) = word else {
            return Unwrapped::Unanalysable("an argument of `xargs` is only known at run time".to_owned());
        };
        let value = || match args.get(index + 1) {
            Some(Word::Known(v)) => Some(v.clone()),
            _ => None,
        };
        match text.as_str() {
            "--" => {
                index += 1;
                break;
            }
            "-0" | "-r" | "-t" | "-p" | "-x" | "-o" | "--null" | "--no-run-if-empty" | "--verbose"
            | "--interactive" | "--exit" | "--open-tty" => index += 1,
            "-a" | "--arg-file" => {
                if let Some(file) = value() {
                    extra.push(Extra::Read(file));
                }
                index += 2;
            }
            "-I" => {
                replace = value();
                index += 2;
            }
            "-i" | "--replace" => {
                replace = Some("{}".to_owned());
                index += 1;
            }
            "-d" | "--delimiter" | "-E" | "--eof" | "-L" | "--max-lines" | "-n" | "--max-args" | "-P"
            | "--max-procs" | "-s" | "--max-chars" | "--process-slot-var" => index += 2,
            t if t.starts_with("--replace=") => {
                replace = Some(t.trim_start_matches("--replace=").to_owned());
                index += 1;
            }
            t if t.starts_with("-I") => {
                replace = Some(t.get(2..).unwrap_or_default().to_owned());
                index += 1;
            }
            t if t.starts_with("-i") => {
                replace = Some(t.get(2..).unwrap_or_default().to_owned());
                index += 1;
            }
            t if t.starts_with("--arg-file=") => {
                extra.push(Extra::Read(t.trim_start_matches("--arg-file=").to_owned()));
                index += 1;
            }
            t if t.starts_with("--") && t.contains('=') => index += 1,
            t if t.len() > 2 && ["-d", "-E", "-e", "-L", "-l", "-n", "-P", "-s"].iter().any(|o| t.starts_with(o)) => {
                index += 1
            }
            "-e" | "-l" => index += 1,
            t if t.starts_with('-') => return Unwrapped::Unanalysable(format!("unknown `xargs` option `{t}`")),
            _ => break,
        }
    }
    let mut command: Vec<Word> = args.get(index..).unwrap_or_default().to_vec();
    if command.is_empty() {
        command.push(Word::Known("echo".to_owned()));
    }
    let open_tail = match &replace {
        Some(marker) if !marker.is_empty() => {
            for word in command.iter_mut().skip(1) {
                if matches!(word, Word::Known(text) if text.contains(marker.as_str())) {
                    *word = Word::Unknown;
                }
            }
            false
        }
        _ => true,
    };
    Unwrapped::Inner { argv: vec![command], cwd: None, open_tail, also_judge_outer: false, extra }
}

/// `npx CMD …`, `npm exec -- CMD …`, `pnpm dlx CMD …`: the runner is
/// judged (its rules see `--yes` and the like) and so is the command it
/// runs, which it may have fetched.
fn package_runner(args: &[Word]) -> Unwrapped {
    let with_value = ["-p", "--package", "--cache", "--registry", "-w", "--workspace", "--prefix"];
    let flags =
        ["--yes", "-y", "--no", "--no-install", "-q", "--quiet", "--prefer-offline", "--offline", "-s", "--silent"];
    if args.iter().any(|w| matches!(w, Word::Known(t) if t == "-c" || t == "--call" || t.starts_with("--call="))) {
        return Unwrapped::Unanalysable("`npx -c` runs shell text in a package's environment".to_owned());
    }
    match options(args, &with_value, &flags, |_| false) {
        Ok([]) => Unwrapped::NotAWrapper,
        Ok(rest) => Unwrapped::Inner {
            argv: vec![rest.to_vec()],
            cwd: None,
            open_tail: false,
            also_judge_outer: true,
            extra: Vec::new(),
        },
        Err(reason) => Unwrapped::Unanalysable(reason),
    }
}

fn find(args: &[Word]) -> Unwrapped {
    // `{}` names a file found under the starting point: with one known
    // starting point it is judged as an entry named `{}` inside it (so a
    // command on the files of `~/.ssh` reads under `~/.ssh`); otherwise it
    // is only known at run time.
    let found = match super::models::find_roots(args) {
        [] => Some(".".to_owned()),
        [Word::Known(root)] => Some(root.trim_end_matches('/').to_owned()),
        _ => None,
    };
    let mut commands = Vec::new();
    let mut index = 0;
    while let Some(word) = args.get(index) {
        index += 1;
        if !matches!(word, Word::Known(t) if matches!(t.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir")) {
            continue;
        }
        let mut command = Vec::new();
        while let Some(word) = args.get(index) {
            index += 1;
            match word {
                Word::Known(t) if t == ";" || t == "+" => break,
                Word::Known(t) if t.contains("{}") => command.push(match &found {
                    Some(root) => Word::Known(t.replace("{}", &format!("{root}/{{}}"))),
                    None => Word::Unknown,
                }),
                other => command.push(other.clone()),
            }
        }
        if !command.is_empty() {
            commands.push(command);
        }
    }
    if commands.is_empty() {
        return Unwrapped::NotAWrapper;
    }
    Unwrapped::Inner { argv: commands, cwd: None, open_tail: false, also_judge_outer: true, extra: Vec::new() }
}

/// A `git -c KEY=VALUE` that changes presentation or identity, never what
/// git runs or where it reads from: `user.*`, `color.*`, `advice.*` and a
/// few others, by an allow-list (a new key that runs code stays out).
fn harmless_git_setting(setting: &str) -> bool {
    const PREFIXES: &[&str] = &["user.", "color.", "advice.", "i18n."];
    const KEYS: &[&str] = &[
        "init.defaultbranch",
        "core.autocrlf",
        "core.quotepath",
        "core.safecrlf",
        "core.filemode",
        "core.longpaths",
        "core.abbrev",
        "commit.gpgsign",
        "tag.gpgsign",
        "pull.rebase",
        "pull.ff",
        "merge.ff",
        "push.default",
        "fetch.prune",
        "protocol.version",
        "diff.renames",
        "log.showsignature",
    ];
    let key = setting.split_once('=').map_or(setting, |(key, _)| key).to_ascii_lowercase();
    PREFIXES.iter().any(|prefix| key.starts_with(prefix) && key.len() > prefix.len()) || KEYS.contains(&key.as_str())
}

fn git(argv: &[Word]) -> Unwrapped {
    let mut index = 1;
    let mut cwd: Option<Word> = None;
    while let Some(word) = argv.get(index) {
        let Word::Known(text) = word else {
            return Unwrapped::Unanalysable("a `git` option is only known at run time".to_owned());
        };
        match text.as_str() {
            "-C" => {
                cwd = match (cwd, argv.get(index + 1)) {
                    (Some(Word::Known(base)), Some(Word::Known(dir))) if !dir.starts_with('/') => {
                        Some(Word::Known(format!("{base}/{dir}")))
                    }
                    (_, next) => next.cloned(),
                };
                index += 2;
            }
            "-c" if argv.get(index + 1).is_some_and(|w| matches!(w, Word::Known(v) if harmless_git_setting(v))) => {
                index += 2;
            }
            "-c" | "--config-env" => {
                return Unwrapped::Unanalysable(
                    "`git -c` can set configuration that runs commands (core.pager, core.sshCommand, alias.*)"
                        .to_owned(),
                );
            }
            t if t.starts_with("--config-env=") || t.starts_with("--exec-path=") => {
                return Unwrapped::Unanalysable(format!("`git {t}` changes what git runs"));
            }
            "--git-dir" | "--work-tree" | "--namespace" | "--super-prefix" | "--list-cmds" => index += 2,
            "-p"
            | "--paginate"
            | "-P"
            | "--no-pager"
            | "--bare"
            | "--no-replace-objects"
            | "--literal-pathspecs"
            | "--glob-pathspecs"
            | "--noglob-pathspecs"
            | "--icase-pathspecs"
            | "--no-optional-locks"
            | "--no-lazy-fetch"
            | "--no-advice" => index += 1,
            t if t.starts_with("--git-dir=")
                || t.starts_with("--work-tree=")
                || t.starts_with("--namespace=")
                || t.starts_with("--super-prefix=")
                || t.starts_with("--list-cmds=") =>
            {
                index += 1
            }
            _ => break,
        }
    }
    if index == 1 {
        return Unwrapped::NotAWrapper;
    }
    let mut inner_argv = vec![argv.first().cloned().unwrap_or(Word::Unknown)];
    inner_argv.extend(argv.get(index..).unwrap_or_default().iter().cloned());
    Unwrapped::Inner { argv: vec![inner_argv], cwd, open_tail: false, also_judge_outer: false, extra: Vec::new() }
}
