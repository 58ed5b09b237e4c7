//! Criterion benches: encoding a batch of 8 images at ViT-B/32 dimensions (random weights),
//! and preprocessing a batch of 8 JPEG files.

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use burn::prelude::*;
use criterion::{Criterion, criterion_group, criterion_main};
use pelt_clip::{ClipImageProcessor, ClipVisionConfig};

const BATCH: usize = 8;

fn encode_vit_b32(c: &mut Criterion) {
    let device = Device::default();
    // The defaults are ViT-B/32: 224 px, patch 32, hidden 768, 12 layers, 12 heads.
    let config = ClipVisionConfig::new();
    let model = config.init(&device);
    let pixels = Tensor::<4>::random(
        [BATCH, 3, config.image_size, config.image_size],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &device,
    );
    let mut group = c.benchmark_group("clip_vision");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("encode_vit_b32_batch8_224px", |b| {
        b.iter(|| {
            let out = model.forward(black_box(pixels.clone()));
            let patches = out.patches();
            device.sync().expect("device sync");
            black_box(patches)
        })
    });
    group.finish();
}

fn preprocess_batch(c: &mut Criterion) {
    let device = Device::default();
    let processor = ClipImageProcessor::new(224);
    let kafka =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess/franz-kafka.jpg");
    let paths = vec![kafka; BATCH];
    let mut group = c.benchmark_group("clip_preprocess");
    group.sample_size(10);
    group.bench_function("preprocess_jpeg_batch8", |b| {
        b.iter(|| {
            let batch = processor
                .preprocess_files(black_box(&paths), &device)
                .expect("fixture decodes");
            device.sync().expect("device sync");
            black_box(batch)
        })
    });
    group.finish();
}

criterion_group!(benches, encode_vit_b32, preprocess_batch);
criterion_main!(benches);
