//! Parity with Hugging Face `transformers` 4.57.6 on tiny random checkpoints
//! (`tests/fixtures/gen_fixtures.py`): encoder states, logits, loss, generation, and the
//! spec's insertion points with their gradients.

#![allow(clippy::unwrap_used)] // a test that cannot load its fixtures should stop there

mod common;

use burn::prelude::*;
use common::{Expected, GRADIENT_TOLERANCE, PARITY_TOLERANCE, assert_close, fixture, token_lists};
use pelt_t5::{
    Adapter, GenerationConfig, Insertions, LayerInsertions, Prefix, T5Config, T5Input, T5Model,
    cross_entropy, relative_position_bucket,
};

const MODELS: [&str; 2] = ["v1_0", "v1_1"];

fn plain_input(expected: &Expected) -> T5Input {
    T5Input::new(expected.ints("input_ids"))
        .mask(expected.ints("attention_mask"))
        .unwrap()
}

fn check_plain(model: &T5Model, expected: &Expected, label: &str) {
    let encoded = model.encode(plain_input(expected));
    assert_close(
        &format!("{label} encoder states"),
        encoded.hidden.clone(),
        expected.tensor("encoder_hidden"),
        PARITY_TOLERANCE,
    );
    let logits = model.decode(&encoded, expected.ints("decoder_input_ids"));
    assert_close(
        &format!("{label} logits"),
        logits.clone(),
        expected.tensor("logits"),
        PARITY_TOLERANCE,
    );
    let smoothing = expected.json(label)["smoothing"].as_f64().unwrap();
    let loss = cross_entropy(logits, expected.ints("labels"), smoothing);
    assert_close(
        &format!("{label} loss"),
        loss,
        expected.tensor("loss"),
        PARITY_TOLERANCE,
    );
}

#[test]
fn encoder_logits_and_loss_match_transformers() {
    let device = Device::default();
    for name in MODELS {
        let model = T5Model::load(fixture(name), &device).unwrap();
        let expected = Expected::open(name, &device);
        check_plain(&model, &expected, name);
    }
}

#[test]
fn decoder_input_is_labels_shifted_right() {
    let device = Device::default();
    let model = T5Model::load(fixture("v1_0"), &device).unwrap();
    let expected = Expected::open("v1_0", &device);
    let shifted = model.shift_right(expected.ints("labels"));
    let theirs = expected.ints::<2>("decoder_input_ids");
    assert_eq!(
        shifted.into_data().try_into_vec_as::<i64>().unwrap(),
        theirs.into_data().try_into_vec_as::<i64>().unwrap()
    );
}

#[test]
fn pytorch_bin_and_sharded_checkpoints_load_the_same_model() {
    let device = Device::default();
    let expected = Expected::open("v1_1", &device);
    for dir in ["v1_1_bin", "v1_1_sharded"] {
        let model = T5Model::load(fixture(dir), &device).unwrap();
        check_plain(&model, &expected, "v1_1");
    }
}

#[test]
fn greedy_and_beam_search_match_transformers_with_and_without_cache() {
    let device = Device::default();
    for name in MODELS {
        let model = T5Model::load(fixture(name), &device).unwrap();
        let expected = Expected::open(name, &device);
        let json = expected.json(name);
        let steps = json["max_new_tokens"].as_u64().unwrap() as usize;
        let beams = json["num_beams"].as_u64().unwrap() as usize;
        for use_cache in [true, false] {
            let greedy = GenerationConfig {
                use_cache,
                ..GenerationConfig::greedy(steps)
            };
            let beam = GenerationConfig {
                use_cache,
                ..GenerationConfig::beam(beams, steps)
            };
            assert_eq!(
                model.generate(plain_input(&expected), &greedy),
                token_lists(&json["greedy"]),
                "{name} greedy, cache {use_cache}"
            );
            assert_eq!(
                model.generate(plain_input(&expected), &beam),
                token_lists(&json["beam"]),
                "{name} beam, cache {use_cache}"
            );
        }
    }
}

/// The fixture's random insertions, as `Insertions`.
fn fixture_insertions(expected: &Expected, config: &T5Config) -> Insertions {
    let prefix = |name: String| {
        expected.has(&format!("{name}.key")).then(|| Prefix {
            key: expected.tensor(&format!("{name}.key")),
            value: expected.tensor(&format!("{name}.value")),
        })
    };
    let layer = |stack: &str, i: usize| LayerInsertions {
        self_prefix: prefix(format!("pelt.ins.{stack}.{i}.self")),
        cross_prefix: prefix(format!("pelt.ins.{stack}.{i}.cross")),
        adapters: (0..2)
            .map(|j| {
                let part = |p: &str| format!("pelt.ins.{stack}.{i}.adapter{j}.{p}");
                Adapter {
                    down: expected.tensor(&part("down")),
                    down_bias: expected.tensor(&part("down_bias")),
                    up: expected.tensor(&part("up")),
                    up_bias: expected.tensor(&part("up_bias")),
                }
            })
            .collect(),
    };
    Insertions {
        encoder: (0..config.num_layers)
            .map(|i| layer("encoder", i))
            .collect(),
        decoder: (0..config.decoder_layers())
            .map(|i| layer("decoder", i))
            .collect(),
    }
}

fn pelt_input(expected: &Expected, insertions: Insertions) -> T5Input {
    plain_input(expected)
        .append(expected.tensor("pelt.extra"), None)
        .unwrap()
        .pelt(insertions)
        .unwrap()
}

