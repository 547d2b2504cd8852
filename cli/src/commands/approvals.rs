//! `vtpolicy approvals list | revoke ID`.

use crate::Exit;
use crate::args::{ApprovalsArgs, ApprovalsCommand};

pub(crate) fn run(args: &ApprovalsArgs) -> Exit {
    match &args.command {
        ApprovalsCommand::List => match crate::approvals::list() {
            Ok(rules) => {
                for (id, text) in rules {
                    println!("{id}\t{}", text.lines().next().unwrap_or_default());
                }
                Exit::Ok
            }
            Err(message) => {
                eprintln!("error: {message}");
                Exit::Error
            }
        },
        ApprovalsCommand::Revoke { id } => {
            let environment = match crate::policies::environment(None, std::env::current_dir().ok().as_deref()) {
                Ok(environment) => environment,
                Err(exit) => return exit,
            };
            match crate::approvals::revoke(id, &environment) {
                Ok(()) => {
                    println!("revoked {id}");
                    Exit::Ok
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    Exit::Error
                }
            }
        }
    }
}
