//! One T5 layer: self-attention, cross-attention (decoder only) and feed-forward, each
//! pre-normed and residual.

use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;

use crate::attention::{KeyValue, T5Attention};
use crate::config::T5Config;
use crate::ffn::T5FeedForward;
use crate::insertions::LayerInsertions;
use crate::norm::T5LayerNorm;

/// Keys and values a decoder layer keeps between generation steps.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    /// Self-attention keys and values of every token decoded so far.
    pub self_kv: Option<KeyValue>,
    /// Cross-attention keys and values, computed once from the encoder output.
    pub cross_kv: Option<KeyValue>,
}

impl LayerCache {
    /// Keeps the batch rows `rows` (reorders beams).
    pub fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        let select = |kv: &Option<KeyValue>| {
            kv.as_ref().map(|(k, v)| {
                (
                    k.clone().select(0, rows.clone()),
                    v.clone().select(0, rows.clone()),
                )
            })
        };
        Self {
            self_kv: select(&self.self_kv),
            cross_kv: select(&self.cross_kv),
        }
    }
}

/// What the encoder's output contributes to a decoder layer.
#[derive(Debug, Clone)]
pub struct CrossContext {
    /// Encoder output `[batch, src, d_model]`.
    pub hidden: Tensor<3>,
    /// Additive encoder padding mask `[batch, 1, 1, src]`.
    pub bias: Tensor<4>,
}

/// `T5Block`.
#[derive(Module, Debug)]
pub struct T5Block {
    /// `layer.0.layer_norm`.
    pub self_norm: T5LayerNorm,
    /// `layer.0.SelfAttention`.
    pub self_attention: T5Attention,
    /// `layer.1.layer_norm` (decoder only).
    pub cross_norm: Option<T5LayerNorm>,
    /// `layer.1.EncDecAttention` (decoder only).
    pub cross_attention: Option<T5Attention>,
    /// Last `layer_norm` (`layer.1` in the encoder, `layer.2` in the decoder).
    pub ff_norm: T5LayerNorm,
    /// Last `DenseReluDense`.
    pub ff: T5FeedForward,
    /// Dropout on every sub-layer's output before its residual.
    pub dropout: Dropout,
}

impl T5Block {
    /// A block of `config`'s shape, with cross-attention when `is_decoder`.
    pub fn new(config: &T5Config, is_decoder: bool, device: &Device) -> Self {
        let norm = || T5LayerNorm::new(config.d_model, config.layer_norm_epsilon, device);
        let attention = || {
            T5Attention::new(
                config.d_model,
                config.num_heads,
                config.d_kv,
                config.dropout_rate,
                config.initializer_factor,
                device,
            )
        };
        Self {
            self_norm: norm(),
            self_attention: attention(),
            cross_norm: is_decoder.then(norm),
            cross_attention: is_decoder.then(attention),
            ff_norm: norm(),
            ff: T5FeedForward::new(
                config.d_model,
                config.d_ff,
                config.feed_forward_proj,
                config.dropout_rate,
                config.initializer_factor,
                device,
            ),
            dropout: DropoutConfig::new(config.dropout_rate).init(),
        }
    }

    /// `x: [batch, seq, d_model]` to the same shape. `self_bias` is the additive
    /// `[batch | 1, heads | 1, seq, keys]` bias of the self-attention (positions and masks);
    /// `cross` is present in the decoder. With a `cache`, self-attention keys and values are
    /// appended to it and attended to in full, and cross-attention ones are computed once.
    pub fn forward(
        &self,
        x: Tensor<3>,
        self_bias: Tensor<4>,
        cross: Option<&CrossContext>,
        insertions: Option<&LayerInsertions>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let mut cache = cache;
        let normed = self.self_norm.forward(x.clone());
        let mut kv = self.self_attention.key_value(normed.clone());
        if let Some(cache) = cache.as_deref_mut() {
            if let Some((k, v)) = cache.self_kv.take() {
                kv = (Tensor::cat(vec![k, kv.0], 2), Tensor::cat(vec![v, kv.1], 2));
            }
            cache.self_kv = Some(kv.clone());
        }
        let prefix = insertions.and_then(|i| i.self_prefix.as_ref());
        let attended = self.self_attention.forward(normed, kv, self_bias, prefix);
        let mut x = x + self.dropout.forward(attended);

        if let (Some(norm), Some(attention), Some(cross)) =
            (&self.cross_norm, &self.cross_attention, cross)
        {
            let normed = norm.forward(x.clone());
            let kv = match cache {
                Some(cache) => cache
                    .cross_kv
                    .get_or_insert_with(|| attention.key_value(cross.hidden.clone()))
                    .clone(),
                None => attention.key_value(cross.hidden.clone()),
            };
            let prefix = insertions.and_then(|i| i.cross_prefix.as_ref());
            let attended = attention.forward(normed, kv, cross.bias.clone(), prefix);
            x = x + self.dropout.forward(attended);
        }

        let h = self.ff.forward(self.ff_norm.forward(x.clone()));
        let adapted = match insertions {
            Some(ins) => ins
                .adapters
                .iter()
                .fold(h.clone(), |acc, adapter| acc + adapter.delta(h.clone())),
            None => h,
        };
        x + self.dropout.forward(adapted)
    }
}
