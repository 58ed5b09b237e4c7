//! Everything a run builds before its first step: data, tokenizer, CLIP features, model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::prelude::*;
use pelt_clip::{ClipVisionConfig, EncodedImage, ImageEncoder, load_vision_model, write_cache};
use pelt_data::{
    Batcher, BatcherConfig, Embedded, FeatureCache, ImageRef, LoadOptions, TaskData, TaskSpec,
    few_shot, load_task, read_embedded_images,
};
use pelt_hyper::{PeltModel, VisualConfig};
use pelt_t5::{T5Config, T5Model, T5Tokenizer};

use crate::error::TrainError;
use crate::optim::gradients::stable_param_ids;
use crate::resolve::config::{Backbone, RANDOM_T5_NEEDS_TOKENIZER, RunConfig};
use crate::resolve::data_source::DataSource;
use crate::resolve::hub::{resolve_dataset, resolve_model};
use crate::run::run_dir::RunDir;

/// The run's `tokenizer.json`: the configured file or directory, else the T5 model's own. A
/// random T5 without `tokenizer` is refused ([`RunConfig::validate`] refuses it first).
pub(crate) fn tokenizer_file(config: &RunConfig) -> Result<PathBuf, TrainError> {
    let path = match (&config.tokenizer, &config.t5) {
        (Some(path), _) => path.clone(),
        (None, Backbone::Path(model)) => resolve_model(model)?,
        (None, Backbone::Random(_)) => {
            return Err(TrainError::Config(RANDOM_T5_NEEDS_TOKENIZER.into()));
        }
    };
    Ok(pelt_weights::model_file(path, "tokenizer.json"))
}

/// The directory of `task`'s files from `source` ([`RunConfig::task_data`]): a hub data set is
/// looked up in the cache, and a download fetches only the files the task reads.
fn task_dir(task: &TaskSpec, source: DataSource) -> Result<PathBuf, TrainError> {
    match source {
        DataSource::Dir(dir) => Ok(dir),
        DataSource::Hub(id) => resolve_dataset(&id, task),
    }
}

/// Data, tokenizer and batcher of a run.
pub struct Data {
    /// The mixture, in configuration order (task `i` is row `i` of the task embedding).
    pub tasks: Vec<TaskData>,
    /// Tokenises and pads; carries the CLIP feature cache for image tasks.
    pub batcher: Batcher,
    /// Decodes generated ids.
    pub tokenizer: T5Tokenizer,
}

/// Loads every task and the tokenizer; computes (or reuses) the CLIP features of image tasks
/// into `run/features.safetensors`.
pub fn load_data(config: &RunConfig, run: &Path, device: &Device) -> Result<Data, TrainError> {
    let options = LoadOptions {
        seed: config.train.seed,
        ..LoadOptions::default()
    };
    // Every directory first, so that a data set missing from the hub cache stops the run
    // before any task is read or any CLIP feature computed.
    let dirs = config
        .tasks
        .iter()
        .map(|source| {
            let spec = pelt_data::task(&source.name)?;
            Ok((
                spec,
                task_dir(spec, config.task_data(source)?)?,
                source.targets,
            ))
        })
        .collect::<Result<Vec<_>, TrainError>>()?;
    let mut tasks = Vec::new();
    for (spec, dir, targets) in dirs {
        let options = LoadOptions {
            targets,
            ..options.clone()
        };
        let mut data = load_task(spec, &dir, &options)?;
        if config.train.shots > 0 {
            data.train = few_shot(data.train, config.train.shots, config.train.seed);
        }
        tasks.push(data);
    }
    let file = tokenizer_file(config)?;
    let tokenizer = T5Tokenizer::from_file(&file)?;
    let mut batcher = Batcher::new(
        tokenizer.tokenizer().clone(),
        BatcherConfig {
            max_source_len: config.train.max_source_len,
            max_target_len: config.train.max_target_len,
            pad_to_max: false,
        },
    )?;
    if tasks.iter().any(|t| t.task.images > 0) {
        let cache = RunDir::new(run).features();
        if !cache.is_file() {
            write_features(config, &tasks, &cache, device)?;
        }
        batcher = batcher.with_features(Arc::new(FeatureCache::open(&cache)?));
    }
    Ok(Data {
        tasks,
        batcher,
        tokenizer,
    })
}

