//! The CPU kernels: one pass per row each way, rows split over rayon's threads.
//!
//! Each performs the composition's operations (`composed` in the parent module) element by
//! element in the same order, with burn-flex's scalar conventions (`f64` scalars rounded to
//! `f32`) and its SIMD sum for the row sums, so values are the composition's bit for bit;
//! `tests/rms_norm.rs` checks that.

use burn::backend::Flex;
use burn::backend::flex::simd::kernels::sum_f32;
use burn::backend::tensor::FloatTensor;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{RmsNormOps, RmsNormSaved, RmsStats, composed};
use crate::rows::{for_rows, owned, row_length, row_shape, tensor};

/// The row statistics of `row`: `(r, sd, v2)` with `v2 = mean(row²) + eps`, `sd = sqrt(v2)` and
/// `r = 1/sd`, the mean a SIMD sum (of the squares, in `scratch`) divided by the length.
fn statistics(row: &[f32], eps: f32, scratch: &mut Vec<f32>) -> (f32, f32, f32) {
    scratch.clear();
    scratch.extend(row.iter().map(|&x| x * x));
    let v2 = sum_f32(scratch) / row.len() as f32 + eps;
    let sd = v2.sqrt();
    (1.0 / sd, sd, v2)
}

/// The row length `d` when `x` is f32 with rows of `d` and `w` an f32 vector of `d`; `None`
/// when the composition handles them.
fn operands(x: &FloatTensor<Flex>, w: &FloatTensor<Flex>) -> Option<usize> {
    let d = row_length(x)?;
    (w.dtype() == DType::F32 && w.layout().num_elements() == d).then_some(d)
}

impl RmsNormOps for Flex {
    fn rms_norm(x: FloatTensor<Self>, w: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        let Some(d) = operands(&x, &w) else {
            // burn-flex's `powi(2)` is this product, so the composition is the same.
            return composed::saved::<Self>(x, w, eps).y;
        };
        let w = owned(w);
        let w = w.storage::<f32>();
        let mut x = owned(x);
        let data = x.storage_mut::<f32>();
        for_rows(d, data.par_chunks_mut(d), |scratch, row| {
            let (r, _, _) = statistics(row, eps as f32, scratch);
            row.iter_mut().zip(w).for_each(|(x, &w)| *x = (*x * r) * w);
        });
        x
    }

    fn rms_norm_saved(x: FloatTensor<Self>, w: FloatTensor<Self>, eps: f64) -> RmsNormSaved<Self> {
        let Some(d) = operands(&x, &w) else {
            return composed::saved::<Self>(x, w, eps);
        };
        let shape = x.layout().shape().clone();
        let (x, w) = (owned(x), owned(w));
        let (x, w) = (x.storage::<f32>(), w.storage::<f32>());
        let rows = x.len() / d;
        let mut y = vec![0.0f32; x.len()];
        let mut stats = vec![(0.0f32, 0.0f32, 0.0f32); rows];
        let work = y
            .par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .zip(stats.par_iter_mut());
        for_rows(d, work, |scratch, ((y, x), stats)| {
            *stats = statistics(x, eps as f32, scratch);
            let r = stats.0;
            y.iter_mut()
                .zip(x.iter().zip(w))
                .for_each(|(y, (&x, &w))| *y = (x * r) * w);
        });
        let column = |pick: fn(&(f32, f32, f32)) -> f32| {
            tensor(stats.iter().map(pick).collect(), row_shape(shape.clone()))
        };
        let stats = RmsStats {
            r: column(|s| s.0),
            sd: column(|s| s.1),
            v2: column(|s| s.2),
        };
        RmsNormSaved {
            y: tensor(y, shape),
            stats,
        }
    }

    fn rms_norm_backward(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stats: RmsStats<Self>,
        g: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let all_f32 = [&g, &stats.r, &stats.sd, &stats.v2]
            .iter()
            .all(|t| t.dtype() == DType::F32);
        let (Some(d), true) = (operands(&x, &w), all_f32) else {
            return composed::backward::<Self>(x, w, stats, g);
        };
        let shape = x.layout().shape().clone();
        let RmsStats { r, sd, v2 } = stats;
        let (x, w, r, sd, v2) = (owned(x), owned(w), owned(r), owned(sd), owned(v2));
        let (x, w) = (x.storage::<f32>(), w.storage::<f32>());
        let (r, sd, v2) = (r.storage::<f32>(), sd.storage::<f32>(), v2.storage::<f32>());
        // The mean's backward multiplies by `1/d`, an f64 rounded to f32.
        let inv_d = (1.0 / d as f64) as f32;
        let mut a = owned(g);
        let a_data = a.storage_mut::<f32>();
        let mut t = vec![0.0f32; x.len()];
        let stats = r.par_iter().zip(sd.par_iter()).zip(v2.par_iter());
        let work = a_data
            .par_chunks_mut(d)
            .zip(t.par_chunks_mut(d))
            .zip(x.par_chunks(d))
            .zip(stats);
        for_rows(d, work, |scratch, (((g, t), x), ((&r, &sd), &v2))| {
            scratch.clear();
            scratch.extend(g.iter().zip(w).zip(x).map(|((&g, &w), &x)| (g * w) * x));
            let g_r = sum_f32(scratch);
            let g_sd = g_r * -(1.0 / (sd * sd));
            // `+ 0.0`: the mean's backward sums over the reduced axis (of length 1), which
            // turns a -0 into +0.
            let g_v2 = g_sd * (v2.powf(-0.5) / 2.0) + 0.0;
            let g_square = inv_d * g_v2;
            t.iter_mut().zip(x).for_each(|(t, &x)| *t = g_square * x);
            g.iter_mut().zip(w).for_each(|(g, &w)| *g = (*g * w) * r);
        });
        (a, tensor(t, shape))
    }
}
