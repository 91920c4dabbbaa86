//! The livepatch interface runs a payload's hooks as Xen does: load hooks before
//! patching, unload hooks after reverting, a pre-apply hook that can veto. (The
//! loader rules and action semantics are checked against real Xen by
//! tests/livepatch_differential.rs.)

mod common;

use common::*;
use runtime_sim::{Arg, Hypervisor, Interface, LivepatchClient, Policy, SimConfig, Trust};
use xsplice_abi::livepatch as abi;
use xsplice_payload::*;

fn boot(fx: &Fixture) -> Hypervisor {
    let config = SimConfig {
        interface: Some(Interface::Livepatch),
        ..SimConfig::default()
    };
    Hypervisor::boot(fx.image(), config, Policy::default(), Trust::none()).unwrap()
}

/// Adds a function `name` of the payload, `code` with its relocations, and returns
/// its symbol index.
fn function(p: &mut Payload, name: &str, code: Vec<u8>, relocs: Vec<Reloc>) -> usize {
    let mut s = ContentSection::with_data(&format!(".text.{name}"), ContentKind::Text, 16, code);
    s.relocs = relocs;
    p.symbols.push(Symbol {
        name: name.into(),
        kind: SymbolKind::Func,
        global: false,
        definition: Some(SymbolDef {
            section: p.sections.len(),
            offset: 0,
            size: s.size,
        }),
    });
    p.sections.push(s);
    p.symbols.len() - 1
}

/// `mov edi, by; jmp bump_counter` as a new function `name` of the payload.
fn bumper(p: &mut Payload, name: &str, by: i32) -> usize {
    let callee = match p.symbols.iter().position(|s| s.name == "bump_counter") {
        Some(k) => k,
        None => {
            p.symbols.push(Symbol {
                name: "bump_counter".into(),
                kind: SymbolKind::NoType,
                global: true,
                definition: None,
            });
            p.symbols.len() - 1
        }
    };
    let mut code = vec![0xbf];
    code.extend_from_slice(&by.to_le_bytes());
    code.extend_from_slice(&[0xe9, 0, 0, 0, 0]);
    let jump = Reloc {
        offset: 6,
        r_type: object::elf::R_X86_64_PLT32,
        target: RelocTarget::Symbol(callee),
        addend: -4,
    };
    function(p, name, code, vec![jump])
}

fn counter(hv: &mut Hypervisor) -> u64 {
    hv.call(0, "get_counter", &[]).unwrap().ret
}

#[test]
fn load_and_unload_hooks_run_around_patching() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut p = replace(&image, "hooked", &[("do_version", ret_const(264))]);
    let load = bumper(&mut p, "on_load", 5);
    p.hooks.push(Hook {
        kind: HookKind::Load,
        symbol: load,
    });
    let unload = bumper(&mut p, "on_unload", -5);
    p.hooks.push(Hook {
        kind: HookKind::Unload,
        symbol: unload,
    });
    let bytes = write::to_bytes(&p, Flavour::Livepatch).unwrap();
    let mut hv = boot(&fx);
    let mut c = LivepatchClient::new(0);
    c.upload(&mut hv, "hooked", &bytes).unwrap();
    assert_eq!(counter(&mut hv), 5, "nothing runs at upload");
    c.action(&mut hv, "hooked", abi::ACTION_APPLY, 0, 0)
        .unwrap();
    hv.settle();
    assert_eq!(c.get(&mut hv, "hooked").unwrap().state, abi::STATE_APPLIED);
    assert_eq!(counter(&mut hv), 10, "the load hook ran");
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 264);
    c.action(&mut hv, "hooked", abi::ACTION_REVERT, 0, 0)
        .unwrap();
    hv.settle();
    assert_eq!(counter(&mut hv), 5, "the unload hook ran");
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 263);
}

#[test]
fn a_pre_apply_hook_vetoes_apply() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut p = replace(&image, "vetoed", &[("do_version", ret_const(264))]);
    // The veto: return -EPERM.
    let veto = function(
        &mut p,
        "veto",
        vec![0xb8, 0xff, 0xff, 0xff, 0xff, 0xc3],
        vec![],
    );
    p.hooks.push(Hook {
        kind: HookKind::PreApply,
        symbol: veto,
    });
    let bytes = write::to_bytes(&p, Flavour::Livepatch).unwrap();
    let mut hv = boot(&fx);
    let mut c = LivepatchClient::new(0);
    c.upload(&mut hv, "vetoed", &bytes).unwrap();
    let e = c
        .action(&mut hv, "vetoed", abi::ACTION_APPLY, 0, 0)
        .unwrap_err();
    assert_eq!(e.errno.0, 1, "{e}");
    assert!(
        e.to_string().contains("PreApply hook failed (rc=-1)"),
        "{e}"
    );
    let st = c.get(&mut hv, "vetoed").unwrap();
    assert_eq!((st.state, st.rc), (abi::STATE_CHECKED, -1));
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 263);
}

/// Xen 4.21 (interface 0x16): a 0x15 request is EACCES; LIST takes the caller's
/// buffer sizes and refuses an entry that does not fit with ENOBUFS.
#[test]
fn xen_421_list_takes_buffer_sizes() {
    let fx = Fixture::new();
    let image = fx.image();
    let config = SimConfig {
        interface: Some(Interface::Livepatch),
        livepatch_interface_version: abi::INTERFACE_VERSION_4_21,
        ..SimConfig::default()
    };
    let mut hv = Hypervisor::boot(fx.image(), config, Policy::default(), Trust::none()).unwrap();
    let p = replace(&image, "named-fix", &[("do_version", ret_const(264))]);
    let bytes = write::to_bytes(&p, Flavour::Livepatch).unwrap();
    let mut c = LivepatchClient::new(0);
    assert_eq!(
        c.upload(&mut hv, "named-fix", &bytes).unwrap_err().errno.0,
        13
    );
    c.interface_version = abi::INTERFACE_VERSION_4_21;
    c.upload(&mut hv, "named-fix", &bytes).unwrap();
    let list = |c: &mut LivepatchClient, hv: &mut Hypervisor, names: u32| {
        let bufs: Vec<u64> = [8, names, 4, 64, 4]
            .iter()
            .map(|&n| c.guest.alloc(&vec![0u8; n as usize]))
            .collect();
        c.call(
            hv,
            &abi::Request::List {
                idx: 0,
                nr: 1,
                pad: 0,
                name_total_size: names,
                metadata_total_size: 64,
                status: bufs[0],
                name: bufs[1],
                len: bufs[2],
                metadata: bufs[3],
                metadata_len: bufs[4],
            },
        )
    };
    let (r, _) = list(&mut c, &mut hv, 4);
    assert_eq!(
        r.unwrap_err().errno.0,
        105,
        "ENOBUFS: `named-fix` needs 10 bytes"
    );
    let (r, out) = list(&mut c, &mut hv, 10);
    assert_eq!(r.unwrap(), 1);
    assert_eq!(abi::list_out(&out).name_total_size, 10);
    assert_eq!(c.list(&mut hv).unwrap()[0].name, "named-fix");
}
