//! `XEN_SYSCTL_livepatch_op`: `struct xen_sysctl` (136 bytes) with `cmd` 27 and the
//! livepatch op in its union. Offsets are from the start of `struct xen_sysctl`.

use std::fmt;

/// `__HYPERVISOR_sysctl`.
pub const HYPERVISOR_SYSCTL: u64 = 35;
/// `XEN_SYSCTL_livepatch_op`.
pub const XEN_SYSCTL_LIVEPATCH_OP: u32 = 27;
/// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17 to 4.20.
pub const INTERFACE_VERSION_4_17: u32 = 0x15;
/// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.21 onward (LIST takes buffer sizes).
pub const INTERFACE_VERSION_4_21: u32 = 0x16;
/// `sizeof(struct xen_sysctl)`: `cmd`, `interface_version` and the 128-byte union.
pub const SYSCTL_SIZE: usize = 136;
/// `XEN_LIVEPATCH_NAME_SIZE`: longest name, NUL included.
pub const NAME_SIZE: usize = 128;
/// `sizeof(struct xen_livepatch_status)`: `state`, `rc`.
pub const STATUS_SIZE: usize = 8;
/// Most entries one LIST call may ask for (`E2BIG` above).
pub const LIST_MAX: u32 = 1024;
/// Largest payload UPLOAD accepts.
pub const MAX_PAYLOAD_SIZE: u64 = 2 << 20;

pub const UPLOAD: u32 = 0;
pub const GET: u32 = 1;
pub const LIST: u32 = 2;
pub const ACTION: u32 = 3;

pub const ACTION_UNLOAD: u32 = 1;
pub const ACTION_REVERT: u32 = 2;
pub const ACTION_APPLY: u32 = 3;
pub const ACTION_REPLACE: u32 = 4;
/// `LIVEPATCH_ACTION_APPLY_NODEPS`: APPLY checks only the hypervisor's build-id.
pub const ACTION_APPLY_NODEPS: u32 = 1;

pub const STATE_CHECKED: u32 = 1;
pub const STATE_APPLIED: u32 = 2;

/// Byte offsets inside `struct xen_sysctl`.
pub mod off {
    pub const CMD: usize = 0;
    pub const INTERFACE_VERSION: usize = 4;
    /// `u.livepatch.cmd`.
    pub const OP_CMD: usize = 8;
    /// `u.livepatch.pad` (`flags` from Xen 4.19).
    pub const OP_PAD: usize = 12;
    /// `u.livepatch.u`.
    pub const U: usize = 16;
    /// `struct xen_livepatch_name` at the start of upload, get and action.
    pub const NAME_HANDLE: usize = U;
    pub const NAME_SIZE: usize = U + 8;
    pub const NAME_PAD: usize = U + 10;
    pub const UPLOAD_SIZE: usize = U + 16;
    pub const UPLOAD_PAYLOAD: usize = U + 24;
    pub const GET_STATE: usize = U + 16;
    pub const GET_RC: usize = U + 20;
    pub const LIST_VERSION: usize = U;
    pub const LIST_IDX: usize = U + 4;
    pub const LIST_NR: usize = U + 8;
    pub const LIST_PAD: usize = U + 12;
    pub const LIST_NAME_TOTAL: usize = U + 16;
    pub const LIST_METADATA_TOTAL: usize = U + 20;
    pub const LIST_STATUS: usize = U + 24;
    pub const LIST_NAME: usize = U + 32;
    pub const LIST_LEN: usize = U + 40;
    pub const LIST_METADATA: usize = U + 48;
    pub const LIST_METADATA_LEN: usize = U + 56;
    pub const ACTION_CMD: usize = U + 16;
    pub const ACTION_TIMEOUT: usize = U + 20;
    pub const ACTION_FLAGS: usize = U + 24;
    pub const ACTION_PAD: usize = U + 28;
}

/// `struct xen_livepatch_name`: a handle to the name's bytes and their count (NUL
/// included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct NameRef {
    pub handle: u64,
    pub size: u16,
    pub pad: [u16; 3],
}

