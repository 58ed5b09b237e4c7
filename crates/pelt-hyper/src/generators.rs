//! The generators: linear maps from a slot's hyper-embedding to its adapter weights or its
//! prefix keys and values (docs/method.md §4).

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::tanh;

use crate::config::PeltConfig;
use crate::modules::AdapterSet;
use crate::slots::SlotLayout;

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
    pub(crate) fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
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
    pub(crate) fn new(config: &PeltConfig, layout: &SlotLayout, device: &Device) -> Self {
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
