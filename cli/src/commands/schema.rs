//! `vtpolicy schema`.

use crate::Exit;
use crate::args::{SchemaArgs, SchemaName};

pub(crate) fn run(args: &SchemaArgs) -> Exit {
    match args.name {
        SchemaName::Request => crate::output::out!("{}", vtpolicy_runtime::REQUEST_SCHEMA),
        SchemaName::Events => crate::output::out!("{}", vtpolicy_runtime::events::EVENTS_SCHEMA),
    }
    Exit::Ok
}
