//! What the server gets wrong on purpose.

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
