//! Downloads with `hf-hub` (feature `hub`), each file verified against what the hub announced
//! before a run may trust it (docs/design.md, "Hub downloads are verified").

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use hf_hub::api::sync::{Api, ApiBuilder, ApiError, ApiRepo};
use hf_hub::{Cache, Repo, RepoType};
use sha2::Digest;

use super::{Gap, Hub, WEIGHTS, dataset_gap, missing_dataset, not_cached};
use crate::error::TrainError;
use crate::progress::{Progress, Unit};
use pelt_data::TaskSpec;

/// Files besides the configuration and the weights that a run may read, downloaded when the
/// repository has them.
const OPTIONAL_FILES: [&str; 3] = ["tokenizer.json", "spiece.model", "preprocessor_config.json"];

/// hf-hub's retries of a transfer that broke off, each from where it stopped (its loop makes
/// one more before it gives up).
const RETRIES: usize = 3;

/// How to give a token, for the errors of gated and private repositories.
const TOKEN_HINT: &str = "give a token: set HF_TOKEN, or run `huggingface-cli login`";

impl Hub {
    /// The hf-hub client of this cache, endpoint and token.
    fn api(&self) -> Result<Api, String> {
        ApiBuilder::from_cache(Cache::new(self.cache.clone()))
            .with_endpoint(self.endpoint.clone())
            .with_token(self.token.clone())
            .with_retries(RETRIES)
            .with_progress(false)
            .build()
            .map_err(|e| e.to_string())
    }

    /// Downloads model `id` (its configuration, weights and the [`OPTIONAL_FILES`] it has) into
    /// the cache; `config.json` comes last, so that a snapshot with it holds the rest.
    pub(super) fn download_model(&self, id: &str, gap: Option<Gap>) -> Result<PathBuf, TrainError> {
        let fail = |file: Option<&str>, reason: String| TrainError::Hub {
            id: id.to_string(),
            file: file.map(str::to_string),
            reason: format!(
                "{}, and downloading it failed: {reason}. Download it where the hub is \
                 reachable (`huggingface-cli download {id}`) and copy the cache, or pass its \
                 directory",
                not_cached(&self.cache, gap.as_ref())
            ),
        };
        let api = self.api().map_err(|e| fail(None, e))?;
        let repo = api.model(id.to_string());
        let info = repo
            .info()
            .map_err(|e| fail(None, self.describe(&e, None)))?;
        let listed: BTreeSet<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
        let Some(weights) = WEIGHTS.iter().find(|w| listed.contains(**w)) else {
            return Err(fail(
                None,
                format!("the repository has neither {}", WEIGHTS.join(" nor ")),
            ));
        };
        if !listed.contains("config.json") {
            return Err(fail(None, "the repository has no config.json".into()));
        }
        let mut files = vec![*weights];
        files.extend(OPTIONAL_FILES.iter().filter(|f| listed.contains(**f)));
        files.push("config.json");
        tracing::info!("downloading {id} into {}", self.cache.display());
        let mut snapshot = None;
        for file in files {
            let path = self
                .fetch(RepoType::Model, id, &repo, file)
                .map_err(|reason| fail(Some(file), reason))?;
            snapshot = path.parent().map(Path::to_path_buf);
        }
        snapshot.ok_or_else(|| fail(None, "bad cache path".into()))
    }

