//! Properties of the tuned model that hold whatever the weights: zero modules give plain T5,
//! an optimiser step moves exactly what trains, mixed-task batches equal their rows run task
//! by task, the materialised export equals the hypernetwork, saved states round-trip.

#![allow(clippy::unwrap_used)]

mod common;

use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use common::{
    Case, MATERIALISED_TOLERANCE, all_params, fixture, relative_error, tiny_t5, zero_params,
};
use pelt_hyper::{Materialised, Method, PeltConfig, PeltInput, PeltModel, TASK_EMBEDDING, Tune};
use pelt_t5::T5Input;

/// Row-for-row agreement of a mixed batch with its rows run alone: same operations, batched
/// differently (f32 summation order only).
const ROW_TOLERANCE: f32 = 1e-5;

fn tiny_config(method: Method) -> PeltConfig {
    PeltConfig {
        embedding_dim: 6,
        projector_hidden_dim: 10,
        hyper_dim: 8,
        adapter_dim: 4,
        prefix_len: 3,
        init_std: 0.3,
        ..PeltConfig::new(method, &["alpha", "beta"])
    }
}

fn max_abs_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
    (a - b).abs().max().into_scalar()
}

#[test]
fn zero_generators_without_prefixes_give_exactly_plain_t5() {
    let device = Device::default();
    let case = Case::open("hyperpelt", &device);
    let input = case.input();
    let decoder_ids = case.model.t5.shift_right(case.ints("labels"));
    let mut config = tiny_config(Method::Hyperpelt);
    config.prefix_len = 0;
    let model = zero_params(
        PeltModel::new(tiny_t5(&device), config).unwrap(),
        "hyper.adapters",
    );
    let ours = model.forward(input.clone(), decoder_ids.clone()).unwrap();
    let plain = T5Input::new(input.input_ids)
        .mask(input.attention_mask.unwrap())
        .unwrap();
    let reference = tiny_t5(&device).forward(plain, decoder_ids);
    assert_eq!(max_abs_diff(ours, reference), 0.0);
}

#[test]
fn an_optimiser_step_changes_every_trainable_tensor_and_no_frozen_one() {
    let device = Device::default().autodiff();
    for name in ["hyperpelt", "hyperpelt_visual"] {
        let case = Case::open(name, &device);
        let before = all_params(&case.model);
        let loss = case
            .model
            .loss(case.input(), case.ints("labels"), 0.1)
            .unwrap();
        let grads = GradientsParams::from_grads(loss.backward(), &case.model);
        let mut optimiser = AdamWConfig::new().init();
        let model = case.model.clone();
        let stepped = optimiser.step(1e-3, model, grads);
        let after = all_params(&stepped);
        let trainable = stepped.trainable_paths();
        assert_eq!(before.len(), after.len());
        let (mut moved, mut kept) = (0, 0);
        for ((path, old), (path_after, new)) in before.iter().zip(&after) {
            assert_eq!(path, path_after);
            if trainable.contains(path) {
                assert_ne!(old, new, "{name}: trainable `{path}` did not change");
                moved += 1;
            } else {
                assert!(
                    old.iter().zip(new).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{name}: frozen `{path}` changed"
                );
                kept += 1;
            }
        }
        assert!(moved > 0 && kept > 0, "{name}: {moved} moved, {kept} kept");
    }
}

#[test]
fn a_mixed_task_batch_equals_its_rows_run_task_by_task() {
    let device = Device::default();
    let case = Case::open("hyperpelt", &device);
    let input = case.input();
    let decoder_ids = case.model.t5.shift_right(case.ints("labels"));
    let mut models = vec![case.model.clone()];
    for method in [Method::Adapters, Method::Prefix] {
        let config = PeltConfig {
            per_task: true,
            ..tiny_config(method)
        };
        models.push(PeltModel::new(tiny_t5(&device), config).unwrap());
    }
    for model in models {
        let mixed = model.forward(input.clone(), decoder_ids.clone()).unwrap();
        let [batch, tgt, vocab] = mixed.dims();
        for row in 0..batch {
            let one = |t: Tensor<2, Int>| t.narrow(0, row, 1);
            let single = PeltInput::text(
                one(input.input_ids.clone()),
                one(input.attention_mask.clone().unwrap()),
                vec![input.tasks[row]],
            );
            let alone = model.forward(single, one(decoder_ids.clone())).unwrap();
            let error = relative_error(mixed.clone().narrow(0, row, 1), alone);
            assert!(
                error <= ROW_TOLERANCE,
                "{}: row {row} differs by {error:e}",
                model.config.method.name()
            );
        }
        assert_eq!([tgt, vocab], [decoder_ids.dims()[1], 96]);
    }
}

