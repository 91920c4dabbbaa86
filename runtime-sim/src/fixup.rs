//! Exception fixups: when hypervisor code faults on a data access at an instruction
//! listed in an exception table, execution continues at that entry's fixup address,
//! as the hypervisor's page-fault handler does (the usual way guest-memory accessors
//! return `-EFAULT` instead of crashing). Without this, a probe that hands the
//! patched code a bad guest pointer would end in a simulator fault where the real
//! hypervisor returns an error.
//!
//! Tables are found by section name, in the image and in every loaded payload
//! (a payload carries the entries of its new code in a section of the same name),
//! and in the image also between `__start___ex_table` and `__stop___ex_table` (a
//! linker script may fold the table into another output section, as Xen's does):
//!
//! | section | entry | fields |
//! |---|---|---|
//! | `.ex_table` (Xen, x86-64) | 8 bytes | `s32 addr`, `s32 cont`, each relative to its own field |
//!
//! Entries that cannot be read are ignored (the loader has already validated a
//! payload; an image is trusted). Only data faults (reads and writes) are fixed up,
//! never instruction fetches.

use std::collections::BTreeMap;

use crate::memory::Memory;

/// Section names of exception tables with 8-byte self-relative `(addr, cont)` entries.
pub const EX_TABLE_SECTIONS: [&str; 1] = [".ex_table"];
/// The same tables in an image whose linker script folded them into another output
/// section, delimited by these symbols.
pub const EX_TABLE_SYMBOLS: [(&str, &str); 1] = [("__start___ex_table", "__stop___ex_table")];
const ENTRY: u64 = 8;

/// Faulting instruction → where execution continues.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fixups(BTreeMap<u64, u64>);

impl Fixups {
    /// Reads the entries of the tables at `(address, size)` from simulated memory.
    pub fn collect(mem: &Memory, tables: &[(u64, u64)]) -> Fixups {
        let mut map = BTreeMap::new();
        for &(base, size) in tables {
            let Ok(bytes) = mem.read(base, size - size % ENTRY) else {
                continue;
            };
            for (i, e) in bytes.chunks_exact(ENTRY as usize).enumerate() {
                let at = base + i as u64 * ENTRY;
                let rel = |k: usize, field: u64| {
                    let v = i32::from_le_bytes(e[k..k + 4].try_into().expect("4 bytes"));
                    (at + field).wrapping_add_signed(i64::from(v))
                };
                map.entry(rel(0, 0)).or_insert(rel(4, 4));
            }
        }
        Fixups(map)
    }

    /// The fixup of a faulting instruction at `rip`.
    pub fn lookup(&self, rip: u64) -> Option<u64> {
        self.0.get(&rip).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Owner, Perm};

    #[test]
    fn entries_are_relative_to_their_fields() {
        let mut mem = Memory::default();
        let base = 0x40_0000;
        mem.map(base, 1, Perm::RO, Owner::Image, false).unwrap();
        // Entry 0 at base: addr → base + 0x100, cont → base + 4 - 0x10.
        // Entry 1 at base + 8: addr → base + 8 - 8 (= base), cont → base + 12 + 0x20.
        let mut t = Vec::new();
        for v in [0x100i32, -0x10, -8, 0x20] {
            t.extend_from_slice(&v.to_le_bytes());
        }
        mem.write(base, &t).unwrap();
        let f = Fixups::collect(&mem, &[(base, 16 + 3), (0xdead_0000, 8)]);
        assert_eq!(f.len(), 2);
        assert_eq!(f.lookup(base + 0x100), Some(base + 4 - 0x10));
        assert_eq!(f.lookup(base), Some(base + 12 + 0x20));
        assert_eq!(f.lookup(base + 1), None);
    }
}
