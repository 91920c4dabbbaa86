//! UPLOAD's work after the reader: placement by permission, symbol resolution,
//! relocation, and resolution of the patch sites named by the `.xsplice` structures.
//!
//! Everything is done on simulated memory; on any failure the pages mapped for the
//! payload are unmapped again, so memory is byte-identical to before the upload.

use xsplice_image::{Image, LookupError};
use xsplice_payload::read::ReadPayload;
use xsplice_payload::{ContentKind, Payload, RelocTarget, layout};

use crate::errno::{Errno, Failure, fail};
use crate::memory::{Memory, Owner, PAGE_SIZE, Perm, page_ceil};

/// Largest total of a payload's mapped sections.
pub const MAX_PLACED_BYTES: u64 = 64 << 20;

/// A payload placed, resolved and relocated in simulated memory.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub serial: u64,
    pub model: Payload,
    pub build_id: Vec<u8>,
    /// Bytes uploaded.
    pub size: u64,
    /// Address of each content section (model order).
    pub section_addrs: Vec<u64>,
    /// Address of each model symbol.
    pub symbol_addrs: Vec<u64>,
    /// Defined global symbols other than the patched functions' replacements: what
    /// later payloads may resolve against.
    pub exports: Vec<(String, u64)>,
    /// Serials of loaded payloads whose exports this one uses.
    pub providers: Vec<u64>,
    /// Mapped regions: base, length, permissions.
    pub regions: Vec<(u64, u64, Perm)>,
    /// For each `new` entry, the hypervisor symbol it patches.
    pub sites: Vec<SiteSymbol>,
    /// For each `old` entry, the hypervisor symbol it checks.
    pub old_sites: Vec<SiteSymbol>,
}

/// A resolved patch target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteSymbol {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

impl Loaded {
    /// Address of a content byte.
    pub fn content_addr(&self, section: usize, offset: u64) -> u64 {
        self.section_addrs[section].wrapping_add(offset)
    }

    /// Does `[addr, addr+len)` lie in memory this payload mapped?
    pub fn owns(&self, addr: u64) -> bool {
        self.regions
            .iter()
            .any(|&(b, l, _)| addr >= b && addr - b < l)
    }
}

/// Whose loader rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// The design's: target build-id at upload (`ENOEXEC`), new globals must not
    /// clash, patched symbols resolved by name and their recorded address checked.
    Xsplice,
    /// Xen 4.17's livepatch loader: every named symbol that is not a replacement
    /// (locals too) is "new" and must not clash (`EEXIST`), names resolve as Xen's
    /// symbol table does (`file#name` for locals), a function's `old_addr` is used
    /// as given and looked up by name only when 0. The hypervisor build-id is
    /// checked by the caller, in Xen's order.
    Livepatch,
}

/// What the loader needs from the running hypervisor.
pub struct LoadContext<'a> {
    pub image: &'a Image,
    pub arena: (u64, u64),
    pub others: Vec<&'a Loaded>,
    pub rules: Rules,
}

fn perm_of(kind: ContentKind) -> Perm {
    match kind {
        ContentKind::Text => Perm::RX,
        ContentKind::ReadOnly | ContentKind::Strings => Perm::RO,
        ContentKind::Data | ContentKind::Bss => Perm::RW,
    }
}

fn lookup_image(image: &Image, name: &str) -> Result<Option<(u64, u64)>, Failure> {
    match image.lookup(name) {
        Ok(s) => Ok(Some((s.addr, s.size))),
        Err(LookupError::NotFound(_)) => Ok(None),
        Err(e @ LookupError::Ambiguous { .. }) => Err(fail(Errno::EINVAL, e.to_string())),
    }
}

