//! Where modules are inserted: one adapter slot per feed-forward block and one prefix slot per
//! attention, each named by a layer row and a block type of the hyper-embedding
//! (docs/method.md §3).

use pelt_t5::T5Config;
use serde::{Deserialize, Serialize};

use crate::config::PeltConfig;

/// Block type of a slot: the row of the block-type embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    /// Self-attention (encoder or decoder).
    SelfAttention = 0,
    /// The decoder's cross-attention.
    CrossAttention = 1,
    /// The feed-forward block.
    FeedForward = 2,
}

/// One insertion point: a layer row (`0..L_enc` encoder, `L_enc..L_enc + L_dec` decoder) and
/// a block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Row of the layer embedding.
    pub layer: usize,
    /// Row of the block-type embedding.
    pub block: BlockType,
}

/// Every dimension the inserted modules need, from T5's and the method's configurations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotLayout {
    /// Encoder layers `L_enc`.
    pub encoder_layers: usize,
    /// Decoder layers `L_dec`.
    pub decoder_layers: usize,
    /// T5 width.
    pub d_model: usize,
    /// Attention heads.
    pub heads: usize,
    /// Per-head width of keys and values.
    pub d_kv: usize,
    /// Adapter bottleneck `r`.
    pub adapter_dim: usize,
    /// Prefix length `N`.
    pub prefix_len: usize,
}

impl SlotLayout {
    /// The layout of `pelt` on a T5 of shape `t5`.
    pub fn new(t5: &T5Config, pelt: &PeltConfig) -> Self {
        Self {
            encoder_layers: t5.num_layers,
            decoder_layers: t5.decoder_layers(),
            d_model: t5.d_model,
            heads: t5.num_heads,
            d_kv: t5.d_kv,
            adapter_dim: pelt.adapter_dim,
            prefix_len: pelt.prefix_len,
        }
    }

    /// Rows of the layer embedding, `L_enc + L_dec`.
    pub fn layer_rows(&self) -> usize {
        self.encoder_layers + self.decoder_layers
    }

    /// Adapter slots: encoder feed-forward blocks, then decoder ones.
    pub fn adapter_slots(&self) -> Vec<Slot> {
        (0..self.layer_rows())
            .map(|layer| Slot {
                layer,
                block: BlockType::FeedForward,
            })
            .collect()
    }

    /// Prefix slots: encoder self-attentions, decoder self-attentions, decoder
    /// cross-attentions.
    pub fn prefix_slots(&self) -> Vec<Slot> {
        let (enc, dec) = (self.encoder_layers, self.decoder_layers);
        let self_attention = (0..enc + dec).map(|layer| Slot {
            layer,
            block: BlockType::SelfAttention,
        });
        let cross = (enc..enc + dec).map(|layer| Slot {
            layer,
            block: BlockType::CrossAttention,
        });
        self_attention.chain(cross).collect()
    }

    /// Index among [`prefix_slots`](Self::prefix_slots) of decoder layer `l`'s
    /// cross-attention.
    pub fn cross_prefix_slot(&self, l: usize) -> usize {
        self.encoder_layers + self.decoder_layers + l
    }

    /// Values of one generated prefix: keys and values, `2·N·heads·d_kv`.
    pub fn prefix_width(&self) -> usize {
        2 * self.prefix_len * self.heads * self.d_kv
    }
}
