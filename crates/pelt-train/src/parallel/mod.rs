//! Data-parallel training over the workers of `train.devices` (docs/train.md, "Several
//! devices"): the step that splits a micro-batch and combines the gradients
//! (`data_parallel.rs`), the main thread's side of the workers' meeting (`meeting.rs`), one
//! worker's side of it (`worker.rs`), how workers combine gradients
//! (`transport.rs`: gather, or NCCL all-reduce), the visitors that move trainable values
//! between devices (`param_maps.rs`) and the worker faults of the failure tests (`fault.rs`).

pub(crate) mod data_parallel;
pub(crate) mod fault;
pub(crate) mod meeting;
pub(crate) mod param_maps;
pub(crate) mod transport;
pub(crate) mod worker;