/// Loads a payload the reader accepted. `mem` is unchanged on error.
pub fn load(
    ctx: &LoadContext<'_>,
    mem: &mut Memory,
    serial: u64,
    read: ReadPayload,
    size: u64,
) -> Result<Loaded, Failure> {
    let ReadPayload {
        payload, build_id, ..
    } = read;
    if payload.machine != ctx.image.machine() {
        return Err(fail(
            Errno::ENOEXEC,
            format!(
                "payload is for {:?}, the hypervisor is {:?}",
                payload.machine,
                ctx.image.machine()
            ),
        ));
    }
    if ctx.rules == Rules::Xsplice {
        check_target(&payload, ctx.image.build_id())?;
    }
    if let Some(o) = ctx.others.iter().find(|o| o.build_id == build_id) {
        return Err(fail(
            Errno::EEXIST,
            format!(
                "a payload with build-id {} is already loaded ({})",
                hex::encode(&build_id),
                o.model.name
            ),
        ));
    }
    let mut loaded = Loaded {
        serial,
        model: payload,
        build_id,
        size,
        section_addrs: Vec::new(),
        symbol_addrs: Vec::new(),
        exports: Vec::new(),
        providers: Vec::new(),
        regions: Vec::new(),
        sites: Vec::new(),
        old_sites: Vec::new(),
    };
    let result = place(ctx, mem, &mut loaded)
        .and_then(|()| resolve(ctx, &mut loaded))
        .and_then(|()| relocate(mem, &loaded))
        .and_then(|()| resolve_sites(ctx, &mut loaded));
    match result {
        Ok(()) => Ok(loaded),
        Err(e) => {
            mem.unmap_owner(Owner::Payload(serial));
            Err(e)
        }
    }
}

/// The payload must be built for the running hypervisor.
pub fn check_target(payload: &Payload, running: &[u8]) -> Result<(), Failure> {
    if payload.target_build_id != running {
        return Err(fail(
            Errno::ENOEXEC,
            format!(
                "payload `{}` was built for hypervisor build-id {}, this one is {}",
                payload.name,
                hex::encode(&payload.target_build_id),
                hex::encode(running)
            ),
        ));
    }
    Ok(())
}

/// Maps one region per permission (text RX, read-only RO, data RW) and copies the
/// section bytes in.
fn place(ctx: &LoadContext<'_>, mem: &mut Memory, l: &mut Loaded) -> Result<(), Failure> {
    let sections = &l.model.sections;
    let mut offsets = vec![0u64; sections.len()];
    let mut total = 0u64;
    for perm in [Perm::RX, Perm::RO, Perm::RW] {
        let mut end = 0u64;
        for (i, s) in sections.iter().enumerate() {
            if perm_of(s.kind) != perm {
                continue;
            }
            if s.align > PAGE_SIZE {
                return Err(fail(
                    Errno::EINVAL,
                    format!(
                        "section {} asks for alignment {:#x}, more than a page",
                        s.name, s.align
                    ),
                ));
            }
            let start = end
                .checked_next_multiple_of(s.align.max(1))
                .and_then(|st| st.checked_add(s.size).map(|e| (st, e)));
            let Some((start, e)) = start.filter(|&(_, e)| e <= MAX_PLACED_BYTES) else {
                return Err(fail(
                    Errno::E2BIG,
                    format!(
                        "sections of the payload exceed {MAX_PLACED_BYTES:#x} bytes at {}",
                        s.name
                    ),
                ));
            };
            offsets[i] = start;
            end = e;
        }
        if end == 0 {
            continue;
        }
        total += end;
        if total > MAX_PLACED_BYTES {
            return Err(fail(
                Errno::E2BIG,
                format!("sections of the payload exceed {MAX_PLACED_BYTES:#x} bytes"),
            ));
        }
        let pages = page_ceil(end).expect("bounded above") / PAGE_SIZE;
        let base = mem
            .find_free(ctx.arena.0, ctx.arena.1, pages)
            .ok_or_else(|| {
                fail(
                    Errno::ENOMEM,
                    format!("payload arena full: no room for {pages} pages"),
                )
            })?;
        mem.map(base, pages, perm, Owner::Payload(l.serial), false)
            .map_err(|e| fail(Errno::EINVAL, e.to_string()))?;
        l.regions.push((base, pages * PAGE_SIZE, perm));
        for (i, s) in sections.iter().enumerate() {
            if perm_of(s.kind) == perm {
                offsets[i] += base;
                mem.write(offsets[i], &s.data)
                    .map_err(|e| fail(Errno::EINVAL, e.to_string()))?;
            }
        }
    }
    l.section_addrs = offsets;
    Ok(())
}

