//! Data-parallel training (`train.devices`, docs/train.md "Several devices") computes what one
//! device computes: two workers on the CPU give the losses, gradient norms and parameters of
//! one worker at the same batch size, within [`TOLERANCE`] and [`PARAMETER_TOLERANCE`]
//! (summation order differs, nothing else), for
//! HyperPELT and full fine-tuning, with a batch that splits unevenly; checkpoints hold nothing
//! per worker, so a run resumes with another device count on the same data; a worker's
//! non-finite loss stops the run with its last checkpoint intact; devices other than the first
//! hold the trainable values only during an optimiser step.
//!
//! Burn's random state is per device and shared by every thread of the process, so the tests
//! of this file take turns (`LOCK`): each run's random initialisation is then its seed's.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use burn::prelude::{Device, Int, Tensor};
use common::tiny_config;
use pelt_hyper::PeltInput;
use pelt_train::{DataParallel, MicroBatch, RunConfig, StopHandle, TrainError, build_model, train};

/// Relative tolerance of every logged loss and gradient norm. Two workers add the same products
/// in another order; measured differences are far below it (docs/train.md). A gradient summed
/// where it should be averaged doubles the norm; Adam and clipping would hide it in the loss.
const TOLERANCE: f64 = 1e-5;

/// Tolerance of every parameter tensor: its largest difference between the runs over its
/// largest change from the initial value during the run (the same run, one worker). Rounding
/// differences of the order of 1e-7 of a weight's magnitude meet changes of about 1e-3 of it
/// in six steps, so an honest summation-order difference stays below 1e-2 of the change while
/// a wrong step scale moves a parameter by a multiple of it.
const PARAMETER_TOLERANCE: f64 = 1e-2;

static LOCK: Mutex<()> = Mutex::new(());

/// `tiny_config` with `sets` applied (`train.devices=...`, the method, the batch size).
fn config(sets: &[&str]) -> RunConfig {
    let mut config = tiny_config();
    config.set("train.steps=6").unwrap();
    config.set("train.eval_every=3").unwrap();
    for assignment in sets {
        config.set(assignment).unwrap();
    }
    config
}

/// The values of `field` (`loss`, `grad_norm`) in a run's log, in order.
fn logged(run: &Path, field: &str) -> Vec<f64> {
    fs::read_to_string(run.join("log.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.get(field).and_then(serde_json::Value::as_f64)
        })
        .collect()
}

/// Every tensor of a safetensors file of trainable tensors, by name.
fn tensors(file: &Path) -> Vec<(String, Vec<f32>)> {
    let state = pelt_weights::Checkpoint::open(file).unwrap();
    state
        .tensors()
        .map(|meta| (meta.name.clone(), state.read_f32(&meta.name).unwrap()))
        .collect()
}

/// Every tensor of the run's last checkpoint, by name.
fn last_parameters(run: &Path) -> Vec<(String, Vec<f32>)> {
    let dir = pelt_train::checkpoint::list(run).unwrap().pop().unwrap();
    tensors(&dir.join("trainable.safetensors"))
}

/// The trainable tensors `config`'s run starts from (the model is random from the seed).
fn initial_parameters(config: &RunConfig, dir: &Path) -> Vec<(String, Vec<f32>)> {
    let model = build_model(config, &Device::default().autodiff()).unwrap();
    let file = dir.join("initial.safetensors");
    model.save_trainable(&file).unwrap();
    tensors(&file)
}

/// The largest differences between two runs, each relative as its tolerance says.
#[derive(Debug, Default)]
struct Worst {
    loss: f64,
    grad_norm: f64,
    parameter: f64,
}

/// Asserts that run `b` computed what run `a` (of `config`, one worker) did, within
/// [`TOLERANCE`] and [`PARAMETER_TOLERANCE`]; returns the largest relative differences.
fn assert_same_within_tolerance(config: &RunConfig, a: &Path, b: &Path, what: &str) -> Worst {
    let mut worst = Worst::default();
    // The gradient norm first: a wrong gradient scale shows there at step 1, in the loss only
    // steps later and barely (measured: 1.2e-5 relative at step 5 with unweighted workers).
    for (field, slot) in [
        ("grad_norm", &mut worst.grad_norm),
        ("loss", &mut worst.loss),
    ] {
        let (la, lb) = (logged(a, field), logged(b, field));
        assert_eq!(la.len(), lb.len(), "{what}: {field} log lengths");
        assert!(!la.is_empty(), "{what}: no {field} logged");
        for (step, (x, y)) in la.iter().zip(&lb).enumerate() {
            let relative = (x - y).abs() / x.abs().max(1e-12);
            assert!(
                relative <= TOLERANCE,
                "{what}: {field} of step {} differs: {x} vs {y} ({relative:e} relative)",
                step + 1
            );
            *slot = slot.max(relative);
        }
    }
    let (pa, pb) = (last_parameters(a), last_parameters(b));
    let initial = initial_parameters(config, b);
    let names = |p: &[(String, Vec<f32>)]| p.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&pa),
        names(&pb),
        "{what}: the checkpoints hold different tensors"
    );
    assert_eq!(
        names(&pa),
        names(&initial),
        "{what}: the initial model differs"
    );
    for (((name, x), (_, y)), (_, x0)) in pa.iter().zip(&pb).zip(&initial) {
        let change = x
            .iter()
            .zip(x0)
            .fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        let difference = x.iter().zip(y).fold(0f32, |m, (u, v)| m.max((u - v).abs()));
        if change == 0.0 {
            // A tensor that did not train (no gradient reached it) must not move in either.
            assert_eq!(difference, 0.0, "{what}: {name} moved in one run only");
            continue;
        }
        let relative = f64::from(difference / change);
        assert!(
            relative <= PARAMETER_TOLERANCE,
            "{what}: {name} differs by {difference}, {relative:e} of its change {change}"
        );
        worst.parameter = worst.parameter.max(relative);
    }
    worst
}

