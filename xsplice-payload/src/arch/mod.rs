//! Machine-specific facts behind one trait; one file per architecture.

mod x86_64;

use serde::Serialize;

pub use x86_64::X86_64;

/// The machines a payload can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Machine {
    X86_64,
}

impl Machine {
    pub fn arch(self) -> &'static dyn Arch {
        match self {
            Machine::X86_64 => &X86_64,
        }
    }

    /// The machine with this ELF `e_machine`, if supported.
    pub fn from_elf(e_machine: u16) -> Option<Machine> {
        match e_machine {
            object::elf::EM_X86_64 => Some(Machine::X86_64),
            _ => None,
        }
    }
}

/// What a relocation type does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelocKind {
    pub name: &'static str,
    /// Bytes written at the relocation offset.
    pub width: u8,
    /// Value is `S + A - P` rather than `S + A`.
    pub pc_relative: bool,
    /// For 32-bit fields: the value must fit in i32 (true) or u32 (false).
    pub signed: bool,
}

/// Architecture details used by the writer, the reader, the builder and the runtime.
pub trait Arch: Sync {
    fn machine(&self) -> Machine;
    /// ELF `e_machine`.
    fn elf_machine(&self) -> u16;
    /// The relocation that fills a 64-bit pointer field of the `.xsplice` structures.
    fn pointer_reloc(&self) -> u32;
    /// The relocation types a payload's content may use, or `None` if not allowed.
    fn reloc_info(&self, r_type: u32) -> Option<RelocKind>;
    /// `R_X86_64_GOTPCRELX (41)`: a name for any relocation type of the machine,
    /// accepted or not, for messages.
    fn reloc_type_name(&self, r_type: u32) -> String;
    /// The relocation types Xen's livepatch loader implements for this machine
    /// (anything else: `EOPNOTSUPP`).
    fn xen_loader_relocs(&self) -> &'static [u32];
    /// The no-op relocation type (skipped by loaders).
    fn none_reloc(&self) -> u32;
    /// Bytes of the jump written at a patched function's entry.
    fn trampoline_len(&self) -> usize;
    /// Width of the jump's displacement (`xsplice_reloc_howto.size`).
    fn trampoline_disp_size(&self) -> u32;
    /// `xsplice_reloc.isns_added` of a trampoline.
    fn trampoline_isns_added(&self) -> i64;
    /// Bytes at a function entry that must stay in place (an ENDBR64 landing pad):
    /// the trampoline is written after them.
    fn entry_landing_pad(&self, code: &[u8]) -> usize;
    /// The jump from `site` to `target`, or `None` when out of range.
    fn encode_trampoline(&self, site: u64, target: u64) -> Option<Vec<u8>>;
}
