//! Trust by writability, on the real file system: a program is trusted
//! when the agent cannot have written the file that runs, nor any symlink
//! or directory on the way to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::{Path, PathBuf};

use vtpolicy_engine::{Part, Request};
use vtpolicy_runtime::{Environment, Judge, Layering, ProgramLookup, RawRequest, load_policy};

/// A temporary machine: `ws` (the workspace), `home`, `tmp`, and `opt`,
/// a tree outside all three that plays the system's directories.
struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        for sub in ["ws", "home", "tmp", "opt/bin", "opt/lib/tool/bin"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        Machine { _dir: dir, root }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn program(&self, relative: &str) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn link(&self, relative: &str, target: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        symlink(target, path).expect("symlink");
    }

    /// A judge of `policy` (stock name or text) that finds bare names in
    /// `search`, as `PATH` would.
    fn judge(&self, policy: &str, search: &[&str]) -> Judge {
        let environment = Environment {
            workspace: self.path("ws"),
            cwd: self.path("ws"),
            home: self.path("home").display().to_string(),
            tmp: self.path("tmp"),
            lookup: ProgramLookup::Search(search.iter().map(|dir| self.path(dir)).collect()),
            mounts: Vec::new(),
            sandboxed: false,
        };
        let spec = if policy.starts_with("version") {
            let file = self.path("policy.vtp");
            std::fs::write(&file, policy).expect("policy");
            file.display().to_string()
        } else {
            policy.to_owned()
        };
        let (compiled, diagnostics) = load_policy(&spec, &environment.context(), Layering::Enforce);
        Judge::new(vec![compiled.unwrap_or_else(|| panic!("{diagnostics:?}"))], environment).expect("judge")
    }
}

/// Whether `argv[0]` of `argv` is trusted, and the path it resolved to.
fn trusted(judge: &Judge, argv: &[&str]) -> (bool, Option<String>) {
    let raw = RawRequest::Exec {
        argv: Some(argv.iter().map(|a| (*a).to_owned()).collect()),
        command: None,
        cwd: None,
        workspace: None,
    };
    match judge.normalize(&raw).first() {
        Some(Part::Request { request: Request::Exec(exec), .. }) => (exec.program.trusted, exec.program.path.clone()),
        other => panic!("{argv:?}: {other:?}"),
    }
}

#[test]
fn a_symlink_into_a_library_tree_is_trusted() {
    // `npm`'s shape: `bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js`.
    let machine = Machine::new();
    let cli = machine.program("opt/lib/tool/bin/cli.js");
    machine.link("opt/bin/tool", "../lib/tool/bin/cli.js");
    let judge = machine.judge("workspace-write", &["opt/bin"]);
    assert_eq!(trusted(&judge, &["tool"]), (true, Some(cli.display().to_string())));
}

#[test]
fn anything_in_the_workspace_or_tmp_is_never_trusted() {
    let machine = Machine::new();
    machine.program("ws/bin/git");
    machine.program("tmp/x/git");
    // A trusted directory's link into the workspace: the file that runs is
    // the agent's.
    machine.link("opt/bin/git", &machine.path("ws/bin/git").display().to_string());
    for policy in ["workspace-write", "read-only"] {
        let judge = machine.judge(policy, &["opt/bin"]);
        assert!(!trusted(&judge, &["./bin/git"]).0, "{policy}: ./bin/git");
        assert!(!trusted(&judge, &[&machine.path("tmp/x/git").display().to_string()]).0, "{policy}: tmp");
        assert!(!trusted(&judge, &["git"]).0, "{policy}: a link into the workspace");
    }
}

