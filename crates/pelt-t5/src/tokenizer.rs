//! The T5 SentencePiece tokenizer, read from a Hugging Face `tokenizer.json`.

use std::path::{Path, PathBuf};

use crate::error::T5Error;

/// A `tokenizer.json` tokenizer that appends EOS, as T5's does.
pub struct T5Tokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for T5Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("T5Tokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl T5Tokenizer {
    /// Loads `tokenizer.json` (or the one in a model directory).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, T5Error> {
        let file = pelt_weights::model_file(path, "tokenizer.json");
        let bytes = std::fs::read(&file).map_err(|source| T5Error::Io {
            path: file.clone(),
            source,
        })?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| T5Error::Tokenizer {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self { inner, path: file })
    }

    /// Token ids of `text`, EOS appended by the tokenizer's post-processor.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, T5Error> {
        let encoding = self.inner.encode(text, true).map_err(|e| self.error(e))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Text of `ids`, special tokens (padding, EOS) skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, T5Error> {
        self.inner.decode(ids, true).map_err(|e| self.error(e))
    }

    /// Number of tokens the tokenizer knows (special and added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The underlying Hugging Face tokenizer.
    pub fn tokenizer(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    fn error(&self, e: tokenizers::Error) -> T5Error {
        T5Error::Tokenizer {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundled() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/t5-tokenizer/tokenizer.json")
    }

    #[test]
    fn encodes_the_t5_documentation_example() {
        let tokenizer = T5Tokenizer::from_file(bundled()).unwrap();
        let ids = tokenizer
            .encode("translate English to German: The house is wonderful.")
            .unwrap();
        assert_eq!(ids, [13959, 1566, 12, 2968, 10, 37, 629, 19, 1627, 5, 1]);
        assert_eq!(
            tokenizer.decode(&ids).unwrap(),
            "translate English to German: The house is wonderful."
        );
        assert_eq!(tokenizer.vocab_size(), 32100);
    }

    #[test]
    fn broken_files_name_the_file() {
        let dir = std::env::temp_dir().join(format!("pelt-t5-tok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("tokenizer.json");
        std::fs::write(&bad, "{not json").unwrap();
        let err = T5Tokenizer::from_file(&bad).unwrap_err().to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
        std::fs::write(&bad, r#"{"model": {"type": "NoSuchModel"}}"#).unwrap();
        let err = T5Tokenizer::from_file(&bad).unwrap_err().to_string();
        assert!(err.contains("tokenizer"), "{err}");
        let missing = T5Tokenizer::from_file(dir.join("absent.json")).unwrap_err();
        assert!(missing.to_string().contains("absent.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
