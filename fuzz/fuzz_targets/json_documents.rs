//! `cargo fuzz run json_documents`: see `harness::json_documents`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::json_documents(harness::scratch(), data));
