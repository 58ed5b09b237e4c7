//! A Hugging Face hub on 127.0.0.1 for the tests, answering the requests `hf-hub` 0.4.3 makes
//! (docs/design.md, "A local hub in the tests"):
//!
//! - `GET /api/{models,datasets}/ID/revision/main`: the repository's description (`sha` and
//!   `siblings`);
//! - `GET [/datasets]/ID/resolve/main/FILE` with `Range: bytes=0-0` (the metadata) and with
//!   `Range: bytes=N-` (the transfer, resumed from N): small files answer themselves, with
//!   `etag` (their git blob SHA-1), `x-repo-commit` and `content-range`; large files (Parquet,
//!   safetensors) answer `302` to `/cdn/SHA256` with `x-linked-etag` (their SHA-256) and
//!   `x-linked-size`, as the hub redirects to its CDN;
//! - `GET /cdn/SHA256`: the content, honouring `Range`.
//!
//! Every request is logged; faults are set per repository or per file.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use sha1::Digest;

/// The commit every repository is at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Something the server gets wrong on purpose.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Every request about the repository answers this status (with `x-error-code`).
    Repo(u16, &'static str),
    /// Requests for the file answer this status (with `x-error-code`).
    File(String, u16, &'static str),
    /// The next `times` transfers of the file break off after `after` bytes: the connection
    /// is closed mid-body.
    Drop {
        /// The file, as the repository names it.
        file: String,
        /// Bytes sent before the connection closes.
        after: usize,
        /// How many transfers break off.
        times: usize,
    },
    /// The file's metadata announces `extra` more bytes than the file has.
    Size(String, u64),
    /// The file's metadata announces the SHA-256 of other content.
    Hash(String),
    /// Requests without `Authorization: Bearer TOKEN` answer 401 (a gated repository).
    Token(String),
}

/// A repository's files.
#[derive(Debug, Clone, Default)]
pub struct Repo {
    /// Path within the repository to content.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Repo {
    /// The files of `dir` (not below), under `prefix` in the repository.
    pub fn from_dir(dir: &Path, prefix: &str) -> Self {
        let mut repo = Self::default();
        repo.add_dir(dir, prefix);
        repo
    }

    /// Adds the files of `dir` (not below), under `prefix`.
    pub fn add_dir(&mut self, dir: &Path, prefix: &str) -> &mut Self {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            self.files
                .push((format!("{prefix}{name}"), std::fs::read(&path).unwrap()));
        }
        self
    }

    /// Adds one file.
    pub fn add(&mut self, name: &str, content: &[u8]) -> &mut Self {
        self.files.push((name.to_string(), content.to_vec()));
        self
    }

    fn get(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_slice())
    }
}

#[derive(Default)]
struct State {
    /// `models/ID` or `datasets/ID` to the repository.
    repos: HashMap<String, Repo>,
    faults: Vec<Fault>,
    log: Vec<String>,
}

