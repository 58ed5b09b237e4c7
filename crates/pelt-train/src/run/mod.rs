//! A run: the training loop and its two objectives, the task mixture of `pelt train`
//! (`train_loop.rs`) and span corruption of `pelt pretrain` (`pretrain.rs`); the run directory
//! (`run_dir.rs`), atomic checkpoints (`checkpoint.rs`), what a resume may change
//! (`resume.rs`), stopping (`stop.rs`) and the kill tests' pause points (`pause.rs`).

pub mod checkpoint;
pub(crate) mod pause;
pub(crate) mod pretrain;
pub(crate) mod resume;
pub(crate) mod run_dir;
pub(crate) mod stop;
pub(crate) mod train_loop;
