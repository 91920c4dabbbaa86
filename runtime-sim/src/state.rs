//! Payload identifiers, statuses and actions of the xSplice interface.

use std::fmt;

use crate::errno::{Errno, Failure};

/// `XEN_XSPLICE_ID_SIZE`: the design's id field.
pub const ID_SIZE: usize = 40;
/// Room for the longest name of either interface: Xen's livepatch names are up to
/// 127 bytes (`XEN_LIVEPATCH_NAME_SIZE` with the NUL).
pub const MAX_ID_SIZE: usize = 128;

pub const XSPLICE_STATUS_LOADED: i32 = 0x01;
pub const XSPLICE_STATUS_PROGRESS: i32 = 0x02;
pub const XSPLICE_STATUS_CHECKED: i32 = 0x04;
pub const XSPLICE_STATUS_APPLIED: i32 = 0x08;
pub const XSPLICE_STATUS_REVERTED: i32 = 0x10;

pub const XSPLICE_ACTION_CHECK: u32 = 1;
pub const XSPLICE_ACTION_UNLOAD: u32 = 2;
pub const XSPLICE_ACTION_REVERT: u32 = 3;
pub const XSPLICE_ACTION_APPLY: u32 = 4;

/// A payload's name: the design's 40-byte `id` (1‥40 bytes, NUL padded), or a Xen
/// livepatch name (1‥127 bytes). Stored NUL padded to [`MAX_ID_SIZE`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayloadId(pub [u8; MAX_ID_SIZE]);

impl PayloadId {
    /// An id from text: 1‥40 bytes, no NUL.
    pub fn new(text: &str) -> Result<PayloadId, Failure> {
        PayloadId::with_limit(text.as_bytes(), ID_SIZE)
    }

    /// A livepatch name: 1‥127 bytes, no NUL.
    pub fn livepatch(name: &[u8]) -> Result<PayloadId, Failure> {
        PayloadId::with_limit(name, MAX_ID_SIZE - 1)
    }

    fn with_limit(b: &[u8], max: usize) -> Result<PayloadId, Failure> {
        if b.is_empty() || b.len() > max || b.contains(&0) {
            return Err(Failure::new(
                Errno::EINVAL,
                format!(
                    "payload id `{}` must be 1..={max} bytes without NUL",
                    String::from_utf8_lossy(b).escape_debug()
                ),
            ));
        }
        let mut id = [0; MAX_ID_SIZE];
        id[..b.len()].copy_from_slice(b);
        Ok(PayloadId(id))
    }

    /// The design's 40-byte field.
    pub fn raw(&self) -> [u8; ID_SIZE] {
        self.0[..ID_SIZE].try_into().expect("40 bytes")
    }

    /// Validates the raw field of a hypercall: not empty, and zero after the first
    /// NUL (so two spellings of one name cannot coexist).
    pub fn from_raw(raw: [u8; ID_SIZE]) -> Result<PayloadId, Failure> {
        if raw[0] == 0 {
            return Err(Failure::new(Errno::EINVAL, "empty payload id"));
        }
        if let Some(nul) = raw.iter().position(|&b| b == 0)
            && raw[nul..].iter().any(|&b| b != 0)
        {
            return Err(Failure::new(
                Errno::EINVAL,
                "payload id has bytes after its NUL terminator",
            ));
        }
        let mut id = [0; MAX_ID_SIZE];
        id[..ID_SIZE].copy_from_slice(&raw);
        Ok(PayloadId(id))
    }

    /// The bytes before the first NUL.
    pub fn as_bytes(&self) -> &[u8] {
        let n = self.0.iter().position(|&b| b == 0).unwrap_or(MAX_ID_SIZE);
        &self.0[..n]
    }
}

impl fmt::Display for PayloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for PayloadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PayloadId({self})")
    }
}

/// Where a payload is in the design's state diagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Loaded,
    Checked,
    Applied,
    Reverted,
}

impl State {
    pub fn code(self) -> i32 {
        match self {
            State::Loaded => XSPLICE_STATUS_LOADED,
            State::Checked => XSPLICE_STATUS_CHECKED,
            State::Applied => XSPLICE_STATUS_APPLIED,
            State::Reverted => XSPLICE_STATUS_REVERTED,
        }
    }
}

/// The `status` field: a state, PROGRESS, or a negative errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Loaded,
    Progress,
    Checked,
    Applied,
    Reverted,
    Error(Errno),
}

impl Status {
    pub fn code(self) -> i32 {
        match self {
            Status::Loaded => XSPLICE_STATUS_LOADED,
            Status::Progress => XSPLICE_STATUS_PROGRESS,
            Status::Checked => XSPLICE_STATUS_CHECKED,
            Status::Applied => XSPLICE_STATUS_APPLIED,
            Status::Reverted => XSPLICE_STATUS_REVERTED,
            Status::Error(e) => e.negative(),
        }
    }

