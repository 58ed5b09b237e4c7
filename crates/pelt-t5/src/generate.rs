//! Batched greedy and beam-search decoding, with or without a key/value cache.
//!
//! Beam search reproduces `transformers`' (4.57) vectorised beam search: `2·beams` candidates
//! per step, finished hypotheses scored by `sum log p / length^length_penalty`, and its
//! early-stopping heuristic, so that token ids match it exactly.

use burn::prelude::*;
use burn::tensor::TensorData;

use crate::model::{DecoderCache, Encoded, T5Input, T5Model};
use crate::softmax::log_softmax_last;

/// How to decode.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// Tokens to generate at most, after the decoder start token.
    pub max_new_tokens: usize,
    /// 1 for greedy decoding, more for beam search.
    pub num_beams: usize,
    /// Exponent of the length normalisation of finished beams.
    pub length_penalty: f32,
    /// Stop a batch row once `num_beams` hypotheses are finished.
    pub early_stopping: bool,
    /// Keep decoder keys and values between steps (same tokens, less work).
    pub use_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 20,
            num_beams: 1,
            length_penalty: 1.0,
            early_stopping: false,
            use_cache: true,
        }
    }
}

impl GenerationConfig {
    /// Greedy decoding of at most `max_new_tokens`.
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            ..Self::default()
        }
    }

    /// Beam search with `num_beams` beams, at most `max_new_tokens`.
    pub fn beam(num_beams: usize, max_new_tokens: usize) -> Self {
        Self {
            max_new_tokens,
            num_beams,
            ..Self::default()
        }
    }
}

/// Log-probabilities of the next token, one row per hypothesis, from either a cached or a
/// full re-run of the decoder.
struct Stepper<'a> {
    model: &'a T5Model,
    encoded: Encoded,
    cache: Option<DecoderCache>,
}

impl Stepper<'_> {
    /// `rows[i]` is hypothesis `i`'s tokens so far (start token included), all of one
    /// length. Returns `rows.len() × vocab` log-probabilities.
    fn next_log_probs(&mut self, rows: &[Vec<u32>]) -> Vec<f32> {
        let device = self.encoded.hidden.device();
        let len = rows[0].len();
        let (ids, width): (Vec<i64>, usize) = match &self.cache {
            Some(_) => (rows.iter().map(|r| r[len - 1] as i64).collect(), 1),
            None => (rows.iter().flatten().map(|&t| t as i64).collect(), len),
        };
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), width]), &device);
        let logits = match &mut self.cache {
            Some(cache) => self.model.decode_step(&self.encoded, ids, cache),
            None => self.model.decode(&self.encoded, ids),
        };
        let [batch, _, vocab] = logits.dims();
        let last = logits
            .slice([0..batch, width - 1..width])
            .reshape([batch, vocab]);
        log_softmax_last(last)
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("float tensors convert to f32")
    }

    /// Keeps hypotheses `rows` (indices into the current ones), in that order.
    fn select(&mut self, rows: &[usize]) {
        let device = self.encoded.hidden.device();
        let index: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [rows.len()]), &device);
        self.encoded = self.encoded.select_rows(&index);
        if let Some(cache) = &mut self.cache {
            *cache = cache.select_rows(&index);
        }
    }
}

impl T5Model {
    /// Generates for every row of `input`; returns each row's tokens after the decoder start
    /// token, up to and including EOS when it was produced.
    pub fn generate(&self, input: T5Input, config: &GenerationConfig) -> Vec<Vec<u32>> {
        let encoded = self.encode(input);
        let cache = config.use_cache.then(|| self.new_cache());
        let mut stepper = Stepper {
            model: self,
            encoded,
            cache,
        };
        if config.num_beams <= 1 {
            self.greedy(&mut stepper, config)
        } else {
            self.beam_search(&mut stepper, config)
        }
    }

