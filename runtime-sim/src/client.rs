//! A typed toolstack on top of the byte interface: every call builds a real
//! `struct xen_sysctl` in the caller's guest memory and goes through
//! [`hypercall::do_sysctl`], as libxc does.

use crate::errno::{Errno, Failure};
use crate::hypercall::{self, GuestMemory, SUMMARY_SIZE, SUMMARY_STATUS, SYSCTL_SIZE, off};
use crate::hypervisor::{Hypervisor, LIST_MAX};
use crate::policy::DomId;
use crate::state::{Action, ID_SIZE, PayloadId, Status};

/// One entry of LIST.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub id: PayloadId,
    pub status: Status,
}

/// The result of one LIST call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    pub version: u32,
    pub entries: Vec<Summary>,
    /// Payloads after this page.
    pub remaining: u32,
}

/// A hypercall refused: the errno, and the hypervisor's explanation when it gave one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}{}", why.as_ref().map(|w| format!(": {w}")).unwrap_or_default())]
pub struct HypercallError {
    pub errno: Errno,
    pub why: Option<String>,
}

/// A calling domain with its own guest memory.
#[derive(Clone, Debug)]
pub struct Client {
    pub domain: DomId,
    pub guest: GuestMemory,
    /// Explanation of the most recent refusal (not part of the ABI: read from the
    /// simulator's log of the call).
    last_why: Option<String>,
}

impl Client {
    pub fn new(domain: DomId) -> Client {
        Client {
            domain,
            guest: GuestMemory::new(),
            last_why: None,
        }
    }

    fn header(sub: u32) -> [u8; SYSCTL_SIZE] {
        let mut op = [0u8; SYSCTL_SIZE];
        op[off::CMD..off::CMD + 4].copy_from_slice(&hypercall::XEN_SYSCTL_XSPLICE_OP.to_le_bytes());
        op[off::INTERFACE_VERSION..off::INTERFACE_VERSION + 4]
            .copy_from_slice(&hypercall::XEN_SYSCTL_INTERFACE_VERSION.to_le_bytes());
        op[off::OP_CMD..off::OP_CMD + 4].copy_from_slice(&sub.to_le_bytes());
        op
    }

    /// Issues a raw `struct xen_sysctl`; returns the structure as copied back.
    pub fn raw(
        &mut self,
        hv: &mut Hypervisor,
        op: [u8; SYSCTL_SIZE],
    ) -> (Result<u32, HypercallError>, [u8; SYSCTL_SIZE]) {
        let addr = self.guest.alloc(&op);
        let r = hypercall::do_sysctl_explained(hv, self.domain, &mut self.guest, addr);
        let out: [u8; SYSCTL_SIZE] = self
            .guest
            .read(addr, SYSCTL_SIZE as u64)
            .expect("the structure stays mapped")
            .try_into()
            .expect("SYSCTL_SIZE bytes");
        match r {
            Ok(n) => {
                self.last_why = None;
                (Ok(n), out)
            }
            Err(Failure { errno, why }) => {
                self.last_why = Some(why.clone());
                (
                    Err(HypercallError {
                        errno,
                        why: Some(why),
                    }),
                    out,
                )
            }
        }
    }

    pub fn upload(
        &mut self,
        hv: &mut Hypervisor,
        id: &str,
        payload: &[u8],
    ) -> Result<(), HypercallError> {
        let id = parse_id(id)?;
        let mut op = Self::header(hypercall::XEN_SYSCTL_XSPLICE_UPLOAD);
        op[off::UPLOAD_ID..off::UPLOAD_ID + ID_SIZE].copy_from_slice(&id.raw());
        op[off::UPLOAD_SIZE..off::UPLOAD_SIZE + 8]
            .copy_from_slice(&(payload.len() as u64).to_le_bytes());
        let handle = self.guest.alloc(payload);
        op[off::UPLOAD_PAYLOAD..off::UPLOAD_PAYLOAD + 8].copy_from_slice(&handle.to_le_bytes());
        self.raw(hv, op).0.map(|_| ())
    }

    pub fn get(&mut self, hv: &mut Hypervisor, id: &str) -> Result<Status, HypercallError> {
        let id = parse_id(id)?;
        let mut op = Self::header(hypercall::XEN_SYSCTL_XSPLICE_GET);
        op[off::GET_ID..off::GET_ID + ID_SIZE].copy_from_slice(&id.raw());
        let (r, out) = self.raw(hv, op);
        r?;
        let code = i32::from_le_bytes(
            out[off::GET_STATUS..off::GET_STATUS + 4]
                .try_into()
                .expect("4"),
        );
        Status::from_code(code).ok_or(HypercallError {
            errno: Errno::EINVAL,
            why: Some(format!("hypervisor returned unknown status {code}")),
        })
    }

