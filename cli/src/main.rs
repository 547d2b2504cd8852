//! The `vtpolicy` command: argument parsing, rendering and exit codes.
//! Everything else lives in the library crates; this crate is glue and the
//! only place that prints or exits.

mod approvals;
mod args;
mod commands;
mod state;
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
    Ok,
    /// The command ran and found a problem: errors in `check`, failing
    /// tests, files `fmt --check` would change.
    Failure,
    /// The command could not run: bad arguments, unreadable or invalid
    /// policy, malformed request.
    Error,
    /// `run`: the sandboxed command's own status, or one of `run`'s codes.
    Status(u8),
}

impl Exit {
    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Error => 2,
            Exit::Status(code) => code,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let style = style::Style::detect();
    let exit = match cli.command {
        args::Command::Check(args) => commands::check::run(&args, style),
        args::Command::Explain(args) => commands::explain::run(&args, style),
        args::Command::Diff(args) => commands::diff::run(&args, style),
        args::Command::Test(args) => commands::test::run(&args, style),
        args::Command::Fmt(args) => commands::fmt::run(&args),
        args::Command::Compile(args) => commands::compile::run(&args),
        args::Command::Schema(args) => commands::schema::run(&args),
        args::Command::Run(args) => commands::run::run(&args),
        args::Command::Sandbox(args) => commands::sandbox::run(&args),
        args::Command::Serve(args) => commands::serve::run(&args, style),
        args::Command::Hook(args) => commands::hook::run(&args, style),
        args::Command::Import(args) => commands::import::run(&args),
        args::Command::Approvals(args) => commands::approvals::run(&args),
    };
    exit.into()
}
