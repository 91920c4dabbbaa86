#![no_main]
//! runtime-sim's Xen 4.17 livepatch interface: UPLOAD, APPLY, REVERT, UNLOAD through
//! the sysctl ABI on raw and nearly valid livepatch payloads; refusals must leave
//! memory byte-identical.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    runtime_sim::fuzz::fuzz_livepatch_upload(data);
});
