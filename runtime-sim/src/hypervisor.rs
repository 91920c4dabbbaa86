//! The simulated hypervisor: memory, CPUs and the payload list with its state machine.
//!
//! The typed operations here ([`Hypervisor::upload`], [`Hypervisor::action`], ...)
//! are what the byte-level hypercall entry (`hypercall.rs`) calls after decoding.
//! Actions are asynchronous as in the design: [`Hypervisor::action`] validates the
//! request and marks the payload PROGRESS; the work happens when the simulated
//! hypervisor gets to run its deferred work, [`Hypervisor::run_pending`].

use xsplice_image::{Image, LookupError};

use crate::boot::{self, BootError, Layout, SimConfig};
use crate::check::Write;
use crate::cpu::{Arg, CallError, CallOutcome, CallResult, Cpu, Guard};
use crate::errno::{Errno, Failure, fail};
use crate::exec::StopAt;
use crate::loader::{self, LoadContext, Loaded};
use crate::memory::Memory;
use crate::policy::Policy;
use crate::signature::Trust;
use crate::state::{Action, PayloadId, State, Status};

/// Most summaries one LIST call may ask for (`E2BIG` above).
pub const LIST_MAX: u32 = 64;

/// Bytes APPLY replaced, to be put back by REVERT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub label: String,
    pub addr: u64,
    pub old: Vec<u8>,
    pub new: Vec<u8>,
}

/// A loaded payload and where it is in the state machine.
#[derive(Clone, Debug)]
pub struct Record {
    pub id: PayloadId,
    pub loaded: Loaded,
    pub state: State,
    /// An action is in flight.
    pub progress: bool,
    /// The last action failed: the status shows this errno until the next action;
    /// `state` is unchanged.
    pub error: Option<Failure>,
    /// The status before the last action started (as the design's `old_status`).
    pub old_status: Status,
    /// While applied: the bytes to restore, in write order.
    pub saved: Vec<Saved>,
    /// While applied: code that must not be running when reverting.
    pub guards: Vec<Guard>,
    /// Livepatch: the `.modinfo` strings LIST returns (empty for xsplice payloads).
    pub metadata: Vec<u8>,
}

impl Record {
    pub fn status(&self) -> Status {
        if self.progress {
            Status::Progress
        } else if let Some(f) = &self.error {
            Status::Error(f.errno)
        } else {
            match self.state {
                State::Loaded => Status::Loaded,
                State::Checked => Status::Checked,
                State::Applied => Status::Applied,
                State::Reverted => Status::Reverted,
            }
        }
    }
}

/// The action waiting for the hypervisor's deferred work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub serial: u64,
    pub action: Action,
    /// Upper bound in ms; 0 = unbounded.
    pub time_ms: u64,
}

/// What one run of the deferred work did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The action finished; `Ok` or the failure now in the payload's status.
    Done {
        id: PayloadId,
        action: Action,
        result: Result<(), Failure>,
    },
    /// Still waiting (a CPU never joins the rendezvous and `time` is 0).
    Waiting { id: PayloadId, action: Action },
}

pub struct Hypervisor {
    pub(crate) image: Image,
    pub(crate) config: SimConfig,
    pub(crate) layout: Layout,
    pub(crate) mem: Memory,
    pub(crate) cpus: Vec<Cpu>,
    pub(crate) payloads: Vec<Record>,
    pub(crate) version: u32,
    /// Livepatch LIST's `version`: bumped by each upload and unload only, as Xen's
    /// `payload_version`.
    pub(crate) list_version: u32,
    /// The hypercall interface this hypervisor speaks.
    pub(crate) interface: crate::livepatch::Interface,
    /// Serials of applied payloads, oldest first.
    pub(crate) applied: Vec<u64>,
    pub(crate) pending: Option<Pending>,
    /// Simulated time spent in rendezvous and patching, µs.
    pub(crate) clock_us: u64,
    pub(crate) next_serial: u64,
    pub(crate) policy: Policy,
    pub(crate) trust: Trust,
    /// Fault drill: the index of the site write of the next APPLY/REVERT that fails.
    write_fault: Option<usize>,
}

