//! `vtpolicy compile`.

use crate::Exit;
use crate::args::{CompileArgs, GraphFormat, Target};
use crate::policies;
use crate::style::Style;

pub(crate) fn run(args: &CompileArgs) -> Exit {
    let style = Style::detect();
    let environment = match policies::environment(args.policy.workspace.as_deref(), None) {
        Ok(environment) => environment,
        Err(exit) => return exit,
    };
    let Some(judge) = policies::judge(&args.policy.policies, environment, vtpolicy_runtime::Layering::Enforce, style) else {
        return Exit::Error;
    };
    let text = match (args.target, args.format) {
        (Target::Graph, GraphFormat::Json) => match serde_json::to_string_pretty(judge.engine().graph()) {
            Ok(json) => json + "\n",
            Err(error) => {
                eprintln!("error: cannot serialise the graph: {error}");
                return Exit::Error;
            }
        },
        (Target::Graph, GraphFormat::Dot) => judge.engine().graph().to_dot(),
    };
    match &args.output {
        Some(path) => {
            if let Err(error) = std::fs::write(path, text) {
                eprintln!("error: cannot write `{}`: {error}", path.display());
                return Exit::Error;
            }
        }
        None => crate::output::out!("{text}"),
    }
    Exit::Ok
}
