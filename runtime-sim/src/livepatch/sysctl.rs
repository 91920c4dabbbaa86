//! The byte interface: `struct xen_sysctl` with `cmd` = `XEN_SYSCTL_livepatch_op`,
//! decoded with `xsplice-abi`, checked in Xen 4.17's order (interface version
//! `EACCES`, `pad` `EINVAL`, names, sizes, handles), handled, and written back.

use xsplice_abi::livepatch::{self as abi, NameRef, Request, SYSCTL_SIZE};

use crate::errno::{Errno, Failure, fail};
use crate::hypercall::GuestMemory;
use crate::hypervisor::Hypervisor;
use crate::policy::{DomId, Need};
use crate::state::PayloadId;

/// The interface version a toolstack of this crate speaks (4.17).
pub const INTERFACE_VERSION: u32 = abi::INTERFACE_VERSION_4_17;

/// Handles one livepatch `struct xen_sysctl` in place. `Ok(n)`: LIST's count, 0
/// otherwise.
pub fn sysctl(
    hv: &mut Hypervisor,
    caller: DomId,
    op: &mut [u8; SYSCTL_SIZE],
    guest: &mut GuestMemory,
) -> Result<u32, Failure> {
    let h = abi::header(op);
    let speaks = hv.config().livepatch_interface_version;
    if h.interface_version != speaks {
        return Err(fail(
            Errno::EACCES,
            format!(
                "interface_version {:#x}, this hypervisor speaks {speaks:#x}",
                h.interface_version
            ),
        ));
    }
    let (h, req) = abi::decode(op).map_err(|e| fail(Errno::EOPNOTSUPP, e.to_string()))?;
    let need = match req {
        Request::Get { .. } | Request::List { .. } => Need::Query,
        _ => Need::Control,
    };
    if !hv.policy().allows(caller, need) {
        return Err(fail(
            Errno::EPERM,
            format!("domain {caller} may not use this livepatch operation"),
        ));
    }
    if h.op_pad != 0 {
        return Err(fail(Errno::EINVAL, "livepatch op: pad must be zero"));
    }
    match req {
        Request::Upload {
            name,
            size,
            payload,
        } => {
            let id = read_name(guest, &name).map_err(|f| fail(Errno::EINVAL, f.why))?;
            if size == 0 || size > abi::MAX_PAYLOAD_SIZE {
                return Err(fail(
                    Errno::EINVAL,
                    format!("{id}: payload size {size} (1..={})", abi::MAX_PAYLOAD_SIZE),
                ));
            }
            let bytes = guest.read(payload, size).ok_or_else(|| {
                fail(
                    Errno::EFAULT,
                    format!(
                        "payload handle {payload:#x} (+{size:#x}) is not readable guest memory"
                    ),
                )
            })?;
            let bytes = bytes.to_vec();
            hv.livepatch_upload(id, &bytes)?;
            Ok(0)
        }
        Request::Get { name } => {
            let id = read_name(guest, &name)?;
            let s = hv.livepatch_get(&id)?;
            abi::put_get_status(op, s);
            Ok(0)
        }
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
            // From 4.21 the totals are IN too: the room of the caller's buffers.
            let room = (speaks >= abi::INTERFACE_VERSION_4_21)
                .then_some((name_total_size, metadata_total_size));
            list(
                hv,
                op,
                guest,
                (idx, nr, pad),
                room,
                [status, name, len, metadata, metadata_len],
            )
        }
        Request::Action {
            name,
            cmd,
            timeout,
            flags,
            pad,
        } => {
            if pad != 0 {
                return Err(fail(Errno::EINVAL, "ACTION: pad must be zero"));
            }
            let id = read_name(guest, &name)?;
            hv.livepatch_action(&id, cmd, timeout, flags)?;
            Ok(0)
        }
    }
}

