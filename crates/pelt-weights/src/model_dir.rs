//! Hugging Face model directories: each file a model is read from (its configuration, its
//! tokenizer) is named either itself or by the model directory that holds it.

use std::path::{Path, PathBuf};

/// `path` when it is not a directory, else the file `name` in the model directory `path`:
/// `model_file("models/t5-small", "config.json")` is `models/t5-small/config.json`.
pub fn model_file(path: impl AsRef<Path>, name: &str) -> PathBuf {
    let path = path.as_ref();
    if path.is_dir() {
        path.join(name)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_gives_its_file_and_anything_else_itself() {
        let dir = std::env::temp_dir();
        assert_eq!(model_file(&dir, "config.json"), dir.join("config.json"));
        let file = dir.join("no-such-dir").join("tokenizer.json");
        assert_eq!(model_file(&file, "config.json"), file);
    }
}
