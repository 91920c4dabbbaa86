//! The real transport: Linux's privcmd driver in a Xen domain (dom0).
//!
//! Facts (Linux `include/uapi/xen/privcmd.h`, `drivers/xen/privcmd-buf.c`; Xen
//! `tools/libs/call/linux.c`; summarised in `specs/hypercall.md`, "Reaching the
//! hypervisor from dom0"), written here from scratch:
//!
//! - `/dev/xen/privcmd` (older kernels: `/proc/xen/privcmd`) takes the ioctl
//!   `IOCTL_PRIVCMD_HYPERCALL` = `_IOC(_IOC_NONE, 'P', 0, 48)` = `0x305000` whose
//!   argument is `{ u64 op; u64 arg[5]; }` (48 bytes). The ioctl's result is the
//!   hypercall's: a negative value comes back as `-1` with `errno` set to it.
//! - Hypercall arguments are guest virtual addresses that Xen reads and writes
//!   while the hypercall runs; they must not fault. Linux ≥ 4.18 offers
//!   `/dev/xen/hypercall`: an `mmap` of it (`MAP_SHARED`, offset 0) returns zeroed
//!   kernel pages that never move. Without it (open fails with `ENOENT`), anonymous
//!   memory that is locked (`MAP_LOCKED`), excluded from `fork` (`MADV_DONTFORK`)
//!   and touched once is used instead, as libxencall does.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

use xsplice_abi::livepatch::{HYPERVISOR_SYSCTL, SYSCTL_SIZE};

use crate::transport::{Reply, Transport, TransportError, layout};

/// `struct privcmd_hypercall`.
#[repr(C)]
struct PrivcmdHypercall {
    op: u64,
    arg: [u64; 5],
}

/// `_IOC(_IOC_NONE, type, nr, size)`: direction bits 0.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> u64 {
    ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
}

/// `IOCTL_PRIVCMD_HYPERCALL`.
pub const IOCTL_PRIVCMD_HYPERCALL: u64 = ioc_none(b'P', 0, std::mem::size_of::<PrivcmdHypercall>());
const _: () = assert!(std::mem::size_of::<PrivcmdHypercall>() == 48);
const _: () = assert!(IOCTL_PRIVCMD_HYPERCALL == 0x30_5000);

pub const PRIVCMD: &str = "/dev/xen/privcmd";
pub const PRIVCMD_PROC: &str = "/proc/xen/privcmd";
pub const HYPERCALL_BUFFERS: &str = "/dev/xen/hypercall";

const PAGE: usize = 4096;

/// Where hypercall buffers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferSource {
    /// Pages of `/dev/xen/hypercall`.
    Device,
    /// Locked anonymous memory (no `/dev/xen/hypercall`).
    LockedMemory,
}

/// `/dev/xen/privcmd` and the hypercall-buffer device.
#[derive(Debug)]
pub struct Privcmd {
    privcmd: File,
    buffers: Option<File>,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> TransportError {
    let what = what.into();
    move |source| TransportError { what, source }
}

fn explain_open(path: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::ENODEV) | Some(libc::ENXIO) => format!(
            "cannot open {path}: not running in a Xen domain, or the xen-privcmd module \
             is not loaded (modprobe xen-privcmd)"
        ),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!("cannot open {path}: run xen-xsplice as root in dom0")
        }
        _ => format!("cannot open {path}"),
    }
}

