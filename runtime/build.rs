//! The stock program catalogue, converted from TOML to JSON at build time:
//! reading JSON at start-up takes a fraction of parsing TOML, and every
//! vtpolicy process that judges a command reads the catalogue.

fn main() {
    let source = "../policies/programs.toml";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("cannot read {source}: {e}"));
    let value: toml::Value = toml::from_str(&text).unwrap_or_else(|e| panic!("{source}: {e}"));
    let json = serde_json::to_string(&value).unwrap_or_else(|e| panic!("{source}: {e}"));
    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| panic!("OUT_DIR is not set")))
        .join("programs.json");
    std::fs::write(&out, json).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
