//! Matrix products write every element of their output. Our burn-flex patch
//! (`vendor/README.md`) hands the product kernel an output buffer that is not zeroed first, so
//! a kernel that skipped or read part of it would leak whatever the allocator left there. Each
//! case first frees a NaN-filled tensor of the output's size (the allocator tends to hand the
//! same block back), then compares the product with plain Rust arithmetic. The inputs are
//! small integers, so every sum is exact whatever order the kernel adds in, and results must
//! match bit for bit.

#![allow(clippy::unwrap_used)]

use burn::prelude::*;
use burn::tensor::TensorData;

/// `[batch, rows, cols]` values `((i * step) % 7) - 3`, exact in f32.
fn small_ints(batch: usize, rows: usize, cols: usize, step: usize) -> Vec<f32> {
    (0..batch * rows * cols)
        .map(|i| ((i * step) % 7) as f32 - 3.0)
        .collect()
}

/// Frees a NaN-filled buffer of `len` elements, so that the next allocation of that size is
/// likely to reuse it.
fn poison(len: usize) {
    drop(std::hint::black_box(vec![f32::NAN; len]));
}

/// `a: [batch_a, m, k] · b: [batch_b, k, n]`, a batch of 1 shared, by the textbook loop. Sums
/// start at +0.0 as the kernel's do (`Iterator::sum` of floats starts at -0.0, which an empty
/// inner axis would return).
fn reference(
    a: &[f32],
    b: &[f32],
    (ba, bb): (usize, usize),
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let batch = ba.max(bb);
    let mut out = vec![0.0; batch * m * n];
    for x in 0..batch {
        let (ao, bo) = ((x % ba) * m * k, (x % bb) * k * n);
        for i in 0..m {
            for j in 0..n {
                out[(x * m + i) * n + j] =
                    (0..k).fold(0.0, |acc, p| acc + a[ao + i * k + p] * b[bo + p * n + j]);
            }
        }
    }
    out
}

#[test]
fn products_write_their_whole_output() {
    let device = Device::default();
    // (batch of a, batch of b, m, k, n): plain 2-D, batched, a shared right operand, a shared
    // left operand, one large enough for the kernel's own threads, and an empty inner axis.
    let cases = [
        (1, 1, 37, 29, 41),
        (6, 6, 17, 9, 23),
        (5, 1, 33, 16, 12),
        (1, 4, 8, 31, 19),
        (1, 1, 160, 96, 130),
        (3, 3, 11, 0, 13),
    ];
    for (ba, bb, m, k, n) in cases {
        let a = small_ints(ba, m, k, 3);
        let b = small_ints(bb, k, n, 5);
        let want = reference(&a, &b, (ba, bb), m, k, n);
        for _ in 0..3 {
            let got: Vec<f32> = if ba == 1 && bb == 1 {
                let a = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device);
                let b = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
                poison(want.len());
                a.matmul(b).into_data().try_into_vec::<f32>().unwrap()
            } else {
                let a = Tensor::<3>::from_data(TensorData::new(a.clone(), [ba, m, k]), &device);
                let b = Tensor::<3>::from_data(TensorData::new(b.clone(), [bb, k, n]), &device);
                poison(want.len());
                a.matmul(b).into_data().try_into_vec::<f32>().unwrap()
            };
            assert_eq!(
                got.len(),
                want.len(),
                "[{ba}, {m}, {k}] · [{bb}, {k}, {n}]: length"
            );
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    g.to_bits() == w.to_bits(),
                    "[{ba}, {m}, {k}] · [{bb}, {k}, {n}]: element {i} is {g}, expected {w}"
                );
            }
        }
    }
}
