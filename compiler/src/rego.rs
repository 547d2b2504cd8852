//! Policies exported to Rego (`vtpolicy compile --target rego`): one
//! self-contained module, `package vtpolicy`, that decides a normalised
//! request exactly as the engine does, so regorus on the export is an
//! independent oracle for the decision graph.
//!
//! `input` is the request as [`rego_input`] writes it: the engine's
//! normalised request, each known argument also carrying its lexical path
//! form (`normal`, when it differs) and whether it follows `--`
//! (`after_dashes`). The module defines `decision` (`"allow"`, `"prompt"`,
//! `"deny"`), `rules` (the deciding rule ids), `reasons`, `default_applied`
//! and `kernel_refusal`.
//!
//! Rego has no recursion, so an argv pattern is not interpreted: each one
//! is compiled into rule bodies where every `..` becomes a chosen start
//! index for the tokens that follow it. Globs become the regular
//! expressions globset itself matches with.

use std::fmt::Write as _;

use serde_json::{Value, json};
use vtpolicy_engine::{
    Arg, Atom, Effect, Matcher, Policy, Request, TokenPattern, normalize_path_token, path_pattern_regexes,
    token_glob_regex,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RegoError(pub String);

/// The request as the exported module reads it.
pub fn rego_input(request: &Request) -> Value {
    match request {
        Request::Exec(exec) => {
            let mut after_dashes = false;
            let args: Vec<Value> = exec
                .args
                .iter()
                .map(|arg| match arg {
                    Arg::Known(text) => {
                        let mut token = json!({ "known": text, "after_dashes": after_dashes });
                        if let Some(normal) = normalize_path_token(text)
                            && let Some(object) = token.as_object_mut()
                        {
                            object.insert("normal".to_owned(), Value::String(normal));
                        }
                        if text == "--" {
                            after_dashes = true;
                        }
                        token
                    }
                    Arg::Unknown => Value::String("unknown".to_owned()),
                })
                .collect();
            let (operands, shorts, longs, unknown_tokens) = vtpolicy_engine::option_view(exec);
            let shorts: Vec<String> = shorts.iter().map(char::to_string).collect();
            json!({
                "kind": "exec",
                "options": { "operands": operands, "shorts": shorts, "longs": longs, "unknown_tokens": unknown_tokens },
                "program": {
                    "spelled": exec.program.spelled,
                    "names": exec.program.names,
                    "path": exec.program.path,
                    "trusted": exec.program.trusted,
                },
                "args": args,
                "open_tail": exec.open_tail,
            })
        }
        Request::Read { path } => json!({ "kind": "read", "path": path }),
        Request::Write { path } => json!({ "kind": "write", "path": path }),
        Request::Net { host, port } => json!({ "kind": "net", "host": host, "port": port }),
        Request::Unix { path } => json!({ "kind": "net", "unix": path }),
        Request::Tool { name } => json!({ "kind": "tool", "name": name }),
    }
}

/// Everything that does not depend on the policies.
const PRELUDE: &str = r#"package vtpolicy

import rego.v1

rank := {"allow": 0, "prompt": 1, "deny": 2}

effects := ["allow", "prompt", "deny"]

# The argv as tokens: the program, then the arguments.
toks := array.concat([{"program": true}], input.args) if input.kind == "exec"

ntoks := count(toks)

# The option reading of deny and prompt rules that name flags: the
# program and the operands (`input.options`, split as the engine splits
# them), and the same without the tokens known only at run time.
otoks := array.concat([{"program": true}], [input.args[i] | some i in input.options.operands]) if input.kind == "exec"

notoks := count(otoks)

ktoks := array.concat(
	[{"program": true}],
	[input.args[i] | some i in input.options.operands; input.args[i] != "unknown"],
) if input.kind == "exec"

nktoks := count(ktoks)

flag_given(f) if {
	startswith(f, "--")
	some name in input.options.longs
	long_flag_ok(name, substring(f, 2, -1))
}

flag_given(f) if {
	not startswith(f, "--")
	substring(f, 1, 1) in input.options.shorts
}

# One atom against one token. `mode.allow`: an allow rule (tokens as
# written, trusted programs only); `mode.exists`: a token known only at run
# time may be anything.
atom_ok(atom, tok, mode) if {
	tok.program == true
	prog_ok(atom, mode)
}

atom_ok(atom, tok, mode) if {
	tok == "unknown"
	mode.exists
}

atom_ok(atom, tok, mode) if {
	is_string(tok.known)
	known_ok(atom, tok, mode)
}

known_ok(atom, tok, mode) if atom.lit == tok.known

known_ok(atom, tok, mode) if {
	not mode.allow
	atom.lit == tok.normal
}

# `--force` also matches `--force=x` and the abbreviations `--forc`, `--fo`.
known_ok(atom, tok, mode) if {
	not mode.allow
	not tok.after_dashes
	startswith(atom.lit, "--")
	long := substring(atom.lit, 2, -1)
	long != ""
	startswith(tok.known, "--")
	name := split(substring(tok.known, 2, -1), "=")[0]
	long_flag_ok(name, long)
}

# `-r` also matches a short-flag cluster holding `r` (`-rf`).
known_ok(atom, tok, mode) if {
	not mode.allow
	not tok.after_dashes
	regex.match(`^-[A-Za-z0-9]$`, atom.lit)
	regex.match(`^-[A-Za-z0-9]{2,}$`, tok.known)
	contains(substring(tok.known, 1, -1), substring(atom.lit, 1, 1))
}

known_ok(atom, tok, mode) if regex.match(atom.re, tok.known)

long_flag_ok(name, long) if name == long

long_flag_ok(name, long) if {
	count(name) >= 2
	startswith(long, name)
}

# Allow rules see the name the program was called by, and trusted
# programs only; deny and prompt rules every name and the path.
prog_ok(atom, mode) if {
	mode.allow
	input.program.trusted
	name_ok(atom, input.program.names[0])
}

prog_ok(atom, mode) if {
	mode.allow
	input.program.trusted
	name_ok(atom, input.program.path)
}

prog_ok(atom, mode) if {
	not mode.allow
	some name in input.program.names
	name_ok(atom, name)
}

prog_ok(atom, mode) if {
	not mode.allow
	name_ok(atom, input.program.path)
}

name_ok(atom, s) if {
	is_string(s)
	atom.lit == s
}

name_ok(atom, s) if {
	is_string(s)
	regex.match(atom.re, s)
}

# `*.example.com`: strict subdomains.
host_ok(pattern, host) if pattern == "*"

host_ok(pattern, host) if pattern == host

host_ok(pattern, host) if {
	startswith(pattern, "*.")
	suffix := substring(pattern, 2, -1)
	endswith(host, concat("", [".", suffix]))
	count(host) > count(suffix) + 1
}

port_ok(ranges, port) if count(ranges) == 0

port_ok(ranges, port) if {
	some range in ranges
	range[0] <= port
	port <= range[1]
}

# What each policy says: its matching rules, else its default for the kind.
policy_hits(p) := {h | some h in hits; h.p == p}

verdict(p) := v if {
	hs := policy_hits(p)
	count(hs) > 0
	top := max({rank[h.effect] | some h in hs})
	allowed := count({h | some h in hs; h.effect == "allow"}) > 0
	dflt := object.get(policies[p].defaults, input.kind, "none")
	refusal := kernel_refusal_of(top, allowed, dflt)
	v := {"effect": verdict_effect(top, refusal), "refusal": refusal, "default": false}
}

verdict(p) := {"effect": d, "refusal": false, "default": true} if {
	count(policy_hits(p)) == 0
	d := policies[p].defaults[input.kind]
}

# A prompt on a path the kernel profile will refuse anyway is a deny.
kernel_refusal_of(top, allowed, dflt) := true if {
	top == 1
	input.kind in {"read", "write"}
	dflt == "deny"
	not allowed
} else := false

verdict_effect(top, refusal) := "deny" if refusal

verdict_effect(top, refusal) := effects[top] if not refusal

verdicts := {p: v | some p in numbers.range(0, count(policies) - 1); v := verdict(p)}

decision := effects[max({rank[v.effect] | some v in verdicts})] if count(verdicts) > 0

decision := "prompt" if count(verdicts) == 0

winning(v) := "prompt" if v.refusal

winning(v) := v.effect if not v.refusal

deciding contains h if {
	some p, v in verdicts
	v.effect == decision
	some h in policy_hits(p)
	h.effect == winning(v)
}

rules contains policies[h.p].ids[h.r] if some h in deciding

reasons contains policies[h.p].because[h.r] if {
	some h in deciding
	is_string(policies[h.p].because[h.r])
}

default_applied := false if {
	some v in verdicts
	v.effect == decision
	not v.default
} else := true

kernel_refusal := true if {
	some v in verdicts
	v.effect == decision
	v.refusal
} else := false
"#;

const ALLOW: &str = r#"{"allow": true, "exists": false}"#;
const CERTAIN: &str = r#"{"allow": false, "exists": false}"#;
const POSSIBLE: &str = r#"{"allow": false, "exists": true}"#;

/// The Rego module deciding like `policies` combined.
pub fn export(policies: &[Policy]) -> Result<String, RegoError> {
    let mut out = String::from(PRELUDE);
    let tables: Vec<Value> = policies
        .iter()
        .map(|policy| {
            let mut defaults = serde_json::Map::new();
            for kind in vtpolicy_engine::RequestKind::ALL {
                if let Some(effect) = policy.defaults.get(kind) {
                    defaults.insert(kind.as_str().to_owned(), Value::String(effect.as_str().to_owned()));
                }
            }
            json!({
                "name": policy.name,
                "defaults": defaults,
                "ids": policy.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                "because": policy.rules.iter().map(|r| r.because.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    // Pretty: Rego parsers limit line length.
    let table = serde_json::to_string_pretty(&Value::Array(tables)).map_err(|e| RegoError(e.to_string()))?;
    let _ = writeln!(out, "\npolicies := {table}\n");
    // `hits` exists even when no rule does.
    let _ = writeln!(out, "hits contains \"none\" if false\n");

    for (p, policy) in policies.iter().enumerate() {
        let cap = policy.defaults.unanalysable.unwrap_or(Effect::Prompt).max(Effect::Prompt);
        let _ = writeln!(out, "# policy {:?}", policy.name);
        for (r, rule) in policy.rules.iter().enumerate() {
            let certain = format!("c_{p}_{r}");
            let possible = format!("q_{p}_{r}");
            let _ = writeln!(out, "# rule {:?} ({})", rule.id, rule.effect.as_str());
            if rule.sandboxed_only {
                // The export judges calls as the engine judges unsandboxed
                // ones: a `when sandboxed` rule never applies.
                let _ = writeln!(out, "# (when sandboxed: not part of this export)\n");
                continue;
            }
            if rule.running.is_some() {
                // Outside a run no command is running: the rule never applies.
                let _ = writeln!(out, "# (when running: not part of this export)\n");
                continue;
            }
            let mut has_possible = false;
            for matcher in &rule.matchers {
                match matcher {
                    Matcher::Exec { pattern } => {
                        let (mode, strict) =
                            if rule.effect == Effect::Allow { (ALLOW, false) } else { (CERTAIN, true) };
                        for body in argv_bodies(&pattern.tokens, mode, false, ALL_TOKENS)? {
                            write_rule(&mut out, &certain, "input.kind == \"exec\"", &body);
                        }
                        if strict {
                            for body in argv_bodies(&pattern.tokens, POSSIBLE, true, ALL_TOKENS)? {
                                write_rule(&mut out, &possible, "input.kind == \"exec\"", &body);
                                has_possible = true;
                            }
                        }
                        if strict && let Some((flags, operands)) = vtpolicy_engine::option_reading(&pattern.tokens) {
                            let given = flag_conditions(&flags);
                            let with = |first: Vec<String>, body: Vec<String>| [first, body].concat();
                            for body in argv_bodies(&operands, CERTAIN, false, OPERANDS)? {
                                write_rule(&mut out, &certain, "input.kind == \"exec\"", &with(given.clone(), body));
                            }
                            // Flags as written, or added at run time...
                            for body in argv_bodies(&operands, POSSIBLE, true, OPERANDS)? {
                                write_rule(
                                    &mut out,
                                    &possible,
                                    "input.kind == \"exec\"",
                                    &with(given.clone(), body.clone()),
                                );
                                let tail = vec!["input.open_tail".to_owned()];
                                write_rule(&mut out, &possible, "input.kind == \"exec\"", &with(tail, body));
                            }
                            // ...or the run-time tokens are the flags, not operands.
                            for body in argv_bodies(&operands, POSSIBLE, true, KNOWN_OPERANDS)? {
                                let unknown = vec!["input.options.unknown_tokens".to_owned()];
                                write_rule(&mut out, &possible, "input.kind == \"exec\"", &with(unknown, body));
                            }
                            has_possible = true;
                        }
                    }
                    Matcher::Path { read, write, glob } => {
                        for kind in [(*read, "read"), (*write, "write")].iter().filter(|(on, _)| *on).map(|(_, k)| *k) {
                            for regex in path_pattern_regexes(glob).map_err(RegoError)? {
                                let body = vec![format!("regex.match({}, input.path)", quote(&regex))];
                                write_rule(&mut out, &certain, &format!("input.kind == \"{kind}\""), &body);
                            }
                        }
                    }
                    Matcher::Net { host, ports } => {
                        let ranges: Vec<Value> = ports.iter().map(|&(lo, hi)| json!([lo, hi])).collect();
                        let body = vec![
                            format!("host_ok({}, input.host)", quote(host)),
                            format!("port_ok({}, input.port)", Value::Array(ranges)),
                        ];
                        write_rule(&mut out, &certain, "input.kind == \"net\"", &body);
                    }
                    Matcher::Socket { glob } => {
                        for regex in path_pattern_regexes(glob).map_err(RegoError)? {
                            let body = vec![format!("regex.match({}, input.unix)", quote(&regex))];
                            write_rule(&mut out, &certain, "input.kind == \"net\"", &body);
                        }
                    }
                    Matcher::Tool { glob } => {
                        let body = vec![format!("name_ok({}, input.name)", atom_literal(&Atom::from_text(glob))?)];
                        write_rule(&mut out, &certain, "input.kind == \"tool\"", &body);
                    }
                }
            }
            let effect = rule.effect.as_str();
            let _ = writeln!(
                out,
                "hits contains {{\"p\": {p}, \"r\": {r}, \"effect\": \"{effect}\", \"uncertain\": false}} if {certain}\n"
            );
            if has_possible {
                let capped = rule.effect.min(cap).as_str();
                let _ = writeln!(
                    out,
                    "hits contains {{\"p\": {p}, \"r\": {r}, \"effect\": \"{capped}\", \"uncertain\": true}} if {{\n\tnot {certain}\n\t{possible}\n}}\n"
                );
            }
        }
    }
    Ok(out)
}

fn write_rule(out: &mut String, head: &str, guard: &str, body: &[String]) {
    let _ = writeln!(out, "{head} if {{\n\t{guard}");
    for line in body {
        let _ = writeln!(out, "\t{line}");
    }
    let _ = writeln!(out, "}}\n");
}

fn quote(text: &str) -> String {
    Value::String(text.to_owned()).to_string()
}

/// `{"lit": …}` or `{"re": …}`.
fn atom_literal(atom: &Atom) -> Result<String, RegoError> {
    Ok(match atom {
        Atom::Literal(text) => json!({ "lit": text }).to_string(),
        Atom::Glob(glob) => json!({ "re": token_glob_regex(glob).map_err(RegoError)? }).to_string(),
    })
}

/// A token array of the module and its length.
type Tokens = (&'static str, &'static str);

const ALL_TOKENS: Tokens = ("toks", "ntoks");
const OPERANDS: Tokens = ("otoks", "notoks");
const KNOWN_OPERANDS: Tokens = ("ktoks", "nktoks");

/// Conditions that every flag position of an option reading is given:
/// one of its alternatives, all of whose flags the command has.
fn flag_conditions(flags: &[Vec<Vec<String>>]) -> Vec<String> {
    let mut body = Vec::new();
    for (k, alternatives) in flags.iter().enumerate() {
        body.push(format!("some alt_f{k} in {}", json!(alternatives)));
        body.push(format!("count({{f | some f in alt_f{k}; not flag_given(f)}}) == 0"));
    }
    body
}

/// Rule bodies (alternatives) matching `pattern` against the request's
/// tokens in `mode`, open tail included.
fn argv_bodies(
    pattern: &[TokenPattern],
    mode: &str,
    exists: bool,
    tokens: Tokens,
) -> Result<Vec<Vec<String>>, RegoError> {
    let allow = mode == ALLOW;
    let mut bodies = Vec::new();
    // Without an open tail: the whole pattern against the tokens.
    let mut body = vec!["not input.open_tail".to_owned()];
    if allow {
        body.push("input.program.trusted".to_owned());
    }
    body.extend(sequence(pattern, mode, tokens)?);
    bodies.push(body);
    // With one: unknown tokens follow the known ones.
    if exists {
        // Some of them may make the rest of the pattern match: any prefix
        // of the pattern consuming every known token will do.
        for end in 1..=pattern.len() {
            let mut body = vec!["input.open_tail".to_owned()];
            body.extend(sequence(pattern.get(..end).unwrap_or_default(), mode, tokens)?);
            bodies.push(body);
        }
    } else if pattern.last() == Some(&TokenPattern::Rest) {
        // Whatever they are: only a trailing `..` absorbs them.
        let mut body = vec!["input.open_tail".to_owned()];
        if allow {
            body.push("input.program.trusted".to_owned());
        }
        body.extend(sequence(pattern, mode, tokens)?);
        bodies.push(body);
    }
    Ok(bodies)
}

/// Conditions for `pattern` to match exactly the known tokens: fixed
/// positions up to the first `..`, then one chosen start index per run of
/// tokens after each `..`, the last run anchored at the end unless the
/// pattern ends with `..`.
fn sequence(pattern: &[TokenPattern], mode: &str, (toks, ntoks): Tokens) -> Result<Vec<String>, RegoError> {
    let mut runs: Vec<Vec<&TokenPattern>> = vec![Vec::new()];
    let mut has_rest = false;
    for token in pattern {
        if *token == TokenPattern::Rest {
            has_rest = true;
            runs.push(Vec::new());
        } else if let Some(run) = runs.last_mut() {
            run.push(token);
        }
    }
    let ends_with_rest = pattern.last() == Some(&TokenPattern::Rest);
    let mut body = Vec::new();
    let first = runs.first().cloned().unwrap_or_default();
    body.push(format!("{ntoks} >= {}", first.len()));
    for (j, token) in first.iter().enumerate() {
        body.extend(token_condition(token, &j.to_string(), mode, toks)?);
    }
    if !has_rest {
        body.push(format!("{ntoks} == {}", first.len()));
        return Ok(body);
    }
    let floating: Vec<&Vec<&TokenPattern>> = runs.iter().skip(1).filter(|run| !run.is_empty()).collect();
    let mut end = first.len().to_string();
    for (k, run) in floating.iter().enumerate() {
        let start = format!("s{k}");
        let length = run.len();
        if k + 1 == floating.len() && !ends_with_rest {
            body.push(format!("{start} := {ntoks} - {length}"));
            body.push(format!("{start} >= {end}"));
        } else {
            body.push(format!("{ntoks} - {length} >= {end}"));
            body.push(format!("some {start} in numbers.range({end}, {ntoks} - {length})"));
        }
        for (j, token) in run.iter().enumerate() {
            body.extend(token_condition(token, &format!("{start} + {j}"), mode, toks)?);
        }
        end = format!("{start} + {length}");
    }
    Ok(body)
}

fn token_condition(token: &TokenPattern, index: &str, mode: &str, toks: &str) -> Result<Vec<String>, RegoError> {
    Ok(match token {
        TokenPattern::Any | TokenPattern::Rest => Vec::new(),
        TokenPattern::OneOf(atoms) => {
            let atoms: Vec<String> = atoms.iter().map(atom_literal).collect::<Result<_, _>>()?;
            vec![
                format!("some atom_{} in [{}]", index.replace(" + ", "_"), atoms.join(", ")),
                format!("atom_ok(atom_{}, {toks}[{index}], {mode})", index.replace(" + ", "_")),
            ]
        }
    })
}
