//! Simulated physical memory of the hypervisor: 4 KiB pages, each with permissions.
//!
//! Guest code executed by the CPU emulator obeys the permissions. The hypervisor's
//! own writes (placing a payload, writing a trampoline) use [`Memory::write`], which
//! only requires the bytes to be mapped — the way a real hypervisor pokes its text
//! through a writable alias. `Memory` compares by value: two snapshots are equal iff
//! the same pages are mapped with the same permissions, owners and bytes.

use std::collections::BTreeMap;
use std::fmt;

pub const PAGE_SIZE: u64 = 4096;

/// Page permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Perm {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perm {
    pub const RX: Perm = Perm {
        read: true,
        write: false,
        exec: true,
    };
    pub const RO: Perm = Perm {
        read: true,
        write: false,
        exec: false,
    };
    pub const RW: Perm = Perm {
        read: true,
        write: true,
        exec: false,
    };

    pub fn union(self, other: Perm) -> Perm {
        Perm {
            read: self.read || other.read,
            write: self.write || other.write,
            exec: self.exec || other.exec,
        }
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{}{}",
            if self.read { 'r' } else { '-' },
            if self.write { 'w' } else { '-' },
            if self.exec { 'x' } else { '-' }
        )
    }
}

/// Who a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Owner {
    /// The hypervisor image.
    Image,
    /// A loaded payload (its serial number).
    Payload(u64),
    /// The stack of a simulated CPU.
    Stack(usize),
    /// The buffer area of a simulated CPU (arguments of calls).
    Scratch(usize),
}

#[derive(Clone, PartialEq, Eq)]
struct Page {
    perm: Perm,
    owner: Owner,
    data: Box<[u8]>,
}

/// An access outside mapped memory.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemError {
    #[error("address {addr:#x} is not mapped")]
    Unmapped { addr: u64 },
    #[error("range [{addr:#x}, +{len:#x}) wraps around the address space")]
    Wraps { addr: u64, len: u64 },
    #[error("page {addr:#x} is already mapped")]
    AlreadyMapped { addr: u64 },
    #[error("refusing a writable and executable mapping at {addr:#x}")]
    WriteExec { addr: u64 },
    #[error("address {addr:#x} is not page aligned")]
    Unaligned { addr: u64 },
}

/// A maximal run of contiguous pages with the same permissions and owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub base: u64,
    pub len: u64,
    pub perm: Perm,
    pub owner: Owner,
}

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Memory {
    pages: BTreeMap<u64, Page>,
}

impl fmt::Debug for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut l = f.debug_list();
        for r in self.runs() {
            l.entry(&format_args!(
                "{:#x}+{:#x} {} {:?}",
                r.base, r.len, r.perm, r.owner
            ));
        }
        l.finish()
    }
}

pub fn page_floor(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// `addr` rounded up to a page boundary, `None` past the end of the address space.
pub fn page_ceil(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_floor)
}

impl Memory {
    pub fn new() -> Memory {
        Memory::default()
    }

    /// Maps `pages` zeroed pages at `base`. W+X is refused unless `allow_wx` (only the
    /// hypervisor image may come with such pages: they are its own, not ours to judge).
    pub fn map(
        &mut self,
        base: u64,
        pages: u64,
        perm: Perm,
        owner: Owner,
        allow_wx: bool,
    ) -> Result<(), MemError> {
        if !base.is_multiple_of(PAGE_SIZE) {
            return Err(MemError::Unaligned { addr: base });
        }
        if perm.write && perm.exec && !allow_wx {
            return Err(MemError::WriteExec { addr: base });
        }
        let len = pages.checked_mul(PAGE_SIZE).ok_or(MemError::Wraps {
            addr: base,
            len: u64::MAX,
        })?;
        if pages > 0 {
            base.checked_add(len - 1)
                .ok_or(MemError::Wraps { addr: base, len })?;
        }
        for i in 0..pages {
            let a = base + i * PAGE_SIZE;
            if self.pages.contains_key(&a) {
                return Err(MemError::AlreadyMapped { addr: a });
            }
        }
        for i in 0..pages {
            self.pages.insert(
                base + i * PAGE_SIZE,
                Page {
                    perm,
                    owner,
                    data: vec![0; PAGE_SIZE as usize].into_boxed_slice(),
                },
            );
        }
        Ok(())
    }

