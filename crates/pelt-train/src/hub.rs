//! Model ids (`t5-base`, `google/flan-t5-base`, `openai/clip-vit-base-patch32`) and data set
//! ids (`hf:nyu-mll/glue/rte`) to local directories: an existing directory is used as it is; an
//! id resolves through the Hugging Face cache layout (`HUB/models--ORG--NAME/snapshots/REV/`,
//! `HUB/datasets--ORG--NAME/snapshots/REV/CONFIG/`, `refs/main` naming the revision), and with
//! the `hub` feature what is missing from the cache is downloaded into it.

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

/// The snapshot directory of repository `repo` (`models--ORG--NAME`) in the cache `hub`, if it
/// is there: the revision `refs/main` names, else the only snapshot; `complete` says whether a
/// snapshot holds what is needed.
fn snapshot(hub: &Path, repo: &str, complete: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let repo = hub.join(repo);
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let dir = snapshots.join(rev.trim());
        if complete(&dir) {
            return Some(dir);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| complete(p))
        .collect();
    (found.len() == 1).then(|| found.remove(0))
}

/// The snapshot directory of model `id` in the cache `hub`, if it is there (one with a
/// `config.json`).
pub fn cached_snapshot(hub: &Path, id: &str) -> Option<PathBuf> {
    let repo = format!("models--{}", id.replace('/', "--"));
    snapshot(hub, &repo, |dir| dir.join("config.json").is_file())
}

/// The prefix of a data set id in a task's `dir` or in `data`.
pub const DATASET_PREFIX: &str = "hf:";

/// The directory of data set `spec` (`ORG/NAME` or `ORG/NAME/CONFIG`, without `hf:`): its
/// configuration's directory in the newest cached snapshot of `datasets--ORG--NAME`, downloaded
/// there (with the `hub` feature) when missing: those of its files, paths relative to the
/// configuration's directory, that `wanted` accepts. Offline, the error names the id, the cache
/// directory and the command that fetches it.
pub fn resolve_dataset(spec: &str, wanted: &dyn Fn(&str) -> bool) -> Result<PathBuf, TrainError> {
    resolve_dataset_in(spec, &cache_dir(), wanted)
}

