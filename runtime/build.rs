//! The stock program catalogue, converted from TOML to JSON at build time:
//! reading JSON at start-up takes a fraction of parsing TOML, and every
//! vtpolicy process that judges a command reads the catalogue.

fn main() -> Result<(), String> {
    let source = "../policies/programs.toml";
    println!("cargo:rerun-if-changed={source}");
    let text = std::fs::read_to_string(source).map_err(|e| format!("cannot read {source}: {e}"))?;
    let value: toml::Value = toml::from_str(&text).map_err(|e| format!("{source}: {e}"))?;
    let json = serde_json::to_string(&value).map_err(|e| format!("{source}: {e}"))?;
    let out = std::env::var("OUT_DIR").map_err(|_| "OUT_DIR is not set".to_owned())?;
    let out = std::path::Path::new(&out).join("programs.json");
    std::fs::write(&out, json).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
