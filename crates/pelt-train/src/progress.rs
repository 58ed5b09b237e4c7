//! How the library reports (docs/design.md, "The library reports through `tracing`"): each
//! message is one `tracing` event whose text is the whole line (`info`, `warn` for warnings),
//! and a long job, the training loop or a file's download, is a [`Progress`] span. Nothing is
//! printed or drawn unless the program installs a subscriber; the `pelt` binary's prints each
//! line as it is and draws each progress span as a bar.

use tracing::Span;

/// The target of [`Progress`] spans, which are named `progress`.
pub const TARGET: &str = "pelt_train::progress";

/// What a [`Progress`] counts: its `unit` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Optimiser steps (`unit = "steps"`).
    Steps,
    /// Bytes of a download (`unit = "bytes"`).
    Bytes,
}

impl Unit {
    /// The `unit` field's value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Steps => "steps",
            Self::Bytes => "bytes",
        }
    }
}

/// A job's progress: a span with target [`TARGET`] and fields `unit`, `len` (the count at the
/// end), `pos` (the count so far) and `message` (a few words on where it is), recorded as they
/// change. The span closes when this is dropped, finished or not.
#[derive(Debug)]
pub(crate) struct Progress {
    span: Span,
    pos: u64,
}

impl Progress {
    /// A job of `len` in `unit`, at `pos`, described by `message`.
    pub(crate) fn new(unit: Unit, len: u64, pos: u64, message: &str) -> Self {
        let span = tracing::info_span!(
            target: TARGET,
            "progress",
            unit = unit.name(),
            len,
            pos,
            message
        );
        Self { span, pos }
    }

    /// Moves on by `by`.
    pub(crate) fn advance(&mut self, by: u64) {
        self.pos += by;
        self.span.record("pos", self.pos);
    }

    /// Describes where the job is.
    pub(crate) fn set_message(&self, message: &str) {
        self.span.record("message", message);
    }
}
