//! T5 multi-head attention: no score scaling, additive bias, optional prefix columns.

use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;

use crate::dense::dense;
use crate::init::{normal_linear, scaled_std};
use crate::insertions::{Prefix, broadcast_batch};
use crate::softmax::softmax_last;

/// Keys and values of one attention, each `[batch, heads, keys, d_kv]`.
pub type KeyValue = (Tensor<4>, Tensor<4>);

/// `T5Attention`: query, key, value and output projections without biases.
#[derive(Module, Debug)]
pub struct T5Attention {
    /// Query projection, `d_model -> heads * d_kv`.
    pub q: Linear,
    /// Key projection, `d_model -> heads * d_kv`.
    pub k: Linear,
    /// Value projection, `d_model -> heads * d_kv`.
    pub v: Linear,
    /// Output projection, `heads * d_kv -> d_model`.
    pub o: Linear,
    /// Attention probability dropout.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// Width of one head.
    pub d_kv: usize,
}

impl T5Attention {
    /// Randomly initialised projections as Hugging Face draws them (`factor` scales every
    /// standard deviation: q `(d_model * d_kv)^-1/2`, k and v `d_model^-1/2`, o
    /// `(heads * d_kv)^-1/2`); weights are normally loaded afterwards.
    pub fn new(
        d_model: usize,
        num_heads: usize,
        d_kv: usize,
        dropout: f64,
        factor: f64,
        device: &Device,
    ) -> Self {
        let inner = num_heads * d_kv;
        let key_std = scaled_std(factor, d_model);
        Self {
            q: normal_linear(d_model, inner, scaled_std(factor, d_model * d_kv), device),
            k: normal_linear(d_model, inner, key_std, device),
            v: normal_linear(d_model, inner, key_std, device),
            o: normal_linear(inner, d_model, scaled_std(factor, inner), device),
            dropout: DropoutConfig::new(dropout).init(),
            num_heads,
            d_kv,
        }
    }

    /// Projects `x: [batch, seq, d_model]` to keys and values `[batch, heads, seq, d_kv]`.
    pub fn key_value(&self, x: Tensor<3>) -> KeyValue {
        (
            self.heads(dense(&self.k, x.clone())),
            self.heads(dense(&self.v, x)),
        )
    }

    /// Attends from `x: [batch, queries, d_model]` to `kv` (`[batch, heads, keys, d_kv]`),
    /// adding `bias: [batch | 1, heads | 1, queries, keys]` (relative positions and masks) to
    /// the unscaled scores. A `prefix` (`[batch | 1, heads, N, d_kv]`) adds `N` key/value
    /// columns in front, with zero bias. Returns `[batch, queries, d_model]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        kv: KeyValue,
        bias: Tensor<4>,
        prefix: Option<&Prefix>,
    ) -> Tensor<3> {
        let [batch, queries, _d_model] = x.dims();
        let q = self.heads(dense(&self.q, x));
        let (k, mut v) = kv;
        // The bias broadcasts over batch or heads; it is added to the sequence's scores alone,
        // so it is never materialised at full size to give the prefix columns their zeros.
        let mut scores = q.clone().matmul(k.swap_dims(2, 3)) + bias;
        if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
            // Swapped before the broadcast, not after: the broadcast's gradient is a sum over
            // the batch, and Burn 0.22.1's CubeCL sum over a swapped view reads the wrong
            // elements (docs/upstream.md, "burn-cubecl 0.22.1: a sum over a swapped view").
            let prefix_scores =
                q.matmul(broadcast_batch(prefix.key.clone().swap_dims(2, 3), batch));
            scores = Tensor::cat(vec![prefix_scores, scores], 3);
            v = Tensor::cat(vec![broadcast_batch(prefix.value.clone(), batch), v], 2);
        }
        let weights = self.dropout.forward(softmax_last(scores));
        let context =
            weights
                .matmul(v)
                .swap_dims(1, 2)
                .reshape([batch, queries, self.num_heads * self.d_kv]);
        dense(&self.o, context)
    }

    /// `[batch, seq, heads * d_kv]` to `[batch, heads, seq, d_kv]`.
    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [batch, seq, _inner] = x.dims();
        x.reshape([batch, seq, self.num_heads, self.d_kv])
            .swap_dims(1, 2)
    }
}
