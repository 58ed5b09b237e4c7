//! T5 encoder-decoder on Burn, numerically faithful to Hugging Face `modeling_t5.py`, with
//! insertion points for parameter-efficient tuning.
//!
//! ```no_run
//! use burn::prelude::*;
//! use pelt_t5::{GenerationConfig, T5Input, T5Model, T5Tokenizer};
//!
//! let device = Device::default();
//! let model = T5Model::load("models/t5-small", &device)?;
//! let tokenizer = T5Tokenizer::from_file("models/t5-small")?;
//! let ids: Vec<i64> = tokenizer.encode("translate English to German: Hello.")?
//!     .into_iter().map(i64::from).collect();
//! let ids = Tensor::<1, Int>::from_ints(ids.as_slice(), &device).unsqueeze_dim(0);
//! let out = model.generate(T5Input::new(ids), &GenerationConfig::greedy(20));
//! println!("{}", tokenizer.decode(&out[0])?);
//! # Ok::<(), pelt_t5::T5Error>(())
//! ```
//!
//! Prefixes and adapters are plain tensors handed in with the input
//! ([`T5Input::pelt`], [`Insertions`]); without them the model is plain T5.

mod attention;
mod block;
mod config;
mod dense;
mod error;
mod ffn;
mod generate;
mod init;
mod insertions;
mod loss;
mod model;
mod norm;
mod position;
#[cfg(feature = "flex")]
mod rows;
mod softmax;
mod stack;
mod tokenizer;
mod weights;

pub use attention::{KeyValue, T5Attention};
pub use block::{LayerCache, T5Block};
pub use config::{Activation, FeedForwardProj, T5Config};
pub use dense::{dense, fold_matmul};
pub use error::T5Error;
pub use ffn::T5FeedForward;
pub use generate::GenerationConfig;
pub use insertions::{Adapter, Insertions, LayerInsertions, Prefix};
pub use loss::{IGNORE_INDEX, cross_entropy};
pub use model::{DecoderCache, Encoded, T5Input, T5Model};
pub use norm::{RmsNormOps, RmsNormSaved, RmsStats, T5LayerNorm};
pub use position::{RelativePositionBias, relative_position_bucket};
pub use softmax::{SoftmaxOps, log_softmax_last, softmax_last};
pub use stack::T5Stack;
pub use tokenizer::T5Tokenizer;
