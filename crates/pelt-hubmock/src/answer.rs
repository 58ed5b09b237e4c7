//! How a request is answered, from the served repositories and the faults.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::http::response::Builder;
use hyper::{Request, Response, StatusCode};

use crate::digest::{git_sha1, sha256};
use crate::fault::Fault;
use crate::repo::Repo;
use crate::server::COMMIT;

/// What the server serves and has been asked.
#[derive(Default)]
pub(crate) struct State {
    /// `models/ID` or `datasets/ID` to the repository.
    pub(crate) repos: HashMap<String, Repo>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) log: Vec<String>,
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

fn full(content: impl Into<Bytes>) -> Body {
    Full::new(content.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The response `builder` makes with `body`; a header the builder refuses (none of ours
/// should be) answers 500 naming it.
fn build(builder: Builder, body: Body) -> Response<Body> {
    builder.body(body).unwrap_or_else(|e| {
        let mut response = Response::new(full(format!("500 {e}")));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        response
    })
}

/// Whether the hub keeps `name` in LFS (and so redirects its transfers).
fn large(name: &str) -> bool {
    [".parquet", ".safetensors", ".bin"]
        .iter()
        .any(|s| name.ends_with(s))
}

fn status(code: u16, error_code: &str) -> Response<Body> {
    build(
        Response::builder()
            .status(code)
            .header("x-error-code", error_code),
        full(format!("{code} {error_code}")),
    )
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

/// The answer to `request`, logged in `state`; `addr` is the server's own address (for the
/// CDN redirects).
pub(crate) fn answer(
    state: &Mutex<State>,
    addr: SocketAddr,
    request: &Request<Incoming>,
) -> Response<Body> {
    let path = request.uri().path().to_string();
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (range_header, authorization) = (header("range"), header("authorization"));
    let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
    state.log.push(match &range_header {
        Some(r) => format!("{path} {r}"),
        None => path.clone(),
    });

    if let Some(sha) = path.strip_prefix("/cdn/") {
        let found = state
            .repos
            .values()
            .flat_map(|r| r.files.iter())
            .find(|f| f.sha256 == sha)
            .map(|f| (f.name.clone(), f.content.clone()));
        return match found {
            Some((name, bytes)) => {
                let drop = take_drop(&mut state, &name, range_header.as_deref());
                let announced = announced(&state, &name, &bytes);
                send(bytes, range_header.as_deref(), announced, drop, Vec::new())
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
    let Some(repo) = state.repos.get(&key) else {
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
            .map(|f| serde_json::json!({ "rfilename": f.name }))
            .collect();
        let body = serde_json::json!({ "sha": COMMIT, "siblings": siblings });
        return build(
            Response::builder().header("content-type", "application/json"),
            full(body.to_string()),
        );
    };
    let Some(served) = repo.file(&file).cloned() else {
        return status(404, "EntryNotFound");
    };
    let announced = announced(&state, &file, &served.content);
    let wrong_hash = state
        .faults
        .iter()
        .any(|f| matches!(f, Fault::Hash(name) if *name == file));
    if large(&file) {
        let etag = if wrong_hash {
            sha256(b"other content")
        } else {
            served.sha256.clone()
        };
        return build(
            Response::builder()
                .status(302)
                .header("location", format!("http://{addr}/cdn/{}", served.sha256))
                .header("x-repo-commit", COMMIT)
                .header("x-linked-etag", format!("\"{etag}\""))
                .header("x-linked-size", announced.to_string())
                .header("etag", format!("\"{}\"", git_sha1(b"an LFS pointer"))),
            full(Bytes::new()),
        );
    }
    let etag = if wrong_hash {
        git_sha1(b"other content")
    } else {
        git_sha1(&served.content)
    };
    let drop = take_drop(&mut state, &file, range_header.as_deref());
    send(
        served.content,
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
    bytes: Bytes,
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
    let part = bytes.slice(start..(end + 1).min(bytes.len()));
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
            let sent = part.slice(..after.min(part.len()));
            let sent = futures_util::stream::once(async move { Ok(Frame::data(sent)) });
            let fail = futures_util::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other("connection dropped on purpose"))
            });
            StreamBody::new(sent.chain(fail)).boxed_unsync()
        }
    };
    build(builder, body)
}