    /// Sets the permissions of a mapped page (boot-time refinement of image pages).
    pub fn set_perm(&mut self, page: u64, perm: Perm) -> Result<(), MemError> {
        let p = self
            .pages
            .get_mut(&page_floor(page))
            .ok_or(MemError::Unmapped { addr: page })?;
        p.perm = perm;
        Ok(())
    }

    /// Unmaps every page of `owner`; returns how many.
    pub fn unmap_owner(&mut self, owner: Owner) -> usize {
        let before = self.pages.len();
        self.pages.retain(|_, p| p.owner != owner);
        before - self.pages.len()
    }

    pub fn is_mapped(&self, addr: u64) -> bool {
        self.pages.contains_key(&page_floor(addr))
    }

    /// Permissions of the page holding `addr`.
    pub fn perm(&self, addr: u64) -> Option<Perm> {
        self.pages.get(&page_floor(addr)).map(|p| p.perm)
    }

    pub fn owner(&self, addr: u64) -> Option<Owner> {
        self.pages.get(&page_floor(addr)).map(|p| p.owner)
    }

    /// Permissions of every page touched by `[addr, addr+len)`; an error if any is
    /// unmapped.
    pub fn perms_of(&self, addr: u64, len: u64) -> Result<Vec<Perm>, MemError> {
        let mut out = Vec::new();
        self.for_each_chunk(addr, len, |page, _, _| {
            out.push(page.perm);
        })?;
        Ok(out)
    }

    fn for_each_chunk(
        &self,
        addr: u64,
        len: u64,
        mut f: impl FnMut(&Page, usize, usize),
    ) -> Result<(), MemError> {
        let end = addr.checked_add(len).ok_or(MemError::Wraps { addr, len })?;
        let mut a = addr;
        while a < end {
            let base = page_floor(a);
            let page = self
                .pages
                .get(&base)
                .ok_or(MemError::Unmapped { addr: a })?;
            let off = (a - base) as usize;
            let n = ((PAGE_SIZE - (a - base)).min(end - a)) as usize;
            f(page, off, n);
            a += n as u64;
        }
        Ok(())
    }

    /// Reads mapped bytes (any permission).
    pub fn read(&self, addr: u64, len: u64) -> Result<Vec<u8>, MemError> {
        let mut out = Vec::with_capacity(len.min(1 << 24) as usize);
        self.for_each_chunk(addr, len, |page, off, n| {
            out.extend_from_slice(&page.data[off..off + n]);
        })?;
        Ok(out)
    }

