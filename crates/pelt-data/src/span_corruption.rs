//! T5 span corruption, the pretraining objective (docs/pretrain.md), exactly as Hugging Face's
//! `DataCollatorForT5MLM` (`examples/flax/language-modeling/run_t5_mlm_flax.py`) computes it.
//!
//! A chunk of `expanded` tokens is split into alternating non-noise and noise spans, beginning
//! with non-noise: `round(expanded · density)` noise tokens in `round(noise / mean_span)` spans,
//! all such masks equally likely. The input keeps the non-noise tokens and replaces each noise span
//! by one sentinel (`<extra_id_0>`, then `<extra_id_1>`, … with ids counting down from
//! `vocabulary − 1`); the target is each sentinel followed by the tokens it replaced. Both end
//! with `</s>`. The random segmentation shuffles a boolean vector with NumPy's legacy
//! `np.random.shuffle` on an MT19937 stream, reproduced here bit for bit, so that a generator
//! seeded with `s` gives the very batch that `np.random.seed(s)` followed by the collator gives
//! (checked against a fixture recorded from Python, `tests/span_corruption.rs`).

use crate::error::{DataError, Result};
use crate::rng::Mt19937;

/// The objective's parameters and the ids it needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanCorruption {
    /// Share of the chunk's tokens that are masked (T5: 0.15).
    pub noise_density: f64,
    /// Mean length of a masked span (T5: 3).
    pub mean_noise_span_length: f64,
    /// `len(tokenizer)`: the first sentinel `<extra_id_0>` is this minus one.
    pub vocabulary: u32,
    /// The id of `</s>`, which closes inputs and targets.
    pub eos: u32,
}

/// A corrupted chunk: encoder input and decoder target, each closed by `</s>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupted {
    /// Non-noise tokens with one sentinel per noise span.
    pub input: Vec<u32>,
    /// Each sentinel followed by the noise tokens it stands for.
    pub target: Vec<u32>,
}

/// Python's (and NumPy's) `round`: halves go to the even neighbour.
fn round(x: f64) -> usize {
    x.round_ties_even() as usize
}

/// NumPy's legacy `random_interval(max)`: a uniform integer in `[0, max]` by masked rejection.
fn random_interval(rng: &mut Mt19937, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let mut mask = max as u64;
    for shift in [1, 2, 4, 8, 16, 32] {
        mask |= mask >> shift;
    }
    loop {
        let value = u64::from(rng.next_u32()) & mask;
        if value <= max as u64 {
            return value as usize;
        }
    }
}

/// `np.random.shuffle(items)` on a legacy `RandomState` (a backward Fisher-Yates shuffle).
/// Vectors are far below `u32::MAX` elements, NumPy's bound for 32-bit draws.
fn numpy_shuffle<T>(rng: &mut Mt19937, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = random_interval(rng, i);
        items.swap(i, j);
    }
}

/// Splits `items` into `segments` non-empty runs, all such splits equally likely; the run
/// lengths in order. `1 <= segments <= items`.
fn random_segmentation(rng: &mut Mt19937, items: usize, segments: usize) -> Vec<usize> {
    let mut boundary: Vec<bool> = (0..items - 1).map(|i| i < segments - 1).collect();
    numpy_shuffle(rng, &mut boundary);
    let mut lengths = vec![1usize];
    for starts_new in boundary {
        if starts_new {
            lengths.push(1);
        } else if let Some(last) = lengths.last_mut() {
            *last += 1;
        }
    }
    lengths
}

impl SpanCorruption {
    /// T5's setting: density 0.15, mean span 3.
    pub fn t5(vocabulary: u32, eos: u32) -> Self {
        Self {
            noise_density: 0.15,
            mean_noise_span_length: 3.0,
            vocabulary,
            eos,
        }
    }

    /// Noise and span counts of a chunk of `length` tokens, as `random_spans_noise_mask`.
    fn counts(&self, length: usize) -> (usize, usize) {
        let noise = round(length as f64 * self.noise_density).clamp(1, length - 1);
        let spans = round(noise.min(length - noise) as f64 / self.mean_noise_span_length).max(1);
        (noise, spans)
    }

