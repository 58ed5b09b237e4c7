//! End to end on tiny random configurations: a few training steps with evaluation and
//! checkpoints, an exact resume with dropout on, an evaluation report, plots, an export, a prediction and a
//! few-shot transfer to a new task.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;

use burn::prelude::Device;
use common::{log_without_resumes, read, resumes, root, tiny_config};
use pelt_train::{Backbone, DataSource, StopHandle, TaskSource, predict, train};

#[test]
fn train_checkpoint_resume_exactly_evaluate_export_and_predict() {
    let device = Device::default();
    let run = std::env::temp_dir().join(format!("pelt-train-e2e-{}", std::process::id()));
    let _ = fs::remove_dir_all(&run);
    let mut config = tiny_config();
    // Dropout on, on one worker: every resume below must draw the masks that the
    // uninterrupted run drew (docs/train.md, "Exact resume").
    if let Backbone::Random(t5) = &mut config.t5 {
        t5["dropout_rate"] = 0.1.into();
    }
    config.train.devices = vec!["cpu".parse().unwrap()];

    // Ctrl-C during the first step: a checkpoint of step 1, then a resume to the end.
    let stop = StopHandle::new();
    stop.stop();
    let err = train(&config, &run, false, &device, &stop).unwrap_err();
    assert!(
        matches!(&err, pelt_train::TrainError::Interrupted { step: 1, checkpoint }
            if checkpoint.ends_with("step-000000001")),
        "{err}"
    );
    let report = train(&config, &run, true, &device, &StopHandle::new()).unwrap();
    assert_eq!(report.steps, 4);
    assert_eq!(
        resumes(&run),
        [1],
        "the resume did not continue from step 1"
    );
    assert_eq!(report.tasks.len(), 2);
    assert!(
        report
            .tasks
            .iter()
            .all(|t| t.test_examples == 4 && !t.test.is_empty())
    );
    for file in [
        "config.json",
        "log.jsonl",
        "best.safetensors",
        "report.json",
        "report.md",
        "loss.png",
        "validation.png",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let checkpoints = pelt_train::checkpoint::list(&run).unwrap();
    assert_eq!(checkpoints.len(), 2, "{checkpoints:?}");
    let last = checkpoints[1].clone();
    let trained = read(&last.join("trainable.safetensors"));
    let log = log_without_resumes(&run);

    let err = train(&config, &run, false, &device, &StopHandle::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("already holds a run"), "{err}");

    // Lose the last checkpoint, as if the run had been killed after step 2, and resume.
    fs::remove_dir_all(&last).unwrap();
    let resumed = train(&config, &run, true, &device, &StopHandle::new()).unwrap();
    assert_eq!(resumed.steps, 4);
    assert_eq!(
        read(&last.join("trainable.safetensors")),
        trained,
        "resume is not exact"
    );
    assert_eq!(
        resumes(&run),
        [1, 2],
        "the second resume did not continue from the checkpoint left (step 2)"
    );
    assert_eq!(log_without_resumes(&run), log, "the resumed log differs");

    let export = run.join("export.safetensors");
    let (_, model) = pelt_train::load_trained(&run, &device).unwrap();
    let err = model
        .export_task("pd-source", &export)
        .unwrap_err()
        .to_string();
    assert!(err.contains("vision-and-language"), "{err}");

    let image = root().join("datasets/easy-vqa/test/images/0.png");
    let answer = predict(
        &run,
        "easy-vqa",
        "question: what shape is this?",
        Some(&image),
        &device,
    )
    .unwrap();
    assert!(answer.split_whitespace().count() <= 3, "{answer}");
    let err = predict(&run, "nope", "x", None, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown task `nope`"), "{err}");

    // Few-shot transfer to a new task: 2 examples per class, only its task embedding tuned.
    let few = run.with_extension("few-shot");
    let _ = fs::remove_dir_all(&few);
    let mut transfer = config.clone();
    transfer.init_from = Some(run.clone());
    transfer.tasks = vec![TaskSource::new(
        "pd-next",
        DataSource::Dir("text/pd-next".into()),
    )];
    transfer.train.shots = 2;
    transfer.pelt.tune = pelt_hyper::Tune::TaskEmbedding;
    let report = train(&transfer, &few, false, &device, &StopHandle::new()).unwrap();
    assert_eq!(report.trainable, transfer.pelt.embedding_dim);
    let source = pelt_weights::Checkpoint::open(run.join("best.safetensors")).unwrap();
    let tuned = pelt_weights::Checkpoint::open(few.join("best.safetensors")).unwrap();
    let projector = "hyper.projector.out.weight";
    assert_eq!(
        source.read_f32(projector).unwrap(),
        tuned.read_f32(projector).unwrap(),
        "the shared hypernetwork moved"
    );
    fs::remove_dir_all(&few).unwrap();
    fs::remove_dir_all(&run).unwrap();
}
