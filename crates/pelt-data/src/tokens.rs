//! Text to token ids: the `tokenizers` crate's batch encoding, without special tokens, and the
//! id of `</s>` that closes every sequence.

use std::sync::Arc;

use tokenizers::Tokenizer;

use crate::error::{DataError, Result};

/// A shared tokenizer and its `</s>` id.
#[derive(Debug, Clone)]
pub(crate) struct TokenEncoder {
    tokenizer: Arc<Tokenizer>,
    eos: u32,
}

impl TokenEncoder {
    /// An encoder for `tokenizer`, which must know `</s>`.
    pub fn new(tokenizer: Arc<Tokenizer>) -> Result<Self> {
        let eos = tokenizer
            .token_to_id("</s>")
            .ok_or_else(|| DataError::Tokenizer("the tokenizer has no </s> token".to_owned()))?;
        Ok(Self { tokenizer, eos })
    }

    /// The id of `</s>`.
    pub fn eos(&self) -> u32 {
        self.eos
    }

    /// Ids of each text, without special tokens (one batch call; `tokenizers` spreads it over
    /// its thread pool).
    pub fn ids_many(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), false)
            .map_err(|e| {
                DataError::Tokenizer(format!(
                    "cannot encode a batch of {} texts: {e}",
                    texts.len()
                ))
            })?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_batch_encodes_each_text_as_on_its_own() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../datasets/t5-tokenizer/tokenizer.json");
        let tokenizer = Arc::new(Tokenizer::from_file(path).unwrap());
        let encoder = TokenEncoder::new(tokenizer.clone()).unwrap();
        let texts = [
            "translate English to German: The house is wonderful.",
            "  runs  of   spaces\tand\ttabs\n",
            "",
            "caf\u{e9} \u{2581}b x\u{a0}y tags </s> and <extra_id_0>",
        ];
        let batch = encoder.ids_many(&texts).unwrap();
        for (text, ids) in texts.iter().zip(&batch) {
            let alone = tokenizer.encode_fast(*text, false).unwrap();
            assert_eq!(ids.as_slice(), alone.get_ids(), "{text:?}");
        }
        assert_eq!(batch[0][..3], [13959, 1566, 12], "`translate English to`");
        assert_eq!(encoder.eos(), 1);
    }
}
