//! CHECK, APPLY and REVERT: every check, all-or-nothing, time bounds, stacking,
//! dependencies and the stack walk.

mod common;

use common::*;
use runtime_sim::*;
use xsplice_payload::layout::*;
use xsplice_payload::*;

fn pid(s: &str) -> PayloadId {
    PayloadId::new(s).unwrap()
}

fn up(hv: &mut Hypervisor, id: &str, p: &Payload) {
    hv.upload(pid(id), &bytes(p)).unwrap();
}

fn act(hv: &mut Hypervisor, id: &str, a: Action, time: u64) -> Status {
    hv.action(&pid(id), a, time).unwrap();
    hv.settle();
    hv.get(&pid(id)).unwrap()
}

/// Runs an action that must fail with `errno` without changing memory, the state,
/// or anything but the status.
fn act_fails(hv: &mut Hypervisor, id: &str, a: Action, time: u64, errno: Errno) -> String {
    let before = hv.memory().clone();
    let state = hv.payload(&pid(id)).unwrap().state;
    let st = act(hv, id, a, time);
    let r = hv.payload(&pid(id)).unwrap();
    assert_eq!(st, Status::Error(errno), "{:?}", r.error);
    assert_eq!(r.state, state);
    assert_eq!(hv.memory().first_difference(&before), None);
    r.error.as_ref().unwrap().why.clone()
}

fn ret(hv: &mut Hypervisor, f: &str, args: &[u64]) -> u64 {
    let args: Vec<Arg> = args.iter().map(|&a| Arg::Int(a)).collect();
    hv.call(0, f, &args).unwrap().ret
}

#[test]
fn old_code_must_match_memory() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let (addr, size) = sym(&image, "magic");
    let current = image.read(addr, 6).unwrap().to_vec();
    let with_old = |expected: Vec<u8>| {
        let mut p = replace(&image, "p", &[("magic", ret_const(7))]);
        p.sections.push(ContentSection::with_data(
            ".rodata.old",
            ContentKind::ReadOnly,
            1,
            expected.clone(),
        ));
        p.old = Some(vec![Entry {
            symbol: p.new[0].symbol.clone(),
            section: SectionInfo {
                address: addr,
                size: size as u32,
                flags: XSPLICE_SECTION_TEXT | XSPLICE_SECTION_MATCH_EXACT,
            },
            reloc: None,
            patch: Patch {
                kind: XSPLICE_PATCH_INLINE_TEXT,
                size: expected.len() as u32,
                addr: 0,
                content: ContentRef {
                    section: 1,
                    offset: 0,
                },
            },
        }]);
        p
    };
    let mut wrong = current.clone();
    wrong[3] ^= 0xff;
    up(&mut hv, "bad", &with_old(wrong));
    let why = act_fails(&mut hv, "bad", Action::Check, 0, Errno::EINVAL);
    assert!(why.contains(&format!("{:#x}", addr + 3)), "{why}");
    let mut ok = with_old(current);
    ok.name = "good".into();
    up(&mut hv, "good", &ok);
    assert_eq!(act(&mut hv, "good", Action::Check, 0), Status::Checked);
    assert_eq!(act(&mut hv, "good", Action::Apply, 0), Status::Applied);
    assert_eq!(ret(&mut hv, "magic", &[]), 7);
    // Once applied, memory no longer holds the old code.
    let mut again = with_old(image.read(addr, 6).unwrap().to_vec());
    again.name = "again".into();
    up(&mut hv, "again", &again);
    act_fails(&mut hv, "again", Action::Check, 0, Errno::EINVAL);
}

