//! The byte-exact hypercall entry: `struct xen_sysctl` with `cmd` =
//! `XEN_SYSCTL_xsplice_op`, and the caller's guest memory for the handles.
//!
//! Layouts are those of the design's `xen/include/public/sysctl.h` on x86-64 (the
//! `uint64_aligned_t` fields and 64-bit guest handles make them the same for 32-bit
//! callers); `specs/hypercall.md` lists every offset and tests pin them against gcc.

use crate::errno::{Errno, Failure, fail};
use crate::hypervisor::{Hypervisor, LIST_MAX};
use crate::policy::{DomId, Need};
use crate::state::{Action, ID_SIZE, PayloadId};

pub const XEN_SYSCTL_XSPLICE_OP: u32 = 24;
/// `XEN_SYSCTL_INTERFACE_VERSION` of the Xen tree the design was written against
/// (Xen 4.6).
pub const XEN_SYSCTL_INTERFACE_VERSION: u32 = 0x0000_000C;
/// `sizeof(struct xen_sysctl)`: two `uint32_t` and the 128-byte union.
pub const SYSCTL_SIZE: usize = 136;

pub const XEN_SYSCTL_XSPLICE_UPLOAD: u32 = 0;
pub const XEN_SYSCTL_XSPLICE_GET: u32 = 1;
pub const XEN_SYSCTL_XSPLICE_LIST: u32 = 2;
pub const XEN_SYSCTL_XSPLICE_ACTION: u32 = 3;
/// The design's "querying of the hypervisor ID (TODO)", defined here.
pub const XEN_SYSCTL_XSPLICE_BUILD_ID: u32 = 4;

/// `sizeof(xen_sysctl_xsplice_summary_t)`: `char id[40]; int32_t status;`.
pub const SUMMARY_SIZE: usize = 44;
pub const SUMMARY_STATUS: usize = 40;

/// Byte offsets inside `struct xen_sysctl`.
pub mod off {
    pub const CMD: usize = 0;
    pub const INTERFACE_VERSION: usize = 4;
    /// `u.xsplice.cmd`.
    pub const OP_CMD: usize = 8;
    /// `u.xsplice.u` (8-aligned: the union holds 64-bit fields).
    pub const OP_U: usize = 16;
    pub const UPLOAD_ID: usize = OP_U;
    pub const UPLOAD_SIZE: usize = OP_U + 40;
    pub const UPLOAD_PAYLOAD: usize = OP_U + 48;
    pub const GET_ID: usize = OP_U;
    pub const GET_STATUS: usize = OP_U + 40;
    pub const LIST_VERSION: usize = OP_U;
    pub const LIST_IDX: usize = OP_U + 4;
    pub const LIST_NR: usize = OP_U + 8;
    pub const LIST_SUMMARY: usize = OP_U + 16;
    pub const ACTION_ID: usize = OP_U;
    pub const ACTION_CMD: usize = OP_U + 40;
    pub const ACTION_TIME: usize = OP_U + 48;
    pub const BUILD_ID_LEN: usize = OP_U;
    pub const BUILD_ID_PAD: usize = OP_U + 4;
    pub const BUILD_ID_VAL: usize = OP_U + 8;
}

/// The caller's memory: what guest handles point into. Address 0 is never mapped
/// (a NULL handle).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestMemory {
    regions: Vec<(u64, Vec<u8>)>,
    next: u64,
}

impl GuestMemory {
    pub fn new() -> GuestMemory {
        GuestMemory {
            regions: Vec::new(),
            next: 0x10_0000,
        }
    }

    /// Places `bytes` at a fresh address and returns it.
    pub fn alloc(&mut self, bytes: &[u8]) -> u64 {
        let at = self.next.max(0x10_0000);
        self.regions.push((at, bytes.to_vec()));
        self.next = (at + bytes.len() as u64 + 0x1000).next_multiple_of(0x1000);
        at
    }

    /// Maps `bytes` at `addr` (tests use it to build handles that cross holes).
    pub fn insert(&mut self, addr: u64, bytes: Vec<u8>) {
        self.regions.retain(|(a, _)| *a != addr);
        self.regions.push((addr, bytes));
    }

    fn locate(&self, addr: u64, len: u64) -> Option<(usize, usize)> {
        if addr == 0 {
            return None;
        }
        self.regions.iter().enumerate().find_map(|(i, (a, b))| {
            let off = addr.checked_sub(*a)?;
            (off.checked_add(len)? <= b.len() as u64).then_some((i, off as usize))
        })
    }

    /// `copy_from_guest`: the bytes if all lie in one mapped region.
    pub fn read(&self, addr: u64, len: u64) -> Option<&[u8]> {
        let (i, off) = self.locate(addr, len)?;
        Some(&self.regions[i].1[off..off + len as usize])
    }

