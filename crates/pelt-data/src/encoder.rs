//! Text to token ids, memoised per space-separated word: the batcher's hot path.
//!
//! The T5 pipeline (charsmap normaliser, right strip, runs of spaces to one `▁`, Metaspace split
//! on spaces, Unigram per piece) never lets one space-separated word influence another's pieces,
//! so the ids of a text are the concatenation of the ids of its words. Common words then cost one
//! hash lookup instead of a trip through the normaliser and the Viterbi search. Characters that
//! normalise to spaces (no-break space, ideographic space, ...) stay inside a word and are split
//! there by the same pipeline; right-stripping and the `{2,}` space rule give the same pieces at
//! word edges. The one exception is a literal `▁` (U+2581), which the Metaspace step treats as a
//! separator of its own: text containing it takes the full pipeline. The tests check the
//! equivalence on every bundled sentence and on edge cases.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use tokenizers::{Model, Tokenizer};

use crate::error::{DataError, Result};
use crate::unigram::FastUnigram;

/// The Metaspace replacement character, a separator of its own.
const METASPACE: char = '\u{2581}';

/// Memoised words per encoder before the memo is cleared (bounds memory on huge vocabularies).
const MAX_WORDS: usize = 1 << 20;

/// Unknown words are encoded together, joined by this special token: the tokenizer splits its
/// input at special tokens before normalising, so each word is encoded exactly as on its own, and
/// the separator's id marks the boundaries. Words containing `<` (which could spell a special
/// token themselves) are encoded one by one.
const SEPARATOR: &str = "</s>";

/// How many unknown words are encoded in one call.
const WORDS_PER_CALL: usize = 512;

type Memo = HashMap<String, Box<[u32]>, BuildHasherDefault<WordHasher>>;

/// A fast multiplicative hash for short word keys. The memo is private to one batcher and keyed
/// by the user's own data, so the flooding resistance of the default SipHash buys nothing, and
/// hashing is a visible share of the memoised path.
#[derive(Debug, Default, Clone, Copy)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word)).wrapping_mul(K);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 =
            (self.0.rotate_left(5) ^ u64::from_le_bytes(tail) ^ bytes.len() as u64).wrapping_mul(K);
    }

    fn finish(&self) -> u64 {
        // Fold the well-mixed high bits into the low bits the table uses.
        self.0 ^ (self.0 >> 29)
    }
}

/// A tokenizer with a per-word memo. Cloning shares the tokenizer but starts an empty memo, so
/// each worker thread owns its own (uncontended) lock.
#[derive(Debug)]
pub(crate) struct Encoder {
    tokenizer: Arc<Tokenizer>,
    /// The tokenizer's Unigram model on a faster trie, where it has one.
    unigram: Option<Arc<FastUnigram>>,
    separator: u32,
    words: Mutex<Memo>,
}

impl Clone for Encoder {
    fn clone(&self) -> Self {
        Self {
            tokenizer: self.tokenizer.clone(),
            unigram: self.unigram.clone(),
            separator: self.separator,
            words: Mutex::new(Memo::default()),
        }
    }
}

fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(' ').filter(|w| !w.is_empty())
}

impl Encoder {
    /// An encoder for `tokenizer`, which must know `</s>`.
    pub fn new(tokenizer: Arc<Tokenizer>) -> Result<Self> {
        let separator = tokenizer
            .token_to_id(SEPARATOR)
            .ok_or_else(|| DataError::Tokenizer("the tokenizer has no </s> token".to_owned()))?;
        Ok(Self {
            unigram: FastUnigram::of(&tokenizer).map(Arc::new),
            tokenizer,
            separator,
            words: Mutex::new(Memo::default()),
        })
    }

    /// The id of `</s>`.
    pub fn eos(&self) -> u32 {
        self.separator
    }