/// Xen's `get_name`: 1..=128 bytes with the NUL, pad zero, NUL-terminated; the name
/// is what precedes the first NUL.
fn read_name(guest: &GuestMemory, n: &NameRef) -> Result<PayloadId, Failure> {
    if n.size == 0 || usize::from(n.size) > abi::NAME_SIZE || n.pad != [0; 3] {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "name: size {} (1..={}) or pad not zero",
                n.size,
                abi::NAME_SIZE
            ),
        ));
    }
    let raw = guest.read(n.handle, u64::from(n.size)).ok_or_else(|| {
        fail(
            Errno::EFAULT,
            format!("name handle {:#x} is not readable guest memory", n.handle),
        )
    })?;
    if raw.last() != Some(&0) {
        return Err(fail(Errno::EINVAL, "name is not NUL-terminated"));
    }
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    PayloadId::livepatch(&raw[..end])
}

/// LIST. `room`: (Xen 4.21+) the sizes of the caller's name and metadata buffers;
/// an entry that does not fit is `ENOBUFS` and the totals are what was copied.
fn list(
    hv: &Hypervisor,
    op: &mut [u8; SYSCTL_SIZE],
    guest: &mut GuestMemory,
    (idx, nr, pad): (u32, u32, u32),
    room: Option<(u32, u32)>,
    handles: [u64; 5],
) -> Result<u32, Failure> {
    let [status, name, len, metadata, metadata_len] = handles;
    if nr > abi::LIST_MAX {
        return Err(fail(
            Errno::E2BIG,
            format!("LIST: nr {nr} exceeds {}", abi::LIST_MAX),
        ));
    }
    if pad != 0 {
        return Err(fail(Errno::EINVAL, "LIST: pad must be zero"));
    }
    let all = hv.payloads();
    let count = all.len() as u32;
    if nr != 0 {
        let sized = [
            (status, abi::STATUS_SIZE as u64),
            (len, 4),
            (metadata_len, 4),
        ];
        if sized
            .iter()
            .any(|&(h, each)| guest.read(h, each * u64::from(nr)).is_none())
        {
            return Err(fail(
                Errno::EINVAL,
                "LIST: status, len or metadata_len cannot hold nr entries",
            ));
        }
    }
    if idx >= count && count != 0 {
        return Err(fail(
            Errno::EINVAL,
            format!("LIST: idx {idx} is past the {count} payloads"),
        ));
    }
    let entry_sizes =
        |r: &crate::hypervisor::Record| (r.id.as_bytes().len() as u32 + 1, r.metadata.len() as u32);
    let mut out = abi::ListOut {
        version: hv.list_version(),
        nr: count,
        name_total_size: 0,
        metadata_total_size: 0,
    };
    if nr == 0 {
        for r in all {
            let (n, m) = entry_sizes(r);
            out.name_total_size += n;
            out.metadata_total_size += m;
        }
        abi::put_list_out(op, out);
        return Ok(0);
    }
    let (mut name_off, mut meta_off) = (0u64, 0u64);
    let mut written = 0u32;
    for r in all.iter().skip(idx as usize).take(nr as usize) {
        let (n, m) = entry_sizes(r);
        if let Some((names, metas)) = room
            && (out.name_total_size + n > names || out.metadata_total_size + m > metas)
        {
            abi::put_list_out(op, out);
            return Err(fail(
                Errno::ENOBUFS,
                format!("LIST: entry {written} does not fit the caller's name or metadata buffer"),
            ));
        }
        let mut name_bytes = r.id.as_bytes().to_vec();
        name_bytes.push(0);
        let k = u64::from(written);
        let ok = guest.write(status + k * 8, &r.livepatch_status().to_bytes())
            && guest.write(len + k * 4, &n.to_le_bytes())
            && guest.write(metadata_len + k * 4, &m.to_le_bytes())
            && guest.write(name + name_off, &name_bytes)
            && (m == 0 || guest.write(metadata + meta_off, &r.metadata));
        if !ok {
            return Err(fail(
                Errno::EFAULT,
                format!("LIST: entry {written} does not fit the caller's buffers"),
            ));
        }
        name_off += u64::from(n);
        meta_off += u64::from(m);
        out.name_total_size += n;
        out.metadata_total_size += m;
        written += 1;
    }
    out.nr = count - idx - written;
    abi::put_list_out(op, out);
    Ok(written)
}
