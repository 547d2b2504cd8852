//! vtcode: `tool-policy.json` (the canonical form and the older "user"
//! form) and `vtcode.toml` (`[tools]`, `[commands]`, `[permissions]`,
//! `[sandbox]`).
//!
//! Tool policies become tool rules, `exec_command` (and the other shell
//! tools) exec rules over every command. Command globs become exec
//! patterns as Claude's `Bash(…)` specifiers do; regular expressions and
//! remembered approvals are not imported (the language has no regex, and
//! approvals are session state vtpolicy never takes from a file).
//! `[permissions]` uses Claude's rule grammar and the same precedence,
//! deny > ask > allow. An enabled `[sandbox]` maps its default policy onto
//! the stock policy of the same name (`extend`), its network allowlist onto
//! net rules, its sensitive paths onto read denies and its resource limits
//! onto `limits`.

use serde_json::Value as Json;
use toml::Value as Toml;

use super::claude;
use vtpolicy_grammar::{ArgPattern, Item, Kind, Limit};

use super::{ImportError, Imported, Writer, default_item, exec_rule, net_rule, spanned, strings_rule};

/// Tools that run shell commands: an exec rule over every command.
const SHELL_TOOLS: &[&str] = &["exec_command", "run_pty_cmd", "shell", "unified_exec"];

/// Reads `text` by what it holds, whatever the file is called
/// (`vtcode.toml.example`): a JSON object is a tool policy, anything else
/// a `vtcode.toml`.
pub fn import(text: &str, source: &str) -> Result<Imported, ImportError> {
    if text.trim_start().starts_with('{') {
        let policy: Json = serde_json::from_str(text)
            .map_err(|e| ImportError::Json { file: source.to_owned(), message: e.to_string() })?;
        tool_policy(&policy, source)
    } else {
        let config: Toml =
            toml::from_str(text).map_err(|e| ImportError::Toml { file: source.to_owned(), message: e.to_string() })?;
        Ok(config_toml(&config, source))
    }
}

fn effect(decision: &str) -> Option<&'static str> {
    match decision {
        "allow" => Some("allow"),
        "prompt" | "ask" => Some("prompt"),
        "deny" => Some("deny"),
        _ => None,
    }
}

fn tool_rule(out: &mut Writer, origin: &str, tool: &str, decision: &str) {
    let Some(effect) = effect(decision) else {
        out.skip(origin, &format!("unknown decision `{decision}`"));
        return;
    };
    if SHELL_TOOLS.contains(&tool) && effect == "prompt" {
        // vtcode runs allow-listed commands without asking and asks for
        // the rest: the tool's `prompt` is the default for commands, which
        // the `[commands]` allow lists then lift.
        out.items(origin, &[default_item(Some(Kind::Exec), "prompt")]);
    } else if SHELL_TOOLS.contains(&tool) {
        out.rule(origin, exec_rule(effect, vec![ArgPattern::Any, ArgPattern::Rest]));
    } else {
        out.rule(origin, strings_rule(effect, &[Kind::Tool], &[tool]));
    }
}

