//! The reference model of the hypercall state machine: the interface constants of
//! `specs/hypercall.md` and the design's state table, written independently of the
//! simulator. Used by `tests/state_machine.rs`.

// ---- The interface, transcribed from specs/hypercall.md (not from the simulator). ----

pub const SYSCTL_XSPLICE_OP: u32 = 24;
pub const INTERFACE_VERSION: u32 = 0x0c;
pub const UPLOAD: u32 = 0;
pub const GET: u32 = 1;
pub const LIST: u32 = 2;
pub const ACTION: u32 = 3;
pub const BUILD_ID: u32 = 4;

pub const LOADED: i32 = 1;
pub const PROGRESS: i32 = 2;
pub const CHECKED: i32 = 4;
pub const APPLIED: i32 = 8;
pub const REVERTED: i32 = 0x10;

pub const CHECK: u32 = 1;
pub const UNLOAD: u32 = 2;
pub const REVERT: u32 = 3;
pub const APPLY: u32 = 4;

pub const EPERM: i64 = 1;
pub const ENOENT: i64 = 2;
pub const E2BIG: i64 = 7;
pub const ENOEXEC: i64 = 8;
pub const EACCES: i64 = 13;
pub const EFAULT: i64 = 14;
pub const EBUSY: i64 = 16;
pub const EEXIST: i64 = 17;
pub const EINVAL: i64 = 22;
pub const ENOSYS: i64 = 38;
pub const ENOBUFS: i64 = 105;

pub const MAX_PAYLOAD: u64 = 2 << 20;
pub const LIST_MAX: u32 = 64;
pub const SUMMARY: usize = 44;
/// µs per patch-site write in this test's configuration.
pub const SITE_WRITE_US: u64 = 1000;

pub const PRIVILEGED: u16 = 0;
pub const READ_ONLY: u16 = 3;
pub const NOBODY: u16 = 7;

pub type Id = [u8; 40];
/// Site writes of one payload: address and bytes.
pub type Sites = Vec<(u64, Vec<u8>)>;

pub fn id_of(s: &str) -> Id {
    let mut id = [0; 40];
    id[..s.len()].copy_from_slice(s.as_bytes());
    id
}

/// The payloads a sequence may upload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Trampolines on two functions; exports `fuzz_export`.
    Provider,
    /// The same code under another name (another build-id), exporting the same name.
    Provider2,
    /// Three inline writes checked against old code.
    Inline,
    /// Like `Inline` with old code that never matches: CHECK and APPLY fail.
    InlineBadOld,
    /// One trampoline; uses `fuzz_export`; depends on `Provider`'s build-id.
    User,
    /// Not an ELF file.
    Garbage,
    /// `Provider` built for another hypervisor.
    WrongTarget,
}

pub const KINDS: [Kind; 7] = [
    Kind::Provider,
    Kind::Provider2,
    Kind::Inline,
    Kind::InlineBadOld,
    Kind::User,
    Kind::Garbage,
    Kind::WrongTarget,
];

