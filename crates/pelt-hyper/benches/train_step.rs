//! One training step (forward, backward, AdamW) at t5-small dimensions (random weights),
//! batch 8, source 128 tokens, target 8 tokens, one task per batch, for `hyperpelt`,
//! `adapters` and `full`.

#![allow(missing_docs)] // criterion's macros generate undocumented items

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use criterion::{Criterion, criterion_group, criterion_main};
use pelt_hyper::{Method, PeltConfig, PeltInput, PeltModel};
use pelt_t5::T5Config;

fn train_step(c: &mut Criterion) {
    let device = Device::default().autodiff();
    // t5-small: d_model 512, 6 + 6 layers, 8 heads; no dropout, as in the PyTorch comparison.
    let t5_config = T5Config {
        dropout_rate: 0.0,
        ..T5Config::default()
    };
    let t5 = t5_config.init(&device);
    let ids = |len: usize| {
        Tensor::<2>::random([8, len], Distribution::Uniform(2.0, 32000.0), &device).int()
    };
    let (source, labels) = (ids(128), ids(8));
    let mask = Tensor::<2, Int>::ones([8, 128], &device);
    let mut group = c.benchmark_group("t5-small train step b8 src128 tgt8");
    group.sample_size(10);
    for method in [Method::Hyperpelt, Method::Adapters, Method::Full] {
        let config = PeltConfig::new(method, &["task"]);
        let mut model = Some(PeltModel::new(t5.clone(), config).expect("valid config"));
        let mut optimiser = AdamWConfig::new().init();
        group.bench_function(method.name(), |b| {
            b.iter(|| {
                let current = model.take().expect("the model is put back every step");
                let input = PeltInput::text(source.clone(), mask.clone(), vec![0; 8]);
                let loss = current
                    .loss(input, labels.clone(), 0.1)
                    .expect("valid batch");
                let grads = GradientsParams::from_grads(loss.backward(), &current);
                model = Some(optimiser.step(3e-4, current, grads));
                device.sync().expect("device sync");
            })
        });
    }
    group.finish();
}

criterion_group!(benches, train_step);
criterion_main!(benches);
