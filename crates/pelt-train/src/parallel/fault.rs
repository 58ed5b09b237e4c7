//! Worker faults for the failure tests, in debug builds only: `PELT_TEST_FAULT` holds
//! comma-separated faults `WHAT:K` for data-parallel worker K (its index in `train.devices`):
//! `fail` (an error) or `panic` right after its forward pass, or `hang`: once past the meeting
//! after the forward passes, its backward pass never returns, as a worker waiting in an
//! all-reduce for a lost peer would. The faults take the path a real failure takes on every
//! transport, NCCL's included, so that `crates/pelt-train/tests/worker_failure.rs` can show that
//! the run stops with a named error instead of hanging (`fail:1,hang:0`: worker 0 would hang if
//! it started its backward pass after worker 1 failed; docs/train.md, "Several devices").
//! Release builds compile it to nothing.

/// Whether `PELT_TEST_FAULT` holds `what:worker`.
#[cfg(debug_assertions)]
fn asks(what: &str, worker: usize) -> bool {
    let fault = format!("{what}:{worker}");
    std::env::var("PELT_TEST_FAULT").is_ok_and(|spec| spec.split(',').any(|f| f == fault))
}

/// After worker `worker`'s forward pass: the failure `PELT_TEST_FAULT` asks for there, if any
/// (debug builds only).
pub(crate) fn after_forward(worker: usize) -> Result<(), String> {
    #[cfg(debug_assertions)]
    {
        if asks("panic", worker) {
            std::panic::panic_any("injected panic after the forward pass (PELT_TEST_FAULT)");
        }
        if asks("fail", worker) {
            return Err("injected failure after the forward pass (PELT_TEST_FAULT)".into());
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = worker;
    Ok(())
}

/// At the start of worker `worker`'s backward pass: never returns when `PELT_TEST_FAULT` is
/// `hang:WORKER` (debug builds only).
pub(crate) fn in_backward(worker: usize) {
    #[cfg(debug_assertions)]
    if asks("hang", worker) {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = worker;
}
