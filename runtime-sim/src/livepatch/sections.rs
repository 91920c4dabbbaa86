//! The checks of Xen 4.17's `check_special_sections`, `check_patching_sections` and
//! the parts of `prepare_payload` that need no address: required notes, patching
//! sections, `struct livepatch_func` fields, hook, bug frame, alternative and
//! exception table sizes, build-id notes and metadata. Errnos are Xen's.

use xsplice_payload::livepatch::layout::{self as lp, LIVEPATCH_FUNC, OPAQUE_SIZE};
use xsplice_payload::{HookKind, layout::BUILD_ID_SECTION};

use super::elf::XenElf;
use crate::errno::{Errno, Failure, fail};

/// `struct livepatch_func` as Xen reads it after relocation: `name` and `new_addr`
/// are set when a relocation fills them; `old_addr` is the stored value, or `None`
/// when a relocation fills it (resolved to an address at load time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Func {
    pub index: usize,
    pub name: Option<String>,
    pub new_addr_relocated: bool,
    pub old_addr: Option<u64>,
    pub new_size: u32,
    pub old_size: u32,
    pub version: u8,
    pub expect: u8,
    pub expect_data: [u8; OPAQUE_SIZE],
}

impl Func {
    /// `new_addr` is 0: the entry NOPs `new_size` bytes instead of jumping.
    pub fn nop(&self) -> bool {
        !self.new_addr_relocated
    }
    /// The bytes `expect` compares, when enabled: `Ok(None)` disabled,
    /// `Err(rsv)` reserved bits set.
    pub fn expectation(&self) -> Result<Option<&[u8]>, u8> {
        if self.expect & lp::EXPECT_ENABLED == 0 {
            return Ok(None);
        }
        if self.expect & lp::EXPECT_RSV_MASK != 0 {
            return Err(self.expect);
        }
        let len = usize::from((self.expect & lp::EXPECT_LEN_MASK) >> lp::EXPECT_LEN_SHIFT);
        Ok(Some(&self.expect_data[..len]))
    }
}

/// What the static checks found: the functions and the notes' descriptors.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub funcs: Vec<Func>,
    pub build_id: Vec<u8>,
    pub depends: Vec<u8>,
    pub xen_depends: Vec<u8>,
    /// `.modinfo`, NUL-separated strings (LIST metadata).
    pub metadata: Vec<u8>,
}

fn einval(why: String) -> Failure {
    fail(Errno::EINVAL, why)
}

/// Sections Xen 4.17 reads through their load address, which is NULL for a section
/// that is not SHF_ALLOC: a host crash there, a refusal here.
const READ_FROM_MEMORY: [&str; 10] = [
    lp::FUNCS_SECTION,
    lp::DEPENDS_SECTION,
    lp::XEN_DEPENDS_SECTION,
    BUILD_ID_SECTION,
    lp::MODINFO_SECTION,
    ".altinstructions",
    ".ex_table",
    ".bug_frames.0",
    ".bug_frames.1",
    ".bug_frames.2",
];

