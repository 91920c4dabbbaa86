//! GET and ACTION under Xen 4.17's rules, and the deferred patching.
//!
//! States are CHECKED and APPLIED (a reverted payload is CHECKED again; it may be
//! applied again only when its only writable section is `.livepatch.funcs`). APPLY
//! of an applied payload, REVERT of a checked one and REPLACE of an applied one do
//! nothing and succeed; UNLOAD of an applied payload is `EINVAL`, of a checked one
//! immediate. APPLY checks the dependency note (the last applied payload's build-id,
//! or the hypervisor's) unless NODEPS, and the expectations, before scheduling;
//! REVERT only of the last applied payload (`EBUSY`). The work then runs as the
//! design's does (rendezvous under the time bound, all-or-nothing writes).

use xsplice_abi::livepatch as abi;
use xsplice_payload::livepatch::write::expectation;
use xsplice_payload::{ContentKind, HookKind};

use crate::check::{Plan, Write};
use crate::cpu::Arg;
use crate::errno::{Errno, Failure, fail};
use crate::hypervisor::{Hypervisor, Pending, Record};
use crate::memory::Owner;
use crate::state::{Action, PayloadId, State};

/// Xen's default time bound of an action (`timeout` 0): 30 ms.
pub const DEFAULT_TIMEOUT_MS: u64 = 30;

impl Record {
    /// `struct xen_livepatch_status` of this payload.
    pub fn livepatch_status(&self) -> abi::Status {
        abi::Status {
            state: if self.state == State::Applied {
                abi::STATE_APPLIED
            } else {
                abi::STATE_CHECKED
            },
            rc: if self.progress {
                Errno::EAGAIN.negative()
            } else {
                self.error.as_ref().map_or(0, |f| f.errno.negative())
            },
        }
    }

    /// The build-id its `.livepatch.depends` names.
    fn depends_on(&self) -> &[u8] {
        let m = &self.loaded.model;
        m.depends.first().unwrap_or(&m.target_build_id)
    }

    /// May it be applied again after a revert (no writable data but its functions)?
    fn safe_to_reapply(&self) -> bool {
        self.loaded
            .model
            .sections
            .iter()
            .all(|s| !matches!(s.kind, ContentKind::Data | ContentKind::Bss) || s.size == 0)
    }

    fn has_vetoing_hooks(&self) -> bool {
        self.loaded.model.hooks.iter().any(|h| {
            matches!(
                h.kind,
                HookKind::PreApply
                    | HookKind::Apply
                    | HookKind::PostApply
                    | HookKind::PreRevert
                    | HookKind::Revert
                    | HookKind::PostRevert
            )
        })
    }
}

impl Hypervisor {
    /// GET: state and rc.
    pub fn livepatch_get(&self, id: &PayloadId) -> Result<abi::Status, Failure> {
        self.payload(id)
            .map(Record::livepatch_status)
            .ok_or_else(|| fail(Errno::ENOENT, format!("no payload named {id}")))
    }

