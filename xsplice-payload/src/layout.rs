//! Byte layout of the `.xsplice` structures (normative: `specs/payload-format.md`).
//!
//! Every structure has the size the design states. Where the design's C field list
//! would be larger under natural alignment, the trailing `pad` is shortened and the
//! alignment holes are named explicit padding fields; see "Resolved inconsistencies"
//! in the spec. All padding must be zero in a payload file.

/// `struct xsplice.version` of every payload this crate reads or writes.
pub const PAYLOAD_VERSION: u32 = 1;
/// Longest payload name in bytes, not counting the terminating NUL.
pub const MAX_NAME_LEN: usize = 40;
/// Largest alignment a loaded section may ask for (a page).
pub const MAX_SECTION_ALIGN: u64 = 4096;
/// Longest build-id accepted anywhere (target, own, dependency).
pub const MAX_BUILD_ID_LEN: usize = 64;

/// One field of a structure: its name, byte offset and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub width: usize,
    /// The field is a pointer filled by an `R_X86_64_64` (or the machine's absolute
    /// 64-bit) relocation; its bytes in the file are zero.
    pub pointer: bool,
    /// The field is padding and must be zero.
    pub padding: bool,
}

const fn val(name: &'static str, offset: usize, width: usize) -> Field {
    Field {
        name,
        offset,
        width,
        pointer: false,
        padding: false,
    }
}
const fn ptr(name: &'static str, offset: usize) -> Field {
    Field {
        name,
        offset,
        width: 8,
        pointer: true,
        padding: false,
    }
}
const fn pad(name: &'static str, offset: usize, width: usize) -> Field {
    Field {
        name,
        offset,
        width,
        pointer: false,
        padding: true,
    }
}

/// A structure kind of the format, with the ELF section that carries an array of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StructLayout {
    pub name: &'static str,
    pub section: &'static str,
    pub size: usize,
    pub fields: &'static [Field],
}

impl StructLayout {
    pub fn field(&self, name: &str) -> &'static Field {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("layout {} has no field {name}", self.name))
    }
}

pub const XSPLICE: StructLayout = StructLayout {
    name: "xsplice",
    section: ".xsplice",
    size: 64,
    fields: &[
        val("version", 0, 4),
        pad("pad0", 4, 4),
        ptr("name", 8),
        ptr("id", 16),
        val("id_size", 24, 4),
        pad("pad1", 28, 4),
        ptr("new", 32),
        ptr("old", 40),
        pad("pad", 48, 16),
    ],
};

pub const XSPLICE_CODE: StructLayout = StructLayout {
    name: "xsplice_code",
    section: ".xsplice.code",
    size: 64,
    fields: &[
        ptr("relocs", 0),
        val("n_relocs", 8, 4),
        pad("pad0", 12, 4),
        ptr("sections", 16),
        val("n_sections", 24, 4),
        pad("pad1", 28, 4),
        ptr("patches", 32),
        val("n_patches", 40, 4),
        pad("pad", 44, 20),
    ],
};

pub const XSPLICE_RELOC: StructLayout = StructLayout {
    name: "xsplice_reloc",
    section: ".xsplice.reloc",
    size: 64,
    fields: &[
        val("addr", 0, 8),
        ptr("symbol", 8),
        val("isns_target", 16, 8),
        ptr("howto", 24),
        val("isns_added", 32, 8),
        pad("pad", 40, 24),
    ],
};

pub const XSPLICE_SECTION: StructLayout = StructLayout {
    name: "xsplice_section",
    section: ".xsplice.section",
    size: 32,
    fields: &[
        ptr("symbol", 0),
        val("address", 8, 8),
        val("size", 16, 4),
        val("flags", 20, 4),
        pad("pad", 24, 8),
    ],
};

pub const XSPLICE_PATCH: StructLayout = StructLayout {
    name: "xsplice_patch",
    section: ".xsplice.patch",
    size: 64,
    fields: &[
        val("type", 0, 4),
        val("size", 4, 4),
        val("addr", 8, 8),
        ptr("content", 16),
        pad("pad", 24, 40),
    ],
};

pub const XSPLICE_SYMBOL: StructLayout = StructLayout {
    name: "xsplice_symbol",
    section: ".xsplice.symbol",
    size: 32,
    fields: &[ptr("name", 0), ptr("label", 8), pad("pad", 16, 16)],
};

pub const XSPLICE_RELOC_HOWTO: StructLayout = StructLayout {
    name: "xsplice_reloc_howto",
    section: ".xsplice.reloc_howto",
    size: 32,
    fields: &[
        val("howto", 0, 4),
        val("flag", 4, 4),
        val("size", 8, 4),
        val("r_shift", 12, 4),
        val("mask", 16, 8),
        pad("pad", 24, 8),
    ],
};

/// Every structure kind, in the order their sections appear in a payload.
pub const ALL_STRUCTS: [&StructLayout; 7] = [
    &XSPLICE,
    &XSPLICE_CODE,
    &XSPLICE_RELOC,
    &XSPLICE_SECTION,
    &XSPLICE_PATCH,
    &XSPLICE_SYMBOL,
    &XSPLICE_RELOC_HOWTO,
];