    /// `copy_to_guest`: false (nothing written) if the range is not mapped.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> bool {
        match self.locate(addr, bytes.len() as u64) {
            Some((i, off)) => {
                self.regions[i].1[off..off + bytes.len()].copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn id_at(b: &[u8], at: usize) -> [u8; ID_SIZE] {
    b[at..at + ID_SIZE].try_into().expect("40 bytes")
}

/// `do_sysctl` with the structure at a guest address: copied in, handled, copied
/// back (also on error, as Xen does for this sub-op). Returns the hypercall's value:
/// ≥ 0 on success, `-errno` otherwise.
pub fn do_sysctl(hv: &mut Hypervisor, caller: DomId, guest: &mut GuestMemory, addr: u64) -> i64 {
    match do_sysctl_explained(hv, caller, guest, addr) {
        Ok(n) => i64::from(n),
        Err(f) => i64::from(f.errno.negative()),
    }
}

/// [`do_sysctl`], keeping the hypervisor's explanation of a refusal.
pub fn do_sysctl_explained(
    hv: &mut Hypervisor,
    caller: DomId,
    guest: &mut GuestMemory,
    addr: u64,
) -> Result<u32, Failure> {
    let Some(raw) = guest.read(addr, SYSCTL_SIZE as u64) else {
        return Err(fail(
            Errno::EFAULT,
            format!("struct xen_sysctl at {addr:#x} is not readable guest memory"),
        ));
    };
    let mut op: [u8; SYSCTL_SIZE] = raw.try_into().expect("SYSCTL_SIZE bytes");
    let r = sysctl(hv, caller, &mut op, guest);
    if !guest.write(addr, &op) {
        return Err(fail(
            Errno::EFAULT,
            format!("struct xen_sysctl at {addr:#x} is not writable guest memory"),
        ));
    }
    r
}

/// Handles one `struct xen_sysctl` in place. `Ok(n)` is the non-negative return
/// value (LIST: the number of summaries written; others 0).
pub fn sysctl(
    hv: &mut Hypervisor,
    caller: DomId,
    op: &mut [u8; SYSCTL_SIZE],
    guest: &mut GuestMemory,
) -> Result<u32, Failure> {
    let cmd = u32_at(op, off::CMD);
    if hv.interface() == crate::livepatch::Interface::Livepatch {
        if cmd != xsplice_abi::livepatch::XEN_SYSCTL_LIVEPATCH_OP {
            return Err(fail(
                Errno::ENOSYS,
                format!("sysctl {cmd} is not simulated (this hypervisor speaks livepatch)"),
            ));
        }
        return crate::livepatch::sysctl::sysctl(hv, caller, op, guest);
    }
    if u32_at(op, off::INTERFACE_VERSION) != XEN_SYSCTL_INTERFACE_VERSION {
        return Err(fail(
            Errno::EACCES,
            format!(
                "interface_version {:#x}, this hypervisor speaks {XEN_SYSCTL_INTERFACE_VERSION:#x}",
                u32_at(op, off::INTERFACE_VERSION)
            ),
        ));
    }
    if cmd != XEN_SYSCTL_XSPLICE_OP {
        return Err(fail(
            Errno::ENOSYS,
            format!("sysctl {cmd} is not simulated"),
        ));
    }
    let sub = u32_at(op, off::OP_CMD);
    let need = match sub {
        XEN_SYSCTL_XSPLICE_GET | XEN_SYSCTL_XSPLICE_LIST | XEN_SYSCTL_XSPLICE_BUILD_ID => {
            Need::Query
        }
        _ => Need::Control,
    };
    if !hv.policy().allows(caller, need) {
        return Err(fail(
            Errno::EPERM,
            format!("domain {caller} may not use this xsplice operation"),
        ));
    }
    match sub {
        XEN_SYSCTL_XSPLICE_UPLOAD => upload(hv, op, guest).map(|()| 0),
        XEN_SYSCTL_XSPLICE_GET => get(hv, op).map(|()| 0),
        XEN_SYSCTL_XSPLICE_LIST => list(hv, op, guest),
        XEN_SYSCTL_XSPLICE_ACTION => action(hv, op).map(|()| 0),
        XEN_SYSCTL_XSPLICE_BUILD_ID => build_id(hv, op, guest).map(|()| 0),
        other => Err(fail(
            Errno::ENOSYS,
            format!("unknown xsplice sub-operation {other}"),
        )),
    }
}

fn upload(hv: &mut Hypervisor, op: &[u8], guest: &GuestMemory) -> Result<(), Failure> {
    let id = PayloadId::from_raw(id_at(op, off::UPLOAD_ID))?;
    let size = u64_at(op, off::UPLOAD_SIZE);
    if size == 0 {
        return Err(fail(Errno::EINVAL, "payload size is 0"));
    }
    let limit = hv.config().max_payload_size;
    if size > limit {
        return Err(fail(
            Errno::E2BIG,
            format!("payload of {size} bytes exceeds the {limit}-byte limit"),
        ));
    }
    if hv.payload(&id).is_some() {
        return Err(fail(
            Errno::EEXIST,
            format!("a payload `{id}` is already loaded"),
        ));
    }
    let handle = u64_at(op, off::UPLOAD_PAYLOAD);
    let bytes = guest.read(handle, size).ok_or_else(|| {
        fail(
            Errno::EFAULT,
            format!("payload handle {handle:#x} (+{size:#x}) is not readable guest memory"),
        )
    })?;
    hv.upload(id, bytes)
}

fn get(hv: &Hypervisor, op: &mut [u8]) -> Result<(), Failure> {
    if u32_at(op, off::GET_STATUS) != 0 {
        return Err(fail(Errno::EINVAL, "GET: status must be 0 on input"));
    }
    let id = PayloadId::from_raw(id_at(op, off::GET_ID))?;
    let status = hv.get(&id)?;
    op[off::GET_STATUS..off::GET_STATUS + 4].copy_from_slice(&status.code().to_le_bytes());
    Ok(())
}

fn list(hv: &Hypervisor, op: &mut [u8], guest: &mut GuestMemory) -> Result<u32, Failure> {
    let nr = u32_at(op, off::LIST_NR);
    if nr > LIST_MAX {
        return Err(fail(
            Errno::E2BIG,
            format!("LIST: nr {nr} exceeds the limit of {LIST_MAX}"),
        ));
    }
    let handle = u64_at(op, off::LIST_SUMMARY);
    if handle == 0 {
        return Err(fail(Errno::EINVAL, "LIST: summary handle is NULL"));
    }
    let idx = u32_at(op, off::LIST_IDX);
    let all = hv.payloads();
    let count = all.len() as u32;
    if idx > count {
        return Err(fail(
            Errno::EINVAL,
            format!("LIST: idx {idx} is past the {count} payloads"),
        ));
    }
    let mut written = 0u32;
    for r in all.iter().skip(idx as usize).take(nr as usize) {
        let mut s = [0u8; SUMMARY_SIZE];
        s[..ID_SIZE].copy_from_slice(&r.id.raw());
        s[SUMMARY_STATUS..].copy_from_slice(&r.status().code().to_le_bytes());
        let at = handle.wrapping_add(u64::from(written) * SUMMARY_SIZE as u64);
        if !guest.write(at, &s) {
            return Err(fail(
                Errno::EFAULT,
                format!("LIST: summary {written} at {at:#x} is not writable guest memory"),
            ));
        }
        written += 1;
    }
    put_u32(op, off::LIST_VERSION, hv.version());
    put_u32(op, off::LIST_IDX, written);
    put_u32(op, off::LIST_NR, count - idx - written);
    Ok(written)
}

fn action(hv: &mut Hypervisor, op: &[u8]) -> Result<(), Failure> {
    let id = PayloadId::from_raw(id_at(op, off::ACTION_ID))?;
    let cmd = u32_at(op, off::ACTION_CMD);
    let time = u64_at(op, off::ACTION_TIME);
    let Some(action) = Action::from_code(cmd) else {
        // Unknown ids are reported before unknown commands, as in the design's code.
        hv.get(&id)?;
        return Err(fail(Errno::EINVAL, format!("unknown action {cmd}")));
    };
    hv.action(&id, action, time)
}

fn build_id(hv: &Hypervisor, op: &mut [u8], guest: &mut GuestMemory) -> Result<(), Failure> {
    if u32_at(op, off::BUILD_ID_PAD) != 0 {
        return Err(fail(Errno::EINVAL, "BUILD_ID: pad must be 0"));
    }
    let have = u32_at(op, off::BUILD_ID_LEN);
    let id = hv.build_id().to_vec();
    let handle = u64_at(op, off::BUILD_ID_VAL);
    put_u32(op, off::BUILD_ID_LEN, id.len() as u32);
    if handle == 0 {
        return Ok(());
    }
    if (have as usize) < id.len() {
        return Err(fail(
            Errno::ENOBUFS,
            format!(
                "BUILD_ID: buffer of {have} bytes, the build-id has {}",
                id.len()
            ),
        ));
    }
    if !guest.write(handle, &id) {
        return Err(fail(
            Errno::EFAULT,
            format!("BUILD_ID: handle {handle:#x} is not writable guest memory"),
        ));
    }
    Ok(())
}
