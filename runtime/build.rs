//! The stock program catalogue, converted from TOML at build time into one
//! JSON text per program: start-up reads none of them, and a command reads
//! only its program's (parsing the whole catalogue as TOML took longer
//! than judging a call).

use std::fmt::Write as _;

fn main() -> Result<(), String> {
    let source = "../policies/programs.toml";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).map_err(|e| format!("cannot read {source}: {e}"))?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| format!("{source}: {e}"))?;
    let programs = value
        .get("program")
        .and_then(toml::Value::as_table)
        .ok_or_else(|| format!("{source}: no [program.…] tables"))?;
    let mut out = String::from("&[\n");
    for (name, model) in programs {
        let aliases: Vec<&str> = model
            .get("aliases")
            .and_then(toml::Value::as_array)
            .map(|list| list.iter().filter_map(toml::Value::as_str).collect())
            .unwrap_or_default();
        let json = serde_json::to_string(model).map_err(|e| format!("{source}: {name}: {e}"))?;
        // `{:?}` of a `str` is a Rust string literal of it.
        let _ = writeln!(out, "    ({name:?}, &{aliases:?}, {json:?}),");
    }
    out.push(']');
    let dir = std::env::var("OUT_DIR").map_err(|_| "OUT_DIR is not set".to_owned())?;
    let path = std::path::Path::new(&dir).join("programs.rs");
    std::fs::write(&path, out).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
