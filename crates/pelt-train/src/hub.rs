//! Model ids (`t5-base`, `google/flan-t5-base`, `openai/clip-vit-base-patch32`) to local
//! directories: an existing directory is used as it is; an id resolves through the Hugging Face
//! cache layout (`HUB/models--ORG--NAME/snapshots/REV/`, `refs/main` naming the revision), and
//! with the `hub` feature a model missing from the cache is downloaded into it.

use std::path::{Path, PathBuf};

use crate::error::TrainError;

/// Files besides the configuration and the weights that a run may read, downloaded when the
/// hub has them.
#[cfg(feature = "hub")]
const OPTIONAL_FILES: [&str; 3] = ["tokenizer.json", "spiece.model", "preprocessor_config.json"];

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("huggingface").join("hub")
}

/// Whether `spec` has the shape of a hub id: `NAME` or `ORG/NAME` of letters, digits, `-`, `_`
/// and `.`, not starting with `.`.
fn is_model_id(spec: &str) -> bool {
    let parts: Vec<&str> = spec.split('/').collect();
    parts.len() <= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

/// The snapshot directory of `id` in the cache `hub`, if it is there: the revision `refs/main`
/// names, else the only snapshot.
pub fn cached_snapshot(hub: &Path, id: &str) -> Option<PathBuf> {
    let repo = hub.join(format!("models--{}", id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let dir = snapshots.join(rev.trim());
        if dir.join("config.json").is_file() {
            return Some(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("config.json").is_file())
        .collect();
    (found.len() == 1).then(|| found.remove(0))
}

/// The local directory of a model given as a path or a hub id (see the module documentation).
pub fn resolve_model(spec: &Path) -> Result<PathBuf, TrainError> {
    resolve_in(spec, &cache_dir())
}

/// [`resolve_model`] with the cache directory `hub`.
pub fn resolve_in(spec: &Path, hub: &Path) -> Result<PathBuf, TrainError> {
    if spec.is_dir() {
        return Ok(spec.to_path_buf());
    }
    let text = spec.to_string_lossy();
    if !is_model_id(&text) {
        return Err(TrainError::Config(format!(
            "{}: no such model directory",
            spec.display()
        )));
    }
    if let Some(dir) = cached_snapshot(hub, &text) {
        return Ok(dir);
    }
    download(&text, hub)
}

#[cfg(feature = "hub")]
fn download(id: &str, hub: &Path) -> Result<PathBuf, TrainError> {
    let failed = |what: String| {
        TrainError::Config(format!(
            "`{id}` is neither a directory nor in the Hugging Face cache {}, and downloading \
             it failed ({what}); download it elsewhere (`huggingface-cli download {id}`) and \
             copy the cache, or pass its directory",
            hub.display()
        ))
    };
    let api = hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(hub.to_path_buf())
        .with_progress(true)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let repo = api.model(id.to_string());
    let config = repo
        .get("config.json")
        .map_err(|e| failed(format!("config.json: {e}")))?;
    eprintln!("downloading {id} into {}", hub.display());
    // A model has safetensors or a pickle (either will do); tokenizer and preprocessor files
    // are optional.
    let weights = ["model.safetensors", "pytorch_model.bin"]
        .iter()
        .any(|file| repo.get(file).is_ok());
    if !weights {
        return Err(failed(
            "it has no model.safetensors or pytorch_model.bin".into(),
        ));
    }
    for file in OPTIONAL_FILES {
        let _ = repo.get(file);
    }
    config
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| failed("bad cache path".into()))
}

#[cfg(not(feature = "hub"))]
fn download(id: &str, hub: &Path) -> Result<PathBuf, TrainError> {
    Err(TrainError::Config(format!(
        "`{id}` is neither a directory nor in the Hugging Face cache {}; this build has no \
         `hub` feature to download it: download it with `huggingface-cli download {id}` or \
         pass its directory",
        hub.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_paths() {
        for id in [
            "t5-base",
            "google/flan-t5-base",
            "openai/clip-vit-base-patch32",
        ] {
            assert!(is_model_id(id), "{id}");
        }
        for not in ["", "a/b/c", "../t5", "./t5", "/abs/t5", "t5 base", "a//b"] {
            assert!(!is_model_id(not), "{not}");
        }
    }

    #[test]
    fn resolves_through_a_cache_the_test_builds() {
        let hub = std::env::temp_dir().join(format!("pelt-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&hub);
        let repo = hub.join("models--google--flan-t5-small");
        let old = repo.join("snapshots/1111");
        let new = repo.join("snapshots/2222");
        for dir in [&old, &new] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
        }
        // Two snapshots: `refs/main` decides.
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "2222\n").unwrap();
        let got = resolve_in(Path::new("google/flan-t5-small"), &hub).unwrap();
        assert_eq!(got, new);
        // Without refs, two snapshots are ambiguous; one is taken.
        std::fs::remove_dir_all(repo.join("refs")).unwrap();
        assert_eq!(cached_snapshot(&hub, "google/flan-t5-small"), None);
        std::fs::remove_dir_all(&old).unwrap();
        assert_eq!(
            cached_snapshot(&hub, "google/flan-t5-small"),
            Some(new.clone())
        );
        // An existing directory is itself.
        assert_eq!(resolve_in(&new, &hub).unwrap(), new);
        // Not a directory and not an id: named in the error.
        let err = resolve_in(Path::new("./no/such/dir"), &hub)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("./no/such/dir: no such model directory"),
            "{err}"
        );
        std::fs::remove_dir_all(&hub).unwrap();
    }
}