#[test]
fn trampoline_sites_and_endbr64() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    // cet_small: endbr64 + 4 bytes: no room for a jump after the landing pad.
    up(
        &mut hv,
        "small",
        &replace(&image, "small", &[("cet_small", ret_const(1))]),
    );
    let why = act_fails(&mut hv, "small", Action::Check, 0, Errno::EINVAL);
    assert!(
        why.contains("landing pad") && why.contains("needs 9"),
        "{why}"
    );
    // cet_big: the jump goes after endbr64, which stays in place.
    let (addr, _) = sym(&image, "cet_big");
    up(
        &mut hv,
        "big",
        &replace(&image, "big", &[("cet_big", ret_const(77))]),
    );
    assert_eq!(act(&mut hv, "big", Action::Check, 0), Status::Checked);
    assert_eq!(act(&mut hv, "big", Action::Apply, 0), Status::Applied);
    let head = hv.memory().read(addr, 9).unwrap();
    assert_eq!(&head[..5], &[0xf3, 0x0f, 0x1e, 0xfa, 0xe9]);
    let r = hv.payload(&pid("big")).unwrap();
    let new = r.loaded.section_addrs[0];
    let disp = i32::from_le_bytes(head[5..9].try_into().unwrap());
    assert_eq!((addr + 9).wrapping_add(disp as i64 as u64), new);
    assert_eq!(ret(&mut hv, "cet_big", &[3, 4]), 77);
    // A 3-byte function cannot be patched: the payload must say its real size.
    let mut p = replace(&image, "tiny", &[("tiny", ret_const(1))]);
    p.new[0].section.size = 5;
    up(&mut hv, "tiny", &p);
    let why = act_fails(&mut hv, "tiny", Action::Check, 0, Errno::EINVAL);
    assert!(why.contains("is 3"), "{why}");
}

fn inline(
    image: &xsplice_image::Image,
    target: &str,
    offset: u64,
    data: Vec<u8>,
    text: bool,
) -> Payload {
    Payload {
        machine: Machine::X86_64,
        hooks: Vec::new(),
        name: format!("inline-{target}"),
        target_build_id: image.build_id().to_vec(),
        depends: vec![],
        new: vec![runtime_sim::fuzz::inline(
            image,
            target,
            if text {
                XSPLICE_PATCH_INLINE_TEXT
            } else {
                XSPLICE_PATCH_INLINE_DATA
            },
            if text {
                XSPLICE_SECTION_TEXT | XSPLICE_SECTION_TEXT_INLINE
            } else {
                XSPLICE_SECTION_RODATA
            },
            offset,
            data.len() as u32,
            ContentRef {
                section: 0,
                offset: 0,
            },
        )],
        old: None,
        sections: vec![ContentSection::with_data(
            ".rodata.inline",
            ContentKind::ReadOnly,
            1,
            data,
        )],
        symbols: vec![],
    }
}

#[test]
fn inline_patches_of_text_and_rodata() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let start = hv.memory().clone();
    assert_eq!(ret(&mut hv, "magic", &[]), 0x1234_5678);
    up(
        &mut hv,
        "t",
        &inline(
            &image,
            "magic",
            1,
            0x0bad_cafe_u32.to_le_bytes().to_vec(),
            true,
        ),
    );
    act(&mut hv, "t", Action::Check, 0);
    assert_eq!(act(&mut hv, "t", Action::Apply, 0), Status::Applied);
    assert_eq!(ret(&mut hv, "magic", &[]), 0x0bad_cafe);
    assert_eq!(ret(&mut hv, "banner_char", &[0]), u64::from(b'x'));
    up(
        &mut hv,
        "d",
        &inline(&image, "banner", 0, b"X".to_vec(), false),
    );
    act(&mut hv, "d", Action::Check, 0);
    assert_eq!(act(&mut hv, "d", Action::Apply, 0), Status::Applied);
    assert_eq!(ret(&mut hv, "banner_char", &[0]), u64::from(b'X'));
    act(&mut hv, "d", Action::Revert, 0);
    act(&mut hv, "t", Action::Revert, 0);
    assert_eq!(ret(&mut hv, "magic", &[]), 0x1234_5678);
    for id in ["d", "t"] {
        hv.action(&pid(id), Action::Unload, 0).unwrap();
        hv.settle();
    }
    // Calls used the stack; everything else is as booted.
    let mut diff = hv.memory().clone();
    for (b, l) in hv.layout().stacks.clone() {
        diff.write(b, &start.read(b, l).unwrap()).unwrap();
    }
    assert_eq!(diff.first_difference(&start), None);
}

