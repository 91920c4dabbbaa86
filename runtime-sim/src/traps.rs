//! What the simulated hypervisor's exception handlers know, gathered before each
//! call: exception-table fixups (`crate::fixup`) and bug frames
//! (`crate::bugframe`), from the image and from every loaded payload.
//!
//! A table is found by section name: in the image (allocated sections) and in every
//! loaded payload (its content sections, placed and relocated in simulated memory).
//! An image whose linker script folded the tables into another output section marks
//! them with start/stop symbols instead (Xen's `xen-syms` does).

use crate::bugframe::{BUG_FRAME_SECTIONS, BUG_FRAME_SYMBOLS, BugFrames, BugKind};
use crate::fixup::{EX_TABLE_SECTIONS, EX_TABLE_SYMBOLS, Fixups};
use crate::hypervisor::Hypervisor;

#[derive(Clone, Debug, Default)]
pub struct Traps {
    pub fixups: Fixups,
    pub bugs: BugFrames,
}

impl Hypervisor {
    /// The fixups and bug frames of the image and of every loaded payload.
    pub fn traps(&self) -> Traps {
        Traps {
            fixups: self.fixups(),
            bugs: self.bug_frames(),
        }
    }

    /// The exception-table entries, read from simulated memory.
    pub fn fixups(&self) -> Fixups {
        let mut tables: Vec<(u64, u64)> = self
            .named_tables(|n| EX_TABLE_SECTIONS.contains(&n).then_some(()))
            .into_iter()
            .map(|((), addr, size)| (addr, size))
            .collect();
        for (start, stop) in EX_TABLE_SYMBOLS {
            if let Some((from, to)) = self.symbol_addr(start).zip(self.symbol_addr(stop))
                && from <= to
            {
                tables.push((from, to - from));
            }
        }
        Fixups::collect(&self.mem, &tables)
    }

    /// The bug frames, read from simulated memory.
    pub fn bug_frames(&self) -> BugFrames {
        let mut tables = self.named_tables(|n| {
            BUG_FRAME_SECTIONS
                .iter()
                .find(|(s, _)| *s == n)
                .map(|k| k.1)
        });
        // The kinds' tables follow each other: each starts where the previous stops.
        let (start, stops) = BUG_FRAME_SYMBOLS;
        if let Some(mut from) = self.symbol_addr(start) {
            for (kind, stop) in BugKind::ALL.into_iter().zip(stops) {
                let Some(to) = self.symbol_addr(stop) else {
                    break;
                };
                if to >= from {
                    tables.push((kind, from, to - from));
                    from = to;
                }
            }
        }
        BugFrames::collect(&self.mem, &tables)
    }

    /// `(kind, address, size)` of every section `kind_of` recognises by name, in the
    /// image and in the loaded payloads.
    fn named_tables<K>(&self, kind_of: impl Fn(&str) -> Option<K>) -> Vec<(K, u64, u64)> {
        let mut out: Vec<(K, u64, u64)> = self
            .image
            .sections()
            .iter()
            .filter(|s| s.alloc)
            .filter_map(|s| kind_of(&s.name).map(|k| (k, s.addr, s.size)))
            .collect();
        for r in &self.payloads {
            let l = &r.loaded;
            for (i, s) in l.model.sections.iter().enumerate() {
                if let Some(k) = kind_of(&s.name) {
                    out.push((k, l.content_addr(i, 0), s.size));
                }
            }
        }
        out
    }

    fn symbol_addr(&self, name: &str) -> Option<u64> {
        self.image.lookup(name).ok().map(|s| s.addr)
    }
}
