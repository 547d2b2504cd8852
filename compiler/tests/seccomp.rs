//! The compiled seccomp programs, run through the BPF interpreter on
//! synthetic `seccomp_data`: every listed syscall and argument case, the
//! x32 and foreign-architecture cases, and an allowed baseline.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use vtpolicy_compiler::profile::bpf::{self, SeccompData, Verdict};
use vtpolicy_compiler::profile::model::SandboxModel;
use vtpolicy_compiler::profile::seccomp::{self, Arch, SeccompProgram, syscall_number};
use vtpolicy_compiler::{Context, StockOnly, compile};
use vtpolicy_grammar::SourceFile;

const EPERM: Verdict = Verdict::Errno(1);
const ENOSYS: Verdict = Verdict::Errno(38);

fn context() -> Context {
    Context { workspace: "/w".into(), home: "/h".into(), tmp: "/t".into(), cwd: "/w".into() }
}

fn program(policy_text: &str) -> SeccompProgram {
    let source = SourceFile::new("p.vtp", policy_text);
    let (policy, diagnostics) = compile(&source, &context(), &StockOnly);
    let policy = policy.unwrap_or_else(|| panic!("{diagnostics:?}"));
    let model = SandboxModel::new(&[&policy], &context());
    seccomp::compile(&model, Arch::X86_64).expect("compiles").expect("a program")
}

fn stock(name: &str) -> SeccompProgram {
    program(&format!("version 1\nextend \"{name}\"\n"))
}

struct Call<'a> {
    program: &'a SeccompProgram,
}

impl Call<'_> {
    fn verdict(&self, name: &str, args: [u64; 6]) -> Verdict {
        let nr = syscall_number(Arch::X86_64, name).unwrap_or_else(|| panic!("{name}")) as u32;
        self.raw(nr, Arch::X86_64.audit(), args)
    }

    fn raw(&self, nr: u32, arch: u32, args: [u64; 6]) -> Verdict {
        let data = SeccompData { nr, arch, instruction_pointer: 0x7fff_0000_1000, args };
        bpf::run(&self.program.instructions, &data).expect("program runs")
    }
}

const AF_UNIX: u64 = 1;
const AF_INET: u64 = 2;
const AF_INET6: u64 = 10;
const AF_NETLINK: u64 = 16;
const AF_PACKET: u64 = 17;
const AF_VSOCK: u64 = 40;
const SOCK_STREAM: u64 = 1;
const SOCK_DGRAM: u64 = 2;
const SOCK_RAW: u64 = 3;
const SOCK_SEQPACKET: u64 = 5;
const SOCK_NONBLOCK_CLOEXEC: u64 = 0o4000 | 0o2000000;
const IPPROTO_TCP: u64 = 6;
const IPPROTO_UDP: u64 = 17;
const IPPROTO_SCTP: u64 = 132;
const IPPROTO_MPTCP: u64 = 262;

#[test]
fn every_denied_syscall_is_refused_and_a_baseline_runs() {
    let program = stock("workspace-write");
    let call = Call { program: &program };
    for name in [
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "pidfd_getfd",
        "process_madvise",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "bpf",
        "perf_event_open",
        "keyctl",
        "add_key",
        "request_key",
        "mount",
        "umount2",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "open_tree",
        "move_mount",
        "mount_setattr",
        "pivot_root",
        "chroot",
        "unshare",
        "setns",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "userfaultfd",
        "name_to_handle_at",
        "open_by_handle_at",
    ] {
        assert_eq!(call.verdict(name, [0; 6]), EPERM, "{name}");
    }
    assert_eq!(call.verdict("clone3", [0; 6]), ENOSYS, "clone3 falls back to clone");
    // Baseline: everyday syscalls pass (read, write, openat, execve,
    // getuid, exit_group).
    for nr in [0u32, 1, 257, 59, 102, 231] {
        assert_eq!(call.raw(nr, Arch::X86_64.audit(), [0; 6]), Verdict::Allow, "syscall {nr}");
    }
}

