//! Products of a few rows by a transposed right operand (`x · Wᵀ`, the tied output layer in
//! incremental decoding) take their own kernel in our burn-flex patch (`vendor/README.md`,
//! item 5) instead of `gemm`. These cases compare it, and `gemm` just past its row limit,
//! with plain Rust arithmetic: the inputs are small integers, so every sum is exact whatever
//! order the kernel adds in, and results must match bit for bit. The operand is large enough
//! (over 2^18 elements) for the kernel to take it, its rows are not a whole number of SIMD
//! vectors long, and both operands are also given as offset views.

#![allow(clippy::unwrap_used)]

use burn::prelude::*;
use burn::tensor::TensorData;

/// Values `((i * step) % 7) - 3`, exact in f32.
fn small_ints(len: usize, step: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * step) % 7) as f32 - 3.0).collect()
}

/// `x: [m, k]` (row stride `x_stride`, starting at `x_offset`) times `w: [n, k]` (row stride
/// `w_stride`, starting at `w_offset`) transposed, by the textbook loop.
fn reference(
    x: (&[f32], usize, usize),
    w: (&[f32], usize, usize),
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let ((x, x_offset, x_stride), (w, w_offset, w_stride)) = (x, w);
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).fold(0.0, |acc, p| {
                acc + x[x_offset + i * x_stride + p] * w[w_offset + j * w_stride + p]
            });
        }
    }
    out
}

#[test]
fn few_rows_by_a_transposed_operand_are_exact() {
    let device = Device::default();
    let (k, n) = (515, 521);
    for m in [1, 2, 3, 4, 5, 8, 13, 16, 17] {
        let x = small_ints(m * k, 3);
        let w = small_ints(n * k, 5);
        let want = reference((&x, 0, k), (&w, 0, k), m, k, n);
        let xt = Tensor::<2>::from_data(TensorData::new(x, [m, k]), &device);
        let wt = Tensor::<2>::from_data(TensorData::new(w, [n, k]), &device);
        let got: Vec<f32> = xt
            .matmul(wt.transpose())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(got, want, "m = {m}");
    }
}

#[test]
fn few_rows_by_a_transposed_operand_read_views_at_their_offsets() {
    let device = Device::default();
    let (m, k, n) = (6, 515, 600);
    // Both operands are the middle of wider, taller matrices: rows start at an offset and are
    // further apart than `k`.
    let (x_width, w_width) = (k + 9, k + 4);
    let x = small_ints((m + 2) * x_width, 3);
    let w = small_ints((n + 3) * w_width, 5);
    let want = reference(
        (&x, x_width + 5, x_width),
        (&w, 2 * w_width + 1, w_width),
        m,
        k,
        n,
    );
    let xt = Tensor::<2>::from_data(TensorData::new(x, [m + 2, x_width]), &device)
        .slice([1..m + 1, 5..5 + k]);
    let wt = Tensor::<2>::from_data(TensorData::new(w, [n + 3, w_width]), &device)
        .slice([2..n + 2, 1..1 + k]);
    let got: Vec<f32> = xt
        .matmul(wt.transpose())
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    assert_eq!(got, want);
}
