//! The CPU kernels: one pass per row, rows split over rayon's threads.
//!
//! Each kernel performs Burn's operations (see `composed` in the parent module) element by
//! element in the same order and sums a row with burn-flex's own SIMD sum, so its values are
//! the composition's bit for bit; `tests/softmax.rs` checks that. Softmax outside autodiff is
//! burn-flex's own fused kernel (the trait's default), which these do not replace.

use burn::backend::Flex;
use burn::backend::flex::simd::kernels::{max_f32, sum_f32};
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{SoftmaxOps, composed};
use crate::rows::{for_rows, owned, row_length, row_shape, tensor};

impl SoftmaxOps for Flex {
    fn softmax_last_saved(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(n) = row_length(&x) else {
            return composed::softmax_saved::<Self>(x);
        };
        let shape = x.layout().shape().clone();
        let mut e = owned(x);
        let data = e.storage_mut::<f32>();
        let mut y = vec![0.0f32; data.len()];
        let mut s = vec![0.0f32; data.len() / n];
        let rows = data
            .par_chunks_mut(n)
            .zip(y.par_chunks_mut(n))
            .zip(s.par_iter_mut());
        for_rows(n, rows, |_, ((e, y), s)| {
            *s = exp_shifted(e);
            y.iter_mut().zip(e.iter()).for_each(|(y, &e)| *y = e / *s);
        });
        let y = tensor(y, shape.clone());
        (y, e, tensor(s, row_shape(shape)))
    }

    fn softmax_last_backward(
        e: FloatTensor<Self>,
        s: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (Some(n), DType::F32, DType::F32) = (row_length(&g), e.dtype(), s.dtype()) else {
            return composed::softmax_backward::<Self>(e, s, g);
        };
        let (e, s) = (owned(e), owned(s));
        let (e, s) = (e.storage::<f32>(), s.storage::<f32>());
        let mut g = owned(g);
        let data = g.storage_mut::<f32>();
        let rows = data
            .par_chunks_mut(n)
            .zip(e.par_chunks(n))
            .zip(s.par_iter());
        for_rows(n, rows, |scratch, ((g, e), &s)| {
            let (r, s2) = (1.0 / s, s * s);
            scratch.clear();
            scratch.extend(g.iter().zip(e).map(|(&g, &e)| g * (-e / s2)));
            let through_sum = sum_f32(scratch);
            g.iter_mut()
                .zip(e)
                .for_each(|(g, &e)| *g = (*g * r + through_sum) * e);
        });
        g
    }

    fn log_softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let Some(n) = row_length(&x) else {
            return composed::log_softmax_saved::<Self>(x).0;
        };
        let mut x = owned(x);
        let data = x.storage_mut::<f32>();
        for_rows(n, data.par_chunks_mut(n), |ex, row| {
            log_softmax_row(row, ex);
        });
        x
    }

    fn log_softmax_last_saved(
        x: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Some(n) = row_length(&x) else {
            return composed::log_softmax_saved::<Self>(x);
        };
        let shape = x.layout().shape().clone();
        let mut y = owned(x);
        let data = y.storage_mut::<f32>();
        let mut ex = vec![0.0f32; data.len()];
        let mut se = vec![0.0f32; data.len() / n];
        let rows = data
            .par_chunks_mut(n)
            .zip(ex.par_chunks_mut(n))
            .zip(se.par_iter_mut());
        for_rows(n, rows, |_, ((y, ex), se)| {
            *se = log_softmax_into(y, ex);
        });
        let ex = tensor(ex, shape.clone());
        (y, ex, tensor(se, row_shape(shape)))
    }

    fn log_softmax_last_backward(
        ex: FloatTensor<Self>,
        se: FloatTensor<Self>,
        g: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (Some(n), DType::F32, DType::F32) = (row_length(&g), ex.dtype(), se.dtype()) else {
            return composed::log_softmax_backward::<Self>(ex, se, g);
        };
        let (ex, se) = (owned(ex), owned(se));
        let (ex, se) = (ex.storage::<f32>(), se.storage::<f32>());
        let mut g = owned(g);
        let data = g.storage_mut::<f32>();
        let rows = data
            .par_chunks_mut(n)
            .zip(ex.par_chunks(n))
            .zip(se.par_iter());
        for_rows(n, rows, |scratch, ((g, ex), &se)| {
            scratch.clear();
            scratch.extend(g.iter().map(|&g| -g));
            let scale = sum_f32(scratch) * (1.0 / se);
            g.iter_mut().zip(ex).for_each(|(g, &ex)| *g += scale * ex);
        });
        g
    }
}

/// Replaces `row` by `exp(row − max row)` and returns its sum.
fn exp_shifted(row: &mut [f32]) -> f32 {
    let max = max_f32(row);
    row.iter_mut().for_each(|v| *v = (*v - max).exp());
    sum_f32(row)
}

/// Writes `exp(row − max row)` to `ex`, replaces `row` by its log-softmax and returns `Σ ex`.
fn log_softmax_into(row: &mut [f32], ex: &mut [f32]) -> f32 {
    let max = max_f32(row);
    ex.iter_mut()
        .zip(row.iter())
        .for_each(|(ex, &x)| *ex = (x - max).exp());
    let se = sum_f32(ex);
    let log_se = se.ln();
    row.iter_mut().for_each(|v| *v = (*v - max) - log_se);
    se
}

/// [`log_softmax_into`] with `scratch` (resized to the row) for `ex`.
fn log_softmax_row(row: &mut [f32], scratch: &mut Vec<f32>) {
    scratch.resize(row.len(), 0.0);
    log_softmax_into(row, scratch);
}
