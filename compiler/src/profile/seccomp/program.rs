//! The program of a deny table: a binary search over the denied syscall
//! numbers, then one block per syscall.
//!
//! The kernel runs the filter on every syscall it has not proven allowed:
//! when a filter is installed it emulates the program once per syscall
//! number (`seccomp_cache_prepare`) and remembers the numbers that reach
//! `ALLOW` without reading an argument. A linear chain of comparisons makes
//! that emulation, and every filtered call, walk past every denied syscall
//! (installing a 535-instruction chain took 0.25 ms here); the search
//! reaches any number's verdict in a few comparisons.
//!
//! Conditional jumps have 8-bit offsets, so every jump that may cross a
//! subtree or reach a block is an unconditional `ja` (32-bit) placed right
//! after a conditional one that skips it. Within a block, a failed check
//! skips the rest of its rule, a handful of instructions.

use std::collections::BTreeMap;

use super::super::bpf::{self, Instruction};
use super::SeccompError;

/// Syscalls answered `ERRNO(EPERM)`: each when any of its rules holds, a
/// rule holding when all its checks do; a syscall without rules always.
/// Every other syscall is allowed.
pub(super) type DenyTable = BTreeMap<u32, Vec<Vec<ArgCheck>>>;

/// One comparison of an argument's low 32 bits (the arguments filtered
/// are ones the kernel reads as `int`, so the high bits never count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ArgCheck {
    pub(super) arg: u8,
    pub(super) test: ArgTest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArgTest {
    Eq(u32),
    Ne(u32),
    /// `arg & mask == value`.
    MaskedEq {
        mask: u32,
        value: u32,
    },
}

/// Syscall numbers per leaf of the search: compared one by one.
const LEAF: usize = 4;

/// An instruction, or a forward `ja` to a label not placed yet.
enum Item {
    Plain(Instruction),
    JumpTo(usize),
    Label(usize),
}

#[derive(Default)]
struct Assembler {
    items: Vec<Item>,
    labels: usize,
}

impl Assembler {
    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels - 1
    }

    fn push(&mut self, instruction: Instruction) {
        self.items.push(Item::Plain(instruction));
    }

    fn finish(self) -> Result<Vec<Instruction>, SeccompError> {
        let mut at = vec![None; self.labels];
        let mut pc = 0usize;
        for item in &self.items {
            match item {
                Item::Label(label) => {
                    if let Some(slot) = at.get_mut(*label) {
                        *slot = Some(pc);
                    }
                }
                Item::Plain(_) | Item::JumpTo(_) => pc += 1,
            }
        }
        let mut out = Vec::with_capacity(pc);
        for item in self.items {
            match item {
                Item::Label(_) => {}
                Item::Plain(instruction) => out.push(instruction),
                Item::JumpTo(label) => {
                    let target = at.get(label).copied().flatten();
                    let offset = target
                        .and_then(|target| target.checked_sub(out.len() + 1))
                        .and_then(|offset| u32::try_from(offset).ok())
                        .ok_or_else(|| SeccompError("a jump in the seccomp program does not go forward".into()))?;
                    out.push(Instruction::jump(offset));
                }
            }
        }
        Ok(out)
    }
}

/// The instructions deciding `table`, entered with the syscall number in
/// the accumulator.
pub(super) fn assemble(table: &DenyTable) -> Result<Vec<Instruction>, SeccompError> {
    let mut asm = Assembler::default();
    // Sorted by number (the table's order), each with its block's label.
    let blocks: Vec<(u32, usize)> = table.keys().map(|nr| (*nr, asm.label())).collect();
    search(&mut asm, &blocks);
    for ((_, label), rules) in blocks.iter().zip(table.values()) {
        asm.items.push(Item::Label(*label));
        block(&mut asm, rules)?;
    }
    asm.finish()
}

/// Sends each number of `blocks` to its block, and any other to `ALLOW`.
fn search(asm: &mut Assembler, blocks: &[(u32, usize)]) {
    let (low, high) = blocks.split_at(blocks.len() / 2);
    match high.first() {
        Some((middle, _)) if blocks.len() > LEAF => {
            let upper = asm.label();
            asm.push(Instruction::jump_ge(*middle, 0, 1));
            asm.items.push(Item::JumpTo(upper));
            search(asm, low);
            asm.items.push(Item::Label(upper));
            search(asm, high);
        }
        _ => {
            for (nr, label) in blocks {
                asm.push(Instruction::jump_eq(*nr, 0, 1));
                asm.items.push(Item::JumpTo(*label));
            }
            asm.push(Instruction::ret(bpf::RET_ALLOW));
        }
    }
}