/// Section holding the NUL-terminated strings pointed to by `xsplice.name`,
/// `xsplice_symbol.name` and `xsplice_symbol.label`.
pub const STRINGS_SECTION: &str = ".xsplice.strings";
/// Section holding the target hypervisor build-id bytes pointed to by `xsplice.id`.
pub const ID_SECTION: &str = ".xsplice.id";
/// Section holding zero or more GNU build-id notes: payloads that must be applied
/// before this one (hotpatch stack).
pub const DEPENDS_SECTION: &str = ".xsplice.depends";
/// The payload's own GNU build-id note.
pub const BUILD_ID_SECTION: &str = ".note.gnu.build-id";
/// ELF note type of a GNU build-id.
pub const NT_GNU_BUILD_ID: u32 = 3;

// Patch types (`xsplice_patch.type`).
pub const XSPLICE_PATCH_INLINE_TEXT: u32 = 0x1;
pub const XSPLICE_PATCH_INLINE_DATA: u32 = 0x2;
pub const XSPLICE_PATCH_RELOC_TEXT: u32 = 0x3;

// Howto kinds (`xsplice_reloc_howto.howto`).
pub const XSPLICE_HOWTO_INLINE: u32 = 0x1;
pub const XSPLICE_HOWTO_RELOC_PATCH: u32 = 0x2;

// Howto flags (`xsplice_reloc_howto.flag`). The design spells the second one
// `XSPLICE_HOWOT_FLAG_SIGN`; this is the corrected name.
pub const XSPLICE_HOWTO_FLAG_PC_REL: u32 = 0x1;
pub const XSPLICE_HOWTO_FLAG_SIGN: u32 = 0x2;
pub const XSPLICE_HOWTO_FLAG_ALL: u32 = XSPLICE_HOWTO_FLAG_PC_REL | XSPLICE_HOWTO_FLAG_SIGN;

// Section flags (`xsplice_section.flags`).
pub const XSPLICE_SECTION_TEXT: u32 = 0x0000_0001;
pub const XSPLICE_SECTION_RODATA: u32 = 0x0000_0002;
pub const XSPLICE_SECTION_DATA: u32 = 0x0000_0004;
pub const XSPLICE_SECTION_STRING: u32 = 0x0000_0008;
pub const XSPLICE_SECTION_TEXT_INLINE: u32 = 0x0000_0200;
pub const XSPLICE_SECTION_MATCH_EXACT: u32 = 0x0000_0400;
pub const XSPLICE_SECTION_NO_STACKCHECK: u32 = 0x0000_0800;
/// The kind bits: exactly one must be set.
pub const XSPLICE_SECTION_KIND_MASK: u32 =
    XSPLICE_SECTION_TEXT | XSPLICE_SECTION_RODATA | XSPLICE_SECTION_DATA | XSPLICE_SECTION_STRING;
pub const XSPLICE_SECTION_ALL: u32 = XSPLICE_SECTION_KIND_MASK
    | XSPLICE_SECTION_TEXT_INLINE
    | XSPLICE_SECTION_MATCH_EXACT
    | XSPLICE_SECTION_NO_STACKCHECK;

/// Names of the bits set in `flags`, for display (`TEXT|NO_STACKCHECK`).
pub fn section_flag_names(flags: u32) -> Vec<&'static str> {
    const NAMES: [(u32, &str); 7] = [
        (XSPLICE_SECTION_TEXT, "TEXT"),
        (XSPLICE_SECTION_RODATA, "RODATA"),
        (XSPLICE_SECTION_DATA, "DATA"),
        (XSPLICE_SECTION_STRING, "STRING"),
        (XSPLICE_SECTION_TEXT_INLINE, "TEXT_INLINE"),
        (XSPLICE_SECTION_MATCH_EXACT, "MATCH_EXACT"),
        (XSPLICE_SECTION_NO_STACKCHECK, "NO_STACKCHECK"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Names of the bits set in a howto `flag`.
pub fn howto_flag_names(flag: u32) -> Vec<&'static str> {
    const NAMES: [(u32, &str); 2] = [
        (XSPLICE_HOWTO_FLAG_PC_REL, "PC_REL"),
        (XSPLICE_HOWTO_FLAG_SIGN, "SIGN"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| flag & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_the_designs() {
        let sizes: Vec<(&str, usize)> = ALL_STRUCTS.iter().map(|s| (s.name, s.size)).collect();
        assert_eq!(
            sizes,
            [
                ("xsplice", 64),
                ("xsplice_code", 64),
                ("xsplice_reloc", 64),
                ("xsplice_section", 32),
                ("xsplice_patch", 64),
                ("xsplice_symbol", 32),
                ("xsplice_reloc_howto", 32),
            ]
        );
    }

    #[test]
    fn fields_tile_each_struct_exactly_and_are_naturally_aligned() {
        for s in ALL_STRUCTS {
            let mut next = 0;
            for f in s.fields {
                assert_eq!(
                    f.offset, next,
                    "{}.{} leaves a hole or overlaps",
                    s.name, f.name
                );
                if !f.padding {
                    assert_eq!(f.offset % f.width, 0, "{}.{} misaligned", s.name, f.name);
                }
                next = f.offset + f.width;
            }
            assert_eq!(next, s.size, "{} fields do not fill it", s.name);
        }
    }
}
