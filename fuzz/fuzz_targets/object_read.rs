#![no_main]
//! xsplice-diff's object reader and per-pair analysis on raw and nearly valid objects.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xsplice_diff::fuzz::fuzz_object(data));
