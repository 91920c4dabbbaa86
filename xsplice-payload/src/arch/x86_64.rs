//! x86-64: `jmp rel32` trampolines, ENDBR64 landing pads, `R_X86_64_*` relocations.

use object::elf;

use super::{Arch, Machine, RelocKind};

pub struct X86_64;

/// `endbr64`.
pub const ENDBR64: [u8; 4] = [0xf3, 0x0f, 0x1e, 0xfa];
/// `nopw (%rcx)`: what Xen (CONFIG_XEN_IBT) writes over the ENDBR64 of functions that
/// are never called indirectly. Still a 4-byte landing-pad slot at the entry.
pub const ENDBR64_POISON: [u8; 4] = [0x66, 0x0f, 0x1f, 0x01];
const JMP_REL32: u8 = 0xe9;

impl Arch for X86_64 {
    fn machine(&self) -> Machine {
        Machine::X86_64
    }
    fn elf_machine(&self) -> u16 {
        elf::EM_X86_64
    }
    fn pointer_reloc(&self) -> u32 {
        elf::R_X86_64_64
    }
    fn xen_loader_relocs(&self) -> &'static [u32] {
        &[
            elf::R_X86_64_NONE,
            elf::R_X86_64_64,
            elf::R_X86_64_PC32,
            elf::R_X86_64_PLT32,
        ]
    }
    fn none_reloc(&self) -> u32 {
        elf::R_X86_64_NONE
    }
    fn reloc_info(&self, r_type: u32) -> Option<RelocKind> {
        let k = |name, width, pc_relative, signed| RelocKind {
            name,
            width,
            pc_relative,
            signed,
        };
        Some(match r_type {
            elf::R_X86_64_64 => k("R_X86_64_64", 8, false, false),
            elf::R_X86_64_PC32 => k("R_X86_64_PC32", 4, true, true),
            elf::R_X86_64_PLT32 => k("R_X86_64_PLT32", 4, true, true),
            elf::R_X86_64_32 => k("R_X86_64_32", 4, false, false),
            elf::R_X86_64_32S => k("R_X86_64_32S", 4, false, true),
            elf::R_X86_64_PC64 => k("R_X86_64_PC64", 8, true, true),
            _ => return None,
        })
    }
    fn reloc_type_name(&self, r_type: u32) -> String {
        use elf::*;
        let n = match r_type {
            R_X86_64_NONE => "R_X86_64_NONE",
            R_X86_64_64 => "R_X86_64_64",
            R_X86_64_PC32 => "R_X86_64_PC32",
            R_X86_64_GOT32 => "R_X86_64_GOT32",
            R_X86_64_PLT32 => "R_X86_64_PLT32",
            R_X86_64_GOTPCREL => "R_X86_64_GOTPCREL",
            R_X86_64_32 => "R_X86_64_32",
            R_X86_64_32S => "R_X86_64_32S",
            R_X86_64_16 => "R_X86_64_16",
            R_X86_64_PC16 => "R_X86_64_PC16",
            R_X86_64_8 => "R_X86_64_8",
            R_X86_64_PC8 => "R_X86_64_PC8",
            R_X86_64_TPOFF32 => "R_X86_64_TPOFF32",
            R_X86_64_PC64 => "R_X86_64_PC64",
            R_X86_64_GOTOFF64 => "R_X86_64_GOTOFF64",
            R_X86_64_GOTPC32 => "R_X86_64_GOTPC32",
            R_X86_64_SIZE32 => "R_X86_64_SIZE32",
            R_X86_64_SIZE64 => "R_X86_64_SIZE64",
            R_X86_64_GOTPCRELX => "R_X86_64_GOTPCRELX",
            R_X86_64_REX_GOTPCRELX => "R_X86_64_REX_GOTPCRELX",
            _ => "relocation type",
        };
        format!("{n} ({r_type})")
    }
    fn trampoline_len(&self) -> usize {
        5
    }
    fn trampoline_disp_size(&self) -> u32 {
        4
    }
    fn trampoline_isns_added(&self) -> i64 {
        -4
    }
    fn entry_landing_pad(&self, code: &[u8]) -> usize {
        if code.starts_with(&ENDBR64) || code.starts_with(&ENDBR64_POISON) {
            ENDBR64.len()
        } else {
            0
        }
    }
    fn encode_trampoline(&self, site: u64, target: u64) -> Option<Vec<u8>> {
        let next = site.wrapping_add(self.trampoline_len() as u64);
        let disp = i32::try_from(target.wrapping_sub(next) as i64).ok()?;
        let mut out = vec![JMP_REL32];
        out.extend_from_slice(&disp.to_le_bytes());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trampoline_encodes_rel32_from_the_next_instruction() {
        let t = X86_64.encode_trampoline(0x1000, 0x2000).unwrap();
        assert_eq!(t, [0xe9, 0xfb, 0x0f, 0x00, 0x00]);
        let back = X86_64.encode_trampoline(0x2000, 0x1000).unwrap();
        assert_eq!(back, [0xe9, 0xfb, 0xef, 0xff, 0xff]);
        assert!(X86_64.encode_trampoline(0, 1 << 32).is_none());
        assert!(X86_64.encode_trampoline(1 << 32, 0).is_none());
    }

    #[test]
    fn every_relocation_type_has_a_name() {
        assert_eq!(X86_64.reloc_type_name(41), "R_X86_64_GOTPCRELX (41)");
        assert_eq!(X86_64.reloc_type_name(4), "R_X86_64_PLT32 (4)");
        assert_eq!(X86_64.reloc_type_name(200), "relocation type (200)");
    }

    #[test]
    fn endbr64_is_a_landing_pad() {
        assert_eq!(X86_64.entry_landing_pad(&[0xf3, 0x0f, 0x1e, 0xfa, 0x55]), 4);
        assert_eq!(X86_64.entry_landing_pad(&[0x66, 0x0f, 0x1f, 0x01, 0x55]), 4);
        assert_eq!(X86_64.entry_landing_pad(&[0x55, 0x48]), 0);
        assert_eq!(X86_64.entry_landing_pad(&[0xf3, 0x0f]), 0);
    }
}
