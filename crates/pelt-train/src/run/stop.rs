//! A stop request for a running `train` or `pretrain`: the loop finishes its step, writes a
//! checkpoint and returns [`TrainError::Interrupted`](crate::TrainError::Interrupted).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the caller and the loop it starts; cloning gives another handle to the same
/// request. Safe to use from a signal handler's thread.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle with no stop requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the loop to stop after its current step.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested since the last call (the request is consumed).
    pub(crate) fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}
