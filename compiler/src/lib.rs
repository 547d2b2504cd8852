//! The vtpolicy compiler: policy ASTs in, engine policies and diagnostics
//! out.
//!
//! It flattens `extend`, expands `${workspace}`, `${home}`, `${tmp}`,
//! `${cwd}` and `~`, checks every pattern, assigns rule ids, keeps the side
//! table from rule to source span that `explain` renders, and runs the lint
//! rules of `vtpolicy check` (one per file in `lint/rules/`, all codes in
//! [`codes`]).
//!
//! Beyond the decision graph's input it compiles policies into the kernel
//! profiles ([`profile`]: Landlock, seccomp, Seatbelt, the fidelity
//! report), into Rego ([`rego`]) and into other agents' native rules
//! ([`export`]); the importers, the other way, are `vtpolicy-import`.
//!
//! It is pure: it reads no file and makes no syscall. Policy files other
//! than the embedded stock policies reach it through a [`Resolver`] the
//! caller provides; the [`Context`] (workspace, home, tmp, cwd) is given;
//! the file system the Landlock compiler needs comes through a trait.
//!
//! Depends on `vtpolicy-grammar` and `vtpolicy-engine` among the
//! workspace's crates.

pub mod codes;
mod context;
pub mod export;
mod lint;
mod lower;
mod overlap;
pub mod profile;
pub mod rego;
mod settings;
mod stock;

pub use context::{Context, VARIABLES};
pub use lint::{kernel_lints, lint_codes, suppress};
pub use lower::{CompiledPolicy, InlineTest, Resolver, RuleSource, StockOnly, compile, compile_layered};
pub use settings::{DEFAULT_ENV_KEEP, Limits, ProgramCatalogue, Settings};
pub use stock::{STOCK, stock_policy, stock_source_name};
pub use vtpolicy_grammar::escape_glob;
// The compiler is its callers' one way into the grammar: the source and
// diagnostic types they hold, and the test requests of inline tests.
pub use vtpolicy_grammar::{Diagnostic, Kind, Severity, SourceFile, Span, TestRequest};

/// A policy given as data (`vtpolicy schema policy`, already validated
/// against its schema) as `.vtp` source named `name`: its canonical text,
/// which later diagnostics point into.
pub fn policy_data_source(name: &str, data: serde_json::Value) -> Result<std::sync::Arc<SourceFile>, String> {
    let data: vtpolicy_grammar::data::PolicyData = serde_json::from_value(data).map_err(|e| e.to_string())?;
    let file = vtpolicy_grammar::data::from_data(&data, SourceFile::new(name, "")).map_err(|e| e.to_string())?;
    Ok(SourceFile::new(name, vtpolicy_grammar::format(&file)))
}

#[cfg(test)]
mod tests {
    use vtpolicy_grammar::SourceFile;

    use super::*;

    pub(crate) fn context() -> Context {
        Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() }
    }

    /// Compiles `version 1` + `body` as `test.vtp` and compares the
    /// diagnostics, each as `CODE line:col message`.
    pub(crate) fn check_diagnostics(body: &str, expected: &[&str]) {
        let source = SourceFile::new("test.vtp", format!("version 1\n{body}"));
        let (_, diagnostics) = compile(&source, &context(), &StockOnly);
        let got: Vec<String> = diagnostics
            .iter()
            .map(|d| {
                let (_, line, column) = d.position().unwrap_or_default();
                format!("{} {line}:{column} {}", d.code, d.message)
            })
            .collect();
        assert_eq!(got, expected, "for policy:\n{body}");
    }

    #[test]
    fn semantic_errors_point_at_their_source() {
        check_diagnostics(
            "allow write \"${wrkspace}/**\"\nallow read \"src/**\"\nallow read, exec \"/x\"\nlimits { ram 1GiB memory 4gigs }\ndefault write deny\ndefault write prompt\ndeny exec a id \"x\"\ndeny exec b id \"x\"\nextend \"nope\"\ndeny read \"/etc/[abc\"\ndefault unanalysable allow\nallow net \"a*b.com\"\n",
            &[
                "VT006 10:1 cannot extend `nope`: `nope` is not a stock policy",
                "VT002 2:14 unknown variable `${wrkspace}`",
                "VT014 3:12 path pattern `src/**` is not absolute",
                "VT008 4:7 `exec`, `net` and `tool` cannot share a rule with other kinds",
                "VT012 5:10 unknown limit `ram`",
                "VT005 5:26 invalid value for `memory`",
                "VT011 7:1 conflicting defaults for `write`",
                "VT004 9:13 rule id `x` is already used",
                "VT003 11:11 invalid glob `/etc/[abc`",
                "VT013 12:1 shell constructs that cannot be analysed are never allowed",
                "VT003 13:11 invalid host pattern `a*b.com`",
            ],
        );
    }

    #[test]
    fn missing_version_and_cycles() {
        let source = SourceFile::new("a.vtp", "allow exec ls\n");
        let (_, diagnostics) = compile(&source, &context(), &StockOnly);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::BAD_VERSION);

        struct Cycle;
        impl Resolver for Cycle {
            fn load(&self, name: &str, _from: &SourceFile) -> Result<std::sync::Arc<SourceFile>, String> {
                let other = if name == "a.vtp" { "b.vtp" } else { "a.vtp" };
                Ok(SourceFile::new(name, format!("version 1\nextend \"{other}\"\n")))
            }
        }
        let source = SourceFile::new("a.vtp", "version 1\nextend \"b.vtp\"\n");
        let (policy, diagnostics) = compile(&source, &context(), &Cycle);
        assert!(policy.is_none());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].code, codes::CYCLIC_EXTEND);
    }

    #[test]
    fn stock_policies_compile_cleanly() {
        for (name, text) in STOCK {
            let source = SourceFile::new(stock_source_name(name), *text);
            let (policy, diagnostics) = compile(&source, &context(), &StockOnly);
            let rendered: Vec<String> = diagnostics.iter().map(|d| d.render()).collect();
            assert!(diagnostics.is_empty(), "{name}:\n{}", rendered.join("\n"));
            let policy = policy.expect("compiled");
            assert!(!policy.tests.is_empty(), "{name} has inline tests");
            assert_eq!(policy.policy.name, *name);
        }
    }

    #[test]
    fn every_code_is_documented_once() {
        let mut seen = std::collections::HashSet::new();
        for code in codes::CODES {
            assert!(seen.insert(code.code), "{} twice", code.code);
            for section in ["## What it does", "## Why is this bad?", "## Example", "## Fix"] {
                assert!(code.doc.contains(section), "{} lacks {section}", code.code);
            }
        }
        assert_eq!(codes::SYNTAX_ERROR, vtpolicy_grammar::SYNTAX_ERROR);
        for lint in lint_codes() {
            assert!(codes::lookup(lint).is_some());
        }
    }
}
