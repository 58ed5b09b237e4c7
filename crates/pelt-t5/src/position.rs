//! Relative position buckets and the learned bias T5 adds to attention scores.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

/// The bucket of `relative = key - query`, exactly as `T5Attention._relative_position_bucket`
/// computes it (the logarithmic part in f32, truncated toward zero).
///
/// Bidirectional buckets (encoder) give half the buckets to keys after the query; causal ones
/// (decoder) only see keys at or before it.
pub fn relative_position_bucket(
    relative: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative > 0 {
            bucket += num_buckets;
        }
        relative.abs()
    } else {
        (-relative).max(0)
    };
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        bucket += distance;
    } else {
        // Python computes the denominator with `math.log` in f64; torch then casts it to f32.
        let denominator = (max_distance as f64 / max_exact as f64).ln() as f32;
        let scaled = (distance as f32 / max_exact as f32).ln() / denominator
            * (num_buckets - max_exact) as f32;
        bucket += (max_exact + scaled as i64).min(num_buckets - 1);
    }
    bucket as usize
}

/// The learned relative position bias of the first block of a stack, shared by all its blocks.
#[derive(Module, Debug)]
pub struct RelativePositionBias {
    /// One bias per bucket and head, `[num_buckets, num_heads]`
    /// (`relative_attention_bias.weight`).
    pub embedding: Param<Tensor<2>>,
    /// Encoder (true) or decoder (false).
    pub bidirectional: bool,
    /// Distance beyond which positions share the last bucket.
    pub max_distance: usize,
}

impl RelativePositionBias {
    /// A bias table drawn from `N(0, std^2)` (Hugging Face: `factor * d_model^-1/2`).
    pub fn new(
        num_buckets: usize,
        num_heads: usize,
        bidirectional: bool,
        max_distance: usize,
        std: f64,
        device: &Device,
    ) -> Self {
        Self {
            embedding: Param::from_tensor(Tensor::random(
                [num_buckets, num_heads],
                Distribution::Normal(0.0, std),
                device,
            )),
            bidirectional,
            max_distance,
        }
    }

    /// The bias for queries at positions `query_offset..query_offset + queries` against keys at
    /// `0..keys`, as `[1, heads, queries, keys]`.
    pub fn forward(&self, query_offset: usize, queries: usize, keys: usize) -> Tensor<4> {
        let table = self.embedding.val();
        let [num_buckets, heads] = table.dims();
        let device = table.device();
        let buckets: Vec<i64> = (0..queries)
            .flat_map(|q| {
                (0..keys).map(move |k| {
                    let relative = k as i64 - (q + query_offset) as i64;
                    relative_position_bucket(
                        relative,
                        self.bidirectional,
                        num_buckets,
                        self.max_distance,
                    ) as i64
                })
            })
            .collect();
        let index =
            Tensor::<1, Int>::from_data(TensorData::new(buckets, [queries * keys]), &device);
        table
            .select(0, index)
            .reshape([queries, keys, heads])
            .permute([2, 0, 1])
            .unsqueeze_dim(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_distances_are_exact_and_far_ones_saturate() {
        // t5-small: 32 buckets, max distance 128.
        assert_eq!(relative_position_bucket(0, true, 32, 128), 0);
        assert_eq!(relative_position_bucket(-3, true, 32, 128), 3);
        assert_eq!(relative_position_bucket(3, true, 32, 128), 19);
        assert_eq!(relative_position_bucket(-1000, true, 32, 128), 15);
        assert_eq!(relative_position_bucket(1000, true, 32, 128), 31);
        assert_eq!(relative_position_bucket(5, false, 32, 128), 0);
        assert_eq!(relative_position_bucket(-1000, false, 32, 128), 31);
    }

    #[test]
    fn buckets_never_decrease_with_distance() {
        for bidirectional in [true, false] {
            let mut last = 0;
            for d in 0..600 {
                let b = relative_position_bucket(-d, bidirectional, 32, 128);
                assert!(b >= last, "distance {d}");
                last = b;
            }
        }
    }
}
