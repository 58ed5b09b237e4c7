//! A `pelt-data` batch (plain arrays) as tensors on the run's device.

use burn::prelude::*;
use burn::tensor::TensorData;
use pelt_data::{Batch, VisualInput};
use pelt_hyper::PeltInput;
use pelt_t5::IGNORE_INDEX;

use crate::error::TrainError;

/// The model input and labels `[B, T]` of `batch`. Image rows must carry cached CLIP features
/// (the run computes them before training), all rows the same number of images.
pub fn to_input(batch: &Batch, device: &Device) -> Result<(PeltInput, Tensor<2, Int>), TrainError> {
    let (b, s, t) = (batch.batch_size, batch.source_len, batch.target_len);
    let ints = |values: &[i64], shape: [usize; 2]| {
        Tensor::<2, Int>::from_data(TensorData::new(values.to_vec(), shape), device)
    };
    let tasks = batch.task_ids.iter().map(|&t| t as usize).collect();
    let mut input = PeltInput::text(
        ints(&batch.input_ids, [b, s]),
        ints(&batch.attention_mask, [b, s]),
        tasks,
    );
    match &batch.visual {
        None => {}
        Some(VisualInput::Paths(_)) => {
            return Err(TrainError::Features(format!(
                "batch {} has image paths but no cached CLIP features",
                batch.step
            )));
        }
        Some(VisualInput::Features {
            features,
            mask,
            image_index,
            tokens,
            hidden,
        }) => {
            if mask.contains(&0) {
                return Err(TrainError::Config(format!(
                    "batch {} mixes rows with different numbers of images or patches; \
                     batch one task at a time",
                    batch.step
                )));
            }
            let images = image_index.iter().max().map_or(1, |&m| m as usize + 1);
            let patches = tokens / images;
            let features = Tensor::<4>::from_data(
                TensorData::new(features.clone(), [b, images, patches, *hidden]),
                device,
            );
            input = input.with_images(features);
        }
    }
    // Padding positions of the labels take the loss's ignore index.
    let labels = batch
        .labels
        .iter()
        .zip(&batch.decoder_attention_mask)
        .map(|(&id, &token)| if token == 1 { id } else { IGNORE_INDEX })
        .collect::<Vec<_>>();
    Ok((input, ints(&labels, [b, t])))
}
