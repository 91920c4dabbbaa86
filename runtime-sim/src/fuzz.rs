//! The body of the `runtime_upload` fuzz target (`fuzz/fuzz_targets/runtime_upload.rs`)
//! and its 100-iteration `smoke()` test under plain `cargo test`.
//!
//! A simulated hypervisor is booted from a tiny committed image
//! (`tests/fixtures/tiny-hv.elf`, built from `tiny-hv.c`; see the README there), then
//! the fuzzer's bytes are uploaded twice: as they are, and as a *nearly valid*
//! payload (one of [`seed_payloads`] with one or two fields changed by
//! [`xsplice_payload::mutate::mutate_fields`]). Whatever is accepted goes through
//! CHECK, APPLY, REVERT and UNLOAD. Nothing may panic, and every refusal must leave
//! the simulated memory byte-identical, the list and the version unchanged.

use xsplice_image::Image;
use xsplice_payload::layout::*;
use xsplice_payload::mutate::mutate_fields;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

use crate::boot::SimConfig;
use crate::errno::Errno;
use crate::hypervisor::Hypervisor;
use crate::memory::Memory;
use crate::policy::Policy;
use crate::signature::Trust;
use crate::state::{Action, PayloadId, State, Status};

/// `tests/fixtures/tiny-hv.elf`: a tiny freestanding image (see `tiny-hv.c`).
pub const TINY_HV: &[u8] = include_bytes!("../tests/fixtures/tiny-hv.elf");

/// The tiny image, parsed.
pub fn tiny_image() -> Image {
    Image::parse(TINY_HV.to_vec()).expect("the committed tiny image parses")
}

/// A small configuration (few pages to compare): 2 CPUs, 2-page stacks, 1-page call
/// buffers, a 16 MiB arena next to the image.
pub fn small_config() -> SimConfig {
    SimConfig {
        cpus: 2,
        stack_size: 8 << 10,
        scratch_size: 4 << 10,
        arena_size: 16 << 20,
        ..SimConfig::default()
    }
}

/// Boots the tiny image with [`small_config`], the default policy and no signatures.
pub fn boot_tiny() -> Hypervisor {
    Hypervisor::boot(
        tiny_image(),
        small_config(),
        Policy::default(),
        Trust::none(),
    )
    .expect("the tiny image boots")
}

fn symbol(image: &Image, name: &str) -> (u64, u64) {
    let s = image
        .lookup(name)
        .unwrap_or_else(|e| panic!("tiny image lacks {name}: {e}"));
    (s.addr, s.size)
}

/// A trampoline entry replacing `target` by the code at the start of `section`.
pub fn trampoline(image: &Image, target: &str, section: usize, code_len: u32) -> Entry {
    let (addr, size) = symbol(image, target);
    Entry::trampoline(
        Machine::X86_64,
        target,
        addr,
        size as u32,
        ContentRef { section, offset: 0 },
        code_len,
    )
}

/// An inline entry writing `len` bytes from `content` at `target + offset`.
pub fn inline(
    image: &Image,
    target: &str,
    kind: u32,
    flags: u32,
    offset: u64,
    len: u32,
    content: ContentRef,
) -> Entry {
    let (addr, size) = symbol(image, target);
    Entry {
        symbol: PatchSymbol {
            name: target.into(),
            label: format!("{target}+<{offset:#x}>"),
        },
        section: SectionInfo {
            address: addr,
            size: size as u32,
            flags,
        },
        reloc: Some(RelocInfo {
            addr: addr + offset,
            isns_target: offset as i64,
            isns_added: 0,
            howto: Howto::inline(len),
        }),
        patch: Patch {
            kind,
            size: len,
            addr: offset,
            content,
        },
    }
}

fn func(name: &str, section: usize, size: u64, global: bool) -> Symbol {
    Symbol {
        name: name.into(),
        kind: SymbolKind::Func,
        global,
        definition: Some(SymbolDef {
            section,
            offset: 0,
            size,
        }),
    }
}

