//! Typed livepatch sub-operations over a [`Transport`], every structure encoded with
//! `xsplice-abi` (the same definition runtime-sim decodes with).

use xsplice_abi::livepatch::{self as abi, NameRef, Request, Status};

use crate::errno::Errno;
use crate::transport::{Transport, TransportError};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The hypervisor's answer: `-errno`.
    #[error("{0}")]
    Hypervisor(Errno),
}

impl CallError {
    pub fn errno(&self) -> Option<Errno> {
        match self {
            CallError::Hypervisor(e) => Some(e),
            CallError::Transport(_) => None,
        }
        .copied()
    }
}

/// One LIST entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub status: Status,
    /// `.modinfo` as Xen keeps it: NUL-separated `key=value` strings.
    pub metadata: Vec<u8>,
}

impl Listed {
    /// The metadata with its interior NULs shown as `;` (as `xen-livepatch list`).
    pub fn metadata_text(&self) -> String {
        let m = self.metadata.strip_suffix(&[0]).unwrap_or(&self.metadata);
        String::from_utf8_lossy(m).replace('\0', ";")
    }
}

/// How many times LIST starts over when the payload list changes while it pages
/// through it (libxc gives up after a few, too).
pub const LIST_RESTARTS: usize = 5;

/// A livepatch toolstack on a transport.
pub struct Client<'t> {
    t: &'t mut dyn Transport,
    /// `XEN_SYSCTL_INTERFACE_VERSION` put in every request.
    pub interface_version: u32,
    /// The version was settled by a first call (see [`Client::call`]).
    negotiated: bool,
    /// Most entries asked for in one LIST call.
    pub page: u32,
}

/// A name as Xen takes it: its bytes and a NUL.
fn name_bytes(name: &str) -> Vec<u8> {
    let mut b = name.as_bytes().to_vec();
    b.push(0);
    b
}

fn name_ref(handle: u64, bytes: &[u8]) -> NameRef {
    NameRef {
        handle,
        size: bytes.len() as u16,
        pad: [0; 3],
    }
}

