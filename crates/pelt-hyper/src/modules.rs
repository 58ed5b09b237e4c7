//! Inserted modules of every slot as flat tensors, whatever produced them (a generator, plain
//! parameters, an export), and their unpacking into T5's [`Insertions`].

use burn::prelude::*;
use pelt_t5::{Adapter, Insertions, LayerInsertions, Prefix};

use crate::slots::SlotLayout;

/// Adapters of every adapter slot, flat. `C` is the batch, or 1 for a set shared by the batch.
#[derive(Debug, Clone)]
pub struct AdapterSet {
    /// `W_down` row-major `[r, d_model]` per slot: `[C, slots, r·d_model]`.
    pub down: Tensor<3>,
    /// `b_down`: `[C, slots, r]`.
    pub down_bias: Tensor<3>,
    /// `W_up` row-major `[d_model, r]` per slot: `[C, slots, d_model·r]`.
    pub up: Tensor<3>,
    /// `b_up`: `[C, slots, d_model]`.
    pub up_bias: Tensor<3>,
}

impl AdapterSet {
    /// Keeps rows `rows` of the leading axis.
    pub fn select(self, rows: Tensor<1, Int>) -> Self {
        Self {
            down: self.down.select(0, rows.clone()),
            down_bias: self.down_bias.select(0, rows.clone()),
            up: self.up.select(0, rows.clone()),
            up_bias: self.up_bias.select(0, rows),
        }
    }

    fn slot(&self, slot: usize, layout: &SlotLayout) -> Adapter {
        let [c, _, _] = self.down.dims();
        let (r, d) = (layout.adapter_dim, layout.d_model);
        Adapter {
            down: self.down.clone().narrow(1, slot, 1).reshape([c, r, d]),
            down_bias: self.down_bias.clone().narrow(1, slot, 1).reshape([c, r]),
            up: self.up.clone().narrow(1, slot, 1).reshape([c, d, r]),
            up_bias: self.up_bias.clone().narrow(1, slot, 1).reshape([c, d]),
        }
    }
}

/// Modules of every slot from one source (the task, or the image).
#[derive(Debug, Clone, Default)]
pub struct ModuleSet {
    /// Adapters, one per adapter slot.
    pub adapters: Option<AdapterSet>,
    /// Prefixes `[C, prefix slots, 2·N·heads·d_kv]`, each slot's values ordered as
    /// `[2 (key, value), heads, N, d_kv]`.
    pub prefixes: Option<Tensor<3>>,
}

impl ModuleSet {
    /// Keeps rows `rows` of the leading axis.
    pub fn select(self, rows: Tensor<1, Int>) -> Self {
        Self {
            adapters: self.adapters.map(|a| a.select(rows.clone())),
            prefixes: self.prefixes.map(|p| p.select(0, rows)),
        }
    }
}

fn prefix(prefixes: &Tensor<3>, slot: usize, layout: &SlotLayout) -> Prefix {
    let [c, _, _] = prefixes.dims();
    let (h, n, d_kv) = (layout.heads, layout.prefix_len, layout.d_kv);
    let kv = prefixes
        .clone()
        .narrow(1, slot, 1)
        .reshape([c, 2, h, n, d_kv]);
    Prefix {
        key: kv.clone().narrow(1, 0, 1).reshape([c, h, n, d_kv]),
        value: kv.narrow(1, 1, 1).reshape([c, h, n, d_kv]),
    }
}

/// Unpacks every set into per-layer insertions. Sets act in parallel: adapters are summed,
/// prefixes concatenated in the order of `sets` (docs/method.md §5).
pub fn assemble(sets: &[ModuleSet], layout: &SlotLayout) -> Insertions {
    if sets
        .iter()
        .all(|s| s.adapters.is_none() && s.prefixes.is_none())
    {
        return Insertions::default();
    }
    let enc = layout.encoder_layers;
    let layer = |adapter_slot: usize, self_slot: usize, cross_slot: Option<usize>| {
        let adapters = sets
            .iter()
            .filter_map(|s| s.adapters.as_ref())
            .map(|a| a.slot(adapter_slot, layout))
            .collect();
        let prefixes = |slot: usize| {
            Prefix::concat(
                sets.iter()
                    .filter_map(|s| s.prefixes.as_ref())
                    .map(|p| prefix(p, slot, layout))
                    .collect(),
            )
        };
        LayerInsertions {
            self_prefix: prefixes(self_slot),
            cross_prefix: cross_slot.and_then(prefixes),
            adapters,
        }
    };
    Insertions {
        encoder: (0..enc).map(|l| layer(l, l, None)).collect(),
        decoder: (0..layout.decoder_layers)
            .map(|l| layer(enc + l, enc + l, Some(layout.cross_prefix_slot(l))))
            .collect(),
    }
}
