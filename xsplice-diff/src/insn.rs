//! Instruction boundaries of code sections, so a PC-relative relocation can be
//! followed to the exact spot it names.
//!
//! A `call`/`jmp`/`mov x(%rip)` displacement is relative to the end of its
//! instruction, which can lie past the 4-byte field: `cmpb $0, x(%rip)` ends one
//! byte later (the immediate). Assuming the field ends the instruction points one
//! byte before `x`, into whatever object precedes it in a section shared by
//! several objects (`.data.read_mostly`). Decoding the instructions gives the
//! real distance.

use capstone::prelude::*;
use xsplice_payload::Machine;

/// Sorted, non-overlapping `(start, end)` of the instructions of `code`, decoded
/// linearly from offset 0; undecodable bytes are skipped one at a time.
pub fn boundaries(machine: Machine, code: &[u8]) -> Vec<(u64, u64)> {
    let cs = match machine {
        Machine::X86_64 => Capstone::new()
            .x86()
            .mode(arch::x86::ArchMode::Mode64)
            .build(),
    };
    let Ok(cs) = cs else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < code.len() {
        let Ok(insns) = cs.disasm_all(&code[pos..], pos as u64) else {
            pos += 1;
            continue;
        };
        let mut end = pos;
        for i in insns.iter() {
            let start = i.address();
            let stop = start + i.bytes().len() as u64;
            out.push((start, stop));
            end = stop as usize;
        }
        // Stopped at bytes capstone cannot decode: skip one and go on.
        pos = if end > pos { end } else { pos + 1 };
    }
    out
}

/// The end of the instruction containing `offset`, if one does.
pub fn end_of(insns: &[(u64, u64)], offset: u64) -> Option<u64> {
    let i = insns
        .partition_point(|&(s, _)| s <= offset)
        .checked_sub(1)?;
    let (s, e) = insns[i];
    (s <= offset && offset < e).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immediates_after_the_displacement_are_seen() {
        // cmpb $0x0,0x0(%rip) ; call 0 ; ret
        let code = [0x80, 0x3d, 0, 0, 0, 0, 0x00, 0xe8, 0, 0, 0, 0, 0xc3];
        let b = boundaries(Machine::X86_64, &code);
        assert_eq!(b, [(0, 7), (7, 12), (12, 13)]);
        assert_eq!(end_of(&b, 2), Some(7)); // the displacement field of cmpb
        assert_eq!(end_of(&b, 8), Some(12));
        assert_eq!(end_of(&b, 13), None);
    }

    #[test]
    fn undecodable_bytes_are_skipped() {
        // 0x06 is invalid in 64-bit mode; then ret.
        let b = boundaries(Machine::X86_64, &[0x06, 0xc3]);
        assert_eq!(b, [(1, 2)]);
    }
}