    /// The chunk length whose corrupted input has at most `input_length` tokens, and the
    /// target length it then has (`compute_input_and_target_lengths`).
    pub fn lengths_for_input(&self, input_length: usize) -> (usize, usize) {
        let sizes = |tokens: usize| {
            let noise = round(tokens as f64 * self.noise_density);
            let spans = round(noise as f64 / self.mean_noise_span_length);
            (tokens - noise + spans + 1, noise + spans + 1)
        };
        let mut tokens = input_length;
        while sizes(tokens + 1).0 <= input_length {
            tokens += 1;
        }
        (tokens, sizes(tokens).1)
    }

    /// The noise mask of a chunk of `length >= 2` tokens (`random_spans_noise_mask`).
    pub fn noise_mask(&self, length: usize, rng: &mut Mt19937) -> Vec<bool> {
        let (noise, spans) = self.counts(length);
        let noise_lengths = random_segmentation(rng, noise, spans);
        let kept_lengths = random_segmentation(rng, length - noise, spans);
        let mut mask = Vec::with_capacity(length);
        for (kept, noisy) in kept_lengths.into_iter().zip(noise_lengths) {
            mask.extend(std::iter::repeat_n(false, kept));
            mask.extend(std::iter::repeat_n(true, noisy));
        }
        mask
    }

    /// Keeps the tokens whose mask is `keep`; each run of the others becomes one sentinel.
    fn filter(&self, ids: &[u32], mask: &[bool], keep: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(ids.len());
        let mut sentinel = self.vocabulary;
        for (i, (&id, &m)) in ids.iter().zip(mask).enumerate() {
            if m == keep {
                out.push(id);
            } else if i == 0 || mask[i - 1] == keep {
                sentinel -= 1;
                out.push(sentinel);
            }
        }
        out.push(self.eos);
        out
    }

    /// Corrupts one chunk, drawing its mask from `rng`.
    pub fn corrupt(&self, ids: &[u32], rng: &mut Mt19937) -> Result<Corrupted> {
        if ids.len() < 2 {
            return Err(DataError::Config(format!(
                "span corruption needs chunks of at least 2 tokens, got {}",
                ids.len()
            )));
        }
        let (_, spans) = self.counts(ids.len());
        if spans as u32 >= self.vocabulary {
            return Err(DataError::Config(format!(
                "a chunk of {} tokens needs {spans} sentinels but the vocabulary has {} ids",
                ids.len(),
                self.vocabulary
            )));
        }
        let mask = self.noise_mask(ids.len(), rng);
        Ok(Corrupted {
            input: self.filter(ids, &mask, false),
            target: self.filter(ids, &mask, true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_the_reference_formula() {
        // Values of `compute_input_and_target_lengths(n, 0.15, 3)` in run_t5_mlm_flax.py.
        let c = SpanCorruption::t5(32_100, 1);
        assert_eq!(c.lengths_for_input(512), (568, 114));
        assert_eq!(c.lengths_for_input(128), (141, 29));
    }

    #[test]
    fn corruption_keeps_every_token_once_and_lengths_are_fixed() {
        let c = SpanCorruption::t5(32_100, 1);
        let (expanded, target_len) = c.lengths_for_input(128);
        let ids: Vec<u32> = (100..100 + expanded as u32).collect();
        for seed in 0..20 {
            let out = c.corrupt(&ids, &mut Mt19937::new(seed)).unwrap();
            assert_eq!(out.input.len(), 128, "seed {seed}");
            assert_eq!(out.target.len(), target_len, "seed {seed}");
            // Putting the spans back restores the chunk.
            let mut restored = Vec::new();
            let spans = |t: &[u32]| {
                let mut map = std::collections::BTreeMap::new();
                let mut current = None;
                for &id in t {
                    if id >= 32_000 {
                        current = Some(id);
                        map.insert(id, Vec::new());
                    } else if id != 1 {
                        map.get_mut(&current.unwrap()).unwrap().push(id);
                    }
                }
                map
            };
            let target_spans = spans(&out.target);
            for &id in &out.input[..out.input.len() - 1] {
                match target_spans.get(&id) {
                    Some(span) => restored.extend(span),
                    None => restored.push(id),
                }
            }
            assert_eq!(restored, ids, "seed {seed}");
            assert_eq!(out.target[0], 32_099, "first sentinel is <extra_id_0>");
        }
    }

    #[test]
    fn too_short_chunks_are_refused() {
        let c = SpanCorruption::t5(32_100, 1);
        assert!(c.corrupt(&[5], &mut Mt19937::new(0)).is_err());
    }
}
