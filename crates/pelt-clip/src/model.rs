//! `CLIPVisionTransformer` with the optional `visual_projection`: pixels to patch features.

use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

use crate::config::ClipVisionConfig;
use crate::embeddings::ClipVisionEmbeddings;
use crate::encoder::ClipEncoder;

/// What the vision tower computes for a batch of images.
#[derive(Debug, Clone)]
pub struct ClipVisionOutput {
    /// The last encoder layer's output, class token first, *without* a final norm:
    /// `[batch, 1 + patches, hidden]` (`last_hidden_state`).
    pub last_hidden_state: Tensor<3>,
    /// `post_layernorm` of the class token: `[batch, hidden]` (`pooler_output`).
    pub pooler_output: Tensor<2>,
    /// `visual_projection(pooler_output)`: `[batch, projection_dim]` (`image_embeds`), when
    /// the model has the projection.
    pub image_embeds: Option<Tensor<2>>,
}

impl ClipVisionOutput {
    /// The patch grid without the class token, row-major: `[batch, patches, hidden]`
    /// (7×7 = 49 patches for ViT-B/32 at 224 px). These are the features HyperPELT uses.
    pub fn patches(&self) -> Tensor<3> {
        let [batch, seq, hidden] = self.last_hidden_state.dims();
        self.last_hidden_state
            .clone()
            .slice([0..batch, 1..seq, 0..hidden])
    }
}

/// The CLIP vision transformer (`vision_model`) and, optionally, `visual_projection`.
#[derive(Module, Debug)]
pub struct ClipVisionModel {
    /// Patch, class and position embeddings.
    pub embeddings: ClipVisionEmbeddings,
    /// Norm applied to the embeddings (Hugging Face's spelling, `pre_layrnorm`).
    pub pre_layrnorm: LayerNorm,
    /// The transformer layers.
    pub encoder: ClipEncoder,
    /// Norm applied to the class token for the pooled output.
    pub post_layernorm: LayerNorm,
    /// `hidden -> projection_dim` without bias, as in `CLIPModel`.
    pub visual_projection: Option<Linear>,
}

impl ClipVisionConfig {
    /// A randomly initialised model (load real weights with [`crate::load_vision_model`]).
    pub fn init(&self, device: &Device) -> ClipVisionModel {
        let norm = || {
            LayerNormConfig::new(self.hidden_size)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let visual_projection = self.with_projection.then(|| {
            LinearConfig::new(self.hidden_size, self.projection_dim)
                .with_bias(false)
                .init(device)
        });
        ClipVisionModel {
            embeddings: ClipVisionEmbeddings::new(self, device),
            pre_layrnorm: norm(),
            encoder: ClipEncoder::new(self, device),
            post_layernorm: norm(),
            visual_projection,
        }
    }
}

impl ClipVisionModel {
    /// Encodes `pixels: [batch, channels, image_size, image_size]` (as produced by
    /// [`crate::ClipImageProcessor`]).
    ///
    /// # Panics
    ///
    /// If the images are not `image_size` square.
    pub fn forward(&self, pixels: Tensor<4>) -> ClipVisionOutput {
        let [_batch, _channels, _height, _width] = pixels.dims();
        let x = self.pre_layrnorm.forward(self.embeddings.forward(pixels));
        let last_hidden_state = self.encoder.forward(x);
        let [batch, _seq, hidden] = last_hidden_state.dims();
        let class = last_hidden_state
            .clone()
            .slice([0..batch, 0..1, 0..hidden])
            .reshape([batch, hidden]);
        let pooler_output = self.post_layernorm.forward(class);
        let image_embeds = self
            .visual_projection
            .as_ref()
            .map(|projection| projection.forward(pooler_output.clone()));
        ClipVisionOutput {
            last_hidden_state,
            pooler_output,
            image_embeds,
        }
    }

    /// Width of the residual stream (and of every patch feature).
    pub fn hidden_size(&self) -> usize {
        self.pre_layrnorm.gamma.dims()[0]
    }

    /// Expected input side in pixels.
    pub fn image_size(&self) -> usize {
        self.embeddings.image_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_shapes_follow_the_config() {
        let device = Device::default();
        let config = ClipVisionConfig::new()
            .with_hidden_size(16)
            .with_intermediate_size(24)
            .with_num_hidden_layers(2)
            .with_num_attention_heads(2)
            .with_image_size(24)
            .with_patch_size(8)
            .with_projection_dim(6)
            .with_with_projection(true);
        let model = config.init(&device);
        let out = model.forward(Tensor::zeros([2, 3, 24, 24], &device));
        assert_eq!(out.last_hidden_state.dims(), [2, 10, 16]);
        assert_eq!(out.patches().dims(), [2, 9, 16]);
        assert_eq!(out.pooler_output.dims(), [2, 16]);
        assert_eq!(out.image_embeds.map(|e| e.dims()), Some([2, 6]));
        assert_eq!((model.hidden_size(), model.image_size()), (16, 24));
    }

    #[test]
    fn images_in_a_batch_are_encoded_independently() {
        // No operation may mix examples: a batch of two equals each image alone.
        let device = Device::default();
        let config = ClipVisionConfig::tiny();
        let model = config.init(&device);
        let pixels =
            Tensor::<4>::random([2, 3, 16, 16], burn::tensor::Distribution::Default, &device);
        let both = model.forward(pixels.clone()).last_hidden_state;
        let second = model
            .forward(pixels.slice([1..2, 0..3, 0..16, 0..16]))
            .last_hidden_state;
        let diff: f32 = (both.slice([1..2, 0..5, 0..8]) - second)
            .abs()
            .max()
            .into_scalar();
        assert!(diff < 1e-5, "{diff}");
    }
}
