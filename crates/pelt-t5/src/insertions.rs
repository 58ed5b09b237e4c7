//! Parameter-efficient insertions handed to T5 as plain tensors: prefixes and adapters.
//!
//! T5 knows nothing of where these tensors come from (plain parameters, a hypernetwork, a
//! materialised export); it only applies them at their insertion points
//! (`docs/method.md` sections 4-5). Every tensor has a leading batch axis,
//! which may be 1 to share one set across the batch.

use burn::prelude::*;
use burn::tensor::activation::gelu_approximate;

/// Prefix key and value vectors for one attention, each `[batch | 1, heads, N, d_kv]`.
///
/// Prefix columns are always visible (no padding or causal mask) and get zero relative
/// position bias.
#[derive(Debug, Clone)]
pub struct Prefix {
    /// Keys prepended to the attention's keys.
    pub key: Tensor<4>,
    /// Values prepended to the attention's values.
    pub value: Tensor<4>,
}

impl Prefix {
    /// Number of prefix columns, `N`.
    pub fn len(&self) -> usize {
        self.key.dims()[2]
    }

    /// Whether the prefix has no columns.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Concatenates prefixes along their columns (task and visual prefixes, say).
    pub fn concat(prefixes: Vec<Prefix>) -> Option<Prefix> {
        if prefixes.is_empty() {
            return None;
        }
        let batch = prefixes.iter().map(|p| p.key.dims()[0]).max().unwrap_or(1);
        let (keys, values) = prefixes
            .into_iter()
            .map(|p| {
                (
                    broadcast_batch(p.key, batch),
                    broadcast_batch(p.value, batch),
                )
            })
            .unzip();
        Some(Prefix {
            key: Tensor::cat(keys, 2),
            value: Tensor::cat(values, 2),
        })
    }

    /// Checks that key and value have one shape whose batch is 1 or `batch`.
    fn check(&self, batch: usize) -> Result<(), String> {
        let key = self.key.dims();
        check_batch("key", &key, batch)?;
        if self.value.dims() != key {
            return Err(format!(
                "value has shape {:?}; expected {key:?}, the shape of the key",
                self.value.dims()
            ));
        }
        Ok(())
    }

    fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            key: select_batch(self.key.clone(), rows),
            value: select_batch(self.value.clone(), rows),
        }
    }
}

/// A bottleneck adapter with per-example weights, applied to a feed-forward output `h`:
/// `h + W_up · gelu_tanh(W_down · h + b_down) + b_up`.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// `W_down`, `[batch | 1, r, d_model]`.
    pub down: Tensor<3>,
    /// `b_down`, `[batch | 1, r]`.
    pub down_bias: Tensor<2>,
    /// `W_up`, `[batch | 1, d_model, r]`.
    pub up: Tensor<3>,
    /// `b_up`, `[batch | 1, d_model]`.
    pub up_bias: Tensor<2>,
}

impl Adapter {
    /// The adapter's addition to `h: [batch, seq, d_model]`, the same shape
    /// (`W_up · gelu_tanh(W_down · h + b_down) + b_up`, without the residual `h`).
    pub fn delta(&self, h: Tensor<3>) -> Tensor<3> {
        let [batch, _seq, _d_model] = h.dims();
        // Swapped before the broadcast, as attention's prefix keys are: the broadcast's
        // gradient is then summed over a contiguous tensor (docs/upstream.md, "burn-cubecl").
        let down = broadcast_batch(self.down.clone().swap_dims(1, 2), batch);
        let up = broadcast_batch(self.up.clone().swap_dims(1, 2), batch);
        let hidden = h.matmul(down) + self.down_bias.clone().unsqueeze_dim(1);
        gelu_approximate(hidden).matmul(up) + self.up_bias.clone().unsqueeze_dim(1)
    }

    /// Checks that the four tensors agree on `r` and `d_model` and have batch 1 or `batch`.
    fn check(&self, batch: usize) -> Result<(), String> {
        let down = self.down.dims();
        check_batch("W_down", &down, batch)?;
        let [rows, r, d_model] = down;
        let expect = |name: &str, got: &[usize], want: &[usize]| {
            if got == want {
                Ok(())
            } else {
                Err(format!(
                    "{name} has shape {got:?}; expected {want:?} (W_down is {down:?})"
                ))
            }
        };
        expect("b_down", &self.down_bias.dims(), &[rows, r])?;
        expect("W_up", &self.up.dims(), &[rows, d_model, r])?;
        expect("b_up", &self.up_bias.dims(), &[rows, d_model])
    }

    fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            down: select_batch(self.down.clone(), rows),
            down_bias: select_batch(self.down_bias.clone(), rows),
            up: select_batch(self.up.clone(), rows),
            up_bias: select_batch(self.up_bias.clone(), rows),
        }
    }
}

/// What one T5 layer receives. Every field empty gives exactly plain T5.
#[derive(Debug, Clone, Default)]
pub struct LayerInsertions {
    /// Prefix of the self-attention (encoder or decoder).
    pub self_prefix: Option<Prefix>,
    /// Prefix of the decoder's cross-attention (ignored in the encoder).
    pub cross_prefix: Option<Prefix>,
    /// Adapters after the feed-forward block; their contributions are summed
    /// (`h + A_task(h) + A_vis(h)`).
    pub adapters: Vec<Adapter>,
}

impl LayerInsertions {
    fn check(&self, batch: usize) -> Result<(), String> {
        for (name, prefix) in [("self", &self.self_prefix), ("cross", &self.cross_prefix)] {
            if let Some(p) = prefix {
                p.check(batch)
                    .map_err(|e| format!("{name}-attention prefix: {e}"))?;
            }
        }
        for (i, adapter) in self.adapters.iter().enumerate() {
            adapter
                .check(batch)
                .map_err(|e| format!("adapter {i}: {e}"))?;
        }
        Ok(())
    }

    fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            self_prefix: self.self_prefix.as_ref().map(|p| p.select_rows(rows)),
            cross_prefix: self.cross_prefix.as_ref().map(|p| p.select_rows(rows)),
            adapters: self.adapters.iter().map(|a| a.select_rows(rows)).collect(),
        }
    }
}

/// Insertions for every layer: `encoder[i]` for encoder layer `i`, `decoder[i]` for decoder
/// layer `i`. An empty list means no insertions in that stack.
#[derive(Debug, Clone, Default)]
pub struct Insertions {
    /// One entry per encoder layer, or none.
    pub encoder: Vec<LayerInsertions>,
    /// One entry per decoder layer, or none.
    pub decoder: Vec<LayerInsertions>,
}

impl Insertions {
    /// Checks every tensor's shape against the others of its prefix or adapter and against an
    /// input of `batch` rows (a leading axis of 1 or `batch`); the error names the stack, the
    /// layer and the tensor. Widths against the model (`d_model`, heads, `d_kv`) are the
    /// caller's to keep.
    pub(crate) fn check(&self, batch: usize) -> Result<(), String> {
        for (stack, layers) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            for (i, layer) in layers.iter().enumerate() {
                layer
                    .check(batch)
                    .map_err(|e| format!("{stack} layer {i}, {e}"))?;
            }
        }
        Ok(())
    }

    /// Keeps the batch rows `rows` (`[n]` indices) of every per-example tensor; shared
    /// (batch 1) tensors stay as they are. Used to expand a batch into beams.
    pub fn select_rows(&self, rows: &Tensor<1, Int>) -> Self {
        Self {
            encoder: self.encoder.iter().map(|l| l.select_rows(rows)).collect(),
            decoder: self.decoder.iter().map(|l| l.select_rows(rows)).collect(),
        }
    }
}

/// An error unless `dims[0]` is 1 (shared) or `batch`.
fn check_batch(name: &str, dims: &[usize], batch: usize) -> Result<(), String> {
    if dims[0] == 1 || dims[0] == batch {
        Ok(())
    } else {
        Err(format!(
            "{name} has shape {dims:?}; its leading axis must be 1 (shared) or {batch} (the input's batch)"
        ))
    }
}

/// Broadcasts a shared (batch 1) tensor to `batch` rows; other tensors are returned as they are.
pub(crate) fn broadcast_batch<const D: usize>(x: Tensor<D>, batch: usize) -> Tensor<D> {
    let mut dims = x.dims();
    if dims[0] == 1 && batch != 1 {
        dims[0] = batch;
        x.expand(dims)
    } else {
        x
    }
}

/// Selects batch rows of a per-example tensor; a shared (batch 1) tensor is kept whole.
fn select_batch<const D: usize>(x: Tensor<D>, rows: &Tensor<1, Int>) -> Tensor<D> {
    if x.dims()[0] == 1 {
        x
    } else {
        x.select(0, rows.clone())
    }
}