/// Runs the checks in Xen's order.
pub fn check(name: &str, elf: &XenElf) -> Result<Prepared, Failure> {
    let hooks = HookKind::ALL.map(lp::hook_section);
    if let Some(s) = READ_FROM_MEMORY
        .iter()
        .chain(&[".bug_frames.3"])
        .chain(&hooks)
        .filter_map(|n| elf.section(n))
        .find(|s| !s.alloc())
    {
        return Err(einval(format!(
            "{name}: {} is not SHF_ALLOC: Xen 4.17 would read it through a NULL load address (host crash); refused (stricter than Xen)",
            s.name
        )));
    }
    for sec in [
        lp::DEPENDS_SECTION,
        lp::XEN_DEPENDS_SECTION,
        BUILD_ID_SECTION,
    ] {
        match elf.section(sec) {
            None => return Err(einval(format!("{name}: {sec} is missing"))),
            Some(s) if s.size == 0 => return Err(einval(format!("{name}: {sec} is empty"))),
            Some(_) => {}
        }
    }
    let patching = std::iter::once(lp::FUNCS_SECTION).chain(HookKind::ALL.map(lp::hook_section));
    let mut any = false;
    for sec in patching {
        if let Some(s) = elf.section(sec) {
            if s.size == 0 {
                return Err(einval(format!("{name}: {sec} is empty")));
            }
            any = true;
        }
    }
    if !any {
        return Err(einval(format!("{name}: Nothing to patch. Aborting...")));
    }
    let funcs = match elf.section(lp::FUNCS_SECTION) {
        None => Vec::new(),
        Some(s) => funcs(name, elf, s)?,
    };
    for f in &funcs {
        if f.version != lp::PAYLOAD_VERSION {
            return Err(fail(
                Errno::EOPNOTSUPP,
                format!(
                    "{name}: Wrong version ({}). Expected {}",
                    f.version,
                    lp::PAYLOAD_VERSION
                ),
            ));
        }
        if f.old_size == 0 {
            return Err(einval(format!(
                "{name}: Address or size fields are zero (function {})",
                f.index
            )));
        }
        if f.nop() && f.new_size as usize > OPAQUE_SIZE {
            return Err(fail(
                Errno::EOPNOTSUPP,
                format!(
                    "{name}: NOP entry {} of {} bytes (at most {OPAQUE_SIZE})",
                    f.index, f.new_size
                ),
            ));
        }
        if f.nop() && f.old_size < f.new_size {
            return Err(einval(format!(
                "{name}: NOP entry {} is larger than its function",
                f.index
            )));
        }
    }
    for kind in HookKind::ALL {
        let sec = lp::hook_section(kind);
        if let Some(s) = elf.section(sec)
            && (s.size % 8 != 0 || (!kind.many() && s.size != 8))
        {
            return Err(einval(format!("{name}: Wrong size {} of {sec}", s.size)));
        }
    }
    let note = |sec: &str| {
        let s = elf.section(sec).expect("checked above");
        build_id_note(&elf.contents(s))
            .ok_or_else(|| einval(format!("{name}: {sec} is not a GNU build-id note")))
    };
    let build_id = note(BUILD_ID_SECTION)?;
    let depends = note(lp::DEPENDS_SECTION)?;
    let xen_depends = note(lp::XEN_DEPENDS_SECTION)?;
    for (sec, entry) in [
        (".bug_frames.0", 8),
        (".bug_frames.1", 8),
        (".bug_frames.2", 8),
        (".bug_frames.3", 8),
    ] {
        if let Some(s) = elf.section(sec)
            && s.size % entry != 0
        {
            return Err(einval(format!("{name}: Wrong size {} of {sec}", s.size)));
        }
    }
    if let Some(s) = elf.section(".altinstructions")
        && s.size != 0
    {
        if s.size % 14 != 0 {
            return Err(einval(format!(
                "{name}: Wrong size {} of .altinstructions",
                s.size
            )));
        }
        let text = elf
            .sections
            .iter()
            .any(|t| t.alloc() && t.flags & 4 != 0 && t.size != 0);
        if !text {
            return Err(einval(format!(
                "{name}: Alternatives provided, but no .text"
            )));
        }
        if elf.section(".altinstr_replacement").is_none() {
            return Err(einval(format!(
                "{name}: .altinstructions provided, but no .altinstr_replacement"
            )));
        }
    }
    if let Some(s) = elf.section(".ex_table")
        && s.size % 8 != 0
    {
        return Err(einval(format!(
            "{name}: Wrong size {} of .ex_table",
            s.size
        )));
    }
    let metadata = match elf.section(lp::MODINFO_SECTION) {
        None => Vec::new(),
        Some(s) => {
            let b = elf.contents(s);
            if b.last() != Some(&0) {
                return Err(einval(format!(
                    "{name}: Incorrect metadata format detected"
                )));
            }
            b.to_vec()
        }
    };
    Ok(Prepared {
        funcs,
        build_id,
        depends,
        xen_depends,
        metadata,
    })
}

