//! Properties of the insertion points, dropout and caching that hold for any weights.

#![allow(clippy::unwrap_used)] // a test that cannot load its fixtures should stop there

mod common;

use burn::prelude::*;
use common::{Expected, fixture};
use pelt_t5::{Adapter, Insertions, LayerInsertions, Prefix, T5Config, T5Input, T5Model};

fn model_and_input(device: &Device) -> (T5Model, T5Input, Tensor<2, Int>) {
    let model = T5Model::load(fixture("v1_1"), device).unwrap();
    let expected = Expected::open("v1_1", device);
    let input = T5Input::new(expected.ints("input_ids"))
        .mask(expected.ints("attention_mask"))
        .unwrap();
    (model, input, expected.ints("decoder_input_ids"))
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

fn zero_insertions(config: &T5Config, batch: usize, device: &Device) -> Insertions {
    let empty_prefix = || Prefix {
        key: Tensor::zeros([batch, config.num_heads, 0, config.d_kv], device),
        value: Tensor::zeros([batch, config.num_heads, 0, config.d_kv], device),
    };
    let zero_adapter = || Adapter {
        down: Tensor::zeros([batch, 4, config.d_model], device),
        down_bias: Tensor::zeros([batch, 4], device),
        up: Tensor::zeros([batch, config.d_model, 4], device),
        up_bias: Tensor::zeros([batch, config.d_model], device),
    };
    let layer = || LayerInsertions {
        self_prefix: Some(empty_prefix()),
        cross_prefix: Some(empty_prefix()),
        adapters: vec![zero_adapter()],
    };
    Insertions {
        encoder: (0..config.num_layers).map(|_| layer()).collect(),
        decoder: (0..config.decoder_layers()).map(|_| layer()).collect(),
    }
}

#[test]
fn empty_prefixes_and_zero_adapters_give_exactly_plain_t5() {
    let device = Device::default();
    let (model, input, decoder_ids) = model_and_input(&device);
    let plain = values(model.forward(input.clone(), decoder_ids.clone()));
    let insertions = zero_insertions(&model.config, 3, &device);
    let inserted = values(model.forward(input.pelt(insertions).unwrap(), decoder_ids));
    assert_eq!(plain, inserted);
}

#[test]
fn a_shared_prefix_equals_the_same_prefix_given_per_example() {
    let device = Device::default();
    let (model, input, decoder_ids) = model_and_input(&device);
    let c = &model.config;
    let shape = [1, c.num_heads, 2, c.d_kv];
    let distribution = burn::tensor::Distribution::Normal(0.0, 1.0);
    let key = Tensor::<4>::random(shape, distribution, &device);
    let value = Tensor::<4>::random(shape, distribution, &device);
    let with = |key: Tensor<4>, value: Tensor<4>| Insertions {
        encoder: vec![LayerInsertions {
            self_prefix: Some(Prefix { key, value }),
            ..Default::default()
        }],
        decoder: vec![],
    };
    let shared = values(
        model.forward(
            input
                .clone()
                .pelt(with(key.clone(), value.clone()))
                .unwrap(),
            decoder_ids.clone(),
        ),
    );
    let per_example = values(
        model.forward(
            input
                .pelt(with(key.repeat_dim(0, 3), value.repeat_dim(0, 3)))
                .unwrap(),
            decoder_ids,
        ),
    );
    let max_diff = shared
        .iter()
        .zip(&per_example)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max_diff < 1e-5, "{max_diff}");
}

#[test]
fn a_prefix_changes_the_output_and_padding_does_not_hide_it() {
    let device = Device::default();
    let (model, input, decoder_ids) = model_and_input(&device);
    let c = &model.config;
    let shape = [3, c.num_heads, 2, c.d_kv];
    let prefix = Prefix {
        key: Tensor::ones(shape, &device),
        value: Tensor::ones(shape, &device) * 3.0,
    };
    let insertions = Insertions {
        encoder: vec![],
        decoder: vec![LayerInsertions {
            cross_prefix: Some(prefix),
            ..Default::default()
        }],
    };
    let plain = values(model.forward(input.clone(), decoder_ids.clone()));
    let inserted = values(model.forward(input.pelt(insertions).unwrap(), decoder_ids));
    assert_ne!(plain, inserted);
}

