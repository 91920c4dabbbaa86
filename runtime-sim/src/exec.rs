//! Executing hypervisor code on a simulated CPU with the unicorn x86-64 emulator.
//!
//! Each run builds a fresh emulator from [`Memory`] (so translated code can never be
//! stale after a patch), runs from the CPU's saved registers, then copies writable
//! pages and registers back. A run ends when the code returns to the sentinel
//! return address, reaches a requested stop (an address, or a number of
//! instructions: the CPU is then *paused* there), or faults.

use unicorn_engine::unicorn_const::{Arch, HookType, MemType, Mode, Prot, uc_error};
use unicorn_engine::{RegisterX86, Unicorn};

use crate::bugframe::BugKind;
use crate::traps::Traps;

/// `#UD`, raised by `ud2`.
const INVALID_OPCODE: u32 = 6;
/// `ud2` is `0f 0b`.
const UD2_LEN: u64 = 2;
use crate::memory::{Memory, PAGE_SIZE};

/// General-purpose registers, in the order of [`GPR_NAMES`], plus `rip` and `rflags`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    pub gpr: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
}

pub const GPR_NAMES: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const GPRS: [RegisterX86; 16] = [
    RegisterX86::RAX,
    RegisterX86::RBX,
    RegisterX86::RCX,
    RegisterX86::RDX,
    RegisterX86::RSI,
    RegisterX86::RDI,
    RegisterX86::RBP,
    RegisterX86::RSP,
    RegisterX86::R8,
    RegisterX86::R9,
    RegisterX86::R10,
    RegisterX86::R11,
    RegisterX86::R12,
    RegisterX86::R13,
    RegisterX86::R14,
    RegisterX86::R15,
];
pub const RAX: usize = 0;
pub const RSP: usize = 7;
pub const RBP: usize = 6;
/// Integer argument registers of the System V AMD64 calling convention.
pub const ARG_REGS: [usize; 6] = [5, 4, 3, 2, 8, 9];

/// Where a run should pause the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopAt {
    /// Before executing the instruction at this address (first time it is reached).
    Address(u64),
    /// After this many instructions.
    Instructions(u64),
}

/// How a run ended without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Control reached the sentinel return address.
    Returned,
    /// The requested stop was reached; the CPU is paused at `rip`.
    Paused,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    #[error("{access} at {addr:#x} (rip {rip:#x})")]
    Fault { access: String, addr: u64, rip: u64 },
    #[error("{what} (rip {rip:#x})")]
    Bug { what: String, rip: u64 },
    #[error("interrupt/exception vector {vector} raised at rip {rip:#x}")]
    Interrupt { vector: u32, rip: u64 },
    #[error("did not return within {limit} instructions (rip {rip:#x})")]
    TooLong { limit: u64, rip: u64 },
    #[error("the CPU halted at rip {rip:#x}")]
    Halted { rip: u64 },
    #[error("emulator error: {0}")]
    Engine(String),
}

#[derive(Default)]
struct RunData {
    fault: Option<(MemType, u64)>,
    vector: Option<u32>,
    executed: u64,
    paused: bool,
    limited: bool,
    last_pc: u64,
}

fn prot(p: crate::memory::Perm) -> Prot {
    let mut out = Prot::NONE;
    if p.read {
        out |= Prot::READ;
    }
    if p.write {
        out |= Prot::WRITE;
    }
    if p.exec {
        out |= Prot::EXEC;
    }
    out
}

/// Unicorn runs x86-64 code without paging and addresses memory by the low 52 bits of
/// a virtual address (the physical address width). Canonical addresses stay distinct
/// under that mask: the low half maps below 2^47, the high half to [2^52 - 2^47, 2^52).
const PHYS_MASK: u64 = (1 << 52) - 1;

fn phys(addr: u64) -> u64 {
    addr & PHYS_MASK
}

/// The canonical virtual address of a masked one (sign extension from bit 47).
fn virt(addr: u64) -> u64 {
    (((addr << 16) as i64) >> 16) as u64
}

fn engine_err(e: unicorn_engine::unicorn_const::uc_error) -> ExecError {
    ExecError::Engine(format!("{e:?}"))
}

fn access_name(t: MemType) -> &'static str {
    match t {
        MemType::READ_UNMAPPED => "read of unmapped memory",
        MemType::WRITE_UNMAPPED => "write to unmapped memory",
        MemType::FETCH_UNMAPPED => "execution of unmapped memory",
        MemType::READ_PROT => "read of a non-readable page",
        MemType::WRITE_PROT => "write to a read-only page",
        MemType::FETCH_PROT => "execution of a non-executable page",
        _ => "memory access fault",
    }
}

