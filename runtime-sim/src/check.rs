//! CHECK: everything that must hold before a payload's bytes are written. APPLY runs
//! the same checks again (the world may have changed since CHECK) and writes the
//! resulting [`Plan`].

use xsplice_payload::Entry;
use xsplice_payload::layout::*;

use crate::cpu::{Cpu, Guard, find_on_stacks};
use crate::errno::{Errno, Failure, fail};
use crate::loader::{Loaded, SiteSymbol, check_target};
use crate::memory::Memory;

/// One write of APPLY.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// `label` of the entry (`do_version+<0x0>`).
    pub label: String,
    pub addr: u64,
    pub bytes: Vec<u8>,
}

/// What APPLY will write and which code must not be running meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub guards: Vec<Guard>,
}

/// The hypervisor as CHECK sees it.
pub struct CheckContext<'a> {
    pub mem: &'a Memory,
    pub cpus: &'a [Cpu],
    pub running_build_id: &'a [u8],
    /// Build-ids of the payloads loaded (any state).
    pub loaded_build_ids: Vec<&'a [u8]>,
    /// The applied payloads, bottom of the stack first.
    pub applied: Vec<AppliedView<'a>>,
}

/// What CHECK needs to know of an applied payload.
pub struct AppliedView<'a> {
    pub id: String,
    pub build_id: &'a [u8],
    pub depends: &'a [Vec<u8>],
    /// `(label, address, length)` of every byte range its APPLY wrote.
    pub sites: Vec<(&'a str, u64, u64)>,
}

/// Why dependencies are being checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CHECK: each dependency must be loaded.
    Check,
    /// APPLY: each dependency must be applied.
    Apply,
}

fn label(e: &Entry) -> &str {
    if e.symbol.label.is_empty() {
        &e.symbol.name
    } else {
        &e.symbol.label
    }
}

