//! The `.vtp` policy language: text in, AST and diagnostics out.
//!
//! This crate owns the pest grammar (`vtp.pest`), the AST with byte spans,
//! the [`Diagnostic`] model every later stage reports through, and the
//! canonical formatter. It gives no meaning to what it parses: variables,
//! `extend` and stock policy names are resolved by `vtpolicy-compiler`.
//!
//! It depends on no other workspace crate.
//!
//! Parsing never fails: [`parse`] returns the AST of every statement it
//! could read together with one diagnostic per statement it could not, so
//! `vtpolicy check` reports all the errors of a file at once.

mod ast;
pub mod data;
mod diagnostic;
mod fmt;
mod parse;
mod source;

pub use ast::{
    ArgPattern, Default, DefaultScope, Effect, Item, Kind, Limit, PolicyFile, PortRange, Rule, Running, Target,
    TestBlock, TestCase, TestRequest,
};
pub use diagnostic::{Diagnostic, DiagnosticReport, Location, Severity};
pub use fmt::{escape_glob, format, format_item, quote, word_or_quoted};
pub use parse::{SYNTAX_ERROR, parse};
pub use source::{SourceFile, Span, Spanned};
