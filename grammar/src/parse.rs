//! Text to AST: the pest grammar, lowering of its pairs, and error recovery.
//!
//! Parsing never fails: it returns the AST of every statement it could read
//! and one diagnostic per statement it could not. After an error it skips to
//! the next line that starts a statement.

use std::sync::Arc;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::{
    ArgPattern, Default, DefaultScope, Effect, Item, Kind, Limit, PolicyFile, PortRange, Rule as AstRule, Running,
    Target, TestBlock, TestCase, TestRequest,
};
use crate::diagnostic::Diagnostic;
use crate::source::{SourceFile, Span, Spanned};

#[derive(pest_derive::Parser)]
#[grammar = "vtp.pest"]
struct VtpParser;

/// Code of every syntax error.
pub const SYNTAX_ERROR: &str = "VT001";

/// Parses a whole file, collecting every syntax error.
pub fn parse(source: &Arc<SourceFile>) -> (PolicyFile, Vec<Diagnostic>) {
    let text = source.text.as_str();
    let mut items = Vec::new();
    let mut comments = Vec::new();
    let mut diagnostics = Vec::new();
    let mut offset = 0;

    if text.contains('\0') {
        let position = text.find('\0').unwrap_or_default();
        diagnostics.push(
            Diagnostic::error(SYNTAX_ERROR, "policy text contains a NUL byte")
                .at(source, Span::new(position, position + 1)),
        );
        return (PolicyFile { source: Arc::clone(source), items, comments }, diagnostics);
    }

    while offset < text.len() {
        let rest = text.get(offset..).unwrap_or_default();
        match VtpParser::parse(Rule::single, rest) {
            Ok(mut pairs) => {
                let Some(single) = pairs.next() else { break };
                let consumed = single.as_span().end();
                let mut lowering = Lowering { source, offset, diagnostics: &mut diagnostics };
                for pair in single.clone().into_inner().flatten() {
                    if pair.as_rule() == Rule::COMMENT {
                        comments.push(Spanned::new(pair.as_str().to_owned(), Span::from_pest(pair.as_span(), offset)));
                    }
                }
                for pair in children(single) {
                    if let Some(item) = lowering.item(pair) {
                        items.push(item);
                    }
                }
                if consumed == 0 {
                    break;
                }
                offset += consumed;
            }
            Err(error) => {
                let position = match error.location {
                    InputLocation::Pos(p) => p,
                    InputLocation::Span((p, _)) => p,
                } + offset;
                diagnostics.push(syntax_error(source, position, &error.variant));
                match next_statement_start(text, position) {
                    Some(next) => offset = next,
                    None => break,
                }
            }
        }
    }

    (PolicyFile { source: Arc::clone(source), items, comments }, diagnostics)
}

/// The byte offset of the next line after `position` whose first word starts
/// a statement.
fn next_statement_start(text: &str, position: usize) -> Option<usize> {
    let mut line_start = text.get(position..)?.find('\n')? + position + 1;
    loop {
        let line = text.get(line_start..)?;
        let trimmed = line.trim_start_matches([' ', '\t']);
        if VtpParser::parse(Rule::stmt_keyword, trimmed).is_ok() {
            return Some(line_start);
        }
        line_start += line.find('\n')? + 1;
    }
}

fn syntax_error(source: &Arc<SourceFile>, position: usize, variant: &ErrorVariant<Rule>) -> Diagnostic {
    let found = found_at(&source.text, position);
    let span = Span::new(position, position + found.len().max(1));
    let expected = match variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut names: Vec<&str> = positives.iter().filter_map(|r| rule_name(*r)).collect();
            names.sort_unstable();
            names.dedup();
            names
        }
        ErrorVariant::CustomError { .. } => Vec::new(),
    };
    let message = if found.is_empty() {
        "unexpected end of file".to_owned()
    } else if found == "\n" {
        "unexpected end of line".to_owned()
    } else {
        format!("unexpected `{found}`")
    };
    let diagnostic = Diagnostic::error(SYNTAX_ERROR, message).at(source, span);
    match expected.as_slice() {
        [] => diagnostic.with_label("not valid here"),
        [one] => diagnostic.with_label(format!("expected {one}")),
        many => diagnostic.with_label(format!("expected one of {}", many.join(", "))),
    }
}

