#![no_main]
//! The signature trailer reader (`split`, `strip`, `check_trailer`) on raw bytes and
//! on nearly valid trailers.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xsplice_sign::fuzz_split(data));