#[test]
fn prefixes_adapters_and_appended_embeddings_match_the_spec_reference() {
    let device = Device::default();
    for name in MODELS {
        let model = T5Model::load(fixture(name), &device).unwrap();
        let expected = Expected::open(name, &device);
        let insertions = fixture_insertions(&expected, &model.config);
        let encoded = model.encode(pelt_input(&expected, insertions.clone()));
        assert_close(
            &format!("{name} pelt encoder states"),
            encoded.hidden.clone(),
            expected.tensor("pelt.encoder_hidden"),
            PARITY_TOLERANCE,
        );
        let logits = model.decode(&encoded, expected.ints("decoder_input_ids"));
        assert_close(
            &format!("{name} pelt logits"),
            logits.clone(),
            expected.tensor("pelt.logits"),
            PARITY_TOLERANCE,
        );
        let loss = cross_entropy(logits, expected.ints("labels"), 0.1);
        assert_close(
            &format!("{name} pelt loss"),
            loss,
            expected.tensor("pelt.loss"),
            PARITY_TOLERANCE,
        );
        let json = expected.json(name);
        let steps = json["max_new_tokens"].as_u64().unwrap() as usize;
        for use_cache in [true, false] {
            let config = GenerationConfig {
                use_cache,
                ..GenerationConfig::greedy(steps)
            };
            assert_eq!(
                model.generate(pelt_input(&expected, insertions.clone()), &config),
                token_lists(&json["pelt_greedy"]),
                "{name} pelt greedy, cache {use_cache}"
            );
        }
    }
}

#[test]
fn gradients_through_insertions_and_layer_norms_match_pytorch() {
    let device = Device::default().autodiff();
    for name in MODELS {
        // Dropout is active on an autodiff device; the reference ran in eval mode.
        let mut config = T5Config::from_file(fixture(name)).unwrap();
        config.dropout_rate = 0.0;
        let checkpoint = pelt_weights::Checkpoint::open(fixture(name)).unwrap();
        let model = T5Model::from_checkpoint(&config, &checkpoint, &device).unwrap();
        let expected = Expected::open(name, &device);
        let mut insertions = fixture_insertions(&expected, &config);
        let track = |t: &mut Tensor<4>| *t = t.clone().require_grad();
        track(&mut insertions.encoder[0].self_prefix.as_mut().unwrap().key);
        track(&mut insertions.decoder[0].self_prefix.as_mut().unwrap().value);
        track(&mut insertions.decoder[1].cross_prefix.as_mut().unwrap().value);
        let adapter = &mut insertions.encoder[1].adapters[0];
        adapter.down = adapter.down.clone().require_grad();
        let extra = expected.tensor::<3>("pelt.extra").require_grad();
        let input = plain_input(&expected)
            .append(extra.clone(), None)
            .unwrap()
            .pelt(insertions.clone())
            .unwrap();
        let logits = model.forward(input, expected.ints("decoder_input_ids"));
        let loss = cross_entropy(logits, expected.ints("labels"), 0.1);
        let grads = loss.backward();
        let check = |what: &str, ours: Option<Tensor<4>>| {
            assert_close(
                &format!("{name} grad {what}"),
                ours.expect("gradient"),
                expected.tensor(&format!("pelt.grad.ins.{what}")),
                GRADIENT_TOLERANCE,
            )
        };
        check(
            "encoder.0.self.key",
            insertions.encoder[0]
                .self_prefix
                .as_ref()
                .unwrap()
                .key
                .grad(&grads),
        );
        check(
            "decoder.0.self.value",
            insertions.decoder[0]
                .self_prefix
                .as_ref()
                .unwrap()
                .value
                .grad(&grads),
        );
        check(
            "decoder.1.cross.value",
            insertions.decoder[1]
                .cross_prefix
                .as_ref()
                .unwrap()
                .value
                .grad(&grads),
        );
        assert_close(
            &format!("{name} grad encoder.1.adapter0.down"),
            insertions.encoder[1].adapters[0].down.grad(&grads).unwrap(),
            expected.tensor("pelt.grad.ins.encoder.1.adapter0.down"),
            GRADIENT_TOLERANCE,
        );
        assert_close(
            &format!("{name} grad appended embeddings"),
            extra.grad(&grads).unwrap(),
            expected.tensor("pelt.grad.extra"),
            GRADIENT_TOLERANCE,
        );
        assert_close(
            &format!("{name} grad encoder.final_layer_norm"),
            model.encoder.final_norm.weight.val().grad(&grads).unwrap(),
            expected.tensor("pelt.grad.encoder.final_layer_norm.weight"),
            GRADIENT_TOLERANCE,
        );
        assert_close(
            &format!("{name} grad decoder.block.0.layer.0.layer_norm"),
            model.decoder.blocks[0]
                .self_norm
                .weight
                .val()
                .grad(&grads)
                .unwrap(),
            expected.tensor("pelt.grad.decoder.block.0.layer.0.layer_norm.weight"),
            GRADIENT_TOLERANCE,
        );
    }
}

#[test]
fn relative_position_buckets_match_transformers() {
    let text = std::fs::read_to_string(fixture("buckets.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let relative: Vec<i64> = json["relative"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    for (key, bidirectional, buckets, distance) in [
        ("bidirectional", true, 32, 128),
        ("causal", false, 32, 128),
        ("tiny_bidirectional", true, 8, 20),
        ("tiny_causal", false, 8, 20),
    ] {
        let theirs: Vec<usize> = json[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let ours: Vec<usize> = relative
            .iter()
            .map(|&r| relative_position_bucket(r, bidirectional, buckets, distance))
            .collect();
        assert_eq!(ours, theirs, "{key}");
    }
}
