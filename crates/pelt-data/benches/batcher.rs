//! Batcher throughput: tokenise and pad GLUE-like text examples on one thread.
//!
//! Uses the vendored T5 tokenizer (`datasets/t5-tokenizer/tokenizer.json`) and MRPC-style
//! sentence pairs built from a fixed word list, batches of 32, source/target maxima 128. The issue
//! asks for at least 20,000 examples per second on one core. Run: `cargo bench -p pelt-data`.

#![allow(clippy::unwrap_used)]
// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pelt_data::{Batcher, BatcherConfig, Example, Row};

const BATCH: usize = 32;

const WORDS: &[&str] = &[
    "the",
    "company",
    "said",
    "on",
    "Tuesday",
    "that",
    "its",
    "quarterly",
    "profit",
    "rose",
    "percent",
    "after",
    "strong",
    "sales",
    "of",
    "new",
    "phones",
    "in",
    "Asia",
    "and",
    "Europe",
    "analysts",
    "had",
    "expected",
    "a",
    "smaller",
    "increase",
    "shares",
    "fell",
    "early",
    "trading",
    "while",
    "investors",
    "weighed",
    "outlook",
    "for",
    "next",
    "year",
    "government",
    "officials",
    "announced",
    "plan",
    "to",
    "cut",
    "taxes",
    "small",
    "businesses",
];

fn sentence(seed: usize, len: usize) -> String {
    (0..len)
        .map(|k| WORDS[(seed * 31 + k * 17 + k * k) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
        + "."
}

fn tokenizer_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/t5-tokenizer/tokenizer.json")
}

fn bench_batcher(c: &mut Criterion) {
    let batcher = Batcher::from_file(&tokenizer_path(), BatcherConfig::default()).unwrap();
    // MRPC-like pairs: two sentences of 18-26 words each (about 60 source tokens).
    let examples: Vec<Example> = (0..BATCH * 8)
        .map(|i| Example {
            id: i.to_string(),
            source: format!(
                "sentence1: {} sentence2: {}",
                sentence(i, 18 + i % 9),
                sentence(i + 1000, 18 + (i * 7) % 9)
            ),
            target: (i % 2).to_string(),
            references: vec![],
            images: vec![],
        })
        .collect();
    let root = Path::new(".");
    let mut group = c.benchmark_group("batcher");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("tokenise_pad_mrpc_like_batch32", |b| {
        let mut k = 0usize;
        b.iter(|| {
            let start = (k % 8) * BATCH;
            k += 1;
            let rows: Vec<Row<'_>> = examples[start..start + BATCH]
                .iter()
                .enumerate()
                .map(|(i, example)| Row {
                    task: 0,
                    index: i,
                    example,
                    root,
                })
                .collect();
            black_box(batcher.batch(k as u64, &rows).unwrap())
        });
    });
    group.finish();
}

criterion_group!(benches, bench_batcher);
criterion_main!(benches);
