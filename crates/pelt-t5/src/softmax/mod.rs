//! Softmax and log-softmax over the last axis as single operations with their own backward
//! (docs/design.md, "Fused softmax and RMS norm").
//!
//! Under autodiff Burn composes both from element-wise operations and reductions and records
//! each of them, so a training step spent about 12 % of its time in attention's softmax and the
//! loss's log-softmax. Here each is one recorded operation whose backward is one more: on the
//! CPU ([`Flex`](burn::backend::Flex)) one pass per row each way; on other backends Burn's own
//! operations in the same order. Either way the values are those of Burn's composition bit for
//! bit: the kernels evaluate `y·(g − Σ g·y)` in the order Burn's autodiff does (see
//! [`SoftmaxOps`]), so a run gives the same numbers as before the operation was fused. Outside
//! autodiff, softmax is the backend's own (burn-flex already fuses it) and log-softmax is the
//! CPU kernel or the backend's own.

mod autodiff;
#[cfg(feature = "flex")]
mod flex;

use burn::backend::Dispatch;
use burn::backend::{Backend, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::prelude::*;

/// Softmax and log-softmax over the last axis, each with the backward that autodiff calls.
///
/// Every method takes and returns `[..., n]` tensors over the same leading axes; `s` and `se`
/// are the row sums, `[..., 1]`. The default bodies compose the backend's own operations.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    Cube: cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda")),
    Autodiff,
)]
pub trait SoftmaxOps: Backend {
    /// `y = softmax(x)` over the last axis, outside autodiff: the backend's own `softmax`.
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let dim = x.shape().num_dims() - 1;
        Self::softmax(x, dim)
    }

    /// `(y, e, s)`: the softmax, `e = exp(x − max x)` and `s = Σ e`, which its gradient needs.
    fn softmax_last_saved(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::softmax_saved::<Self>(x)
    }

    /// The gradient `y·(g − Σ g·y)`, evaluated as Burn's autodiff evaluates its composition:
    /// `(g·(1/s) + Σ g·(−e/s²))·e`.
    fn softmax_last_backward(
        e: FloatTensor<Self>,
        s: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::softmax_backward::<Self>(e, s, g)
    }

    /// `y = log_softmax(x)` over the last axis, outside autodiff: the backend's own
    /// `log_softmax`.
    fn log_softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let dim = x.shape().num_dims() - 1;
        Self::log_softmax(x, dim)
    }

    /// `(y, ex, se)`: the log-softmax, `ex = exp(x − max x)` and `se = Σ ex`.
    fn log_softmax_last_saved(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        composed::log_softmax_saved::<Self>(x)
    }

    /// The gradient `g − exp(y)·Σ g`, evaluated as Burn's autodiff evaluates its composition:
    /// `g + (Σ(−g)·(1/se))·ex`.
    fn log_softmax_last_backward(
        ex: FloatTensor<Self>,
        se: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::log_softmax_backward::<Self>(ex, se, g)
    }
}

#[cfg(any(feature = "wgpu", feature = "vulkan", feature = "cuda"))]
impl SoftmaxOps for burn::backend::Cube {}

/// Softmax over the last axis. `x: [..., n]` → `[..., n]`.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SoftmaxOps>::softmax_last(x.into_dispatch()))
}

/// Log-softmax over the last axis. `x: [..., n]` → `[..., n]`.
pub fn log_softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SoftmaxOps>::log_softmax_last(
        x.into_dispatch(),
    ))
}

/// The operations as Burn's `softmax` and `log_softmax` and their autodiff backward compose them,
/// in the same order, so that a backend without its own kernel gives the same values.
mod composed {
    use super::*;

    fn last<B: Backend>(x: &FloatTensor<B>) -> usize {
        x.shape().num_dims() - 1
    }

    pub(super) fn softmax_saved<B: Backend>(
        x: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let dim = last::<B>(&x);
        let max = B::float_max_dim(x.clone(), dim);
        let e = B::float_exp(B::float_sub(x, max));
        let s = B::float_sum_dim(e.clone(), dim);
        (B::float_div(e.clone(), s.clone()), e, s)
    }

    pub(super) fn softmax_backward<B: Backend>(
        e: FloatTensor<B>,
        s: FloatTensor<B>,
        g: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let dim = last::<B>(&e);
        let direct = B::float_mul(g.clone(), B::float_recip(s.clone()));
        let through_sum = B::float_div(B::float_neg(e.clone()), B::float_mul(s.clone(), s));
        let through_sum = B::float_sum_dim(B::float_mul(g, through_sum), dim);
        B::float_mul(B::float_add(direct, through_sum), e)
    }

    pub(super) fn log_softmax_saved<B: Backend>(
        x: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let dim = last::<B>(&x);
        let max = B::float_max_dim(x.clone(), dim);
        let shifted = B::float_sub(x, max);
        let ex = B::float_exp(shifted.clone());
        let se = B::float_sum_dim(ex.clone(), dim);
        (B::float_sub(shifted, B::float_log(se.clone())), ex, se)
    }

    pub(super) fn log_softmax_backward<B: Backend>(
        ex: FloatTensor<B>,
        se: FloatTensor<B>,
        g: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let dim = last::<B>(&ex);
        let total = B::float_sum_dim(B::float_neg(g.clone()), dim);
        let scale = B::float_mul(total, B::float_recip(se));
        B::float_add(g, B::float_mul(scale, ex))
    }
}
