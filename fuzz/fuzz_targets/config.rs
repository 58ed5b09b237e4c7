//! `cargo fuzz run config`: see `harness::config`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::config(harness::scratch(), data));
