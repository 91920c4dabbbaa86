//! The livepatch encoding: the model's content plus Xen's `.livepatch.*` sections.
//!
//! - one `struct livepatch_func` per patched function (`new` entries): `name` and
//!   `new_addr` by `R_X86_64_64` relocations, `old_addr` the target address from the
//!   image (0 when unknown: Xen then looks `name` up), `expect` from the `old` entry
//!   of the same function, its first 31 bytes at most;
//! - `.livepatch.xen_depends`: the hypervisor's build-id note; `.livepatch.depends`:
//!   the note of the payload this one stacks on, or the hypervisor's for the first;
//! - `.livepatch.hooks.*`: one 8-byte pointer per hook function;
//! - `.modinfo`: `name=<name>` (Xen returns it as LIST metadata);
//! - every section Xen reads through its load address is SHF_ALLOC.
//!
//! Content sections that only hold `old` bytes are not written: the bytes travel in
//! `expect`.

use object::write::SectionId;
use object::{SectionFlags, SectionKind, elf};

use super::layout::*;
use crate::model::*;
use crate::write::{Strings, StructBuf, WriteError, Writer, gnu_build_id_note};

/// Content sections referenced by nothing but `old` entries.
pub fn expectation_only_sections(p: &Payload) -> Vec<usize> {
    let Some(old) = &p.old else {
        return Vec::new();
    };
    let mut used = vec![false; p.sections.len()];
    for e in &p.new {
        used[e.patch.content.section] = true;
    }
    for s in &p.sections {
        for r in &s.relocs {
            match r.target {
                RelocTarget::Section(k) => used[k] = true,
                RelocTarget::Symbol(k) => {
                    if let Some(d) = p.symbols[k].definition {
                        used[d.section] = true;
                    }
                }
            }
        }
    }
    for sym in &p.symbols {
        if let Some(d) = sym.definition {
            used[d.section] = true;
        }
    }
    let mut only: Vec<usize> = old
        .iter()
        .map(|e| e.patch.content.section)
        .filter(|&k| !used[k])
        .collect();
    only.sort_unstable();
    only.dedup();
    only
}

/// The bytes an entry's expectation compares: the start of the `old` entry of the
/// same function, as much as `expect.data` holds.
pub fn expectation<'p>(p: &'p Payload, e: &Entry) -> &'p [u8] {
    let Some(old) = p
        .old
        .iter()
        .flatten()
        .find(|o| o.symbol.name == e.symbol.name)
    else {
        return &[];
    };
    let sec = &p.sections[old.patch.content.section];
    let start = old.patch.content.offset as usize;
    let len = (old.patch.size as usize).min(OPAQUE_SIZE);
    &sec.data[start..start + len]
}

pub(crate) fn structures(w: &mut Writer<'_>) -> Result<(), WriteError> {
    let p = w.p;
    w.content(&expectation_only_sections(p))?;

    let str_id = w.add_section(STRINGS_SECTION, SectionKind::ReadOnlyString);
    let mut strings = Strings::default();

    if !p.new.is_empty() {
        // Writable ("WA"): Xen 4.17.0–4.17.2 keep per-function state in it, and
        // Xen lets a reverted payload be applied again when this is its only
        // writable section.
        let funcs_id = w.add_section(FUNCS_SECTION, SectionKind::Data);
        let mut funcs = StructBuf::new();
        for e in &p.new {
            let at = funcs.push(&LIVEPATCH_FUNC);
            funcs.ptr(
                at,
                &LIVEPATCH_FUNC,
                "name",
                str_id,
                strings.add(&e.symbol.name),
            );
            let code = w.content_id(e.patch.content.section)?;
            funcs.ptr(
                at,
                &LIVEPATCH_FUNC,
                "new_addr",
                code,
                e.patch.content.offset,
            );
            funcs.put(
                at,
                &LIVEPATCH_FUNC,
                "old_addr",
                &e.section.address.to_le_bytes(),
            );
            funcs.put(at, &LIVEPATCH_FUNC, "new_size", &e.patch.size.to_le_bytes());
            funcs.put(
                at,
                &LIVEPATCH_FUNC,
                "old_size",
                &e.section.size.to_le_bytes(),
            );
            funcs.put(at, &LIVEPATCH_FUNC, "version", &[PAYLOAD_VERSION]);
            let expect = expectation(p, e);
            funcs.put(at, &LIVEPATCH_FUNC, "expect", &[expect_byte(expect.len())]);
            let mut data = [0u8; OPAQUE_SIZE];
            data[..expect.len()].copy_from_slice(expect);
            funcs.put(at, &LIVEPATCH_FUNC, "expect.data", &data);
        }
        w.finish_structs(funcs_id, funcs)?;
    }
    w.obj.set_section_data(str_id, strings.bytes, 1);

    for kind in HookKind::ALL {
        let hooks: Vec<&Hook> = p.hooks.iter().filter(|h| h.kind == kind).collect();
        if hooks.is_empty() {
            continue;
        }
        let id = w.add_section(hook_section(kind), SectionKind::ReadOnlyData);
        let mut buf = StructBuf::new();
        for h in hooks {
            let d = p.symbols[h.symbol]
                .definition
                .ok_or_else(|| WriteError::Elf("hook symbol is undefined".into()))?;
            let target = w.content_id(d.section)?;
            buf.bytes.extend_from_slice(&[0; 8]);
            buf.pointers
                .push(((buf.bytes.len() - 8) as u64, target, d.offset));
        }
        w.finish_structs(id, buf)?;
    }

    let previous = p.depends.first().unwrap_or(&p.target_build_id);
    note(w, DEPENDS_SECTION, previous);
    note(w, XEN_DEPENDS_SECTION, &p.target_build_id);
    if !p.name.is_empty() {
        let id = w.add_section(MODINFO_SECTION, SectionKind::ReadOnlyData);
        let mut info = MODINFO_NAME_KEY.as_bytes().to_vec();
        info.extend_from_slice(p.name.as_bytes());
        info.push(0);
        w.obj.set_section_data(id, info, 1);
    }
    Ok(())
}

fn note(w: &mut Writer<'_>, name: &str, build_id: &[u8]) -> SectionId {
    let id = w.add_section(name, SectionKind::Note);
    w.obj.section_mut(id).flags = SectionFlags::Elf {
        sh_flags: u64::from(elf::SHF_ALLOC),
    };
    w.obj.set_section_data(id, gnu_build_id_note(build_id), 4);
    id
}
