//! Hugging Face T5's random initialisation (`T5PreTrainedModel._init_weights`): normal
//! values whose standard deviations carry the attention's missing `1/sqrt(d_kv)` scaling
//! (docs/pretrain.md, "Initialisation").

use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;

/// A bias-free `d_in -> d_out` projection with weights drawn from `N(0, std^2)`.
pub fn normal_linear(d_in: usize, d_out: usize, std: f64, device: &Device) -> Linear {
    LinearConfig::new(d_in, d_out)
        .with_bias(false)
        .with_initializer(Initializer::Normal { mean: 0.0, std })
        .init(device)
}

/// `factor / sqrt(fan)`, the standard deviation Hugging Face gives a weight read over `fan`
/// inputs (or, for the query, `d_model * d_kv`).
pub fn scaled_std(factor: f64, fan: usize) -> f64 {
    factor / (fan as f64).sqrt()
}
