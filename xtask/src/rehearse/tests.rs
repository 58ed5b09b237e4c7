//! The rehearsal's parts on small shapes: generated Parquet rows read by pelt-data under the
//! configurations' task names, and random checkpoints with the real models' parameter counts
//! (their strict loading by pelt-t5 and pelt-clip is what `cargo xtask rehearse` runs: these
//! tests stay free of Burn, so xtask's tests build in seconds).

#![allow(clippy::unwrap_used)]

use std::path::Path;

use pelt_data::{LoadOptions, load_task, task};

use super::checkpoint::{self, Init, Spec};
use super::data::{self, Rows};
use super::*;

const ROWS: Rows = Rows { train: 6, other: 4 };

/// Writes every file of `repo` under `dir`.
fn write_repo(repo: &pelt_hubmock::Repo, names: &[String], dir: &Path) {
    for name in names {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, repo.get(name).unwrap()).unwrap();
    }
}

/// The Parquet files the generators write, by split.
fn parquet_names(dirs: &[(&str, &[&str])]) -> Vec<String> {
    dirs.iter()
        .flat_map(|(dir, splits)| {
            splits
                .iter()
                .map(move |s| format!("{}/{s}-00000-of-00001.parquet", dir.replace("{}", s)))
        })
        .collect()
}

#[test]
fn generated_glue_rows_are_read_under_the_configs_task_names() {
    let repo = data::glue(ROWS).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for name in data::glue_configurations() {
        let splits: &[&str] = if name == "mnli" {
            &["train", "validation_matched", "validation_mismatched"]
        } else {
            &["train", "validation", "test"]
        };
        write_repo(&repo, &parquet_names(&[(name, splits)]), dir.path());
        let spec = task(name).unwrap();
        let data = load_task(spec, &dir.path().join(name), &LoadOptions::default()).unwrap();
        assert_eq!(data.train.len(), ROWS.train, "{name}");
        assert!(
            !data.validation.is_empty() && !data.test.is_empty(),
            "{name}"
        );
        let example = &data.train[0];
        assert!(
            !example.source.is_empty() && !example.target.is_empty(),
            "{name}"
        );
    }
}

#[test]
fn generated_vision_rows_carry_their_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let gqa = data::gqa(ROWS).unwrap();
    let splits: &[&str] = &["train", "val", "testdev"];
    let names = parquet_names(&[
        ("{}_balanced_instructions", splits),
        ("{}_balanced_images", splits),
    ]);
    write_repo(&gqa, &names, &dir.path().join("gqa"));
    let snli = data::snli_ve(ROWS).unwrap();
    let names = parquet_names(&[("data", &["train", "validation", "test"])]);
    write_repo(&snli, &names, &dir.path().join("snli-ve"));
    for (name, root) in [("gqa", "gqa"), ("snli-ve", "snli-ve/data")] {
        let data = load_task(
            task(name).unwrap(),
            &dir.path().join(root),
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(data.train.len(), ROWS.train, "{name}");
        assert!(
            !data.validation.is_empty() && !data.test.is_empty(),
            "{name}"
        );
        assert!(data.train.iter().all(|e| e.images.len() == 1), "{name}");
    }
}

/// The number of values of `tensors`.
fn count(tensors: &[Spec]) -> usize {
    tensors
        .iter()
        .map(|t| t.shape.iter().product::<usize>())
        .sum()
}

#[test]
fn full_size_checkpoints_have_the_real_models_parameter_counts() {
    // t5-base: 222,903,552 (as pelt reports its backbone); CLIP ViT-B/32: 151,277,313.
    assert_eq!(
        count(&checkpoint::t5_tensors(&checkpoint::t5_base_config())),
        222_903_552
    );
    assert_eq!(
        count(&checkpoint::clip_tensors(&checkpoint::clip_vit_b32_config())),
        151_277_313
    );
}

#[test]
fn random_values_have_the_asked_spread() {
    let tensors = [
        Spec {
            name: "w".into(),
            shape: vec![100, 100],
            init: Init::Std(0.5),
        },
        Spec {
            name: "b".into(),
            shape: vec![3],
            init: Init::Fill(1.5),
        },
    ];
    let bytes = checkpoint::safetensors(&tensors, 3).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let values = |name: &str| -> Vec<f32> {
        file.tensor(name)
            .unwrap()
            .data()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    };
    let w = values("w");
    let mean = w.iter().sum::<f32>() / w.len() as f32;
    let std = (w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32).sqrt();
    assert!(
        mean.abs() < 0.02 && (std - 0.5).abs() < 0.02,
        "{mean} {std}"
    );
    assert_eq!(values("b"), [1.5; 3]);
}

#[test]
fn options_and_overrides() {
    let root = Path::new("/r");
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let options = parse(root, &args(&["--steps", "3", "--rows", "9"]))
        .unwrap()
        .unwrap();
    assert_eq!(options.rows, Rows { train: 9, other: 5 });
    assert_eq!(options.out, root.join("runs/rehearse"));
    assert!(parse(root, &args(&["--steps", "1"])).is_err());
    assert!(parse(root, &args(&["--help"])).unwrap().is_none());
    assert_eq!(
        overrides(3, 4).join(" "),
        "--set train.steps=3 --set train.eval_every=2 --set train.log_every=1 \
         --set train.eval_examples=4 --set train.final_examples=4"
    );
    assert!(same_log("a\nb\n", "a\n{\"resumed_at\": 1}\nb\n"));
    assert!(!same_log("a\nb\n", "a\nc\n"));
}

#[test]
fn the_last_checkpoint_is_the_highest_step() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "step-000000009",
        "step-000000010",
        "step-000000011.tmp",
        "other",
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
    }
    assert_eq!(
        last_checkpoint(dir.path()).unwrap(),
        dir.path().join("step-000000010")
    );
    assert!(last_checkpoint(&dir.path().join("other")).is_err());
}
