//! The seccomp program of a policy: a hand-written preamble, then a deny
//! table compiled to a binary search over syscall numbers (`program.rs`).
//!
//! The preamble kills other architectures and answers x32 syscall numbers
//! (`__X32_SYSCALL_BIT`, which would otherwise slip past a deny list on a
//! kernel with x32 enabled) and `clone3` with `ENOSYS`: `clone3`'s flags
//! live in memory seccomp cannot read, so it cannot be filtered by
//! namespace flags, and libc falls back to `clone`.
//!
//! Arguments the kernel reads as 32-bit (ioctl command, clone flags, socket
//! family/type/protocol, personality) are compared as 32-bit, so setting
//! the high bits cannot slip past a comparison.

mod program;

use std::collections::BTreeMap;

use program::{ArgCheck, ArgTest};
use serde::Serialize;

use super::bpf::{self, Instruction};
use super::model::{Network, SandboxModel};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

const AF_UNIX: u32 = 1;
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const AF_NETLINK: u32 = 16;
const SOCK_STREAM: u32 = 1;
const SOCK_TYPE_MASK: u32 = 0xf;
const IPPROTO_TCP: u32 = 6;

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541c;
/// `personality(0xffffffff)` only reads the current persona.
const PERSONALITY_QUERY: u32 = 0xffff_ffff;
const PER_LINUX: u32 = 0;

const CLONE_FILES: u32 = 0x0000_0400;
const CLONE_THREAD: u32 = 0x0001_0000;

/// Namespace flags of `clone`: creating any namespace is denied.
const CLONE_NAMESPACE_FLAGS: &[(&str, u32)] = &[
    ("CLONE_NEWTIME", 0x0000_0080),
    ("CLONE_NEWNS", 0x0002_0000),
    ("CLONE_NEWCGROUP", 0x0200_0000),
    ("CLONE_NEWUTS", 0x0400_0000),
    ("CLONE_NEWIPC", 0x0800_0000),
    ("CLONE_NEWUSER", 0x1000_0000),
    ("CLONE_NEWPID", 0x2000_0000),
    ("CLONE_NEWNET", 0x4000_0000),
];

/// Syscalls denied outright, with why.
const DENIED: &[(&str, &str)] = &[
    ("ptrace", "inspects or controls other processes"),
    ("process_vm_readv", "reads another process's memory"),
    ("process_vm_writev", "writes another process's memory"),
    ("pidfd_getfd", "steals another process's file descriptors"),
    ("process_madvise", "acts on another process's memory"),
    ("io_uring_setup", "io_uring operations bypass seccomp"),
    ("io_uring_enter", "io_uring operations bypass seccomp"),
    ("io_uring_register", "io_uring operations bypass seccomp"),
    ("bpf", "loads kernel programs"),
    ("perf_event_open", "kernel and process observation surface"),
    ("keyctl", "kernel keyrings hold other sessions' secrets"),
    ("add_key", "kernel keyrings hold other sessions' secrets"),
    ("request_key", "kernel keyrings hold other sessions' secrets"),
    ("mount", "changes the file system view"),
    ("umount2", "changes the file system view"),
    ("fsopen", "changes the file system view"),
    ("fsconfig", "changes the file system view"),
    ("fsmount", "changes the file system view"),
    ("fspick", "changes the file system view"),
    ("open_tree", "changes the file system view"),
    ("move_mount", "changes the file system view"),
    ("mount_setattr", "changes the file system view"),
    ("pivot_root", "changes the file system view"),
    ("chroot", "changes the file system view"),
    ("unshare", "creates namespaces"),
    ("setns", "joins namespaces"),
    ("kexec_load", "replaces the kernel"),
    ("kexec_file_load", "replaces the kernel"),
    ("init_module", "loads kernel modules"),
    ("finit_module", "loads kernel modules"),
    ("delete_module", "unloads kernel modules"),
    ("userfaultfd", "a common kernel-exploit primitive"),
    ("name_to_handle_at", "file handles bypass path-based checks"),
    ("open_by_handle_at", "file handles bypass path-based checks"),
];

/// One denial the program encodes, for the report and the disassembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Denial {
    pub syscall: &'static str,
    pub when: String,
    pub errno: &'static str,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompProgram {
    pub arch: &'static str,
    pub denials: Vec<Denial>,
    /// The socket families the program lets through.
    pub socket_families: Vec<&'static str>,
    /// TCP only: datagram, raw and other socket types of the allowed
    /// inet families are denied.
    pub tcp_only: bool,
    pub instructions: Vec<Instruction>,
}