/// The error of image tasks without `clip`.
const NEEDS_CLIP: &str = "image tasks need a CLIP vision tower: set `clip` (or --clip PATH)";

/// The CLIP vision tower of the run (loaded, or random from the seed).
fn clip(
    config: &RunConfig,
    device: &Device,
) -> Result<(ClipVisionConfig, pelt_clip::ClipVisionModel), TrainError> {
    match &config.clip {
        None => Err(TrainError::Config(NEEDS_CLIP.into())),
        Some(Backbone::Path(path)) => Ok(load_vision_model(resolve_model(path)?, device)?),
        Some(Backbone::Random(json)) => {
            let clip_config = ClipVisionConfig::from_hf_json(&json.to_string())
                .map_err(|e| TrainError::Config(format!("`clip.random`: {e}")))?;
            device.seed(config.train.seed ^ 0xc11f);
            let model = clip_config.init(device);
            Ok((clip_config, model))
        }
    }
}

fn write_features(
    config: &RunConfig,
    tasks: &[TaskData],
    cache: &Path,
    device: &Device,
) -> Result<(), TrainError> {
    let (_, model) = clip(config, device)?;
    let encoder = ImageEncoder::new(model, device);
    // Key: the image path as the data set names it; value: the file.
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    // Key: the digest of an image stored in a Parquet file; value: one row that holds it.
    let mut embedded: BTreeMap<String, &Embedded> = BTreeMap::new();
    for data in tasks.iter().filter(|t| t.task.images > 0) {
        for example in data.train.iter().chain(&data.validation).chain(&data.test) {
            for image in &example.images {
                let image = match image {
                    ImageRef::File(image) => image,
                    ImageRef::Embedded(e) => {
                        embedded.entry(e.key.clone()).or_insert(e);
                        continue;
                    }
                };
                let file = data.root.join(image);
                if let Some(previous) = files.insert(image.clone(), file.clone())
                    && previous != file
                {
                    return Err(TrainError::Config(format!(
                        "image `{image}` names both {} and {}; give image tasks distinct image paths",
                        previous.display(),
                        file.display()
                    )));
                }
            }
        }
    }
    let stored = match embedded.len() {
        0 => String::new(),
        n => format!(" ({n} of them stored in Parquet files)"),
    };
    tracing::info!(
        "computing CLIP features of {} images{stored}",
        files.len() + embedded.len()
    );
    let (mut keys, files): (Vec<String>, Vec<PathBuf>) = files.into_iter().unzip();
    let mut features = encoder.encode_files(&files, BATCH)?;
    let (embedded_keys, embedded): (Vec<String>, Vec<&Embedded>) = embedded.into_iter().unzip();
    keys.extend(embedded_keys);
    features.extend(encode_embedded(&encoder, &embedded)?);
    let entries: Vec<(String, Tensor<2>)> = keys.into_iter().zip(features).collect();
    std::fs::create_dir_all(cache.parent().unwrap_or(Path::new(".")))
        .map_err(crate::error::io(cache))?;
    write_cache(cache, &entries)?;
    Ok(())
}

/// Images encoded per CLIP forward pass when the feature cache is written.
const BATCH: usize = 64;