fn tool_policy(policy: &Json, source: &str) -> Result<Imported, ImportError> {
    let mut out = Writer::new("vtcode-import", source);
    out.comment("vtcode asks about tools no policy names, as here.");
    out.items("unknown tools", &[default_item(Some(Kind::Tool), "prompt")]);
    let object = policy.as_object().ok_or_else(|| ImportError::NotTheFormat {
        file: source.to_owned(),
        message: "not a JSON object".to_owned(),
    })?;
    if let Some(tools) = object.get("tools").and_then(Json::as_object) {
        // The older "user" form: `allow: true` or a denial.
        for (tool, settings) in tools {
            let allowed = settings.get("allow").and_then(Json::as_bool) == Some(true);
            tool_rule(&mut out, &format!("tools.{tool}.allow"), tool, if allowed { "allow" } else { "deny" });
            for dropped in ["args_policy", "fs_write", "network", "rate_limit_per_run", "max_concurrent"] {
                if settings.get(dropped).is_some() {
                    out.skip(
                        &format!("tools.{tool}.{dropped}"),
                        "vtcode itself drops this field when it loads the file",
                    );
                }
            }
        }
    }
    if let Some(policies) = object.get("policies").and_then(Json::as_object) {
        for (tool, decision) in policies {
            match decision.as_str() {
                Some(decision) => tool_rule(&mut out, &format!("policies.{tool}"), tool, decision),
                None => out.skip(&format!("policies.{tool}"), "not a string"),
            }
        }
    }
    if let Some(constraints) = object.get("constraints").and_then(Json::as_object) {
        for (tool, fields) in constraints {
            for (field, value) in fields.as_object().into_iter().flatten() {
                let origin = format!("constraints.{tool}.{field}");
                match (field.as_str(), value.as_array()) {
                    ("denied_url_hosts", Some(hosts)) => {
                        for host in hosts.iter().filter_map(Json::as_str) {
                            out.rule(&origin, net_rule("deny", &[host], &[]));
                        }
                    }
                    _ => out.skip(&origin, "a per-call tool constraint, not a permission"),
                }
            }
        }
    }
    if let Some(mcp) = object.get("mcp") {
        let providers = mcp.pointer("/allowlist/providers").and_then(Json::as_object);
        for (provider, lists) in providers.into_iter().flatten() {
            for tool in lists.get("tools").and_then(Json::as_array).into_iter().flatten().filter_map(Json::as_str) {
                out.rule(
                    &format!("mcp.allowlist.providers.{provider}.tools: {tool}"),
                    strings_rule("allow", &[Kind::Tool], &[&format!("mcp__{provider}__{tool}")]),
                );
            }
        }
        if mcp.pointer("/allowlist/enforce").and_then(Json::as_bool) == Some(true) {
            out.skip(
                "mcp.allowlist.enforce",
                "unlisted MCP tools are denied by vtcode; here they follow the default (prompt)",
            );
        }
        let per_tool = mcp.get("providers").and_then(Json::as_object);
        for (provider, settings) in per_tool.into_iter().flatten() {
            for (tool, decision) in settings.get("tools").and_then(Json::as_object).into_iter().flatten() {
                let origin = format!("mcp.providers.{provider}.tools.{tool}");
                match decision.as_str().and_then(effect) {
                    Some(effect) => {
                        out.rule(&origin, strings_rule(effect, &[Kind::Tool], &[&format!("mcp__{provider}__{tool}")]))
                    }
                    None => out.skip(&origin, "not allow, prompt or deny"),
                }
            }
        }
    }
    if object.get("approval_cache").is_some() {
        out.skip("approval_cache", "remembered approvals are session state: vtpolicy never takes them from a file");
    }
    Ok(out.finish())
}