impl SeccompProgram {
    /// The program as the kernel takes it: 8 bytes per instruction, in the
    /// host's byte order.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.instructions.iter().flat_map(|i| i.to_bytes()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SeccompError(pub String);

/// The architectures a program can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    /// The architecture this binary runs on, if supported.
    pub fn host() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    pub fn audit(self) -> u32 {
        match self {
            Arch::X86_64 => 0xc000_003e,
            Arch::Aarch64 => 0xc000_00b7,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

/// The preamble: kill other architectures, `ENOSYS` for x32 numbers and
/// for `clone3`, then fall through.
fn preamble(arch: Arch) -> Vec<Instruction> {
    let clone3 = syscall_number(arch, "clone3").unwrap_or(435);
    let mut program = vec![
        Instruction::load_arch(),
        Instruction::jump_eq(arch.audit(), 1, 0),
        Instruction::ret(bpf::RET_KILL_PROCESS),
        Instruction::load_nr(),
    ];
    if arch == Arch::X86_64 {
        program.push(Instruction::jump_ge(0x4000_0000, 0, 1));
        program.push(Instruction::ret(bpf::RET_ERRNO | ENOSYS));
    }
    program.push(Instruction::jump_eq(clone3 as u32, 0, 1));
    program.push(Instruction::ret(bpf::RET_ERRNO | ENOSYS));
    program
}

/// The low 32 bits of argument `arg` equal `value`.
fn eq(arg: u8, value: u32) -> ArgCheck {
    ArgCheck { arg, test: ArgTest::Eq(value) }
}

fn ne(arg: u8, value: u32) -> ArgCheck {
    ArgCheck { arg, test: ArgTest::Ne(value) }
}

fn masked_eq(arg: u8, mask: u32, value: u32) -> ArgCheck {
    ArgCheck { arg, test: ArgTest::MaskedEq { mask, value } }
}

fn denial(syscall: &'static str, when: impl Into<String>, errno: &'static str, why: impl Into<String>) -> Denial {
    Denial { syscall, when: when.into(), errno, why: why.into() }
}

/// Compiles the program of `model` for `arch`. `None` when the model does
/// not enable a sandbox.
pub fn compile(model: &SandboxModel, arch: Arch) -> Result<Option<SeccompProgram>, SeccompError> {
    if !model.enabled {
        return Ok(None);
    }
    let list = deny_list(&model.network, arch)?;
    let mut instructions = preamble(arch);
    instructions.extend(program::assemble(&list.table)?);
    if instructions.len() > bpf::MAX_INSTRUCTIONS {
        return Err(SeccompError(format!(
            "{} instructions exceed the kernel's limit of {}",
            instructions.len(),
            bpf::MAX_INSTRUCTIONS
        )));
    }
    Ok(Some(SeccompProgram {
        arch: arch.name(),
        denials: list.denials,
        socket_families: list.socket_families,
        tcp_only: list.tcp_only,
        instructions,
    }))
}

/// What the program refuses, as a table and as the report describes it.
struct DenyList {
    table: program::DenyTable,
    denials: Vec<Denial>,
    socket_families: Vec<&'static str>,
    tcp_only: bool,
}

fn deny_list(network: &Network, arch: Arch) -> Result<DenyList, SeccompError> {
    let mut rules: program::DenyTable = BTreeMap::new();
    let mut denials = Vec::new();
    let number = |name: &str| {
        syscall_number(arch, name)
            .and_then(|nr| u32::try_from(nr).ok())
            .ok_or_else(|| SeccompError(format!("no syscall `{name}` on {}", arch.name())))
    };

    for (name, why) in DENIED {
        rules.insert(number(name)?, Vec::new());
        denials.push(denial(name, "always", "EPERM", *why));
    }
    denials.push(denial(
        "clone3",
        "always",
        "ENOSYS",
        "its flags are in memory seccomp cannot read; libc falls back to clone",
    ));
    if arch == Arch::X86_64 {
        denials.push(denial("x32 syscalls", "nr >= 0x40000000", "ENOSYS", "the x32 ABI would bypass the deny list"));
    }

    let mut clone_rules = Vec::new();
    for (flag, bit) in CLONE_NAMESPACE_FLAGS {
        clone_rules.push(vec![masked_eq(0, *bit, *bit)]);
        denials.push(denial("clone", format!("flags & {flag}"), "EPERM", "creates namespaces"));
    }
    // A process sharing its descriptor table without being a thread of the
    // same process: the socket supervisor's checks rely on a caller's
    // descriptors changing only through its own threads, whose count it
    // can see.
    clone_rules.push(vec![masked_eq(0, CLONE_FILES | CLONE_THREAD, CLONE_FILES)]);
    denials.push(denial(
        "clone",
        "flags & CLONE_FILES without CLONE_THREAD",
        "EPERM",
        "another process would share the descriptor table",
    ));
    rules.insert(number("clone")?, clone_rules);

    rules.insert(number("personality")?, vec![vec![ne(0, PERSONALITY_QUERY), ne(0, PER_LINUX)]]);
    denials.push(denial(
        "personality",
        "persona other than a query or PER_LINUX",
        "EPERM",
        "personality flags weaken ASLR and change syscall semantics",
    ));

    let mut ioctl_rules = Vec::new();
    for (name, cmd) in [("TIOCSTI", TIOCSTI), ("TIOCLINUX", TIOCLINUX)] {
        ioctl_rules.push(vec![eq(1, cmd)]);
        denials.push(denial(
            "ioctl",
            format!("cmd == {name} (low 32 bits)"),
            "EPERM",
            "injects input into the terminal",
        ));
    }
    rules.insert(number("ioctl")?, ioctl_rules);

    let (families, tcp_only): (&[(&'static str, u32)], bool) = match network {
        Network::Open => {
            (&[("AF_UNIX", AF_UNIX), ("AF_INET", AF_INET), ("AF_INET6", AF_INET6), ("AF_NETLINK", AF_NETLINK)], false)
        }
        Network::Tcp { .. } => (&[("AF_UNIX", AF_UNIX), ("AF_INET", AF_INET), ("AF_INET6", AF_INET6)], true),
        Network::Off => (&[("AF_UNIX", AF_UNIX)], false),
    };
    let mut socket_rules = Vec::new();
    // Any family not allowed: one rule, all conditions must hold.
    let mut other_family = Vec::new();
    for (_, family) in families {
        other_family.push(ne(0, *family));
    }
    socket_rules.push(other_family);
    let names: Vec<&str> = families.iter().map(|(n, _)| *n).collect();
    let why = match network {
        Network::Off => "the policy allows no network",
        _ => "packet, netlink and other families are outside the policy",
    };
    denials.push(denial("socket", format!("family not in {}", names.join(", ")), "EPERM", why));
    if tcp_only {
        let dns = matches!(network, Network::Tcp { dns: true, .. });
        for family in [AF_INET, AF_INET6] {
            for socket_type in 0..=SOCK_TYPE_MASK {
                if socket_type == SOCK_STREAM || (dns && socket_type == 2) {
                    continue;
                }
                socket_rules.push(vec![eq(0, family), masked_eq(1, SOCK_TYPE_MASK, socket_type)]);
            }
            // Stream sockets speak TCP (protocol 0 or IPPROTO_TCP), never
            // MPTCP or SCTP, which Landlock's port rules do not cover.
            socket_rules.push(vec![
                eq(0, family),
                masked_eq(1, SOCK_TYPE_MASK, SOCK_STREAM),
                ne(2, 0),
                ne(2, IPPROTO_TCP),
            ]);
        }
        denials.push(denial(
            "socket",
            if dns {
                "AF_INET/AF_INET6 of a type other than stream or datagram"
            } else {
                "AF_INET/AF_INET6 of a type other than stream (UDP, raw)"
            },
            "EPERM",
            "Landlock restricts TCP ports only",
        ));
        denials.push(denial(
            "socket",
            "AF_INET/AF_INET6 stream with a protocol other than TCP (MPTCP, SCTP)",
            "EPERM",
            "Landlock restricts TCP ports only",
        ));
    }
    rules.insert(number("socket")?, socket_rules);
    Ok(DenyList { table: rules, denials, socket_families: names, tcp_only })
}

/// The number of syscall `name` on `arch`.
pub fn syscall_number(arch: Arch, name: &str) -> Option<i64> {
    SYSCALLS.iter().find(|(n, _, _)| *n == name).map(|&(_, x86_64, aarch64)| match arch {
        Arch::X86_64 => x86_64,
        Arch::Aarch64 => aarch64,
    })
}

/// The name of syscall number `nr` on `arch`, among those the programs
/// name.
pub fn syscall_name(arch: Arch, nr: i64) -> Option<&'static str> {
    SYSCALLS.iter().map(|(name, _, _)| *name).find(|name| syscall_number(arch, name) == Some(nr))
}

/// The syscalls the programs name: x86_64 numbers from the kernel's
/// `syscall_64.tbl`, aarch64 numbers from its generic `unistd.h`.
const SYSCALLS: &[(&str, i64, i64)] = &[
    ("ioctl", 16, 29),
    ("socket", 41, 198),
    ("clone", 56, 220),
    ("ptrace", 101, 117),
    ("personality", 135, 92),
    ("pivot_root", 155, 41),
    ("chroot", 161, 51),
    ("mount", 165, 40),
    ("umount2", 166, 39),
    ("init_module", 175, 105),
    ("delete_module", 176, 106),
    ("add_key", 248, 217),
    ("request_key", 249, 218),
    ("keyctl", 250, 219),
    ("unshare", 272, 97),
    ("kexec_load", 246, 104),
    ("perf_event_open", 298, 241),
    ("name_to_handle_at", 303, 264),
    ("open_by_handle_at", 304, 265),
    ("setns", 308, 268),
    ("process_vm_readv", 310, 270),
    ("process_vm_writev", 311, 271),
    ("finit_module", 313, 273),
    ("kexec_file_load", 320, 294),
    ("bpf", 321, 280),
    ("userfaultfd", 323, 282),
    ("io_uring_setup", 425, 425),
    ("io_uring_enter", 426, 426),
    ("io_uring_register", 427, 427),
    ("open_tree", 428, 428),
    ("move_mount", 429, 429),
    ("fsopen", 430, 430),
    ("fsconfig", 431, 431),
    ("fsmount", 432, 432),
    ("fspick", 433, 433),
    ("clone3", 435, 435),
    ("pidfd_getfd", 438, 438),
    ("process_madvise", 440, 440),
    ("mount_setattr", 442, 442),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-kept table agrees with libc's numbers for this host.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn syscall_table_matches_libc() {
        let libc_numbers: &[(&str, i64)] = &[
            ("ioctl", libc::SYS_ioctl),
            ("socket", libc::SYS_socket),
            ("clone", libc::SYS_clone),
            ("ptrace", libc::SYS_ptrace),
            ("personality", libc::SYS_personality),
            ("pivot_root", libc::SYS_pivot_root),
            ("chroot", libc::SYS_chroot),
            ("mount", libc::SYS_mount),
            ("umount2", libc::SYS_umount2),
            ("init_module", libc::SYS_init_module),
            ("delete_module", libc::SYS_delete_module),
            ("add_key", libc::SYS_add_key),
            ("request_key", libc::SYS_request_key),
            ("keyctl", libc::SYS_keyctl),
            ("unshare", libc::SYS_unshare),
            ("kexec_load", libc::SYS_kexec_load),
            ("perf_event_open", libc::SYS_perf_event_open),
            ("name_to_handle_at", libc::SYS_name_to_handle_at),
            ("open_by_handle_at", libc::SYS_open_by_handle_at),
            ("setns", libc::SYS_setns),
            ("process_vm_readv", libc::SYS_process_vm_readv),
            ("process_vm_writev", libc::SYS_process_vm_writev),
            ("finit_module", libc::SYS_finit_module),
            ("kexec_file_load", libc::SYS_kexec_file_load),
            ("bpf", libc::SYS_bpf),
            ("userfaultfd", libc::SYS_userfaultfd),
            ("io_uring_setup", libc::SYS_io_uring_setup),
            ("io_uring_enter", libc::SYS_io_uring_enter),
            ("io_uring_register", libc::SYS_io_uring_register),
            ("open_tree", libc::SYS_open_tree),
            ("move_mount", libc::SYS_move_mount),
            ("fsopen", libc::SYS_fsopen),
            ("fsconfig", libc::SYS_fsconfig),
            ("fsmount", libc::SYS_fsmount),
            ("fspick", libc::SYS_fspick),
            ("clone3", libc::SYS_clone3),
            ("pidfd_getfd", libc::SYS_pidfd_getfd),
            ("process_madvise", libc::SYS_process_madvise),
            ("mount_setattr", libc::SYS_mount_setattr),
        ];
        assert_eq!(SYSCALLS.len(), libc_numbers.len());
        for (name, nr) in libc_numbers {
            assert_eq!(syscall_number(Arch::X86_64, name), Some(*nr), "{name}");
        }
    }
}
