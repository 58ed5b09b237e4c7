//! `PeltModel`: a frozen T5 with the method's inserted modules, the visual projection and, for
//! hyper methods, the hypernetwork that generates the modules per example.

use burn::prelude::*;
use pelt_t5::{GenerationConfig, Insertions, T5Input, T5Model, cross_entropy};

use crate::config::PeltConfig;
use crate::error::HyperError;
use crate::modules::{ModuleSet, assemble};
use crate::slots::SlotLayout;
use crate::tuner::Tuner;
use crate::visual_tokens::VisualProjection;

/// One batch of encoder input, with what conditions the inserted modules.
#[derive(Debug, Clone)]
pub struct PeltInput {
    /// Token ids `[batch, src]`.
    pub input_ids: Tensor<2, Int>,
    /// 1 token, 0 padding, `[batch, src]`; all ones when absent.
    pub attention_mask: Option<Tensor<2, Int>>,
    /// Task index (into [`PeltConfig::tasks`]) of each example, `batch` entries.
    pub tasks: Vec<usize>,
    /// CLIP patch features `[batch, images, patches, d_clip]` for vision-and-language
    /// batches; none for text.
    pub images: Option<Tensor<4>>,
}

impl PeltInput {
    /// A text batch of `input_ids: [batch, src]` with its padding mask and task indices.
    pub fn text(
        input_ids: Tensor<2, Int>,
        attention_mask: Tensor<2, Int>,
        tasks: Vec<usize>,
    ) -> Self {
        Self {
            input_ids,
            attention_mask: Some(attention_mask),
            tasks,
            images: None,
        }
    }

    /// Adds CLIP patch features `[batch, images, patches, d_clip]`.
    pub fn with_images(mut self, features: Tensor<4>) -> Self {
        self.images = Some(features);
        self
    }

    /// Examples `rows` of the batch (`[rows.len(), ...]` every tensor), on `device`: one data-
    /// parallel worker's share.
    pub fn rows(&self, rows: std::ops::Range<usize>, device: &Device) -> Self {
        Self {
            input_ids: self.input_ids.clone().slice(rows.clone()).to_device(device),
            attention_mask: self
                .attention_mask
                .as_ref()
                .map(|m| m.clone().slice(rows.clone()).to_device(device)),
            tasks: self.tasks[rows.clone()].to_vec(),
            images: self
                .images
                .as_ref()
                .map(|f| f.clone().slice(rows.clone()).to_device(device)),
        }
    }
}

/// A T5 tuned by one of the methods of [`Method`](crate::Method).
#[derive(Module, Debug)]
pub struct PeltModel {
    /// The backbone; frozen except its layer norms (configurable), or wholly trained by `full`.
    pub t5: T5Model,
    /// Projection of CLIP features into visual tokens, for vision-and-language models.
    pub visual: Option<VisualProjection>,
    /// What the method adds: nothing (`full`), plain modules, or the hypernetwork. Saved
    /// under the variant's name (`hyper.*`, `plain.*`; see [`ModulePath`](crate::ModulePath)).
    pub tuner: Tuner,
    /// How the model is tuned.
    #[module(skip)]
    pub config: PeltConfig,
    /// Dimensions of the inserted modules.
    #[module(skip)]
    pub layout: SlotLayout,
}

impl PeltModel {
    /// Wraps `t5` with freshly initialised modules of `config`, on `t5`'s device. Parameters
    /// that do not train have gradients disabled.
    pub fn new(t5: T5Model, config: PeltConfig) -> Result<Self, HyperError> {
        config.validate()?;
        let device = t5.shared.val().device();
        let layout = SlotLayout::new(&t5.config, &config);
        let visual = config.visual.as_ref().map(|v| {
            VisualProjection::new(
                v,
                t5.config.d_model,
                t5.config.layer_norm_epsilon,
                config.init_std,
                &device,
            )
        });
        let tuner = Tuner::new(&config, &layout, &device);
        let model = Self {
            t5,
            visual,
            tuner,
            config,
            layout,
        };
        Ok(model.with_gradient_flags())
    }