impl<'t> Client<'t> {
    pub fn new(t: &'t mut dyn Transport) -> Client<'t> {
        Client {
            t,
            interface_version: abi::INTERFACE_VERSION_4_17,
            negotiated: false,
            page: 64,
        }
    }

    pub fn transport(&mut self) -> &mut dyn Transport {
        self.t
    }

    /// One sysctl. Xen refuses another interface version with `EACCES`: the first
    /// time, the call is retried with the other version this tool speaks (0x15 for
    /// Xen 4.17–4.20, 0x16 from 4.21), which is kept for the calls after it.
    fn call(
        &mut self,
        buffers: &mut [Vec<u8>],
        req: &dyn Fn(&[u64], u32) -> Request,
    ) -> Result<(u32, [u8; abi::SYSCTL_SIZE]), CallError> {
        let v = self.interface_version;
        let mut reply = self.t.sysctl(buffers, &|a| abi::encode(v, &req(a, v)))?;
        if reply.ret == -i64::from(Errno::EACCES.0) && !self.negotiated {
            let other = if v == abi::INTERFACE_VERSION_4_17 {
                abi::INTERFACE_VERSION_4_21
            } else {
                abi::INTERFACE_VERSION_4_17
            };
            let again = self
                .t
                .sysctl(buffers, &|a| abi::encode(other, &req(a, other)))?;
            if again.ret != -i64::from(Errno::EACCES.0) {
                self.interface_version = other;
                reply = again;
            }
        }
        self.negotiated = true;
        if reply.ret < 0 {
            return Err(CallError::Hypervisor(Errno::from_negative(reply.ret)));
        }
        Ok((u32::try_from(reply.ret).unwrap_or(u32::MAX), reply.op))
    }

    /// UPLOAD `bytes` as `name`.
    pub fn upload(&mut self, name: &str, bytes: &[u8]) -> Result<(), CallError> {
        let n = name_bytes(name);
        let size = bytes.len() as u64;
        let mut bufs = [n.clone(), bytes.to_vec()];
        self.call(&mut bufs, &|a, _| Request::Upload {
            name: name_ref(a[0], &n),
            size,
            payload: a[1],
        })
        .map(|_| ())
    }

    /// GET: the payload's state and the result of its last action.
    pub fn get(&mut self, name: &str) -> Result<Status, CallError> {
        let n = name_bytes(name);
        let mut bufs = [n.clone()];
        let (_, op) = self.call(&mut bufs, &|a, _| Request::Get {
            name: name_ref(a[0], &n),
        })?;
        Ok(abi::get_status(&op))
    }

    /// ACTION `cmd` (`abi::ACTION_*`) with a timeout in nanoseconds (0: Xen's
    /// default, 30 ms) and flags (`ACTION_APPLY_NODEPS`).
    pub fn action(
        &mut self,
        name: &str,
        cmd: u32,
        timeout_ns: u32,
        flags: u32,
    ) -> Result<(), CallError> {
        let n = name_bytes(name);
        let mut bufs = [n.clone()];
        self.call(&mut bufs, &|a, _| Request::Action {
            name: name_ref(a[0], &n),
            cmd,
            timeout: timeout_ns,
            flags,
            pad: 0,
        })
        .map(|_| ())
    }

    fn list_call(
        &mut self,
        idx: u32,
        nr: u32,
        bufs: &mut [Vec<u8>],
    ) -> Result<(u32, abi::ListOut), CallError> {
        let bufs_len: Vec<u32> = bufs.iter().map(|b| b.len() as u32).collect();
        // From 4.21 (0x16) the totals are IN too: the room of our buffers.
        let room = |v: u32, k: usize| {
            if v >= abi::INTERFACE_VERSION_4_21 && nr > 0 {
                bufs_len[k]
            } else {
                0
            }
        };
        let (n, op) = self.call(bufs, &|a, v| Request::List {
            idx,
            nr,
            pad: 0,
            name_total_size: room(v, 1),
            metadata_total_size: room(v, 3),
            status: a.first().copied().unwrap_or(0),
            name: a.get(1).copied().unwrap_or(0),
            len: a.get(2).copied().unwrap_or(0),
            metadata: a.get(3).copied().unwrap_or(0),
            metadata_len: a.get(4).copied().unwrap_or(0),
        })?;
        Ok((n, abi::list_out(&op)))
    }

    /// Every loaded payload, in upload order: the sizes first (`nr` 0), then pages
    /// of at most [`Client::page`] entries (halved on `E2BIG`); when the list's
    /// `version` changes between pages it starts over, at most [`LIST_RESTARTS`]
    /// times (then `EBUSY`).
    pub fn list(&mut self) -> Result<Vec<Listed>, CallError> {
        'restart: for _ in 0..LIST_RESTARTS {
            let (_, sizes) = self.list_call(0, 0, &mut [])?;
            let count = sizes.nr;
            let mut out = Vec::new();
            let mut batch = self.page.clamp(1, abi::LIST_MAX);
            while (out.len() as u32) < count {
                let idx = out.len() as u32;
                let nr = batch.min(count - idx);
                let mut bufs = vec![
                    vec![0u8; nr as usize * abi::STATUS_SIZE],
                    vec![0u8; sizes.name_total_size.max(1) as usize],
                    vec![0u8; nr as usize * 4],
                    vec![0u8; sizes.metadata_total_size.max(1) as usize],
                    vec![0u8; nr as usize * 4],
                ];
                let (got, o) = match self.list_call(idx, nr, &mut bufs) {
                    Err(CallError::Hypervisor(Errno::E2BIG)) if nr > 1 => {
                        batch = nr / 2;
                        continue;
                    }
                    // Entries went away under our feet: start over.
                    Err(CallError::Hypervisor(Errno::EINVAL)) if idx > 0 => continue 'restart,
                    r => r?,
                };
                if o.version != sizes.version || got == 0 {
                    continue 'restart;
                }
                if got > nr {
                    return Err(CallError::Hypervisor(Errno::EOVERFLOW));
                }
                let word = |b: &[u8], k: usize| {
                    u32::from_le_bytes(b[4 * k..4 * k + 4].try_into().expect("4 bytes")) as usize
                };
                let (mut name_at, mut meta_at) = (0usize, 0usize);
                for k in 0..got as usize {
                    let (len, mlen) = (word(&bufs[2], k), word(&bufs[4], k));
                    let name = bufs[1]
                        .get(name_at..name_at + len)
                        .ok_or(CallError::Hypervisor(Errno::EOVERFLOW))?;
                    let meta = if mlen == 0 {
                        &[][..]
                    } else {
                        bufs[3]
                            .get(meta_at..meta_at + mlen)
                            .ok_or(CallError::Hypervisor(Errno::EOVERFLOW))?
                    };
                    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                    let st = &bufs[0][k * abi::STATUS_SIZE..(k + 1) * abi::STATUS_SIZE];
                    out.push(Listed {
                        name: String::from_utf8_lossy(&name[..end]).into_owned(),
                        status: Status::from_bytes(st.try_into().expect("8 bytes")),
                        metadata: meta.to_vec(),
                    });
                    name_at += len;
                    meta_at += mlen;
                }
            }
            return Ok(out);
        }
        Err(CallError::Hypervisor(Errno::EBUSY))
    }
}
