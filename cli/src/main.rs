//! The `vtpolicy` command: argument parsing, rendering and exit codes.
//! Everything else lives in the library crates; this crate is glue and the
//! only place that prints or exits.

mod args;
mod commands;
#[macro_use]
mod output;
mod policies;
mod style;

use std::process::ExitCode;

use clap::Parser;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Success: clean check, all tests pass, call evaluated.
    Ok = 0,
    /// The command ran and found a problem: errors in `check`, failing
    /// tests, files `fmt --check` would change.
    Failure = 1,
    /// The command could not run: bad arguments, unreadable or invalid
    /// policy, malformed request.
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let style = style::Style::detect();
    let exit = match cli.command {
        args::Command::Check(args) => commands::check::run(&args, style),
        args::Command::Explain(args) => commands::explain::run(&args, style),
        args::Command::Test(args) => commands::test::run(&args, style),
        args::Command::Fmt(args) => commands::fmt::run(&args),
        args::Command::Compile(args) => commands::compile::run(&args),
        args::Command::Schema(args) => commands::schema::run(&args),
    };
    exit.into()
}
