//! Tokenising, truncating and padding examples into a [`Batch`].
//!
//! Sources and targets are encoded without special tokens, truncated to `max - 1` tokens, and
//! closed with `</s>`: the same ids as the T5 tokenizer with `truncation=True`. Truncation is
//! counted per batch (and summed by the [`crate::Loader`]) so it is reported, never silent.

use std::path::Path;
use std::sync::Arc;

use tokenizers::Tokenizer;

use crate::batch::{Batch, TruncationStats, VisualInput};
use crate::error::{DataError, Result};
use crate::features::FeatureCache;
use crate::image::ImageRef;
use crate::load_task::TaskData;
use crate::record::Example;
use crate::sampler::BatchPlan;
use crate::tokens::TokenEncoder;

/// Batcher settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatcherConfig {
    /// Maximum source tokens, `</s>` included.
    pub max_source_len: usize,
    /// Maximum target tokens, `</s>` included.
    pub max_target_len: usize,
    /// Pad every batch to the maximum lengths instead of its longest row (fixed shapes).
    pub pad_to_max: bool,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        Self {
            max_source_len: 128,
            max_target_len: 128,
            pad_to_max: false,
        }
    }
}

/// One row to batch: an example, its task index in the mixture and where its images live.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// Task index (task-embedding row).
    pub task: usize,
    /// Example index within its split, carried into [`Batch::rows`].
    pub index: usize,
    /// The example.
    pub example: &'a Example,
    /// The data root its image paths are relative to.
    pub root: &'a Path,
}

/// Turns examples into batches. Cloning is cheap (the tokenizer is shared) and gives the clone
/// its own word memo, so give each worker thread its own clone.
#[derive(Debug, Clone)]
pub struct Batcher {
    encoder: TokenEncoder,
    config: BatcherConfig,
    features: Option<Arc<FeatureCache>>,
}

impl Batcher {
    /// A batcher around a loaded tokenizer; it must know `</s>`.
    pub fn new(tokenizer: Tokenizer, config: BatcherConfig) -> Result<Self> {
        if config.max_source_len == 0 || config.max_target_len == 0 {
            return Err(DataError::Config(
                "maximum lengths must be at least 1".to_owned(),
            ));
        }
        Ok(Self {
            encoder: TokenEncoder::new(Arc::new(tokenizer))?,
            config,
            features: None,
        })
    }

