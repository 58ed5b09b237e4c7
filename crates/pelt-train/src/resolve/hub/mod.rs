//! Model ids (`t5-base`, `google/flan-t5-base`, `openai/clip-vit-base-patch32`) and data set
//! ids (`hf:nyu-mll/glue/rte`) to local directories: an existing directory is used as it is; an
//! id resolves through the Hugging Face cache layout (`HUB/models--ORG--NAME/snapshots/REV/`,
//! `HUB/datasets--ORG--NAME/snapshots/REV/CONFIG/`, `refs/main` naming the revision), and with
//! the `hub` feature what is missing from the cache is downloaded into it. A snapshot is
//! trusted only when it is complete (docs/train.md, "Hub downloads"); downloads are verified
//! against what the hub announced (docs/design.md, "Hub downloads are verified").

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pelt_data::TaskSpec;

use crate::error::TrainError;
use crate::resolve::hub_id::{DatasetId, is_repo_id};

#[cfg(feature = "hub")]
mod download;

/// The hub's address when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The weights files a model snapshot may hold, in order of preference: either will do.
const WEIGHTS: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// Where ids resolve: a cache directory, and the hub that fills it.
#[derive(Debug, Clone)]
pub struct Hub {
    /// The cache directory (see [`cache_dir`]).
    pub cache: PathBuf,
    /// The hub's address, without a trailing `/`: `HF_ENDPOINT`, else [`DEFAULT_ENDPOINT`].
    pub endpoint: String,
    /// The access token for gated and private repositories: `HF_TOKEN`, else the file that
    /// `huggingface-cli login` writes (`HF_TOKEN_PATH`, else `HF_HOME/token`, else
    /// `~/.cache/huggingface/token`).
    pub token: Option<String>,
}

impl Hub {
    /// The cache, endpoint and token the environment names (see the fields).
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let token = std::env::var("HF_TOKEN")
            .ok()
            .or_else(|| std::fs::read_to_string(token_file()).ok())
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty());
        Self::new(cache_dir(), &endpoint, token)
    }

    /// The cache `cache` filled from the hub at `endpoint`, with `token` for gated repositories.
    pub fn new(cache: PathBuf, endpoint: &str, token: Option<String>) -> Self {
        Self {
            cache,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
        }
    }

    /// The local directory of a model given as a path or a hub id (see the module
    /// documentation): a complete cached snapshot, else one downloaded (with the `hub` feature).
    pub fn model(&self, spec: &Path) -> Result<PathBuf, TrainError> {
        if spec.is_dir() {
            return Ok(spec.to_path_buf());
        }
        let id = spec.to_string_lossy();
        if !is_repo_id(&id) {
            return Err(TrainError::Config(format!(
                "{}: no such model directory",
                spec.display()
            )));
        }
        match snapshot(&self.cache, &repo_dir("models", &id), &model_gap) {
            Ok(dir) => Ok(dir),
            Err(gap) => self.download_model(&id, gap),
        }
    }

    /// The directory of data set `id` for `task`: its configuration's directory in a
    /// complete cached snapshot of `datasets--ORG--NAME`, else downloaded there (with the `hub`
    /// feature): those of its files, paths relative to the configuration's directory, that the
    /// task reads.
    pub fn dataset(&self, id: &DatasetId, task: &TaskSpec) -> Result<PathBuf, TrainError> {
        let config = id.config.as_deref();
        let within = |dir: &Path| config.map_or_else(|| dir.to_path_buf(), |c| dir.join(c));
        let gap = |dir: &Path| dataset_gap(&within(dir), task);
        match snapshot(&self.cache, &repo_dir("datasets", &id.repo), &gap) {
            Ok(dir) => Ok(within(&dir)),
            Err(gap) => self
                .download_dataset(&id.repo, config, task, gap)
                .map(|dir| within(&dir)),
        }
    }

    #[cfg(not(feature = "hub"))]
    fn download_model(&self, id: &str, gap: Option<Gap>) -> Result<PathBuf, TrainError> {
        Err(TrainError::Hub {
            id: id.to_string(),
            file: None,
            reason: format!(
                "{}; this build has no `hub` feature to download it: download it with \
                 `huggingface-cli download {id}` or pass its directory",
                not_cached(&self.cache, gap.as_ref())
            ),
        })
    }

    #[cfg(not(feature = "hub"))]
    fn download_dataset(
        &self,
        id: &str,
        config: Option<&str>,
        _task: &TaskSpec,
        gap: Option<Gap>,
    ) -> Result<PathBuf, TrainError> {
        Err(missing_dataset(
            id,
            config,
            &self.cache,
            gap.as_ref(),
            None,
            "this build has no `hub` feature to download it",
        ))
    }
}