    /// Ids of `text` through the full pipeline, without special tokens.
    pub fn whole(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(|e| DataError::Tokenizer(format!("cannot encode {text:?}: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Ids of a word of printable ASCII (`!`..=`~`) straight from the Unigram model.
    ///
    /// The T5 normaliser leaves printable ASCII unchanged and such a word has no space, so the
    /// pipeline reduces to the Metaspace prefix and the model; this skips the grapheme-wise
    /// normaliser, the slowest step. Words with `<` are excluded: they might spell a special token.
    fn model_ids(&self, word: &str) -> Result<Vec<u32>> {
        let piece = format!("{METASPACE}{word}");
        if let Some(unigram) = &self.unigram {
            return Ok(unigram.ids(&piece));
        }
        let tokens = self
            .tokenizer
            .get_model()
            .tokenize(&piece)
            .map_err(|e| DataError::Tokenizer(format!("cannot encode {word:?}: {e}")))?;
        Ok(tokens.iter().map(|t| t.id).collect())
    }

    /// Memoises `unknown` (distinct words not in the memo).
    fn learn(&self, memo: &mut Memo, unknown: &[&str]) -> Result<()> {
        let mut joinable = Vec::new();
        for &word in unknown {
            if word
                .bytes()
                .all(|b| (b'!'..=b'~').contains(&b) && b != b'<')
            {
                memo.insert(word.to_owned(), self.model_ids(word)?.into_boxed_slice());
            } else if word.contains('<') {
                memo.insert(word.to_owned(), self.whole(word)?.into_boxed_slice());
            } else {
                joinable.push(word);
            }
        }
        for chunk in joinable.chunks(WORDS_PER_CALL) {
            let ids = self.whole(&chunk.join(SEPARATOR))?;
            let groups: Vec<&[u32]> = ids.split(|&id| id == self.separator).collect();
            if groups.len() == chunk.len() {
                for (word, group) in chunk.iter().zip(groups) {
                    memo.insert((*word).to_owned(), group.into());
                }
            } else {
                for word in chunk {
                    memo.insert((*word).to_owned(), self.whole(word)?.into_boxed_slice());
                }
            }
        }
        Ok(())
    }

    /// Ids of each text without special tokens; the same as [`Encoder::whole`], faster.
    pub fn ids_many(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let mut memo = self.words.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.len() >= MAX_WORDS {
            memo.clear();
        }
        let mut unknown: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str, BuildHasherDefault<WordHasher>> = HashSet::default();
        for text in texts.iter().filter(|t| !t.contains(METASPACE)) {
            for word in words(text) {
                if !memo.contains_key(word) && seen.insert(word) {
                    unknown.push(word);
                }
            }
        }
        self.learn(&mut memo, &unknown)?;
        texts
            .iter()
            .map(|text| {
                if text.contains(METASPACE) {
                    return self.whole(text);
                }
                let mut out = Vec::with_capacity(text.len() / 3);
                for word in words(text) {
                    match memo.get(word) {
                        Some(ids) => out.extend_from_slice(ids),
                        None => out.extend(self.whole(word)?),
                    }
                }
                Ok(out)
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// Every sentence field of the bundled text training sets, as `"{field}: {text}"`.
    pub(crate) fn bundled_sentences() -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/text");
        let mut texts = Vec::new();
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
        texts
    }

    fn encoder() -> Encoder {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/t5-tokenizer/tokenizer.json");
        Encoder::new(Arc::new(Tokenizer::from_file(path).unwrap())).unwrap()
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
        texts.extend(bundled_sentences());
        let non_ascii = texts.iter().filter(|t| !t.is_ascii()).count();
        assert!(
            texts.len() > 10_000 && non_ascii > 100,
            "{} texts, {non_ascii} non-ASCII",
            texts.len()
        );
        // Batches of 32 through a memo that starts empty and fills up, as in training.
        for chunk in texts.chunks(32) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            for (text, ids) in chunk.iter().zip(enc.ids_many(&refs).unwrap()) {
                assert_eq!(ids, enc.whole(text).unwrap(), "{text:?}");
            }
        }
    }

    #[test]
    fn model_path_equals_pipeline_for_printable_ascii() {
        let enc = encoder();
        let mut words: Vec<String> = (b'!'..=b'~')
            .filter(|&b| b != b'<')
            .map(|b| char::from(b).to_string())
            .collect();
        words.extend(
            [
                "The",
                "house,",
                "wonderful.",
                "3.8",
                "e-mail@x.com",
                "(a)",
                "O'Brien's",
            ]
            .map(str::to_owned),
        );
        for word in &words {
            assert_eq!(
                enc.model_ids(word).unwrap(),
                enc.whole(word).unwrap(),
                "{word:?}"
            );
        }
    }

    #[test]
    fn separator_splits_words_exactly() {
        let enc = encoder();
        let words = ["The", "house,", "\u{a0}is", "", "wonderful.", "3.8"];
        let joined = enc.whole(&words.join(SEPARATOR)).unwrap();
        let groups: Vec<&[u32]> = joined.split(|&id| id == enc.eos()).collect();
        let expected: Vec<Vec<u32>> = words.iter().map(|w| enc.whole(w).unwrap()).collect();
        assert_eq!(
            groups,
            expected.iter().map(Vec::as_slice).collect::<Vec<_>>()
        );
    }

    #[test]
    fn unicode_and_special_token_edge_cases_match_the_full_pipeline() {
        let enc = encoder();
        let texts = [
            "a \u{2581}b",
            "a\u{2581} b \u{2581}",
            "caf\u{e9} na\u{ef}ve re\u{301}sume\u{301}",
            "a\u{3000}b \u{3000}c\u{3000} d",
            "x\u{a0}y \u{a0}z\u{a0} \u{a0}\u{a0}w",
            "a \u{a8}b a\u{a8} b \u{a8}",
            "\u{ff21}\u{ff22}\u{ff23} \u{2460} \u{fb01}ne \u{bd}",
            "emoji \u{1f600} and \u{201c}curly\u{201d} quotes \u{2014} dashes \u{2019}s",
            "zero\u{200b}width \u{feff}bom",
            "\u{2028}line\u{2029}para\u{85}next",
            "tags </s> and <pad>x and a<b and <extra_id_0> and <unk>",
            "x</s>y",
        ];
        let expected: Vec<Vec<u32>> = texts.iter().map(|t| enc.whole(t).unwrap()).collect();
        assert_eq!(enc.ids_many(&texts).unwrap(), expected);
        for (text, ids) in texts.iter().zip(&expected) {
            assert_eq!(&encoder().ids_many(&[text]).unwrap()[0], ids, "{text:?}");
        }
    }
}
