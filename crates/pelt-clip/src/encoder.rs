//! `CLIPMLP`, `CLIPEncoderLayer` and `CLIPEncoder`: the pre-norm transformer stack.

use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{gelu, sigmoid};

use crate::attention::ClipAttention;
use crate::config::{ClipVisionConfig, HiddenAct};

impl HiddenAct {
    /// Applies the activation element-wise (any shape).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::QuickGelu => x.clone() * sigmoid(x.mul_scalar(1.702)),
            Self::Gelu => gelu(x),
        }
    }
}

/// `fc1 -> activation -> fc2`.
#[derive(Module, Debug)]
pub struct ClipMlp {
    /// `hidden -> intermediate`.
    pub fc1: Linear,
    /// `intermediate -> hidden`.
    pub fc2: Linear,
    /// Activation between them.
    #[module(skip)]
    pub activation: HiddenAct,
}

impl ClipMlp {
    /// Maps `x: [batch, seq, hidden]` to `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_batch, _seq, _hidden] = x.dims();
        self.fc2
            .forward(self.activation.forward(self.fc1.forward(x)))
    }
}

/// One pre-norm layer: `x + attn(ln1(x))`, then `x + mlp(ln2(x))`.
#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    /// Self-attention.
    pub self_attn: ClipAttention,
    /// Norm before the attention.
    pub layer_norm1: LayerNorm,
    /// Feed-forward block.
    pub mlp: ClipMlp,
    /// Norm before the MLP.
    pub layer_norm2: LayerNorm,
}

impl ClipEncoderLayer {
    /// Randomly initialised layer of the configured sizes.
    pub fn new(config: &ClipVisionConfig, device: &Device) -> Self {
        let norm = || {
            LayerNormConfig::new(config.hidden_size)
                .with_epsilon(config.layer_norm_eps)
                .init(device)
        };
        let hidden = config.hidden_size;
        Self {
            self_attn: ClipAttention::new(hidden, config.num_attention_heads, device),
            layer_norm1: norm(),
            mlp: ClipMlp {
                fc1: LinearConfig::new(hidden, config.intermediate_size).init(device),
                fc2: LinearConfig::new(config.intermediate_size, hidden).init(device),
                activation: config.hidden_act,
            },
            layer_norm2: norm(),
        }
    }

    /// Maps `x: [batch, seq, hidden]` to `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_batch, _seq, _hidden] = x.dims();
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x));
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

/// The stack of encoder layers.
#[derive(Module, Debug)]
pub struct ClipEncoder {
    /// Layers, applied in order.
    pub layers: Vec<ClipEncoderLayer>,
}

impl ClipEncoder {
    /// Randomly initialised stack of `num_hidden_layers` layers.
    pub fn new(config: &ClipVisionConfig, device: &Device) -> Self {
        Self {
            layers: (0..config.num_hidden_layers)
                .map(|_| ClipEncoderLayer::new(config, device))
                .collect(),
        }
    }

    /// Maps `x: [batch, seq, hidden]` to the last layer's output `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_batch, _seq, _hidden] = x.dims();
        self.layers.iter().fold(x, |x, layer| layer.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_their_formulas() {
        let device = Device::default();
        let points = [-3.0f32, -1.0, -0.25, 0.0, 0.5, 2.0];
        let x = Tensor::<1>::from_data(TensorData::new(points.to_vec(), [6]), &device);
        let quick: Vec<f32> = HiddenAct::QuickGelu
            .forward(x.clone())
            .into_data()
            .try_to_vec()
            .expect("f32 data");
        let exact: Vec<f32> = HiddenAct::Gelu
            .forward(x)
            .into_data()
            .try_to_vec()
            .expect("f32 data");
        // Reference values: x·σ(1.702x), and x·Φ(x) from a table of the normal CDF.
        let phi = [
            0.001_349_9,
            0.158_655_3,
            0.401_293_7,
            0.5,
            0.691_462_5,
            0.977_249_9,
        ];
        for (i, &p) in points.iter().enumerate() {
            let p = p as f64;
            let q = p / (1.0 + (-1.702 * p).exp());
            assert!((quick[i] as f64 - q).abs() < 1e-6, "quick_gelu({p})");
            assert!((exact[i] as f64 - p * phi[i]).abs() < 1e-5, "gelu({p})");
        }
    }

    #[test]
    fn zero_sublayers_leave_the_residual_stream_unchanged() {
        // With zero output projections both sub-layers add nothing: the layer is the identity.
        let device = Device::default();
        let config = ClipVisionConfig::new()
            .with_hidden_size(8)
            .with_intermediate_size(12)
            .with_num_attention_heads(2);
        let mut layer = ClipEncoderLayer::new(&config, &device);
        for linear in [&mut layer.self_attn.out_proj, &mut layer.mlp.fc2] {
            linear.weight = burn::module::Param::from_tensor(linear.weight.val().zeros_like());
            linear.bias = None;
        }
        let x = Tensor::<3>::random([2, 5, 8], burn::tensor::Distribution::Default, &device);
        let diff: f32 = (layer.forward(x.clone()) - x).abs().max().into_scalar();
        assert_eq!(diff, 0.0);
    }
}