/// Is symbol `i` the replacement of a patched function (defined where a trampoline
/// points, or named like a patched symbol)?
fn is_replacement(p: &Payload, i: usize) -> bool {
    let s = &p.symbols[i];
    p.new.iter().any(|e| {
        let bare = e
            .symbol
            .name
            .rsplit_once('#')
            .map_or(e.symbol.name.as_str(), |(_, n)| n);
        let at_content = s.definition.is_some_and(|d| {
            e.patch.kind == layout::XSPLICE_PATCH_RELOC_TEXT
                && d.section == e.patch.content.section
                && d.offset == e.patch.content.offset
        });
        at_content || s.name == e.symbol.name || s.name == bare
    })
}

/// An undefined name: in the hypervisor's table (Xen's exact lookup under
/// livepatch rules), else among loaded payloads' exports.
fn lookup_undefined(
    ctx: &LoadContext<'_>,
    name: &str,
) -> Result<Option<(u64, Option<u64>)>, Failure> {
    let image = match ctx.rules {
        Rules::Xsplice => lookup_image(ctx.image, name)?,
        Rules::Livepatch => ctx.image.lookup_xen(name).map(|s| (s.addr, s.size)),
    };
    if let Some((addr, _)) = image {
        return Ok(Some((addr, None)));
    }
    Ok(ctx.others.iter().find_map(|o| {
        o.exports
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| (*a, Some(o.serial)))
    }))
}

fn resolve(ctx: &LoadContext<'_>, l: &mut Loaded) -> Result<(), Failure> {
    if ctx.rules == Rules::Livepatch {
        return resolve_livepatch(ctx, l);
    }
    let p = &l.model;
    let mut addrs = Vec::with_capacity(p.symbols.len());
    let mut providers: Vec<u64> = Vec::new();
    let mut exports = Vec::new();
    for (i, s) in p.symbols.iter().enumerate() {
        match s.definition {
            Some(d) => {
                let addr = l.section_addrs[d.section].wrapping_add(d.offset);
                addrs.push(addr);
                if s.global && !is_replacement(p, i) {
                    let clash = !matches!(ctx.image.lookup(&s.name), Err(LookupError::NotFound(_)));
                    if clash {
                        return Err(fail(
                            Errno::EEXIST,
                            format!(
                                "new global symbol `{}` clashes with a hypervisor symbol",
                                s.name
                            ),
                        ));
                    }
                    if let Some(o) = ctx
                        .others
                        .iter()
                        .find(|o| o.exports.iter().any(|(n, _)| *n == s.name))
                    {
                        return Err(fail(
                            Errno::EEXIST,
                            format!(
                                "new global symbol `{}` clashes with payload `{}`",
                                s.name, o.model.name
                            ),
                        ));
                    }
                    exports.push((s.name.clone(), addr));
                }
            }
            None => {
                if let Some((addr, _)) = lookup_image(ctx.image, &s.name)? {
                    addrs.push(addr);
                    continue;
                }
                let found = ctx.others.iter().find_map(|o| {
                    o.exports
                        .iter()
                        .find(|(n, _)| *n == s.name)
                        .map(|(_, a)| (o.serial, *a))
                });
                let Some((serial, addr)) = found else {
                    return Err(fail(
                        Errno::ENOENT,
                        format!(
                            "undefined symbol `{}` is neither in the hypervisor nor exported by a loaded payload",
                            s.name
                        ),
                    ));
                };
                if !providers.contains(&serial) {
                    providers.push(serial);
                }
                addrs.push(addr);
            }
        }
    }
    l.symbol_addrs = addrs;
    l.providers = providers;
    l.exports = exports;
    Ok(())
}