/// Runs the CPU whose registers are `regs` until it returns to `sentinel`, pauses at
/// `stop`, or fails. Writable memory and registers are updated in every case.
pub fn run(
    mem: &mut Memory,
    regs: &mut Regs,
    sentinel: u64,
    stop: Option<StopAt>,
    max_instructions: u64,
    traps: &Traps,
) -> Result<RunEnd, ExecError> {
    let mut uc =
        Unicorn::new_with_data(Arch::X86, Mode::MODE_64, RunData::default()).map_err(engine_err)?;
    let runs = mem.runs();
    for r in &runs {
        uc.mem_map(phys(r.base), r.len, prot(r.perm))
            .map_err(engine_err)?;
        let mut a = r.base;
        while a < r.base + r.len {
            uc.mem_write(phys(a), mem.page(a).expect("mapped page"))
                .map_err(engine_err)?;
            a += PAGE_SIZE;
        }
    }
    for (i, reg) in GPRS.iter().enumerate() {
        uc.reg_write(*reg, regs.gpr[i]).map_err(engine_err)?;
    }
    if regs.rflags != 0 {
        uc.reg_write(RegisterX86::RFLAGS, regs.rflags)
            .map_err(engine_err)?;
    }
    let (stop_addr, budget) = match stop {
        Some(StopAt::Address(a)) => (Some(a), max_instructions),
        Some(StopAt::Instructions(n)) => (None, n),
        None => (None, max_instructions),
    };
    let pause_on_budget = matches!(stop, Some(StopAt::Instructions(_)));
    uc.add_code_hook(0, u64::MAX, move |uc, addr, _size| {
        let d = uc.get_data_mut();
        if stop_addr == Some(addr) {
            d.paused = true;
        } else if d.executed >= budget {
            if pause_on_budget {
                d.paused = true;
            } else {
                d.limited = true;
            }
        } else {
            d.executed += 1;
            d.last_pc = addr;
            return;
        }
        let _ = uc.emu_stop();
    })
    .map_err(engine_err)?;
    uc.add_mem_hook(
        HookType::MEM_READ_UNMAPPED
            | HookType::MEM_WRITE_UNMAPPED
            | HookType::MEM_FETCH_UNMAPPED
            | HookType::MEM_READ_PROT
            | HookType::MEM_WRITE_PROT
            | HookType::MEM_FETCH_PROT,
        0,
        u64::MAX,
        |uc, t: MemType, addr, _size, _value| {
            uc.get_data_mut().fault = Some((t, virt(addr)));
            false
        },
    )
    .map_err(engine_err)?;
    uc.add_intr_hook(|uc, vector| {
        uc.get_data_mut().vector = Some(vector);
        let _ = uc.emu_stop();
    })
    .map_err(engine_err)?;

    let mut result = uc.emu_start(regs.rip, sentinel, 0, 0);
    // As the hypervisor's exception handlers would: a data fault at an instruction
    // with an exception-table entry continues at its fixup (`crate::fixup`); a `ud2`
    // with a WARN frame continues after it, with a BUG or assert frame it stops the
    // call with the frame's source location (`crate::bugframe`).
    let mut bug = None;
    loop {
        let d = uc.get_data();
        // Unicorn reports `ud2` as an invalid instruction, or as vector 6.
        let ud = d.vector == Some(INVALID_OPCODE) || result == Err(uc_error::INSN_INVALID);
        if ud && d.fault.is_none() {
            let at = d.last_pc;
            match traps.bugs.lookup(at) {
                Some(f) if f.kind == BugKind::Warn => {
                    let cont = at.wrapping_add(UD2_LEN);
                    uc.get_data_mut().vector = None;
                    uc.reg_write(RegisterX86::RIP, cont).map_err(engine_err)?;
                    result = uc.emu_start(cont, sentinel, 0, 0);
                    continue;
                }
                Some(f) => bug = Some((f.describe(), at)),
                None => {}
            }
            break;
        }
        let Some((t, _)) = d.fault else { break };
        let data = matches!(
            t,
            MemType::READ_UNMAPPED
                | MemType::WRITE_UNMAPPED
                | MemType::READ_PROT
                | MemType::WRITE_PROT
        );
        let rip = uc.reg_read(RegisterX86::RIP).map_err(engine_err)?;
        let Some(cont) = traps.fixups.lookup(rip).filter(|_| data) else {
            break;
        };
        uc.get_data_mut().fault = None;
        uc.reg_write(RegisterX86::RIP, cont).map_err(engine_err)?;
        result = uc.emu_start(cont, sentinel, 0, 0);
    }

    for r in runs.iter().filter(|r| r.perm.write) {
        let mut a = r.base;
        while a < r.base + r.len {
            let page = mem.page_mut(a).expect("mapped page");
            uc.mem_read(phys(a), page).map_err(engine_err)?;
            a += PAGE_SIZE;
        }
    }
    for (i, reg) in GPRS.iter().enumerate() {
        regs.gpr[i] = uc.reg_read(*reg).map_err(engine_err)?;
    }
    regs.rip = uc.reg_read(RegisterX86::RIP).map_err(engine_err)?;
    regs.rflags = uc.reg_read(RegisterX86::RFLAGS).map_err(engine_err)?;
    if let Some((what, rip)) = bug {
        return Err(ExecError::Bug { what, rip });
    }
    let d = uc.get_data();
    if regs.rip == sentinel && d.fault.is_none_or(|(_, a)| a == sentinel) {
        return Ok(RunEnd::Returned);
    }
    if let Some((t, addr)) = d.fault {
        return Err(ExecError::Fault {
            access: access_name(t).to_string(),
            addr,
            rip: regs.rip,
        });
    }
    if let Some(vector) = d.vector {
        return Err(ExecError::Interrupt {
            vector,
            rip: d.last_pc,
        });
    }
    if let Err(e) = result {
        return Err(engine_err(e));
    }
    if d.paused {
        return Ok(RunEnd::Paused);
    }
    if d.limited {
        return Err(ExecError::TooLong {
            limit: budget,
            rip: regs.rip,
        });
    }
    Err(ExecError::Halted { rip: d.last_pc })
}
