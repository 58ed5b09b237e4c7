//! Plain adapters and prefixes (the `adapters` and `prefix` baselines): the same flat tensors a
//! generator produces, held as parameters, one set shared or one per task.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::config::{Method, PeltConfig};
use crate::modules::{AdapterSet, ModuleSet};
use crate::slots::SlotLayout;

/// Plain adapters of every adapter slot, `[sets, slots, ...]` (see [`AdapterSet`]).
#[derive(Module, Debug)]
pub struct PlainAdapters {
    /// `W_down`, N(0, init_std²).
    pub down: Param<Tensor<3>>,
    /// `b_down`, zeros.
    pub down_bias: Param<Tensor<3>>,
    /// `W_up`, N(0, init_std²).
    pub up: Param<Tensor<3>>,
    /// `b_up`, zeros.
    pub up_bias: Param<Tensor<3>>,
}

/// Plain modules: adapters or prefixes as parameters.
#[derive(Module, Debug)]
pub struct PlainModules {
    /// Adapters (method `adapters`).
    pub adapters: Option<PlainAdapters>,
    /// Prefixes `[sets, prefix slots, 2·N·heads·d_kv]`, N(0, init_std²) (method `prefix`).
    pub prefixes: Option<Param<Tensor<3>>>,
    /// Whether there is one set per task (else one shared set).
    #[module(skip)]
    pub per_task: bool,
}

impl PlainModules {
    /// Fresh plain modules for `config.method` (`adapters` or `prefix`).
    pub fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
        let sets = if config.per_task {
            config.tasks.len()
        } else {
            1
        };
        let normal = |shape: [usize; 3]| {
            Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, config.init_std),
                device,
            ))
        };
        let zeros = |shape: [usize; 3]| Param::from_tensor(Tensor::zeros(shape, device));
        let (r, d) = (layout.adapter_dim, layout.d_model);
        let a = layout.adapter_slots().len();
        Self {
            adapters: (config.method == Method::Adapters).then(|| PlainAdapters {
                down: normal([sets, a, r * d]),
                down_bias: zeros([sets, a, r]),
                up: normal([sets, a, d * r]),
                up_bias: zeros([sets, a, d]),
            }),
            prefixes: (config.method == Method::Prefix)
                .then(|| normal([sets, layout.prefix_slots().len(), layout.prefix_width()])),
            per_task: config.per_task,
        }
    }

    /// The modules of `tasks: [C]` (C = 1 shares one set across the batch).
    pub fn modules(&self, tasks: Tensor<1, Int>) -> ModuleSet {
        let rows = if self.per_task {
            tasks
        } else {
            Tensor::zeros([1], &tasks.device())
        };
        ModuleSet {
            adapters: self.adapters.as_ref().map(|a| AdapterSet {
                down: a.down.val(),
                down_bias: a.down_bias.val(),
                up: a.up.val(),
                up_bias: a.up_bias.val(),
            }),
            prefixes: self.prefixes.as_ref().map(|p| p.val()),
        }
        .select(rows)
    }
}