    /// A batcher with the tokenizer of a `tokenizer.json` file.
    pub fn from_file(path: &Path, config: BatcherConfig) -> Result<Self> {
        let tokenizer = Tokenizer::from_file(path)
            .map_err(|e| DataError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::new(tokenizer, config)
    }

    /// Uses cached CLIP features for image rows instead of image paths.
    pub fn with_features(mut self, cache: Arc<FeatureCache>) -> Self {
        self.features = Some(cache);
        self
    }

    /// The settings.
    pub fn config(&self) -> BatcherConfig {
        self.config
    }

    /// Token ids of `text` closed by `</s>`, at most `max` (>= 1) of them; and whether it was cut.
    pub fn encode(&self, text: &str, max: usize) -> Result<(Vec<u32>, bool)> {
        if max == 0 {
            return Err(DataError::Config("cannot encode into 0 tokens".to_owned()));
        }
        let ids = self.encoder.ids_many(&[text])?.remove(0);
        Ok(self.close(ids, max))
    }

    /// Cuts `ids` to `max - 1` (`max >= 1`) and appends `</s>`; reports whether it cut.
    fn close(&self, mut ids: Vec<u32>, max: usize) -> (Vec<u32>, bool) {
        let cut = ids.len() >= max;
        ids.truncate(max - 1);
        ids.push(self.encoder.eos());
        (ids, cut)
    }

    /// The training batch of a sampler plan, with `tasks[t].train` as task `t`'s examples.
    pub fn plan(&self, plan: &BatchPlan, tasks: &[TaskData]) -> Result<Batch> {
        let rows: Vec<Row<'_>> = plan
            .items
            .iter()
            .map(|&(t, i)| {
                let data = tasks.get(t).ok_or_else(|| {
                    DataError::Config(format!("plan names task {t} of {}", tasks.len()))
                })?;
                let example = data.train.get(i).ok_or_else(|| {
                    DataError::Config(format!("plan names example {i} of task {}", data.task.name))
                })?;
                Ok(Row {
                    task: t,
                    index: i,
                    example,
                    root: &data.root,
                })
            })
            .collect::<Result<_>>()?;
        self.batch(plan.step, &rows)
    }

    /// Evaluation batches of `examples` (a validation or test split of the task at index `task`
    /// in the mixture), `batch_size` rows each, in order; the last batch may be smaller.
    pub fn split_batches<'a>(
        &'a self,
        task: usize,
        root: &'a Path,
        examples: &'a [Example],
        batch_size: usize,
    ) -> impl Iterator<Item = Result<Batch>> + 'a {
        let size = batch_size.max(1);
        examples.chunks(size).enumerate().map(move |(k, chunk)| {
            let rows: Vec<Row<'_>> = chunk
                .iter()
                .enumerate()
                .map(|(i, example)| Row {
                    task,
                    index: k * size + i,
                    example,
                    root,
                })
                .collect();
            self.batch(k as u64, &rows)
        })
    }

    /// Batches arbitrary rows.
    pub fn batch(&self, step: u64, rows: &[Row<'_>]) -> Result<Batch> {
        if rows.is_empty() {
            return Err(DataError::EmptyDataset {
                what: format!("batch {step}"),
            });
        }
        let mut stats = TruncationStats {
            rows: rows.len(),
            ..Default::default()
        };
        let texts: Vec<&str> = rows
            .iter()
            .flat_map(|r| [r.example.source.as_str(), r.example.target.as_str()])
            .collect();
        let mut ids = self.encoder.ids_many(&texts)?.into_iter();
        let mut sources = Vec::with_capacity(rows.len());
        let mut targets = Vec::with_capacity(rows.len());
        while let (Some(s), Some(t)) = (ids.next(), ids.next()) {
            let (s, cut_s) = self.close(s, self.config.max_source_len);
            let (t, cut_t) = self.close(t, self.config.max_target_len);
            stats.sources += usize::from(cut_s);
            stats.targets += usize::from(cut_t);
            sources.push(s);
            targets.push(t);
        }
        let longest = |seqs: &[Vec<u32>], max: usize| {
            if self.config.pad_to_max {
                max
            } else {
                seqs.iter().map(Vec::len).max().unwrap_or(1)
            }
        };
        let s_len = longest(&sources, self.config.max_source_len);
        let t_len = longest(&targets, self.config.max_target_len);
        let b = rows.len();
        let mut input_ids = vec![0i64; b * s_len];
        let mut attention_mask = vec![0i64; b * s_len];
        let mut labels = vec![0i64; b * t_len];
        let mut decoder_input_ids = vec![0i64; b * t_len];
        let mut decoder_attention_mask = vec![0i64; b * t_len];
        for r in 0..b {
            for (j, &id) in sources[r].iter().enumerate() {
                input_ids[r * s_len + j] = i64::from(id);
                attention_mask[r * s_len + j] = 1;
            }
            for (j, &id) in targets[r].iter().enumerate() {
                labels[r * t_len + j] = i64::from(id);
                decoder_attention_mask[r * t_len + j] = 1;
                if j + 1 < t_len {
                    decoder_input_ids[r * t_len + j + 1] = i64::from(id);
                }
            }
        }
        let visual = self.visual(rows)?;
        Ok(Batch {
            step,
            batch_size: b,
            source_len: s_len,
            target_len: t_len,
            input_ids,
            attention_mask,
            decoder_input_ids,
            decoder_attention_mask,
            labels,
            task_ids: rows.iter().map(|r| r.task as i64).collect(),
            rows: rows.iter().map(|r| (r.task, r.index)).collect(),
            visual,
            truncation: stats,
        })
    }

    fn visual(&self, rows: &[Row<'_>]) -> Result<Option<VisualInput>> {
        if rows.iter().all(|r| r.example.images.is_empty()) {
            return Ok(None);
        }
        let Some(cache) = &self.features else {
            let path = |root: &Path, image: &ImageRef| match image {
                ImageRef::File(file) => Ok(root.join(file)),
                ImageRef::Embedded(e) => Err(DataError::Parquet {
                    path: e.shard.to_path_buf(),
                    reason: format!(
                        "{image} is stored in the file, not beside it: embedded images are \
                         read through the CLIP feature cache (`Batcher::with_features`)"
                    ),
                }),
            };
            let paths = rows
                .iter()
                .map(|r| r.example.images.iter().map(|i| path(r.root, i)).collect())
                .collect::<Result<_>>()?;
            return Ok(Some(VisualInput::Paths(paths)));
        };
        let hidden = cache.hidden();
        let mut per_row: Vec<(Vec<f32>, Vec<i64>)> = Vec::with_capacity(rows.len());
        for row in rows {
            let mut feats = Vec::new();
            let mut which = Vec::new();
            for (k, image) in row.example.images.iter().enumerate() {
                let patches = cache.append(image.key(), &row.example.id, &mut feats)?;
                which.extend(std::iter::repeat_n(k as i64, patches));
            }
            per_row.push((feats, which));
        }
        let tokens = per_row.iter().map(|(_, w)| w.len()).max().unwrap_or(0);
        let b = rows.len();
        let mut features = vec![0f32; b * tokens * hidden];
        let mut mask = vec![0i64; b * tokens];
        let mut image_index = vec![0i64; b * tokens];
        for (r, (feats, which)) in per_row.iter().enumerate() {
            features[r * tokens * hidden..r * tokens * hidden + feats.len()].copy_from_slice(feats);
            for (j, &k) in which.iter().enumerate() {
                mask[r * tokens + j] = 1;
                image_index[r * tokens + j] = k;
            }
        }
        Ok(Some(VisualInput::Features {
            features,
            mask,
            image_index,
            tokens,
            hidden,
        }))
    }
}