    /// ACTION with Xen's semantics. `timeout_ns` 0 is Xen's 30 ms.
    pub fn livepatch_action(
        &mut self,
        id: &PayloadId,
        cmd: u32,
        timeout_ns: u32,
        flags: u32,
    ) -> Result<(), Failure> {
        let i = self
            .payloads
            .iter()
            .position(|r| r.id == *id)
            .ok_or_else(|| fail(Errno::ENOENT, format!("no payload named {id}")))?;
        if self
            .pending
            .is_some_and(|p| p.serial == self.payloads[i].loaded.serial)
        {
            return Err(fail(
                Errno::EBUSY,
                format!("{id}: an action on it is already scheduled"),
            ));
        }
        let time_ms = match timeout_ns {
            0 => DEFAULT_TIMEOUT_MS,
            ns => u64::from(ns).div_ceil(1_000_000),
        };
        let applied = self.payloads[i].state == State::Applied;
        match cmd {
            abi::ACTION_UNLOAD => {
                if applied {
                    return Err(fail(
                        Errno::EINVAL,
                        format!("{id}: cannot unload an applied payload"),
                    ));
                }
                self.livepatch_unload(i)
            }
            abi::ACTION_APPLY if applied => Ok(()),
            abi::ACTION_REVERT if !applied => Ok(()),
            abi::ACTION_REPLACE if applied => Ok(()),
            abi::ACTION_APPLY => {
                let r = &self.payloads[i];
                if r.state == State::Reverted && !r.safe_to_reapply() {
                    // Xen: the hypercall succeeds, the status carries the refusal.
                    self.payloads[i].error = Some(fail(
                        Errno::EINVAL,
                        format!("{id}: can't revert as payload has .data. Please unload"),
                    ));
                    self.bump();
                    return Ok(());
                }
                if flags & abi::ACTION_APPLY_NODEPS == 0 {
                    self.check_depends(i, false)?;
                }
                self.check_expectations(i)?;
                self.veto_hook(i, HookKind::PreApply)?;
                self.schedule(i, Action::Apply, time_ms)
            }
            abi::ACTION_REVERT => {
                if self.applied.last() != Some(&self.payloads[i].loaded.serial) {
                    let top = self.applied_stack().last().map(|t| t.to_string());
                    return Err(fail(
                        Errno::EBUSY,
                        format!("{id}: can't unload. Top is {}", top.unwrap_or_default()),
                    ));
                }
                self.veto_hook(i, HookKind::PreRevert)?;
                self.schedule(i, Action::Revert, time_ms)
            }
            abi::ACTION_REPLACE => {
                self.check_depends(i, true)?;
                let vetoing = self.payloads[i].has_vetoing_hooks()
                    || self
                        .applied
                        .iter()
                        .filter_map(|s| self.by_serial(*s))
                        .any(|j| self.payloads[j].has_vetoing_hooks());
                if vetoing {
                    return Err(fail(
                        Errno::EOPNOTSUPP,
                        "REPLACE action is not supported on livepatches with vetoing hooks",
                    ));
                }
                self.schedule(i, Action::Replace, time_ms)
            }
            other => Err(fail(
                Errno::EOPNOTSUPP,
                format!("{id}: unknown action {other}"),
            )),
        }
    }

