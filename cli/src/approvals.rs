//! The user's approvals: a `.vtp` policy of allow rules, one per prompt
//! answered "always", in vtpolicy's state directory, which every run's
//! mounts keep read-only (a command that could add approvals would lift
//! its own prompts). Each lifts a prompt where it matches (never a deny;
//! see `Judge::with_approvals`). It is read like any policy: a file that
//! does not compile refuses the call, with its diagnostics. A file inside
//! the workspace is never read.

use std::path::{Path, PathBuf};

use vtpolicy::engine::Effect;
use vtpolicy::grammar::{Item, SourceFile, escape_glob, quote, word_or_quoted};
use vtpolicy::{ApprovalToken, Environment, Judge, Judgement, Layering, Policies, Request};

/// `$XDG_STATE_HOME/vtpolicy/approvals.vtp`, else
/// `~/.local/state/vtpolicy/approvals.vtp`.
pub(crate) fn path() -> Option<PathBuf> {
    crate::state::state_dir().map(|dir| dir.join("approvals.vtp"))
}

/// Whether the approvals at `path` would lie inside `workspace`, where
/// any repository could plant some.
fn inside(path: &Path, workspace: &Path) -> bool {
    crate::state::lies_in(path.parent().unwrap_or(path), workspace)
}

/// `judge` with the user's approvals, when there are any. An error names
/// the file and what is wrong with it; the call must then be refused.
pub(crate) fn attach(judge: Judge) -> Result<Judge, String> {
    let Some(path) = path().filter(|path| path.exists()) else { return Ok(judge) };
    let environment = &judge.environment().clone();
    if inside(&path, &environment.workspace) {
        eprintln!("vtpolicy: warning: the approvals `{}` lie inside the workspace and are not read", path.display());
        return Ok(judge);
    }
    let spec = path.to_string_lossy().into_owned();
    let cache = crate::state::state_dir().map(|state| state.join("cache"));
    let loaded = Policies::load_cached(&[spec], environment, Layering::Enforce, cache.as_deref())
        .map_err(|error| format!("the approvals `{}` do not compile: {error}", path.display()))?;
    let Some(compiled) = loaded.compiled().first().cloned() else { return Ok(judge) };
    judge.with_approvals(compiled).map_err(|error| format!("the approvals `{}`: {error}", path.display()))
}

/// A token of an argv pattern that matches `literal` alone.
fn literal(token: &str) -> String {
    word_or_quoted(&escape_glob(token))
}

/// The rules that would have allowed the parts of `judgement` that
/// prompt, one per part: an exec's program as called, its subcommands
/// and options as written, every operand and option value `*`; a
/// connection's host and port. Empty when some prompting part has none
/// (an untrusted program, a part that cannot be analysed, a read or
/// write): approving always would then not be enough.
pub(crate) fn proposals(judge: &Judge, judgement: &Judgement) -> Vec<String> {
    let mut rules = Vec::new();
    for part in &judgement.decision.parts {
        if part.decision.effect != Effect::Prompt {
            continue;
        }
        let rule = match &part.request {
            Some(Request::Net { host, port }) => net_proposal(host, *port),
            Some(request @ Request::Exec(_)) => match judge.approval_shape(request) {
                Some((program, shape)) => {
                    let mut tokens = vec![literal(&program)];
                    tokens.extend(shape.iter().map(|token| match token {
                        ApprovalToken::Literal(text) => literal(text),
                        ApprovalToken::GluedValue(prefix) => quote(&format!("{}*", escape_glob(prefix))),
                        ApprovalToken::Any => "*".to_owned(),
                    }));
                    format!("allow exec {}", tokens.join(" "))
                }
                None => return Vec::new(),
            },
            _ => return Vec::new(),
        };
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    }
    rules
}

/// The rule that approves connections to `host` on `port` always.
pub(crate) fn net_proposal(host: &str, port: u16) -> String {
    format!("allow net {} port {port}", quote(host))
}

/// The rules of the approvals text that have an id: each id with where
/// the rule is written.
fn rules_of(text: &str) -> Result<Vec<(String, std::ops::Range<usize>)>, String> {
    let source = SourceFile::new("<approvals>".to_owned(), text);
    let (file, diagnostics) = vtpolicy::grammar::parse(&source);
    if let Some(error) = diagnostics.iter().find(|d| d.is_error()) {
        return Err(error.render());
    }
    let mut rules = Vec::new();
    for item in file.items {
        if let Item::Rule(rule) = item
            && let Some(id) = &rule.id
        {
            rules.push((id.node.clone(), rule.span.start..rule.span.end));
        }
    }
    Ok(rules)
}

const HEADER: &str = "# Prompts answered \"always\" at `vtpolicy run`; `vtpolicy approvals list | revoke ID`.\nversion 1\npolicy \"approvals\"\n";

/// Holds the approvals' lock: one change at a time, each on the file as
/// the last one left it.
fn locked(path: &Path) -> Result<std::fs::File, String> {
    let dir = path.parent().ok_or("the approvals have no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let lock = dir.join("approvals.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| format!("cannot open `{}`: {e}", lock.display()))?;
    file.lock().map_err(|e| format!("cannot lock `{}`: {e}", lock.display()))?;
    Ok(file)
}