/// [`resolve_dataset`] with the cache directory `hub`.
pub fn resolve_dataset_in(
    spec: &str,
    hub: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<PathBuf, TrainError> {
    let parts: Vec<&str> = spec.split('/').collect();
    let (id, config) = match parts.as_slice() {
        [org, name] => (format!("{org}/{name}"), None),
        [org, name, config] => (format!("{org}/{name}"), Some(*config)),
        _ => return Err(bad_dataset_id(spec)),
    };
    if !is_model_id(&id) || config.is_some_and(|c| !is_model_id(c) || c.contains('/')) {
        return Err(bad_dataset_id(spec));
    }
    let repo = format!("datasets--{}", id.replace('/', "--"));
    let within = |dir: &Path| config.map_or_else(|| dir.to_path_buf(), |c| dir.join(c));
    if let Some(dir) = snapshot(hub, &repo, |dir| within(dir).is_dir()) {
        return Ok(within(&dir));
    }
    download_dataset(&id, config, hub, wanted).map(|dir| within(&dir))
}

fn bad_dataset_id(spec: &str) -> TrainError {
    TrainError::Config(format!(
        "`{DATASET_PREFIX}{spec}`: a data set id is {DATASET_PREFIX}ORG/NAME or \
         {DATASET_PREFIX}ORG/NAME/CONFIG (e.g. hf:nyu-mll/glue/rte)"
    ))
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

/// The hub client that downloads into the cache `hub`, with a progress bar.
#[cfg(feature = "hub")]
fn hub_api(hub: &Path) -> Result<hf_hub::api::sync::Api, String> {
    hf_hub::api::sync::ApiBuilder::new()
        .with_cache_dir(hub.to_path_buf())
        .with_progress(true)
        .build()
        .map_err(|e| e.to_string())
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
    let api = hub_api(hub).map_err(failed)?;
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

/// The error for data set `id` (configuration `config`) missing from the cache `hub`, and why
/// it was not downloaded: it names the command that fetches it.
fn missing_dataset(id: &str, config: Option<&str>, hub: &Path, why: &str) -> TrainError {
    let include = config.map_or(String::new(), |c| format!(" --include \"{c}/*\""));
    TrainError::Config(format!(
        "data set `{id}` is not in the Hugging Face cache {} ({why}); fetch it with \
         `huggingface-cli download {id} --repo-type dataset{include}` where the hub is \
         reachable (and copy the cache here), or point the task at its directory",
        hub.display()
    ))
}

/// Downloads the files of `id` (those under `config/` when given, and of them those `wanted`
/// accepts) into the cache `hub`; returns the snapshot directory.
#[cfg(feature = "hub")]
fn download_dataset(
    id: &str,
    config: Option<&str>,
    hub: &Path,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<PathBuf, TrainError> {
    let failed =
        |what: String| missing_dataset(id, config, hub, &format!("download failed: {what}"));
    let api = hub_api(hub).map_err(failed)?;
    let repo = api.dataset(id.to_string());
    let info = repo.info().map_err(|e| failed(e.to_string()))?;
    let prefix = config.map_or(String::new(), |c| format!("{c}/"));
    let files: Vec<&str> = info
        .siblings
        .iter()
        .map(|s| s.rfilename.as_str())
        .filter(|f| f.strip_prefix(&prefix).is_some_and(wanted))
        .collect();
    if files.is_empty() {
        return Err(failed(format!(
            "the repository has no files under `{prefix}` that the task reads"
        )));
    }
    eprintln!(
        "downloading {} files of {id} into {}",
        files.len(),
        hub.display()
    );
    let mut snapshot = None;
    for file in files {
        let path = repo.get(file).map_err(|e| failed(format!("{file}: {e}")))?;
        // The snapshot is the file's ancestor above its path within the repository.
        snapshot = path
            .ancestors()
            .nth(file.split('/').count())
            .map(Path::to_path_buf);
    }
    snapshot.ok_or_else(|| failed("bad cache path".into()))
}

#[cfg(not(feature = "hub"))]
fn download_dataset(
    id: &str,
    config: Option<&str>,
    hub: &Path,
    _wanted: &dyn Fn(&str) -> bool,
) -> Result<PathBuf, TrainError> {
    Err(missing_dataset(
        id,
        config,
        hub,
        "this build has no `hub` feature to download it",
    ))
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

    #[test]
    fn data_set_ids_resolve_through_a_cache_laid_out_as_the_hub_lays_it_out() {
        let hub = tempfile::tempdir().unwrap();
        let repo = hub.path().join("datasets--nyu-mll--glue");
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../pelt-data/tests/fixtures/parquet/rte");
        for rev in ["1111", "2222"] {
            let dir = repo.join("snapshots").join(rev).join("rte");
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&fixtures).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "2222\n").unwrap();
        let dir = resolve_dataset_in("nyu-mll/glue/rte", hub.path(), &|_| true).unwrap();
        assert_eq!(dir, repo.join("snapshots/2222/rte"));
        let rte = pelt_data::task("rte").unwrap();
        let (examples, _) = pelt_data::read_split(rte, &dir, "train", &Default::default()).unwrap();
        assert_eq!(examples.len(), 5);
        assert_eq!(
            resolve_dataset_in("nyu-mll/glue", hub.path(), &|_| true).unwrap(),
            repo.join("snapshots/2222")
        );

        // What a missing data set's error says (downloads are not tried in tests: no network).
        let err = missing_dataset("nyu-mll/glue", Some("sst2"), hub.path(), "offline").to_string();
        assert!(
            err.contains("`nyu-mll/glue`")
                && err.contains(&hub.path().display().to_string())
                && err.contains(
                    "huggingface-cli download nyu-mll/glue --repo-type dataset --include \"sst2/*\""
                ),
            "{err}"
        );
        for bad in ["glue", "a/b/c/d", "../x/y", "nyu-mll/glue/../etc"] {
            let err = resolve_dataset_in(bad, hub.path(), &|_| true)
                .unwrap_err()
                .to_string();
            assert!(err.contains("a data set id is"), "{bad}: {err}");
        }
    }
}