    /// Decodes a status field; `None` for values the interface never produces.
    pub fn from_code(code: i32) -> Option<Status> {
        Some(match code {
            XSPLICE_STATUS_LOADED => Status::Loaded,
            XSPLICE_STATUS_PROGRESS => Status::Progress,
            XSPLICE_STATUS_CHECKED => Status::Checked,
            XSPLICE_STATUS_APPLIED => Status::Applied,
            XSPLICE_STATUS_REVERTED => Status::Reverted,
            c if c < 0 => Status::Error(Errno(-c)),
            _ => return None,
        })
    }

    /// `LOADED`, `PROGRESS`, ..., or `-EBUSY`.
    pub fn name(self) -> String {
        match self {
            Status::Loaded => "LOADED".into(),
            Status::Progress => "PROGRESS".into(),
            Status::Checked => "CHECKED".into(),
            Status::Applied => "APPLIED".into(),
            Status::Reverted => "REVERTED".into(),
            Status::Error(e) => format!("-{}", e.name()),
        }
    }

    /// Parses what [`Status::name`] prints.
    pub fn from_name(name: &str) -> Option<Status> {
        Some(match name {
            "LOADED" => Status::Loaded,
            "PROGRESS" => Status::Progress,
            "CHECKED" => Status::Checked,
            "APPLIED" => Status::Applied,
            "REVERTED" => Status::Reverted,
            other => Status::Error(Errno::from_name(other.strip_prefix('-')?)?),
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// `XSPLICE_ACTION_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    Check,
    Unload,
    Revert,
    Apply,
    /// Xen's livepatch REPLACE: revert every applied payload, then apply this one.
    /// The design has no such action (no code, never allowed by its state table).
    Replace,
}

impl Action {
    pub fn code(self) -> u32 {
        match self {
            Action::Check => XSPLICE_ACTION_CHECK,
            Action::Unload => XSPLICE_ACTION_UNLOAD,
            Action::Revert => XSPLICE_ACTION_REVERT,
            Action::Apply => XSPLICE_ACTION_APPLY,
            Action::Replace => 0,
        }
    }

    pub fn from_code(code: u32) -> Option<Action> {
        Some(match code {
            XSPLICE_ACTION_CHECK => Action::Check,
            XSPLICE_ACTION_UNLOAD => Action::Unload,
            XSPLICE_ACTION_REVERT => Action::Revert,
            XSPLICE_ACTION_APPLY => Action::Apply,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Check => "check",
            Action::Unload => "unload",
            Action::Revert => "revert",
            Action::Apply => "apply",
            Action::Replace => "replace",
        }
    }

    /// The design's state table: may this action start from `state`?
    pub fn allowed_from(self, state: State) -> bool {
        matches!(
            (self, state),
            (Action::Check, State::Loaded | State::Checked)
                | (
                    Action::Unload,
                    State::Loaded | State::Checked | State::Reverted
                )
                | (Action::Apply, State::Checked | State::Reverted)
                | (Action::Revert, State::Applied)
        )
    }

    /// The state a successful action leads to (`None`: the payload is gone).
    pub fn next_state(self) -> Option<State> {
        match self {
            Action::Check => Some(State::Checked),
            Action::Apply | Action::Replace => Some(State::Applied),
            Action::Revert => Some(State::Reverted),
            Action::Unload => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_table_is_the_designs() {
        use Action::*;
        use State::*;
        let mut allowed = Vec::new();
        for a in [Check, Apply, Revert, Unload] {
            for s in [Loaded, Checked, Applied, Reverted] {
                if a.allowed_from(s) {
                    allowed.push((a.name(), s));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                ("check", Loaded),
                ("check", Checked),
                ("apply", Checked),
                ("apply", Reverted),
                ("revert", Applied),
                ("unload", Loaded),
                ("unload", Checked),
                ("unload", Reverted),
            ]
        );
    }

    #[test]
    fn ids_and_statuses() {
        assert!(PayloadId::new("").is_err());
        assert!(PayloadId::new(&"x".repeat(41)).is_err());
        assert_eq!(
            PayloadId::new(&"x".repeat(40)).unwrap().to_string().len(),
            40
        );
        let mut raw = [0u8; ID_SIZE];
        raw[0] = b'a';
        raw[5] = b'b';
        assert_eq!(PayloadId::from_raw(raw).unwrap_err().errno, Errno::EINVAL);
        assert_eq!(Status::from_code(-16), Some(Status::Error(Errno::EBUSY)));
        assert_eq!(Status::Error(Errno::EBUSY).name(), "-EBUSY");
        assert_eq!(
            Status::from_name("-EBUSY"),
            Some(Status::Error(Errno::EBUSY))
        );
        assert_eq!(Status::from_code(3), None);
        assert_eq!(Status::Applied.code(), 8);
    }
}