/// The token at `position`, for error messages: a word, or one character.
fn found_at(text: &str, position: usize) -> &str {
    let Some(rest) = text.get(position..) else {
        return "";
    };
    if rest.starts_with('\n') {
        return "\n";
    }
    let end = rest.find(|c: char| c.is_whitespace() || "[]|\",{}".contains(c)).unwrap_or(rest.len());
    if end == 0 {
        rest.get(..rest.chars().next().map_or(0, char::len_utf8)).unwrap_or_default()
    } else {
        rest.get(..end).unwrap_or_default()
    }
}

fn rule_name(grammar_rule: Rule) -> Option<&'static str> {
    Some(match grammar_rule {
        Rule::stmt | Rule::stmt_keyword => "a statement",
        Rule::version => "`version`",
        Rule::policy => "`policy`",
        Rule::default => "`default`",
        Rule::extend => "`extend`",
        Rule::limits => "`limits`",
        Rule::env => "`env`",
        Rule::trusted_bin => "`trusted_bin`",
        Rule::programs => "`programs`",
        Rule::test => "`test`",
        Rule::rule | Rule::effect => "`allow`, `prompt` or `deny`",
        Rule::default_kind => "a request kind",
        Rule::kind | Rule::kind_list => "a request kind (`read`, `write`, `exec`, `net`, `tool`)",
        Rule::exec_rule | Rule::net_rule | Rule::unix_rule | Rule::generic_rule => "a request kind",
        Rule::argv | Rule::word | Rule::rest | Rule::any | Rule::alternatives => "an argv pattern",
        Rule::string | Rule::string_list => "a quoted string",
        Rule::integer | Rule::quantity => "a number",
        Rule::limit | Rule::limit_name => "a limit name",
        Rule::ports | Rule::port_range => "a port",
        Rule::rule_id => "`id`",
        Rule::because => "`because`",
        Rule::when_sandboxed => "`when sandboxed`",
        Rule::when_running => "`when running`",
        Rule::test_case => "a test case",
        Rule::exec_req | Rule::shell_req | Rule::net_req | Rule::tool_req | Rule::path_req => "a test request",
        Rule::EOI => "the end of the statement",
        Rule::single | Rule::file => "a statement",
        _ => return None,
    })
}

/// The meaningful children of a pair: comments and keywords left out.
fn children(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| p.as_rule() != Rule::COMMENT && !is_keyword(p.as_rule()))
}

fn is_keyword(grammar_rule: Rule) -> bool {
    matches!(
        grammar_rule,
        Rule::kw_because
            | Rule::kw_when
            | Rule::kw_sandboxed
            | Rule::kw_default
            | Rule::kw_env
            | Rule::kw_exec
            | Rule::kw_extend
            | Rule::kw_id
            | Rule::kw_keep
            | Rule::kw_limits
            | Rule::kw_net
            | Rule::kw_policy
            | Rule::kw_port
            | Rule::kw_shell
            | Rule::kw_test
            | Rule::kw_tool
            | Rule::kw_trusted_bin
            | Rule::kw_programs
            | Rule::kw_unanalysable
            | Rule::kw_unix
            | Rule::kw_version
    )
}

