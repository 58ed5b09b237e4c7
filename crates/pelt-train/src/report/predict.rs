//! One answer from a trained run: the best model on one input.

use std::path::Path;

use burn::prelude::*;
use pelt_data::{Batcher, BatcherConfig};
use pelt_hyper::PeltInput;
use pelt_t5::{GenerationConfig, T5Tokenizer};

use crate::error::TrainError;
use crate::resolve::config::RunConfig;
use crate::resolve::setup::{image_features, tokenizer_file, trained_model};
use crate::run::run_dir::RunDir;

/// The best model of `run` on `device` answering `text` (the source as task `task` formats
/// it), with `image` for image tasks. Greedy decoding. The task and the image are checked
/// against the run before any model is loaded.
pub fn predict(
    run: &Path,
    task: &str,
    text: &str,
    image: Option<&Path>,
    device: &Device,
) -> Result<String, TrainError> {
    let config = RunConfig::from_file(RunDir::new(run).config())?;
    check_request(&config, task, image)?;
    let model = trained_model(&config, run, device)?;
    let index = model.config.task_index(task)?;
    let tokenizer = T5Tokenizer::from_file(tokenizer_file(&config)?)?;
    let batcher = Batcher::new(tokenizer.tokenizer().clone(), BatcherConfig::default())?;
    let (ids, _) = batcher.encode(text, config.train.max_source_len)?;
    let ids: Vec<i64> = ids.into_iter().map(i64::from).collect();
    let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), device).unsqueeze_dim::<2>(0);
    let mask = ids.ones_like();
    let mut input = PeltInput::text(ids, mask, vec![index]);
    if let Some(image) = image {
        input = input.with_images(image_features(&config, image, device)?);
    }
    let generation = GenerationConfig::greedy(config.train.max_new_tokens);
    let out = model.generate(input, &generation)?;
    let first = out.first().map(Vec::as_slice).unwrap_or_default();
    Ok(tokenizer.decode(first)?.trim().to_string())
}

/// Refuses a task the run was not trained on, an image for a text-only task, and a missing
/// image (or a single one where two are needed) for an image task.
fn check_request(config: &RunConfig, task: &str, image: Option<&Path>) -> Result<(), TrainError> {
    let names: Vec<&str> = config.tasks.iter().map(|t| t.name.as_str()).collect();
    if !names.contains(&task) {
        return Err(TrainError::Config(format!(
            "unknown task `{task}`: the run was trained on {}",
            names.join(", ")
        )));
    }
    let message = match (pelt_data::task(task)?.images, image) {
        (0, Some(file)) => format!(
            "task `{task}` is text-only and takes no --image (got {})",
            file.display()
        ),
        (1, None) => format!("task `{task}` answers about an image: pass --image FILE"),
        (n, _) if n > 1 => format!(
            "task `{task}` takes {n} images per example; `pelt predict` takes one (--image)"
        ),
        _ => return Ok(()),
    };
    Err(TrainError::Config(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_that_do_not_fit_the_task_are_refused() {
        // The bundled default: pd-source, uncertainty (text) and easy-vqa (one image).
        let both = RunConfig::from_file(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/default.json"),
        )
        .unwrap();
        let image = Path::new("shape.png");
        assert!(check_request(&both, "pd-source", None).is_ok());
        assert!(check_request(&both, "easy-vqa", Some(image)).is_ok());
        let err = |task, image| check_request(&both, task, image).unwrap_err().to_string();
        assert!(err("pd-source", Some(image)).contains("text-only"));
        assert!(err("easy-vqa", None).contains("--image FILE"));
        assert!(err("rte", None).contains("pd-source, uncertainty, easy-vqa"));
    }
}