fn undefined(name: &str) -> Symbol {
    Symbol {
        name: name.into(),
        kind: SymbolKind::NoType,
        global: true,
        definition: None,
    }
}

/// Three valid payloads for the tiny image that together use most of the format:
///
/// 0. `provider`: trampolines on `tiny_version` and `tiny_add` (two sites); its new
///    code calls the image local `tiny-hv.c#helper` (PLT32) and loads `table`
///    (R_X86_64_64); it exports the global data object `fuzz_export` (plus a bss).
/// 1. `inline`: inline text patch of `tiny_lookup` checked against old code, inline
///    data patches of `table` (RODATA) and `banner` (STRING).
/// 2. `user`: depends on `provider`'s build-id, patches `tiny_sum` with code reading
///    `fuzz_export` (PC32 against a symbol another payload exports).
pub fn seed_payloads(image: &Image) -> Vec<Payload> {
    let id = image.build_id().to_vec();
    let base = |name: &str| Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: name.into(),
        target_build_id: id.clone(),
        depends: vec![],
        new: vec![],
        old: None,
        sections: vec![],
        symbols: vec![],
    };

    // provider
    let mut p = base("provider");
    // mov eax, 0x0407; ret
    p.sections.push(ContentSection::with_data(
        ".text.tiny_version",
        ContentKind::Text,
        16,
        vec![0xb8, 0x07, 0x04, 0, 0, 0xc3],
    ));
    // call helper; movabs rcx, table; add eax, [rcx]; ret
    let mut add = vec![0xe8, 0, 0, 0, 0, 0x48, 0xb9];
    add.extend_from_slice(&[0; 8]);
    add.extend_from_slice(&[0x03, 0x01, 0xc3]);
    let mut text = ContentSection::with_data(".text.tiny_add", ContentKind::Text, 16, add);
    text.relocs = vec![
        Reloc {
            offset: 1,
            r_type: object::elf::R_X86_64_PLT32,
            target: RelocTarget::Symbol(4),
            addend: -4,
        },
        Reloc {
            offset: 7,
            r_type: object::elf::R_X86_64_64,
            target: RelocTarget::Symbol(5),
            addend: 0,
        },
    ];
    p.sections.push(text);
    p.sections.push(ContentSection::with_data(
        ".data.fuzz_export",
        ContentKind::Data,
        8,
        vec![1, 2, 3, 4, 5, 6, 7, 8],
    ));
    p.sections.push(ContentSection {
        size: 64,
        ..ContentSection::with_data(".bss.scratch", ContentKind::Bss, 8, vec![])
    });
    p.new = vec![
        trampoline(image, "tiny_version", 0, 6),
        trampoline(image, "tiny_add", 1, 18),
    ];
    // Locals first: `scratch` is new data nobody else may see.
    p.symbols = vec![
        Symbol {
            name: "scratch".into(),
            kind: SymbolKind::Object,
            global: false,
            definition: Some(SymbolDef {
                section: 3,
                offset: 0,
                size: 64,
            }),
        },
        func("tiny_version", 0, 6, true),
        func("tiny_add", 1, 18, true),
        Symbol {
            name: "fuzz_export".into(),
            kind: SymbolKind::Object,
            global: true,
            definition: Some(SymbolDef {
                section: 2,
                offset: 0,
                size: 8,
            }),
        },
        undefined("tiny-hv.c#helper"),
        undefined("table"),
    ];

    // inline
    let mut q = base("inline");
    let (lookup, _) = symbol(image, "tiny_lookup");
    let current = image.read(lookup, 6).expect("mapped").to_vec();
    q.sections.push(ContentSection::with_data(
        ".text.inline",
        ContentKind::Text,
        1,
        vec![0xb8, 0x2a, 0, 0, 0, 0xc3],
    ));
    q.sections.push(ContentSection::with_data(
        ".rodata.inline",
        ContentKind::ReadOnly,
        4,
        vec![99, 0, 0, 0],
    ));
    q.sections.push(ContentSection::with_data(
        ".rodata.str1.1",
        ContentKind::Strings,
        1,
        b"TINY\0".to_vec(),
    ));
    q.sections.push(ContentSection::with_data(
        ".rodata.old",
        ContentKind::ReadOnly,
        1,
        current,
    ));
    let ct = |section| ContentRef { section, offset: 0 };
    q.new = vec![
        inline(
            image,
            "tiny_lookup",
            XSPLICE_PATCH_INLINE_TEXT,
            XSPLICE_SECTION_TEXT | XSPLICE_SECTION_TEXT_INLINE,
            0,
            6,
            ct(0),
        ),
        inline(
            image,
            "table",
            XSPLICE_PATCH_INLINE_DATA,
            XSPLICE_SECTION_RODATA,
            4,
            4,
            ct(1),
        ),
        inline(
            image,
            "banner",
            XSPLICE_PATCH_INLINE_DATA,
            XSPLICE_SECTION_STRING,
            0,
            4,
            ct(2),
        ),
    ];
    let mut old = q.new[0].clone();
    old.reloc = None;
    old.section.flags = XSPLICE_SECTION_TEXT | XSPLICE_SECTION_MATCH_EXACT;
    old.patch.content = ct(3);
    q.old = Some(vec![old]);

    // user
    let mut u = base("user");
    // mov rax, [rip + fuzz_export]; ret
    let mut code = ContentSection::with_data(
        ".text.tiny_sum",
        ContentKind::Text,
        16,
        vec![0x48, 0x8b, 0x05, 0, 0, 0, 0, 0xc3],
    );
    code.relocs.push(Reloc {
        offset: 3,
        r_type: object::elf::R_X86_64_PC32,
        target: RelocTarget::Symbol(1),
        addend: -4,
    });
    u.sections.push(code);
    u.new = vec![trampoline(image, "tiny_sum", 0, 8)];
    u.symbols = vec![func("tiny_sum", 0, 8, true), undefined("fuzz_export")];
    u.depends = vec![payload_build_id(&p)];

    vec![p, q, u]
}