    /// The module sets of a batch: the task's (or plain) set, then the visual one.
    pub fn module_sets(
        &self,
        tasks: &[usize],
        images: Option<&Tensor<4>>,
    ) -> Result<Vec<ModuleSet>, HyperError> {
        let device = self.t5.shared.val().device();
        if let Some(&bad) = tasks.iter().find(|&&t| t >= self.config.tasks.len()) {
            return Err(HyperError::Input(format!(
                "task index {bad} is out of range: the model has {} tasks ({})",
                self.config.tasks.len(),
                self.config.tasks.join(", ")
            )));
        }
        // One task in the whole batch: generate once and broadcast (same numbers, less work).
        let ids: Vec<i64> = if tasks.windows(2).all(|w| w[0] == w[1]) {
            tasks.iter().take(1).map(|&t| t as i64).collect()
        } else {
            tasks.iter().map(|&t| t as i64).collect()
        };
        if ids.is_empty() {
            return Err(HyperError::Input(
                "a batch needs at least one example".into(),
            ));
        }
        let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), &device);
        Ok(self.tuner.module_sets(ids, images))
    }

    /// Checks a batch against the model: task count, image features' shape.
    fn check(&self, input: &PeltInput) -> Result<(), HyperError> {
        let [batch, _] = input.input_ids.dims();
        if input.tasks.len() != batch {
            return Err(HyperError::Input(format!(
                "the batch has {batch} examples but {} task indices",
                input.tasks.len()
            )));
        }
        if let Some(features) = &input.images {
            let visual = self.config.visual.as_ref().ok_or_else(|| {
                HyperError::Input(
                    "the batch has images but the model has no visual path (`visual` is not \
                     configured)"
                        .into(),
                )
            })?;
            let [b, images, _, d_clip] = features.dims();
            if b != batch || images == 0 || images > visual.max_images || d_clip != visual.clip_dim
            {
                return Err(HyperError::Input(format!(
                    "image features have shape {:?}; expected [{batch}, 1..={}, patches, {}]",
                    features.dims(),
                    visual.max_images,
                    visual.clip_dim
                )));
            }
        }
        Ok(())
    }

    /// The inserted modules of a batch, as T5 takes them.
    pub fn insertions(&self, input: &PeltInput) -> Result<Insertions, HyperError> {
        self.check(input)?;
        let sets = self.module_sets(&input.tasks, input.images.as_ref())?;
        Ok(assemble(&sets, &self.layout))
    }

    /// T5's input for a batch: text tokens, visual tokens appended after them, insertions.
    pub fn t5_input(&self, input: PeltInput) -> Result<T5Input, HyperError> {
        let insertions = self.insertions(&input)?;
        let invalid = |e: pelt_t5::T5Error| HyperError::Input(e.to_string());
        let mut t5_input = T5Input::new(input.input_ids)
            .pelt(insertions)
            .map_err(invalid)?;
        if let Some(mask) = input.attention_mask {
            t5_input = t5_input.mask(mask).map_err(invalid)?;
        }
        if let (Some(features), Some(visual)) = (input.images, &self.visual) {
            t5_input = t5_input
                .append(visual.forward(features), None)
                .map_err(invalid)?;
        }
        Ok(t5_input)
    }

    /// Teacher-forced logits `[batch, tgt, vocab]` for `decoder_ids: [batch, tgt]`.
    pub fn forward(
        &self,
        input: PeltInput,
        decoder_ids: Tensor<2, Int>,
    ) -> Result<Tensor<3>, HyperError> {
        Ok(self.t5.forward(self.t5_input(input)?, decoder_ids))
    }

    /// Label-smoothed token cross-entropy (`labels: [batch, tgt]`, -100 ignored); one element.
    pub fn loss(
        &self,
        input: PeltInput,
        labels: Tensor<2, Int>,
        smoothing: f64,
    ) -> Result<Tensor<1>, HyperError> {
        let decoder_ids = self.t5.shift_right(labels.clone());
        Ok(cross_entropy(
            self.forward(input, decoder_ids)?,
            labels,
            smoothing,
        ))
    }

    /// Generated token ids of each example (without the start token).
    pub fn generate(
        &self,
        input: PeltInput,
        config: &GenerationConfig,
    ) -> Result<Vec<Vec<u32>>, HyperError> {
        Ok(self.t5.generate(self.t5_input(input)?, config))
    }
}