/// One syscall's block: `EPERM` when a rule holds, else `ALLOW`.
fn block(asm: &mut Assembler, rules: &[Vec<ArgCheck>]) -> Result<(), SeccompError> {
    let deny = Instruction::ret(bpf::RET_ERRNO | super::EPERM);
    if rules.is_empty() {
        asm.push(deny);
        return Ok(());
    }
    for rule in rules {
        let length = |check: &ArgCheck| if matches!(check.test, ArgTest::MaskedEq { .. }) { 3 } else { 2 };
        // What follows the jump of each check, up to the rule's `ret`
        // included; a failed check jumps past it.
        let mut rest: usize = rule.iter().map(length).sum::<usize>() + 1;
        for check in rule {
            rest -= length(check);
            let skip = u8::try_from(rest).map_err(|_| SeccompError("a seccomp rule has too many checks".into()))?;
            asm.push(Instruction::load_arg_low(check.arg));
            match check.test {
                ArgTest::Eq(value) => asm.push(Instruction::jump_eq(value, 0, skip)),
                ArgTest::Ne(value) => asm.push(Instruction::jump_eq(value, skip, 0)),
                ArgTest::MaskedEq { mask, value } => {
                    asm.push(Instruction::and(mask));
                    asm.push(Instruction::jump_eq(value, 0, skip));
                }
            }
        }
        asm.push(deny);
    }
    asm.push(Instruction::ret(bpf::RET_ALLOW));
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use seccompiler::{SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};

    use super::super::bpf::{SeccompData, run};
    use super::super::{Arch, EPERM, Network, deny_list, preamble};
    use super::*;

    /// The same table as seccompiler compiles it: a linear deny list.
    fn reference(table: &DenyTable, arch: Arch) -> Vec<Instruction> {
        let mut rules = BTreeMap::new();
        for (nr, table_rules) in table {
            let mut converted = Vec::new();
            for rule in table_rules {
                let conditions = rule
                    .iter()
                    .map(|check| {
                        let (op, value) = match check.test {
                            ArgTest::Eq(value) => (SeccompCmpOp::Eq, value),
                            ArgTest::Ne(value) => (SeccompCmpOp::Ne, value),
                            ArgTest::MaskedEq { mask, value } => (SeccompCmpOp::MaskedEq(u64::from(mask)), value),
                        };
                        SeccompCondition::new(check.arg, SeccompCmpArgLen::Dword, op, u64::from(value)).unwrap()
                    })
                    .collect();
                converted.push(SeccompRule::new(conditions).unwrap());
            }
            rules.insert(i64::from(*nr), converted);
        }
        let target = match arch {
            Arch::X86_64 => seccompiler::TargetArch::x86_64,
            Arch::Aarch64 => seccompiler::TargetArch::aarch64,
        };
        let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(EPERM), target).unwrap();
        let program: seccompiler::BpfProgram = filter.try_into().unwrap();
        let mut instructions = preamble(arch);
        instructions.extend(program.iter().map(|f| Instruction { code: f.code, jt: f.jt, jf: f.jf, k: f.k }));
        instructions
    }

    /// Values around every constant a syscall's rules compare its argument
    /// `arg` with: the constant, its neighbours, other bits outside its
    /// mask, its complement, and the same with the high 32 bits set.
    fn values(rules: &[Vec<ArgCheck>], arg: u8) -> Vec<u64> {
        let mut low = BTreeSet::from([0u32, 0xffff_ffff]);
        for check in rules.iter().flatten().filter(|check| check.arg == arg) {
            let (value, mask) = match check.test {
                ArgTest::Eq(value) | ArgTest::Ne(value) => (value, u32::MAX),
                ArgTest::MaskedEq { mask, value } => (value, mask),
            };
            low.extend([value, value.wrapping_add(1), value.wrapping_sub(1), value | (!mask & 0x0008_0800), !value]);
        }
        low.into_iter().flat_map(|v| [u64::from(v), u64::from(v) | 0xffff_ffff_0000_0000]).collect()
    }

    #[test]
    fn the_search_decides_as_a_linear_deny_list() {
        let networks = [
            Network::Open,
            Network::Off,
            Network::Tcp { connect: vec![(443, 443)], every_port: false, dns: false, host_rules: Vec::new() },
            Network::Tcp { connect: vec![(53, 53)], every_port: false, dns: true, host_rules: Vec::new() },
        ];
        let mut compared = 0usize;
        for arch in [Arch::X86_64, Arch::Aarch64] {
            for network in &networks {
                let list = deny_list(network, arch).unwrap();
                let mut searched = preamble(arch);
                searched.extend(assemble(&list.table).unwrap());
                let linear = reference(&list.table, arch);
                assert!(searched.len() < linear.len(), "{} vs {} instructions", searched.len(), linear.len());
                let highest = list.table.keys().max().copied().unwrap_or(0);
                let numbers = (0..=highest + 8).chain([0x4000_0000, 0x4000_0029, u32::MAX]);
                for nr in numbers {
                    let rules = list.table.get(&nr).map(Vec::as_slice).unwrap_or_default();
                    let (first, second, third) = (values(rules, 0), values(rules, 1), values(rules, 2));
                    for a0 in &first {
                        for a1 in &second {
                            for a2 in &third {
                                for audit in [arch.audit(), 0x4000_0003] {
                                    let data = SeccompData {
                                        nr,
                                        arch: audit,
                                        instruction_pointer: 0,
                                        args: [*a0, *a1, *a2, 7, 0, 0],
                                    };
                                    let expected = run(&linear, &data).unwrap();
                                    assert_eq!(run(&searched, &data).unwrap(), expected, "{data:?} on {arch:?}");
                                    compared += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(compared > 100_000, "{compared} calls compared");
    }
}
