//! Frozen CLIP vision encoder for HyperPELT, with Hugging Face parity.
//!
//! - [`ClipVisionConfig`] reads a Hugging Face `config.json` (`CLIPConfig` or
//!   `CLIPVisionConfig`); [`load_vision_model`] loads a checkpoint strictly through
//!   `pelt-weights` (the key table is in `weights.rs`).
//! - [`ClipVisionModel::forward`] maps `[batch, 3, 224, 224]` pixels to a
//!   [`ClipVisionOutput`]: `last_hidden_state` `[batch, 1 + patches, hidden]`, the patch grid
//!   `[batch, patches, hidden]` (7×7 for ViT-B/32), `pooler_output` `[batch, hidden]` and,
//!   with a visual projection, `image_embeds` `[batch, projection_dim]`.
//! - [`ClipImageProcessor`] reproduces `CLIPImageProcessor` (decode within limits, RGB,
//!   Pillow-exact bicubic resize, centre crop, normalise) and preprocesses batches in parallel.
//! - [`ImageEncoder`] encodes image files (or [`EncodedImage`]s held in memory) in batches and writes the feature cache
//!   ([`write_cache`]; one safetensors tensor `[patches, hidden]` per image path), which
//!   `pelt_data::FeatureCache` reads.

mod attention;
pub mod cache;
mod config;
mod decode;
mod embeddings;
mod encoder;
mod error;
mod image_encoder;
mod model;
mod preprocess;
pub mod resample;
mod weights;

pub use attention::ClipAttention;
pub use cache::write_cache;
pub use config::{ClipVisionConfig, HiddenAct};
pub use embeddings::ClipVisionEmbeddings;
pub use encoder::{ClipEncoder, ClipEncoderLayer, ClipMlp};
pub use error::ClipError;
pub use image_encoder::ImageEncoder;
pub use model::{ClipVisionModel, ClipVisionOutput};
pub use preprocess::{
    CLIP_MEAN, CLIP_STD, ClipImageProcessor, DEFAULT_MAX_ALLOC, DEFAULT_MAX_SIDE, EncodedImage,
    PixelValues,
};
pub use weights::{load_vision_model, load_weights};
