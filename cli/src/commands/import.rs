//! `vtpolicy import`.

use vtpolicy::import::{ImportError, Imported, claude, codex, vtcode};

use crate::Exit;
use crate::args::{ImportArgs, ImportFormat};

pub(crate) fn run(args: &ImportArgs) -> Exit {
    let shown = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("error: cannot read `{shown}`: {error}");
            return Exit::Error;
        }
    };
    let imported: Result<Imported, ImportError> = match args.format {
        ImportFormat::Claude => claude::import(&text, &shown),
        ImportFormat::Codex => codex::import(&text, &shown),
        ImportFormat::Vtcode => vtcode::import(&text, &shown),
    };
    let imported = match imported {
        Ok(imported) => imported,
        Err(message) => {
            eprintln!("error: {message}");
            return Exit::Error;
        }
    };
    for item in &imported.untranslated {
        eprintln!("not translated: {item}");
    }
    match &args.output {
        Some(path) => {
            if let Err(error) = std::fs::write(path, &imported.policy) {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                return Exit::Error;
            }
        }
        None => crate::output::out!("{}", imported.policy),
    }
    Exit::Ok
}
