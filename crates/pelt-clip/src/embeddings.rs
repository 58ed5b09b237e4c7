//! `CLIPVisionEmbeddings`: patch convolution, class token and learned position embeddings.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

use crate::config::ClipVisionConfig;

/// Turns pixels into the token sequence `[class, patch_0, ..., patch_{P-1}]` plus positions.
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings {
    /// Non-overlapping patches (`kernel = stride = patch_size`, no bias):
    /// weight `[hidden, channels, patch, patch]`.
    pub patch_embedding: Conv2d,
    /// The learned class token, `[hidden]`.
    pub class_embedding: Param<Tensor<1>>,
    /// One learned vector per position (class first), `[1 + patches, hidden]`.
    pub position_embedding: Param<Tensor<2>>,
    /// Expected input side in pixels.
    pub image_size: usize,
}

impl ClipVisionEmbeddings {
    /// Randomly initialised embeddings of the configured sizes.
    pub fn new(config: &ClipVisionConfig, device: &Device) -> Self {
        let patch = config.patch_size;
        let hidden = config.hidden_size;
        let patch_embedding = Conv2dConfig::new([config.num_channels, hidden], [patch, patch])
            .with_stride([patch, patch])
            .with_padding(PaddingConfig2d::Valid)
            .with_bias(false)
            .init(device);
        let normal = burn::tensor::Distribution::Normal(0.0, 0.02);
        Self {
            patch_embedding,
            class_embedding: Param::from_tensor(Tensor::random([hidden], normal, device)),
            position_embedding: Param::from_tensor(Tensor::random(
                [config.num_patches() + 1, hidden],
                normal,
                device,
            )),
            image_size: config.image_size,
        }
    }

    /// Embeds `pixels: [batch, channels, image_size, image_size]` (normalised as CLIP's
    /// processor does) into `[batch, 1 + patches, hidden]`.
    ///
    /// # Panics
    ///
    /// If the image is not `image_size` square (Hugging Face raises the same error; this
    /// crate's preprocessing always produces the configured size).
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [batch, _channels, height, width] = pixels.dims();
        assert!(
            height == self.image_size && width == self.image_size,
            "input image size ({height}*{width}) doesn't match model ({0}*{0})",
            self.image_size
        );
        // [batch, hidden, grid, grid] -> [batch, patches, hidden], patches in row-major order.
        let patches = self.patch_embedding.forward(pixels).flatten::<3>(2, 3);
        let [_, hidden, num_patches] = patches.dims();
        let patches = patches.swap_dims(1, 2);
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .expand([batch, 1, hidden]);
        let tokens = Tensor::cat(vec![class, patches], 1);
        let positions = self
            .position_embedding
            .val()
            .reshape([1, num_patches + 1, hidden]);
        tokens + positions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_token_comes_first_and_patches_follow_row_major() {
        let device = Device::default();
        let config = ClipVisionConfig::new()
            .with_hidden_size(4)
            .with_num_attention_heads(1)
            .with_image_size(4)
            .with_patch_size(2);
        let mut embeddings = ClipVisionEmbeddings::new(&config, &device);
        // A patch embedding that sums the red channel of a patch, into every hidden unit.
        let mut weight = vec![0.0f32; 4 * 3 * 2 * 2];
        for out in 0..4 {
            for tap in 0..4 {
                weight[out * 12 + tap] = 1.0;
            }
        }
        embeddings.patch_embedding.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [4, 3, 2, 2]),
            &device,
        ));
        embeddings.class_embedding = Param::from_tensor(Tensor::full([4], -1.0, &device));
        embeddings.position_embedding = Param::from_tensor(Tensor::zeros([5, 4], &device));
        // Red channel: 1 in the top-left patch, 2 top-right, 3 bottom-left, 4 bottom-right.
        let mut pixels = vec![0.0f32; 3 * 16];
        for y in 0..4 {
            for x in 0..4 {
                pixels[y * 4 + x] = (1 + (y / 2) * 2 + x / 2) as f32;
            }
        }
        let pixels = Tensor::from_data(TensorData::new(pixels, [1, 3, 4, 4]), &device);
        let out = embeddings.forward(pixels);
        assert_eq!(out.dims(), [1, 5, 4]);
        let first_unit: Vec<f32> = out
            .slice([0..1, 0..5, 0..1])
            .into_data()
            .try_to_vec()
            .expect("f32 data");
        assert_eq!(first_unit, vec![-1.0, 4.0, 8.0, 12.0, 16.0]);
    }
}