/// The build-id the writer gives a payload.
pub fn payload_build_id(p: &Payload) -> Vec<u8> {
    let bytes = to_bytes(p, xsplice_payload::Flavour::Xsplice).expect("a valid model");
    xsplice_payload::read::read(&bytes)
        .expect("written payloads read back")
        .build_id
}

/// What a refusal must leave untouched.
struct Snapshot {
    mem: Memory,
    version: u32,
    list: Vec<(PayloadId, Status)>,
}

impl Snapshot {
    fn of(hv: &Hypervisor) -> Snapshot {
        Snapshot {
            mem: hv.memory().clone(),
            version: hv.version(),
            list: hv.payloads().iter().map(|r| (r.id, r.status())).collect(),
        }
    }

    fn assert_memory(&self, hv: &Hypervisor, what: &str) {
        if let Some(d) = hv.memory().first_difference(&self.mem) {
            panic!("{what} changed memory: {d}");
        }
    }

    fn assert_unchanged(&self, hv: &Hypervisor, what: &str) {
        self.assert_memory(hv, what);
        assert_eq!(hv.version(), self.version, "{what} changed the version");
        let list: Vec<_> = hv.payloads().iter().map(|r| (r.id, r.status())).collect();
        assert_eq!(list, self.list, "{what} changed the list");
    }
}