struct Lowering<'a> {
    source: &'a Arc<SourceFile>,
    offset: usize,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Lowering<'_> {
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        Span::from_pest(pair.as_span(), self.offset)
    }

    fn error(&mut self, span: Span, message: impl Into<String>, label: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(SYNTAX_ERROR, message).at(self.source, span).with_label(label));
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Option<Item> {
        let span = self.span(&pair);
        Some(match pair.as_rule() {
            Rule::version => {
                let number = children(pair).next()?;
                let value = match number.as_str().parse::<u32>() {
                    Ok(value) => value,
                    Err(_) => {
                        self.error(span, "version number is too large", "expected `1`");
                        return None;
                    }
                };
                Item::Version(Spanned::new(value, span))
            }
            Rule::policy => Item::Policy(Spanned::new(self.string(children(pair).next()?)?, span)),
            Rule::extend => Item::Extend(Spanned::new(self.string(children(pair).next()?)?, span)),
            Rule::default => {
                let mut scope = DefaultScope::All;
                let mut effect = Effect::Prompt;
                for child in children(pair) {
                    match child.as_rule() {
                        Rule::default_kind => {
                            scope = match children(child).next() {
                                Some(kind) => DefaultScope::Kind(parse_kind(kind.as_str())),
                                None => DefaultScope::Unanalysable,
                            };
                        }
                        Rule::effect => effect = parse_effect(child.as_str()),
                        _ => {}
                    }
                }
                Item::Default(Default { scope, effect, span })
            }
            Rule::trusted_bin => {
                let list = self.string_list(children(pair).next()?);
                Item::TrustedBin(list, span)
            }
            Rule::programs => {
                let list = self.string_list(children(pair).next()?);
                Item::Programs(list, span)
            }
            Rule::env => {
                let mut list = Vec::new();
                for child in children(pair) {
                    let child_span = self.span(&child);
                    if let Some(value) = self.string(child) {
                        list.push(Spanned::new(value, child_span));
                    }
                }
                Item::Env(list, span)
            }
            Rule::limits => {
                let mut limits = Vec::new();
                for limit in children(pair) {
                    let mut parts = children(limit);
                    let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    limits.push(Limit {
                        name: Spanned::new(name.as_str().to_owned(), self.span(&name)),
                        value: Spanned::new(value.as_str().to_owned(), self.span(&value)),
                    });
                }
                Item::Limits(limits, span)
            }
            Rule::rule => Item::Rule(self.rule(pair, span)?),
            Rule::test => Item::Test(self.test(pair, span)),
            _ => return None,
        })
    }

    fn rule(&mut self, pair: Pair<'_, Rule>, span: Span) -> Option<AstRule> {
        let mut effect = None;
        let mut kinds = Vec::new();
        let mut target = None;
        let mut id: Option<Spanned<String>> = None;
        let mut because: Option<Spanned<String>> = None;
        let mut sandboxed_only: Option<Span> = None;
        let mut running: Option<Running> = None;
        for child in children(pair) {
            let child_span = self.span(&child);
            match child.as_rule() {
                Rule::effect => effect = Some(Spanned::new(parse_effect(child.as_str()), child_span)),
                Rule::exec_rule => {
                    let keyword_end = child_span.start + "exec".len();
                    kinds.push(Spanned::new(Kind::Exec, Span::new(child_span.start, keyword_end)));
                    let argv = children(child).next()?;
                    target = Some(Target::Argv(self.argv(argv)));
                }
                Rule::unix_rule => {
                    kinds.push(Spanned::new(Kind::Net, Span::new(child_span.start, child_span.start + "net".len())));
                    let list = children(child).find(|part| part.as_rule() == Rule::string_list)?;
                    target = Some(Target::Sockets(self.string_list(list)));
                }
                Rule::net_rule => {
                    kinds.push(Spanned::new(Kind::Net, Span::new(child_span.start, child_span.start + "net".len())));
                    let mut hosts = Vec::new();
                    let mut ports = Vec::new();
                    for part in children(child) {
                        match part.as_rule() {
                            Rule::string_list => hosts = self.string_list(part),
                            Rule::ports => {
                                for range in children(part) {
                                    if let Some(range) = self.port_range(&range) {
                                        ports.push(range);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    target = Some(Target::Hosts { hosts, ports });
                }
                Rule::generic_rule => {
                    for part in children(child) {
                        match part.as_rule() {
                            Rule::kind_list => {
                                for kind in children(part) {
                                    let kind_span = self.span(&kind);
                                    kinds.push(Spanned::new(parse_kind(kind.as_str()), kind_span));
                                }
                            }
                            Rule::string_list => {
                                target = Some(Target::Strings(self.string_list(part)));
                            }
                            _ => {}
                        }
                    }
                }
                Rule::rule_id | Rule::because => {
                    let is_id = child.as_rule() == Rule::rule_id;
                    let value = self.string(children(child).next()?)?;
                    let slot = if is_id { &mut id } else { &mut because };
                    if slot.is_some() {
                        let keyword = if is_id { "id" } else { "because" };
                        self.error(child_span, format!("`{keyword}` given twice in one rule"), "remove one of them");
                    }
                    *slot = Some(Spanned::new(value, child_span));
                }
                Rule::when_sandboxed => {
                    if sandboxed_only.is_some() {
                        self.error(
                            child_span,
                            "`when sandboxed` given twice in one rule".to_owned(),
                            "remove one of them",
                        );
                    }
                    sandboxed_only = Some(child_span);
                }
                Rule::when_running => {
                    if running.is_some() {
                        self.error(
                            child_span,
                            "`when running` given twice in one rule".to_owned(),
                            "remove one of them",
                        );
                    }
                    let argv = children(child).find(|part| part.as_rule() == Rule::argv)?;
                    running = Some(Running { argv: self.argv(argv), span: child_span });
                }
                _ => {}
            }
        }
        Some(AstRule { effect: effect?, kinds, target: target?, id, because, sandboxed_only, running, span })
    }

    fn argv(&mut self, pair: Pair<'_, Rule>) -> Vec<Spanned<ArgPattern>> {
        let mut args = Vec::new();
        for token in children(pair) {
            let span = self.span(&token);
            let pattern = match token.as_rule() {
                Rule::rest => ArgPattern::Rest,
                Rule::any => ArgPattern::Any,
                Rule::word => ArgPattern::Token(token.as_str().to_owned()),
                Rule::string => match self.string(token) {
                    Some(value) => ArgPattern::Token(value),
                    None => continue,
                },
                Rule::alternatives => {
                    let mut options = Vec::new();
                    for option in children(token) {
                        match option.as_rule() {
                            Rule::word => options.push(option.as_str().to_owned()),
                            Rule::string => {
                                if let Some(value) = self.string(option) {
                                    options.push(value);
                                }
                            }
                            _ => {}
                        }
                    }
                    ArgPattern::Alternatives(options)
                }
                _ => continue,
            };
            args.push(Spanned::new(pattern, span));
        }
        args
    }

    fn port_range(&mut self, pair: &Pair<'_, Rule>) -> Option<Spanned<PortRange>> {
        let span = self.span(pair);
        let text = pair.as_str();
        let (low, high) = text.split_once('-').unwrap_or((text, text));
        match (low.parse::<u16>(), high.parse::<u16>()) {
            (Ok(low), Ok(high)) if low <= high => Some(Spanned::new(PortRange { low, high }, span)),
            (Ok(_), Ok(_)) => {
                self.error(span, format!("empty port range `{text}`"), "the first port must not exceed the second");
                None
            }
            _ => {
                self.error(span, format!("invalid port `{text}`"), "expected a port from 0 to 65535");
                None
            }
        }
    }

    fn string_list(&mut self, pair: Pair<'_, Rule>) -> Vec<Spanned<String>> {
        let mut list = Vec::new();
        for string in children(pair) {
            let span = self.span(&string);
            if let Some(value) = self.string(string) {
                list.push(Spanned::new(value, span));
            }
        }
        list
    }

    /// Decodes a `string` pair: `\"`, `\\`, `\n`, `\t` are the escapes.
    fn string(&mut self, pair: Pair<'_, Rule>) -> Option<String> {
        let span = self.span(&pair);
        let raw = pair.as_str();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.char_indices();
        while let Some((index, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            match chars.next().map(|(_, c)| c) {
                Some('"') => value.push('"'),
                Some('\\') => value.push('\\'),
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                other => {
                    let start = span.start + 1 + index;
                    let escape: String = other.map(|c| format!("\\{c}")).unwrap_or_else(|| "\\".into());
                    self.error(
                        Span::new(start, start + escape.len()),
                        format!("unknown escape `{escape}` in string"),
                        "expected one of `\\\"`, `\\\\`, `\\n`, `\\t`",
                    );
                    return None;
                }
            }
        }
        Some(value)
    }

    fn test(&mut self, pair: Pair<'_, Rule>, span: Span) -> TestBlock {
        let mut name = None;
        let mut cases = Vec::new();
        for child in children(pair) {
            let child_span = self.span(&child);
            match child.as_rule() {
                Rule::string => {
                    name = self.string(child).map(|value| Spanned::new(value, child_span));
                }
                Rule::test_case => {
                    if let Some(case) = self.test_case(child, child_span) {
                        cases.push(case);
                    }
                }
                _ => {}
            }
        }
        TestBlock { name, cases, span }
    }

    fn test_case(&mut self, pair: Pair<'_, Rule>, span: Span) -> Option<TestCase> {
        let mut parts = children(pair);
        let request_pair = parts.next()?;
        let effect_pair = parts.next()?;
        let request = match request_pair.as_rule() {
            Rule::exec_req => {
                let mut argv = Vec::new();
                for token in children(request_pair) {
                    match token.as_rule() {
                        Rule::string => argv.push(self.string(token)?),
                        _ => argv.push(token.as_str().to_owned()),
                    }
                }
                TestRequest::Exec(argv)
            }
            Rule::shell_req => TestRequest::Shell(self.string(children(request_pair).next()?)?),
            Rule::tool_req => TestRequest::Tool(self.string(children(request_pair).next()?)?),
            Rule::unix_req => TestRequest::Unix(self.string(children(request_pair).next()?)?),
            Rule::net_req => {
                let mut inner = children(request_pair);
                let host = self.string(inner.next()?)?;
                let port_pair = inner.next()?;
                let port_span = self.span(&port_pair);
                let Ok(port) = port_pair.as_str().parse::<u16>() else {
                    self.error(
                        port_span,
                        format!("invalid port `{}`", port_pair.as_str()),
                        "expected a port from 0 to 65535",
                    );
                    return None;
                };
                TestRequest::Net(host, port)
            }
            Rule::path_req => {
                let mut inner = children(request_pair);
                let kind_pair = inner.next()?;
                let kind_span = self.span(&kind_pair);
                let kind = parse_kind(kind_pair.as_str());
                if !matches!(kind, Kind::Read | Kind::Write) {
                    self.error(
                        kind_span,
                        format!("a `{}` test request needs its own form", kind.as_str()),
                        "expected `read \"PATH\"` or `write \"PATH\"` here",
                    );
                    return None;
                }
                TestRequest::Path(kind, self.string(inner.next()?)?)
            }
            _ => return None,
        };
        Some(TestCase {
            request,
            expect: Spanned::new(parse_effect(effect_pair.as_str()), self.span(&effect_pair)),
            span,
        })
    }
}

fn parse_effect(text: &str) -> Effect {
    match text {
        "allow" => Effect::Allow,
        "prompt" => Effect::Prompt,
        // INVARIANT: the grammar admits only the three effect keywords; an
        // unexpected one is read as the strictest.
        _ => Effect::Deny,
    }
}

fn parse_kind(text: &str) -> Kind {
    match text {
        "read" => Kind::Read,
        "write" => Kind::Write,
        "exec" => Kind::Exec,
        "net" => Kind::Net,
        _ => Kind::Tool,
    }
}
