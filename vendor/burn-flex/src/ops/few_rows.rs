//! Products of a few rows by a transposed right operand (hyperpelt-rs patch; see
//! `vendor/README.md` in hyperpelt-rs).
//!
//! `x · Wᵀ` with `x: [m, k]` for small `m` and `W: [n, k]` stored row by row (a tied output
//! layer `hidden · embeddingᵀ` in incremental decoding, `m` = batch × beams) reaches `gemm`
//! with a right operand whose rows are strided; `gemm` packs all `n × k` of it at every call,
//! which for a few rows costs several times the product itself. Here every row of `W` is read
//! once, contiguously, and its dot product with each row of `x` is taken in SIMD lanes.

use burn_backend::DType;
use burn_std::{Bytes, Shape};
use macerator::{Scalar, Simd, Vector, vload_unaligned};

use crate::FlexTensor;
use crate::layout::Layout;

/// Most left-hand rows this path takes; with more, packing pays for itself in `gemm`.
const MAX_ROWS: usize = 16;
/// Least `n · k` (elements of the right operand) for this path; smaller operands pack cheaply.
const MIN_OPERAND: usize = 1 << 18;

/// `lhs: [m, k]` (rows contiguous) times `rhs: [k, n]` stored as `[n, k]` rows (`rhs` is a
/// transposed view), f32, for `m <= MAX_ROWS` and at least `MIN_OPERAND` elements of `rhs`:
/// the product `[m, n]`, or `None` when the operands are not of that form.
pub(crate) fn product_f32(lhs: &FlexTensor, rhs: &FlexTensor) -> Option<FlexTensor> {
    let (m, k, lhs_rows) = rows(lhs.layout(), false)?;
    let (n, rhs_k, rhs_rows) = rows(rhs.layout(), true)?;
    if m == 0 || m > MAX_ROWS || rhs_k != k || k == 0 || n.saturating_mul(k) < MIN_OPERAND {
        return None;
    }
    let lhs_data: &[f32] = lhs.storage();
    let rhs_data: &[f32] = rhs.storage();
    let lhs_row = |i: usize| &lhs_data[lhs_rows.0 + i * lhs_rows.1..][..k];
    let rhs_row = |j: usize| &rhs_data[rhs_rows.0 + j * rhs_rows.1..][..k];

    // Column-major result (`[n, m]`): each rayon chunk owns whole rows of `W`.
    let mut by_column = alloc::vec![0f32; n * m];
    let fill = |first: usize, out: &mut [f32]| {
        dots(&lhs_row, m, &|j| rhs_row(first + j), out.len() / m, out)
    };
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        let chunk = n.div_ceil(4 * rayon::current_num_threads()).max(1);
        by_column
            .par_chunks_mut(chunk * m)
            .enumerate()
            .for_each(|(c, out)| fill(c * chunk, out));
    }
    #[cfg(not(feature = "rayon"))]
    fill(0, &mut by_column);

    let mut out = alloc::vec![0f32; m * n];
    for (j, column) in by_column.chunks_exact(m).enumerate() {
        for (i, &value) in column.iter().enumerate() {
            out[i * n + j] = value;
        }
    }
    Some(FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(Shape::from(alloc::vec![m, n])),
        DType::F32,
    ))
}

/// `(rows, row length, (offset, row stride))` of a 2-D layout read as rows of contiguous
/// elements: its own rows, or with `transposed` its columns (a transposed view's rows).
fn rows(layout: &Layout, transposed: bool) -> Option<(usize, usize, (usize, usize))> {
    let shape = layout.shape();
    if shape.num_dims() != 2 {
        return None;
    }
    let strides = layout.strides();
    let (outer, inner) = if transposed { (1, 0) } else { (0, 1) };
    if strides[inner] != 1 || strides[outer] < shape[inner] as isize {
        return None;
    }
    Some((
        shape[outer],
        shape[inner],
        (layout.start_offset(), strides[outer] as usize),
    ))
}

/// `out[j * m + i] = lhs(i) · rhs(j)` for `i < m`, `j < n`, in blocks of four left rows by
/// two right rows.
#[macerator::with_simd]
fn dots<'a, S: Simd>(
    lhs: &dyn Fn(usize) -> &'a [f32],
    m: usize,
    rhs: &dyn Fn(usize) -> &'a [f32],
    n: usize,
    out: &mut [f32],
) {
    let mut j = 0;
    while j + 2 <= n {
        let pair = [rhs(j), rhs(j + 1)];
        let mut i = 0;
        while i + 4 <= m {
            let sums = block::<S, 4, 2>([lhs(i), lhs(i + 1), lhs(i + 2), lhs(i + 3)], pair);
            for (a, row) in sums.iter().enumerate() {
                out[j * m + i + a] = row[0];
                out[(j + 1) * m + i + a] = row[1];
            }
            i += 4;
        }
        for i in i..m {
            let [[first, second]] = block::<S, 1, 2>([lhs(i)], pair);
            out[j * m + i] = first;
            out[(j + 1) * m + i] = second;
        }
        j += 2;
    }
    if j < n {
        for i in 0..m {
            out[j * m + i] = block::<S, 1, 1>([lhs(i)], [rhs(j)])[0][0];
        }
    }
}

/// The `I × J` dot products of `lhs` rows with `rhs` rows (all of one length), with `I · J`
/// vector accumulators so that every load feeds several multiply-adds.
#[inline(always)]
fn block<S: Simd, const I: usize, const J: usize>(
    lhs: [&[f32]; I],
    rhs: [&[f32]; J],
) -> [[f32; J]; I] {
    let lanes = f32::lanes::<S>();
    let k = rhs[0].len();
    let zero: Vector<S, f32> = 0f32.splat::<S>();
    let mut acc = [[zero; J]; I];
    let mut t = 0;
    while t + lanes <= k {
        // SAFETY: `t + lanes <= k` and every row holds `k` elements.
        let r: [Vector<S, f32>; J] =
            core::array::from_fn(|b| unsafe { vload_unaligned(rhs[b].as_ptr().add(t)) });
        for a in 0..I {
            // SAFETY: as above.
            let l: Vector<S, f32> = unsafe { vload_unaligned(lhs[a].as_ptr().add(t)) };
            for b in 0..J {
                acc[a][b] = l.mul_add(r[b], acc[a][b]);
            }
        }
        t += lanes;
    }
    let mut sums = [[0f32; J]; I];
    for a in 0..I {
        for b in 0..J {
            let tail: f32 = (t..k).map(|u| lhs[a][u] * rhs[b][u]).sum();
            sums[a][b] = acc[a][b].reduce_add() + tail;
        }
    }
    sums
}