/// The hub cache directory: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HF_HUB_CACHE") {
        return PathBuf::from(dir);
    }
    hf_home().join("hub")
}

/// `HF_HOME`, else `~/.cache/huggingface`.
fn hf_home() -> PathBuf {
    if let Some(home) = std::env::var_os("HF_HOME") {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("huggingface")
}

/// The token file of `huggingface-cli login`: `HF_TOKEN_PATH`, else `HF_HOME/token`.
fn token_file() -> PathBuf {
    std::env::var_os("HF_TOKEN_PATH").map_or_else(|| hf_home().join("token"), PathBuf::from)
}

/// The cache directory name of repository `id` of `kind` (`models`, `datasets`).
fn repo_dir(kind: &str, id: &str) -> String {
    format!("{kind}--{}", id.replace('/', "--"))
}

/// What a cached snapshot lacks: the snapshot directory and the missing files.
#[derive(Debug, Clone, PartialEq)]
pub struct Gap {
    /// The snapshot directory.
    pub snapshot: PathBuf,
    /// What is missing from it, in words (file names).
    pub missing: String,
}

/// The snapshot directory of repository `repo` (`models--ORG--NAME`) in the cache `hub`, if a
/// complete one is there: the revision `refs/main` names, else the only complete snapshot.
/// `gap` says what a snapshot lacks (`None`: complete). Else what the snapshot that
/// `refs/main` names (or the only one) lacks, if there is one.
fn snapshot(
    hub: &Path,
    repo: &str,
    gap: &dyn Fn(&Path) -> Option<String>,
) -> Result<PathBuf, Option<Gap>> {
    let repo = hub.join(repo);
    let snapshots = repo.join("snapshots");
    let named = std::fs::read_to_string(repo.join("refs").join("main"))
        .ok()
        .map(|rev| snapshots.join(rev.trim()))
        .filter(|dir| dir.is_dir());
    if let Some(dir) = named.as_ref().filter(|dir| gap(dir).is_none()) {
        return Ok(dir.clone());
    }
    let all: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    let mut complete: Vec<&PathBuf> = all.iter().filter(|p| gap(p).is_none()).collect();
    if complete.len() == 1 {
        return Ok(complete.remove(0).clone());
    }
    let described = named.or_else(|| (all.len() == 1).then(|| all[0].clone()));
    Err(described.and_then(|dir| {
        gap(&dir).map(|missing| Gap {
            snapshot: dir,
            missing,
        })
    }))
}

/// What a model snapshot lacks to be loaded: `config.json` and one of [`WEIGHTS`], each a file
/// (a link into `blobs/` whose blob is gone does not count). `None`: complete.
fn model_gap(dir: &Path) -> Option<String> {
    if !dir.join("config.json").is_file() {
        return Some("config.json".into());
    }
    if !WEIGHTS.iter().any(|w| dir.join(w).is_file()) {
        return Some(WEIGHTS.join(" or "));
    }
    None
}

/// The snapshot directory of model `id` in the cache `hub`, if a complete one is there (a
/// `config.json` and weights).
pub fn cached_snapshot(hub: &Path, id: &str) -> Option<PathBuf> {
    snapshot(hub, &repo_dir("models", id), &model_gap).ok()
}

/// The files under `dir`, as paths relative to it with `/` between the parts; links whose
/// target is gone are listed as such (second set).
fn files_under(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut files, mut dangling) = (BTreeSet::new(), BTreeSet::new());
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((path, prefix)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let relative = format!("{prefix}{name}");
            let path = entry.path();
            if path.is_dir() {
                stack.push((path, format!("{relative}/")));
            } else if path.is_file() {
                files.insert(relative);
            } else {
                dangling.insert(relative);
            }
        }
    }
    (files, dangling)
}

/// `(set, k, n)` of a shard name `SET-KKKKK-of-NNNNN[-HASH].parquet`, `SET` with its directory.
fn shard(relative: &str) -> Option<(String, usize, usize)> {
    let stem = relative.strip_suffix(".parquet")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let of = parts.iter().rposition(|p| *p == "of")?;
    let number = |i: usize| {
        parts
            .get(i)
            .filter(|p| p.len() == 5)
            .and_then(|p| p.parse::<usize>().ok())
    };
    let (k, n) = (number(of.checked_sub(1)?)?, number(of + 1)?);
    Some((parts[..of - 1].join("-"), k, n))
}

