//! How a `struct xen_sysctl` reaches a hypervisor. The command logic only sees
//! [`Transport`]: the real one is [`crate::privcmd::Privcmd`] (Linux's
//! `/dev/xen/privcmd` in dom0); tests use one backed by runtime-sim.

use std::time::Duration;

use xsplice_abi::livepatch::SYSCTL_SIZE;

/// What one hypercall returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The hypercall's value: `≥ 0` on success, `-errno` otherwise.
    pub ret: i64,
    /// `struct xen_sysctl` as the hypervisor wrote it back (Xen copies it back on
    /// errors too).
    pub op: [u8; SYSCTL_SIZE],
}

/// The hypervisor could not be reached at all (no hypercall was made, or the
/// driver failed in a way that is not the hypercall's own answer).
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct TransportError {
    pub what: String,
    #[source]
    pub source: std::io::Error,
}

/// A way to issue `__HYPERVISOR_sysctl`.
pub trait Transport {
    /// Puts `buffers` into memory the hypervisor may read and write (in order, each
    /// 8-aligned), calls `build` with their addresses to make the `struct
    /// xen_sysctl` (so its guest handles point at them), places that structure in
    /// the same kind of memory, issues the hypercall, then copies the structure and
    /// every buffer back into `buffers` (OUT fields).
    fn sysctl(
        &mut self,
        buffers: &mut [Vec<u8>],
        build: &dyn Fn(&[u64]) -> [u8; SYSCTL_SIZE],
    ) -> Result<Reply, TransportError>;

    /// Lets time pass while an action runs in the hypervisor (the real transport
    /// sleeps; a simulated one runs the hypervisor's deferred work).
    fn pause(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn sysctl(
        &mut self,
        buffers: &mut [Vec<u8>],
        build: &dyn Fn(&[u64]) -> [u8; SYSCTL_SIZE],
    ) -> Result<Reply, TransportError> {
        (**self).sysctl(buffers, build)
    }
    fn pause(&mut self, d: Duration) {
        (**self).pause(d)
    }
}

/// Offsets of `buffers` laid out one after the other from offset `start`, each
/// 8-aligned, and the end of the last.
pub fn layout(start: usize, sizes: impl IntoIterator<Item = usize>) -> (Vec<usize>, usize) {
    let mut at = start;
    let mut offsets = Vec::new();
    for s in sizes {
        at = at.next_multiple_of(8);
        offsets.push(at);
        at += s;
    }
    (offsets, at)
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout_aligns_each_buffer() {
        assert_eq!(super::layout(136, [5, 0, 3]), (vec![136, 144, 144], 147));
        assert_eq!(super::layout(0, []), (vec![], 0));
    }
}
