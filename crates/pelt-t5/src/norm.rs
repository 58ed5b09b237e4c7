//! T5's layer norm: RMS scaling without centring and without bias.

use burn::module::Param;
use burn::prelude::*;

/// `weight * x / sqrt(mean(x^2) + eps)` over the last dimension (`T5LayerNorm`).
#[derive(Module, Debug)]
pub struct T5LayerNorm {
    /// Per-channel scale `[d_model]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square before the square root.
    pub eps: f64,
}

impl T5LayerNorm {
    /// A norm of width `d_model` with unit scale.
    pub fn new(d_model: usize, eps: f64, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d_model], device)),
            eps,
        }
    }

    /// `x: [..., d_model]` to the same shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let variance = x.clone().powi_scalar(2).mean_dim(D - 1);
        let normed = x * (variance + self.eps).sqrt().recip();
        let weight = self.weight.val();
        let [d_model] = weight.dims();
        let mut shape = [1; D];
        shape[D - 1] = d_model;
        normed * weight.reshape(shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_get_unit_root_mean_square() {
        let device = Device::default();
        let norm = T5LayerNorm::new(4, 1e-6, &device);
        let x = Tensor::<2>::from_floats([[1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 2.0]], &device);
        let y: Vec<f32> = norm
            .forward(x)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let rms0 = (30.0f32 / 4.0 + 1e-6).sqrt();
        assert!((y[0] - 1.0 / rms0).abs() < 1e-6);
        assert!((y[7] - 2.0 / (1.0f32 + 1e-6).sqrt()).abs() < 1e-6);
        assert_eq!(y[4], 0.0);
    }
}