/// One livepatch sub-operation, with its IN fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Upload {
        name: NameRef,
        size: u64,
        payload: u64,
    },
    Get {
        name: NameRef,
    },
    List {
        idx: u32,
        nr: u32,
        pad: u32,
        /// Xen 4.21+ (interface 0x16): IN as well, the size of the caller's name
        /// buffer; 0 for 4.17–4.20, where the field is OUT only.
        name_total_size: u32,
        /// Xen 4.21+: the size of the caller's metadata buffer; 0 before.
        metadata_total_size: u32,
        status: u64,
        name: u64,
        len: u64,
        metadata: u64,
        metadata_len: u64,
    },
    Action {
        name: NameRef,
        cmd: u32,
        /// Nanoseconds; 0 is the hypervisor's default (30 ms).
        timeout: u32,
        flags: u32,
        pad: u32,
    },
}

impl Request {
    /// The sub-op number (`XEN_SYSCTL_LIVEPATCH_*`).
    pub fn sub_op(&self) -> u32 {
        match self {
            Request::Upload { .. } => UPLOAD,
            Request::Get { .. } => GET,
            Request::List { .. } => LIST,
            Request::Action { .. } => ACTION,
        }
    }
}

/// The header fields every decoded request comes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub cmd: u32,
    pub interface_version: u32,
    /// `u.livepatch.pad` (`flags` from Xen 4.19).
    pub op_pad: u32,
}

/// Why bytes are not a livepatch request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("sysctl cmd {0} is not XEN_SYSCTL_livepatch_op ({XEN_SYSCTL_LIVEPATCH_OP})")]
    NotLivepatch(u32),
    #[error("unknown livepatch sub-operation {0}")]
    UnknownSubOp(u32),
}

fn u16_at(b: &[u8; SYSCTL_SIZE], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8; SYSCTL_SIZE], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8; SYSCTL_SIZE], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn put(b: &mut [u8; SYSCTL_SIZE], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}

fn name_at(b: &[u8; SYSCTL_SIZE]) -> NameRef {
    NameRef {
        handle: u64_at(b, off::NAME_HANDLE),
        size: u16_at(b, off::NAME_SIZE),
        pad: [
            u16_at(b, off::NAME_PAD),
            u16_at(b, off::NAME_PAD + 2),
            u16_at(b, off::NAME_PAD + 4),
        ],
    }
}

fn put_name(b: &mut [u8; SYSCTL_SIZE], n: &NameRef) {
    put(b, off::NAME_HANDLE, &n.handle.to_le_bytes());
    put(b, off::NAME_SIZE, &n.size.to_le_bytes());
    for (i, p) in n.pad.iter().enumerate() {
        put(b, off::NAME_PAD + 2 * i, &p.to_le_bytes());
    }
}

/// The `struct xen_sysctl` a toolstack passes for `req` (OUT fields zero).
pub fn encode(interface_version: u32, req: &Request) -> [u8; SYSCTL_SIZE] {
    let mut b = [0u8; SYSCTL_SIZE];
    put(&mut b, off::CMD, &XEN_SYSCTL_LIVEPATCH_OP.to_le_bytes());
    put(
        &mut b,
        off::INTERFACE_VERSION,
        &interface_version.to_le_bytes(),
    );
    put(&mut b, off::OP_CMD, &req.sub_op().to_le_bytes());
    match req {
        Request::Upload {
            name,
            size,
            payload,
        } => {
            put_name(&mut b, name);
            put(&mut b, off::UPLOAD_SIZE, &size.to_le_bytes());
            put(&mut b, off::UPLOAD_PAYLOAD, &payload.to_le_bytes());
        }
        Request::Get { name } => put_name(&mut b, name),
        Request::List {
            idx,
            nr,
            pad,
            name_total_size,
            metadata_total_size,
            status,
            name,
            len,
            metadata,
            metadata_len,
        } => {
            put(&mut b, off::LIST_IDX, &idx.to_le_bytes());
            put(&mut b, off::LIST_NR, &nr.to_le_bytes());
            put(&mut b, off::LIST_PAD, &pad.to_le_bytes());
            put(&mut b, off::LIST_NAME_TOTAL, &name_total_size.to_le_bytes());
            put(
                &mut b,
                off::LIST_METADATA_TOTAL,
                &metadata_total_size.to_le_bytes(),
            );
            put(&mut b, off::LIST_STATUS, &status.to_le_bytes());
            put(&mut b, off::LIST_NAME, &name.to_le_bytes());
            put(&mut b, off::LIST_LEN, &len.to_le_bytes());
            put(&mut b, off::LIST_METADATA, &metadata.to_le_bytes());
            put(&mut b, off::LIST_METADATA_LEN, &metadata_len.to_le_bytes());
        }
        Request::Action {
            name,
            cmd,
            timeout,
            flags,
            pad,
        } => {
            put_name(&mut b, name);
            put(&mut b, off::ACTION_CMD, &cmd.to_le_bytes());
            put(&mut b, off::ACTION_TIMEOUT, &timeout.to_le_bytes());
            put(&mut b, off::ACTION_FLAGS, &flags.to_le_bytes());
            put(&mut b, off::ACTION_PAD, &pad.to_le_bytes());
        }
    }
    b
}

