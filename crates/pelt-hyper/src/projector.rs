//! The hyper-embedding projector: `concat[condition, layer, block]` to the hyper-embedding `I`
//! of a slot (docs/method.md §3).

use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::config::PeltConfig;

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
    pub(crate) fn new(config: &PeltConfig, device: &Device) -> Self {
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
