//! `vtpolicy schema`.

use crate::Exit;
use crate::args::{SchemaArgs, SchemaName};

pub(crate) fn run(args: &SchemaArgs) -> Exit {
    match args.name {
        SchemaName::Request => crate::output::out!("{}", vtpolicy::runtime::schemas::REQUEST),
        SchemaName::Events => crate::output::out!("{}", vtpolicy::runtime::schemas::EVENTS),
        SchemaName::Explain => crate::output::out!("{}", vtpolicy::runtime::schemas::EXPLAIN),
        SchemaName::Policy => crate::output::out!("{}", vtpolicy::runtime::schemas::POLICY),
    }
    Exit::Ok
}