/// The header of any `struct xen_sysctl` (whatever its `cmd`).
pub fn header(b: &[u8; SYSCTL_SIZE]) -> Header {
    Header {
        cmd: u32_at(b, off::CMD),
        interface_version: u32_at(b, off::INTERFACE_VERSION),
        op_pad: u32_at(b, off::OP_PAD),
    }
}

/// Decodes the request a hypervisor receives (the header is not judged here: the
/// hypervisor checks the interface version and the pad itself, in its own order).
pub fn decode(b: &[u8; SYSCTL_SIZE]) -> Result<(Header, Request), DecodeError> {
    let h = header(b);
    if h.cmd != XEN_SYSCTL_LIVEPATCH_OP {
        return Err(DecodeError::NotLivepatch(h.cmd));
    }
    let req = match u32_at(b, off::OP_CMD) {
        UPLOAD => Request::Upload {
            name: name_at(b),
            size: u64_at(b, off::UPLOAD_SIZE),
            payload: u64_at(b, off::UPLOAD_PAYLOAD),
        },
        GET => Request::Get { name: name_at(b) },
        LIST => Request::List {
            idx: u32_at(b, off::LIST_IDX),
            nr: u32_at(b, off::LIST_NR),
            pad: u32_at(b, off::LIST_PAD),
            name_total_size: u32_at(b, off::LIST_NAME_TOTAL),
            metadata_total_size: u32_at(b, off::LIST_METADATA_TOTAL),
            status: u64_at(b, off::LIST_STATUS),
            name: u64_at(b, off::LIST_NAME),
            len: u64_at(b, off::LIST_LEN),
            metadata: u64_at(b, off::LIST_METADATA),
            metadata_len: u64_at(b, off::LIST_METADATA_LEN),
        },
        ACTION => Request::Action {
            name: name_at(b),
            cmd: u32_at(b, off::ACTION_CMD),
            timeout: u32_at(b, off::ACTION_TIMEOUT),
            flags: u32_at(b, off::ACTION_FLAGS),
            pad: u32_at(b, off::ACTION_PAD),
        },
        other => return Err(DecodeError::UnknownSubOp(other)),
    };
    Ok((h, req))
}

/// `struct xen_livepatch_status`, as GET writes it (and LIST per entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Status {
    /// `STATE_CHECKED` or `STATE_APPLIED`.
    pub state: u32,
    /// 0, `-EAGAIN` while an action is pending, or the last action's `-errno`.
    pub rc: i32,
}

impl Status {
    pub fn to_bytes(self) -> [u8; STATUS_SIZE] {
        let mut b = [0u8; STATUS_SIZE];
        b[..4].copy_from_slice(&self.state.to_le_bytes());
        b[4..].copy_from_slice(&self.rc.to_le_bytes());
        b
    }
    pub fn from_bytes(b: [u8; STATUS_SIZE]) -> Status {
        Status {
            state: u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
            rc: i32::from_le_bytes(b[4..].try_into().expect("4 bytes")),
        }
    }
    /// `CHECKED`, `APPLIED` or the number.
    pub fn state_name(self) -> String {
        match self.state {
            STATE_CHECKED => "CHECKED".into(),
            STATE_APPLIED => "APPLIED".into(),
            n => format!("state {n}"),
        }
    }
}

/// GET's OUT field.
pub fn put_get_status(b: &mut [u8; SYSCTL_SIZE], s: Status) {
    put(b, off::GET_STATE, &s.to_bytes());
}
pub fn get_status(b: &[u8; SYSCTL_SIZE]) -> Status {
    Status::from_bytes(
        b[off::GET_STATE..off::GET_STATE + STATUS_SIZE]
            .try_into()
            .expect("8"),
    )
}

/// LIST's OUT fields (`version`, remaining `nr`, the two totals).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ListOut {
    pub version: u32,
    pub nr: u32,
    pub name_total_size: u32,
    pub metadata_total_size: u32,
}

