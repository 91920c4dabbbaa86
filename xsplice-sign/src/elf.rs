//! A minimal "is this a whole ELF64 relocatable object" check, independent of the
//! payload reader: identification bytes, ET_REL, and every table and section the
//! headers point at lies inside the file (which catches truncated files).

/// Why the input is not a complete ELF64 little-endian relocatable object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ELF64 little-endian relocatable object: {field} at offset {offset}: {reason}")]
pub struct ElfError {
    pub offset: u64,
    pub field: &'static str,
    pub reason: String,
}

const EHDR_LEN: u64 = 64;
const SHDR_LEN: u64 = 64;
const SHT_NOBITS: u32 = 8;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

fn err(offset: u64, field: &'static str, reason: impl Into<String>) -> ElfError {
    ElfError {
        offset,
        field,
        reason: reason.into(),
    }
}

/// Check that `bytes` is a complete ELF64 little-endian `ET_REL` file.
pub fn check_elf(bytes: &[u8]) -> Result<(), ElfError> {
    let len = bytes.len() as u64;
    let magic = b"\x7fELF";
    let n = bytes.len().min(magic.len());
    if bytes[..n] != magic[..n] {
        return Err(err(0, "e_ident magic", "missing \\x7fELF"));
    }
    if len < EHDR_LEN {
        return Err(err(
            0,
            "ELF header",
            format!("needs 64 bytes, the file has {len} (truncated?)"),
        ));
    }
    if bytes[4] != 2 {
        return Err(err(
            4,
            "EI_CLASS",
            format!("{} is not ELFCLASS64 (2)", bytes[4]),
        ));
    }
    if bytes[5] != 1 {
        return Err(err(
            5,
            "EI_DATA",
            format!("{} is not little-endian (1)", bytes[5]),
        ));
    }
    if bytes[6] != 1 {
        return Err(err(
            6,
            "EI_VERSION",
            format!("{} is not EV_CURRENT (1)", bytes[6]),
        ));
    }
    let e_type = u16_at(bytes, 16);
    if e_type != 1 {
        return Err(err(16, "e_type", format!("{e_type} is not ET_REL (1)")));
    }
    let ehsize = u16_at(bytes, 52);
    if u64::from(ehsize) != EHDR_LEN {
        return Err(err(52, "e_ehsize", format!("{ehsize} is not 64")));
    }
    check_table(bytes, 32, "e_phoff", u16_at(bytes, 54), u16_at(bytes, 56))?;
    let shoff = u64_at(bytes, 40);
    let shentsize = u16_at(bytes, 58);
    let shnum = u16_at(bytes, 60);
    if shnum > 0 && u64::from(shentsize) < SHDR_LEN {
        return Err(err(58, "e_shentsize", format!("{shentsize} is below 64")));
    }
    check_table(bytes, 40, "e_shoff", shentsize, shnum)?;
    let shstrndx = u16_at(bytes, 62);
    if shnum > 0 && shstrndx >= shnum {
        return Err(err(
            62,
            "e_shstrndx",
            format!("{shstrndx} is not below e_shnum {shnum}"),
        ));
    }
    for i in 0..u64::from(shnum) {
        // In bounds: check_table proved shoff + shnum * 64 <= len.
        let at = shoff + i * u64::from(shentsize);
        let h = usize::try_from(at).map_err(|_| err(at, "section header", "offset too large"))?;
        let sh_type = u32_at(bytes, h + 4);
        let sh_offset = u64_at(bytes, h + 24);
        let sh_size = u64_at(bytes, h + 32);
        if sh_type == SHT_NOBITS {
            continue;
        }
        match sh_offset.checked_add(sh_size) {
            Some(end) if end <= len => {}
            _ => {
                return Err(err(
                    at + 24,
                    "section contents (sh_offset + sh_size)",
                    format!(
                        "section {i} spans {sh_offset:#x}+{sh_size:#x}, past the end of the {len}-byte file (truncated?)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A header table (`off_field` names e_phoff or e_shoff) must lie inside the file.
fn check_table(
    bytes: &[u8],
    off_at: usize,
    field: &'static str,
    entsize: u16,
    num: u16,
) -> Result<(), ElfError> {
    if num == 0 {
        return Ok(());
    }
    let off = u64_at(bytes, off_at);
    let size = u64::from(entsize) * u64::from(num);
    match off.checked_add(size) {
        Some(end) if end <= bytes.len() as u64 => Ok(()),
        _ => Err(err(
            off_at as u64,
            field,
            format!(
                "table of {num} x {entsize} bytes at {off:#x} ends past the {}-byte file (truncated?)",
                bytes.len()
            ),
        )),
    }
}

/// A 64-byte ELF64 ET_REL header with no sections: the smallest input `check_elf`
/// accepts. Test helper for this crate and others.
pub fn minimal_elf(extra: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; 64];
    v[..4].copy_from_slice(b"\x7fELF");
    v[4] = 2;
    v[5] = 1;
    v[6] = 1;
    v[16] = 1; // ET_REL
    v[18] = 62; // EM_X86_64
    v[20] = 1; // e_version
    v[52] = 64; // e_ehsize
    v[58] = 64; // e_shentsize
    v.extend_from_slice(extra);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_header_passes_and_each_field_is_checked() {
        let ok = minimal_elf(b"data");
        check_elf(&ok).unwrap();
        let cases: [(usize, u8, &str); 6] = [
            (0, 0, "e_ident magic"),
            (4, 1, "EI_CLASS"),
            (5, 2, "EI_DATA"),
            (6, 0, "EI_VERSION"),
            (16, 2, "e_type"),
            (52, 0, "e_ehsize"),
        ];
        for (at, value, field) in cases {
            let mut b = ok.clone();
            b[at] = value;
            let e = check_elf(&b).unwrap_err();
            assert_eq!((e.field, e.offset), (field, at as u64), "{e}");
        }
        let e = check_elf(&ok[..63]).unwrap_err();
        assert_eq!(e.field, "ELF header");
        assert!(e.to_string().contains("the file has 63"), "{e}");
        assert_eq!(check_elf(b"hello").unwrap_err().field, "e_ident magic");
        assert_eq!(check_elf(b"\x7fEL").unwrap_err().field, "ELF header");
    }

    #[test]
    fn section_table_and_contents_must_fit() {
        // One section header (a PROGBITS section of 4 bytes at 64) after 4 data bytes.
        let mut b = minimal_elf(b"abcd");
        b[40..48].copy_from_slice(&68u64.to_le_bytes());
        b[60] = 1;
        let mut sh = [0u8; 64];
        sh[4] = 1; // SHT_PROGBITS
        sh[24..32].copy_from_slice(&64u64.to_le_bytes());
        sh[32..40].copy_from_slice(&4u64.to_le_bytes());
        b.extend_from_slice(&sh);
        check_elf(&b).unwrap();
        let e = check_elf(&b[..b.len() - 1]).unwrap_err();
        assert_eq!((e.field, e.offset), ("e_shoff", 40));
        let mut big = b.clone();
        big[68 + 32..68 + 40].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = check_elf(&big).unwrap_err();
        assert_eq!(
            (e.field, e.offset),
            ("section contents (sh_offset + sh_size)", 68 + 24)
        );
        let mut nobits = big.clone();
        nobits[68 + 4] = 8;
        check_elf(&nobits).unwrap();
        let mut idx = b.clone();
        idx[62] = 1;
        assert_eq!(check_elf(&idx).unwrap_err().field, "e_shstrndx");
    }
}
