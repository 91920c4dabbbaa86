//! What Xen's `xen-livepatch` (4.17) does for one command, against the simulator:
//! the hypercalls it issues, in its order, and the exit code and errno it reports.
//! The real tool prints `Error N: ...` and exits 1 (2 for EAGAIN/EBUSY); it checks
//! the state with GET before an action, prints "No action needed" when the payload
//! is already there, refuses a wrong state without a hypercall, and reads the outcome
//! with one GET after 60 ms (the simulator's deferred work has settled by then).

use runtime_sim::{Hypervisor, LivepatchClient};
use xsplice_abi::livepatch as abi;

/// One command's outcome as the tool reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub exit: i32,
    /// The errno of its `Error N:` line, if any.
    pub errno: Option<i32>,
}

impl Outcome {
    fn ok() -> Outcome {
        Outcome {
            exit: 0,
            errno: None,
        }
    }
    fn errno(n: i32) -> Outcome {
        Outcome {
            exit: if n == 11 || n == 16 { 2 } else { 1 },
            errno: Some(n),
        }
    }
    fn wrong_state() -> Outcome {
        Outcome {
            exit: 1,
            errno: None,
        }
    }
}

/// A command of the corpus: `xen-livepatch VERB NAME [FILE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Upload { name: String, file: String },
    Apply { name: String, nodeps: bool },
    Revert(String),
    Unload(String),
    Replace(String),
}

impl Cmd {
    /// The shell command for dom0 (files under `/tmp/corpus/`).
    pub fn shell(&self) -> String {
        match self {
            Cmd::Upload { name, file } => format!("xen-livepatch upload {name} /tmp/corpus/{file}"),
            Cmd::Apply { name, nodeps } => format!(
                "xen-livepatch apply {name}{}",
                if *nodeps { " --nodeps" } else { "" }
            ),
            Cmd::Revert(n) => format!("xen-livepatch revert {n}"),
            Cmd::Unload(n) => format!("xen-livepatch unload {n}"),
            Cmd::Replace(n) => format!("xen-livepatch replace {n}"),
        }
    }
}

pub fn run(
    hv: &mut Hypervisor,
    c: &mut LivepatchClient,
    cmd: &Cmd,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
) -> Outcome {
    let (name, action, target) = match cmd {
        Cmd::Upload { name, file } => {
            return match c.upload(hv, name, &files[file]) {
                Ok(()) => Outcome::ok(),
                Err(e) => Outcome::errno(e.errno.0),
            };
        }
        Cmd::Apply { name, .. } => (name, abi::ACTION_APPLY, Some(abi::STATE_APPLIED)),
        Cmd::Revert(name) => (name, abi::ACTION_REVERT, Some(abi::STATE_CHECKED)),
        Cmd::Unload(name) => (name, abi::ACTION_UNLOAD, None),
        Cmd::Replace(name) => (name, abi::ACTION_REPLACE, Some(abi::STATE_APPLIED)),
    };
    let st = match c.get(hv, name) {
        Ok(s) => s,
        Err(e) => return Outcome::errno(e.errno.0),
    };
    if st.rc == -11 {
        return Outcome {
            exit: 2,
            errno: None,
        };
    }
    if Some(st.state) == target {
        return Outcome::ok();
    }
    let allowed = match action {
        abi::ACTION_REVERT => st.state & abi::STATE_APPLIED != 0,
        _ => st.state & abi::STATE_CHECKED != 0,
    };
    if !allowed {
        return Outcome::wrong_state();
    }
    let flags = match cmd {
        Cmd::Apply { nodeps: true, .. } => abi::ACTION_APPLY_NODEPS,
        _ => 0,
    };
    if let Err(e) = c.action(hv, name, action, 30_000_000, flags) {
        return Outcome::errno(e.errno.0);
    }
    hv.settle();
    let rc = match c.get(hv, name) {
        Err(e) if e.errno.0 == 2 && action == abi::ACTION_UNLOAD => return Outcome::ok(),
        Err(e) => -e.errno.0,
        Ok(s) if s.rc != 0 => s.rc,
        Ok(s) => s.state as i32,
    };
    match (rc, target) {
        (-11, _) => Outcome {
            exit: 2,
            errno: None,
        },
        (r, Some(t)) if r == t as i32 => Outcome::ok(),
        (r, _) if r < 0 => Outcome::errno(-r),
        _ => Outcome::wrong_state(),
    }
}