/// Writes `text` as the approvals, once it compiles as a policy.
fn write(path: &Path, text: &str, environment: &Environment) -> Result<(), String> {
    Policies::from_text("approvals", text, environment)
        .map_err(|error| format!("the approvals would not compile: {error}"))?;
    let dir = path.parent().ok_or("the approvals have no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
    let staged = dir.join(format!(".approvals.{}.vtp", std::process::id()));
    std::fs::write(&staged, text).and_then(|()| std::fs::rename(&staged, path)).map_err(|e| {
        let _ = std::fs::remove_file(&staged);
        format!("cannot write `{}`: {e}", path.display())
    })
}

/// Appends `rules` to the approvals, each with an id of its own and where
/// it came from; returns the ids.
pub(crate) fn append(rules: &[String], command: &str, environment: &Environment) -> Result<Vec<String>, String> {
    let path = path().ok_or("no home directory for the approvals")?;
    if inside(&path, &environment.workspace) {
        return Err(format!("the approvals `{}` would lie inside the workspace", path.display()));
    }
    let _lock = locked(&path)?;
    let mut text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => HEADER.to_owned(),
        Err(error) => return Err(format!("cannot read `{}`: {error}", path.display())),
    };
    let taken: Vec<String> = rules_of(&text)?.into_iter().map(|(id, _)| id).collect();
    let mut next = 1;
    let mut ids = Vec::new();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for rule in rules {
        while taken.contains(&format!("approved-{next}")) {
            next += 1;
        }
        let id = format!("approved-{next}");
        next += 1;
        let because = format!("approved at the terminal for `{command}`");
        text.push_str(&format!("{rule}\n    id {}\n    because {}\n", quote(&id), quote(&because)));
        ids.push(id);
    }
    write(&path, &text, environment)?;
    Ok(ids)
}

/// The approvals' rules, each as written.
pub(crate) fn list() -> Result<Vec<(String, String)>, String> {
    let Some(path) = path().filter(|path| path.exists()) else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let rules = rules_of(&text)?;
    Ok(rules.into_iter().map(|(id, span)| (id, text.get(span).unwrap_or_default().to_owned())).collect())
}

/// Removes the rule `id` from the approvals.
pub(crate) fn revoke(id: &str, environment: &Environment) -> Result<(), String> {
    let path = path().filter(|path| path.exists()).ok_or("there are no approvals")?;
    let _lock = locked(&path)?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let (_, span) =
        rules_of(&text)?.into_iter().find(|(rule, _)| rule == id).ok_or_else(|| format!("no approval `{id}`"))?;
    let end = if text.get(span.end..).is_some_and(|rest| rest.starts_with('\n')) { span.end + 1 } else { span.end };
    let rest = format!("{}{}", text.get(..span.start).unwrap_or_default(), text.get(end..).unwrap_or_default());
    write(&path, &rest, environment)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules "always" proposes for `text`, judged sandboxed under the
    /// stock `workspace-write` with `programs` installed.
    fn proposed(text: &str, programs: &[&str]) -> Vec<String> {
        let mut environment = Environment::hermetic(Path::new("/home/u/proj"), "/home/u", programs);
        environment.sandboxed = true;
        let policies = Policies::load(&["workspace-write".to_owned()], &environment, Layering::Enforce).expect("stock");
        let judge = policies.judge(environment).expect("judge");
        proposals(&judge, &judge.judge(&vtpolicy::RawRequest::shell(text)))
    }

    #[test]
    fn always_proposes_the_command_shape_with_operands_as_any_token() {
        let git = ["git"];
        assert_eq!(proposed("git push origin main", &git), ["allow exec git push * *"]);
        // Options as written, their values any token, glued or not.
        assert_eq!(proposed("git push -u origin HEAD", &git), ["allow exec git push -u * *"]);
        assert_eq!(proposed("git fetch --depth=1 origin", &git), ["allow exec git fetch \"--depth=*\" *"]);
        assert_eq!(
            proposed("curl -H 'Accept: x' -o out.json https://example.com/a", &["curl"]),
            ["allow exec curl -H * -o * *", "allow net \"example.com\" port 443"]
        );
        // Only what prompts, one rule per prompting part.
        assert_eq!(proposed("git status && git pull --rebase", &git), ["allow exec git pull --rebase"]);
        // A program no allow rule can match offers nothing.
        assert!(proposed("./deploy.sh --prod", &[]).is_empty());
    }

    /// Commands as CI steps write them: a program whose model names no
    /// subcommands keeps its leading names as written, so approving
    /// `docker build` never approves `docker run`.
    #[test]
    fn always_keeps_the_subcommands_real_commands_name() {
        let programs = ["docker", "gh", "kubectl", "go", "apt-get", "cargo", "npm", "pip"];
        for (text, rule) in [
            ("docker build -t app:latest .", "allow exec docker build -t * *"),
            ("gh pr create --title 'x y' --body z", "allow exec gh pr create --title * --body *"),
            ("kubectl apply -f deploy.yaml -n prod", "allow exec kubectl apply -f * -n *"),
            ("go install golang.org/x/tools/gopls@latest", "allow exec go install *"),
            ("apt-get install -y jq", "allow exec apt-get install -y *"),
            ("cargo install ripgrep --locked", "allow exec cargo install * --locked"),
            ("npm publish --access public", "allow exec npm publish --access *"),
            ("pip install -r requirements.txt", "allow exec pip install -r *"),
        ] {
            assert_eq!(proposed(text, &programs), [rule], "{text}");
        }
    }
}