#[test]
fn dropout_acts_only_on_an_autodiff_device() {
    let inference = Device::default();
    let (model, input, decoder_ids) = model_and_input(&inference);
    let a = values(model.forward(input.clone(), decoder_ids.clone()));
    let b = values(model.forward(input, decoder_ids));
    assert_eq!(a, b, "inference must be deterministic");

    let training = Device::default().autodiff();
    let (model, input, decoder_ids) = model_and_input(&training);
    assert!(model.config.dropout_rate > 0.0);
    let a = values(model.forward(input.clone(), decoder_ids.clone()));
    let b = values(model.forward(input, decoder_ids));
    assert_ne!(a, b, "training mode must drop out");
}

#[test]
fn cached_decoding_steps_equal_the_full_decoder() {
    let device = Device::default();
    let (model, input, decoder_ids) = model_and_input(&device);
    let encoded = model.encode(input);
    let full = model.decode(&encoded, decoder_ids.clone());
    let [batch, tgt] = decoder_ids.dims();
    let mut cache = model.new_cache();
    let steps: Vec<Tensor<3>> = (0..tgt)
        .map(|t| {
            let ids = decoder_ids.clone().slice([0..batch, t..t + 1]);
            model.decode_step(&encoded, ids, &mut cache)
        })
        .collect();
    let stepped = Tensor::cat(steps, 1);
    let diff: f32 = (full - stepped).abs().max().into_scalar();
    assert!(diff < 1e-4, "{diff}");
}

#[test]
fn cached_beam_search_with_insertions_equals_uncached() {
    let device = Device::default();
    let (model, input, _) = model_and_input(&device);
    let c = &model.config;
    let distribution = burn::tensor::Distribution::Normal(0.0, 1.0);
    let prefix = || Prefix {
        key: Tensor::random([3, c.num_heads, 2, c.d_kv], distribution, &device),
        value: Tensor::random([3, c.num_heads, 2, c.d_kv], distribution, &device),
    };
    let layer = || LayerInsertions {
        self_prefix: Some(prefix()),
        cross_prefix: Some(prefix()),
        adapters: vec![],
    };
    let insertions = Insertions {
        encoder: vec![layer()],
        decoder: (0..c.decoder_layers()).map(|_| layer()).collect(),
    };
    let extra = Tensor::<3>::random([3, 2, c.d_model], distribution, &device);
    let input = input.append(extra, None).unwrap().pelt(insertions).unwrap();
    let beam = |use_cache| pelt_t5::GenerationConfig {
        use_cache,
        ..pelt_t5::GenerationConfig::beam(3, 6)
    };
    assert_eq!(
        model.generate(input.clone(), &beam(true)),
        model.generate(input, &beam(false))
    );
}

#[test]
fn insertions_that_disagree_in_shape_are_refused_naming_layer_and_tensor() {
    let device = Device::default();
    let (model, input, _) = model_and_input(&device);
    let c = &model.config;
    let batch = input.input_ids().dims()[0];
    let refused = |insertions: Insertions| {
        input
            .clone()
            .pelt(insertions)
            .expect_err("mismatched insertions must be refused")
            .to_string()
    };

    // A leading axis that is neither 1 nor the batch.
    let err = refused(zero_insertions(c, batch + 1, &device));
    assert!(
        err.contains("encoder layer 0, self-attention prefix: key has shape")
            && err.contains(&format!("1 (shared) or {batch}")),
        "{err}"
    );

    // An adapter whose W_up does not match its W_down.
    let mut insertions = zero_insertions(c, batch, &device);
    let last = c.decoder_layers() - 1;
    insertions.decoder[last].adapters[0].up = Tensor::zeros([batch, c.d_model, 5], &device);
    let err = refused(insertions);
    assert!(
        err.contains(&format!("decoder layer {last}, adapter 0: W_up has shape")),
        "{err}"
    );

    // A prefix whose value is not its key's shape.
    let mut insertions = zero_insertions(c, batch, &device);
    insertions.encoder[0].cross_prefix = Some(Prefix {
        key: Tensor::zeros([1, c.num_heads, 2, c.d_kv], &device),
        value: Tensor::zeros([1, c.num_heads, 3, c.d_kv], &device),
    });
    let err = refused(insertions);
    assert!(
        err.contains("cross-attention prefix: value has shape"),
        "{err}"
    );

    // Shared (batch 1) and per-example tensors are both accepted.
    assert!(input.clone().pelt(zero_insertions(c, 1, &device)).is_ok());
    assert!(input.pelt(zero_insertions(c, batch, &device)).is_ok());
}