    /// Downloads the files of data set `id` under `config/` (when given) that `task` reads into
    /// the cache; returns the snapshot directory. Files already cached are kept, so that a
    /// download that failed half-way continues where it stopped.
    pub(super) fn download_dataset(
        &self,
        id: &str,
        config: Option<&str>,
        task: &TaskSpec,
        gap: Option<Gap>,
    ) -> Result<PathBuf, TrainError> {
        let fail = |file: Option<&str>, what: String| {
            missing_dataset(
                id,
                config,
                &self.cache,
                gap.as_ref(),
                file,
                &format!("downloading it failed: {what}"),
            )
        };
        let api = self.api().map_err(|e| fail(None, e))?;
        let repo = api.dataset(id.to_string());
        let info = repo
            .info()
            .map_err(|e| fail(None, self.describe(&e, None)))?;
        let prefix = config.map_or(String::new(), |c| format!("{c}/"));
        let files: Vec<&str> = info
            .siblings
            .iter()
            .map(|s| s.rfilename.as_str())
            .filter(|f| f.strip_prefix(&prefix).is_some_and(|f| task.reads(f)))
            .collect();
        if files.is_empty() {
            return Err(fail(
                None,
                format!("the repository has no files under `{prefix}` that the task reads"),
            ));
        }
        tracing::info!(
            "downloading {} files of {id} into {}",
            files.len(),
            self.cache.display()
        );
        let mut snapshot = None;
        for file in files {
            let path = self
                .fetch(RepoType::Dataset, id, &repo, file)
                .map_err(|reason| fail(Some(file), reason))?;
            // The snapshot is the file's ancestor above its path within the repository.
            snapshot = path
                .ancestors()
                .nth(file.split('/').count())
                .map(Path::to_path_buf);
        }
        let snapshot = snapshot.ok_or_else(|| fail(None, "bad cache path".into()))?;
        let within = config.map_or_else(|| snapshot.clone(), |c| snapshot.join(c));
        match dataset_gap(&within, task) {
            None => Ok(snapshot),
            Some(missing) => Err(fail(
                None,
                format!("the repository has no {missing} (under `{prefix}`)"),
            )),
        }
    }

    /// The cached file `file` of repository `id`, downloaded when it is not there; either way
    /// checked against its blob's name (the hash the hub announced), and a download against
    /// the size the hub announced. A file that disagrees is removed from the cache.
    fn fetch(
        &self,
        kind: RepoType,
        id: &str,
        repo: &ApiRepo,
        file: &str,
    ) -> Result<PathBuf, String> {
        let cache = Cache::new(self.cache.clone()).repo(Repo::new(id.to_string(), kind));
        let announced = Rc::new(Cell::new(None));
        let path = match cache.get(file) {
            Some(path) => path,
            None => {
                remove_dangling_links(&self.cache.join(super::repo_dir(kind_dir(kind), id)), file);
                let progress = Announced {
                    progress: None,
                    size: Rc::clone(&announced),
                };
                repo.download_with_progress(file, progress)
                    .map_err(|e| self.describe(&e, Some(file)))?
            }
        };
        verify(&path, announced.get())?;
        Ok(path)
    }

    /// An hf-hub error in words: what the hub answered, or why it could not be reached, and
    /// what to do. `file`: the file asked for (`None`: the repository's description).
    fn describe(&self, err: &ApiError, file: Option<&str>) -> String {
        match err {
            ApiError::RequestError(e) => match e.as_ref() {
                ureq::Error::Status(code, response) => self.status(*code, response, file),
                ureq::Error::Transport(t) => {
                    format!("could not reach the hub at {}: {t}", self.endpoint)
                }
            },
            ApiError::TooManyRetries(last) => format!(
                "the transfer kept breaking off, though resumed each time from where it stopped; \
                 the last time: {}. What arrived is kept (a `.part` file under the cache's \
                 `blobs/`); the next run resumes from it",
                self.describe(last, file)
            ),
            ApiError::IoError(e) => format!("the transfer or the cache failed: {e}"),
            other => format!("hf-hub: {other}"),
        }
    }

    /// What an HTTP error status means here.
    fn status(&self, code: u16, response: &ureq::Response, file: Option<&str>) -> String {
        let url = response.get_url();
        let error_code = response.header("x-error-code").unwrap_or_default();
        let says = response
            .header("x-error-message")
            .map_or(String::new(), |m| format!("; the hub says: {m}"));
        let what = match code {
            401 | 403 if error_code == "RepoNotFound" => format!(
                "no such repository ({code} at {url}), or a private one: if it is yours, \
                 {TOKEN_HINT}"
            ),
            401 | 403 => format!(
                "access denied ({code} at {url}): the repository is gated or private; {}accept \
                 its terms on its page on the hub, then {TOKEN_HINT}",
                if self.token.is_some() {
                    "the token given was refused; "
                } else {
                    "no token was given; "
                }
            ),
            404 if file.is_some() && error_code != "RepoNotFound" => {
                format!("no such file in the repository (404 at {url})")
            }
            404 => format!("no such repository on the hub (404 at {url})"),
            500..=599 => {
                format!("the hub answered {code}, a server error, at {url}; try again later")
            }
            _ => format!("the hub answered {code} at {url}"),
        };
        format!("{what}{says}")
    }
}

