//! Text to token ids, memoised per space-separated word: the batcher's hot path.
//!
//! The T5 pipeline (charsmap normaliser, right strip, runs of spaces to one `▁`, Metaspace split
//! on spaces, Unigram per piece) never lets one space-separated word influence another's pieces,
//! so for ASCII text the ids of a text are the concatenation of the ids of its words. Common words
//! then cost one hash lookup instead of a trip through the normaliser and the Viterbi search.
//! Non-ASCII text takes the full pipeline (the literal `▁` and Unicode spaces behave differently
//! at word edges). `tests::word_path_equals_whole_text_path` checks the equivalence on every
//! bundled sentence and on edge cases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokenizers::Tokenizer;

use crate::error::{DataError, Result};

/// Memoised words per encoder before the memo is cleared (bounds memory on huge vocabularies).
const MAX_WORDS: usize = 1 << 20;

/// A tokenizer with a per-word memo. Cloning shares the tokenizer but starts an empty memo, so
/// each worker thread owns its own (uncontended) lock.
#[derive(Debug)]
pub(crate) struct Encoder {
    tokenizer: Arc<Tokenizer>,
    words: Mutex<HashMap<String, Box<[u32]>>>,
}

impl Clone for Encoder {
    fn clone(&self) -> Self {
        Self::new(self.tokenizer.clone())
    }
}

impl Encoder {
    pub fn new(tokenizer: Arc<Tokenizer>) -> Self {
        Self {
            tokenizer,
            words: Mutex::new(HashMap::new()),
        }
    }

    /// Ids of `text` through the full pipeline, without special tokens.
    pub fn whole(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| DataError::Tokenizer(format!("cannot encode {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids of `text` without special tokens; the same as [`Encoder::whole`], faster.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>> {
        if !text.is_ascii() {
            return self.whole(text);
        }
        let mut words = self.words.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::with_capacity(text.len() / 3);
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            if let Some(ids) = words.get(word) {
                out.extend_from_slice(ids);
                continue;
            }
            let ids = self.whole(word)?;
            out.extend_from_slice(&ids);
            if words.len() >= MAX_WORDS {
                words.clear();
            }
            words.insert(word.to_owned(), ids.into_boxed_slice());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn encoder() -> Encoder {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/t5-tokenizer/tokenizer.json");
        Encoder::new(Arc::new(Tokenizer::from_file(path).unwrap()))
    }

    #[test]
    fn word_path_equals_whole_text_path() {
        let enc = encoder();
        let mut texts: Vec<String> = [
            "translate English to German: The house is wonderful.",
            "  leading and trailing spaces   ",
            "runs  of   spaces\tand\ttabs\nand newlines\r\n",
            "a \t b",
            "punctuation: (a), [b]; {c}! \"quoted\" 'single' -- dash... 3.14 1,000",
            "control\u{1}chars\u{7f}here",
            "",
            " ",
            "don't won't it's O'Brien's e-mail@example.com http://x.y/z?q=1",
            "CAPS lower MiXeD 123abc abc123",
        ]
        .map(str::to_owned)
        .to_vec();
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/text");
        for file in ["pd-source/train.jsonl", "pd-next/train.jsonl"] {
            let body = std::fs::read_to_string(root.join(file)).unwrap();
            for line in body.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                for key in ["sentence", "sentence1", "sentence2"] {
                    if let Some(s) = v.get(key).and_then(|s| s.as_str()) {
                        texts.push(format!("{key}: {s}"));
                    }
                }
            }
        }
        let mut ascii = 0;
        for text in &texts {
            ascii += usize::from(text.is_ascii());
            assert_eq!(enc.ids(text).unwrap(), enc.whole(text).unwrap(), "{text:?}");
        }
        assert!(
            ascii > 10_000,
            "the fast path was exercised on {ascii} texts only"
        );
    }

    #[test]
    fn non_ascii_text_takes_the_full_pipeline() {
        let enc = encoder();
        for text in [
            "a \u{2581}b",
            "caf\u{e9} na\u{ef}ve",
            "a\u{3000}b",
            "x\u{a0}y",
        ] {
            assert_eq!(enc.ids(text).unwrap(), enc.whole(text).unwrap(), "{text:?}");
        }
    }
}