/// Xen's rules: undefined names resolve in its table then among the "new" symbols
/// of loaded payloads; every named symbol that is not a replacement is new, locals
/// included, and must resolve nowhere yet (`EEXIST`).
fn resolve_livepatch(ctx: &LoadContext<'_>, l: &mut Loaded) -> Result<(), Failure> {
    let p = &l.model;
    let mut addrs = Vec::with_capacity(p.symbols.len());
    let mut providers: Vec<u64> = Vec::new();
    let mut exports = Vec::new();
    for s in &p.symbols {
        match s.definition {
            Some(d) => {
                let addr = l.section_addrs[d.section].wrapping_add(d.offset);
                addrs.push(addr);
                let replacement = p.new.iter().any(|e| {
                    d.section == e.patch.content.section && d.offset == e.patch.content.offset
                });
                if replacement {
                    continue;
                }
                if lookup_undefined(ctx, &s.name)?.is_some() {
                    return Err(fail(
                        Errno::EEXIST,
                        format!(
                            "duplicate new symbol: `{}` is already a hypervisor or payload symbol",
                            s.name
                        ),
                    ));
                }
                exports.push((s.name.clone(), addr));
            }
            None => {
                let Some((addr, provider)) = lookup_undefined(ctx, &s.name)? else {
                    return Err(fail(Errno::ENOENT, format!("Unknown symbol: {}", s.name)));
                };
                if let Some(serial) = provider
                    && !providers.contains(&serial)
                {
                    providers.push(serial);
                }
                addrs.push(addr);
            }
        }
    }
    l.symbol_addrs = addrs;
    l.providers = providers;
    l.exports = exports;
    Ok(())
}

/// Applies every relocation of the content sections, with range checks.
fn relocate(mem: &mut Memory, l: &Loaded) -> Result<(), Failure> {
    let p = &l.model;
    let arch = p.machine.arch();
    for (si, s) in p.sections.iter().enumerate() {
        for r in &s.relocs {
            let at = format!("{}+{:#x}", s.name, r.offset);
            let kind = arch.reloc_info(r.r_type).ok_or_else(|| {
                fail(
                    Errno::EOPNOTSUPP,
                    format!("relocation type {} at {at} is not supported", r.r_type),
                )
            })?;
            let width = u64::from(kind.width);
            if r.offset.checked_add(width).is_none_or(|e| e > s.size) || s.kind == ContentKind::Bss
            {
                return Err(fail(
                    Errno::EINVAL,
                    format!("relocation at {at} lies outside its section"),
                ));
            }
            let (sym_addr, sym_name) = match r.target {
                RelocTarget::Symbol(k) => (
                    *l.symbol_addrs.get(k).ok_or_else(|| {
                        fail(Errno::EINVAL, format!("relocation at {at}: no symbol {k}"))
                    })?,
                    p.symbols[k].name.clone(),
                ),
                RelocTarget::Section(k) => (
                    *l.section_addrs.get(k).ok_or_else(|| {
                        fail(Errno::EINVAL, format!("relocation at {at}: no section {k}"))
                    })?,
                    p.sections[k].name.clone(),
                ),
            };
            let place = l.section_addrs[si].wrapping_add(r.offset);
            let value = reloc_value(kind, sym_addr, r.addend, place).ok_or_else(|| {
                fail(
                    Errno::EOVERFLOW,
                    format!(
                        "relocation {} at {at} against `{sym_name}` (S={sym_addr:#x}, A={}, P={place:#x}) does not fit in {} bytes",
                        kind.name, r.addend, kind.width
                    ),
                )
            })?;
            mem.write(place, &value[..kind.width as usize])
                .map_err(|e| fail(Errno::EINVAL, e.to_string()))?;
        }
    }
    Ok(())
}

/// The little-endian bytes a relocation writes (8 bytes, of which `width` are used),
/// or `None` when the value does not fit its field.
pub fn reloc_value(
    kind: xsplice_payload::arch::RelocKind,
    s: u64,
    a: i64,
    p: u64,
) -> Option<[u8; 8]> {
    let mut v = i128::from(s) + i128::from(a);
    if kind.pc_relative {
        v -= i128::from(p);
    }
    // Arithmetic is modulo 2^64, as the processor sees addresses.
    let v64 = v as u64;
    if kind.width == 4 {
        let fits = if kind.signed {
            i32::try_from(v64 as i64).is_ok()
        } else {
            u32::try_from(v64).is_ok()
        };
        if !fits {
            return None;
        }
    }
    Some(v64.to_le_bytes())
}

fn resolve_one(ctx: &LoadContext<'_>, name: &str) -> Result<SiteSymbol, Failure> {
    match lookup_image(ctx.image, name)? {
        Some((addr, size)) => Ok(SiteSymbol {
            name: name.to_string(),
            addr,
            size,
        }),
        None => Err(fail(
            Errno::ENOENT,
            format!("symbol `{name}` to patch is not in the hypervisor's symbol table"),
        )),
    }
}

