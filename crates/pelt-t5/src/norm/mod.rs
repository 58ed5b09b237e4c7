//! T5's layer norm: RMS scaling without centring and without bias, as one backend operation
//! with its own backward (docs/design.md, "Fused softmax and RMS norm").
//!
//! Under autodiff Burn would record the norm as seven operations (square, mean, add, square
//! root, reciprocal and two products) whose backward builds full-size temporaries, about 5 %
//! of a t5-small training step. [`RmsNormOps`] makes it one recorded operation: row-parallel
//! kernels on the CPU, Burn's own operations in the same order elsewhere. Either way values and
//! gradients are those of Burn's composition bit for bit, down to the order in which the input's
//! gradient parts are added (see [`RmsNormOps::rms_norm_backward`]).

mod autodiff;
#[cfg(feature = "flex")]
mod flex;

use burn::backend::{
    Backend, Dispatch, ExtensionType, TensorMetadata, backend_extension, tensor::FloatTensor,
};
use burn::module::Param;
use burn::prelude::*;

/// The row statistics of the norm's input `x: [..., d]` that its backward needs, each
/// `[..., 1]`.
#[derive(ExtensionType, Debug, Clone)]
pub struct RmsStats<B: Backend> {
    /// `r = 1/sd`, the factor each row is scaled by.
    pub r: FloatTensor<B>,
    /// `sd = sqrt(v2)`.
    pub sd: FloatTensor<B>,
    /// `v2 = mean(x²) + eps`.
    pub v2: FloatTensor<B>,
}

/// A forward pass of the norm that keeps what the backward needs.
#[derive(ExtensionType)]
pub struct RmsNormSaved<B: Backend> {
    /// The norm, `[..., d]`.
    pub y: FloatTensor<B>,
    /// The statistics of the input's rows.
    #[extension_type]
    pub stats: RmsStats<B>,
}

/// The RMS norm `w · x / sqrt(mean(x²) + eps)` over the last axis, and its backward.
///
/// `x: [..., d]` and `w: [d]`; the row statistics ([`RmsStats`]) are `[..., 1]`. The default
/// bodies compose the backend's own operations.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    Cube: cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda")),
    Autodiff,
)]
pub trait RmsNormOps: Backend {
    /// The norm, outside autodiff. Returns `[..., d]`.
    fn rms_norm(x: FloatTensor<Self>, w: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        let square = Self::float_powi_scalar(x.clone(), 2.into());
        composed::forward::<Self>(x, square, w, eps).y
    }

    /// The norm `[..., d]` and the statistics its gradient needs.
    fn rms_norm_saved(x: FloatTensor<Self>, w: FloatTensor<Self>, eps: f64) -> RmsNormSaved<Self> {
        composed::saved::<Self>(x, w, eps)
    }

    /// `(a, t)`, the parts of `x`'s gradient for the upstream gradient `g: [..., d]`, in the
    /// order Burn's autodiff adds them to `x`'s gradient: `a = (g·w)·r` (through `x·r`), then
    /// `t = (1/d)·∂L/∂v2·x` twice (through `x·x`, once per operand). Both `[..., d]`.
    fn rms_norm_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        #[extension_type] stats: RmsStats<Self>,
        g: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::backward::<Self>(x, w, stats, g)
    }
}

#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
impl RmsNormOps for burn::backend::Cube {}

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
        let y = <Dispatch as RmsNormOps>::rms_norm(
            x.into_dispatch(),
            self.weight.val().into_dispatch(),
            self.eps,
        );
        Tensor::from_dispatch(y)
    }
}

/// The norm as `T5LayerNorm` composed it from Burn's operations, and the backward Burn's
/// autodiff ran through that composition, operation for operation.
mod composed {
    use super::*;

    /// `w: [d]` as `[1, ..., 1, d]`, to broadcast against `x`.
    fn broadcast_weight<B: Backend>(x: &FloatTensor<B>, w: FloatTensor<B>) -> FloatTensor<B> {
        let mut dims = vec![1; x.shape().num_dims()];
        if let (Some(last), Some(&d)) = (dims.last_mut(), w.shape().last()) {
            *last = d;
        }
        B::float_reshape(w, Shape::from(dims))
    }

    /// The norm of `x: [..., d]` given its elements' squares `square: [..., d]`.
    pub(super) fn forward<B: Backend>(
        x: FloatTensor<B>,
        square: FloatTensor<B>,
        w: FloatTensor<B>,
        eps: f64,
    ) -> RmsNormSaved<B> {
        let dim = x.shape().num_dims() - 1;
        let v2 = B::float_add_scalar(B::float_mean_dim(square, dim), eps.into());
        let sd = B::float_sqrt(v2.clone());
        let r = B::float_recip(sd.clone());
        let w = broadcast_weight::<B>(&x, w);
        let y = B::float_mul(B::float_mul(x, r.clone()), w);
        RmsNormSaved {
            y,
            stats: RmsStats { r, sd, v2 },
        }
    }

    /// The forward as autodiff composed it, squaring by a product (`Autodiff`'s `powi(2)`).
    pub(super) fn saved<B: Backend>(
        x: FloatTensor<B>,
        w: FloatTensor<B>,
        eps: f64,
    ) -> RmsNormSaved<B> {
        let square = B::float_mul(x.clone(), x.clone());
        forward::<B>(x, square, w, eps)
    }

    /// The parts `(a, t)` of `x`'s gradient, as [`RmsNormOps::rms_norm_backward`] documents.
    pub(super) fn backward<B: Backend>(
        x: FloatTensor<B>,
        w: FloatTensor<B>,
        RmsStats { r, sd, v2 }: RmsStats<B>,
        g: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>) {
        let shape = x.shape();
        let dim = shape.num_dims() - 1;
        let w = broadcast_weight::<B>(&x, w);
        let g_normed = B::float_mul(g, w);
        let a = B::float_mul(g_normed.clone(), r);
        let g_r = B::float_sum_dim(B::float_mul(g_normed, x.clone()), dim);
        let recip_back = B::float_neg(B::float_powi_scalar(sd, (-2).into()));
        let g_sd = B::float_mul(g_r, recip_back);
        let sqrt_back = B::float_div_scalar(B::float_powf_scalar(v2, (-0.5).into()), 2f32.into());
        let g_v2 = B::float_sum_dim(B::float_mul(g_sd, sqrt_back), dim);
        let inv_d = 1_f64 / shape[dim] as f64;
        let mean_back = B::float_mul_scalar(
            B::float_ones(shape, &x.device(), x.dtype().into()),
            inv_d.into(),
        );
        let t = B::float_mul(B::float_mul(mean_back, g_v2), x);
        (a, t)
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
