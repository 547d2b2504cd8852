//! Classic BPF as seccomp uses it: the instruction type, a disassembler
//! for `compile --target seccomp --format disasm`, and an interpreter that
//! runs a program on a synthetic `seccomp_data`, so tests can check every
//! verdict without installing the filter.

use serde::Serialize;

pub const MAX_INSTRUCTIONS: usize = 4096;

pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_KILL_THREAD: u32 = 0x0000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_TRACE: u32 = 0x7ff0_0000;
pub const RET_LOG: u32 = 0x7ffc_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;
const RET_ACTION: u32 = 0xffff_0000;
const RET_DATA: u32 = 0x0000_ffff;

// Instruction classes and fields (linux/bpf_common.h).
const LD: u16 = 0x00;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const W: u16 = 0x00;
const ABS: u16 = 0x20;
const K: u16 = 0x00;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const AND: u16 = 0x50;
const OR: u16 = 0x40;
const RSH: u16 = 0x70;
const LSH: u16 = 0x60;

/// Offsets into `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARGS: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Instruction {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Instruction {
    pub fn load_arch() -> Instruction {
        Instruction { code: LD | W | ABS, jt: 0, jf: 0, k: ARCH }
    }

    pub fn load_nr() -> Instruction {
        Instruction { code: LD | W | ABS, jt: 0, jf: 0, k: NR }
    }

    pub fn jump_eq(k: u32, jt: u8, jf: u8) -> Instruction {
        Instruction { code: JMP | JEQ | K, jt, jf, k }
    }

    pub fn jump_ge(k: u32, jt: u8, jf: u8) -> Instruction {
        Instruction { code: JMP | JGE | K, jt, jf, k }
    }

    /// Loads the low 32 bits of syscall argument `index` (both supported
    /// architectures are little-endian).
    pub fn load_arg_low(index: u8) -> Instruction {
        Instruction { code: LD | W | ABS, jt: 0, jf: 0, k: ARGS + 8 * u32::from(index) }
    }

    pub fn and(k: u32) -> Instruction {
        Instruction { code: ALU | AND | K, jt: 0, jf: 0, k }
    }

    /// Jumps `k` instructions forward, unconditionally (32-bit offset).
    pub fn jump(k: u32) -> Instruction {
        Instruction { code: JMP | JA, jt: 0, jf: 0, k }
    }

    pub fn ret(k: u32) -> Instruction {
        Instruction { code: RET | K, jt: 0, jf: 0, k }
    }

    /// `struct sock_filter` in the host's byte order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut out = [0; 8];
        let (code, rest) = out.split_at_mut(2);
        code.copy_from_slice(&self.code.to_ne_bytes());
        let (jumps, k) = rest.split_at_mut(2);
        jumps.copy_from_slice(&[self.jt, self.jf]);
        k.copy_from_slice(&self.k.to_ne_bytes());
        out
    }
}

/// A syscall as the filter sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub instruction_pointer: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    fn word(&self, offset: u32) -> Option<u32> {
        let arg = |i: usize, high: bool| self.args.get(i).map(|a| if high { (a >> 32) as u32 } else { *a as u32 });
        match offset {
            0 => Some(self.nr),
            4 => Some(self.arch),
            8 => Some(self.instruction_pointer as u32),
            12 => Some((self.instruction_pointer >> 32) as u32),
            16..=63 if offset.is_multiple_of(4) => {
                let index = ((offset - 16) / 8) as usize;
                arg(index, (offset - 16) % 8 == 4)
            }
            _ => None,
        }
    }
}

/// What a program answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Errno(u16),
    KillProcess,
    KillThread,
    Trap,
    Other(u32),
}

impl Verdict {
    pub fn from_ret(value: u32) -> Verdict {
        match value & RET_ACTION {
            RET_ALLOW => Verdict::Allow,
            RET_ERRNO => Verdict::Errno((value & RET_DATA) as u16),
            RET_KILL_PROCESS => Verdict::KillProcess,
            RET_KILL_THREAD => Verdict::KillThread,
            RET_TRAP => Verdict::Trap,
            _ => Verdict::Other(value),
        }
    }
}

/// Runs `program` on `data` as the kernel would. Errors on anything the
/// kernel's checker would reject (out-of-range jumps or loads, unknown
/// opcodes, falling off the end).
pub fn run(program: &[Instruction], data: &SeccompData) -> Result<Verdict, String> {
    let mut acc: u32 = 0;
    let mut pc: usize = 0;
    loop {
        let ins = program.get(pc).ok_or_else(|| format!("fell off the end at {pc}"))?;
        let class = ins.code & 0x07;
        match class {
            LD if ins.code == LD | W | ABS => {
                acc = data.word(ins.k).ok_or_else(|| format!("bad load offset {} at {pc}", ins.k))?;
                pc += 1;
            }
            ALU => {
                acc = match ins.code & 0xf0 {
                    AND => acc & ins.k,
                    OR => acc | ins.k,
                    RSH => acc.checked_shr(ins.k).unwrap_or(0),
                    LSH => acc.checked_shl(ins.k).unwrap_or(0),
                    op => return Err(format!("unsupported ALU op {op:#x} at {pc}")),
                };
                pc += 1;
            }
            JMP => {
                let op = ins.code & 0xf0;
                let offset = if op == JA {
                    ins.k as usize
                } else {
                    let taken = match op {
                        JEQ => acc == ins.k,
                        JGT => acc > ins.k,
                        JGE => acc >= ins.k,
                        JSET => acc & ins.k != 0,
                        _ => return Err(format!("unsupported jump {op:#x} at {pc}")),
                    };
                    usize::from(if taken { ins.jt } else { ins.jf })
                };
                pc = pc + 1 + offset;
            }
            RET => return Ok(Verdict::from_ret(ins.k)),
            _ => return Err(format!("unsupported instruction {:#06x} at {pc}", ins.code)),
        }
    }
}