/// Xen's `old_addr`: as given, or looked up by name when 0 (its table, then the new
/// symbols of loaded payloads); sized by `old_size`.
fn livepatch_site(
    ctx: &LoadContext<'_>,
    e: &xsplice_payload::Entry,
) -> Result<SiteSymbol, Failure> {
    let addr = if e.section.address != 0 {
        e.section.address
    } else {
        lookup_undefined(ctx, &e.symbol.name)?
            .map(|(a, _)| a)
            .ok_or_else(|| {
                fail(
                    Errno::ENOENT,
                    format!("Could not resolve old address of {}", e.symbol.name),
                )
            })?
    };
    Ok(SiteSymbol {
        name: e.symbol.name.clone(),
        addr,
        size: u64::from(e.section.size),
    })
}

/// Resolves the hypervisor symbols the `.xsplice` entries name, and checks their
/// recorded addresses when the payload carries them.
fn resolve_sites(ctx: &LoadContext<'_>, l: &mut Loaded) -> Result<(), Failure> {
    if ctx.rules == Rules::Livepatch {
        l.sites = l
            .model
            .new
            .iter()
            .map(|e| livepatch_site(ctx, e))
            .collect::<Result<_, _>>()?;
        l.old_sites = l
            .model
            .old
            .iter()
            .flatten()
            .map(|e| livepatch_site(ctx, e))
            .collect::<Result<_, _>>()?;
        return Ok(());
    }
    let mut sites = Vec::new();
    for e in &l.model.new {
        let s = resolve_one(ctx, &e.symbol.name)?;
        if e.section.address != 0 && e.section.address != s.addr {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{}: xsplice_section.address {:#x} differs from the hypervisor's {:#x}",
                    e.symbol.label, e.section.address, s.addr
                ),
            ));
        }
        if let Some(r) = &e.reloc
            && r.addr != 0
            && r.addr != s.addr.wrapping_add(r.isns_target as u64)
        {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{}: xsplice_reloc.addr {:#x} differs from {:#x} + isns_target {}",
                    e.symbol.label, r.addr, s.addr, r.isns_target
                ),
            ));
        }
        sites.push(s);
    }
    let mut old_sites = Vec::new();
    for e in l.model.old.iter().flatten() {
        old_sites.push(resolve_one(ctx, &e.symbol.name)?);
    }
    l.sites = sites;
    l.old_sites = old_sites;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsplice_payload::Machine;

    fn kind(t: u32) -> xsplice_payload::arch::RelocKind {
        Machine::X86_64.arch().reloc_info(t).unwrap()
    }

    #[test]
    fn relocation_values_and_ranges() {
        use object::elf::*;
        let pc32 = kind(R_X86_64_PC32);
        // S + A - P = 0x2000 - 4 - 0x1000
        assert_eq!(
            reloc_value(pc32, 0x2000, -4, 0x1000).unwrap()[..4],
            0xffcu32.to_le_bytes()
        );
        // Backwards across the 2 GiB boundary: fits exactly at -2^31.
        assert!(reloc_value(pc32, 0, 0, 0x8000_0000).is_some());
        assert!(reloc_value(pc32, 0, -1, 0x8000_0000).is_none());
        assert!(reloc_value(pc32, 0x8000_0000, 0, 0).is_none());
        // High canonical addresses wrap correctly.
        assert!(reloc_value(pc32, 0xffff_82d0_8000_0000, 0, 0xffff_82d0_8100_0000).is_some());
        let abs32 = kind(R_X86_64_32);
        assert!(reloc_value(abs32, 0xffff_ffff, 0, 0).is_some());
        assert!(reloc_value(abs32, 0x1_0000_0000, 0, 0).is_none());
        let abs32s = kind(R_X86_64_32S);
        assert!(reloc_value(abs32s, 0xffff_ffff_8000_0000, 0, 0).is_some());
        assert!(reloc_value(abs32s, 0x8000_0000, 0, 0).is_none());
        let abs64 = kind(R_X86_64_64);
        assert_eq!(
            reloc_value(abs64, u64::MAX, 1, 0).unwrap(),
            0u64.to_le_bytes()
        );
    }
}