/// Runs every check and returns what APPLY would write.
pub fn plan(ctx: &CheckContext<'_>, l: &Loaded, purpose: Purpose) -> Result<Plan, Failure> {
    let p = &l.model;
    check_target(p, ctx.running_build_id)?;
    let applied: Vec<&[u8]> = ctx.applied.iter().map(|a| a.build_id).collect();
    for dep in &p.depends {
        let (set, what) = match purpose {
            Purpose::Check => (&ctx.loaded_build_ids, "loaded"),
            Purpose::Apply => (&applied, "applied"),
        };
        if !set.contains(&dep.as_slice()) {
            return Err(fail(
                Errno::ENOENT,
                format!(
                    "depends on payload build-id {}, which is not {what}",
                    hex::encode(dep)
                ),
            ));
        }
    }
    let arch = p.machine.arch();
    let mut writes = Vec::new();
    let mut guards = Vec::new();
    for (i, e) in p.new.iter().enumerate() {
        let site = &l.sites[i];
        check_target_memory(ctx.mem, e, site)?;
        let size = site.size;
        let new_addr = l.content_addr(e.patch.content.section, e.patch.content.offset);
        let stackcheck = e.section.flags & XSPLICE_SECTION_NO_STACKCHECK == 0;
        match e.patch.kind {
            XSPLICE_PATCH_RELOC_TEXT => {
                let isns = e.reloc.as_ref().map_or(0, |r| r.isns_target);
                let at = site.addr.wrapping_add(isns as u64);
                let offset = at.wrapping_sub(site.addr);
                if offset >= size {
                    return Err(fail(
                        Errno::EINVAL,
                        format!(
                            "{}: isns_target {isns} is outside the {size}-byte function",
                            label(e)
                        ),
                    ));
                }
                let avail = size - offset;
                let head = ctx
                    .mem
                    .read(at, avail.min(16))
                    .map_err(|m| fail(Errno::EINVAL, format!("{}: {m}", label(e))))?;
                let pad = arch.entry_landing_pad(&head) as u64;
                let need = pad + arch.trampoline_len() as u64;
                if avail < need {
                    return Err(fail(
                        Errno::EINVAL,
                        format!(
                            "{}: {avail} bytes at the patch site cannot hold a {}-byte trampoline{}",
                            label(e),
                            arch.trampoline_len(),
                            if pad > 0 {
                                format!(" after its {pad}-byte landing pad (needs {need})")
                            } else {
                                String::new()
                            }
                        ),
                    ));
                }
                let jump = at + pad;
                let bytes = arch.encode_trampoline(jump, new_addr).ok_or_else(|| {
                    fail(
                        Errno::EOVERFLOW,
                        format!(
                            "{}: new code at {new_addr:#x} is out of jump range (±2 GiB) of {jump:#x}",
                            label(e)
                        ),
                    )
                })?;
                writes.push(Write {
                    label: label(e).to_string(),
                    addr: jump,
                    bytes,
                });
                if stackcheck {
                    guards.push(Guard {
                        what: format!("{} ({})", site.name, label(e)),
                        start: site.addr,
                        end: site.addr + size,
                    });
                    guards.push(Guard {
                        what: format!("the new code of {}", label(e)),
                        start: new_addr,
                        end: new_addr + u64::from(e.patch.size),
                    });
                }
            }
            XSPLICE_PATCH_INLINE_TEXT | XSPLICE_PATCH_INLINE_DATA => {
                let len = u64::from(e.patch.size);
                if e.patch.addr.checked_add(len).is_none_or(|end| end > size) {
                    return Err(fail(
                        Errno::EINVAL,
                        format!(
                            "{}: inline patch of {len} bytes at offset {:#x} does not fit in the {size}-byte target",
                            label(e),
                            e.patch.addr
                        ),
                    ));
                }
                let sec = &p.sections[e.patch.content.section];
                let (lo, hi) = (e.patch.content.offset, e.patch.content.offset + len);
                if let Some(r) = sec.relocs.iter().find(|r| {
                    let k = arch.reloc_info(r.r_type);
                    k.is_some_and(|k| {
                        k.pc_relative && r.offset < hi && r.offset + u64::from(k.width) > lo
                    })
                }) {
                    return Err(fail(
                        Errno::EINVAL,
                        format!(
                            "{}: inline content has a PC-relative relocation at {}+{:#x}, which would be wrong once copied",
                            label(e),
                            sec.name,
                            r.offset
                        ),
                    ));
                }
                let bytes = ctx
                    .mem
                    .read(new_addr, len)
                    .map_err(|m| fail(Errno::EINVAL, m.to_string()))?;
                let addr = site.addr + e.patch.addr;
                writes.push(Write {
                    label: label(e).to_string(),
                    addr,
                    bytes,
                });
                if stackcheck && e.patch.kind == XSPLICE_PATCH_INLINE_TEXT {
                    guards.push(Guard {
                        what: format!("{} ({})", site.name, label(e)),
                        start: site.addr,
                        end: site.addr + size,
                    });
                }
            }
            other => {
                return Err(fail(
                    Errno::EINVAL,
                    format!("{}: unknown patch type {other}", label(e)),
                ));
            }
        }
    }
    for (j, e) in p.old.iter().flatten().enumerate() {
        check_old(ctx.mem, l, e, &l.old_sites[j])?;
    }
    let mut sorted: Vec<&Write> = writes.iter().collect();
    sorted.sort_by_key(|w| w.addr);
    for pair in sorted.windows(2) {
        if pair[0].addr + pair[0].bytes.len() as u64 > pair[1].addr {
            return Err(fail(
                Errno::EINVAL,
                format!(
                    "{} and {} write overlapping bytes at {:#x}",
                    pair[0].label, pair[1].label, pair[1].addr
                ),
            ));
        }
    }
    check_stacking(ctx, p, &writes)?;
    if let Some(why) = find_on_stacks(ctx.mem, ctx.cpus, &guards) {
        return Err(fail(Errno::EBUSY, why));
    }
    Ok(Plan { writes, guards })
}

