//! Policy text: parsing, compiling and formatting never panic, and the
//! formatter's output parses back to the same policy.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtpolicy_compiler::{Context, StockOnly, compile};
use vtpolicy_grammar::{SourceFile, format, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = SourceFile::new("fuzz.vtp", text);
    let (mut file, diagnostics) = parse(&source);
    if diagnostics.is_empty() {
        let formatted = format(&file);
        let (mut again, errors) = parse(&SourceFile::new("fuzz.vtp", formatted.clone()));
        assert!(errors.is_empty(), "formatted text does not parse:\n{formatted}");
        file.erase_spans();
        again.erase_spans();
        assert_eq!(file.items, again.items, "formatting changed the policy:\n{formatted}");
    }
    let context = Context {
        workspace: "/w".into(),
        home: "/h".into(),
        tmp: "/t".into(),
        cwd: "/w".into(),
    };
    let _ = compile(&source, &context, &StockOnly);
});
