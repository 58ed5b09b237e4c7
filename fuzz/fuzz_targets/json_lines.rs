//! `cargo fuzz run json_lines`: see `harness::json_lines`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::json_lines(harness::scratch(), data));
