//! A pause for the kill tests, in debug builds only: with `PELT_TEST_PAUSE=WHERE:STEP` a run
//! stops at point `WHERE` of step `STEP` (`checkpoint`: the trainable tensors written to the
//! temporary directory, the optimiser state and the rename not yet; `evaluation`: validation
//! scored, not yet logged), writes `RUN/paused-WHERE` and sleeps, so that a test can kill it
//! exactly there (`tests/kill.rs`). Release builds compile it to nothing.

use std::path::Path;

/// Pauses here when `PELT_TEST_PAUSE` names this point and step (debug builds only).
pub(crate) fn point(run: &Path, at: &str, step: u64) {
    #[cfg(debug_assertions)]
    if std::env::var("PELT_TEST_PAUSE").is_ok_and(|spec| spec == format!("{at}:{step}")) {
        let _ = std::fs::write(run.join(format!("paused-{at}")), b"");
        std::thread::sleep(std::time::Duration::from_secs(120));
    }
    #[cfg(not(debug_assertions))]
    let _ = (run, at, step);
}
