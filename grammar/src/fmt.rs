//! The canonical text of a policy: `vtpolicy fmt`.
//!
//! Comments are kept: a comment on its own line stays above the item that
//! follows it, a comment at the end of an item's last line stays there. One
//! blank line is kept where the source had any between two items.

use std::fmt::Write as _;

use crate::ast::{ArgPattern, DefaultScope, Item, PolicyFile, Rule, Target, TestBlock, TestCase, TestRequest};
use crate::source::{Span, Spanned};

const INDENT: &str = "    ";
/// Lines longer than this are wrapped at list separators.
const WIDTH: usize = 100;

/// `head` followed by `items` joined with `separator`, filled greedily to
/// [`WIDTH`]; continuation lines start with `indent`. With `break_before`,
/// the separator starts the continuation line instead of ending the line.
fn fill(head: &str, items: &[String], separator: &str, indent: &str, break_before: bool) -> String {
    let mut out = String::from(head);
    let mut line_len = head.len();
    for (index, item) in items.iter().enumerate() {
        if index == 0 {
            out.push_str(item);
            line_len += item.len();
            continue;
        }
        let joined = separator.len() + item.len();
        if line_len + joined > WIDTH {
            if break_before {
                let _ = write!(out, "\n{indent}{}{item}", separator.trim_start());
                line_len = indent.len() + separator.trim_start().len() + item.len();
            } else {
                let _ = write!(out, "{}\n{indent}{item}", separator.trim_end());
                line_len = indent.len() + item.len();
            }
        } else {
            out.push_str(separator);
            out.push_str(item);
            line_len += joined;
        }
    }
    out
}

/// Formats a parsed file. The output parses back to the same AST.
pub fn format(file: &PolicyFile) -> String {
    let text = file.source.text.as_str();
    let mut out = String::new();
    let mut comments = file.comments.iter().peekable();
    // End of the last thing written, to keep one blank line where the
    // source had at least one.
    let mut last_end: Option<usize> = None;
    let separate = |out: &mut String, last_end: Option<usize>, start: usize| {
        if let Some(end) = last_end
            && has_blank_line(text.get(end..start).unwrap_or_default())
        {
            out.push('\n');
        }
    };

    for item in &file.items {
        let span = effective_span(text, item.span(), &file.comments);
        // Comments before this item, and those inside it, go above it.
        while let Some(comment) = comments.next_if(|c| c.span.start < span.end && !is_trailing(text, span.end, c)) {
            separate(&mut out, last_end, comment.span.start);
            out.push_str(comment.node.trim_end());
            out.push('\n');
            last_end = Some(comment.span.end.min(span.start));
        }
        separate(&mut out, last_end, span.start);
        out.push_str(&format_item(item));
        last_end = Some(span.end);
        if let Some(comment) = comments.next_if(|c| is_trailing(text, span.end, c)) {
            out.push_str("  ");
            out.push_str(comment.node.trim_end());
            last_end = Some(comment.span.end);
        }
        out.push('\n');
    }
    for comment in comments {
        separate(&mut out, last_end, comment.span.start);
        out.push_str(comment.node.trim_end());
        out.push('\n');
        last_end = Some(comment.span.end);
    }
    out
}

/// The item's span without the comments and blank space the grammar lets a
/// rule swallow at its end (a rule may continue on the next lines with `id`
/// or `because`, so the parser looks past a trailing comment).
fn effective_span(text: &str, span: Span, comments: &[Spanned<String>]) -> Span {
    let mut end = span.end;
    loop {
        let trimmed = text.get(span.start..end).unwrap_or_default().trim_end();
        end = span.start + trimmed.len();
        match comments.iter().find(|c| c.span.end == end && c.span.start > span.start) {
            Some(comment) => end = comment.span.start,
            None => return Span::new(span.start, end),
        }
    }
}

/// Whether the text between two items holds an empty line.
fn has_blank_line(gap: &str) -> bool {
    let lines: Vec<&str> = gap.split('\n').collect();
    // The first and last pieces are the rests of the surrounding lines.
    lines.len() > 2
        && lines.get(1..lines.len() - 1).is_some_and(|inner| inner.iter().any(|line| line.trim().is_empty()))
}

/// A comment is trailing when it starts on the line where the item ends.
fn is_trailing(text: &str, item_end: usize, comment: &Spanned<String>) -> bool {
    comment.span.start >= item_end && !text.get(item_end..comment.span.start).unwrap_or_default().contains('\n')
}

/// One item as `format` prints it, without comments.
pub fn format_item(item: &Item) -> String {
    match item {
        Item::Version(version) => format!("version {}", version.node),
        Item::Policy(name) => format!("policy {}", quote(&name.node)),
        Item::Extend(name) => format!("extend {}", quote(&name.node)),
        Item::Default(default) => match default.scope {
            DefaultScope::All => format!("default {}", default.effect.as_str()),
            DefaultScope::Kind(kind) => {
                format!("default {} {}", kind.as_str(), default.effect.as_str())
            }
            DefaultScope::Unanalysable => format!("default unanalysable {}", default.effect.as_str()),
        },
        Item::TrustedBin(list, _) => format!("trusted_bin {}", string_list(list)),
        Item::Programs(list, _) => format!("programs {}", string_list(list)),
        Item::Env(list, _) => {
            let items: Vec<String> = list.iter().map(|s| quote(&s.node)).collect();
            format!("env keep [{}]", items.join(", "))
        }
        Item::Limits(limits, _) => {
            let items: Vec<String> =
                limits.iter().map(|limit| format!("{} {}", limit.name.node, limit.value.node)).collect();
            format!("limits {{ {} }}", items.join("  "))
        }
        Item::Rule(rule) => format_rule(rule),
        Item::Test(test) => format_test(test),
    }
}

