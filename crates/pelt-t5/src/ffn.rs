//! T5's feed-forward block: `DenseReluDense` (v1.0) and `DenseGatedActDense` (v1.1).

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, relu, silu};

use crate::config::{Activation, FeedForwardProj};
use crate::dense::dense;
use crate::init::{normal_linear, scaled_std};

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
    /// Randomly initialised weights as Hugging Face draws them (`factor` scales every
    /// standard deviation: `wi` `d_model^-1/2`, `wo` `d_ff^-1/2`); normally loaded afterwards.
    pub fn new(
        d_model: usize,
        d_ff: usize,
        proj: FeedForwardProj,
        dropout: f64,
        factor: f64,
        device: &Device,
    ) -> Self {
        let input = || normal_linear(d_model, d_ff, scaled_std(factor, d_model), device);
        Self {
            wi: input(),
            wi_1: proj.gated.then(input),
            wo: normal_linear(d_ff, d_model, scaled_std(factor, d_ff), device),
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
