#![no_main]
//! The strict payload reader on raw and on nearly valid payloads.
libfuzzer_sys::fuzz_target!(|data: &[u8]| xsplice_payload::mutate::fuzz_read(data));
