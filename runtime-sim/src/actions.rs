//! The deferred work of ACTION: CHECK, APPLY, REVERT and UNLOAD.
//!
//! APPLY and REVERT first gather every CPU (a rendezvous: each CPU joins after its
//! configured delay, or never), then write. The action's `time` bound covers both:
//! when it would be exceeded the status becomes `-EBUSY` and every byte written so far
//! is restored. With `time` 0 the action waits as long as needed; if a CPU never
//! joins, it stays PROGRESS.

use crate::check::{AppliedView, CheckContext, Purpose, plan};
use crate::cpu::{Guard, find_on_stacks};
use crate::errno::{Errno, Failure, fail};
use crate::hypervisor::{Completion, Hypervisor};
use crate::livepatch::Interface;
use crate::memory::Owner;
use crate::state::{Action, State};
use xsplice_payload::HookKind;

enum Outcome {
    Done(Result<(), Failure>),
    Waiting,
}

impl Hypervisor {
    fn check_context(&self) -> CheckContext<'_> {
        CheckContext {
            mem: &self.mem,
            cpus: &self.cpus,
            running_build_id: self.image.build_id(),
            loaded_build_ids: self
                .payloads
                .iter()
                .map(|r| r.loaded.build_id.as_slice())
                .collect(),
            applied: self
                .applied
                .iter()
                .filter_map(|s| self.by_serial(*s))
                .map(|i| {
                    let r = &self.payloads[i];
                    AppliedView {
                        id: r.id.to_string(),
                        build_id: &r.loaded.build_id,
                        depends: &r.loaded.model.depends,
                        sites: r
                            .saved
                            .iter()
                            .map(|s| (s.label.as_str(), s.addr, s.new.len() as u64))
                            .collect(),
                    }
                })
                .collect(),
        }
    }

    /// Runs the pending action, if any.
    pub fn run_pending(&mut self) -> Option<Completion> {
        let p = self.pending?;
        let Some(i) = self.by_serial(p.serial) else {
            self.pending = None;
            return None;
        };
        let id = self.payloads[i].id;
        let bound_us = (p.time_ms != 0).then(|| p.time_ms.saturating_mul(1000));
        let outcome = match p.action {
            Action::Check => Outcome::Done(self.do_check(i)),
            Action::Apply => self.do_apply(i, bound_us),
            Action::Revert => self.do_revert(i, bound_us),
            Action::Unload => Outcome::Done(self.do_unload(i)),
            Action::Replace => self.do_replace(i, bound_us),
        };
        let result = match outcome {
            Outcome::Waiting => {
                return Some(Completion::Waiting {
                    id,
                    action: p.action,
                });
            }
            Outcome::Done(r) => r,
        };
        self.pending = None;
        if let Some(i) = self.by_serial(p.serial) {
            let r = &mut self.payloads[i];
            r.progress = false;
            match &result {
                Ok(()) => {
                    r.error = None;
                    if let Some(s) = p.action.next_state() {
                        r.state = s;
                    }
                }
                Err(f) => r.error = Some(f.clone()),
            }
        }
        self.bump();
        Some(Completion::Done {
            id,
            action: p.action,
            result,
        })
    }

    fn do_check(&mut self, i: usize) -> Result<(), Failure> {
        plan(
            &self.check_context(),
            &self.payloads[i].loaded,
            Purpose::Check,
        )
        .map(|_| ())
    }

    /// Simulated µs until every CPU has joined; `None` if one never does.
    fn rendezvous_us(&self) -> Option<u64> {
        self.cpus.iter().try_fold(0u64, |acc, c| {
            c.rendezvous_ms.map(|ms| acc.max(ms.saturating_mul(1000)))
        })
    }

    /// Rendezvous under the time bound: `Err(Some(f))` timed out, `Err(None)` wait.
    fn gather(&mut self, bound_us: Option<u64>) -> Result<u64, Option<Failure>> {
        let slowest = self
            .cpus
            .iter()
            .max_by_key(|c| c.rendezvous_ms.map_or(u64::MAX, |m| m));
        let who = slowest.map_or(0, |c| c.id);
        match (self.rendezvous_us(), bound_us) {
            (None, None) => Err(None),
            (t, Some(b)) if t.is_none_or(|t| t > b) => {
                self.clock_us = self.clock_us.saturating_add(b);
                Err(Some(fail(
                    Errno::EBUSY,
                    format!(
                        "CPU {who} did not join the rendezvous within {} ms; nothing written",
                        b / 1000
                    ),
                )))
            }
            (t, _) => Ok(t.unwrap_or(0)),
        }
    }

    fn do_apply(&mut self, i: usize, bound_us: Option<u64>) -> Outcome {
        let planned = match self.interface {
            Interface::Xsplice => plan(
                &self.check_context(),
                &self.payloads[i].loaded,
                Purpose::Apply,
            ),
            Interface::Livepatch => self.livepatch_plan(i),
        };
        let plan = match planned {
            Ok(p) => p,
            Err(f) => return Outcome::Done(Err(f)),
        };
        let start = match self.gather(bound_us) {
            Ok(t) => t,
            Err(None) => return Outcome::Waiting,
            Err(Some(f)) => return Outcome::Done(Err(f)),
        };
        // Xen runs a livepatch payload's load hooks, with the CPUs gathered, before
        // patching.
        if let Err(f) = self.run_hooks(i, HookKind::Load) {
            return Outcome::Done(Err(f));
        }
        match self.write_all(&plan.writes, bound_us, start) {
            Ok((saved, elapsed)) => {
                self.clock_us = self.clock_us.saturating_add(elapsed);
                let r = &mut self.payloads[i];
                r.saved = saved;
                r.guards = plan.guards;
                self.applied.push(r.loaded.serial);
                // Then, outside the rendezvous, the post-apply hook.
                if let Err(f) = self.run_hooks(i, HookKind::PostApply) {
                    return Outcome::Done(Err(f));
                }
                Outcome::Done(Ok(()))
            }
            Err(f) => {
                self.clock_us = self.clock_us.saturating_add(bound_us.unwrap_or(0));
                Outcome::Done(Err(f))
            }
        }
    }

    fn do_revert(&mut self, i: usize, bound_us: Option<u64>) -> Outcome {
        let r = &self.payloads[i];
        if self.applied.last() != Some(&r.loaded.serial) {
            return Outcome::Done(Err(fail(
                Errno::EBUSY,
                "not the most recently applied payload",
            )));
        }
        if let Some(why) = find_on_stacks(&self.mem, &self.cpus, &r.guards) {
            return Outcome::Done(Err(fail(Errno::EBUSY, why)));
        }
        for s in &r.saved {
            match self.mem.read(s.addr, s.new.len() as u64) {
                Ok(now) if now == s.new => {}
                _ => {
                    return Outcome::Done(Err(fail(
                        Errno::EINVAL,
                        format!(
                            "{}: the bytes at {:#x} are no longer the ones APPLY wrote",
                            s.label, s.addr
                        ),
                    )));
                }
            }
        }
        let restore: Vec<crate::check::Write> = r
            .saved
            .iter()
            .rev()
            .map(|s| crate::check::Write {
                label: s.label.clone(),
                addr: s.addr,
                bytes: s.old.clone(),
            })
            .collect();
        let start = match self.gather(bound_us) {
            Ok(t) => t,
            Err(None) => return Outcome::Waiting,
            Err(Some(f)) => return Outcome::Done(Err(f)),
        };
        match self.write_all(&restore, bound_us, start) {
            Ok((_, elapsed)) => {
                self.clock_us = self.clock_us.saturating_add(elapsed);
                let r = &mut self.payloads[i];
                r.saved.clear();
                r.guards.clear();
                self.applied.pop();
                // A livepatch payload's unload hooks, then its post-revert hook.
                for kind in [HookKind::Unload, HookKind::PostRevert] {
                    if let Err(f) = self.run_hooks(i, kind) {
                        return Outcome::Done(Err(f));
                    }
                }
                Outcome::Done(Ok(()))
            }
            Err(f) => {
                self.clock_us = self.clock_us.saturating_add(bound_us.unwrap_or(0));
                Outcome::Done(Err(f))
            }
        }
    }

    /// Xen's REPLACE: revert every applied payload, newest first (each keeps its own
    /// outcome), then apply this one. A failed revert stops it with `EINVAL`.
    fn do_replace(&mut self, i: usize, bound_us: Option<u64>) -> Outcome {
        let serial = self.payloads[i].loaded.serial;
        while let Some(&top) = self.applied.last() {
            let Some(j) = self.by_serial(top) else {
                self.applied.pop();
                continue;
            };
            match self.do_revert(j, bound_us) {
                Outcome::Done(Ok(())) => self.payloads[j].state = State::Reverted,
                Outcome::Done(Err(f)) => {
                    let why = format!("reverting {} failed: {}", self.payloads[j].id, f.why);
                    self.payloads[j].error = Some(f);
                    return Outcome::Done(Err(fail(Errno::EINVAL, why)));
                }
                Outcome::Waiting => return Outcome::Waiting,
            }
        }
        let Some(i) = self.by_serial(serial) else {
            return Outcome::Done(Err(fail(Errno::ENOENT, "the payload went away")));
        };
        self.do_apply(i, bound_us)
    }

    fn do_unload(&mut self, i: usize) -> Result<(), Failure> {
        let r = &self.payloads[i];
        if !matches!(r.state, State::Loaded | State::Checked | State::Reverted) {
            return Err(fail(Errno::EINVAL, "cannot unload an applied payload"));
        }
        if let Some(user) = self.user_of(r.loaded.serial) {
            return Err(fail(
                Errno::EBUSY,
                format!("payload `{user}` uses symbols of `{}`", r.id),
            ));
        }
        let guards: Vec<Guard> = r
            .loaded
            .regions
            .iter()
            .filter(|(_, _, p)| p.exec)
            .map(|&(b, l, _)| Guard {
                what: format!("code of payload `{}`", r.id),
                start: b,
                end: b + l,
            })
            .collect();
        if let Some(why) = find_on_stacks(&self.mem, &self.cpus, &guards) {
            return Err(fail(Errno::EBUSY, why));
        }
        let serial = r.loaded.serial;
        self.mem.unmap_owner(Owner::Payload(serial));
        self.payloads.remove(i);
        Ok(())
    }
}
