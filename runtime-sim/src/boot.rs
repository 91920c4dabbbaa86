//! Boot: maps a hypervisor image into simulated memory and lays out the areas the
//! simulator adds (payload arena, CPU stacks, call buffers).
//!
//! Page permissions come from the image's `PT_LOAD` segments, refined by its
//! allocated sections when the image has section headers: a page keeps only the
//! permissions of the sections on it (text RX, read-only data RO, data RW). This
//! matters for images linked into one RWX segment (Xen's `xen-syms` is one). Nothing
//! here looks at symbol names, the entry point or addresses of a particular image.

use xsplice_image::Image;

use crate::memory::{MemError, Memory, Owner, PAGE_SIZE, Perm, page_ceil, page_floor};

/// Simulator settings fixed at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Simulated CPUs (1..=64).
    pub cpus: usize,
    /// Largest payload UPLOAD accepts, in bytes (`E2BIG` above).
    pub max_payload_size: u64,
    /// Start of the payload arena; `None` places it next to the image.
    pub arena_base: Option<u64>,
    /// Size of the payload arena in bytes.
    pub arena_size: u64,
    /// Bytes of stack per CPU (a power of two ≥ 2 pages; stacks are aligned to it).
    pub stack_size: u64,
    /// Bytes of call-argument buffers per CPU.
    pub scratch_size: u64,
    /// Simulated microseconds one patch-site write takes during APPLY/REVERT (see
    /// the time bound of actions).
    pub site_write_us: u64,
    /// A call that executes more instructions than this is stopped with an error.
    pub max_instructions: u64,
    /// The hypercall interface; `None`: the one the image implements (Xen's
    /// livepatch when it defines `livepatch_op`, the design's xsplice otherwise).
    pub interface: Option<crate::livepatch::Interface>,
    /// The livepatch `XEN_SYSCTL_INTERFACE_VERSION` simulated: 0x15 (Xen 4.17–4.20)
    /// or 0x16 (4.21 on: LIST takes the caller's buffer sizes, `ENOBUFS`).
    pub livepatch_interface_version: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cpus: 2,
            max_payload_size: 2 << 20,
            arena_base: None,
            arena_size: 256 << 20,
            stack_size: 64 << 10,
            scratch_size: 64 << 10,
            site_write_us: 0,
            max_instructions: 50_000_000,
            interface: None,
            livepatch_interface_version: xsplice_abi::livepatch::INTERFACE_VERSION_4_17,
        }
    }
}

/// Where the simulator's own areas are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Lowest and one-past-highest page of the image.
    pub image: (u64, u64),
    /// Payload memory is allocated in `[arena.0, arena.1)`.
    pub arena: (u64, u64),
    /// Per CPU: stack base (lowest address) and size.
    pub stacks: Vec<(u64, u64)>,
    /// Per CPU: buffer area base and size.
    pub scratch: Vec<(u64, u64)>,
    /// Return address of every call: never mapped, reaching it ends the call.
    pub sentinel: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot map the image: {0}")]
    Map(#[from] MemError),
    #[error("no room for the simulator's areas ({0:#x} bytes) next to the image")]
    NoRoom(u64),
}

const GAP: u64 = 2 << 20;

fn in_low_half(a: u64) -> bool {
    a < 0x0000_8000_0000_0000
}

/// Maps every loadable segment and applies section permissions.
pub fn map_image(image: &Image, mem: &mut Memory) -> Result<(u64, u64), BootError> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    for seg in image.segments() {
        if seg.memsz == 0 {
            continue;
        }
        let start = page_floor(seg.vaddr);
        let end = seg
            .vaddr
            .checked_add(seg.memsz)
            .and_then(page_ceil)
            .ok_or(MemError::Wraps {
                addr: seg.vaddr,
                len: seg.memsz,
            })?;
        let perm = Perm {
            read: seg.read,
            write: seg.write,
            exec: seg.exec,
        };
        let mut page = start;
        while page < end {
            match mem.perm(page) {
                Some(p) => mem.set_perm(page, p.union(perm))?,
                None => mem.map(page, 1, perm, Owner::Image, true)?,
            }
            page += PAGE_SIZE;
        }
        mem.write(seg.vaddr, &seg.data)?;
        lo = lo.min(start);
        hi = hi.max(end);
    }
    if lo >= hi {
        return Err(BootError::Config("the image has no loadable bytes".into()));
    }
    refine_with_sections(image, mem);
    apply_layout_symbols(image, mem);
    Ok((lo, hi))
}

/// Ranges a hypervisor's own linker script marks, and the permissions the
/// hypervisor maps them with at boot whatever the ELF flags say (Debian's
/// `xen-syms` has `.text` flagged WAX inside one RWE segment; Xen maps
/// `[_stext, _etext)` read-only and executable all the same).
const LAYOUT_RANGES: [(&str, &str, Perm); 4] = [
    ("_stext", "_etext", Perm::RX),
    ("_srodata", "_erodata", Perm::RO),
    ("_sinittext", "_einittext", Perm::RX),
    ("__start_rodata", "__end_rodata", Perm::RO),
];

