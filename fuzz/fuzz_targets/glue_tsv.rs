//! `cargo fuzz run glue_tsv`: see `harness::glue_tsv`.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::glue_tsv(harness::scratch(), data));