/// Runs `action` to completion; an accepted action ends in the next state, a failed
/// one keeps the state and leaves memory byte-identical.
fn act(hv: &mut Hypervisor, id: &PayloadId, action: Action) -> bool {
    let before = Snapshot::of(hv);
    let state = hv.payload(id).expect("loaded").state;
    hv.action(id, action, 0)
        .unwrap_or_else(|f| panic!("{} from {state:?} refused: {f}", action.name()));
    hv.settle();
    assert_eq!(hv.pending(), None, "{} still pending", action.name());
    assert_eq!(
        hv.version(),
        before.version.wrapping_add(2).max(1),
        "{}",
        action.name()
    );
    match hv.get(id) {
        Err(_) => {
            assert_eq!(action, Action::Unload);
            true
        }
        Ok(Status::Error(_)) => {
            assert_eq!(hv.payload(id).expect("kept").state, state);
            before.assert_memory(hv, &format!("failed {}", action.name()));
            false
        }
        Ok(s) => {
            let next = action.next_state().expect("not unload");
            assert_eq!(hv.payload(id).expect("kept").state, next);
            assert_eq!(s.code(), next.code());
            true
        }
    }
}

/// How far a payload got in [`exercise`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reached {
    /// UPLOAD refused it with this errno.
    Refused(Errno),
    /// CHECK failed with this errno.
    CheckFailed(Errno),
    /// APPLY failed with this errno.
    ApplyFailed(Errno),
    /// Applied, then reverted and unloaded.
    Applied,
}

fn errno_of(hv: &Hypervisor, id: &PayloadId) -> Errno {
    match hv.get(id) {
        Ok(Status::Error(e)) => e,
        other => panic!("expected an error status, got {other:?}"),
    }
}

/// Uploads `bytes`; a refusal must change nothing; an accepted payload is checked,
/// applied, reverted and unloaded, each failure changing nothing and the whole cycle
/// restoring memory byte for byte.
pub fn exercise(hv: &mut Hypervisor, name: &str, bytes: &[u8]) -> Reached {
    let id = PayloadId::new(name).expect("a valid id");
    let before = Snapshot::of(hv);
    if let Err(f) = hv.upload(id, bytes) {
        before.assert_unchanged(hv, &format!("refused upload ({f})"));
        return Reached::Refused(f.errno);
    }
    assert_eq!(hv.get(&id), Ok(Status::Loaded));
    assert_eq!(hv.version(), before.version.wrapping_add(1).max(1));
    let reached = if !act(hv, &id, Action::Check) {
        Reached::CheckFailed(errno_of(hv, &id))
    } else {
        let checked = Snapshot::of(hv);
        if act(hv, &id, Action::Apply) {
            assert!(
                act(hv, &id, Action::Revert),
                "revert after apply failed: {:?}",
                hv.last_error(&id)
            );
            checked.assert_memory(hv, "apply + revert");
            Reached::Applied
        } else {
            Reached::ApplyFailed(errno_of(hv, &id))
        }
    };
    let state = hv.payload(&id).expect("loaded").state;
    assert_ne!(state, State::Applied);
    assert!(act(hv, &id, Action::Unload), "{:?}", hv.last_error(&id));
    before.assert_memory(hv, "upload + unload");
    reached
}

/// The fuzz target: raw bytes, then a nearly valid payload chosen and mutated by
/// them, into a hypervisor where `provider` may already be loaded.
pub fn fuzz_upload(data: &[u8]) -> [Reached; 2] {
    let mut hv = boot_tiny();
    let seeds = seed_payloads(hv.image());
    let sel = data.first().copied().unwrap_or(0);
    if sel & 0x80 != 0 {
        let p = to_bytes(&seeds[0], Flavour::Xsplice).expect("seeds are valid");
        hv.upload(PayloadId::new("preloaded").expect("id"), &p)
            .expect("the provider seed loads");
    }
    let raw = exercise(&mut hv, "raw", data);
    let mut bytes = to_bytes(
        &seeds[usize::from(sel & 0x3f) % seeds.len()],
        xsplice_payload::Flavour::Xsplice,
    )
    .expect("valid");
    if sel & 0x40 == 0 {
        mutate_fields(&mut bytes, data.get(1..).unwrap_or(&[]));
    }
    [raw, exercise(&mut hv, "nearly-valid", &bytes)]
}

