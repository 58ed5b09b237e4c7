//! What a model is worth and what a run writes about it: evaluation by generation with the task
//! metrics (`evaluate.rs`), the validation score that selects the kept model (`selection.rs`),
//! the final report (`run_report.rs`), plots of the log (`plot.rs`), one answer from a trained
//! run (`predict.rs`) and linear probes of a frozen backbone (`probe.rs`).

pub(crate) mod evaluate;
pub(crate) mod plot;
pub(crate) mod predict;
pub(crate) mod probe;
pub(crate) mod run_report;
pub(crate) mod selection;
