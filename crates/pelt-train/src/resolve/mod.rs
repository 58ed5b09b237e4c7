//! What a run is given, made concrete before its first step: the configuration and its rules
//! (`config.rs`; its `train` section in `train_config.rs`), the devices and backends
//! (`backend.rs`), the products' precision (`precision.rs`), where each task's data comes from (`data_source.rs`, `hub_id.rs`), hub ids to
//! local directories with verified downloads (`hub/`), and the data, tokenizer, CLIP features and
//! model built from them (`setup.rs`).

pub mod backend;
pub(crate) mod config;
pub(crate) mod data_source;
pub mod hub;
pub(crate) mod hub_id;
pub(crate) mod precision;
pub(crate) mod setup;
pub(crate) mod train_config;
