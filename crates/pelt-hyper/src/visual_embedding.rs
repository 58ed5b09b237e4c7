//! The visual hyper-embedding: an image's pooled CLIP features through an MLP, with the
//! projector of the visual path (docs/method.md §3, §5).

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::projector::Projector;

/// The visual hyper-embedding: `v = MLP(mean of the CLIP patch features)`, and its own
/// projector.
#[derive(Module, Debug)]
pub struct VisualHyper {
    /// `d_clip -> projector_hidden_dim`, then ReLU.
    pub mlp_hidden: Linear,
    /// `projector_hidden_dim -> d_e`.
    pub mlp_out: Linear,
    /// Projector of `concat[v, layer, block]`.
    pub projector: Projector,
}

impl VisualHyper {
    /// `features: [batch, images, patches, d_clip]` to `v: [batch, d_e]`.
    pub fn embed(&self, features: Tensor<4>) -> Tensor<2> {
        let [batch, images, patches, d_clip] = features.dims();
        let pooled = features
            .reshape([batch, images * patches, d_clip])
            .mean_dim(1)
            .reshape([batch, d_clip]);
        self.mlp_out.forward(relu(self.mlp_hidden.forward(pooled)))
    }
}