#[test]
fn a_writable_hop_anywhere_on_the_way_makes_it_untrusted() {
    let machine = Machine::new();
    machine.program("opt/lib/tool/bin/cli.js");
    // `home/.local/bin/tool` links to a file the agent cannot write; the
    // link itself lies in a tree the policy below lets it write.
    machine.link("home/.local/bin/tool", &machine.path("opt/lib/tool/bin/cli.js").display().to_string());
    let stock = machine.judge("workspace-write", &["home/.local/bin"]);
    assert!(trusted(&stock, &["tool"]).0, "the stock policy does not let the agent write ~/.local");
    let writes_local = "version 1\npolicy \"local\"\ndefault prompt\ndefault write deny\n\
                        allow write \"${workspace}/**\", \"${home}/.local/**\"\nallow exec tool ..\n";
    let judge = machine.judge(writes_local, &["home/.local/bin"]);
    assert!(!trusted(&judge, &["tool"]).0, "the link could have been planted");
    // A directory on the way that the agent can write is as bad as the
    // file: the link's target directory is writable here.
    let writes_opt_lib = "version 1\npolicy \"lib\"\ndefault prompt\ndefault write deny\n\
                          allow write \"${workspace}/**\", \"$ROOT/opt/lib/**\"\n"
        .replace("$ROOT", &machine.root.display().to_string());
    let judge = machine.judge(&writes_opt_lib, &["home/.local/bin"]);
    assert!(!trusted(&judge, &["tool"]).0, "the target lies in a writable tree");
    // Allowed only after a prompt is not letting the agent write.
    let prompts = "version 1\npolicy \"asks\"\ndefault prompt\n";
    assert!(trusted(&machine.judge(prompts, &["home/.local/bin"]), &["tool"]).0);
}

#[test]
fn trusted_bin_narrows_and_never_widens() {
    let machine = Machine::new();
    machine.program("opt/bin/tool");
    machine.program("ws/bin/tool");
    let narrowed = "version 1\npolicy \"narrow\"\ndefault prompt\ntrusted_bin \"/usr/bin\"\n";
    assert!(!trusted(&machine.judge(narrowed, &["opt/bin"]), &["tool"]).0, "outside trusted_bin");
    let named =
        format!("version 1\npolicy \"named\"\ndefault prompt\ntrusted_bin \"{}\"\n", machine.path("opt/bin").display());
    assert!(trusted(&machine.judge(&named, &["opt/bin"]), &["tool"]).0);
    // Naming the workspace's own directory does not make it trusted.
    let widened =
        format!("version 1\npolicy \"wide\"\ndefault prompt\ntrusted_bin \"{}\"\n", machine.path("ws/bin").display());
    assert!(!trusted(&machine.judge(&widened, &["ws/bin"]), &["tool"]).0);
}

#[test]
fn the_systems_own_programs_are_trusted_under_the_stock_policies() {
    // This machine's `git` and `sh`, wherever `PATH` finds them.
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().canonicalize().expect("canonical");
    let environment = Environment::detect(Some(&workspace), None).expect("environment");
    for policy in ["workspace-write", "read-only"] {
        let (compiled, diagnostics) = load_policy(policy, &environment.context(), Layering::Enforce);
        let judge = Judge::new(vec![compiled.unwrap_or_else(|| panic!("{diagnostics:?}"))], environment.clone())
            .expect("judge");
        for program in ["git", "sh"] {
            let (is_trusted, path) = trusted(&judge, &[program]);
            assert!(is_trusted, "{policy}: {program} at {path:?}");
            assert!(path.as_deref().is_some_and(|p| Path::new(p).is_absolute()));
        }
    }
}

#[test]
fn a_fixture_knows_only_the_programs_it_lists() {
    let environment = Environment::hermetic(Path::new("/w"), "/h", &["git"]);
    let (compiled, diagnostics) = load_policy("workspace-write", &environment.context(), Layering::Enforce);
    let judge = Judge::new(vec![compiled.unwrap_or_else(|| panic!("{diagnostics:?}"))], environment).expect("judge");
    assert_eq!(trusted(&judge, &["git"]), (true, Some("/usr/bin/git".to_owned())));
    assert_eq!(trusted(&judge, &["npm"]), (false, None));
    assert_eq!(trusted(&judge, &["/w/bin/git"]), (false, None));
}
