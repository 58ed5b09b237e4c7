//! The shared hypernetwork: the task, layer and block-type embeddings, and how slots are
//! embedded, projected and handed to the generators (docs/method.md §3-5). The parts have
//! their own files: `projector.rs`, `generators.rs`, `visual_embedding.rs`.

use burn::module::Param;
use burn::nn::LinearConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::config::PeltConfig;
use crate::generators::{AdapterGenerator, PrefixGenerator};
use crate::modules::ModuleSet;
use crate::projector::Projector;
use crate::slots::{Slot, SlotLayout};
use crate::visual_embedding::VisualHyper;

/// The shared hypernetwork.
#[derive(Module, Debug)]
pub struct HyperNetwork {
    /// Task embedding `[tasks, d_e]`.
    pub task_embedding: Param<Tensor<2>>,
    /// Layer embedding `[L_enc + L_dec, d_e]`.
    pub layer_embedding: Param<Tensor<2>>,
    /// Block-type embedding `[3, d_e]`.
    pub block_embedding: Param<Tensor<2>>,
    /// Projector of `concat[task, layer, block]`.
    pub projector: Projector,
    /// Adapter generator (`hyperformer`, `hyperpelt`).
    pub adapters: Option<AdapterGenerator>,
    /// Prefix generator (`hyperprefix`, `hyperpelt`, when `prefix_len > 0`).
    pub prefixes: Option<PrefixGenerator>,
    /// Visual hyper-embedding, when visual conditioning is on.
    pub visual: Option<VisualHyper>,
    /// Adapter slots, in generation order.
    #[module(skip)]
    adapter_slots: Vec<Slot>,
    /// Prefix slots, in generation order.
    #[module(skip)]
    prefix_slots: Vec<Slot>,
}

impl HyperNetwork {
    /// A freshly initialised hypernetwork: embeddings N(0, 1), generators N(0, init_std²) with
    /// zero biases, projectors with Burn's default initialisation.
    pub fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
        let normal = |rows: usize| {
            Param::from_tensor(Tensor::random(
                [rows, config.embedding_dim],
                Distribution::Normal(0.0, 1.0),
                device,
            ))
        };
        let visual = config
            .visual
            .as_ref()
            .filter(|_| config.visual_conditioning())
            .map(|v| VisualHyper {
                mlp_hidden: LinearConfig::new(v.clip_dim, config.projector_hidden_dim).init(device),
                mlp_out: LinearConfig::new(config.projector_hidden_dim, config.embedding_dim)
                    .init(device),
                projector: Projector::new(config, device),
            });
        Self {
            task_embedding: normal(config.tasks.len()),
            layer_embedding: normal(layout.layer_rows()),
            block_embedding: normal(3),
            projector: Projector::new(config, device),
            adapters: config
                .method
                .has_adapters()
                .then(|| AdapterGenerator::new(config, layout, device)),
            prefixes: config
                .inserts_prefixes()
                .then(|| PrefixGenerator::new(config, layout, device)),
            visual,
            adapter_slots: layout.adapter_slots(),
            prefix_slots: layout.prefix_slots(),
        }
    }

    /// `concat[layer, block]` embeddings of `slots`: `[slots, 2·d_e]`.
    fn slot_embeddings(&self, slots: &[Slot]) -> Tensor<2> {
        let device = self.task_embedding.val().device();
        let ids = |f: &dyn Fn(&Slot) -> i64| {
            let ids: Vec<i64> = slots.iter().map(f).collect();
            Tensor::<1, Int>::from_ints(ids.as_slice(), &device)
        };
        let layers = self
            .layer_embedding
            .val()
            .select(0, ids(&|s| s.layer as i64));
        let blocks = self
            .block_embedding
            .val()
            .select(0, ids(&|s| s.block as i64));
        Tensor::cat(vec![layers, blocks], 1)
    }

    /// Hyper-embeddings `I: [C, slots, d_h]` of conditions `cond: [C, d_e]` at `slots`.
    fn hyper_embeddings(
        &self,
        cond: Tensor<2>,
        slots: &[Slot],
        projector: &Projector,
    ) -> Tensor<3> {
        let [c, d_e] = cond.dims();
        let s = slots.len();
        let places = self
            .slot_embeddings(slots)
            .unsqueeze_dim::<3>(0)
            .expand([c, s, 2 * d_e]);
        let cond = cond.unsqueeze_dim::<3>(1).expand([c, s, d_e]);
        projector.forward(Tensor::cat(vec![cond, places], 2))
    }

    /// Generates every slot's modules for conditions `cond: [C, d_e]` through `projector`.
    fn generate(&self, cond: Tensor<2>, projector: &Projector) -> ModuleSet {
        ModuleSet {
            adapters: self.adapters.as_ref().map(|g| {
                g.forward(self.hyper_embeddings(cond.clone(), &self.adapter_slots, projector))
            }),
            prefixes: self.prefixes.as_ref().map(|g| {
                g.forward(self.hyper_embeddings(cond.clone(), &self.prefix_slots, projector))
            }),
        }
    }

    /// The task modules of `tasks: [C]` task ids (C = 1 shares them across the batch).
    pub fn task_modules(&self, tasks: Tensor<1, Int>) -> ModuleSet {
        let cond = self.task_embedding.val().select(0, tasks);
        self.generate(cond, &self.projector)
    }

    /// The visual modules of each example, from `features: [batch, images, patches, d_clip]`;
    /// none without visual conditioning.
    pub fn visual_modules(&self, features: Tensor<4>) -> Option<ModuleSet> {
        let visual = self.visual.as_ref()?;
        Some(self.generate(visual.embed(features), &visual.projector))
    }
}