impl Kind {
    /// Patch-site writes of its APPLY (and REVERT).
    pub fn writes(self) -> u64 {
        match self {
            Kind::Provider | Kind::Provider2 => 2,
            Kind::Inline | Kind::InlineBadOld => 3,
            Kind::User => 1,
            Kind::Garbage | Kind::WrongTarget => 0,
        }
    }
    pub fn exports(self) -> bool {
        matches!(self, Kind::Provider | Kind::Provider2)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MState {
    Loaded,
    Checked,
    Applied,
    Reverted,
}

/// The design's state table.
pub fn allowed(cmd: u32, s: MState) -> bool {
    use MState::*;
    match cmd {
        CHECK => matches!(s, Loaded | Checked),
        APPLY => matches!(s, Checked | Reverted),
        REVERT => s == Applied,
        UNLOAD => matches!(s, Loaded | Checked | Reverted),
        _ => false,
    }
}

pub fn state_code(s: MState) -> i32 {
    match s {
        MState::Loaded => LOADED,
        MState::Checked => CHECKED,
        MState::Applied => APPLIED,
        MState::Reverted => REVERTED,
    }
}

#[derive(Clone, Debug)]
pub struct MPayload {
    pub id: Id,
    pub kind: Kind,
    pub state: MState,
    /// The status field: a state code, PROGRESS, or -errno.
    pub status: i32,
    /// The payload whose export it resolved against.
    pub provider: Option<Id>,
    /// Hash of its pages, taken when it was uploaded.
    pub pages: u64,
    /// Its site writes when applied: address and bytes.
    pub sites: Sites,
}

#[derive(Clone, Debug)]
pub struct Model {
    pub list: Vec<MPayload>,
    /// Applied payloads, oldest first.
    pub stack: Vec<Id>,
    pub pending: Option<(Id, u32, u64)>,
    pub version: u32,
    /// Per CPU: ms to join a rendezvous, `None` never.
    pub rendezvous: [Option<u64>; 2],
}

impl Model {
    pub fn find(&self, id: &Id) -> Option<usize> {
        self.list.iter().position(|p| p.id == *id)
    }
    pub fn loaded(&self, k: Kind) -> bool {
        self.list.iter().any(|p| p.kind == k)
    }
    pub fn applied(&self, k: Kind) -> bool {
        self.stack
            .iter()
            .any(|id| self.list[self.find(id).unwrap()].kind == k)
    }
}

/// `Ok(())` or `Err(errno)`.
pub type Outcome = Result<(), i64>;

/// A bad id of the two kinds the interface refuses, or a good one.
pub fn id_valid(id: &Id) -> bool {
    if id[0] == 0 {
        return false;
    }
    match id.iter().position(|&b| b == 0) {
        Some(n) => id[n..].iter().all(|&b| b == 0),
        None => true,
    }
}

impl Model {
    pub fn upload(&self, id: &Id, kind: Kind, size: u64, handle_ok: bool) -> Outcome {
        if !id_valid(id) || size == 0 {
            return Err(EINVAL);
        }
        if size > MAX_PAYLOAD {
            return Err(E2BIG);
        }
        if self.find(id).is_some() {
            return Err(EEXIST);
        }
        if !handle_ok {
            return Err(EFAULT);
        }
        match kind {
            Kind::Garbage | Kind::WrongTarget => Err(ENOEXEC),
            // Same build-id (the very same bytes uploaded twice) or a clash of the
            // exported global.
            k if self.loaded(k) => Err(EEXIST),
            k if k.exports() && (self.loaded(Kind::Provider) || self.loaded(Kind::Provider2)) => {
                Err(EEXIST)
            }
            Kind::User if !self.loaded(Kind::Provider) && !self.loaded(Kind::Provider2) => {
                Err(ENOENT)
            }
            _ => Ok(()),
        }
    }

    /// ACTION, the synchronous part.
    pub fn action(&self, id: &Id, cmd: u32) -> Outcome {
        if !id_valid(id) {
            return Err(EINVAL);
        }
        let i = self.find(id).ok_or(ENOENT)?;
        if !matches!(cmd, CHECK | UNLOAD | REVERT | APPLY) {
            return Err(EINVAL);
        }
        if self.pending.is_some() {
            return Err(EBUSY);
        }
        let p = &self.list[i];
        if !allowed(cmd, p.state) {
            return Err(EINVAL);
        }
        if cmd == REVERT && self.stack.last() != Some(id) {
            return Err(EBUSY);
        }
        if cmd == UNLOAD && self.list.iter().any(|q| q.provider == Some(*id)) {
            return Err(EBUSY);
        }
        Ok(())
    }

    /// The deferred work: `None` while it waits for a CPU.
    pub fn complete(&self) -> Option<Outcome> {
        let (id, cmd, time) = self.pending?;
        let p = &self.list[self.find(&id).unwrap()];
        let deps = |need_applied: bool| -> Outcome {
            match p.kind {
                Kind::InlineBadOld => Err(EINVAL),
                Kind::User if need_applied && !self.applied(Kind::Provider) => Err(ENOENT),
                Kind::User if !self.loaded(Kind::Provider) => Err(ENOENT),
                _ => Ok(()),
            }
        };
        let timed = |writes: u64| -> Option<Outcome> {
            let join = self
                .rendezvous
                .iter()
                .try_fold(0u64, |m, r| r.map(|ms| m.max(ms * 1000)));
            if time == 0 {
                return join.map(|_| Ok(()));
            }
            let bound = time.saturating_mul(1000);
            Some(match join {
                Some(t) if t + writes * SITE_WRITE_US <= bound => Ok(()),
                _ => Err(EBUSY),
            })
        };
        match cmd {
            CHECK => Some(deps(false)),
            APPLY => match deps(true) {
                Ok(()) => timed(p.kind.writes()),
                e => Some(e),
            },
            REVERT => timed(p.kind.writes()),
            // A payload uploaded while the UNLOAD was pending may have pinned it.
            _ if self.list.iter().any(|q| q.provider == Some(id)) => Some(Err(EBUSY)),
            _ => Some(Ok(())),
        }
    }
}
