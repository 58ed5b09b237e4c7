//! A Hugging Face hub on 127.0.0.1, answering the requests `hf-hub` 0.4.3 makes
//! (docs/design.md, "A local hub in the tests"). pelt-train's hub tests use it with fault
//! injection; `cargo xtask rehearse` serves the paper configurations' models and data sets
//! from it. Requests answered:
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

mod answer;
mod digest;
mod error;
mod fault;
mod repo;
mod server;

pub use digest::{git_sha1, sha256};
pub use error::HubMockError;
pub use fault::Fault;
pub use repo::Repo;
pub use server::{COMMIT, Hub};