fn strings(value: Option<&Toml>) -> Vec<String> {
    value.and_then(Toml::as_array).into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn config_toml(config: &Toml, source: &str) -> Imported {
    let mut out = Writer::new("vtcode-import", source);
    let sandbox = config.get("sandbox");
    if sandbox.and_then(|s| s.get("enabled")).and_then(Toml::as_bool) == Some(true) {
        let stock = match sandbox.and_then(|s| s.get("default_policy")).and_then(Toml::as_str).unwrap_or("read_only") {
            "workspace_write" => Some("workspace-write"),
            "danger_full_access" => Some("danger-full-access"),
            "read_only" => Some("read-only"),
            _ => None,
        };
        match stock {
            Some(stock) => out.items("sandbox.default_policy", &[Item::Extend(spanned(stock.to_owned()))]),
            None => out.skip(
                "sandbox.default_policy",
                "an external sandbox (docker, microVM, gVisor) has no stock equivalent",
            ),
        }
        sandbox_details(sandbox, &mut out);
    } else if sandbox.is_some() {
        out.skip("sandbox", "disabled in the source: nothing to import");
    }
    if let Some(tools) = config.get("tools") {
        match tools.get("default_policy").and_then(Toml::as_str).map(|d| (d, effect(d))) {
            Some((_, Some(effect))) => {
                out.items("tools.default_policy (tools no policy names)", &[default_item(Some(Kind::Tool), effect)])
            }
            Some((other, None)) => out.skip("tools.default_policy", &format!("unknown policy `{other}`")),
            None => {}
        }
        for (tool, decision) in tools.get("policies").and_then(Toml::as_table).into_iter().flatten() {
            match decision.as_str() {
                Some(decision) => tool_rule(&mut out, &format!("tools.policies.{tool}"), tool, decision),
                None => out.skip(&format!("tools.policies.{tool}"), "not a string"),
            }
        }
    }
    if let Some(commands) = config.get("commands") {
        let lists = [
            ("allow_list", "allow", true),
            ("deny_list", "deny", true),
            ("allow_glob", "allow", false),
            ("deny_glob", "deny", false),
        ];
        for (key, effect, prefix) in lists {
            for command in strings(commands.get(key)) {
                let origin = format!("commands.{key}: {command}");
                // The lists match raw string prefixes: `rm` also matches
                // `rmdir`; here they match whole words.
                let pattern = if prefix { format!("{command} *") } else { command.clone() };
                match claude::bash_pattern(&pattern) {
                    Ok(tokens) => out.rule(&origin, exec_rule(effect, tokens)),
                    Err(why) => out.skip(&origin, &why),
                }
            }
        }
        for key in ["allow_regex", "deny_regex"] {
            for regex in strings(commands.get(key)) {
                out.skip(&format!("commands.{key}: {regex}"), "the language has no regular expressions");
            }
        }
        for prefix in strings(commands.get("approval_prefixes")) {
            out.skip(&format!("commands.approval_prefixes: {prefix}"), "remembered approvals are session state");
        }
    }
    if let Some(permissions) = config.get("permissions") {
        out.blank();
        out.comment("[permissions]: deny, then ask, then allow, as Claude Code; the strictest rule wins here.");
        for (key, effect) in [("deny", "deny"), ("ask", "prompt"), ("allow", "allow")] {
            for rule in strings(permissions.get(key)) {
                let origin = format!("permissions.{key}: {rule}");
                let normalized = normalize_tool(&rule);
                match claude::translate(&normalized, effect) {
                    Ok(rule) => out.rule(&origin, rule),
                    Err(why) => out.skip(&origin, &why),
                }
            }
        }
        if permissions.get("auto").is_some() {
            out.skip("permissions.auto", "a classifier's natural-language rules have no rule equivalent");
        }
    }
    out.finish()
}

/// vtcode tool names in `[permissions]` rules, as Claude's buckets.
fn normalize_tool(rule: &str) -> String {
    let (tool, rest) = match rule.split_once('(') {
        Some((tool, rest)) => (tool, format!("({rest}")),
        None => (rule, String::new()),
    };
    let bucket = match tool {
        "read_file" | "grep_file" | "list_files" | "code_search" => "Read",
        "write_file" | "create_file" | "delete_file" | "move_file" | "copy_file" => "Write",
        "edit_file" | "apply_patch" | "search_replace" | "file_op" => "Edit",
        "exec_command" | "run_pty_cmd" | "shell" => "Bash",
        "web_fetch" | "fetch" => "WebFetch",
        other => other,
    };
    format!("{bucket}{rest}")
}

fn sandbox_details(sandbox: Option<&Toml>, out: &mut Writer) {
    let Some(sandbox) = sandbox else { return };
    if let Some(network) = sandbox.get("network") {
        let block_all = network.get("block_all").and_then(Toml::as_bool) == Some(true);
        let allow_all = network.get("allow_all").and_then(Toml::as_bool) == Some(true);
        let policy = network.get("policy").and_then(Toml::as_str).unwrap_or("allowlist_only");
        if block_all || (!allow_all && policy == "block_all") {
            out.items("sandbox.network: block_all", &[default_item(Some(Kind::Net), "deny")]);
        } else if allow_all || policy == "allow_all" {
            out.items("sandbox.network: allow_all", &[default_item(Some(Kind::Net), "allow")]);
        } else {
            out.items("sandbox.network: allowlist_only", &[default_item(Some(Kind::Net), "deny")]);
        }
        for entry in network.get("allowlist").and_then(Toml::as_array).into_iter().flatten() {
            let Some(domain) = entry.get("domain").and_then(Toml::as_str) else { continue };
            let origin = format!("sandbox.network.allowlist: {domain}");
            let ports = match entry.get("port").map(|p| p.as_integer().and_then(|p| u16::try_from(p).ok())) {
                None => Vec::new(),
                Some(Some(port)) => vec![(port, port)],
                Some(None) => {
                    out.skip(&origin, "the port is not a number from 0 to 65535");
                    continue;
                }
            };
            out.rule(&origin, net_rule("allow", &[domain], &ports));
        }
    }
    for path in strings(sandbox.get("sensitive_paths").and_then(|s| s.get("additional"))) {
        let glob = if let Some(rest) = path.strip_prefix("~/") { format!("${{home}}/{rest}") } else { path.clone() };
        out.rule(
            &format!("sandbox.sensitive_paths.additional: {path}"),
            strings_rule("deny", &[Kind::Read], &[&format!("{glob}/**")]),
        );
    }
    if let Some(limits) = sandbox.get("resource_limits") {
        let mut items = Vec::new();
        let mut number = |key: &str, name: &str, unit: &str| {
            if let Some(value) = limits.get(key).and_then(Toml::as_integer).filter(|v| *v > 0) {
                items.push(Limit { name: spanned(name.to_owned()), value: spanned(format!("{value}{unit}")) });
            }
        };
        number("max_memory_mb", "memory", "MiB");
        number("max_pids", "processes", "");
        number("cpu_time_secs", "cpu", "s");
        number("timeout_secs", "wall", "s");
        if !items.is_empty() {
            out.items("sandbox.resource_limits", &[Item::Limits(items, vtpolicy_grammar::Span::default())]);
        }
    }
}
