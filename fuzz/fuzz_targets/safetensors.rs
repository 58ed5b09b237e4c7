//! `cargo fuzz run safetensors`: see `harness::safetensors`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::safetensors(harness::scratch(), data));
