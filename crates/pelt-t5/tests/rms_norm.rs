//! `T5LayerNorm`, one fused operation (`pelt_t5::RmsNormOps`), against the composition of
//! Burn operations it replaced, forward and gradients, bit for bit (docs/design.md, "Fused
//! softmax and RMS norm"). The input also feeds a later operation, as the residual stream does
//! in T5, so that its gradient is a sum whose order matters. On the CPU f32 tensors take its
//! kernels and f64 tensors the composed fallback; `cargo xtask gpu-check --wgpu` runs the same
//! checks on wgpu, where every tensor takes the fallback.

#![allow(clippy::unwrap_used)]

mod common;

use common::{bits, float_dtypes};

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::{DType, Distribution};
use pelt_t5::T5LayerNorm;

const EPS: f64 = 1e-6;

/// Rows shorter than one SIMD pass, rows with a tail, a tensor split over threads, a batch of
/// one (whose axis the weight's gradient does not sum over) and a 2-D input.
const SHAPES: [&[usize]; 5] = [
    &[2, 5, 7],
    &[3, 4, 300],
    &[8, 16, 512],
    &[1, 6, 33],
    &[5, 64],
];

/// The norm as `T5LayerNorm::forward` composed it before it was fused.
fn composition(x: Tensor<3>, w: Tensor<1>) -> Tensor<3> {
    let variance = x.clone().powi_scalar(2).mean_dim(2);
    let normed = x * (variance + EPS).sqrt().recip();
    let [d] = w.dims();
    normed * w.reshape([1, 1, d])
}

fn fused(x: Tensor<3>, w: Tensor<1>) -> Tensor<3> {
    let norm = T5LayerNorm {
        weight: Param::from_tensor(w),
        eps: EPS,
    };
    norm.forward(x)
}

/// `x: shape` (a 2-D shape gets a leading axis of 1, so `D` stays 3) with a zero row, and a
/// weight around 1.
fn operands(shape: &[usize], dtype: DType, device: &Device) -> (Tensor<3>, Tensor<1>) {
    let dims: [usize; 3] = match *shape {
        [a, b, c] => [a, b, c],
        [b, c] => [1, b, c],
        _ => unreachable!(),
    };
    let x = Tensor::<3>::random(dims, Distribution::Normal(0.0, 2.0), device);
    let x = x.slice_assign(
        [0..1, 0..1, 0..dims[2]],
        Tensor::zeros([1, 1, dims[2]], device),
    );
    let w = Tensor::<1>::random([dims[2]], Distribution::Uniform(0.5, 1.5), device);
    (x.cast(dtype), w.cast(dtype))
}

#[test]
fn forward_matches_the_composition_bit_for_bit() {
    for (autodiff, dtype) in float_dtypes()
        .into_iter()
        .flat_map(|d| [(false, d), (true, d)])
    {
        let device = if autodiff {
            Device::default().autodiff()
        } else {
            Device::default()
        };
        for shape in SHAPES {
            let (x, w) = operands(shape, dtype, &device);
            let (x, w) = if autodiff {
                (x.require_grad(), w.require_grad())
            } else {
                (x, w)
            };
            let want = bits(composition(x.clone(), w.clone()));
            let before = bits(x.clone());
            assert_eq!(
                bits(fused(x.clone(), w.clone())),
                want,
                "{shape:?} {dtype:?} autodiff {autodiff}"
            );
            assert_eq!(bits(x), before, "{shape:?}: input overwritten");
        }
    }
}

#[test]
fn gradients_match_the_composition_bit_for_bit() {
    let device = Device::default().autodiff();
    for dtype in float_dtypes() {
        for shape in SHAPES {
            // Which of input and weight are trained: both, the input only, the weight only.
            for (x_grad, w_grad) in [(true, true), (true, false), (false, true)] {
                let (x, w) = operands(shape, dtype, &device);
                let dims = x.dims();
                let g = Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), &device);
                let h = Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), &device);
                let (g, h) = (g.cast(dtype), h.cast(dtype));
                let grads = |norm: fn(Tensor<3>, Tensor<1>) -> Tensor<3>| {
                    let x = if x_grad {
                        x.clone().require_grad()
                    } else {
                        x.clone()
                    };
                    let w = if w_grad {
                        w.clone().require_grad()
                    } else {
                        w.clone()
                    };
                    // `x · h` is recorded after the norm, so its gradient reaches `x` first,
                    // as a residual connection's does.
                    let loss = (norm(x.clone(), w.clone()) * g.clone()).sum()
                        + (x.clone() * h.clone()).sum();
                    let grads = loss.backward();
                    (x.grad(&grads).map(bits), w.grad(&grads).map(bits))
                };
                let (x_want, w_want) = grads(composition);
                let (x_got, w_got) = grads(fused);
                let case = format!("{shape:?} {dtype:?} x {x_grad} w {w_grad}");
                assert_eq!(x_got.is_some(), x_grad, "{case}");
                assert_eq!(w_got.is_some(), w_grad, "{case}");
                assert_eq!(x_got, x_want, "{case}: input gradient");
                assert_eq!(w_got, w_want, "{case}: weight gradient");
            }
        }
    }
}
