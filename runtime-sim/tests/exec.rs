//! Executing hypervisor code: arguments, buffers, faults, limits, pausing.

mod common;

use common::*;
use runtime_sim::cpu::CallError;
use runtime_sim::exec::ExecError;
use runtime_sim::*;

#[test]
fn calls_with_integers_and_buffers() {
    let fx = Fixture::new();
    let mut hv = fx.boot();
    assert_eq!(
        hv.call(0, "add", &[Arg::Int(40), Arg::Int(2)]).unwrap().ret,
        42
    );
    let r = hv
        .call(1, "sum_buf", &[Arg::Buf(vec![1, 2, 3, 250]), Arg::Int(4)])
        .unwrap();
    assert_eq!(r.ret, 256);
    let r = hv
        .call(
            0,
            "fill",
            &[Arg::Buf(vec![0; 5]), Arg::Int(3), Arg::Int(0x41)],
        )
        .unwrap();
    assert_eq!(r.buffers, vec![b"AAA\0\0".to_vec()]);
    // Writable data persists between calls, on any CPU.
    assert_eq!(hv.call(0, "bump_counter", &[Arg::Int(2)]).unwrap().ret, 7);
    assert_eq!(hv.call(1, "get_counter", &[]).unwrap().ret, 7);
    // Locals by file#name.
    assert_eq!(hv.call(0, "cet.c#helper", &[Arg::Int(1)]).unwrap().ret, 9);
    assert!(matches!(
        hv.call(0, "helper", &[]),
        Err(CallError::Ambiguous { .. })
    ));
    assert!(matches!(
        hv.call(0, "nope", &[]),
        Err(CallError::Unknown(_))
    ));
    assert!(matches!(hv.call(9, "add", &[]), Err(CallError::NoCpu(9))));
}

#[test]
fn page_permissions_are_enforced_on_guest_code() {
    let fx = Fixture::new();
    let mut hv = fx.boot();
    let banner = hv.resolve_symbol("banner").unwrap();
    // fill(banner, 1, 0): a write into read-only data.
    let e = hv
        .call(0, "fill", &[Arg::Int(banner), Arg::Int(1), Arg::Int(0)])
        .unwrap_err();
    match e {
        CallError::Exec {
            source: ExecError::Fault { access, addr, .. },
            ..
        } => {
            assert_eq!(access, "write to a read-only page");
            assert_eq!(addr, banner);
        }
        other => panic!("{other}"),
    }
    // Jumping into data is not allowed either.
    let counter = hv.resolve_symbol("counter").unwrap();
    let e = hv.call_until(0, "counter", &[], None).unwrap_err();
    assert!(e.to_string().contains("non-executable"), "{e}");
    assert!(e.to_string().contains(&format!("{counter:#x}")), "{e}");
}

#[test]
fn runaway_code_is_stopped_and_cpus_pause_anywhere() {
    let fx = Fixture::new();
    let mut hv = fx.boot_with(SimConfig {
        max_instructions: 10_000,
        ..SimConfig::default()
    });
    let e = hv.call(0, "spin", &[]).unwrap_err();
    assert!(e.to_string().contains("10000 instructions"), "{e}");
    // Pause after 3 instructions of outer, then finish.
    let out = hv
        .call_until(1, "outer", &[Arg::Int(1)], Some(StopAt::Instructions(3)))
        .unwrap();
    let CallOutcome::Paused { rip } = out else {
        panic!("{out:?}")
    };
    assert!(hv.cpus()[1].paused.is_some());
    let e = hv.call(1, "add", &[Arg::Int(1), Arg::Int(1)]).unwrap_err();
    assert!(matches!(e, CallError::Busy { cpu: 1, .. }), "{e}");
    let done = hv.resume(1, None).unwrap();
    assert_eq!(
        done,
        CallOutcome::Returned(CallResult {
            ret: 13,
            buffers: vec![]
        }),
        "paused at {rip:#x}"
    );
    assert!(matches!(hv.resume(1, None), Err(CallError::NotPaused(1))));
    assert_eq!(
        hv.resolve_location("leaf+2").unwrap(),
        hv.resolve_symbol("leaf").unwrap() + 2
    );
}

#[test]
fn high_canonical_images_run_and_patch() {
    let dir = tempfile::tempdir().unwrap();
    let path = gcc_high_image(dir.path());
    let image = xsplice_image::Image::from_path(&path).unwrap();
    let do_version = image.lookup("do_version").unwrap().addr;
    assert!(do_version >= 0xffff_ffff_8000_0000, "{do_version:#x}");
    let mut hv = Hypervisor::boot(
        xsplice_image::Image::from_path(&path).unwrap(),
        SimConfig::default(),
        Policy::default(),
        Trust::none(),
    )
    .unwrap();
    assert!(hv.layout().arena.0 >= 0xffff_8000_0000_0000);
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 263);
    assert_eq!(hv.call(1, "bump_counter", &[Arg::Int(1)]).unwrap().ret, 6);
    let banner = hv.resolve_symbol("banner").unwrap();
    let e = hv
        .call(0, "fill", &[Arg::Int(banner), Arg::Int(1), Arg::Int(0)])
        .unwrap_err();
    assert!(e.to_string().contains(&format!("at {banner:#x}")), "{e}");
    let id = PayloadId::new("p").unwrap();
    let p = tail_call(&image, "p", "do_version", "leaf", 1);
    hv.upload(id, &bytes(&p)).unwrap();
    for a in [Action::Check, Action::Apply] {
        hv.action(&id, a, 0).unwrap();
        hv.settle();
    }
    assert_eq!(
        hv.get(&id).unwrap(),
        Status::Applied,
        "{:?}",
        hv.last_error(&id)
    );
    assert_eq!(
        hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret,
        7,
        "leaf(1) = 1 + counter"
    );
}
