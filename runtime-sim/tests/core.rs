mod common;

use common::*;
use runtime_sim::*;

#[test]
fn apply_runs_new_code_and_revert_restores_bytes() {
    let fx = Fixture::new();
    let image = fx.image();
    let mut hv = fx.boot();
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 263);
    let before = hv.memory().clone();
    let p = replace(&image, "v264", &[("do_version", ret_const(264))]);
    let id = PayloadId::new("v264").unwrap();
    hv.upload(id, &bytes(&p)).unwrap();
    assert_eq!(hv.get(&id).unwrap(), Status::Loaded);
    hv.action(&id, Action::Check, 0).unwrap();
    assert_eq!(hv.get(&id).unwrap(), Status::Progress);
    hv.settle();
    assert_eq!(hv.get(&id).unwrap(), Status::Checked);
    let checked = hv.memory().clone();
    hv.action(&id, Action::Apply, 0).unwrap();
    hv.settle();
    assert_eq!(
        hv.get(&id).unwrap(),
        Status::Applied,
        "{:?}",
        hv.last_error(&id)
    );
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 264);
    hv.action(&id, Action::Revert, 0).unwrap();
    hv.settle();
    assert_eq!(hv.get(&id).unwrap(), Status::Reverted);
    assert_eq!(hv.memory().first_difference(&checked), None);
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 263);
    hv.action(&id, Action::Unload, 0).unwrap();
    hv.settle();
    assert!(hv.get(&id).is_err());
    assert_eq!(hv.memory().first_difference(&before), None);
}