fn format_rule(rule: &Rule) -> String {
    let mut out = String::from(rule.effect.node.as_str());
    out.push(' ');
    let kinds: Vec<&str> = rule.kinds.iter().map(|k| k.node.as_str()).collect();
    out.push_str(&kinds.join(", "));
    out.push(' ');
    match &rule.target {
        Target::Argv(args) => {
            let tokens: Vec<String> = args.iter().map(|a| format_arg(&a.node)).collect();
            let single = tokens.join(" ");
            if out.len() + single.len() <= WIDTH {
                out.push_str(&single);
            } else {
                // Long alternatives break before `|`.
                let mut line = out.clone();
                for (index, (token, arg)) in tokens.iter().zip(args).enumerate() {
                    if index > 0 {
                        line.push(' ');
                    }
                    match &arg.node {
                        ArgPattern::Alternatives(options) if line.len() + token.len() > WIDTH => {
                            let options: Vec<String> = options.iter().map(|o| word_or_quoted(o)).collect();
                            let head = format!("{line}[");
                            let indent = " ".repeat(INDENT.len() * 2);
                            line = fill(&head, &options, " | ", &indent, true) + "]";
                        }
                        _ => line.push_str(token),
                    }
                }
                out = line;
            }
        }
        Target::Strings(strings) => {
            let items: Vec<String> = strings.iter().map(|s| quote(&s.node)).collect();
            out = fill(&out, &items, ", ", &" ".repeat(out.len()), false);
        }
        Target::Sockets(paths) => {
            out.push_str("unix ");
            let items: Vec<String> = paths.iter().map(|s| quote(&s.node)).collect();
            out = fill(&out, &items, ", ", &" ".repeat(out.len()), false);
        }
        Target::Hosts { hosts, ports } => {
            let items: Vec<String> = hosts.iter().map(|s| quote(&s.node)).collect();
            out = fill(&out, &items, ", ", &" ".repeat(out.len()), false);
            if !ports.is_empty() {
                let ports: Vec<String> = ports
                    .iter()
                    .map(|p| {
                        if p.node.low == p.node.high {
                            p.node.low.to_string()
                        } else {
                            format!("{}-{}", p.node.low, p.node.high)
                        }
                    })
                    .collect();
                let _ = write!(out, " port {}", ports.join(", "));
            }
        }
    }
    if let Some(id) = &rule.id {
        let _ = write!(out, "\n{INDENT}id {}", quote(&id.node));
    }
    if let Some(because) = &rule.because {
        let _ = write!(out, "\n{INDENT}because {}", quote(&because.node));
    }
    if rule.sandboxed_only.is_some() {
        let _ = write!(out, "\n{INDENT}when sandboxed");
    }
    if let Some(running) = &rule.running {
        let args: Vec<String> = running.argv.iter().map(|a| format_arg(&a.node)).collect();
        let _ = write!(out, "\n{INDENT}when running {}", args.join(" "));
    }
    out
}

fn format_arg(arg: &ArgPattern) -> String {
    match arg {
        ArgPattern::Token(token) => word_or_quoted(token),
        ArgPattern::Alternatives(options) => {
            let options: Vec<String> = options.iter().map(|o| word_or_quoted(o)).collect();
            format!("[{}]", options.join(" | "))
        }
        ArgPattern::Any => "*".to_owned(),
        ArgPattern::Rest => "..".to_owned(),
    }
}

fn format_test(test: &TestBlock) -> String {
    let mut out = String::from("test ");
    if let Some(name) = &test.name {
        out.push_str(&quote(&name.node));
        out.push(' ');
    }
    match test.cases.as_slice() {
        [] => out.push_str("{ }"),
        [case] => {
            let _ = write!(out, "{{ {} }}", format_case(case));
        }
        cases => {
            out.push_str("{\n");
            for case in cases {
                let _ = writeln!(out, "{INDENT}{}", format_case(case));
            }
            out.push('}');
        }
    }
    out
}

fn format_case(case: &TestCase) -> String {
    let request = match &case.request {
        TestRequest::Exec(argv) => {
            let tokens: Vec<String> = argv.iter().map(|t| word_or_quoted(t)).collect();
            format!("exec {}", tokens.join(" "))
        }
        TestRequest::Shell(text) => format!("shell {}", quote(text)),
        TestRequest::Path(kind, path) => format!("{} {}", kind.as_str(), quote(path)),
        TestRequest::Net(host, port) => format!("net {} port {port}", quote(host)),
        TestRequest::Unix(path) => format!("net unix {}", quote(path)),
        TestRequest::Tool(name) => format!("tool {}", quote(name)),
    };
    format!("{request} => {}", case.expect.node.as_str())
}

fn string_list(list: &[Spanned<String>]) -> String {
    let items: Vec<String> = list.iter().map(|s| quote(&s.node)).collect();
    items.join(", ")
}

/// Whether `token` reads back as the same single token when written bare.
fn is_bare_word(token: &str) -> bool {
    !token.is_empty()
        && !token.starts_with('#')
        && !token.starts_with("=>")
        && !matches!(token, ".." | "*" | "id" | "because" | "when")
        && token.chars().all(|c| c.is_ascii_alphanumeric() || "_.+-@:%^".contains(c))
}

/// An argv pattern token as policy text: bare when it reads back as the
/// same token, else quoted.
pub fn word_or_quoted(token: &str) -> String {
    if is_bare_word(token) { token.to_owned() } else { quote(token) }
}

/// `text` with every glob character escaped: a pattern that matches
/// `text` itself.
pub fn escape_glob(text: &str) -> String {
    let mut escaped = String::new();
    for c in text.chars() {
        if "*?[]{}\\".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A string literal that parses back to `value`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
