//! Visual tokens: CLIP patch features projected into T5's input space (docs/method.md §5).

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use pelt_t5::T5LayerNorm;

use crate::config::VisualConfig;

/// `T5LayerNorm(Linear(d_clip -> d_model)(features))`, plus an image-order embedding when
/// examples hold several images.
#[derive(Module, Debug)]
pub struct VisualProjection {
    /// `d_clip -> d_model`.
    pub proj: Linear,
    /// T5 layer norm after the projection.
    pub norm: T5LayerNorm,
    /// Image-order embedding `[max_images, d_model]`, N(0, init_std²), when `max_images > 1`.
    pub image_order: Option<Param<Tensor<2>>>,
}

impl VisualProjection {
    /// A fresh projection into a T5 of width `d_model`.
    pub fn new(
        config: &VisualConfig,
        d_model: usize,
        eps: f64,
        init_std: f64,
        device: &Device,
    ) -> Self {
        Self {
            proj: LinearConfig::new(config.clip_dim, d_model).init(device),
            norm: T5LayerNorm::new(d_model, eps, device),
            image_order: (config.max_images > 1).then(|| {
                Param::from_tensor(Tensor::random(
                    [config.max_images, d_model],
                    Distribution::Normal(0.0, init_std),
                    device,
                ))
            }),
        }
    }

    /// `features: [batch, images, patches, d_clip]` to visual tokens
    /// `[batch, images·patches, d_model]`, image by image.
    pub fn forward(&self, features: Tensor<4>) -> Tensor<3> {
        let [batch, images, patches, _] = features.dims();
        let mut tokens = self.norm.forward(self.proj.forward(features));
        if let Some(order) = &self.image_order {
            let [_, d_model] = order.dims();
            let order = order
                .val()
                .narrow(0, 0, images)
                .reshape([1, images, 1, d_model]);
            tokens = tokens + order;
        }
        let [_, _, _, d_model] = tokens.dims();
        tokens.reshape([batch, images * patches, d_model])
    }
}