/// What the configuration directory `dir` of a cached data set lacks for `task`: a file of
/// each split the task reads, every shard of each shard set (`train-00001-of-00002.parquet`),
/// and the blob of every link. `None`: complete.
fn dataset_gap(dir: &Path, task: &TaskSpec) -> Option<String> {
    if !dir.is_dir() {
        return Some(format!("the directory {}", dir.display()));
    }
    let (files, dangling) = files_under(dir);
    let reads = |f: &String| task.reads(f);
    if let Some(file) = dangling.iter().find(|f| reads(f)) {
        return Some(format!("{file} (its blob is gone)"));
    }
    let read: Vec<&String> = files.iter().filter(|f| reads(f)).collect();
    for split in task.split.official_splits() {
        let of_split = |f: &&String| {
            task.layouts
                .iter()
                .any(|layout| layout.reads(split, Path::new(f.as_str())))
        };
        if !read.iter().any(of_split) {
            return Some(format!("any file of split `{split}`"));
        }
    }
    let mut sets: BTreeMap<(String, usize), BTreeSet<usize>> = BTreeMap::new();
    for (set, k, n) in read.iter().filter_map(|f| shard(f)) {
        sets.entry((set, n)).or_default().insert(k);
    }
    for ((set, n), have) in sets {
        if let Some(k) = (0..n).find(|k| !have.contains(k)) {
            return Some(format!("{set}-{k:05}-of-{n:05}.parquet"));
        }
    }
    None
}

/// [`Hub::dataset`] with the hub of the environment ([`Hub::from_env`]). Offline, the error
/// names the id, the cache directory, what is missing and the command that fetches it.
pub fn resolve_dataset(id: &DatasetId, task: &TaskSpec) -> Result<PathBuf, TrainError> {
    Hub::from_env().dataset(id, task)
}

/// [`Hub::model`] with the hub of the environment ([`Hub::from_env`]).
pub fn resolve_model(spec: &Path) -> Result<PathBuf, TrainError> {
    Hub::from_env().model(spec)
}

/// "not in the cache" in words, with what its snapshot lacks when it has one.
fn not_cached(cache: &Path, gap: Option<&Gap>) -> String {
    match gap {
        Some(gap) => format!(
            "its snapshot {} in the Hugging Face cache lacks {}",
            gap.snapshot.display(),
            gap.missing
        ),
        None => format!("it is not in the Hugging Face cache {}", cache.display()),
    }
}