#[test]
fn writable_data_is_never_patched() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    // `counter` lives in .data; the payload claims RODATA.
    up(&mut hv, "w", &inline(&image, "counter", 0, vec![9], false));
    let why = act_fails(&mut hv, "w", Action::Check, 0, Errno::EINVAL);
    assert!(why.contains("writable"), "{why}");
}

#[test]
fn new_code_must_be_within_2gib() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot_with(SimConfig {
        arena_base: Some(0x4_0000_0000),
        ..SimConfig::default()
    });
    up(
        &mut hv,
        "far",
        &replace(&image, "far", &[("do_version", ret_const(1))]),
    );
    let why = act_fails(&mut hv, "far", Action::Check, 0, Errno::EOVERFLOW);
    assert!(why.contains("2 GiB"), "{why}");
}

#[test]
fn stack_check_walks_paused_cpus() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    // CPU 1 runs outer(5) -> middle -> leaf and stops at leaf's first instruction.
    let leaf = hv.resolve_symbol("leaf").unwrap();
    let out = hv
        .call_until(1, "outer", &[Arg::Int(5)], Some(StopAt::Address(leaf)))
        .unwrap();
    assert_eq!(out, CallOutcome::Paused { rip: leaf });
    up(
        &mut hv,
        "m",
        &replace(&image, "m", &[("middle", ret_const(1))]),
    );
    let why = act_fails(&mut hv, "m", Action::Check, 0, Errno::EBUSY);
    assert!(
        why.contains("CPU 1") && why.contains("return address") && why.contains("middle"),
        "{why}"
    );
    up(
        &mut hv,
        "o",
        &replace(&image, "o", &[("outer", ret_const(1))]),
    );
    act_fails(&mut hv, "o", Action::Check, 0, Errno::EBUSY);
    up(
        &mut hv,
        "l",
        &replace(&image, "l", &[("leaf", ret_const(1))]),
    );
    let why = act_fails(&mut hv, "l", Action::Check, 0, Errno::EBUSY);
    assert!(why.contains("executing"), "{why}");
    // Functions not in use can be patched meanwhile.
    up(
        &mut hv,
        "v",
        &replace(&image, "v", &[("do_version", ret_const(1))]),
    );
    assert_eq!(act(&mut hv, "v", Action::Check, 0), Status::Checked);
    // NO_STACKCHECK skips the walk for that entry.
    let mut p = replace(&image, "m2", &[("middle", ret_const(1))]);
    p.new[0].section.flags |= XSPLICE_SECTION_NO_STACKCHECK;
    up(&mut hv, "m2", &p);
    assert_eq!(act(&mut hv, "m2", Action::Check, 0), Status::Checked);
    // The paused call finishes with the original result.
    assert_eq!(
        hv.resume(1, None).unwrap(),
        CallOutcome::Returned(CallResult {
            ret: 21,
            buffers: vec![]
        })
    );
    assert_eq!(act(&mut hv, "m", Action::Check, 0), Status::Checked);
    assert_eq!(act(&mut hv, "m", Action::Apply, 0), Status::Applied);
    assert_eq!(ret(&mut hv, "outer", &[5]), 2);
    // Revert is refused while the new code is running.
    let new_middle = hv.payload(&pid("m")).unwrap().loaded.section_addrs[0];
    hv.call_until(
        1,
        "outer",
        &[Arg::Int(5)],
        Some(StopAt::Address(new_middle)),
    )
    .unwrap();
    let why = act_fails(&mut hv, "m", Action::Revert, 0, Errno::EBUSY);
    assert!(why.contains("new code"), "{why}");
    hv.resume(1, None).unwrap();
    assert_eq!(act(&mut hv, "m", Action::Revert, 0), Status::Reverted);
}

