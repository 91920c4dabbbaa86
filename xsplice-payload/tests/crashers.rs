//! Inputs the fuzzers once crashed on: each must now be handled without a panic.

use xsplice_payload::mutate::fuzz_read;

#[test]
fn fuzz_crashers_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashers");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        fuzz_read(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "no crashers in {}", dir.display());
}