pub fn put_list_out(b: &mut [u8; SYSCTL_SIZE], o: ListOut) {
    put(b, off::LIST_VERSION, &o.version.to_le_bytes());
    put(b, off::LIST_NR, &o.nr.to_le_bytes());
    put(b, off::LIST_NAME_TOTAL, &o.name_total_size.to_le_bytes());
    put(
        b,
        off::LIST_METADATA_TOTAL,
        &o.metadata_total_size.to_le_bytes(),
    );
}
pub fn list_out(b: &[u8; SYSCTL_SIZE]) -> ListOut {
    ListOut {
        version: u32_at(b, off::LIST_VERSION),
        nr: u32_at(b, off::LIST_NR),
        name_total_size: u32_at(b, off::LIST_NAME_TOTAL),
        metadata_total_size: u32_at(b, off::LIST_METADATA_TOTAL),
    }
}

/// An action's name as a toolstack prints it.
pub fn action_name(cmd: u32) -> &'static str {
    match cmd {
        ACTION_UNLOAD => "unload",
        ACTION_REVERT => "revert",
        ACTION_APPLY => "apply",
        ACTION_REPLACE => "replace",
        _ => "unknown action",
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} rc={}", self.state_name(), self.rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout facts of Xen 4.17's public sysctl.h (struct xen_sysctl is 136
    /// bytes; the op's union at 8 + 8; handles 8-aligned).
    #[test]
    fn offsets_are_xen_417s() {
        assert_eq!(off::U, 16);
        assert_eq!(off::UPLOAD_PAYLOAD + 8, 16 + 32);
        assert_eq!(off::LIST_METADATA_LEN + 8, 16 + 64);
        assert_eq!(off::ACTION_PAD + 4, 16 + 32);
        const { assert!(off::LIST_METADATA_LEN + 8 <= SYSCTL_SIZE) };
        for h in [
            off::NAME_HANDLE,
            off::UPLOAD_PAYLOAD,
            off::LIST_STATUS,
            off::LIST_NAME,
            off::LIST_LEN,
            off::LIST_METADATA,
            off::LIST_METADATA_LEN,
        ] {
            assert_eq!(h % 8, 0, "guest handles are 8-aligned");
        }
    }

    #[test]
    fn every_request_round_trips() {
        let name = NameRef {
            handle: 0x1000,
            size: 6,
            pad: [0, 1, 2],
        };
        for req in [
            Request::Upload {
                name,
                size: 4096,
                payload: 0x2000,
            },
            Request::Get { name },
            Request::List {
                idx: 3,
                nr: 7,
                pad: 0,
                name_total_size: 96,
                metadata_total_size: 200,
                status: 1,
                name: 2,
                len: 3,
                metadata: 4,
                metadata_len: 5,
            },
            Request::Action {
                name,
                cmd: ACTION_APPLY,
                timeout: 30_000_000,
                flags: ACTION_APPLY_NODEPS,
                pad: 0,
            },
        ] {
            let b = encode(INTERFACE_VERSION_4_17, &req);
            let (h, back) = decode(&b).unwrap();
            assert_eq!(back, req);
            assert_eq!(h.interface_version, 0x15);
            assert_eq!(h.cmd, 27);
        }
    }

    #[test]
    fn known_bytes_of_an_upload() {
        let b = encode(
            INTERFACE_VERSION_4_17,
            &Request::Upload {
                name: NameRef {
                    handle: 0x1122_3344_5566_7788,
                    size: 0x0a,
                    pad: [0; 3],
                },
                size: 0x1234,
                payload: 0xdead_beef,
            },
        );
        let mut want = [0u8; SYSCTL_SIZE];
        want[0] = 27;
        want[4] = 0x15;
        want[16..24].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        want[24] = 0x0a;
        want[32..34].copy_from_slice(&[0x34, 0x12]);
        want[40..44].copy_from_slice(&[0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(b, want);
    }

    #[test]
    fn out_fields() {
        let mut b = [0u8; SYSCTL_SIZE];
        put_get_status(&mut b, Status { state: 2, rc: -11 });
        assert_eq!(get_status(&b), Status { state: 2, rc: -11 });
        assert_eq!(&b[32..40], &[2, 0, 0, 0, 0xf5, 0xff, 0xff, 0xff]);
        let o = ListOut {
            version: 3,
            nr: 1,
            name_total_size: 12,
            metadata_total_size: 40,
        };
        put_list_out(&mut b, o);
        assert_eq!(list_out(&b), o);
        assert_eq!(decode(&b).unwrap_err(), DecodeError::NotLivepatch(0));
    }
}
