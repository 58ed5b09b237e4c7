//! A training or evaluation batch as plain row-major arrays; the training crate makes tensors.
//!
//! Shapes use `B` = rows, `S` = source length, `T` = target length, `V` = visual tokens per row,
//! `H` = CLIP hidden size. Every `Vec` is row-major with the documented shape.

use std::path::PathBuf;

/// The visual side of a batch of an image task.
#[derive(Debug, Clone, PartialEq)]
pub enum VisualInput {
    /// Image files for the CLIP crate to load and preprocess: `paths[row]` lists the row's images
    /// in order (NLVR2: left, right), resolved against the data root.
    Paths(Vec<Vec<PathBuf>>),
    /// Cached CLIP patch features.
    Features {
        /// `[B, V, H]` f32; a row's images' patches one after the other, zero-padded to `V`.
        features: Vec<f32>,
        /// `[B, V]`: 1 for each visual token, 0 for padding. Visual tokens are appended after the
        /// text tokens, so the encoder mask is `concat[attention_mask, mask]` along the sequence.
        mask: Vec<i64>,
        /// `[B, V]`: which image of the row the token comes from (0, 1, ...), 0 on padding;
        /// feeds the image-order embedding of two-image tasks.
        image_index: Vec<i64>,
        /// `V`.
        tokens: usize,
        /// `H`.
        hidden: usize,
    },
}

/// One batch. Token ids are `i64`; padding id 0 is T5's `<pad>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Training step (or evaluation batch number).
    pub step: u64,
    /// `B`.
    pub batch_size: usize,
    /// `S`: longest source in the batch after truncation (or the maximum, if padding to it).
    pub source_len: usize,
    /// `T`: longest target in the batch after truncation.
    pub target_len: usize,
    /// `[B, S]` encoder input ids, ending in `</s>`, padded with 0.
    pub input_ids: Vec<i64>,
    /// `[B, S]` 1 on tokens, 0 on padding.
    pub attention_mask: Vec<i64>,
    /// `[B, T]` decoder inputs: `labels` shifted right, starting with the decoder start id 0,
    /// padding 0.
    pub decoder_input_ids: Vec<i64>,
    /// `[B, T]` 1 where `labels` is a token, 0 on padding.
    pub decoder_attention_mask: Vec<i64>,
    /// `[B, T]` target ids ending in `</s>`, padded with 0; `decoder_attention_mask` says which
    /// are tokens (the training crate sets the loss's ignore index on the rest).
    pub labels: Vec<i64>,
    /// `[B]` index of each row's task in the mixture (the task-embedding row).
    pub task_ids: Vec<i64>,
    /// `[B]` `(task, example index)` of each row, to map predictions back to examples.
    pub rows: Vec<(usize, usize)>,
    /// Images of image tasks; `None` for text-only batches.
    pub visual: Option<VisualInput>,
    /// What truncation did to this batch.
    pub truncation: TruncationStats,
}

/// Counts of truncated sequences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruncationStats {
    /// Rows seen.
    pub rows: usize,
    /// Sources cut to `max_source_len`.
    pub sources: usize,
    /// Targets cut to `max_target_len`.
    pub targets: usize,
}

impl TruncationStats {
    /// Adds another count.
    pub fn add(&mut self, other: TruncationStats) {
        self.rows += other.rows;
        self.sources += other.sources;
        self.targets += other.targets;
    }
}