/// Applies [`LAYOUT_RANGES`] to the image pages they cover (both symbols defined,
/// start below end). Pages shared with something else keep the union, so a range
/// never takes a permission away from a neighbour it does not own.
fn apply_layout_symbols(image: &Image, mem: &mut Memory) {
    let addr = |name: &str| image.lookup(name).ok().map(|s| s.addr);
    let mut by_page: std::collections::BTreeMap<u64, Perm> = Default::default();
    for (start, end, perm) in LAYOUT_RANGES {
        let (Some(s), Some(e)) = (addr(start), addr(end)) else {
            continue;
        };
        if s >= e {
            continue;
        }
        let mut page = page_floor(s);
        while page < e {
            let p = by_page.entry(page).or_insert(perm);
            *p = p.union(perm);
            let Some(next) = page.checked_add(PAGE_SIZE) else {
                break;
            };
            page = next;
        }
    }
    for (page, perm) in by_page {
        if mem.owner(page) == Some(Owner::Image) {
            let _ = mem.set_perm(page, perm);
        }
    }
}

/// Section-level permissions: each image page gets the union of the permissions of
/// the allocated sections on it, intersected with what its segment allowed.
fn refine_with_sections(image: &Image, mem: &mut Memory) {
    let mut by_page: std::collections::BTreeMap<u64, Perm> = Default::default();
    for sh in image.sections() {
        if !sh.alloc || sh.tls || sh.size == 0 {
            continue;
        }
        let perm = Perm {
            read: true,
            write: sh.write,
            exec: sh.exec,
        };
        let Some(end) = sh.addr.checked_add(sh.size) else {
            continue;
        };
        let mut page = page_floor(sh.addr);
        while page < end {
            let e = by_page.entry(page).or_insert(Perm {
                read: false,
                write: false,
                exec: false,
            });
            *e = e.union(perm);
            let Some(next) = page.checked_add(PAGE_SIZE) else {
                break;
            };
            page = next;
        }
    }
    for (page, perm) in by_page {
        if let Some(seg) = mem.perm(page)
            && mem.owner(page) == Some(Owner::Image)
        {
            let refined = Perm {
                read: seg.read && perm.read,
                write: seg.write && perm.write,
                exec: seg.exec && perm.exec,
            };
            let _ = mem.set_perm(page, refined);
        }
    }
}

/// Chooses the simulator's areas and maps stacks and buffer areas.
pub fn plan_layout(
    config: &SimConfig,
    image_span: (u64, u64),
    mem: &mut Memory,
) -> Result<Layout, BootError> {
    if config.cpus == 0 || config.cpus > 64 {
        return Err(BootError::Config(format!(
            "cpus must be 1..=64, not {}",
            config.cpus
        )));
    }
    let pow2_pages = |n: u64| n.is_power_of_two() && n >= 2 * PAGE_SIZE;
    if !pow2_pages(config.stack_size) {
        return Err(BootError::Config(format!(
            "stack size {:#x} must be a power of two of at least two pages",
            config.stack_size
        )));
    }
    if config.scratch_size == 0 || !config.scratch_size.is_multiple_of(PAGE_SIZE) {
        return Err(BootError::Config(
            "scratch size must be a non-zero multiple of the page size".into(),
        ));
    }
    if config.arena_size == 0 || !config.arena_size.is_multiple_of(PAGE_SIZE) {
        return Err(BootError::Config(
            "arena size must be a non-zero multiple of the page size".into(),
        ));
    }
    let cpus = config.cpus as u64;
    // arena | gap | per cpu: stack (aligned), scratch | sentinel page
    let per_cpu = 2 * config.stack_size + config.scratch_size + 2 * PAGE_SIZE;
    let total = config
        .arena_size
        .checked_add(GAP)
        .and_then(|t| t.checked_add(per_cpu.checked_mul(cpus)?))
        .and_then(|t| t.checked_add(GAP))
        .ok_or(BootError::NoRoom(u64::MAX))?;
    let (lo, hi) = image_span;
    let fits = |base: u64| -> bool {
        let Some(end) = base.checked_add(total) else {
            return false;
        };
        let same_half = in_low_half(base) == in_low_half(end - 1);
        let canonical = in_low_half(end - 1) || base >= 0xffff_8000_0000_0000;
        let clear = end <= lo || base >= hi;
        same_half && canonical && clear && base >= 0x10_0000
    };
    let base = match config.arena_base {
        Some(b) => {
            if b % PAGE_SIZE != 0 || !fits(b) {
                return Err(BootError::Config(format!(
                    "arena base {b:#x} is unaligned, overlaps the image or leaves the canonical address space"
                )));
            }
            b
        }
        None => {
            let above = hi
                .checked_add(GAP)
                .and_then(|a| a.checked_add(GAP - 1))
                .map(|a| a & !(GAP - 1));
            let below = lo
                .checked_sub(total)
                .and_then(|b| b.checked_sub(GAP))
                .map(|b| b & !(GAP - 1));
            match (above.filter(|&a| fits(a)), below.filter(|&b| fits(b))) {
                (Some(a), _) => a,
                (None, Some(b)) => b,
                (None, None) => return Err(BootError::NoRoom(total)),
            }
        }
    };
    let arena = (base, base + config.arena_size);
    let mut next = arena.1 + GAP;
    let mut stacks = Vec::new();
    let mut scratch = Vec::new();
    for cpu in 0..config.cpus {
        let s = (next + config.stack_size - 1) & !(config.stack_size - 1);
        mem.map(
            s,
            config.stack_size / PAGE_SIZE,
            Perm::RW,
            Owner::Stack(cpu),
            false,
        )?;
        stacks.push((s, config.stack_size));
        let b = s + config.stack_size + PAGE_SIZE;
        mem.map(
            b,
            config.scratch_size / PAGE_SIZE,
            Perm::RW,
            Owner::Scratch(cpu),
            false,
        )?;
        scratch.push((b, config.scratch_size));
        next = b + config.scratch_size + PAGE_SIZE;
    }
    Ok(Layout {
        image: image_span,
        arena,
        stacks,
        scratch,
        sentinel: next,
    })
}