impl Hypervisor {
    /// Boots from an image.
    pub fn boot(
        image: Image,
        config: SimConfig,
        policy: Policy,
        trust: Trust,
    ) -> Result<Hypervisor, BootError> {
        let mut mem = Memory::new();
        let span = boot::map_image(&image, &mut mem)?;
        let layout = boot::plan_layout(&config, span, &mut mem)?;
        let interface = config
            .interface
            .unwrap_or_else(|| crate::livepatch::Interface::of(&image));
        let cpus = (0..config.cpus)
            .map(|id| Cpu {
                id,
                stack: layout.stacks[id],
                scratch: layout.scratch[id],
                rendezvous_ms: Some(0),
                paused: None,
            })
            .collect();
        Ok(Hypervisor {
            image,
            config,
            layout,
            mem,
            cpus,
            payloads: Vec::new(),
            version: 1,
            list_version: 1,
            interface,
            applied: Vec::new(),
            pending: None,
            clock_us: 0,
            next_serial: 1,
            policy,
            trust,
            write_fault: None,
        })
    }

    pub fn image(&self) -> &Image {
        &self.image
    }
    pub fn config(&self) -> &SimConfig {
        &self.config
    }
    pub fn layout(&self) -> &Layout {
        &self.layout
    }
    pub fn memory(&self) -> &Memory {
        &self.mem
    }
    pub fn cpus(&self) -> &[Cpu] {
        &self.cpus
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    /// Payloads in upload order.
    pub fn payloads(&self) -> &[Record] {
        &self.payloads
    }
    /// Bumped on every change of the payload list or of a status.
    pub fn version(&self) -> u32 {
        self.version
    }
    /// Livepatch LIST's `version` (bumped by uploads and unloads).
    pub fn list_version(&self) -> u32 {
        self.list_version
    }
    /// The hypercall interface this hypervisor speaks.
    pub fn interface(&self) -> crate::livepatch::Interface {
        self.interface
    }
    pub fn pending(&self) -> Option<Pending> {
        self.pending
    }
    pub fn clock_us(&self) -> u64 {
        self.clock_us
    }
    /// Applied payloads, oldest first.
    pub fn applied_stack(&self) -> Vec<PayloadId> {
        self.applied
            .iter()
            .filter_map(|s| self.by_serial(*s).map(|i| self.payloads[i].id))
            .collect()
    }
    pub fn payload(&self, id: &PayloadId) -> Option<&Record> {
        self.payloads.iter().find(|r| r.id == *id)
    }
    pub fn build_id(&self) -> &[u8] {
        self.image.build_id()
    }

    pub(crate) fn by_serial(&self, serial: u64) -> Option<usize> {
        self.payloads.iter().position(|r| r.loaded.serial == serial)
    }

    fn index(&self, id: &PayloadId) -> Result<usize, Failure> {
        self.payloads
            .iter()
            .position(|r| r.id == *id)
            .ok_or_else(|| fail(Errno::ENOENT, format!("no payload `{id}`")))
    }

    pub(crate) fn bump(&mut self) {
        self.version = self.version.wrapping_add(1).max(1);
    }

    /// UPLOAD: validates, places, resolves and relocates a payload; LOADED on success.
    /// On failure nothing changes.
    pub fn upload(&mut self, id: PayloadId, bytes: &[u8]) -> Result<(), Failure> {
        if bytes.is_empty() {
            return Err(fail(Errno::EINVAL, "payload size is 0"));
        }
        if bytes.len() as u64 > self.config.max_payload_size {
            return Err(fail(
                Errno::E2BIG,
                format!(
                    "payload of {} bytes exceeds the {}-byte limit",
                    bytes.len(),
                    self.config.max_payload_size
                ),
            ));
        }
        if self.payloads.iter().any(|r| r.id == id) {
            return Err(fail(
                Errno::EEXIST,
                format!("a payload `{id}` is already loaded"),
            ));
        }
        let elf = self.trust.signed_part(bytes)?;
        let read = xsplice_payload::read::read(elf).map_err(reader_failure)?;
        if read.flavour != xsplice_payload::Flavour::Xsplice {
            return Err(fail(
                Errno::ENOEXEC,
                format!(
                    "a {} payload: this hypervisor speaks the xsplice interface",
                    read.flavour
                ),
            ));
        }
        let serial = self.next_serial;
        let ctx = LoadContext {
            image: &self.image,
            arena: self.layout.arena,
            others: self.payloads.iter().map(|r| &r.loaded).collect(),
            rules: loader::Rules::Xsplice,
        };
        let loaded = loader::load(&ctx, &mut self.mem, serial, read, bytes.len() as u64)?;
        self.next_serial += 1;
        self.payloads.push(Record {
            id,
            loaded,
            state: State::Loaded,
            progress: false,
            error: None,
            old_status: Status::Loaded,
            saved: Vec::new(),
            guards: Vec::new(),
            metadata: Vec::new(),
        });
        self.bump();
        Ok(())
    }

    /// GET: the status of one payload.
    pub fn get(&self, id: &PayloadId) -> Result<Status, Failure> {
        Ok(self.payloads[self.index(id)?].status())
    }

    /// The failure behind a negative status, with its explanation.
    pub fn last_error(&self, id: &PayloadId) -> Option<&Failure> {
        self.payload(id).and_then(|r| r.error.as_ref())
    }

    /// ACTION: validates the request against the state table and starts it.
    pub fn action(&mut self, id: &PayloadId, action: Action, time_ms: u64) -> Result<(), Failure> {
        let i = self.index(id)?;
        if let Some(p) = self.pending {
            let busy = self
                .by_serial(p.serial)
                .map_or_else(String::new, |j| self.payloads[j].id.to_string());
            return Err(fail(
                Errno::EBUSY,
                format!("{} of `{busy}` is in progress", p.action.name()),
            ));
        }
        let r = &self.payloads[i];
        if !action.allowed_from(r.state) {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{} is not allowed in state {}",
                    action.name(),
                    r.state_name()
                ),
            ));
        }
        let serial = r.loaded.serial;
        if action == Action::Revert && self.applied.last() != Some(&serial) {
            let top = self.applied_stack().last().copied();
            return Err(fail(
                Errno::EBUSY,
                format!(
                    "`{id}` is not the most recently applied payload{}",
                    top.map_or(String::new(), |t| format!(" (`{t}` is)"))
                ),
            ));
        }
        if action == Action::Unload
            && let Some(user) = self.user_of(serial)
        {
            return Err(fail(
                Errno::EBUSY,
                format!("payload `{user}` uses symbols of `{id}`"),
            ));
        }
        let status = r.status();
        let r = &mut self.payloads[i];
        r.old_status = status;
        r.progress = true;
        r.error = None;
        self.pending = Some(Pending {
            serial,
            action,
            time_ms,
        });
        self.bump();
        Ok(())
    }

    /// A loaded payload that resolved symbols against payload `serial`.
    pub(crate) fn user_of(&self, serial: u64) -> Option<PayloadId> {
        self.payloads
            .iter()
            .find(|r| r.loaded.providers.contains(&serial))
            .map(|r| r.id)
    }

    /// Runs the deferred work until no action is pending (or the pending one cannot
    /// progress); returns what happened.
    pub fn settle(&mut self) -> Vec<Completion> {
        let mut out = Vec::new();
        while let Some(c) = self.run_pending() {
            let waiting = matches!(c, Completion::Waiting { .. });
            out.push(c);
            if waiting {
                break;
            }
        }
        out
    }

    /// Sets how long CPU `cpu` takes to join a rendezvous (`None`: never).
    pub fn set_rendezvous(&mut self, cpu: usize, ms: Option<u64>) -> Result<(), CallError> {
        self.cpus
            .get_mut(cpu)
            .ok_or(CallError::NoCpu(cpu))?
            .rendezvous_ms = ms;
        Ok(())
    }

    /// The address of a function or object: a hypervisor symbol (`name`,
    /// `file#name`), else a symbol exported by a loaded payload.
    pub fn resolve_symbol(&self, name: &str) -> Result<u64, CallError> {
        match self.image.lookup(name) {
            Ok(s) => return Ok(s.addr),
            Err(LookupError::Ambiguous { candidates, .. }) => {
                return Err(CallError::Ambiguous {
                    name: name.to_string(),
                    detail: candidates.join(", "),
                });
            }
            Err(LookupError::NotFound(_)) => {}
        }
        self.payloads
            .iter()
            .find_map(|r| {
                r.loaded
                    .exports
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, a)| *a)
            })
            .ok_or_else(|| CallError::Unknown(name.to_string()))
    }

    /// A code location: `0xADDR`, `SYMBOL` or `SYMBOL+OFFSET` (decimal or 0x hex).
    pub fn resolve_location(&self, text: &str) -> Result<u64, CallError> {
        let bad = || CallError::BadLocation(text.to_string());
        if let Some(hex) = text.strip_prefix("0x") {
            return u64::from_str_radix(hex, 16).map_err(|_| bad());
        }
        let (name, off) = match text.rsplit_once('+') {
            Some((n, o)) => (n, parse_u64(o).ok_or_else(bad)?),
            None => (text, 0),
        };
        Ok(self.resolve_symbol(name)?.wrapping_add(off))
    }

    /// Calls a function on an idle CPU and runs it to completion.
    pub fn call(
        &mut self,
        cpu: usize,
        function: &str,
        args: &[Arg],
    ) -> Result<CallResult, CallError> {
        match self.call_until(cpu, function, args, None)? {
            CallOutcome::Returned(r) => Ok(r),
            CallOutcome::Paused { .. } => unreachable!("no stop was requested"),
        }
    }

    /// Calls a function on an idle CPU; with `stop`, the CPU pauses there and stays
    /// paused (its stack in use) until [`Hypervisor::resume`].
    pub fn call_until(
        &mut self,
        cpu: usize,
        function: &str,
        args: &[Arg],
        stop: Option<StopAt>,
    ) -> Result<CallOutcome, CallError> {
        let addr = self.resolve_symbol(function)?;
        let (sentinel, max) = (self.layout.sentinel, self.config.max_instructions);
        let traps = self.traps();
        let c = self.cpus.get_mut(cpu).ok_or(CallError::NoCpu(cpu))?;
        c.call(
            &mut self.mem,
            sentinel,
            max,
            function,
            addr,
            args,
            stop,
            &traps,
        )
    }

    /// Calls the code at `addr` (named `label` in errors) on an idle CPU and runs it
    /// to completion.
    pub fn call_address(
        &mut self,
        cpu: usize,
        label: &str,
        addr: u64,
        args: &[Arg],
    ) -> Result<CallResult, CallError> {
        let (sentinel, max) = (self.layout.sentinel, self.config.max_instructions);
        let traps = self.traps();
        let c = self.cpus.get_mut(cpu).ok_or(CallError::NoCpu(cpu))?;
        match c.call(
            &mut self.mem,
            sentinel,
            max,
            label,
            addr,
            args,
            None,
            &traps,
        )? {
            CallOutcome::Returned(r) => Ok(r),
            CallOutcome::Paused { .. } => unreachable!("no stop was requested"),
        }
    }

    /// Continues the call a CPU is paused in.
    pub fn resume(&mut self, cpu: usize, stop: Option<StopAt>) -> Result<CallOutcome, CallError> {
        let (sentinel, max) = (self.layout.sentinel, self.config.max_instructions);
        let traps = self.traps();
        let c = self.cpus.get_mut(cpu).ok_or(CallError::NoCpu(cpu))?;
        c.resume(&mut self.mem, sentinel, max, stop, &traps)
    }

    /// Fault drill (off by default): the `k`-th (0-based) patch-site write of the
    /// next APPLY or REVERT that gets to write fails after writing half of its bytes
    /// (a torn write), as a failing text poke would. The action must then restore
    /// every byte and report `-EFAULT`. One-shot: disarmed when that action writes.
    pub fn inject_write_fault(&mut self, k: usize) {
        self.write_fault = Some(k);
    }

    /// The armed fault drill, if any.
    pub fn write_fault(&self) -> Option<usize> {
        self.write_fault
    }

    /// Writes `writes` in order with the time bound of an action; on timeout or a
    /// failed write every byte written is restored. Returns the bytes replaced.
    pub(crate) fn write_all(
        &mut self,
        writes: &[Write],
        bound_us: Option<u64>,
        mut elapsed_us: u64,
    ) -> Result<(Vec<Saved>, u64), Failure> {
        let fault = self.write_fault.take();
        let mut saved: Vec<Saved> = Vec::with_capacity(writes.len());
        let undo = |mem: &mut Memory, saved: &[Saved]| {
            for s in saved.iter().rev() {
                mem.write(s.addr, &s.old)
                    .expect("restoring bytes just read");
            }
        };
        for (n, w) in writes.iter().enumerate() {
            let old = match self.mem.read(w.addr, w.bytes.len() as u64) {
                Ok(old) => old,
                Err(e) => {
                    undo(&mut self.mem, &saved);
                    return Err(fail(Errno::EFAULT, format!("{}: {e}", w.label)));
                }
            };
            // Saved before writing, so that a torn write is undone too.
            saved.push(Saved {
                label: w.label.clone(),
                addr: w.addr,
                old,
                new: w.bytes.clone(),
            });
            if fault == Some(n) {
                let torn = w.bytes.len().div_ceil(2);
                self.mem
                    .write(w.addr, &w.bytes[..torn])
                    .expect("the range was just read");
                undo(&mut self.mem, &saved);
                return Err(fail(
                    Errno::EFAULT,
                    format!(
                        "{}: write {} of {} at {:#x} failed (injected fault); every byte restored",
                        w.label,
                        n + 1,
                        writes.len(),
                        w.addr
                    ),
                ));
            }
            self.mem
                .write(w.addr, &w.bytes)
                .expect("the range was just read");
            elapsed_us = elapsed_us.saturating_add(self.config.site_write_us);
            if let Some(b) = bound_us
                && elapsed_us > b
            {
                undo(&mut self.mem, &saved);
                return Err(fail(
                    Errno::EBUSY,
                    format!(
                        "time bound of {} ms exceeded after writing {} of {} sites; every byte restored",
                        b / 1000,
                        n + 1,
                        writes.len()
                    ),
                ));
            }
        }
        Ok((saved, elapsed_us))
    }
}

impl Record {
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Loaded => "LOADED",
            State::Checked => "CHECKED",
            State::Applied => "APPLIED",
            State::Reverted => "REVERTED",
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The errno a reader refusal is reported with: `ENOEXEC` when the file is not an
/// ELF object this hypervisor can load at all, `EOPNOTSUPP` for relocation types and
/// symbol index 0 (as Xen), `EINVAL` for every other malformation.
pub fn reader_failure(e: xsplice_payload::read::ReadError) -> Failure {
    use xsplice_payload::read::ReadErrorKind as K;
    let errno = match e.kind {
        K::BadMagic | K::Unsupported => Errno::ENOEXEC,
        K::UnsupportedRelocation => Errno::EOPNOTSUPP,
        _ => Errno::EINVAL,
    };
    fail(errno, e.to_string())
}