#[test]
fn apply_is_all_or_nothing_under_the_time_bound() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot_with(SimConfig {
        site_write_us: 10_000,
        ..SimConfig::default()
    });
    let p = replace(
        &image,
        "three",
        &[
            ("leaf", ret_const(1)),
            ("middle", ret_const(2)),
            ("outer", ret_const(3)),
        ],
    );
    up(&mut hv, "three", &p);
    assert_eq!(act(&mut hv, "three", Action::Check, 0), Status::Checked);
    // 3 sites × 10 ms > 25 ms: two sites get written, then everything is undone.
    let why = act_fails(&mut hv, "three", Action::Apply, 25, Errno::EBUSY);
    assert!(
        why.contains("after writing 3 of 3") && why.contains("restored"),
        "{why}"
    );
    assert_eq!(ret(&mut hv, "outer", &[5]), 21);
    // The state is still CHECKED: APPLY may be retried with enough time.
    assert_eq!(act(&mut hv, "three", Action::Apply, 30), Status::Applied);
    assert_eq!(ret(&mut hv, "outer", &[5]), 3);
    let why = act_fails(&mut hv, "three", Action::Revert, 15, Errno::EBUSY);
    assert!(why.contains("restored"), "{why}");
    assert_eq!(ret(&mut hv, "leaf", &[5]), 1);
    assert_eq!(act(&mut hv, "three", Action::Revert, 0), Status::Reverted);
    assert_eq!(ret(&mut hv, "leaf", &[5]), 10);
}

#[test]
fn rendezvous_timeout_and_waiting() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    up(
        &mut hv,
        "p",
        &replace(&image, "p", &[("do_version", ret_const(1))]),
    );
    act(&mut hv, "p", Action::Check, 0);
    hv.set_rendezvous(1, Some(40)).unwrap();
    let why = act_fails(&mut hv, "p", Action::Apply, 30, Errno::EBUSY);
    assert!(
        why.contains("CPU 1") && why.contains("nothing written"),
        "{why}"
    );
    hv.set_rendezvous(1, None).unwrap();
    let before = hv.memory().clone();
    hv.action(&pid("p"), Action::Apply, 0).unwrap();
    let c = hv.settle();
    assert!(
        matches!(c.as_slice(), [Completion::Waiting { .. }]),
        "{c:?}"
    );
    assert_eq!(hv.get(&pid("p")).unwrap(), Status::Progress);
    assert_eq!(hv.memory().first_difference(&before), None);
    hv.set_rendezvous(1, Some(3)).unwrap();
    hv.settle();
    assert_eq!(hv.get(&pid("p")).unwrap(), Status::Applied);
    assert_eq!(ret(&mut hv, "do_version", &[0]), 1);
}

#[test]
fn stacked_payloads_revert_in_order() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let booted = hv.memory().clone();
    up(
        &mut hv,
        "a",
        &replace(&image, "a", &[("do_version", ret_const(264))]),
    );
    let a_id = build_id(&replace(&image, "a", &[("do_version", ret_const(264))]));
    let mut b = replace(&image, "b", &[("do_version", ret_const(265))]);
    b.depends = vec![a_id];
    up(&mut hv, "b", &b);
    for id in ["a", "b"] {
        act(&mut hv, id, Action::Check, 0);
        assert_eq!(act(&mut hv, id, Action::Apply, 0), Status::Applied);
    }
    assert_eq!(ret(&mut hv, "do_version", &[0]), 265);
    let f = hv.action(&pid("a"), Action::Revert, 0).unwrap_err();
    assert_eq!(f.errno, Errno::EBUSY);
    assert!(f.why.contains("`b`"), "{}", f.why);
    assert_eq!(act(&mut hv, "b", Action::Revert, 0), Status::Reverted);
    assert_eq!(ret(&mut hv, "do_version", &[0]), 264);
    assert_eq!(act(&mut hv, "a", Action::Revert, 0), Status::Reverted);
    assert_eq!(ret(&mut hv, "do_version", &[0]), 263);
    for id in ["a", "b"] {
        hv.action(&pid(id), Action::Unload, 0).unwrap();
        hv.settle();
    }
    let mut now = hv.memory().clone();
    for (b, l) in hv.layout().stacks.clone() {
        now.write(b, &booted.read(b, l).unwrap()).unwrap();
    }
    assert_eq!(now.first_difference(&booted), None);
}