#[test]
fn x32_numbers_and_foreign_architectures_never_reach_the_deny_list() {
    let program = stock("workspace-write");
    let call = Call { program: &program };
    let x32_bit = 0x4000_0000;
    // x32 ptrace (521 is x32's ptrace), and x32 spellings of allowed calls.
    assert_eq!(call.raw(x32_bit | 521, Arch::X86_64.audit(), [0; 6]), ENOSYS);
    assert_eq!(call.raw(x32_bit | 101, Arch::X86_64.audit(), [0; 6]), ENOSYS);
    assert_eq!(call.raw(x32_bit, Arch::X86_64.audit(), [0; 6]), ENOSYS);
    // i386 (int 0x80) and anything else: the process is killed.
    assert_eq!(call.raw(26, 0x4000_0003, [0; 6]), Verdict::KillProcess);
    assert_eq!(call.raw(0, Arch::Aarch64.audit(), [0; 6]), Verdict::KillProcess);
}

#[test]
fn clone_with_any_namespace_flag_is_refused() {
    let program = stock("workspace-write");
    let call = Call { program: &program };
    let thread_flags = 0x003d_0f00; // what pthread_create passes
    assert_eq!(call.verdict("clone", [thread_flags, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("clone", [17, 0, 0, 0, 0, 0]), Verdict::Allow, "fork()");
    // vfork-style spawning (posix_spawn) shares memory, not descriptors.
    assert_eq!(call.verdict("clone", [0x4111, 0, 0, 0, 0, 0]), Verdict::Allow, "CLONE_VM | CLONE_VFORK");
    assert_eq!(call.verdict("clone", [17 | 0x400, 0, 0, 0, 0, 0]), EPERM, "a shared descriptor table");
    for flag in [0x80u64, 0x2_0000, 0x200_0000, 0x400_0000, 0x800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000] {
        assert_eq!(call.verdict("clone", [17 | flag, 0, 0, 0, 0, 0]), EPERM, "flag {flag:#x}");
        assert_eq!(call.verdict("clone", [thread_flags | flag, 0, 0, 0, 0, 0]), EPERM, "flag {flag:#x}");
    }
}

#[test]
fn terminal_injection_is_refused_whatever_the_high_bits() {
    let program = stock("workspace-write");
    let call = Call { program: &program };
    for cmd in [0x5412u64, 0x541c, (0x123 << 32) | 0x5412, (0xffff_ffff << 32) | 0x541c] {
        assert_eq!(call.verdict("ioctl", [0, cmd, 0, 0, 0, 0]), EPERM, "cmd {cmd:#x}");
    }
    // TCGETS and FIONREAD still work.
    assert_eq!(call.verdict("ioctl", [0, 0x5401, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("ioctl", [0, 0x541b, 0, 0, 0, 0]), Verdict::Allow);
}

#[test]
fn personality_only_answers_queries() {
    let program = stock("workspace-write");
    let call = Call { program: &program };
    assert_eq!(call.verdict("personality", [0xffff_ffff, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("personality", [0, 0, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("personality", [0x0040_0000, 0, 0, 0, 0, 0]), EPERM, "ADDR_NO_RANDOMIZE");
    assert_eq!(call.verdict("personality", [0x0800_0000, 0, 0, 0, 0, 0]), EPERM, "READ_IMPLIES_EXEC");
}

#[test]
fn tcp_only_policies_refuse_every_other_socket() {
    let program = stock("workspace-write");
    assert!(program.tcp_only);
    let call = Call { program: &program };
    let socket = |family, kind, protocol| call.verdict("socket", [family, kind, protocol, 0, 0, 0]);
    for family in [AF_INET, AF_INET6] {
        assert_eq!(socket(family, SOCK_STREAM, 0), Verdict::Allow);
        assert_eq!(socket(family, SOCK_STREAM | SOCK_NONBLOCK_CLOEXEC, IPPROTO_TCP), Verdict::Allow);
        assert_eq!(socket(family, SOCK_DGRAM, 0), EPERM, "UDP");
        assert_eq!(socket(family, SOCK_DGRAM | SOCK_NONBLOCK_CLOEXEC, IPPROTO_UDP), EPERM, "UDP");
        assert_eq!(socket(family, SOCK_RAW, 1), EPERM, "raw");
        assert_eq!(socket(family, SOCK_SEQPACKET, IPPROTO_SCTP), EPERM, "SCTP");
        assert_eq!(socket(family, SOCK_STREAM, IPPROTO_MPTCP), EPERM, "MPTCP");
        assert_eq!(socket(family, SOCK_STREAM, IPPROTO_SCTP), EPERM, "SCTP stream");
        // High bits set above a 32-bit argument change nothing.
        assert_eq!(socket(family | (1 << 32), SOCK_DGRAM, 0), EPERM);
    }
    assert_eq!(socket(AF_UNIX, SOCK_STREAM, 0), Verdict::Allow);
    assert_eq!(socket(AF_UNIX, SOCK_DGRAM, 0), Verdict::Allow);
    for family in [AF_PACKET, AF_NETLINK, AF_VSOCK, 0, 45] {
        assert_eq!(socket(family, SOCK_RAW, 0), EPERM, "family {family}");
    }
}

#[test]
fn no_network_policies_refuse_inet_sockets() {
    let program = stock("read-only");
    let call = Call { program: &program };
    let socket = |family, kind| call.verdict("socket", [family, kind, 0, 0, 0, 0]);
    assert_eq!(socket(AF_INET, SOCK_STREAM), EPERM);
    assert_eq!(socket(AF_INET6, SOCK_STREAM), EPERM);
    assert_eq!(socket(AF_NETLINK, SOCK_RAW), EPERM);
    assert_eq!(socket(AF_UNIX, SOCK_STREAM), Verdict::Allow);
}

#[test]
fn allowing_port_53_lets_udp_through_for_dns() {
    let program = program("version 1\ndefault deny\nallow net \"*\" port 53, 443\n");
    let call = Call { program: &program };
    assert_eq!(call.verdict("socket", [AF_INET, SOCK_DGRAM, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("socket", [AF_INET, SOCK_RAW, 0, 0, 0, 0]), EPERM);
}

#[test]
fn open_network_policies_allow_inet_but_not_packet_sockets() {
    let program = program("version 1\ndefault deny\ndefault net allow\n");
    let call = Call { program: &program };
    assert_eq!(call.verdict("socket", [AF_INET, SOCK_DGRAM, 0, 0, 0, 0]), Verdict::Allow);
    assert_eq!(call.verdict("socket", [AF_PACKET, SOCK_RAW, 0, 0, 0, 0]), EPERM);
    assert_eq!(call.verdict("ptrace", [0; 6]), EPERM);
}

#[test]
fn no_sandbox_means_no_program() {
    let source = SourceFile::new("p.vtp", "version 1\nextend \"danger-full-access\"\n");
    let (policy, _) = compile(&source, &context(), &StockOnly);
    let policy = policy.expect("compiles");
    let model = SandboxModel::new(&[&policy], &context());
    assert!(seccomp::compile(&model, Arch::X86_64).expect("compiles").is_none());
}

#[test]
fn the_program_is_what_the_kernel_loads() {
    let program = stock("workspace-write");
    let bytes = program.to_bytes();
    assert_eq!(bytes.len(), program.instructions.len() * 8);
    assert!(program.instructions.len() < bpf::MAX_INSTRUCTIONS);
    let text = bpf::disassemble(&program.instructions, &|nr| {
        (syscall_number(Arch::X86_64, "ptrace") == Some(i64::from(nr))).then_some("ptrace")
    });
    assert!(text.starts_with("   0: ld  [4]    ; arch\n"), "{text}");
    assert!(text.contains("; ptrace"));
    assert!(text.contains("ret ERRNO(38)"));
}
