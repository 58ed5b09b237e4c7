//! One answer from a trained run: the best model on one input.

use std::path::Path;

use burn::prelude::*;
use pelt_data::{Batcher, BatcherConfig};
use pelt_hyper::PeltInput;
use pelt_t5::{GenerationConfig, T5Tokenizer};

use crate::error::TrainError;
use crate::setup::{image_features, load_trained, tokenizer_file};

/// The best model of `run` on `device` answering `text` (the source as task `task` formats
/// it), with `image` for image tasks. Greedy decoding.
pub fn predict(
    run: &Path,
    task: &str,
    text: &str,
    image: Option<&Path>,
    device: &Device,
) -> Result<String, TrainError> {
    let (config, model) = load_trained(run, device)?;
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
