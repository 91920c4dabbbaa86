#![no_main]
//! Generated model → bytes → model is the identity.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xsplice_payload::mutate::fuzz_roundtrip(data));