impl Privcmd {
    /// Opens `/dev/xen/privcmd` (else `/proc/xen/privcmd`) and `/dev/xen/hypercall`
    /// when the kernel has it.
    pub fn open() -> Result<Privcmd, TransportError> {
        let rw = |p: &str| OpenOptions::new().read(true).write(true).open(p);
        let privcmd = match rw(PRIVCMD) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::ENODEV | libc::ENXIO)
                ) =>
            {
                rw(PRIVCMD_PROC).map_err(|_| TransportError {
                    what: explain_open(PRIVCMD, &e),
                    source: e,
                })?
            }
            Err(e) => {
                return Err(TransportError {
                    what: explain_open(PRIVCMD, &e),
                    source: e,
                });
            }
        };
        let buffers = match rw(HYPERCALL_BUFFERS) {
            Ok(f) => Some(f),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => None,
            Err(e) => {
                return Err(TransportError {
                    what: explain_open(HYPERCALL_BUFFERS, &e),
                    source: e,
                });
            }
        };
        Ok(Privcmd { privcmd, buffers })
    }

    pub fn buffer_source(&self) -> BufferSource {
        if self.buffers.is_some() {
            BufferSource::Device
        } else {
            BufferSource::LockedMemory
        }
    }

    fn map(&self, len: usize) -> Result<Mapping, TransportError> {
        let len = len.max(1).next_multiple_of(PAGE);
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        match &self.buffers {
            Some(dev) => {
                // SAFETY: a fresh shared mapping of the buffer device; the kernel
                // checks the length and returns zeroed pages or MAP_FAILED.
                let p = unsafe {
                    libc::mmap(
                        std::ptr::null_mut(),
                        len,
                        prot,
                        libc::MAP_SHARED,
                        dev.as_raw_fd(),
                        0,
                    )
                };
                if p == libc::MAP_FAILED {
                    return Err(io_err(format!(
                        "cannot map {} pages of {HYPERCALL_BUFFERS}",
                        len / PAGE
                    ))(io::Error::last_os_error()));
                }
                Ok(Mapping { ptr: p.cast(), len })
            }
            None => {
                let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_LOCKED;
                // SAFETY: a fresh anonymous mapping.
                let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, -1, 0) };
                if p == libc::MAP_FAILED {
                    return Err(io_err(format!(
                        "cannot allocate {len} bytes of locked memory"
                    ))(io::Error::last_os_error()));
                }
                let m = Mapping { ptr: p.cast(), len };
                // SAFETY: the range is the mapping just made.
                if unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) } != 0 {
                    return Err(io_err("madvise(MADV_DONTFORK)")(io::Error::last_os_error()));
                }
                // Touch every page so none is left copy-on-write.
                for off in (0..len).step_by(PAGE) {
                    // SAFETY: inside the mapping.
                    unsafe { m.ptr.add(off).write_volatile(0) };
                }
                Ok(m)
            }
        }
    }
}

/// A mapping of hypercall-safe memory, unmapped on drop.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn write(&mut self, at: usize, bytes: &[u8]) {
        assert!(at + bytes.len() <= self.len);
        // SAFETY: bounds checked above; the mapping is ours and writable.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(at), bytes.len()) };
    }
    fn read(&self, at: usize, out: &mut [u8]) {
        assert!(at + out.len() <= self.len);
        // SAFETY: bounds checked above; the mapping is ours and readable.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr.add(at), out.as_mut_ptr(), out.len()) };
    }
    fn addr(&self, at: usize) -> u64 {
        self.ptr as u64 + at as u64
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly what map() mapped.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

impl Transport for Privcmd {
    fn sysctl(
        &mut self,
        buffers: &mut [Vec<u8>],
        build: &dyn Fn(&[u64]) -> [u8; SYSCTL_SIZE],
    ) -> Result<Reply, TransportError> {
        let (offsets, end) = layout(SYSCTL_SIZE, buffers.iter().map(Vec::len));
        let mut m = self.map(end)?;
        for (b, &at) in buffers.iter().zip(&offsets) {
            m.write(at, b);
        }
        let addrs: Vec<u64> = offsets.iter().map(|&at| m.addr(at)).collect();
        let op = build(&addrs);
        m.write(0, &op);
        let mut call = PrivcmdHypercall {
            op: HYPERVISOR_SYSCTL,
            arg: [m.addr(0), 0, 0, 0, 0],
        };
        // SAFETY: the privcmd ioctl reads and writes `call` only; the hypervisor
        // accesses only the mapping, which outlives the call.
        let r = unsafe {
            libc::ioctl(
                self.privcmd.as_raw_fd(),
                IOCTL_PRIVCMD_HYPERCALL as _,
                &mut call,
            )
        };
        let ret = if r < 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::ENOTTY) => {
                    return Err(io_err(format!(
                        "{PRIVCMD} does not take IOCTL_PRIVCMD_HYPERCALL"
                    ))(e));
                }
                Some(n) => -i64::from(n),
                None => return Err(io_err("IOCTL_PRIVCMD_HYPERCALL")(e)),
            }
        } else {
            i64::from(r)
        };
        let mut back = [0u8; SYSCTL_SIZE];
        m.read(0, &mut back);
        for (b, &at) in buffers.iter_mut().zip(&offsets) {
            m.read(at, b);
        }
        Ok(Reply { ret, op: back })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_number_is_linuxs() {
        // _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall)) with a 48-byte
        // argument: size in bits 16..29, type 'P' in bits 8..15, number 0.
        assert_eq!(IOCTL_PRIVCMD_HYPERCALL, 0x0030_5000);
    }

    #[test]
    fn locked_memory_round_trips() {
        let p = Privcmd {
            privcmd: File::open("/dev/null").unwrap(),
            buffers: None,
        };
        let mut m = p.map(5000).unwrap();
        assert_eq!(m.len, 8192);
        m.write(4090, b"0123456789");
        let mut out = [0u8; 10];
        m.read(4090, &mut out);
        assert_eq!(&out, b"0123456789");
    }
}