fn run(config: &RunConfig, name: &str, resume: bool) -> Result<std::path::PathBuf, TrainError> {
    let dir = std::env::temp_dir().join(format!("pelt-dp-{name}-{}", std::process::id()));
    if !resume {
        let _ = fs::remove_dir_all(&dir);
    }
    train(config, &dir, resume, &Device::default(), &StopHandle::new())?;
    Ok(dir)
}

/// The device of the one-worker run and the device list of the several-worker run: `cpu` and
/// `cpu,cpu`, unless `PELT_TEST_DEVICES` names them as `ONE;LIST` (`cargo xtask gpu-check`:
/// `wgpu;wgpu,wgpu`, `cuda:0;cuda:0,cpu`, ...; the run's model lives on the default device, so
/// `BURN_DEVICE` names ONE's backend) and `PELT_TEST_TRANSPORT` the transport (`gather`).
fn devices() -> (String, String, String) {
    let (one, several) = match std::env::var("PELT_TEST_DEVICES") {
        Ok(pair) => {
            let (one, several) = pair
                .split_once(';')
                .expect("PELT_TEST_DEVICES is ONE;LIST, e.g. wgpu;wgpu,wgpu");
            (one.to_string(), several.to_string())
        }
        Err(_) => ("cpu".to_string(), "cpu,cpu".to_string()),
    };
    let transport = std::env::var("PELT_TEST_TRANSPORT").unwrap_or_else(|_| "gather".into());
    (one, several, transport)
}

#[test]
fn two_workers_compute_what_one_does_for_hyperpelt_and_full_fine_tuning() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (one_device, devices, transport) = devices();
    let on_cpu = one_device == "cpu" && devices == "cpu,cpu";
    eprintln!("one worker on {one_device}; workers on {devices} ({transport})");
    // Batch 5 splits 3 + 2, and the two halves score different numbers of target tokens.
    for method in ["hyperpelt", "full"] {
        let several_config = |devices: &str| {
            config(&[
                &format!("pelt.method={method}"),
                "train.batch_size=5",
                &format!("train.devices={devices}"),
                &format!("train.transport={transport}"),
            ])
        };
        let one_config = config(&[
            &format!("pelt.method={method}"),
            "train.batch_size=5",
            &format!("train.devices={one_device}"),
        ]);
        let one = run(&one_config, "one", false).unwrap();
        let two = run(&several_config(&devices), "two", false).unwrap();
        let worst = assert_same_within_tolerance(&one_config, &one, &two, method);
        eprintln!("{method}: largest relative differences: {worst:?}");
        // On the CPU, the figures docs/train.md quotes, as bounds ten times above what was
        // measured; other devices are held to the tolerances above.
        if on_cpu {
            assert!(
                worst.loss <= 1e-6 && worst.grad_norm <= 1e-6,
                "{method}: {worst:?}"
            );
            assert!(worst.parameter <= 1e-3, "{method}: {worst:?}");
        }
        fs::remove_dir_all(&one).unwrap();
        fs::remove_dir_all(&two).unwrap();
    }
}