/// The first note of a section, read as Xen's `xen_build_id_check` does: the
/// descriptor of a GNU build-id note (any non-zero size), else `None`.
pub fn build_id_note(b: &[u8]) -> Option<Vec<u8>> {
    if b.len() <= 12 {
        return None;
    }
    let word = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let (namesz, descsz, ty) = (word(0), word(4), word(8));
    let total = namesz.checked_add(descsz)?;
    if ty != 3 || namesz < 4 || total as usize > b.len() - 12 {
        return None;
    }
    let name = &b[12..12 + namesz as usize];
    let name_end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    if &name[..name_end] != b"GNU" {
        return None;
    }
    let desc = 12 + (namesz as usize).next_multiple_of(4);
    if descsz == 0 || desc + descsz as usize > b.len() {
        return None;
    }
    Some(b[desc..desc + descsz as usize].to_vec())
}

fn funcs(name: &str, elf: &XenElf, s: &super::elf::Section) -> Result<Vec<Func>, Failure> {
    let size = LIVEPATCH_FUNC.size as u64;
    if !s.size.is_multiple_of(size) {
        return Err(einval(format!(
            "{name}: Wrong size {} of {} (must be multiple of {size})",
            s.size,
            lp::FUNCS_SECTION
        )));
    }
    let relocated = relocated_offsets(elf, s.index);
    let bytes = elf.contents(s);
    let mut out = Vec::new();
    for i in 0..(s.size / size) as usize {
        let e = &bytes[i * size as usize..(i + 1) * size as usize];
        let base = (i as u64) * size;
        let word = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().expect("8 bytes"));
        let half = |o: usize| u32::from_le_bytes(e[o..o + 4].try_into().expect("4 bytes"));
        let name_target = relocated.iter().find(|r| r.0 == base).map(|r| r.1);
        let fname = name_target.and_then(|(sec, off)| {
            let t = elf.sections.get(sec)?;
            let rest = elf.bytes(t).get(off as usize..)?;
            let n = rest.iter().position(|&c| c == 0)?;
            Some(String::from_utf8_lossy(&rest[..n]).into_owned())
        });
        let mut expect_data = [0u8; OPAQUE_SIZE];
        expect_data.copy_from_slice(&e[73..73 + OPAQUE_SIZE]);
        out.push(Func {
            index: i,
            name: fname,
            new_addr_relocated: word(8) != 0 || relocated.iter().any(|r| r.0 == base + 8),
            old_addr: if relocated.iter().any(|r| r.0 == base + 16) {
                None
            } else {
                Some(word(16))
            },
            new_size: half(24),
            old_size: half(28),
            version: e[32],
            expect: e[72],
            expect_data,
        });
    }
    Ok(out)
}

/// The R_X86_64_64 relocations of a section: (offset, (section, offset)) for those
/// against a defined symbol, (offset, (0, 0)) for undefined ones.
fn relocated_offsets(elf: &XenElf, target: usize) -> Vec<(u64, (usize, u64))> {
    let mut out = Vec::new();
    for r in elf.sections.iter().skip(1) {
        if r.sh_type != 4 || r.info as usize != target || r.entsize < 24 {
            continue;
        }
        let table = elf.bytes(r);
        for k in 0..r.size / r.entsize {
            let at = (k * r.entsize) as usize;
            let Some(e) = table.get(at..at + 24) else {
                break;
            };
            let word = |o: usize| u64::from_le_bytes(e[o..o + 8].try_into().expect("8 bytes"));
            let (offset, info, addend) = (word(0), word(8), word(16) as i64);
            if info as u32 != 1 {
                continue;
            }
            let Some(sym) = elf.symbols.get((info >> 32) as usize) else {
                continue;
            };
            let dest = if sym.shndx == 0 || sym.shndx >= 0xff00 {
                (0, 0)
            } else {
                (
                    usize::from(sym.shndx),
                    sym.value.wrapping_add(addend as u64),
                )
            };
            out.push((offset, dest));
        }
    }
    out
}
