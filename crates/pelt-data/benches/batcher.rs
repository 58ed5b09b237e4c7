//! Batcher throughput: tokenise and pad real sentence pairs on one thread.
//!
//! Uses the vendored T5 tokenizer and the bundled `pd-next` training set (4,000 sentence pairs
//! from Moby-Dick and State of the Union addresses, "sentence1: ... sentence2: ..." sources of
//! about 60 tokens, MRPC/RTE-like), batches of 32, maxima 128/128. Two cases:
//! - `warm`: one batcher cycles through the set, so its word memo holds the corpus vocabulary
//!   (the steady state of training from the second batches on);
//! - `cold`: every batch uses a fresh clone with an empty word memo (the worst case: each batch
//!   tokenises its words through the full pipeline);
//! - `first_pass`: a fresh batcher batches the whole set once (4,000 examples), i.e. the first
//!   epoch on a data set of this size, memo filling as it goes.
//!
//! The issue asks for at least 20,000 examples per second on one core.
//!
//! Reader throughput, the step before batching: `read_split` of the same 4,000 rows from the
//! bundled JSON Lines file and from its Parquet version (`tests/fixtures/parquet/pd-next/`,
//! written by `tests/fixtures/gen_parquet.py`; one snappy shard as the hub stores GLUE's).
//! Run: `cargo bench -p pelt-data`.

#![allow(clippy::unwrap_used)]
// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pelt_data::{Batcher, BatcherConfig, Example, LoadOptions, Row, read_split, task};

const BATCH: usize = 32;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rows(examples: &[Example], start: usize) -> Vec<Row<'_>> {
    (0..BATCH)
        .map(|i| {
            let index = (start + i) % examples.len();
            Row {
                task: 0,
                index,
                example: &examples[index],
                root: Path::new("."),
            }
        })
        .collect()
}

fn bench_batcher(c: &mut Criterion) {
    let tokenizer = repo().join("datasets/t5-tokenizer/tokenizer.json");
    let batcher = Batcher::from_file(&tokenizer, BatcherConfig::default()).unwrap();
    let (examples, _) = read_split(
        task("pd-next").unwrap(),
        &repo().join("datasets/text/pd-next"),
        "train",
        &LoadOptions::default(),
    )
    .unwrap();
    let mut group = c.benchmark_group("batcher");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("warm_pd_next_batch32", |b| {
        let mut start = 0;
        b.iter(|| {
            start = (start + BATCH) % examples.len();
            black_box(batcher.batch(0, &rows(&examples, start)).unwrap())
        });
    });
    group.bench_function("cold_pd_next_batch32", |b| {
        let mut start = 0;
        b.iter(|| {
            start = (start + BATCH) % examples.len();
            let fresh = batcher.clone();
            black_box(fresh.batch(0, &rows(&examples, start)).unwrap())
        });
    });
    group.throughput(Throughput::Elements(examples.len() as u64));
    group.sample_size(10);
    group.bench_function("first_pass_pd_next_4000", |b| {
        b.iter(|| {
            let fresh = batcher.clone();
            for start in (0..examples.len()).step_by(BATCH) {
                black_box(fresh.batch(0, &rows(&examples, start)).unwrap());
            }
        });
    });
    group.finish();

    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Elements(examples.len() as u64));
    group.sample_size(10);
    let parquet = repo().join("crates/pelt-data/tests/fixtures/parquet/pd-next");
    for (name, dir) in [
        ("jsonl_pd_next_4000", repo().join("datasets/text/pd-next")),
        ("parquet_pd_next_4000", parquet),
    ] {
        let read = || {
            read_split(
                task("pd-next").unwrap(),
                &dir,
                "train",
                &LoadOptions::default(),
            )
            .unwrap()
            .0
        };
        assert!(
            read() == examples,
            "{name}: not the examples of the JSON Lines file"
        );
        group.bench_function(name, |b| b.iter(|| black_box(read())));
    }
    group.finish();
}

criterion_group!(benches, bench_batcher);
criterion_main!(benches);
