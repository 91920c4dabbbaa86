//! Byte layout of Xen's livepatch payload structures (normative:
//! `specs/livepatch-format.md`). Payload version 2: Xen 4.14 to 4.22 and master
//! share it byte for byte; Xen 4.17 is the release the test suite boots.

use crate::layout::{Field, StructLayout};
use crate::model::HookKind;

/// `struct livepatch_func.version` of every entry (`LIVEPATCH_PAYLOAD_VERSION`).
pub const PAYLOAD_VERSION: u8 = 2;
/// Bytes of `expect.data` (`LIVEPATCH_OPAQUE_SIZE`): the most bytes an expectation
/// compares, and the most bytes a NOP entry may replace.
pub const OPAQUE_SIZE: usize = 31;
/// Longest payload name in bytes, without its NUL (`XEN_LIVEPATCH_NAME_SIZE` is 128
/// with the NUL).
pub const MAX_NAME_LEN: usize = 127;
/// Largest payload Xen's UPLOAD accepts (`EINVAL` above).
pub const MAX_PAYLOAD_SIZE: u64 = 2 << 20;

const fn field(name: &'static str, offset: usize, width: usize, pointer: bool) -> Field {
    Field {
        name,
        offset,
        width,
        pointer,
        padding: false,
    }
}

/// `struct livepatch_func`, version 2: 104 bytes, 8-aligned. `name` and `new_addr`
/// are filled by `R_X86_64_64` relocations; `old_addr` is the target's address, or
/// 0 to have the loader look `name` up. `_pad` is ignored by Xen from 4.17.3 on (it
/// held per-function state before) and is written as zeros.
pub const LIVEPATCH_FUNC: StructLayout = StructLayout {
    name: "livepatch_func",
    section: FUNCS_SECTION,
    size: 104,
    fields: &[
        field("name", 0, 8, true),
        field("new_addr", 8, 8, true),
        field("old_addr", 16, 8, false),
        field("new_size", 24, 4, false),
        field("old_size", 28, 4, false),
        field("version", 32, 1, false),
        Field {
            name: "_pad",
            offset: 33,
            width: 39,
            pointer: false,
            padding: true,
        },
        field("expect", 72, 1, false),
        field("expect.data", 73, OPAQUE_SIZE, false),
    ],
};

/// `expect` bit-field byte: bit 0 `enabled`, bits 1..=5 `len`, bits 6..=7 `rsv` (zero).
pub const EXPECT_ENABLED: u8 = 0x01;
pub const EXPECT_LEN_SHIFT: u8 = 1;
pub const EXPECT_LEN_MASK: u8 = 0x3e;
pub const EXPECT_RSV_MASK: u8 = 0xc0;

/// Encodes the `expect` byte for `len` compared bytes (0 disables the expectation).
pub fn expect_byte(len: usize) -> u8 {
    debug_assert!(len <= OPAQUE_SIZE);
    if len == 0 {
        0
    } else {
        EXPECT_ENABLED | ((len as u8) << EXPECT_LEN_SHIFT)
    }
}

pub const FUNCS_SECTION: &str = ".livepatch.funcs";
/// GNU build-id note of the payload this one must be applied on top of, or of the
/// hypervisor for the first payload of a stack.
pub const DEPENDS_SECTION: &str = ".livepatch.depends";
/// GNU build-id note of the hypervisor the payload was built for.
pub const XEN_DEPENDS_SECTION: &str = ".livepatch.xen_depends";
/// NUL-terminated `key=value` strings Xen returns as LIST metadata.
pub const MODINFO_SECTION: &str = ".modinfo";
/// The strings `livepatch_func.name` points at (our writer's choice of name).
pub const STRINGS_SECTION: &str = ".livepatch.strings";
/// The `.modinfo` key carrying the payload's name.
pub const MODINFO_NAME_KEY: &str = "name=";

/// The section of each hook kind.
pub fn hook_section(kind: HookKind) -> &'static str {
    match kind {
        HookKind::Load => ".livepatch.hooks.load",
        HookKind::Unload => ".livepatch.hooks.unload",
        HookKind::PreApply => ".livepatch.hooks.preapply",
        HookKind::Apply => ".livepatch.hooks.apply",
        HookKind::PostApply => ".livepatch.hooks.postapply",
        HookKind::PreRevert => ".livepatch.hooks.prerevert",
        HookKind::Revert => ".livepatch.hooks.revert",
        HookKind::PostRevert => ".livepatch.hooks.postrevert",
    }
}

/// The hook kind a section name carries, if it is a hook section.
pub fn hook_kind(section: &str) -> Option<HookKind> {
    HookKind::ALL
        .into_iter()
        .find(|&k| hook_section(k) == section)
}

/// Every section the livepatch encoding defines (content may not use these names).
pub fn is_format_section(name: &str) -> bool {
    matches!(
        name,
        FUNCS_SECTION | DEPENDS_SECTION | XEN_DEPENDS_SECTION | MODINFO_SECTION | STRINGS_SECTION
    ) || hook_kind(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn livepatch_func_is_104_bytes_and_tiled() {
        let mut next = 0;
        for f in LIVEPATCH_FUNC.fields {
            assert_eq!(f.offset, next, "{} leaves a hole", f.name);
            next = f.offset + f.width;
        }
        assert_eq!(next, 104);
        assert_eq!(LIVEPATCH_FUNC.size, 104);
    }

    #[test]
    fn expect_bits_match_gcc_bitfield_packing() {
        // enabled=1, len=5 packs LSB first: 0b0000_1011.
        assert_eq!(expect_byte(5), 0x0b);
        assert_eq!(expect_byte(31), 0x3f);
        assert_eq!(expect_byte(0), 0);
    }

    #[test]
    fn every_hook_kind_has_its_own_section() {
        for k in HookKind::ALL {
            assert_eq!(hook_kind(hook_section(k)), Some(k));
        }
    }
}
