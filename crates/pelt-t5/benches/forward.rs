//! Teacher-forced encoder-decoder forward at t5-small dimensions (random weights):
//! batch 8, source 128 tokens, target 8 tokens, inference mode.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use pelt_t5::{T5Config, T5Input};

fn forward(c: &mut Criterion) {
    let device = Device::default();
    let config = T5Config::default(); // t5-small: d_model 512, 6 + 6 layers, 8 heads, d_ff 2048
    let model = config.init(&device);
    let ids = |len: usize| {
        Tensor::<2>::random([8, len], Distribution::Uniform(2.0, 32000.0), &device).int()
    };
    let (source, target) = (ids(128), ids(8));
    let mut group = c.benchmark_group("t5-small");
    group.sample_size(10);
    group.bench_function("forward b8 src128 tgt8", |b| {
        b.iter(|| {
            let logits = model.forward(T5Input::new(source.clone()), target.clone());
            device.sync().expect("device sync");
            logits
        })
    });
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
