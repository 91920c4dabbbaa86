//! Inputs the fuzzers once crashed on: each must now be handled without a panic.
//! Files named `livepatch-*` are inputs of the `livepatch_upload` target, the others
//! of `runtime_upload`.

use runtime_sim::fuzz::{fuzz_livepatch_upload, fuzz_upload};

#[test]
fn fuzz_crashers_do_not_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crashers");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("livepatch-") {
            fuzz_livepatch_upload(&data);
        } else {
            fuzz_upload(&data);
        }
        n += 1;
    }
    assert!(n > 0, "no crashers in {}", dir.display());
}
