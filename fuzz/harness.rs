//! What every fuzz target does with one input. Shared by the `cargo fuzz` targets
//! (`fuzz/fuzz_targets/`) and by the regression test that replays the committed corpus
//! (`tests/fuzz_corpus.rs`), so both check the same property.
//!
//! The property: a reader given arbitrary bytes returns, without panicking, either a value or
//! an error whose message names the file it read. Each target writes the input where the reader
//! expects its file, in a scratch directory, and calls the public loading function a user's
//! command would call. A violation panics, which the fuzzer records as a crash.

use std::path::Path;
use std::sync::OnceLock;

use pelt_data::{Layout, LoadOptions};

/// A target's check: the scratch directory, then the input.
pub type Check = fn(&Path, &[u8]);

/// Every target: its name (the `fuzz_targets/` file and the corpus directory) and its check.
pub const TARGETS: [(&str, Check); 6] = [
    ("config", config),
    ("glue_tsv", glue_tsv),
    ("json_lines", json_lines),
    ("json_documents", json_documents),
    ("parquet", parquet),
    ("safetensors", safetensors),
];

/// A scratch directory for this process, removed when it exits normally.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Run and model configurations. The first byte picks the parser: a run configuration as JSON
/// or TOML (`pelt-train`), or a Hugging Face T5 `config.json` (`pelt-t5`).
pub fn config(dir: &Path, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let name = ["run.json", "run.toml", "config.json"][pick as usize % 3];
    let path = write(dir, name, body);
    let result = if name == "config.json" {
        pelt_t5::T5Config::from_file(&path)
            .map(drop)
            .map_err(|e| e.to_string())
    } else {
        pelt_train::RunConfig::from_file(&path)
            .map(drop)
            .map_err(|e| e.to_string())
    };
    names_the_file(result, &path);
}

/// GLUE TSV files (`train.tsv`) of the tasks whose columns differ: headerless CoLA, SST-2,
/// MRPC, QQP (short rows dropped), STS-B (scores), MNLI. The first byte picks the task, and
/// its top bit the malformed-row policy (fail or skip).
pub fn glue_tsv(dir: &Path, data: &[u8]) {
    read_task(
        dir,
        data,
        &["cola", "sst2", "mrpc", "qqp", "stsb", "mnli"],
        |l| matches!(l, Layout::GlueTsv(_)),
    );
}

/// JSON Lines files: Hugging Face exports with class labels (RTE, TREC), scores (STS-B), the
/// bundled demo tasks, SNLI-VE (images named by a field) and NLVR2 (two images per example).
pub fn json_lines(dir: &Path, data: &[u8]) {
    read_task(
        dir,
        data,
        &["rte", "trec", "stsb", "pd-next", "snli-ve", "nlvr2"],
        |l| matches!(l, Layout::Jsonl { .. } | Layout::Nlvr2),
    );
}

/// Parquet files in the Hugging Face hub's layout (`train-00000-of-00001.parquet`) of GLUE
/// tasks with class labels (RTE, SST-2), scores (STS-B) and headerless TSV (CoLA), and of the
/// vision-and-language sets with pictures in the rows: VQA v2 (answer lists), NLVR2 (two
/// pictures), COCO (caption lists) and SNLI-VE.
pub fn parquet(dir: &Path, data: &[u8]) {
    let tasks = [
        "rte", "sst2", "stsb", "cola", "vqa", "nlvr2", "coco", "snli-ve",
    ];
    read_task(dir, data, &tasks, |l| matches!(l, Layout::Parquet { .. }));
}

/// Whole-file JSON documents: VQA v2 (questions and annotations: the input is split at its
/// first NUL byte), GQA, Karpathy captions and easy-VQA.
pub fn json_documents(dir: &Path, data: &[u8]) {
    read_task(dir, data, &["vqa", "gqa", "coco", "easy-vqa"], |l| {
        matches!(
            l,
            Layout::Vqa { .. } | Layout::Gqa | Layout::Karpathy { .. } | Layout::EasyVqa
        )
    });
}

/// The safetensors header reader: the input is a `model.safetensors`; every tensor it declares
/// is then read as f32, as loading a model does.
pub fn safetensors(dir: &Path, data: &[u8]) {
    let path = write(dir, "model.safetensors", data);
    match pelt_weights::Checkpoint::open(&path) {
        Ok(checkpoint) => {
            for meta in checkpoint.tensors() {
                // A tensor that cannot be read is a named problem, reported per tensor.
                let _ = checkpoint.read_f32(&meta.name);
            }
        }
        Err(e) => names_the_file(Err::<(), _>(e.to_string()), &path),
    }
}

/// Writes the input as the `train` split of a task picked by the first byte from `tasks`, in the
/// task's layout that `layout` selects, and reads it as `pelt train` would (images unchecked).
fn read_task(dir: &Path, data: &[u8], tasks: &[&str], layout: fn(&Layout) -> bool) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let task = pelt_data::task(tasks[(pick & 0x7f) as usize % tasks.len()]).expect("registered");
    let chosen = task
        .layouts
        .iter()
        .find(|l| layout(l))
        .expect("the task has the layout");
    let root = dir.join(task.name);
    let _ = std::fs::remove_dir_all(&root);
    let files = chosen.files("train");
    // Several files (VQA's questions and annotations) share the input, split at NUL bytes.
    let mut parts = body.splitn(files.len(), |&b| b == 0);
    let paths: Vec<_> = files
        .iter()
        .map(|f| {
            write(
                &root,
                &f.to_string_lossy(),
                parts.next().unwrap_or_default(),
            )
        })
        .collect();
    let options = LoadOptions {
        skip_malformed: pick & 0x80 != 0,
        check_images: false,
        ..LoadOptions::default()
    };
    let result = pelt_data::read_split(task, &root, "train", &options)
        .map(drop)
        .map_err(|e| e.to_string());
    if let Err(message) = &result {
        assert!(
            paths
                .iter()
                .any(|p| message.contains(&p.display().to_string())),
            "the error names none of {paths:?}: {message}"
        );
    }
}

/// Writes `bytes` to `dir/name` (creating its directory) and returns the path.
fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().expect("a file in a directory"))
        .expect("the scratch directory is writable");
    std::fs::write(&path, bytes).expect("the scratch directory is writable");
    path
}

/// Panics unless `result` is a success or an error whose message names `path`.
fn names_the_file(result: Result<(), String>, path: &Path) {
    if let Err(message) = result {
        let name = path.display().to_string();
        assert!(
            message.contains(&name),
            "the error does not name {name}: {message}"
        );
    }
}