/// The livepatch fuzz target: the same inputs through Xen 4.17's interface (the tiny
/// image, made to speak it), in the livepatch encoding: raw bytes, then a nearly
/// valid payload; UPLOAD, APPLY, REVERT and UNLOAD through the sysctl ABI with
/// `xsplice-abi`. A refusal changes nothing; a full cycle restores memory.
pub fn fuzz_livepatch_upload(data: &[u8]) -> [Option<Errno>; 2] {
    use xsplice_abi::livepatch as abi;
    let config = SimConfig {
        interface: Some(crate::livepatch::Interface::Livepatch),
        ..small_config()
    };
    let mut hv = Hypervisor::boot(tiny_image(), config, Policy::default(), Trust::none())
        .expect("the tiny image boots");
    let seeds: Vec<Payload> = seed_payloads(hv.image())
        .into_iter()
        .filter(|p| p.validate(Flavour::Livepatch).is_ok())
        .collect();
    assert!(!seeds.is_empty(), "some seeds fit the livepatch encoding");
    let sel = usize::from(data.first().copied().unwrap_or(0));
    let mut bytes = to_bytes(&seeds[sel % seeds.len()], Flavour::Livepatch).expect("valid");
    mutate_fields(&mut bytes, data.get(1..).unwrap_or(&[]));
    let mut c = crate::livepatch::client::LivepatchClient::new(0);
    let mut run = |hv: &mut Hypervisor, name: &str, input: &[u8]| -> Option<Errno> {
        let before = Snapshot::of(hv);
        if let Err(e) = c.upload(hv, name, input) {
            before.assert_unchanged(hv, &format!("refused livepatch upload ({e})"));
            return Some(e.errno);
        }
        assert_eq!(c.get(hv, name).map(|s| s.state), Ok(abi::STATE_CHECKED));
        let checked = Snapshot::of(hv);
        if c.action(hv, name, abi::ACTION_APPLY, 0, 0).is_ok() {
            hv.settle();
            let st = c.get(hv, name).expect("loaded");
            if st.rc == 0 {
                assert_eq!(st.state, abi::STATE_APPLIED);
                c.action(hv, name, abi::ACTION_REVERT, 0, 0)
                    .expect("the top payload reverts");
                hv.settle();
                assert_eq!(c.get(hv, name).expect("loaded").rc, 0);
            }
        }
        checked.assert_memory(hv, "livepatch apply + revert");
        c.action(hv, name, abi::ACTION_UNLOAD, 0, 0)
            .expect("a checked payload unloads");
        before.assert_memory(hv, "livepatch upload + unload");
        None
    };
    let raw = run(&mut hv, "raw", data);
    [raw, run(&mut hv, "nearly-valid", &bytes)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Perm;
    use std::collections::BTreeMap;
    use xsplice_payload::mutate::pseudo_random;

    /// The fuzz target's 100-iteration smoke run.
    #[test]
    fn smoke() {
        for seed in 0..100 {
            fuzz_upload(&pseudo_random(seed, 64));
        }
    }

    /// The livepatch target's 100-iteration smoke run; nearly valid inputs are both
    /// accepted and refused in many ways.
    #[test]
    fn livepatch_smoke() {
        let mut outcomes = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let [_, near] = fuzz_livepatch_upload(&pseudo_random(seed, 64));
            outcomes.insert(near);
        }
        assert!(outcomes.contains(&None), "{outcomes:?}");
        assert!(outcomes.len() >= 4, "{outcomes:?}");
    }

    /// Nearly valid payloads reach every stage: refusals of many kinds, failed
    /// CHECKs and APPLYs, and full cycles.
    #[test]
    fn nearly_valid_payloads_reach_every_stage() {
        let mut seen: BTreeMap<Reached, usize> = BTreeMap::new();
        for seed in 0..400 {
            let [_, near] = fuzz_upload(&pseudo_random(seed, 64));
            *seen.entry(near).or_default() += 1;
        }
        let count = |f: &dyn Fn(&Reached) -> bool| -> usize {
            seen.iter().filter(|(r, _)| f(r)).map(|(_, n)| n).sum()
        };
        let refusal_kinds = seen
            .keys()
            .filter(|r| matches!(r, Reached::Refused(_)))
            .count();
        assert!(refusal_kinds >= 4, "{seen:?}");
        assert!(
            count(&|r| matches!(r, Reached::CheckFailed(_))) > 0,
            "{seen:?}"
        );
        assert!(count(&|r| *r == Reached::Applied) >= 40, "{seen:?}");
    }

    /// With `XSPLICE_FUZZ_SEEDS=DIR`, writes the seed payloads into DIR as a starting
    /// corpus for the raw-bytes half of the fuzz target (see `fuzz/README.md`).
    #[test]
    fn write_fuzz_seeds() {
        let image = tiny_image();
        let files: Vec<(String, Vec<u8>)> = seed_payloads(&image)
            .iter()
            .map(|p| {
                (
                    format!("seed-{}.xsplice", p.name),
                    to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap(),
                )
            })
            .collect();
        assert_eq!(files.len(), 3);
        if let Some(dir) = std::env::var_os("XSPLICE_FUZZ_SEEDS") {
            let dir = std::path::PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            for (name, bytes) in &files {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }

    /// The fixture has what the fuzz target, the property test and the corpus rely on.
    #[test]
    fn tiny_image_has_the_functions_the_rules_need() {
        let hv = boot_tiny();
        let image = hv.image();
        assert_eq!(image.build_id(), b"tiny-hv-fixture-0001");
        assert_eq!(symbol(image, "tiny_nop").1, 1);
        let (endbr, size) = symbol(image, "tiny_endbr");
        assert!(size < 9, "{size}");
        assert_eq!(image.read(endbr, 4).unwrap(), [0xf3, 0x0f, 0x1e, 0xfa]);
        for f in ["tiny_version", "tiny_add", "tiny_sum", "tiny_lookup"] {
            assert!(symbol(image, f).1 >= 6, "{f}");
            assert_eq!(hv.memory().perm(symbol(image, f).0), Some(Perm::RX));
        }
        assert_eq!(hv.memory().perm(symbol(image, "counter").0), Some(Perm::RW));
        assert_eq!(hv.memory().perm(symbol(image, "table").0), Some(Perm::RO));
        assert!(image.lookup("tiny-hv.c#helper").is_ok());
    }

    /// Every seed goes the whole way (so mutations start from payloads that reach
    /// APPLY), and `user` needs `provider`.
    #[test]
    fn seeds_load_check_apply_and_revert() {
        let mut hv = boot_tiny();
        let seeds = seed_payloads(hv.image());
        let boot = hv.memory().clone();
        let user = to_bytes(&seeds[2], Flavour::Xsplice).unwrap();
        let e = hv.upload(PayloadId::new("u").unwrap(), &user).unwrap_err();
        assert_eq!(e.errno, Errno::ENOENT, "{e}");
        let ids: Vec<PayloadId> = ["p", "i", "u"]
            .iter()
            .map(|s| PayloadId::new(s).unwrap())
            .collect();
        for (id, p) in ids.iter().zip(&seeds) {
            hv.upload(
                *id,
                &to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap(),
            )
            .unwrap();
        }
        for id in &ids {
            for a in [Action::Check, Action::Apply] {
                assert!(act(&mut hv, id, a), "{a:?} {id}: {:?}", hv.last_error(id));
            }
        }
        let (lookup, _) = symbol(hv.image(), "tiny_lookup");
        assert_eq!(
            hv.memory().read(lookup, 6).unwrap(),
            [0xb8, 0x2a, 0, 0, 0, 0xc3]
        );
        for id in ids.iter().rev() {
            assert!(act(&mut hv, id, Action::Revert));
        }
        for id in ids.iter().rev() {
            assert!(act(&mut hv, id, Action::Unload));
        }
        assert_eq!(hv.memory().first_difference(&boot), None);
    }
}
