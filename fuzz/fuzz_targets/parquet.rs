//! `cargo fuzz run parquet`: see `harness::parquet`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::parquet(harness::scratch(), data));