/// The error for data set `id` (configuration `config`) missing from the cache `hub` (or
/// incomplete there, `gap`), and why it was not downloaded: it names the command that fetches
/// it.
fn missing_dataset(
    id: &str,
    config: Option<&str>,
    hub: &Path,
    gap: Option<&Gap>,
    file: Option<&str>,
    why: &str,
) -> TrainError {
    let include = config.map_or(String::new(), |c| format!(" --include \"{c}/*\""));
    TrainError::Hub {
        id: id.to_string(),
        file: file.map(str::to_string),
        reason: format!(
            "{} ({why}); fetch it with `huggingface-cli download {id} --repo-type \
             dataset{include}` where the hub is reachable (and copy the cache here), or point \
             the task at its directory",
            not_cached(hub, gap)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rte_id() -> DatasetId {
        "nyu-mll/glue/rte".parse().unwrap()
    }

    /// A hub whose endpoint refuses connections (nothing listens on port 9 of the loopback).
    fn offline(cache: &Path) -> Hub {
        Hub::new(cache.to_path_buf(), "http://127.0.0.1:9", None)
    }

    #[test]
    fn shard_names() {
        assert_eq!(
            shard("rte/train-00001-of-00002.parquet"),
            Some(("rte/train".into(), 1, 2))
        );
        assert_eq!(
            shard("balanced_dev-00000-of-00001-54ed883ce96f619e.parquet"),
            Some(("balanced_dev".into(), 0, 1))
        );
        assert_eq!(shard("rte/train.parquet"), None);
        assert_eq!(shard("train-1-of-2.parquet"), None);
    }

    #[test]
    fn resolves_through_a_cache_the_test_builds() {
        let cache = tempfile::tempdir().unwrap();
        let hub = offline(cache.path());
        let repo = cache.path().join("models--google--flan-t5-small");
        let old = repo.join("snapshots/1111");
        let new = repo.join("snapshots/2222");
        for dir in [&old, &new] {
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(dir.join("config.json"), "{}").unwrap();
            std::fs::write(dir.join("model.safetensors"), "").unwrap();
        }
        // Two snapshots: `refs/main` decides.
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "2222\n").unwrap();
        let got = hub.model(Path::new("google/flan-t5-small")).unwrap();
        assert_eq!(got, new);
        // Without refs, two snapshots are ambiguous; one is taken.
        std::fs::remove_dir_all(repo.join("refs")).unwrap();
        assert_eq!(cached_snapshot(cache.path(), "google/flan-t5-small"), None);
        std::fs::remove_dir_all(&old).unwrap();
        assert_eq!(
            cached_snapshot(cache.path(), "google/flan-t5-small"),
            Some(new.clone())
        );
        // An existing directory is itself.
        assert_eq!(hub.model(&new).unwrap(), new);
        // Not a directory and not an id: named in the error.
        let err = hub
            .model(Path::new("./no/such/dir"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("./no/such/dir: no such model directory"),
            "{err}"
        );
    }

    #[test]
    fn half_a_model_snapshot_is_not_trusted() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--google--flan-t5-small");
        let dir = repo.join("snapshots/3333");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "3333").unwrap();
        std::fs::write(dir.join("config.json"), "{}").unwrap();
        assert_eq!(cached_snapshot(cache.path(), "google/flan-t5-small"), None);
        // Weights that are a link to a blob that is gone do not count either.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("../../blobs/gone", dir.join("model.safetensors")).unwrap();
            assert_eq!(cached_snapshot(cache.path(), "google/flan-t5-small"), None);
            std::fs::remove_file(dir.join("model.safetensors")).unwrap();
        }
        // Offline, the error names the snapshot and what it lacks.
        let err = offline(cache.path())
            .model(Path::new("google/flan-t5-small"))
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(&err, TrainError::Hub { id, .. } if id == "google/flan-t5-small"));
        assert!(
            text.contains(&dir.display().to_string())
                && text.contains("lacks model.safetensors or pytorch_model.bin"),
            "{text}"
        );
        std::fs::write(dir.join("pytorch_model.bin"), "").unwrap();
        assert_eq!(
            cached_snapshot(cache.path(), "google/flan-t5-small"),
            Some(dir)
        );
    }

    /// Copies pelt-data's RTE fixture (two train shards, one validation shard) to `dir`.
    fn rte_fixture(dir: &Path) {
        let fixtures =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../pelt-data/tests/fixtures/parquet/rte");
        std::fs::create_dir_all(dir).unwrap();
        for entry in std::fs::read_dir(&fixtures).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }

    #[test]
    fn data_set_ids_resolve_through_a_cache_laid_out_as_the_hub_lays_it_out() {
        let cache = tempfile::tempdir().unwrap();
        let hub = offline(cache.path());
        let rte = pelt_data::task("rte").unwrap();
        let repo = cache.path().join("datasets--nyu-mll--glue");
        for rev in ["1111", "2222"] {
            rte_fixture(&repo.join("snapshots").join(rev).join("rte"));
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "2222\n").unwrap();
        let dir = hub.dataset(&rte_id(), rte).unwrap();
        assert_eq!(dir, repo.join("snapshots/2222/rte"));
        let (examples, _) = pelt_data::read_split(rte, &dir, "train", &Default::default()).unwrap();
        assert_eq!(examples.len(), 5);

        // What a missing data set's error says.
        let err = missing_dataset(
            "nyu-mll/glue",
            Some("sst2"),
            cache.path(),
            None,
            None,
            "offline",
        )
        .to_string();
        assert!(
            err.contains("`nyu-mll/glue`")
                && err.contains(&cache.path().display().to_string())
                && err.contains(
                    "huggingface-cli download nyu-mll/glue --repo-type dataset --include \"sst2/*\""
                ),
            "{err}"
        );
    }

    #[test]
    fn half_a_data_set_snapshot_is_not_trusted() {
        let cache = tempfile::tempdir().unwrap();
        let hub = offline(cache.path());
        let rte = pelt_data::task("rte").unwrap();
        let dir = cache
            .path()
            .join("datasets--nyu-mll--glue/snapshots/4444/rte");
        rte_fixture(&dir);
        assert_eq!(dataset_gap(&dir, rte), None);
        // One train shard of two: the error names the other.
        std::fs::remove_file(dir.join("train-00001-of-00002.parquet")).unwrap();
        let err = hub.dataset(&rte_id(), rte).unwrap_err().to_string();
        assert!(
            err.contains("lacks train-00001-of-00002.parquet")
                && err.contains(&dir.parent().unwrap().display().to_string()),
            "{err}"
        );
        // No validation split at all.
        rte_fixture(&dir);
        std::fs::remove_file(dir.join("validation-00000-of-00001.parquet")).unwrap();
        assert_eq!(
            dataset_gap(&dir, rte),
            Some("any file of split `validation`".into())
        );
    }
}
