//! Bug frames: hypervisor code marks `BUG()`, `WARN()` and failed assertions with a
//! `ud2` instruction and a frame in a table that says what it is and where in the
//! source it comes from. When simulated code reaches a `ud2` that has a frame, the
//! simulator does what the hypervisor's invalid-opcode handler does: a WARN
//! continues after the `ud2`; a BUG or an assertion stops the call with its source
//! location (the real hypervisor panics); a run-function frame is refused by name.
//!
//! Layout (Xen, x86-64): sections `.bug_frames.0` … `.bug_frames.3` (run-function,
//! warn, bug, assert), in the image by section name or between
//! `__start_bug_frames` and `__stop_bug_frames_0` … `_3`, and in loaded payloads by
//! section name. A frame is two 32-bit words: the low 24 bits of the first are the
//! signed distance from the frame to its `ud2`, of the second the signed distance to
//! the file name (or function); bits 24‥30 of each hold the high and low 7 bits of
//! the line number, each borrowed from by a negative distance. Assert frames carry
//! 8 more bytes, the second word being the distance to the message.

use std::collections::BTreeMap;

use crate::memory::Memory;

/// What a frame marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BugKind {
    RunFn,
    Warn,
    Bug,
    Assert,
}

impl BugKind {
    pub const ALL: [BugKind; 4] = [BugKind::RunFn, BugKind::Warn, BugKind::Bug, BugKind::Assert];

    fn frame_size(self) -> u64 {
        if self == BugKind::Assert { 16 } else { 8 }
    }
}

/// Section names of the frame tables, by kind.
pub const BUG_FRAME_SECTIONS: [(&str, BugKind); 4] = [
    (".bug_frames.0", BugKind::RunFn),
    (".bug_frames.1", BugKind::Warn),
    (".bug_frames.2", BugKind::Bug),
    (".bug_frames.3", BugKind::Assert),
];

/// The image symbols delimiting the tables: a start, then the end of each kind's
/// table in kind order (each table starts where the previous one stops).
pub const BUG_FRAME_SYMBOLS: (&str, [&str; 4]) = (
    "__start_bug_frames",
    [
        "__stop_bug_frames_0",
        "__stop_bug_frames_1",
        "__stop_bug_frames_2",
        "__stop_bug_frames_3",
    ],
);

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BugFrame {
    pub kind: BugKind,
    /// File name (run-function frames: empty).
    pub file: String,
    pub line: u32,
    /// Assertion text.
    pub msg: Option<String>,
}

impl BugFrame {
    /// What the hypervisor would print.
    pub fn describe(&self) -> String {
        match self.kind {
            BugKind::RunFn => "run-function bug frame (not simulated)".into(),
            BugKind::Warn => format!("WARN at {}:{}", self.file, self.line),
            BugKind::Bug => format!("BUG at {}:{}", self.file, self.line),
            BugKind::Assert => format!(
                "assertion `{}` failed at {}:{}",
                self.msg.as_deref().unwrap_or("?"),
                self.file,
                self.line
            ),
        }
    }
}

/// `ud2` address → its frame.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BugFrames(BTreeMap<u64, BugFrame>);

fn disp24(word: u32) -> i64 {
    i64::from(((word << 8) as i32) >> 8)
}

/// A NUL-terminated string of at most 256 bytes at `addr`, or `?`.
fn c_string(mem: &Memory, addr: u64) -> String {
    let mut out = Vec::new();
    for i in 0..256 {
        match mem.read(addr.wrapping_add(i), 1) {
            Ok(b) if b[0] != 0 => out.push(b[0]),
            Ok(_) => return String::from_utf8_lossy(&out).into_owned(),
            Err(_) => break,
        }
    }
    "?".into()
}

impl BugFrames {
    /// Decodes the frames of the tables `(kind, address, size)` from simulated
    /// memory. Unreadable tables are ignored.
    pub fn collect(mem: &Memory, tables: &[(BugKind, u64, u64)]) -> BugFrames {
        let mut map = BTreeMap::new();
        for &(kind, base, size) in tables {
            let step = kind.frame_size();
            let Ok(bytes) = mem.read(base, size - size % step) else {
                continue;
            };
            for (i, f) in bytes.chunks_exact(step as usize).enumerate() {
                let at = base + i as u64 * step;
                let word = |k: usize| u32::from_le_bytes(f[k..k + 4].try_into().expect("4 bytes"));
                let (w0, w1) = (word(0), word(4));
                let (loc, ptr) = (disp24(w0), disp24(w1));
                let hi = ((w0 >> 24) + u32::from(loc < 0)) & 0x7f;
                let lo = ((w1 >> 24) + u32::from(ptr < 0)) & 0x7f;
                let file = match kind {
                    BugKind::RunFn => String::new(),
                    _ => c_string(mem, at.wrapping_add_signed(ptr)),
                };
                let msg = (kind == BugKind::Assert)
                    .then(|| c_string(mem, at.wrapping_add_signed(i64::from(word(12) as i32))));
                map.entry(at.wrapping_add_signed(loc)).or_insert(BugFrame {
                    kind,
                    file,
                    line: (hi << 7) + lo,
                    msg,
                });
            }
        }
        BugFrames(map)
    }

    /// Every frame, by the address of its `ud2`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &BugFrame)> {
        self.0.iter().map(|(a, f)| (*a, f))
    }

    /// The frame of a `ud2` at `rip`.
    pub fn lookup(&self, rip: u64) -> Option<&BugFrame> {
        self.0.get(&rip)
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

    /// A frame as the assembler writes it: distance plus line bits shifted to bit
    /// 24, so a negative distance borrows one from the line bits.
    fn word(disp: i32, line_bits: u32) -> [u8; 4] {
        (disp as u32).wrapping_add(line_bits << 24).to_le_bytes()
    }

    #[test]
    fn lines_survive_negative_distances() {
        let mut mem = Memory::default();
        let base = 0x50_0000;
        mem.map(base, 1, Perm::RO, Owner::Image, false).unwrap();
        mem.write(base + 0x10, b"hv/sched.c\0").unwrap();
        mem.write(base + 0x20, b"n != 0\0").unwrap();
        let line: u32 = 300; // hi 2, lo 44
        let frames = base + 0x100;
        let mut t = Vec::new();
        // A BUG frame: ud2 0x80 before the frame, file 0xf0 before it.
        t.extend(word(-0x80, line >> 7));
        t.extend(word(-0xf0, line & 127));
        // An assert frame at frames + 8: ud2 after it, message before it.
        t.extend(word(0x40, 5 >> 7));
        t.extend(word(-0xf8, 5 & 127));
        t.extend(0u32.to_le_bytes());
        t.extend(((base + 0x20) as i64 - (frames + 8) as i64).to_le_bytes()[..4].to_vec());
        mem.write(frames, &t).unwrap();
        let f = BugFrames::collect(
            &mem,
            &[
                (BugKind::Bug, frames, 8),
                (BugKind::Assert, frames + 8, 16),
                (BugKind::Warn, 0xdead_0000, 8),
            ],
        );
        assert_eq!(f.len(), 2);
        let bug = f.lookup(frames - 0x80).unwrap();
        assert_eq!(bug.describe(), "BUG at hv/sched.c:300");
        let a = f.lookup(frames + 8 + 0x40).unwrap();
        assert_eq!(a.describe(), "assertion `n != 0` failed at hv/sched.c:5");
    }
}