    pub fn read_u64(&self, addr: u64) -> Result<u64, MemError> {
        let b = self.read(addr, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    /// Writes mapped bytes regardless of permissions (the hypervisor's own write).
    /// Nothing is written unless every byte is mapped.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), MemError> {
        self.perms_of(addr, bytes.len() as u64)?;
        let mut a = addr;
        let mut rest = bytes;
        while !rest.is_empty() {
            let base = page_floor(a);
            let page = self.pages.get_mut(&base).expect("checked mapped");
            let off = (a - base) as usize;
            let n = (PAGE_SIZE as usize - off).min(rest.len());
            page.data[off..off + n].copy_from_slice(&rest[..n]);
            a += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// The bytes of one page (for the emulator).
    pub fn page(&self, base: u64) -> Option<&[u8]> {
        self.pages.get(&base).map(|p| &*p.data)
    }

    pub fn page_mut(&mut self, base: u64) -> Option<&mut [u8]> {
        self.pages.get_mut(&base).map(|p| &mut *p.data)
    }

    /// Mapped runs in address order.
    pub fn runs(&self) -> Vec<Run> {
        let mut out: Vec<Run> = Vec::new();
        for (&base, p) in &self.pages {
            if let Some(last) = out.last_mut()
                && last.base + last.len == base
                && last.perm == p.perm
                && last.owner == p.owner
            {
                last.len += PAGE_SIZE;
                continue;
            }
            out.push(Run {
                base,
                len: PAGE_SIZE,
                perm: p.perm,
                owner: p.owner,
            });
        }
        out
    }

    /// Lowest page-aligned `base` in `[lo, hi)` where `pages` pages fit with one unmapped
    /// guard page on each side (inside the window the guard may be the window's edge).
    pub fn find_free(&self, lo: u64, hi: u64, pages: u64) -> Option<u64> {
        let need = pages.checked_mul(PAGE_SIZE)?;
        let mut cand = page_ceil(lo)?;
        for (&base, _) in self.pages.range(lo..hi) {
            // `cand..cand+need` must end one page before `base`.
            if cand.checked_add(need)?.checked_add(PAGE_SIZE)? <= base {
                break;
            }
            cand = cand.max(base.checked_add(2 * PAGE_SIZE)?);
        }
        (cand.checked_add(need)? <= hi).then_some(cand)
    }

    /// A human-readable description of the first difference from `other`, if any.
    pub fn first_difference(&self, other: &Memory) -> Option<String> {
        for (a, p) in &self.pages {
            match other.pages.get(a) {
                None => return Some(format!("page {a:#x} only in the first snapshot")),
                Some(q) if q.perm != p.perm || q.owner != p.owner => {
                    return Some(format!(
                        "page {a:#x}: {} {:?} vs {} {:?}",
                        p.perm, p.owner, q.perm, q.owner
                    ));
                }
                Some(q) => {
                    if let Some(i) = (0..p.data.len()).find(|&i| p.data[i] != q.data[i]) {
                        return Some(format!(
                            "byte {:#x}: {:#04x} vs {:#04x}",
                            a + i as u64,
                            p.data[i],
                            q.data[i]
                        ));
                    }
                }
            }
        }
        other
            .pages
            .keys()
            .find(|a| !self.pages.contains_key(a))
            .map(|a| format!("page {a:#x} only in the second snapshot"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_write_read_across_pages_and_refuse_wx() {
        let mut m = Memory::new();
        m.map(0x1000, 2, Perm::RW, Owner::Image, false).unwrap();
        m.write(0x1ffe, &[1, 2, 3, 4]).unwrap();
        assert_eq!(m.read(0x1ffe, 4).unwrap(), [1, 2, 3, 4]);
        assert_eq!(
            m.write(0x2ffe, &[0; 4]),
            Err(MemError::Unmapped { addr: 0x3000 })
        );
        // Nothing was written by the refused write.
        assert_eq!(m.read(0x2ffe, 2).unwrap(), [0, 0]);
        let wx = Perm {
            read: true,
            write: true,
            exec: true,
        };
        assert_eq!(
            m.map(0x8000, 1, wx, Owner::Payload(1), false),
            Err(MemError::WriteExec { addr: 0x8000 })
        );
        assert_eq!(
            m.map(0x2000, 1, Perm::RO, Owner::Image, false),
            Err(MemError::AlreadyMapped { addr: 0x2000 })
        );
    }

    #[test]
    fn find_free_keeps_guard_pages() {
        let mut m = Memory::new();
        assert_eq!(m.find_free(0x10000, 0x20000, 2), Some(0x10000));
        m.map(0x10000, 2, Perm::RX, Owner::Payload(1), false)
            .unwrap();
        assert_eq!(m.find_free(0x10000, 0x20000, 1), Some(0x13000));
        m.map(0x13000, 1, Perm::RO, Owner::Payload(1), false)
            .unwrap();
        assert_eq!(m.find_free(0x10000, 0x20000, 3), Some(0x15000));
        assert_eq!(m.find_free(0x10000, 0x17000, 3), None);
        assert_eq!(m.unmap_owner(Owner::Payload(1)), 3);
        assert_eq!(m, Memory::new());
    }

    #[test]
    fn runs_merge_equal_neighbours() {
        let mut m = Memory::new();
        m.map(0x1000, 2, Perm::RX, Owner::Image, false).unwrap();
        m.map(0x3000, 1, Perm::RO, Owner::Image, false).unwrap();
        let runs = m.runs();
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].base, runs[0].len), (0x1000, 0x2000));
        let mut n = m.clone();
        n.write(0x3004, &[9]).unwrap();
        assert_eq!(m.first_difference(&n).unwrap(), "byte 0x3004: 0x00 vs 0x09");
    }
}