    fn greedy(&self, stepper: &mut Stepper, config: &GenerationConfig) -> Vec<Vec<u32>> {
        let batch = stepper.encoded.hidden.dims()[0];
        let start = self.config.decoder_start_token_id as u32;
        let (eos, pad) = (
            self.config.eos_token_id as u32,
            self.config.pad_token_id as u32,
        );
        let mut rows = vec![vec![start]; batch];
        let mut done = vec![false; batch];
        for _ in 0..config.max_new_tokens {
            let log_probs = stepper.next_log_probs(&rows);
            let vocab = log_probs.len() / batch;
            for (i, row) in rows.iter_mut().enumerate() {
                let token = if done[i] {
                    pad
                } else {
                    argmax(&log_probs[i * vocab..(i + 1) * vocab]) as u32
                };
                done[i] |= token == eos;
                row.push(token);
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        rows.into_iter().map(|row| trim(&row, eos)).collect()
    }

    fn beam_search(&self, stepper: &mut Stepper, config: &GenerationConfig) -> Vec<Vec<u32>> {
        let beams = config.num_beams;
        let batch = stepper.encoded.hidden.dims()[0];
        let start = self.config.decoder_start_token_id as u32;
        let eos = self.config.eos_token_id as u32;
        let max_length = 1 + config.max_new_tokens;
        stepper.select(&(0..batch * beams).map(|r| r / beams).collect::<Vec<_>>());
        let mut searches: Vec<BeamState> = (0..batch).map(|_| BeamState::new(beams)).collect();
        let mut rows = vec![vec![start]; batch * beams];
        let mut cur_len = 1;
        while cur_len < max_length {
            let log_probs = stepper.next_log_probs(&rows);
            let vocab = log_probs.len() / (batch * beams);
            let mut parents = Vec::with_capacity(batch * beams);
            let mut next_rows = Vec::with_capacity(batch * beams);
            let mut all_hit = true;
            for (b, search) in searches.iter_mut().enumerate() {
                let scores = &log_probs[b * beams * vocab..(b + 1) * beams * vocab];
                let hyps = &rows[b * beams..(b + 1) * beams];
                let step = search.step(scores, vocab, hyps, cur_len, max_length, eos, config);
                all_hit &= step.all_hit;
                parents.extend(step.parents.iter().map(|p| b * beams + p));
                next_rows.extend(step.rows);
            }
            stepper.select(&parents);
            rows = next_rows;
            cur_len += 1;
            for search in &mut searches {
                search.check_early_stop(cur_len, config.length_penalty);
            }
            if all_hit || !searches.iter().any(|s| s.improvable) {
                break;
            }
            if config.early_stopping && searches.iter().all(|s| s.finished.iter().all(|f| f.2)) {
                break;
            }
        }
        searches
            .into_iter()
            .map(|s| trim(&s.finished[0].0, eos))
            .collect()
    }
}

/// Score given to impossible candidates, as in `transformers`.
const NEG: f32 = -1.0e9;

/// One batch row's beams: running hypotheses and the best finished ones.
struct BeamState {
    running_scores: Vec<f32>,
    /// (tokens, normalised score, really finished), best first.
    finished: Vec<(Vec<u32>, f32, bool)>,
    improvable: bool,
}

struct BeamStep {
    parents: Vec<usize>,
    rows: Vec<Vec<u32>>,
    all_hit: bool,
}

impl BeamState {
    fn new(beams: usize) -> Self {
        let mut running_scores = vec![NEG; beams];
        running_scores[0] = 0.0;
        Self {
            running_scores,
            finished: vec![(Vec::new(), NEG, false); beams],
            improvable: true,
        }
    }

    /// One step: `scores` are `beams × vocab` log-probabilities of the next token.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        scores: &[f32],
        vocab: usize,
        hyps: &[Vec<u32>],
        cur_len: usize,
        max_length: usize,
        eos: u32,
        config: &GenerationConfig,
    ) -> BeamStep {
        let beams = self.running_scores.len();
        let keep = 2 * beams;
        let accumulated: Vec<f32> = scores
            .iter()
            .enumerate()
            .map(|(i, &s)| s + self.running_scores[i / vocab])
            .collect();
        let candidates = top_k(&accumulated, keep);
        let hits: Vec<bool> = candidates
            .iter()
            .map(|&i| (i % vocab) as u32 == eos || cur_len + 1 >= max_length)
            .collect();
        let extend = |i: usize| {
            let mut row = hyps[i / vocab].clone();
            row.push((i % vocab) as u32);
            row
        };

        let penalised: Vec<f32> = candidates
            .iter()
            .zip(&hits)
            .map(|(&i, &hit)| accumulated[i] + if hit { NEG } else { 0.0 })
            .collect();
        let next = top_k(&penalised, beams);
        let parents: Vec<usize> = next.iter().map(|&k| candidates[k] / vocab).collect();
        let rows: Vec<Vec<u32>> = next.iter().map(|&k| extend(candidates[k])).collect();
        self.running_scores = next.iter().map(|&k| penalised[k]).collect();

        let full = config.early_stopping && self.finished.iter().all(|f| f.2);
        let norm = ((cur_len + 1 - 1) as f32).powf(config.length_penalty);
        let mut merged = self.finished.clone();
        for (k, &i) in candidates.iter().enumerate() {
            let just_finished = hits[k] && k < beams;
            let mut score = accumulated[i] / norm;
            if full {
                score += NEG;
            }
            if !self.improvable {
                score += NEG;
            }
            if !just_finished {
                score += NEG;
            }
            merged.push((extend(i), score, just_finished));
        }
        let order = top_k(&merged.iter().map(|m| m.1).collect::<Vec<_>>(), beams);
        self.finished = order.iter().map(|&i| merged[i].clone()).collect();
        BeamStep {
            parents,
            rows,
            all_hit: hits.iter().all(|&h| h),
        }
    }

    /// `transformers`' heuristic: stop when the best running beam cannot beat the worst
    /// finished one (lengths measured without the start token).
    fn check_early_stop(&mut self, cur_len: usize, length_penalty: f32) {
        let best_possible = self.running_scores[0] / ((cur_len - 1) as f32).powf(length_penalty);
        let worst = self
            .finished
            .iter()
            .map(|f| f.1)
            .fold(f32::INFINITY, f32::min);
        let any_better = self
            .finished
            .iter()
            .any(|f| best_possible > if f.2 { worst } else { NEG });
        self.improvable &= any_better;
    }
}

/// Indices of the `k` largest values, largest first; ties go to the lower index.
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut index: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    index.select_nth_unstable_by(k.saturating_sub(1), |&a, &b| {
        values[b].total_cmp(&values[a]).then(a.cmp(&b))
    });
    index.truncate(k);
    index.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    index
}

fn argmax(values: &[f32]) -> usize {
    top_k(values, 1).first().copied().unwrap_or(0)
}

/// Drops the start token and everything after the first EOS.
fn trim(row: &[u32], eos: u32) -> Vec<u32> {
    let body = row.get(1..).unwrap_or(&[]);
    match body.iter().position(|&t| t == eos) {
        Some(end) => body[..=end].to_vec(),
        None => body.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.5, 0.5, -1.0, 0.3], 3), vec![1, 2, 4]);
        assert_eq!(top_k(&[1.0], 3), vec![0]);
    }

    #[test]
    fn trim_keeps_eos_and_drops_start_and_padding() {
        assert_eq!(trim(&[0, 5, 6, 1, 0, 0], 1), vec![5, 6, 1]);
        assert_eq!(trim(&[0, 5, 6], 1), vec![5, 6]);
    }
}
