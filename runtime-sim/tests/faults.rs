//! Fault injection in APPLY and REVERT: for every k, the k-th patch-site write of a
//! multi-site action fails (a torn write); memory must end byte-identical to before,
//! the status must be `-EFAULT` with the state kept, and a retry without the fault
//! must succeed.

use runtime_sim::fuzz::{boot_tiny, seed_payloads};
use runtime_sim::memory::Memory;
use runtime_sim::*;
use xsplice_payload::write::to_bytes;

fn pid(s: &str) -> PayloadId {
    PayloadId::new(s).unwrap()
}

/// Runs an action to completion and returns the status.
fn run(hv: &mut Hypervisor, id: &PayloadId, a: Action) -> Status {
    hv.action(id, a, 0).unwrap();
    hv.settle();
    hv.get(id).unwrap()
}

fn same(a: &Memory, b: &Memory, what: &str) {
    if let Some(d) = a.first_difference(b) {
        panic!("{what}: {d}");
    }
}

/// Every site of `id` (uploaded and CHECKED), every k: APPLY with the k-th write
/// failing, then the real APPLY; REVERT with the k-th write failing, then the real
/// REVERT. Returns the number of sites written.
fn drill(hv: &mut Hypervisor, id: &PayloadId) -> usize {
    let checked = hv.memory().clone();
    // How many writes an APPLY makes: apply once, count differing sites.
    assert_eq!(run(hv, id, Action::Apply), Status::Applied);
    let sites = hv.payload(id).unwrap().saved.len();
    assert!(sites >= 2, "not a multi-site payload");
    assert_eq!(run(hv, id, Action::Revert), Status::Reverted);
    same(hv.memory(), &checked, "plain apply + revert");

    for k in 0..sites {
        let version = hv.version();
        hv.inject_write_fault(k);
        let st = run(hv, id, Action::Apply);
        assert_eq!(
            st,
            Status::Error(Errno::EFAULT),
            "apply, fault at write {k}"
        );
        let r = hv.payload(id).unwrap();
        assert_eq!(r.state, State::Reverted, "apply, fault at write {k}");
        assert!(r.saved.is_empty());
        let why = &hv.last_error(id).unwrap().why;
        assert!(
            why.contains(&format!("write {} of {sites}", k + 1)) && why.contains("restored"),
            "{why}"
        );
        same(
            hv.memory(),
            &checked,
            &format!("apply failing at write {k}"),
        );
        assert_eq!(hv.version(), version + 2, "start and completion");
        assert!(hv.applied_stack().is_empty());
        assert_eq!(hv.write_fault(), None, "one-shot");

        // The retry, without a fault, succeeds.
        assert_eq!(
            run(hv, id, Action::Apply),
            Status::Applied,
            "retry after {k}"
        );
        let applied = hv.memory().clone();
        assert!(applied.first_difference(&checked).is_some());

        hv.inject_write_fault(k);
        let st = run(hv, id, Action::Revert);
        assert_eq!(
            st,
            Status::Error(Errno::EFAULT),
            "revert, fault at write {k}"
        );
        assert_eq!(hv.payload(id).unwrap().state, State::Applied);
        same(
            hv.memory(),
            &applied,
            &format!("revert failing at write {k}"),
        );
        assert_eq!(hv.applied_stack(), [*id]);

        assert_eq!(
            run(hv, id, Action::Revert),
            Status::Reverted,
            "retry after {k}"
        );
        same(hv.memory(), &checked, &format!("revert retried after {k}"));
    }

    // A fault past the last write never fires; the action succeeds and disarms it.
    hv.inject_write_fault(sites);
    assert_eq!(run(hv, id, Action::Apply), Status::Applied);
    assert_eq!(hv.write_fault(), None);
    assert_eq!(run(hv, id, Action::Revert), Status::Reverted);
    same(hv.memory(), &checked, "fault past the end");
    sites
}

#[test]
fn every_write_of_apply_and_revert_can_fail_and_nothing_is_lost() {
    let mut hv = boot_tiny();
    let seeds = seed_payloads(hv.image());
    let boot = hv.memory().clone();
    // provider: two trampolines; inline: three inline writes (text, rodata, string).
    let mut total = 0;
    for (name, p) in [("provider", &seeds[0]), ("inline", &seeds[1])] {
        let id = pid(name);
        hv.upload(id, &to_bytes(p, xsplice_payload::Flavour::Xsplice).unwrap())
            .unwrap();
        assert_eq!(run(&mut hv, &id, Action::Check), Status::Checked);
        total += drill(&mut hv, &id);
    }
    assert_eq!(total, 5);
    for name in ["inline", "provider"] {
        hv.action(&pid(name), Action::Unload, 0).unwrap();
        hv.settle();
        assert_eq!(hv.get(&pid(name)).unwrap_err().errno, Errno::ENOENT);
    }
    same(hv.memory(), &boot, "everything unloaded");
}

/// A fault armed while the action waits for a CPU to join fires when it writes.
#[test]
fn fault_waits_for_the_writes() {
    let mut hv = boot_tiny();
    let seeds = seed_payloads(hv.image());
    let id = pid("provider");
    hv.upload(
        id,
        &to_bytes(&seeds[0], xsplice_payload::Flavour::Xsplice).unwrap(),
    )
    .unwrap();
    assert_eq!(run(&mut hv, &id, Action::Check), Status::Checked);
    let checked = hv.memory().clone();
    hv.set_rendezvous(1, None).unwrap();
    hv.inject_write_fault(1);
    assert_eq!(run(&mut hv, &id, Action::Apply), Status::Progress);
    assert_eq!(hv.write_fault(), Some(1));
    hv.set_rendezvous(1, Some(0)).unwrap();
    hv.settle();
    assert_eq!(hv.get(&id).unwrap(), Status::Error(Errno::EFAULT));
    same(hv.memory(), &checked, "fault after a wait");
    assert_eq!(run(&mut hv, &id, Action::Apply), Status::Applied);
}

/// Stacked payloads: a fault while applying the second one leaves the first applied.
#[test]
fn fault_in_a_stacked_apply_keeps_the_lower_payload() {
    let mut hv = boot_tiny();
    let seeds = seed_payloads(hv.image());
    let (p, u) = (pid("provider"), pid("user"));
    hv.upload(
        p,
        &to_bytes(&seeds[0], xsplice_payload::Flavour::Xsplice).unwrap(),
    )
    .unwrap();
    hv.upload(
        u,
        &to_bytes(&seeds[2], xsplice_payload::Flavour::Xsplice).unwrap(),
    )
    .unwrap();
    for id in [&p, &u] {
        assert_eq!(run(&mut hv, id, Action::Check), Status::Checked);
    }
    assert_eq!(run(&mut hv, &p, Action::Apply), Status::Applied);
    let one = hv.memory().clone();
    hv.inject_write_fault(0);
    assert_eq!(
        run(&mut hv, &u, Action::Apply),
        Status::Error(Errno::EFAULT)
    );
    same(hv.memory(), &one, "stacked apply failing");
    assert_eq!(hv.applied_stack(), [p]);
    assert_eq!(run(&mut hv, &u, Action::Apply), Status::Applied);
    assert_eq!(hv.applied_stack(), [p, u]);
}
