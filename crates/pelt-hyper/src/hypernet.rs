//! The hypernetwork: task, layer and block embeddings, the hyper-embedding projector and the
//! generators of adapters and prefixes (docs/method.md §3-4), and the visual hyper-embedding
//! (§5).

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{relu, tanh};

use crate::config::PeltConfig;
use crate::modules::{AdapterSet, ModuleSet};
use crate::slots::{Slot, SlotLayout};

/// A linear map with weights N(0, std²) and zero bias (HyperFormer++'s generator init).
pub(crate) fn generator_linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    Linear {
        weight: Param::from_tensor(Tensor::random(
            [d_in, d_out],
            Distribution::Normal(0.0, std),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// `I = LayerNorm(W2 · ReLU(W1 · x + b1) + b2)`, LayerNorm eps 1e-6.
#[derive(Module, Debug)]
pub struct Projector {
    /// `W1, b1`: `3·d_e -> projector_hidden_dim`.
    pub hidden: Linear,
    /// `W2, b2`: `projector_hidden_dim -> d_h`.
    pub out: Linear,
    /// The final layer norm over `d_h`.
    pub norm: LayerNorm,
}

impl Projector {
    fn new(config: &PeltConfig, device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(3 * config.embedding_dim, config.projector_hidden_dim)
                .init(device),
            out: LinearConfig::new(config.projector_hidden_dim, config.hyper_dim).init(device),
            norm: LayerNormConfig::new(config.hyper_dim)
                .with_epsilon(1e-6)
                .init(device),
        }
    }

    /// `x: [C, slots, 3·d_e]` to `I: [C, slots, d_h]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.norm
            .forward(self.out.forward(relu(self.hidden.forward(x))))
    }
}

/// Generates the four adapter tensors of a slot from its hyper-embedding.
#[derive(Module, Debug)]
pub struct AdapterGenerator {
    /// `d_h -> r·d_model` (`W_down`).
    pub down: Linear,
    /// `d_h -> r` (`b_down`).
    pub down_bias: Linear,
    /// `d_h -> d_model·r` (`W_up`).
    pub up: Linear,
    /// `d_h -> d_model` (`b_up`).
    pub up_bias: Linear,
}

impl AdapterGenerator {
    fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
        let (h, r, d, std) = (
            config.hyper_dim,
            layout.adapter_dim,
            layout.d_model,
            config.init_std,
        );
        Self {
            down: generator_linear(h, r * d, std, device),
            down_bias: generator_linear(h, r, std, device),
            up: generator_linear(h, d * r, std, device),
            up_bias: generator_linear(h, d, std, device),
        }
    }

    /// `I: [C, slots, d_h]` to the slots' adapters.
    pub fn forward(&self, hyper: Tensor<3>) -> AdapterSet {
        AdapterSet {
            down: self.down.forward(hyper.clone()),
            down_bias: self.down_bias.forward(hyper.clone()),
            up: self.up.forward(hyper.clone()),
            up_bias: self.up_bias.forward(hyper),
        }
    }
}

/// Generates a slot's prefix keys and values from its hyper-embedding, optionally through a
/// `tanh` hidden layer.
#[derive(Module, Debug)]
pub struct PrefixGenerator {
    /// Optional hidden layer `d_h -> prefix_hidden_dim`.
    pub hidden: Option<Linear>,
    /// `d_h` (or the hidden width) `-> 2·N·heads·d_kv`.
    pub out: Linear,
}

impl PrefixGenerator {
    fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
        let hidden = config
            .prefix_hidden_dim
            .map(|w| LinearConfig::new(config.hyper_dim, w).init(device));
        let d_in = config.prefix_hidden_dim.unwrap_or(config.hyper_dim);
        Self {
            hidden,
            out: generator_linear(d_in, layout.prefix_width(), config.init_std, device),
        }
    }

    /// `I: [C, slots, d_h]` to prefixes `[C, slots, 2·N·heads·d_kv]`.
    pub fn forward(&self, hyper: Tensor<3>) -> Tensor<3> {
        match &self.hidden {
            Some(hidden) => self.out.forward(tanh(hidden.forward(hyper))),
            None => self.out.forward(hyper),
        }
    }
}

/// The visual hyper-embedding: `v = MLP(mean of the CLIP patch features)`, and its own
/// projector.
#[derive(Module, Debug)]
pub struct VisualHyper {
    /// `d_clip -> projector_hidden_dim`, then ReLU.
    pub mlp_hidden: Linear,
    /// `projector_hidden_dim -> d_e`.
    pub mlp_out: Linear,
    /// Projector of `concat[v, layer, block]`.
    pub projector: Projector,
}

impl VisualHyper {
    /// `features: [batch, images, patches, d_clip]` to `v: [batch, d_e]`.
    pub fn embed(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, images, patches, d_clip] = features.dims();
        let pooled = features
            .reshape([batch, images * patches, d_clip])
            .mean_dim(1)
            .reshape([batch, d_clip]);
        self.mlp_out.forward(relu(self.mlp_hidden.forward(pooled)))
    }
}

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
