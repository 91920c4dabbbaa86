//! Signature enforcement at upload.

mod common;

use common::*;
use runtime_sim::*;

#[test]
fn signatures_are_enforced_with_trusted_certificates() {
    let fx = Fixture::new();
    let image = fx.image();
    let (key, cert) = make_cert(fx.dir.path(), "good");
    let (other_key, other_cert) = make_cert(fx.dir.path(), "other");
    let payload = bytes(&replace(&image, "p", &[("do_version", ret_const(264))]));
    let signed = sign(&payload, &key, &cert);
    let by_other = sign(&payload, &other_key, &other_cert);

    let trust = Trust::from_paths(&[&cert]).unwrap();
    let mut hv =
        Hypervisor::boot(fx.image(), SimConfig::default(), Policy::default(), trust).unwrap();
    let before = hv.memory().clone();
    let id = PayloadId::new("p").unwrap();
    for (bad, what) in [(&payload, "not signed"), (&by_other, "rejected")] {
        let f = hv.upload(id, bad).unwrap_err();
        assert_eq!(f.errno, Errno::EACCES);
        assert!(f.why.contains(what), "{}", f.why);
    }
    // One flipped byte in the signed ELF.
    let mut tampered = signed.clone();
    tampered[100] ^= 1;
    assert_eq!(hv.upload(id, &tampered).unwrap_err().errno, Errno::EACCES);
    assert_eq!(hv.memory().first_difference(&before), None);
    assert!(hv.payloads().is_empty());

    hv.upload(id, &signed).unwrap();
    hv.action(&id, Action::Check, 0).unwrap();
    hv.settle();
    hv.action(&id, Action::Apply, 0).unwrap();
    hv.settle();
    assert_eq!(hv.call(0, "do_version", &[Arg::Int(0)]).unwrap().ret, 264);

    // Without trusted certificates, signed payloads load too (trailer split off),
    // and a malformed trailer is refused.
    let mut open = fx.boot();
    open.upload(id, &signed).unwrap();
    let mut broken = signed.clone();
    let n = broken.len();
    broken[n - 40] = 0; // header moved: sig_len etc. no longer add up
    broken[n - 32..n - 28].copy_from_slice(&u32::MAX.to_be_bytes());
    let f = open
        .upload(PayloadId::new("q").unwrap(), &broken)
        .unwrap_err();
    assert_eq!(f.errno, Errno::EINVAL, "{}", f.why);
}

#[test]
fn trust_files_must_hold_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.pem");
    let e = Trust::from_paths(&[&missing]).unwrap_err();
    assert!(e.to_string().contains("nope.pem"), "{e}");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let e = Trust::from_paths(&[&junk]).unwrap_err();
    assert!(e.to_string().contains("junk.pem"), "{e}");
}
