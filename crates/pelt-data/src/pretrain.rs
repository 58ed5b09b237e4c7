//! The pretraining corpus (docs/pretrain.md): JSON Lines documents `{"text", ...}`, each
//! tokenised and closed by `</s>`, concatenated and cut into chunks of one length (the remainder
//! is dropped), as `run_t5_mlm_flax.py`'s `group_texts` does; and the span-corrupted batches
//! drawn from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokenizers::Tokenizer;

use crate::error::{DataError, Result};
use crate::reader::{MAX_LINE_BYTES, TextFile};
use crate::rng::{Mt19937, mix_seed, randperm};
use crate::span_corruption::{Corrupted, SpanCorruption};
use crate::tokens::TokenEncoder;

/// A tokenised corpus cut into chunks of `chunk_len` tokens.
#[derive(Debug, Clone)]
pub struct PretrainCorpus {
    /// The file it was read from.
    pub path: PathBuf,
    /// Documents read.
    pub documents: usize,
    /// Tokens of all documents, `</s>` included (the chunks hold all but the remainder).
    pub tokens: usize,
    chunk_len: usize,
    chunks: Vec<u32>,
}

impl PretrainCorpus {
    /// Reads `path` (JSON Lines, a string field `text` per line) and cuts it into chunks of
    /// `chunk_len >= 2` tokens. A line that is not such an object is an error naming the file
    /// and line; a corpus shorter than one chunk is an error.
    pub fn read(path: &Path, tokenizer: Arc<Tokenizer>, chunk_len: usize) -> Result<Self> {
        if chunk_len < 2 {
            return Err(DataError::Config(format!(
                "pretraining chunks need at least 2 tokens, got {chunk_len}"
            )));
        }
        let encoder = TokenEncoder::new(tokenizer)?;
        let file = TextFile::open_lines(path, MAX_LINE_BYTES)?;
        let mut texts = Vec::new();
        for line in file.lines() {
            let (origin, line) = line?;
            if line.trim().is_empty() {
                continue;
            }
            let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
                DataError::malformed(path, origin.line, format!("invalid JSON: {e}"))
            })?;
            let text = value.get("text").and_then(|t| t.as_str()).ok_or_else(|| {
                DataError::malformed(path, origin.line, "no string field `text`".to_string())
            })?;
            // The T5 normaliser reads line breaks as spaces.
            texts.push(text.replace(['\n', '\r', '\t'], " "));
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut chunks = Vec::new();
        for ids in encoder.ids_many(&refs)? {
            chunks.extend(ids);
            chunks.push(encoder.eos());
        }
        let tokens = chunks.len();
        if tokens < chunk_len {
            return Err(DataError::Config(format!(
                "{}: {tokens} tokens, fewer than one chunk of {chunk_len}",
                path.display()
            )));
        }
        chunks.truncate(tokens - tokens % chunk_len);
        Ok(Self {
            path: path.to_path_buf(),
            documents: texts.len(),
            tokens,
            chunk_len,
            chunks,
        })
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.chunks.len() / self.chunk_len
    }

    /// Whether there is no chunk (never true of a corpus that was read).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Chunk `index`.
    pub fn chunk(&self, index: usize) -> &[u32] {
        &self.chunks[index * self.chunk_len..(index + 1) * self.chunk_len]
    }

    /// Corrupts the chunks `indices` with one generator seeded `seed`, in order, as
    /// `np.random.seed(seed)` followed by `DataCollatorForT5MLM` on those chunks would.
    pub fn corrupt(
        &self,
        indices: &[usize],
        corruption: &SpanCorruption,
        seed: u32,
    ) -> Result<Vec<Corrupted>> {
        let mut rng = Mt19937::new(u64::from(seed));
        indices
            .iter()
            .map(|&i| corruption.corrupt(self.chunk(i), &mut rng))
            .collect()
    }

    /// The chunks of micro-step `step`'s batch: the order is a fresh permutation per epoch.
    pub fn training_indices(&self, step: u64, batch_size: usize, seed: u64) -> Vec<usize> {
        let n = self.len() as u64;
        let mut order: Option<(u64, Vec<usize>)> = None;
        let mut indices = Vec::with_capacity(batch_size);
        for k in 0..batch_size as u64 {
            let position = step * batch_size as u64 + k;
            let epoch = position / n;
            let perm = match order.take() {
                Some((e, perm)) if e == epoch => perm,
                _ => randperm(n as usize, mix_seed(&[seed, epoch])),
            };
            indices.push(perm[(position % n) as usize]);
            order = Some((epoch, perm));
        }
        indices
    }

    /// The training batch of micro-step `step`: its chunks ([`Self::training_indices`]) and
    /// their corruption with a seed derived from (`seed`, `step`); any step can be recomputed
    /// without replaying the ones before it (exact resume).
    pub fn training_batch(
        &self,
        step: u64,
        batch_size: usize,
        seed: u64,
        corruption: &SpanCorruption,
    ) -> Result<(Vec<usize>, Vec<Corrupted>)> {
        let indices = self.training_indices(step, batch_size, seed);
        let batch = self.corrupt(&indices, corruption, mix_seed(&[seed, step, 1]) as u32)?;
        Ok((indices, batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> Arc<Tokenizer> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/t5-tokenizer/tokenizer.json");
        Arc::new(Tokenizer::from_file(path).unwrap())
    }

    #[test]
    fn documents_are_closed_by_eos_concatenated_and_chunked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"text\": \"The house is wonderful.\"}\n\n{\"text\": \"Call me\\nIshmael.\"}\n",
        )
        .unwrap();
        let t = tokenizer();
        let corpus = PretrainCorpus::read(&path, t.clone(), 4).unwrap();
        let mut expected: Vec<u32> = t
            .encode("The house is wonderful.", false)
            .unwrap()
            .get_ids()
            .to_vec();
        expected.push(1);
        expected.extend(t.encode("Call me Ishmael.", false).unwrap().get_ids());
        expected.push(1);
        assert_eq!(corpus.documents, 2);
        assert_eq!(corpus.tokens, expected.len());
        assert_eq!(corpus.len(), expected.len() / 4);
        assert_eq!(corpus.chunk(1), &expected[4..8]);
    }

    #[test]
    fn bad_lines_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(&path, "{\"text\": \"ok\"}\n{\"txt\": 1}\n").unwrap();
        let err = PretrainCorpus::read(&path, tokenizer(), 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.jsonl") && err.contains('2') && err.contains("text"),
            "{err}"
        );
        std::fs::write(&path, "{\"text\": \"ok\"}\n").unwrap();
        let err = PretrainCorpus::read(&path, tokenizer(), 64)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fewer than one chunk"), "{err}");
    }

    #[test]
    fn training_batches_are_a_function_of_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        let text = "Call me Ishmael. Some years ago, never mind how long precisely. ".repeat(20);
        std::fs::write(&path, format!("{{\"text\": \"{text}\"}}\n")).unwrap();
        let corpus = PretrainCorpus::read(&path, tokenizer(), 16).unwrap();
        let c = SpanCorruption::t5(32_100, 1);
        let a = corpus.training_batch(5, 3, 7, &c).unwrap();
        assert_eq!(a, corpus.training_batch(5, 3, 7, &c).unwrap());
        assert_ne!(a, corpus.training_batch(6, 3, 7, &c).unwrap());
        assert_ne!(a, corpus.training_batch(5, 3, 8, &c).unwrap());
        // Every chunk is visited once per epoch, in another order the next epoch.
        let n = corpus.len();
        assert!(n >= 6, "{n}");
        let epoch = |e: u64| -> Vec<usize> {
            (0..n as u64)
                .flat_map(|s| corpus.training_indices(e * n as u64 + s, 1, 7))
                .collect()
        };
        let mut first = epoch(0);
        assert_ne!(first, epoch(1));
        first.sort_unstable();
        assert_eq!(first, (0..n).collect::<Vec<_>>());
    }
}
