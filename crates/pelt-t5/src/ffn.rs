//! T5's feed-forward block: `DenseReluDense` (v1.0) and `DenseGatedActDense` (v1.1).

use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};

use crate::config::{Activation, FeedForwardProj};
use crate::dense::dense;

/// `wo(dropout(act(wi x)))`, or `wo(dropout(act(wi_0 x) * wi_1 x))` when gated.
#[derive(Module, Debug)]
pub struct T5FeedForward {
    /// `wi` (plain) or `wi_0` (gated), `d_model -> d_ff`.
    pub wi: Linear,
    /// `wi_1`, the linear branch of the gated form, `d_model -> d_ff`.
    pub wi_1: Option<Linear>,
    /// `wo`, `d_ff -> d_model`.
    pub wo: Linear,
    /// Dropout on the hidden layer.
    pub dropout: Dropout,
    /// The non-linearity.
    #[module(skip)]
    pub activation: Activation,
}

impl T5FeedForward {
    /// Randomly initialised weights (normally loaded afterwards).
    pub fn new(
        d_model: usize,
        d_ff: usize,
        proj: FeedForwardProj,
        dropout: f64,
        device: &Device,
    ) -> Self {
        let linear = |i, o| LinearConfig::new(i, o).with_bias(false).init(device);
        Self {
            wi: linear(d_model, d_ff),
            wi_1: proj.gated.then(|| linear(d_model, d_ff)),
            wo: linear(d_ff, d_model),
            dropout: DropoutConfig::new(dropout).init(),
            activation: proj.activation,
        }
    }

    /// `x: [batch, seq, d_model]` to the same shape.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let hidden = dense(&self.wi, x.clone());
        let hidden = match self.activation {
            Activation::Relu => relu(hidden),
            Activation::Gelu => gelu(hidden),
            Activation::GeluNew => gelu_approximate(hidden),
            Activation::Silu => silu(hidden),
        };
        let hidden = match &self.wi_1 {
            Some(linear) => hidden * dense(linear, x),
            None => hidden,
        };
        dense(&self.wo, self.dropout.forward(hidden))
    }
}
