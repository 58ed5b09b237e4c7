//! Strict, code-free reading of Hugging Face checkpoints into Burn tensors.
//!
//! Both backbones (`pelt-t5`, `pelt-clip`) load their weights through this crate so that the
//! file formats, dtype conversion and strictness rules live in one place:
//!
//! - [`Checkpoint`] opens `model.safetensors`, a sharded `*.index.json`, or a
//!   `pytorch_model.bin` (read by a pickle *parser* that never executes code) and lists its
//!   tensors without reading their data.
//! - [`StrictLoader`] hands tensors out by name and expected shape, remembers which were used,
//!   and at [`StrictLoader::finish`] reports every missing, mismatched or unused tensor at once.
//! - [`write_safetensors`] writes f32 tensors atomically (temporary file, flush, rename).
//! - [`model_file`] names a model's file given either itself or the model directory holding it.

mod checkpoint;
mod error;
mod model_dir;
mod strict;
mod write;

pub use checkpoint::{Checkpoint, TensorMeta};
pub use error::{Problem, WeightsError};
pub use model_dir::model_file;
pub use strict::StrictLoader;
pub use write::{NamedTensor, write_atomically, write_safetensors};