/// The CLIP features of images stored in Parquet files, in the order given. Each file is read
/// once; `BATCH` images are held in memory at a time.
fn encode_embedded(
    encoder: &ImageEncoder,
    images: &[&Embedded],
) -> Result<Vec<Tensor<2>>, TrainError> {
    let mut features: Vec<Option<Tensor<2>>> = vec![None; images.len()];
    let mut pending: Vec<(usize, EncodedImage)> = Vec::with_capacity(BATCH);
    let mut flush = |pending: &mut Vec<(usize, EncodedImage)>| -> Result<(), TrainError> {
        let (indices, batch): (Vec<usize>, Vec<EncodedImage>) = pending.drain(..).unzip();
        for (i, grid) in indices
            .into_iter()
            .zip(encoder.encode_encoded(&batch, BATCH)?)
        {
            features[i] = Some(grid);
        }
        Ok(())
    };
    read_embedded_images(images, |i, bytes| {
        let name = ImageRef::Embedded(images[i].clone()).to_string();
        pending.push((
            i,
            EncodedImage {
                name: name.into(),
                bytes,
            },
        ));
        if pending.len() == BATCH {
            flush(&mut pending)?;
        }
        Ok::<(), TrainError>(())
    })?;
    flush(&mut pending)?;
    // `read_embedded_images` calls back once per image or fails.
    features
        .into_iter()
        .zip(images)
        .map(|(grid, image)| {
            grid.ok_or_else(|| {
                TrainError::Features(format!(
                    "image {} was not read",
                    ImageRef::Embedded((*image).clone())
                ))
            })
        })
        .collect()
}

/// The model of the run on `device` (the autodiff device for training), with parameter ids
/// that are the same in every process.
/// The shape follows from the configuration alone (the tasks' image counts come from the task
/// registry), so a trained model loads without reading any data.
pub fn build_model(config: &RunConfig, device: &Device) -> Result<PeltModel, TrainError> {
    let t5 = backbone(config, device)?;
    let mut pelt = config.model_config();
    let mut max_images = 0;
    for source in &config.tasks {
        max_images = max_images.max(pelt_data::task(&source.name)?.images);
    }
    if max_images > 0 && pelt.visual.is_none() {
        let clip_dim = match &config.clip {
            Some(Backbone::Path(path)) => {
                ClipVisionConfig::from_hf_file(resolve_model(path)?.join("config.json"))?
                    .hidden_size
            }
            Some(Backbone::Random(json)) => {
                ClipVisionConfig::from_hf_json(&json.to_string())
                    .map_err(|e| TrainError::Config(format!("`clip.random`: {e}")))?
                    .hidden_size
            }
            None => return Err(TrainError::Config(NEEDS_CLIP.into())),
        };
        pelt.visual = Some(VisualConfig {
            clip_dim,
            max_images,
            conditioning: true,
        });
    }
    Ok(stable_param_ids(PeltModel::new(t5, pelt)?))
}

/// The run's T5 on `device`: loaded, or random from the seed.
pub(crate) fn backbone(config: &RunConfig, device: &Device) -> Result<T5Model, TrainError> {
    device.seed(config.train.seed);
    Ok(match &config.t5 {
        Backbone::Path(path) => T5Model::load(resolve_model(path)?, device)?,
        Backbone::Random(json) => T5Config::from_json(&json.to_string())?.init(device),
    })
}

/// CLIP patch features `[1, 1, patches, hidden]` of one image file, with the run's CLIP.
pub fn image_features(
    config: &RunConfig,
    image: &Path,
    device: &Device,
) -> Result<Tensor<4>, TrainError> {
    let (_, model) = clip(config, device)?;
    let encoder = ImageEncoder::new(model, device);
    let mut features = encoder.encode_files(&[image], 1)?;
    let patches = features
        .pop()
        .ok_or_else(|| TrainError::Features(format!("{}: no features", image.display())))?;
    Ok(patches.unsqueeze_dim::<3>(0).unsqueeze_dim(0))
}

/// A finished (or interrupted) run's configuration and best model on `device`; no data is read.
/// Its `train.matmul_precision` becomes the products' ([`MatmulPrecision::apply`]).
///
/// [`MatmulPrecision::apply`]: crate::MatmulPrecision::apply
pub fn load_trained(run: &Path, device: &Device) -> Result<(RunConfig, PeltModel), TrainError> {
    let config = RunConfig::from_file(RunDir::new(run).config())?;
    config.train.matmul_precision.apply(device);
    let model = trained_model(&config, run, device)?;
    Ok((config, model))
}

/// The best model of `run`, trained with `config`, on `device`.
pub(crate) fn trained_model(
    config: &RunConfig,
    run: &Path,
    device: &Device,
) -> Result<PeltModel, TrainError> {
    Ok(build_model(config, device)?.load_trainable(RunDir::new(run).best())?)
}
