#![no_main]
//! runtime-sim's UPLOAD (reader + loader) then CHECK/APPLY/REVERT/UNLOAD on raw and
//! nearly valid payloads; refusals must leave memory byte-identical.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    runtime_sim::fuzz::fuzz_upload(data);
});
