//! The livepatch part of `tests/corpus/bad/` (files `*.livepatch`): one malformed
//! payload per rule of the livepatch encoding's strict reader and of runtime-sim's
//! Xen 4.17 loader that the differential corpus (built at test time against real
//! Xen) cannot pin as committed files. Each starts from a seed payload of
//! runtime-sim's tiny image, written in the livepatch encoding, with one thing
//! broken. Rules Xen itself applies are also in `tests/livepatch_differential.rs`,
//! where real Xen checks the simulator's errno.

use runtime_sim::fuzz::seed_payloads;
use xsplice_image::Image;
use xsplice_payload::livepatch::layout as lp;
use xsplice_payload::write::to_bytes;
use xsplice_payload::*;

use super::generate::File;

fn lp_file(p: &Payload) -> File {
    File {
        bytes: to_bytes(p, Flavour::Livepatch).expect("recipes start from valid models"),
    }
}

/// Every malformed livepatch payload: file name and bytes.
pub fn bad(image: &Image) -> Vec<(String, Vec<u8>)> {
    let seeds = seed_payloads(image);
    let base = || lp_file(&seeds[0]);
    let funcs = |f: &File, field: &str| f.field(&lp::LIVEPATCH_FUNC, 0, field);
    let mut out: Vec<(&str, File)> = Vec::new();

    out.push(("lp-version-1.livepatch", {
        let f = base();
        let at = funcs(&f, "version");
        f.u8(at, 1)
    }));
    out.push(("lp-pad-not-zero.livepatch", {
        let f = base();
        let at = funcs(&f, "_pad");
        f.u8(at + 31, 1)
    }));
    out.push(("lp-expect-reserved-bits.livepatch", {
        let f = base();
        let at = funcs(&f, "expect");
        f.u8(at, 0xc3)
    }));
    out.push(("lp-nop-entry.livepatch", {
        let f = base();
        let at = f.pointer_rela(&lp::LIVEPATCH_FUNC, 0, "new_addr");
        let size = funcs(&f, "new_size");
        // R_X86_64_NONE: new_addr stays 0, a NOP entry of 0 bytes.
        f.u32(at + 8, 0).u32(size, 0)
    }));
    out.push(("lp-name-pc32.livepatch", {
        let f = base();
        let at = f.pointer_rela(&lp::LIVEPATCH_FUNC, 0, "name");
        f.u32(at + 8, object::elf::R_X86_64_PC32)
    }));
    out.push(("lp-funcs-not-alloc.livepatch", {
        let f = base();
        f.sh_u64(lp::FUNCS_SECTION, 8, 1)
    }));
    out.push(("lp-build-id-not-alloc.livepatch", {
        let f = base();
        f.sh_u64(".note.gnu.build-id", 8, 0)
    }));
    out.push(("lp-xen-depends-missing.livepatch", {
        let f = base();
        f.sh_u32(lp::XEN_DEPENDS_SECTION, 0, 0)
    }));
    out.push(("lp-modinfo-no-nul.livepatch", {
        let f = base();
        let s = f.data(lp::MODINFO_SECTION);
        let name_end = s + "name=provider".len();
        f.u8(name_end, b'!')
    }));
    out.push(("lp-hook-two-pointers.livepatch", {
        let mut p = seeds[0].clone();
        let k = p
            .symbols
            .iter()
            .position(|s| s.kind == SymbolKind::Func && s.definition.is_some())
            .expect("a function of the payload");
        p.hooks = vec![Hook {
            kind: HookKind::PreApply,
            symbol: k,
        }];
        let f = lp_file(&p);
        f.sh_u64(".livepatch.hooks.preapply", 32, 16)
    }));
    out.push(("lp-wrong-hypervisor.livepatch", {
        let mut p = seeds[0].clone();
        p.depends = vec![p.target_build_id.clone()];
        p.target_build_id = vec![0x5a; 20];
        lp_file(&p)
    }));
    out.push(("lp-both-encodings.livepatch", {
        // .modinfo renamed .xsplice: a file claiming both encodings.
        base().replace_in(".shstrtab", b".modinfo\0", b".xsplice\0")
    }));
    out.into_iter()
        .map(|(n, f)| (n.to_string(), f.bytes))
        .collect()
}
