//! `vtpolicy fmt`.

use std::io::Read as _;

use vtpolicy::grammar::{SourceFile, format, parse};

use crate::Exit;
use crate::args::FmtArgs;
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &FmtArgs) -> Exit {
    let style = Style::detect();
    if args.paths == ["-"] {
        let mut text = String::new();
        if let Err(error) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: cannot read standard input: {error}");
            return Exit::Error;
        }
        return match format_text("<stdin>", &text, style) {
            Some(formatted) => {
                if args.check {
                    if formatted == text {
                        Exit::Ok
                    } else {
                        eprintln!("<stdin> is not formatted");
                        Exit::Failure
                    }
                } else {
                    crate::output::out!("{formatted}");
                    Exit::Ok
                }
            }
            None => Exit::Error,
        };
    }
    let files = match policies::expand_paths(&args.paths, &[".vtp"]) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    let mut exit = Exit::Ok;
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(error) => {
                eprintln!("error: cannot read `{file}`: {error}");
                exit = Exit::Error;
                continue;
            }
        };
        let Some(formatted) = format_text(&file, &text, style) else {
            exit = Exit::Error;
            continue;
        };
        if formatted == text {
            continue;
        }
        if args.check {
            crate::output::outln!("{file} is not formatted");
            if exit == Exit::Ok {
                exit = Exit::Failure;
            }
        } else if let Err(error) = std::fs::write(&file, formatted) {
            eprintln!("error: cannot write `{file}`: {error}");
            exit = Exit::Error;
        } else {
            crate::output::outln!("formatted {file}");
        }
    }
    exit
}

/// The canonical text, verified to parse back to the same policy.
fn format_text(name: &str, text: &str, style: Style) -> Option<String> {
    let source = SourceFile::new(name, text);
    let (mut file, diagnostics) = parse(&source);
    if !diagnostics.is_empty() {
        policies::print_diagnostics(&diagnostics, style);
        eprintln!("error: `{name}` has syntax errors; it was not formatted");
        return None;
    }
    let formatted = format(&file);
    let (mut again, diagnostics) = parse(&SourceFile::new(name, formatted.clone()));
    file.erase_spans();
    again.erase_spans();
    if !diagnostics.is_empty() || file.items != again.items {
        eprintln!("error: formatting `{name}` would change its meaning; it was left alone (please report this)");
        return None;
    }
    Some(formatted)
}