/// A payload may write over bytes an applied payload wrote only if it depends on that
/// payload, directly or through other applied payloads. Otherwise it was built
/// without the other's change and would silently undo it (an earlier security fix
/// lost). The rule is the overlap form of Xen's linear stack: unrelated payloads on
/// different functions stay independent.
fn check_stacking(
    ctx: &CheckContext<'_>,
    p: &xsplice_payload::Payload,
    writes: &[Write],
) -> Result<(), Failure> {
    let mut needed: Vec<&[u8]> = p.depends.iter().map(Vec::as_slice).collect();
    loop {
        let before = needed.len();
        for a in &ctx.applied {
            if needed.contains(&a.build_id) {
                for d in a.depends {
                    if !needed.contains(&d.as_slice()) {
                        needed.push(d);
                    }
                }
            }
        }
        if needed.len() == before {
            break;
        }
    }
    for a in ctx.applied.iter().filter(|a| !needed.contains(&a.build_id)) {
        for w in writes {
            let end = w.addr + w.bytes.len() as u64;
            if let Some((site, _, _)) = a
                .sites
                .iter()
                .find(|(_, at, len)| w.addr < at + len && *at < end)
            {
                return Err(fail(
                    Errno::EBUSY,
                    format!(
                        "{}: the bytes at {:#x} were patched by applied payload `{}` ({site}), which this payload does not depend on; it would undo that patch (build it against a tree with that fix, with --depends on that payload)",
                        w.label, w.addr, a.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The patched symbol: sized as the payload says, in memory of the right kind.
fn check_target_memory(mem: &Memory, e: &Entry, site: &SiteSymbol) -> Result<(), Failure> {
    if site.size == 0 {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "{}: `{}` has no size in the hypervisor's symbol table",
                label(e),
                site.name
            ),
        ));
    }
    if u64::from(e.section.size) != site.size {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "{}: the payload says `{}` is {} bytes, the hypervisor's is {}",
                label(e),
                site.name,
                e.section.size,
                site.size
            ),
        ));
    }
    let perms = mem.perms_of(site.addr, site.size).map_err(|m| {
        fail(
            Errno::EINVAL,
            format!("{}: `{}` is not in memory: {m}", label(e), site.name),
        )
    })?;
    let kind = e.section.flags & XSPLICE_SECTION_KIND_MASK;
    if kind == XSPLICE_SECTION_DATA || perms.iter().any(|p| p.write) {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "{}: `{}` is writable data, which is never patched",
                label(e),
                site.name
            ),
        ));
    }
    if kind == XSPLICE_SECTION_TEXT && perms.iter().any(|p| !p.exec) {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "{}: `{}` is flagged TEXT but is not in executable memory",
                label(e),
                site.name
            ),
        ));
    }
    Ok(())
}

/// Old code: the expected bytes must be in memory, byte for byte.
fn check_old(mem: &Memory, l: &Loaded, e: &Entry, site: &SiteSymbol) -> Result<(), Failure> {
    let len = u64::from(e.patch.size);
    if e.patch
        .addr
        .checked_add(len)
        .is_none_or(|end| end > site.size)
    {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "old code {}: {len} bytes at offset {:#x} do not fit in the {}-byte `{}`",
                label(e),
                e.patch.addr,
                site.size,
                site.name
            ),
        ));
    }
    let expected = mem
        .read(
            l.content_addr(e.patch.content.section, e.patch.content.offset),
            len,
        )
        .map_err(|m| fail(Errno::EINVAL, m.to_string()))?;
    let at = site.addr + e.patch.addr;
    let actual = mem
        .read(at, len)
        .map_err(|m| fail(Errno::EINVAL, format!("old code {}: {m}", label(e))))?;
    if let Some(i) = (0..expected.len()).find(|&i| expected[i] != actual[i]) {
        return Err(fail(
            Errno::EINVAL,
            format!(
                "old code {}: byte at {:#x} is {:#04x}, the payload expects {:#04x}",
                label(e),
                at + i as u64,
                actual[i],
                expected[i]
            ),
        ));
    }
    Ok(())
}