/// The devices other than the first hold the model's trainable values only during an optimiser
/// step (issue 40): they arrive with its first micro-batch, serve the next ones, and leave
/// after its last. Two steps of two micro-batches of the same rows: the devices other than the
/// first hold every trainable value once per such device after the first micro-batch and none
/// after the second, and both micro-batches have the same loss (the second computed with the
/// step's values, not stale or dropped ones). With `cpu,cpu` both workers share the first
/// device, so nothing is held elsewhere at any time; the GPU check's lists (`wgpu,cpu`,
/// `cuda:0,cpu`) have a second device and exercise the copies.
#[test]
fn other_devices_hold_the_trainable_values_only_during_a_step() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (_, devices, transport) = devices();
    let config = config(&[
        &format!("train.devices={devices}"),
        &format!("train.transport={transport}"),
    ]);
    let main = Device::default().autodiff();
    let mut model = build_model(&config, &main).unwrap();
    let trainable: usize = (model.trainable_tensors().iter())
        .map(|tensor| tensor.values.len())
        .sum();
    let first = config.train.devices[0];
    let mut others = Vec::new();
    for device in &config.train.devices {
        if *device != first && !others.contains(device) {
            others.push(*device);
        }
    }
    let mut parallel = DataParallel::new(&config.train, &main).unwrap();
    let input = PeltInput::text(
        Tensor::<2, Int>::from_ints([[37, 629, 19, 5, 1], [8, 1627, 5, 1, 0]], &main),
        Tensor::<2, Int>::from_ints([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], &main),
        vec![0, 0],
    );
    let labels = Tensor::<2, Int>::from_ints([[209, 1], [204, 1]], &main);
    let mut optimiser = pelt_train::FusedAdamW::module(0.0, false);
    for step in 0..2 {
        let mut losses = Vec::new();
        let mut sum = None;
        for index in 0..2 {
            let micro = MicroBatch { index, count: 2 };
            let (loss, grads) = parallel
                .gradients(&model, input.clone(), labels.clone(), 0.0, micro)
                .unwrap();
            let expected = if index == 0 {
                trainable * others.len()
            } else {
                0
            };
            assert_eq!(
                parallel.trainable_held_elsewhere(),
                expected,
                "step {step}, after micro-batch {index} of 2, on {devices}"
            );
            losses.push(loss);
            sum = Some(grads);
        }
        assert!(
            (losses[0] - losses[1]).abs() <= 1e-6 * losses[0].abs(),
            "step {step}: micro-batches of the same rows, losses {losses:?}"
        );
        model = optimiser.step(1e-2, model, sum.unwrap());
    }
}

#[test]
fn a_run_resumes_with_another_device_count_on_the_same_data() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let one = run(&config(&["train.devices=cpu"]), "resume-one", false).unwrap();
    // Two workers for the whole run; then its last checkpoint is deleted and one worker
    // redoes the last three steps from the one before.
    let two_config = config(&["train.devices=cpu,cpu"]);
    let mixed = run(&two_config, "resume-mixed", false).unwrap();
    let files = |dir: &Path| {
        let mut names: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    };
    let checkpoints = pelt_train::checkpoint::list(&mixed).unwrap();
    let one_checkpoints = pelt_train::checkpoint::list(&one).unwrap();
    assert_eq!(
        files(checkpoints.last().unwrap()),
        files(one_checkpoints.last().unwrap()),
        "a two-worker checkpoint holds other files than a one-worker one"
    );
    fs::remove_dir_all(checkpoints.last().unwrap()).unwrap();
    run(&config(&["train.devices=cpu"]), "resume-mixed", true).unwrap();
    assert_eq!(
        pelt_train::checkpoint::list(&mixed).unwrap().len(),
        checkpoints.len()
    );
    assert_same_within_tolerance(
        &config(&["train.devices=cpu"]),
        &one,
        &mixed,
        "resumed with one worker",
    );
    assert_eq!(
        common::resumes(&mixed),
        [3],
        "the resume did not continue from the last checkpoint left (step 3)"
    );
    fs::remove_dir_all(&one).unwrap();
    fs::remove_dir_all(&mixed).unwrap();
}

#[test]
fn a_non_finite_loss_in_a_worker_stops_the_run_with_its_last_checkpoint() {
    let _turn = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let config = config(&[
        "train.devices=cpu,cpu",
        "train.learning_rate=1e30",
        "train.warmup_steps=0",
        "train.eval_every=1",
    ]);
    let err = run(&config, "nonfinite", false).unwrap_err();
    let TrainError::NonFinite {
        last_good: Some(last_good),
        ..
    } = &err
    else {
        panic!("expected a non-finite stop with a checkpoint, got: {err}");
    };
    let state = pelt_weights::Checkpoint::open(last_good.join("trainable.safetensors")).unwrap();
    for meta in state.tensors() {
        let values = state.read_f32(&meta.name).unwrap();
        assert!(values.iter().all(|v| v.is_finite()), "{}", meta.name);
    }
    fs::remove_dir_all(last_good.parent().unwrap().parent().unwrap()).unwrap();
}

#[test]
fn a_device_list_naming_a_missing_backend_is_refused_before_any_work() {
    let mut config = tiny_config();
    let err = config.set("train.devices=cpu,tpu").unwrap_err().to_string();
    assert!(err.contains("`tpu`"), "{err}");
    let err = config
        .set("train.devices=cpu,,cpu")
        .unwrap_err()
        .to_string();
    assert!(err.contains("comma-separated"), "{err}");
}
