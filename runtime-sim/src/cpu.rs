//! Simulated CPUs: calling hypervisor functions, pausing and resuming them, and the
//! stack walk used by CHECK/APPLY/REVERT/UNLOAD.
//!
//! Stack walk: for every paused CPU, its `rip` and every 8-byte word from its `rsp`
//! to the top of its stack are examined. A guarded range `[start, end)` is "on the
//! stack" when `start <= rip < end`, or when a stack word `w` satisfies
//! `start < w <= end` (a return address points just after a call instruction, so it
//! is never the first byte of a function and may be one past its last). Scanning
//! every word instead of following frame pointers works whatever the compiler did
//! with `rbp`; it can only err on the safe side (a stale word refuses a patch).

use crate::exec::{self, ARG_REGS, ExecError, RAX, RSP, Regs, RunEnd, StopAt};
use crate::memory::Memory;
use crate::traps::Traps;

/// An argument of a call: an integer, or a buffer placed in the CPU's buffer area
/// whose address is passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Int(u64),
    Buf(Vec<u8>),
}

/// The result of a call that returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallResult {
    /// `rax`.
    pub ret: u64,
    /// The bytes of each `Arg::Buf` after the call, in argument order.
    pub buffers: Vec<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Returned(CallResult),
    /// The CPU stopped where asked and stays paused.
    Paused {
        rip: u64,
    },
}

/// A call in progress on a paused CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paused {
    pub function: String,
    pub regs: Regs,
    /// Address and length of each buffer argument.
    pub buffers: Vec<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub id: usize,
    /// Lowest address and size of its stack.
    pub stack: (u64, u64),
    /// Its buffer area.
    pub scratch: (u64, u64),
    /// Simulated milliseconds this CPU takes to join a patching rendezvous; `None`:
    /// it never joins (e.g. spinning with interrupts off).
    pub rendezvous_ms: Option<u64>,
    pub paused: Option<Paused>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no CPU {0}")]
    NoCpu(usize),
    #[error("CPU {cpu} is paused in `{function}`: resume it first")]
    Busy { cpu: usize, function: String },
    #[error("CPU {0} is not paused")]
    NotPaused(usize),
    #[error("at most 6 integer arguments are supported, got {0}")]
    TooManyArgs(usize),
    #[error("buffers of {need} bytes do not fit in the CPU's {have}-byte buffer area")]
    BuffersTooLarge { need: u64, have: u64 },
    #[error("unknown function `{0}`")]
    Unknown(String),
    #[error("`{name}` is ambiguous: {detail}")]
    Ambiguous { name: String, detail: String },
    #[error("bad location `{0}`: expected SYMBOL, SYMBOL+OFFSET or an address")]
    BadLocation(String),
    #[error("CPU {cpu} in `{function}`: {source}")]
    Exec {
        cpu: usize,
        function: String,
        source: ExecError,
    },
}

impl Cpu {
    /// Starts a call of the function at `addr`.
    #[allow(clippy::too_many_arguments)]
    pub fn call(
        &mut self,
        mem: &mut Memory,
        sentinel: u64,
        max_instructions: u64,
        function: &str,
        addr: u64,
        args: &[Arg],
        stop: Option<StopAt>,
        traps: &Traps,
    ) -> Result<CallOutcome, CallError> {
        if let Some(p) = &self.paused {
            return Err(CallError::Busy {
                cpu: self.id,
                function: p.function.clone(),
            });
        }
        if args.len() > ARG_REGS.len() {
            return Err(CallError::TooManyArgs(args.len()));
        }
        let mut regs = Regs::default();
        let mut buffers = Vec::new();
        let mut next = self.scratch.0;
        let need: u64 = args
            .iter()
            .map(|a| match a {
                Arg::Buf(b) => (b.len() as u64).next_multiple_of(16),
                Arg::Int(_) => 0,
            })
            .sum();
        if need > self.scratch.1 {
            return Err(CallError::BuffersTooLarge {
                need,
                have: self.scratch.1,
            });
        }
        for (i, a) in args.iter().enumerate() {
            regs.gpr[ARG_REGS[i]] = match a {
                Arg::Int(v) => *v,
                Arg::Buf(b) => {
                    mem.write(next, b).expect("scratch area is mapped");
                    buffers.push((next, b.len() as u64));
                    let at = next;
                    next += (b.len() as u64).next_multiple_of(16);
                    at
                }
            };
        }
        let top = self.stack.0 + self.stack.1;
        let rsp = top - 8;
        mem.write(rsp, &sentinel.to_le_bytes())
            .expect("stack is mapped");
        regs.gpr[RSP] = rsp;
        regs.rip = addr;
        self.paused = Some(Paused {
            function: function.to_string(),
            regs,
            buffers,
        });
        self.run(mem, sentinel, max_instructions, stop, traps)
    }

    /// Continues a paused call.
    pub fn resume(
        &mut self,
        mem: &mut Memory,
        sentinel: u64,
        max_instructions: u64,
        stop: Option<StopAt>,
        traps: &Traps,
    ) -> Result<CallOutcome, CallError> {
        if self.paused.is_none() {
            return Err(CallError::NotPaused(self.id));
        }
        self.run(mem, sentinel, max_instructions, stop, traps)
    }

    fn run(
        &mut self,
        mem: &mut Memory,
        sentinel: u64,
        max_instructions: u64,
        stop: Option<StopAt>,
        traps: &Traps,
    ) -> Result<CallOutcome, CallError> {
        let mut p = self.paused.take().expect("a call is in progress");
        match exec::run(mem, &mut p.regs, sentinel, stop, max_instructions, traps) {
            Ok(RunEnd::Paused) => {
                let rip = p.regs.rip;
                self.paused = Some(p);
                Ok(CallOutcome::Paused { rip })
            }
            Ok(RunEnd::Returned) => {
                let buffers = p
                    .buffers
                    .iter()
                    .map(|&(a, n)| mem.read(a, n).expect("scratch area is mapped"))
                    .collect();
                Ok(CallOutcome::Returned(CallResult {
                    ret: p.regs.gpr[RAX],
                    buffers,
                }))
            }
            Err(source) => Err(CallError::Exec {
                cpu: self.id,
                function: p.function,
                source,
            }),
        }
    }
}

/// A range of code that must not be in use when patching, with a name for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    pub what: String,
    pub start: u64,
    pub end: u64,
}

/// The first use of a guarded range found on a paused CPU, described for humans.
pub fn find_on_stacks(mem: &Memory, cpus: &[Cpu], guards: &[Guard]) -> Option<String> {
    for cpu in cpus {
        let Some(p) = &cpu.paused else { continue };
        let rip = p.regs.rip;
        if let Some(g) = guards.iter().find(|g| g.start <= rip && rip < g.end) {
            return Some(format!(
                "CPU {} is executing {} (rip {rip:#x})",
                cpu.id, g.what
            ));
        }
        let top = cpu.stack.0 + cpu.stack.1;
        let mut slot = p.regs.gpr[RSP].max(cpu.stack.0) & !7;
        while slot + 8 <= top {
            if let Ok(w) = mem.read_u64(slot)
                && let Some(g) = guards.iter().find(|g| g.start < w && w <= g.end)
            {
                return Some(format!(
                    "CPU {} has return address {w:#x} into {} on its stack (slot {slot:#x})",
                    cpu.id, g.what
                ));
            }
            slot += 8;
        }
    }
    None
}
