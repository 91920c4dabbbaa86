//! A toolstack for the livepatch interface, as libxc's `xc_livepatch_*`: each call
//! builds `struct xen_sysctl` with `xsplice-abi` in the caller's guest memory and
//! goes through the byte entry [`crate::hypercall::do_sysctl`].

use xsplice_abi::livepatch::{self as abi, NameRef, Request};

use super::sysctl::INTERFACE_VERSION;
use crate::client::HypercallError;
use crate::errno::Errno;
use crate::hypercall::{self, GuestMemory};
use crate::hypervisor::Hypervisor;
use crate::policy::DomId;

/// One LIST entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub status: abi::Status,
    /// `.modinfo`, NUL-separated.
    pub metadata: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct LivepatchClient {
    pub domain: DomId,
    pub guest: GuestMemory,
    /// `XEN_SYSCTL_INTERFACE_VERSION` of every request (0x15: Xen 4.17–4.20).
    pub interface_version: u32,
}

impl LivepatchClient {
    pub fn new(domain: DomId) -> LivepatchClient {
        LivepatchClient {
            domain,
            guest: GuestMemory::new(),
            interface_version: INTERFACE_VERSION,
        }
    }

    fn name(&mut self, name: &str) -> NameRef {
        let mut b = name.as_bytes().to_vec();
        b.push(0);
        NameRef {
            handle: self.guest.alloc(&b),
            size: b.len() as u16,
            pad: [0; 3],
        }
    }

    /// Issues one request; the value and the structure as written back.
    pub fn call(
        &mut self,
        hv: &mut Hypervisor,
        req: &Request,
    ) -> (Result<u32, HypercallError>, [u8; abi::SYSCTL_SIZE]) {
        let op = abi::encode(self.interface_version, req);
        let addr = self.guest.alloc(&op);
        let r = hypercall::do_sysctl_explained(hv, self.domain, &mut self.guest, addr);
        let out: [u8; abi::SYSCTL_SIZE] = self
            .guest
            .read(addr, abi::SYSCTL_SIZE as u64)
            .expect("just allocated")
            .try_into()
            .expect("SYSCTL_SIZE bytes");
        let r = r.map_err(|f| HypercallError {
            errno: f.errno,
            why: Some(f.why),
        });
        (r, out)
    }

    pub fn upload(
        &mut self,
        hv: &mut Hypervisor,
        name: &str,
        payload: &[u8],
    ) -> Result<(), HypercallError> {
        let name = self.name(name);
        let handle = self.guest.alloc(payload);
        let req = Request::Upload {
            name,
            size: payload.len() as u64,
            payload: handle,
        };
        self.call(hv, &req).0.map(|_| ())
    }

    pub fn get(&mut self, hv: &mut Hypervisor, name: &str) -> Result<abi::Status, HypercallError> {
        let name = self.name(name);
        let (r, out) = self.call(hv, &Request::Get { name });
        r.map(|_| abi::get_status(&out))
    }

    pub fn action(
        &mut self,
        hv: &mut Hypervisor,
        name: &str,
        cmd: u32,
        timeout_ns: u32,
        flags: u32,
    ) -> Result<(), HypercallError> {
        let name = self.name(name);
        let req = Request::Action {
            name,
            cmd,
            timeout: timeout_ns,
            flags,
            pad: 0,
        };
        self.call(hv, &req).0.map(|_| ())
    }

    /// Every payload: the sizes first (`nr` 0), then one call for all.
    pub fn list(&mut self, hv: &mut Hypervisor) -> Result<Vec<Listed>, HypercallError> {
        let req = |idx, nr, h: [u64; 5], room: (u32, u32)| Request::List {
            idx,
            nr,
            pad: 0,
            name_total_size: room.0,
            metadata_total_size: room.1,
            status: h[0],
            name: h[1],
            len: h[2],
            metadata: h[3],
            metadata_len: h[4],
        };
        let (r, out) = self.call(hv, &req(0, 0, [0; 5], (0, 0)));
        r?;
        let sizes = abi::list_out(&out);
        let n = sizes.nr;
        if n == 0 {
            return Ok(Vec::new());
        }
        let bufs = [
            self.guest.alloc(&vec![0; n as usize * abi::STATUS_SIZE]),
            self.guest.alloc(&vec![0; sizes.name_total_size as usize]),
            self.guest.alloc(&vec![0; n as usize * 4]),
            self.guest
                .alloc(&vec![0; sizes.metadata_total_size.max(1) as usize]),
            self.guest.alloc(&vec![0; n as usize * 4]),
        ];
        // From 4.21 the totals are IN too: the room of the buffers.
        let room = if self.interface_version >= abi::INTERFACE_VERSION_4_21 {
            (sizes.name_total_size, sizes.metadata_total_size.max(1))
        } else {
            (0, 0)
        };
        let (r, _) = self.call(hv, &req(0, n, bufs, room));
        let got = r?;
        let rd = |g: &GuestMemory, at: u64, len: u64| g.read(at, len).map(<[u8]>::to_vec);
        let mut out = Vec::new();
        let (mut name_off, mut meta_off) = (0u64, 0u64);
        for k in 0..u64::from(got) {
            let fail = || HypercallError {
                errno: Errno::EFAULT,
                why: Some("LIST wrote outside the buffers".into()),
            };
            let word = |g: &GuestMemory, at| {
                rd(g, at, 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")))
            };
            let st = rd(&self.guest, bufs[0] + k * 8, 8).ok_or_else(fail)?;
            let len = word(&self.guest, bufs[2] + k * 4).ok_or_else(fail)?;
            let mlen = word(&self.guest, bufs[4] + k * 4).ok_or_else(fail)?;
            let name = rd(&self.guest, bufs[1] + name_off, u64::from(len)).ok_or_else(fail)?;
            let metadata = if mlen == 0 {
                Vec::new()
            } else {
                rd(&self.guest, bufs[3] + meta_off, u64::from(mlen)).ok_or_else(fail)?
            };
            name_off += u64::from(len);
            meta_off += u64::from(mlen);
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.push(Listed {
                name: String::from_utf8_lossy(&name[..end]).into_owned(),
                status: abi::Status::from_bytes(st.try_into().expect("8")),
                metadata,
            });
        }
        Ok(out)
    }
}