#[test]
fn the_materialised_export_equals_the_hypernetwork_path() {
    let device = Device::default();
    let dir = std::env::temp_dir().join(format!("pelt-hyper-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["hyperpelt", "hyperformer"] {
        let case = Case::open(name, &device);
        let path = dir.join(format!("{name}-beta.safetensors"));
        case.model.export_task("beta", &path).unwrap();
        let input = case.input();
        let [batch, _] = input.input_ids.dims();
        let beta = PeltInput {
            tasks: vec![1; batch],
            ..input.clone()
        };
        let decoder_ids = case.model.t5.shift_right(case.ints("labels"));
        let hyper = case.model.forward(beta, decoder_ids.clone()).unwrap();
        let materialised = Materialised::load(&path, &device).unwrap();
        assert_eq!(materialised.header.task, "beta");
        // A fresh T5 from the checkpoint: the export carries the trained layer norms.
        let t5 = materialised.apply(tiny_t5(&device)).unwrap();
        let static_input = T5Input::new(input.input_ids)
            .mask(input.attention_mask.unwrap())
            .unwrap()
            .pelt(materialised.insertions())
            .unwrap();
        let ours = t5.forward(static_input, decoder_ids);
        let error = relative_error(ours, hyper);
        assert!(
            error <= MATERIALISED_TOLERANCE,
            "{name}: materialised differs by {error:e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_and_loading_the_trainable_state_round_trips_exactly() {
    let device = Device::default();
    let dir = std::env::temp_dir().join(format!("pelt-hyper-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.safetensors");
    let case = Case::open("hyperpelt_visual", &device);
    case.model.save_trainable(&path).unwrap();
    let saved = pelt_weights::Checkpoint::open(&path).unwrap();
    assert_eq!(
        saved.tensors().count(),
        case.model.trainable_tensors().len()
    );
    assert!(
        saved.meta("t5.shared").is_none(),
        "a frozen tensor was saved"
    );
    let fresh = PeltModel::new(tiny_t5(&device), case.model.config.clone()).unwrap();
    let loaded = fresh.load_trainable(&path).unwrap();
    for ((path, a), (_, b)) in all_params(&case.model).iter().zip(all_params(&loaded)) {
        assert!(
            a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
            "`{path}` differs after the round trip"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_state_of_another_configuration_is_refused_naming_the_tensors() {
    let device = Device::default();
    let err = PeltModel::new(tiny_t5(&device), tiny_config(Method::Hyperpelt))
        .unwrap()
        .load_trainable(fixture("hyperformer").join("initial.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("hyper.prefixes.out.weight"), "{err}");
    assert!(err.contains("initial.safetensors"), "{err}");
}

#[test]
fn bad_batches_are_refused_with_the_reason() {
    let device = Device::default();
    let case = Case::open("hyperpelt", &device);
    let input = case.input();
    let decoder_ids = case.model.t5.shift_right(case.ints("labels"));
    let out_of_range = PeltInput {
        tasks: vec![0, 2, 0],
        ..input.clone()
    };
    let err = case
        .model
        .forward(out_of_range, decoder_ids.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("task index 2 is out of range"), "{err}");
    let short = PeltInput {
        tasks: vec![0],
        ..input.clone()
    };
    let err = case
        .model
        .forward(short, decoder_ids.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("3 examples but 1 task"), "{err}");
    // ids [3, src] with a mask one column short: an error naming both shapes, not a panic.
    let [batch, src] = input.input_ids.dims();
    let narrow = PeltInput {
        attention_mask: Some(Tensor::ones([batch, src - 1], &device)),
        ..input.clone()
    };
    let err = case
        .model
        .forward(narrow, decoder_ids.clone())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("attention_mask has shape [{batch}, {}]", src - 1))
            && err.contains(&format!("[{batch}, {src}], the shape of input_ids")),
        "{err}"
    );
    let images = input.with_images(Tensor::zeros([3, 1, 4, 24], &device));
    let err = case
        .model
        .forward(images, decoder_ids)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no visual path"), "{err}");
}

#[test]
fn few_shot_transfer_keeps_the_hypernetwork_and_tunes_only_the_new_task_embedding() {
    let device = Device::default().autodiff();
    let dir = std::env::temp_dir().join(format!("pelt-hyper-transfer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("source.safetensors");
    let case = Case::open("hyperpelt", &device);
    case.model.save_trainable(&path).unwrap();

    let mut config = case.model.config.clone();
    config.tasks = vec!["new".to_string()];
    config.tune = Tune::TaskEmbedding;
    let fresh = PeltModel::new(tiny_t5(&device), config).unwrap();
    let fresh_embedding = all_params(&fresh)
        .into_iter()
        .find(|(p, _)| p == TASK_EMBEDDING);
    let model = fresh.transfer_from(&path).unwrap();
    assert_eq!(
        model.param_counts().trainable,
        model.config.embedding_dim,
        "only the one new task embedding is tuned"
    );
    let source: std::collections::BTreeMap<_, _> = all_params(&case.model).into_iter().collect();
    let trainable = model.trainable_paths();
    for (path, values) in all_params(&model) {
        if path == TASK_EMBEDDING {
            assert_eq!(
                Some((path, values)),
                fresh_embedding,
                "the new embedding is fresh"
            );
        } else if trainable.contains(&path) {
            assert_eq!(values, source[&path], "`{path}` was not transferred");
        }
    }

    // One step on a batch of the new task moves the task embedding and nothing else.
    let b = case.ints::<2>("input_ids").dims()[0];
    let input = PeltInput::text(
        case.ints("input_ids"),
        case.ints("attention_mask"),
        vec![0; b],
    );
    let loss = model.loss(input, case.ints("labels"), 0.1).unwrap();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let before = all_params(&model);
    let stepped = AdamWConfig::new().init().step(1e-3, model, grads);
    for ((path, old), (_, new)) in before.iter().zip(all_params(&stepped)) {
        if path == TASK_EMBEDDING {
            assert_ne!(old, &new, "the task embedding did not move");
        } else {
            assert_eq!(
                old, &new,
                "`{path}` moved although only the task embedding is tuned"
            );
        }
    }

    // Per-task plain modules cannot be transferred to new tasks.
    let mut plain = PeltConfig {
        per_task: true,
        ..tiny_config(Method::Adapters)
    };
    plain.tasks = vec!["new".to_string()];
    let err = PeltModel::new(tiny_t5(&device), plain)
        .unwrap()
        .transfer_from(&path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("per-task") && err.contains("source.safetensors"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