/// One line per instruction, in the style of `bpf_dbg`/`seccomp-tools`.
/// A comparison is annotated with the syscall name when, on every path
/// reaching it, the accumulator holds the syscall number.
pub fn disassemble(program: &[Instruction], syscall_name: &dyn Fn(u32) -> Option<&'static str>) -> String {
    let loaded = loaded_fields(program);
    let mut out = String::new();
    for (pc, ins) in program.iter().enumerate() {
        let text = match ins.code & 0x07 {
            LD if ins.code == LD | W | ABS => format!("ld  [{}]{}", ins.k, field_comment(ins.k)),
            ALU => format!("{} #{:#x}", alu_name(ins.code & 0xf0), ins.k),
            JMP if ins.code & 0xf0 == JA => format!("ja  {}", pc + 1 + ins.k as usize),
            JMP => {
                let comment = match loaded.get(pc).copied().flatten() {
                    Some(NR) => syscall_name(ins.k).map(|n| format!("    ; {n}")).unwrap_or_default(),
                    Some(ARCH) => "    ; audit arch".to_owned(),
                    _ => String::new(),
                };
                format!(
                    "{} #{:#x}, {}, {}{comment}",
                    jump_name(ins.code & 0xf0),
                    ins.k,
                    pc + 1 + usize::from(ins.jt),
                    pc + 1 + usize::from(ins.jf)
                )
            }
            RET => format!("ret {}", ret_name(ins.k)),
            _ => format!(".raw {:#06x} {} {} {:#x}", ins.code, ins.jt, ins.jf, ins.k),
        };
        out.push_str(&format!("{pc:4}: {text}\n"));
    }
    out
}

/// For each instruction, the `seccomp_data` offset the accumulator was
/// loaded from on every path reaching it (`None` when paths disagree or
/// an ALU operation changed it). Jumps only go forward, so one pass in
/// order sees every predecessor first.
fn loaded_fields(program: &[Instruction]) -> Vec<Option<u32>> {
    // `None`: not reached yet; `Some(x)`: the agreed state.
    let mut state: Vec<Option<Option<u32>>> = vec![None; program.len() + 1];
    if let Some(first) = state.first_mut() {
        *first = Some(None);
    }
    let merge = |state: &mut Vec<Option<Option<u32>>>, target: usize, value: Option<u32>| {
        if let Some(slot) = state.get_mut(target) {
            *slot = match *slot {
                None => Some(value),
                Some(existing) if existing == value => Some(existing),
                Some(_) => Some(None),
            };
        }
    };
    for (pc, ins) in program.iter().enumerate() {
        let here = state.get(pc).copied().flatten().flatten();
        match ins.code & 0x07 {
            LD if ins.code == LD | W | ABS => merge(&mut state, pc + 1, Some(ins.k)),
            ALU => merge(&mut state, pc + 1, None),
            JMP if ins.code & 0xf0 == JA => merge(&mut state, pc + 1 + ins.k as usize, here),
            JMP => {
                merge(&mut state, pc + 1 + usize::from(ins.jt), here);
                merge(&mut state, pc + 1 + usize::from(ins.jf), here);
            }
            _ => {}
        }
    }
    state.into_iter().take(program.len()).map(|s| s.flatten()).collect()
}

fn field_comment(offset: u32) -> String {
    match offset {
        NR => "    ; nr".to_owned(),
        ARCH => "    ; arch".to_owned(),
        16..=63 => format!("    ; args[{}].{}", (offset - 16) / 8, if (offset - 16) % 8 == 4 { "hi" } else { "lo" }),
        _ => String::new(),
    }
}

fn alu_name(op: u16) -> &'static str {
    match op {
        AND => "and",
        OR => "or",
        RSH => "rsh",
        LSH => "lsh",
        _ => "alu?",
    }
}

fn jump_name(op: u16) -> &'static str {
    match op {
        JEQ => "jeq",
        JGT => "jgt",
        JGE => "jge",
        JSET => "jset",
        _ => "j?",
    }
}

fn ret_name(k: u32) -> String {
    match Verdict::from_ret(k) {
        Verdict::Allow => "ALLOW".to_owned(),
        Verdict::Errno(e) => format!("ERRNO({e})"),
        Verdict::KillProcess => "KILL_PROCESS".to_owned(),
        Verdict::KillThread => "KILL_THREAD".to_owned(),
        Verdict::Trap => "TRAP".to_owned(),
        Verdict::Other(v) if v & RET_ACTION == RET_LOG => "LOG".to_owned(),
        Verdict::Other(v) if v & RET_ACTION == RET_TRACE => format!("TRACE({})", v & RET_DATA),
        Verdict::Other(v) => format!("{v:#x}"),
    }
}