    /// `.livepatch.depends` must name the last applied payload, or the hypervisor
    /// when none is (REPLACE: always the hypervisor).
    fn check_depends(&self, i: usize, replace: bool) -> Result<(), Failure> {
        let r = &self.payloads[i];
        let top = self
            .applied
            .last()
            .filter(|_| !replace)
            .and_then(|s| self.by_serial(*s));
        let (want, what) = match top {
            Some(j) => (
                self.payloads[j].loaded.build_id.as_slice(),
                self.payloads[j].id.to_string(),
            ),
            None => (self.image.build_id(), "hypervisor".to_string()),
        };
        if r.depends_on() != want {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{}: check against {what} build-id failed (depends on {}, {what} is {})",
                    r.id,
                    hex::encode(r.depends_on()),
                    hex::encode(want)
                ),
            ));
        }
        Ok(())
    }

    /// Each enabled expectation: at most `old_size` bytes (`ERANGE`), equal to the
    /// bytes at `old_addr` now (`EINVAL`).
    fn check_expectations(&self, i: usize) -> Result<(), Failure> {
        let r = &self.payloads[i];
        let l = &r.loaded;
        for (k, e) in l.model.new.iter().enumerate() {
            let want = expectation(&l.model, e);
            if want.is_empty() {
                continue;
            }
            if (e.section.size as usize) < want.len() {
                return Err(fail(
                    Errno::ERANGE,
                    format!(
                        "{}: expectations of {} failed: {} bytes expected of a {}-byte function",
                        r.id,
                        e.symbol.name,
                        want.len(),
                        e.section.size
                    ),
                ));
            }
            let at = l.sites[k].addr;
            let have = self
                .mem
                .read(at, want.len() as u64)
                .map_err(|m| fail(Errno::EINVAL, format!("{}: {m}", e.symbol.name)))?;
            if have != want {
                return Err(fail(
                    Errno::EINVAL,
                    format!(
                        "{}: expectation failed: expected:{}, actual:{}",
                        e.symbol.name,
                        hex::encode(want),
                        hex::encode(&have)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runs the payload's hooks of `kind` on CPU 0, in order, and returns what each
    /// returned. Hooks that take the payload (pre/post apply/revert) get a pointer
    /// to a zeroed stand-in for Xen's `struct payload`. A hook that faults would
    /// crash Xen: here it is an `EFAULT` naming the hook.
    pub(crate) fn run_hooks(&mut self, i: usize, kind: HookKind) -> Result<Vec<u64>, Failure> {
        let l = &self.payloads[i].loaded;
        let calls: Vec<(String, u64)> = l
            .model
            .hooks
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| {
                (
                    l.model.symbols[h.symbol].name.clone(),
                    l.symbol_addrs[h.symbol],
                )
            })
            .collect();
        let args = if kind.many() {
            Vec::new()
        } else {
            vec![Arg::Buf(vec![0; 4096])]
        };
        let mut out = Vec::new();
        for (name, addr) in calls {
            let r = self.call_address(0, &name, addr, &args).map_err(|e| {
                fail(
                    Errno::EFAULT,
                    format!(
                        "{}: {kind:?} hook {name} failed: {e} (Xen would crash)",
                        self.payloads[i].id
                    ),
                )
            })?;
            out.push(r.ret);
        }
        Ok(out)
    }

    /// A pre-apply or pre-revert hook: a non-zero return vetoes the action, the
    /// hypercall returns it and the status keeps it.
    fn veto_hook(&mut self, i: usize, kind: HookKind) -> Result<(), Failure> {
        for ret in self.run_hooks(i, kind)? {
            let rc = ret as u32 as i32;
            if rc != 0 {
                let f = fail(
                    Errno(-rc),
                    format!(
                        "{}: {kind:?} hook failed (rc={rc}), aborting",
                        self.payloads[i].id
                    ),
                );
                self.payloads[i].error = Some(f.clone());
                self.bump();
                return Err(f);
            }
        }
        Ok(())
    }

    fn schedule(&mut self, i: usize, action: Action, time_ms: u64) -> Result<(), Failure> {
        if let Some(p) = self.pending {
            let busy = self
                .by_serial(p.serial)
                .map_or_else(String::new, |j| self.payloads[j].id.to_string());
            return Err(fail(
                Errno::EBUSY,
                format!("{} of {busy} is in progress", p.action.name()),
            ));
        }
        let r = &mut self.payloads[i];
        r.progress = true;
        r.error = None;
        self.pending = Some(Pending {
            serial: r.loaded.serial,
            action,
            time_ms,
        });
        self.bump();
        Ok(())
    }

    /// UNLOAD of a checked payload: immediate.
    fn livepatch_unload(&mut self, i: usize) -> Result<(), Failure> {
        let r = &self.payloads[i];
        if let Some(user) = self.user_of(r.loaded.serial) {
            return Err(fail(
                Errno::EBUSY,
                format!(
                    "payload {user} uses symbols of {}; refused (stricter than Xen, which would leave it dangling)",
                    r.id
                ),
            ));
        }
        let serial = r.loaded.serial;
        self.mem.unmap_owner(Owner::Payload(serial));
        self.payloads.remove(i);
        self.list_version = self.list_version.wrapping_add(1);
        self.bump();
        Ok(())
    }

    /// What APPLY writes for a livepatch payload: a `jmp rel32` at each `old_addr`,
    /// after an ENDBR64 (or its poison) when the function starts with one.
    pub(crate) fn livepatch_plan(&self, i: usize) -> Result<Plan, Failure> {
        let l = &self.payloads[i].loaded;
        let arch = l.model.machine.arch();
        let mut writes = Vec::new();
        for (k, e) in l.model.new.iter().enumerate() {
            let site = l.sites[k].addr;
            let head = self
                .mem
                .read(site, 4)
                .map_err(|m| fail(Errno::EFAULT, format!("{}: {m}", e.symbol.name)))?;
            let pad = arch.entry_landing_pad(&head) as u64;
            let new_addr = l.content_addr(e.patch.content.section, e.patch.content.offset);
            let bytes = arch
                .encode_trampoline(site + pad, new_addr)
                .ok_or_else(|| {
                    fail(
                        Errno::EOVERFLOW,
                        format!("{}: new code out of jump range", e.symbol.name),
                    )
                })?;
            writes.push(Write {
                label: e.symbol.label.clone(),
                addr: site + pad,
                bytes,
            });
        }
        Ok(Plan {
            writes,
            guards: Vec::new(),
        })
    }
}
