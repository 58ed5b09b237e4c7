//! `T5Stack`: the encoder or the decoder, blocks sharing the first block's position bias.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::block::{CrossContext, LayerCache, T5Block};
use crate::config::T5Config;
use crate::insertions::LayerInsertions;
use crate::norm::T5LayerNorm;
use crate::position::RelativePositionBias;

/// Additive mask value: what `modeling_t5.py` adds for hidden positions (`finfo(f32).min`).
pub const MASKED: f32 = f32::MIN;

/// An encoder or decoder stack.
#[derive(Module, Debug)]
pub struct T5Stack {
    /// `block.{i}`.
    pub blocks: Vec<T5Block>,
    /// `block.0.layer.0.SelfAttention.relative_attention_bias`, shared by every block.
    pub position_bias: RelativePositionBias,
    /// `final_layer_norm`.
    pub final_norm: T5LayerNorm,
    /// Dropout on the input embeddings and on the output.
    pub dropout: Dropout,
    /// Causal self-attention and cross-attention (decoder) or neither (encoder).
    pub is_decoder: bool,
}

impl T5Stack {
    /// An encoder (`is_decoder = false`) or decoder stack of `config`'s shape.
    pub fn new(config: &T5Config, is_decoder: bool, device: &Device) -> Self {
        let layers = if is_decoder {
            config.decoder_layers()
        } else {
            config.num_layers
        };
        Self {
            blocks: (0..layers)
                .map(|_| T5Block::new(config, is_decoder, device))
                .collect(),
            position_bias: RelativePositionBias::new(
                config.relative_attention_num_buckets,
                config.num_heads,
                !is_decoder,
                config.relative_attention_max_distance,
                crate::init::scaled_std(config.initializer_factor, config.d_model),
                device,
            ),
            final_norm: T5LayerNorm::new(config.d_model, config.layer_norm_epsilon, device),
            dropout: DropoutConfig::new(config.dropout_rate).init(),
            is_decoder,
        }
    }

    /// Runs the stack on `embeds: [batch, seq, d_model]`, returning the normed final states of
    /// the same shape.
    ///
    /// - `mask: [batch, keys]` is 1 for visible keys and 0 for padding (encoder); `None` means
    ///   all visible. The decoder applies its causal mask itself.
    /// - `offset` is the position of the first query (tokens already in `caches`).
    /// - `cross` carries the encoder output for the decoder.
    /// - `insertions[i]` goes to block `i`; an empty slice inserts nothing.
    pub fn forward(
        &self,
        embeds: Tensor<3>,
        mask: Option<Tensor<2>>,
        offset: usize,
        cross: Option<&CrossContext>,
        insertions: &[LayerInsertions],
        mut caches: Option<&mut [LayerCache]>,
    ) -> Tensor<3> {
        let [_batch, queries, _d_model] = embeds.dims();
        let device = embeds.device();
        let keys = offset + queries;
        let mut bias = self.position_bias.forward(offset, queries, keys);
        if let Some(mask) = mask {
            bias = bias + padding_bias(mask);
        }
        if self.is_decoder {
            bias = bias + causal_bias(offset, queries, &device);
        }
        let mut x = self.dropout.forward(embeds);
        for (i, block) in self.blocks.iter().enumerate() {
            let cache = caches.as_deref_mut().map(|c| &mut c[i]);
            x = block.forward(x, bias.clone(), cross, insertions.get(i), cache);
        }
        self.dropout.forward(self.final_norm.forward(x))
    }
}

/// `[batch, keys]` of ones and zeros to an additive `[batch, 1, 1, keys]` bias.
pub fn padding_bias(mask: Tensor<2>) -> Tensor<4> {
    ((mask.neg() + 1.0) * MASKED).unsqueeze_dims(&[1, 2])
}

/// Additive `[1, 1, queries, offset + queries]` bias hiding keys after each query.
fn causal_bias(offset: usize, queries: usize, device: &Device) -> Tensor<4> {
    let keys = offset + queries;
    let values: Vec<f32> = (0..queries)
        .flat_map(|q| (0..keys).map(move |k| if k > q + offset { MASKED } else { 0.0 }))
        .collect();
    Tensor::<1>::from_floats(values.as_slice(), device).reshape([1, 1, queries, keys])
}
