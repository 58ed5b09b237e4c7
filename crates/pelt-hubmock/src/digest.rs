//! The two hashes the hub announces.

use sha1::Digest;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `content`, as the hub's `x-linked-etag` of a large file.
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