fn build_id(p: &Payload) -> Vec<u8> {
    xsplice_payload::read::read(&bytes(p)).unwrap().build_id
}

#[test]
fn patching_over_a_payload_needs_a_dependency_on_it() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let a = replace(&image, "a", &[("do_version", ret_const(264))]);
    up(&mut hv, "a", &a);
    // `b` was built without `a`'s change to do_version: it would undo it.
    up(
        &mut hv,
        "b",
        &replace(&image, "b", &[("do_version", ret_const(265))]),
    );
    for id in ["a", "b"] {
        assert_eq!(act(&mut hv, id, Action::Check, 0), Status::Checked);
    }
    assert_eq!(act(&mut hv, "a", Action::Apply, 0), Status::Applied);
    let before = hv.memory().clone();
    for action in [Action::Apply, Action::Check] {
        let why = act_fails(&mut hv, "b", action, 0, Errno::EBUSY);
        assert!(why.contains("do_version"), "{why}");
        assert!(why.contains("applied payload `a`"), "{why}");
        assert!(why.contains("does not depend on"), "{why}");
    }
    assert_eq!(hv.memory().first_difference(&before), None);
    assert_eq!(ret(&mut hv, "do_version", &[0]), 264);
    // A payload on another function needs no dependency.
    up(
        &mut hv,
        "c",
        &replace(&image, "c", &[("leaf", ret_const(7))]),
    );
    act(&mut hv, "c", Action::Check, 0);
    assert_eq!(act(&mut hv, "c", Action::Apply, 0), Status::Applied);
    // Through a dependency chain: `d` depends on `c`, which does not depend on `a`,
    // so `d` may not patch do_version either; `e` depends on `a` through `d2`.
    let mut d = replace(&image, "d", &[("do_version", ret_const(266))]);
    d.depends = vec![build_id(&replace(&image, "c", &[("leaf", ret_const(7))]))];
    up(&mut hv, "d", &d);
    act_fails(&mut hv, "d", Action::Check, 0, Errno::EBUSY);
    let mut d2 = replace(&image, "d2", &[("magic", ret_const(8))]);
    d2.depends = vec![build_id(&a)];
    let d2_id = build_id(&d2);
    up(&mut hv, "d2", &d2);
    act(&mut hv, "d2", Action::Check, 0);
    assert_eq!(act(&mut hv, "d2", Action::Apply, 0), Status::Applied);
    let mut e = replace(&image, "e", &[("do_version", ret_const(267))]);
    e.depends = vec![d2_id];
    up(&mut hv, "e", &e);
    act(&mut hv, "e", Action::Check, 0);
    assert_eq!(act(&mut hv, "e", Action::Apply, 0), Status::Applied);
    assert_eq!(ret(&mut hv, "do_version", &[0]), 267);
}

#[test]
fn dependencies_are_enforced() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    let base = replace(&image, "base", &[("leaf", ret_const(100))]);
    let base_id = xsplice_payload::read::read(&bytes(&base)).unwrap().build_id;
    let mut top = replace(&image, "top", &[("do_version", ret_const(1))]);
    top.depends = vec![base_id];
    up(&mut hv, "top", &top);
    let why = act_fails(&mut hv, "top", Action::Check, 0, Errno::ENOENT);
    assert!(why.contains("not loaded"), "{why}");
    up(&mut hv, "base", &base);
    assert_eq!(act(&mut hv, "top", Action::Check, 0), Status::Checked);
    let why = act_fails(&mut hv, "top", Action::Apply, 0, Errno::ENOENT);
    assert!(why.contains("not applied"), "{why}");
    act(&mut hv, "base", Action::Check, 0);
    act(&mut hv, "base", Action::Apply, 0);
    assert_eq!(act(&mut hv, "top", Action::Apply, 0), Status::Applied);
    assert_eq!(hv.applied_stack(), [pid("base"), pid("top")]);
}