/// The running server.
pub struct Hub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Hub {
    /// Starts a server on a free port of 127.0.0.1, in a thread of its own that lives as long
    /// as the test process.
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&shared);
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, addr, &request)) }
                    });
                    tokio::spawn(async move {
                        // A connection closed on purpose (Fault::Drop) ends with an error.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Self { addr, state }
    }

    /// The endpoint, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves model `id`.
    pub fn model(&self, id: &str, repo: Repo) -> &Self {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(format!("models/{id}"), repo);
        self
    }

    /// Serves data set `id`.
    pub fn dataset(&self, id: &str, repo: Repo) -> &Self {
        self.state
            .lock()
            .unwrap()
            .repos
            .insert(format!("datasets/{id}"), repo);
        self
    }

    /// Adds a fault.
    pub fn fault(&self, fault: Fault) -> &Self {
        self.state.lock().unwrap().faults.push(fault);
        self
    }

    /// Removes every fault.
    pub fn heal(&self) -> &Self {
        self.state.lock().unwrap().faults.clear();
        self
    }

    /// The requests so far, as `PATH [RANGE]`.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }

    /// The files whose content was transferred (requests for more than the first byte).
    pub fn transfers(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter(|l| !l.ends_with("bytes=0-0"))
            .filter(|l| l.contains("/resolve/main/") || l.starts_with("/cdn/"))
            .cloned()
            .collect()
    }
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn full(content: Vec<u8>) -> Body {
    Full::new(Bytes::from(content))
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `content`, as the hub's `x-linked-etag`.
pub fn sha256(content: &[u8]) -> String {
    hex(&sha2::Sha256::digest(content))
}

/// The git blob SHA-1 of `content`, as the hub's `etag` of a small file.
pub fn git_sha1(content: &[u8]) -> String {
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {}\0", content.len()).as_bytes());
    hasher.update(content);
    hex(&hasher.finalize())
}

/// Whether the hub keeps `name` in LFS (and so redirects its transfers).
fn large(name: &str) -> bool {
    [".parquet", ".safetensors", ".bin"]
        .iter()
        .any(|s| name.ends_with(s))
}

fn status(code: u16, error_code: &str) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("x-error-code", error_code)
        .body(full(format!("{code} {error_code}").into_bytes()))
        .unwrap()
}

/// `(start, end inclusive)` of a `Range: bytes=A-[B]` header, within `len` bytes.
fn range(header: Option<&str>, len: usize) -> Option<(usize, usize)> {
    let spec = header?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start: usize = a.parse().ok()?;
    let end = if b.is_empty() {
        len.checked_sub(1)?
    } else {
        b.parse::<usize>().ok()?.min(len.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

fn answer(state: &Mutex<State>, addr: SocketAddr, request: &Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_string();
    let range_header = request
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut state = state.lock().unwrap();
    state.log.push(match &range_header {
        Some(r) => format!("{path} {r}"),
        None => path.clone(),
    });

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let found = state
            .repos
            .values()
            .flat_map(|r| r.files.iter())
            .find(|(_, c)| sha256(c) == sha)
            .map(|(name, c)| (name.clone(), c.clone()));
        return match found {
            Some((name, bytes)) => {
                let drop = take_drop(&mut state, &name, range_header.as_deref());
                let announced = announced(&state, &name, &bytes);
                send(&bytes, range_header.as_deref(), announced, drop, Vec::new())
            }
            None => status(404, "EntryNotFound"),
        };
    }

    // Which repository, and which file of it (`None`: its description).
    let (key, file) = if let Some(rest) = path.strip_prefix("/api/") {
        match rest.strip_suffix("/revision/main") {
            Some(key) => (key.to_string(), None),
            None => return status(404, "NotFound"),
        }
    } else {
        let Some((repo, file)) = path.split_once("/resolve/main/") else {
            return status(404, "NotFound");
        };
        let repo = repo.trim_start_matches('/');
        let key = match repo.strip_prefix("datasets/") {
            Some(id) => format!("datasets/{id}"),
            None => format!("models/{repo}"),
        };
        (key, Some(file.to_string()))
    };
    let Some(repo) = state.repos.get(&key).cloned() else {
        return status(404, "RepoNotFound");
    };
    for fault in &state.faults {
        match fault {
            Fault::Repo(code, error) => return status(*code, error),
            Fault::File(name, code, error) if file.as_deref() == Some(name.as_str()) => {
                return status(*code, error);
            }
            Fault::Token(token) if authorization.as_deref() != Some(&format!("Bearer {token}")) => {
                return status(401, "GatedRepo");
            }
            _ => {}
        }
    }
    let Some(file) = file else {
        let siblings: Vec<_> = repo
            .files
            .iter()
            .map(|(name, _)| serde_json::json!({ "rfilename": name }))
            .collect();
        let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings });
        return Response::builder()
            .header("content-type", "application/json")
            .body(full(body.to_string().into_bytes()))
            .unwrap();
    };
    let Some(bytes) = repo.get(&file).map(<[u8]>::to_vec) else {
        return status(404, "EntryNotFound");
    };
    let announced = announced(&state, &file, &bytes);
    let wrong_hash = state
        .faults
        .iter()
        .any(|f| matches!(f, Fault::Hash(name) if *name == file));
    if large(&file) {
        let sha = sha256(&bytes);
        let etag = if wrong_hash {
            sha256(b"other content")
        } else {
            sha.clone()
        };
        return Response::builder()
            .status(302)
            .header("location", format!("http://{addr}/cdn/{sha}"))
            .header("x-repo-commit", COMMIT)
            .header("x-linked-etag", format!("\"{etag}\""))
            .header("x-linked-size", announced.to_string())
            .header("etag", format!("\"{}\"", git_sha1(b"an LFS pointer")))
            .body(full(Vec::new()))
            .unwrap();
    }
    let etag = if wrong_hash {
        git_sha1(b"other content")
    } else {
        git_sha1(&bytes)
    };
    let drop = take_drop(&mut state, &file, range_header.as_deref());
    send(
        &bytes,
        range_header.as_deref(),
        announced,
        drop,
        vec![
            ("etag", format!("\"{etag}\"")),
            ("x-repo-commit", COMMIT.to_string()),
        ],
    )
}

/// The size announced for `file`: its own, unless a [`Fault::Size`] adds to it.
fn announced(state: &State, file: &str, bytes: &[u8]) -> u64 {
    let extra = state.faults.iter().find_map(|f| match f {
        Fault::Size(name, extra) if name == file => Some(*extra),
        _ => None,
    });
    bytes.len() as u64 + extra.unwrap_or(0)
}

/// The byte count after which this transfer of `file` breaks off, if a [`Fault::Drop`] says
/// so (counting it down). Metadata requests (`bytes=0-0`) never break off.
fn take_drop(state: &mut State, file: &str, range_header: Option<&str>) -> Option<usize> {
    if range_header == Some("bytes=0-0") {
        return None;
    }
    state.faults.iter_mut().find_map(|f| match f {
        Fault::Drop {
            file: name,
            after,
            times,
        } if name == file && *times > 0 => {
            *times -= 1;
            Some(*after)
        }
        _ => None,
    })
}

/// The content for a ranged (206) or whole (200) request, with `content-range` stating
/// `announced` as the total; the connection closes after `drop` body bytes when given.
fn send(
    bytes: &[u8],
    range_header: Option<&str>,
    announced: u64,
    drop: Option<usize>,
    headers: Vec<(&str, String)>,
) -> Response<Body> {
    let mut builder = Response::builder();
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let (start, end) = match range_header {
        None => (0, bytes.len().saturating_sub(1)),
        Some(header) => match range(Some(header), bytes.len()) {
            Some(r) => r,
            None => return status(416, "RangeNotSatisfiable"),
        },
    };
    let part = bytes[start..=end].to_vec();
    builder = builder
        .status(if range_header.is_some() { 206 } else { 200 })
        .header("content-length", part.len().to_string());
    if range_header.is_some() {
        builder = builder.header("content-range", format!("bytes {start}-{end}/{announced}"));
    }
    let body = match drop {
        None => full(part),
        Some(after) => {
            // The bytes first, flushed while the body waits; then the failure, on which hyper
            // closes the connection.
            let sent = Bytes::from(part[..after.min(part.len())].to_vec());
            let sent = futures_util::stream::once(async move { Ok(Frame::data(sent)) });
            let fail = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other("connection dropped on purpose"))
            });
            StreamBody::new(sent.chain(fail)).boxed_unsync()
        }
    };
    builder.body(body).unwrap()
}
