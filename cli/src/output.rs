//! Standard output that never panics: a closed pipe (`vtpolicy … | head`)
//! ends the process quietly, any other write error ends it with exit 2.

use std::io::Write as _;

pub(crate) fn write(args: std::fmt::Arguments<'_>) {
    let mut stdout = std::io::stdout().lock();
    finish(stdout.write_fmt(args).and_then(|()| stdout.flush()));
}

/// Raw bytes (a BPF program) through the same error handling.
pub(crate) fn out_bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    finish(stdout.write_all(bytes).and_then(|()| stdout.flush()));
}

fn finish(result: std::io::Result<()>) {
    if let Err(error) = result {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {error}");
        std::process::exit(i32::from(crate::Exit::Error.code()));
    }
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write(format_args!($($arg)*)) };
}

/// `println!` through [`write`].
macro_rules! outln {
    () => { $crate::output::write(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write(format_args!("{}\n", format_args!($($arg)*))) };
}

pub(crate) use {out, outln};