    /// One LIST call starting at `idx` for at most `nr` summaries.
    pub fn list_page(
        &mut self,
        hv: &mut Hypervisor,
        idx: u32,
        nr: u32,
    ) -> Result<ListPage, HypercallError> {
        let mut op = Self::header(hypercall::XEN_SYSCTL_XSPLICE_LIST);
        op[off::LIST_IDX..off::LIST_IDX + 4].copy_from_slice(&idx.to_le_bytes());
        op[off::LIST_NR..off::LIST_NR + 4].copy_from_slice(&nr.to_le_bytes());
        let buf = self
            .guest
            .alloc(&vec![0u8; (nr.max(1) as usize) * SUMMARY_SIZE]);
        op[off::LIST_SUMMARY..off::LIST_SUMMARY + 8].copy_from_slice(&buf.to_le_bytes());
        let (r, out) = self.raw(hv, op);
        let n = r?;
        let rd = |at: usize| u32::from_le_bytes(out[at..at + 4].try_into().expect("4"));
        let raw = self
            .guest
            .read(buf, u64::from(n) * SUMMARY_SIZE as u64)
            .expect("the hypervisor wrote inside the buffer")
            .to_vec();
        let entries = raw
            .chunks(SUMMARY_SIZE)
            .map(|c| {
                let code = i32::from_le_bytes(c[SUMMARY_STATUS..].try_into().expect("4"));
                Summary {
                    id: PayloadId::from_raw(c[..ID_SIZE].try_into().expect("40"))
                        .unwrap_or(PayloadId([0; crate::state::MAX_ID_SIZE])),
                    status: Status::from_code(code).unwrap_or(Status::Error(Errno(-code))),
                }
            })
            .collect();
        Ok(ListPage {
            version: rd(off::LIST_VERSION),
            entries,
            remaining: rd(off::LIST_NR),
        })
    }

    /// Every payload, paging `batch` at a time and starting over when `version`
    /// changes between pages (at most 4 times, then `EBUSY`).
    pub fn list(
        &mut self,
        hv: &mut Hypervisor,
        batch: u32,
    ) -> Result<Vec<Summary>, HypercallError> {
        let batch = batch.clamp(1, LIST_MAX);
        let mut retries = 0;
        'again: loop {
            let mut out = Vec::new();
            let mut version = None;
            loop {
                let page = self.list_page(hv, out.len() as u32, batch)?;
                if version.is_some_and(|v| v != page.version) {
                    retries += 1;
                    if retries > 4 {
                        return Err(HypercallError {
                            errno: Errno::EBUSY,
                            why: Some("the payload list kept changing".into()),
                        });
                    }
                    continue 'again;
                }
                version = Some(page.version);
                let done = page.entries.is_empty() || page.remaining == 0;
                out.extend(page.entries);
                if done {
                    return Ok(out);
                }
            }
        }
    }

    pub fn action(
        &mut self,
        hv: &mut Hypervisor,
        id: &str,
        action: Action,
        time_ms: u64,
    ) -> Result<(), HypercallError> {
        let id = parse_id(id)?;
        let mut op = Self::header(hypercall::XEN_SYSCTL_XSPLICE_ACTION);
        op[off::ACTION_ID..off::ACTION_ID + ID_SIZE].copy_from_slice(&id.raw());
        op[off::ACTION_CMD..off::ACTION_CMD + 4].copy_from_slice(&action.code().to_le_bytes());
        op[off::ACTION_TIME..off::ACTION_TIME + 8].copy_from_slice(&time_ms.to_le_bytes());
        self.raw(hv, op).0.map(|_| ())
    }

    /// The running hypervisor's build-id.
    pub fn build_id(&mut self, hv: &mut Hypervisor) -> Result<Vec<u8>, HypercallError> {
        let mut op = Self::header(hypercall::XEN_SYSCTL_XSPLICE_BUILD_ID);
        let buf = self.guest.alloc(&[0u8; 64]);
        op[off::BUILD_ID_LEN..off::BUILD_ID_LEN + 4].copy_from_slice(&64u32.to_le_bytes());
        op[off::BUILD_ID_VAL..off::BUILD_ID_VAL + 8].copy_from_slice(&buf.to_le_bytes());
        let (r, out) = self.raw(hv, op);
        r?;
        let len = u32::from_le_bytes(
            out[off::BUILD_ID_LEN..off::BUILD_ID_LEN + 4]
                .try_into()
                .expect("4"),
        );
        Ok(self
            .guest
            .read(buf, u64::from(len))
            .expect("the hypervisor wrote inside the buffer")
            .to_vec())
    }

    /// The explanation of the last refusal.
    pub fn last_why(&self) -> Option<&str> {
        self.last_why.as_deref()
    }
}

fn parse_id(id: &str) -> Result<PayloadId, HypercallError> {
    PayloadId::new(id).map_err(|f| HypercallError {
        errno: f.errno,
        why: Some(f.why),
    })
}