/// The cache directory prefix of a repository kind.
fn kind_dir(kind: RepoType) -> &'static str {
    match kind {
        RepoType::Model => "models",
        RepoType::Dataset => "datasets",
        RepoType::Space => "spaces",
    }
}

/// Removes the links `snapshots/*/file` of the cached repository `repo` whose blob is gone:
/// hf-hub would fail to make its own link there.
fn remove_dangling_links(repo: &Path, file: &str) {
    let Ok(snapshots) = std::fs::read_dir(repo.join("snapshots")) else {
        return;
    };
    for snapshot in snapshots.filter_map(Result::ok) {
        let link = snapshot.path().join(file);
        if link.symlink_metadata().is_ok() && !link.exists() {
            // A link that cannot be removed makes hf-hub's error name it.
            let _ = std::fs::remove_file(&link);
        }
    }
}

/// Checks the cached file at `path` (a link to `blobs/ETAG`) against its size as the hub
/// announced it (`announced`, for a download) and its hash: an ETag of 64 hex digits is the
/// SHA-256 of a large (LFS) file, one of 40 the git blob SHA-1 of a small one. A file that
/// disagrees is removed, link and blob, and the error says how.
fn verify(path: &Path, announced: Option<u64>) -> Result<(), String> {
    let blob = std::fs::canonicalize(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = std::fs::metadata(&blob)
        .map_err(|e| format!("{}: {e}", blob.display()))?
        .len();
    let hex = etag.chars().all(|c| c.is_ascii_hexdigit());
    let wrong = match announced {
        Some(expected) if expected != size => Some(format!(
            "{size} bytes arrived where the hub announced {expected}"
        )),
        _ if hex && etag.len() == 64 => {
            let got = hash_hex(&blob, sha2::Sha256::new(), &[])?;
            (got != etag.to_ascii_lowercase())
                .then(|| format!("its SHA-256 is {got} where the hub announced {etag}"))
        }
        _ if hex && etag.len() == 40 => {
            let header = format!("blob {size}\0");
            let got = hash_hex(&blob, sha1::Sha1::new(), header.as_bytes())?;
            (got != etag.to_ascii_lowercase())
                .then(|| format!("its git SHA-1 is {got} where the hub announced {etag}"))
        }
        _ => None,
    };
    match wrong {
        None => Ok(()),
        Some(wrong) => {
            let removed = std::fs::remove_file(path).and(std::fs::remove_file(&blob));
            Err(match removed {
                Ok(()) => format!("{wrong}; it was removed from the cache"),
                Err(e) => format!(
                    "{wrong}; removing it from the cache failed ({e}): delete {} and {}",
                    path.display(),
                    blob.display()
                ),
            })
        }
    }
}

/// The hex digest of `prefix` followed by the file at `path`.
fn hash_hex<D: Digest>(path: &Path, mut hasher: D, prefix: &[u8]) -> Result<String, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    hasher.update(prefix);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// hf-hub's progress callbacks: the download's [`Progress`], and the size the hub announced.
struct Announced {
    progress: Option<Progress>,
    size: Rc<Cell<Option<u64>>>,
}

impl hf_hub::api::Progress for Announced {
    fn init(&mut self, size: usize, filename: &str) {
        self.size.set(Some(size as u64));
        // The file's name, its last 30 bytes at most (as hf-hub's own bar).
        let start = filename.len().saturating_sub(30);
        let message = match filename.get(start..) {
            Some(tail) if start > 0 => format!("..{tail}"),
            _ => filename.to_string(),
        };
        self.progress = Some(Progress::new(Unit::Bytes, size as u64, 0, &message));
    }

    fn update(&mut self, size: usize) {
        if let Some(progress) = &mut self.progress {
            progress.advance(size as u64);
        }
    }

    fn finish(&mut self) {
        self.progress = None;
    }
}
