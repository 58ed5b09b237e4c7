//! Element-wise kernels on tensors large enough for the split (rayon) paths that our burn-flex
//! patch adds (`vendor/README.md`: from 32,768 elements for unary, scalar and same-shape
//! binary operations, 65,536 for the SIMD binary kernels and 2-D copies), against the same
//! arithmetic done element by element in plain Rust. Every case runs in place (a uniquely
//! owned contiguous operand), allocating (a shared operand) and on an offset view, since each
//! takes a different path. Element-wise arithmetic does not depend on how the work is split,
//! so the results must match exactly; `exp` is compared to `f32::exp` within one ulp-scale
//! bound because a backend may use its own approximation.

#![allow(clippy::unwrap_used)]

use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};

/// Odd, so that no split lands on a round boundary; above every patched threshold.
const N: usize = 300_007;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec_as::<f32>().unwrap()
}

fn random(n: usize, device: &Device) -> Tensor<1> {
    Tensor::random([n], Distribution::Uniform(-3.0, 3.0), device)
}

/// The three ways a kernel can meet its operand: owned (in place), shared (allocating), and a
/// contiguous view at an offset (allocating, reading from the middle of a buffer).
fn operands(device: &Device) -> Vec<(&'static str, Tensor<1>, Vec<f32>)> {
    let owned = random(N, device);
    let shared = random(N, device);
    let wide = random(N + 5, device);
    let view = wide.clone().slice(5..N + 5);
    vec![
        ("owned", owned.clone(), values(owned)),
        ("shared", shared.clone(), values(shared)),
        ("offset view", view, values(wide)[5..].to_vec()),
    ]
}

fn check(what: &str, case: &str, got: Vec<f32>, want: impl Iterator<Item = f32>) {
    let want: Vec<f32> = want.collect();
    assert_eq!(got.len(), want.len(), "{what} ({case}): length");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what} ({case}): element {i} is {g}, expected {w}"
        );
    }
}

#[test]
fn scalar_and_unary_kernels_match_element_by_element() {
    let device = Device::default();
    for (case, tensor, x) in operands(&device) {
        // Keep a second handle for the shared case, so the kernel cannot work in place.
        let keep = (case == "shared").then(|| tensor.clone());
        check(
            "mul_scalar",
            case,
            values(tensor.clone().mul_scalar(2.5)),
            x.iter().map(|v| v * 2.5),
        );
        check(
            "add_scalar",
            case,
            values(tensor.clone().add_scalar(-0.75)),
            x.iter().map(|v| v + -0.75),
        );
        check(
            "neg",
            case,
            values(tensor.clone().neg()),
            x.iter().map(|v| -v),
        );
        let exp = values(tensor.clone().exp());
        for (i, (g, v)) in exp.iter().zip(&x).enumerate() {
            let w = v.exp();
            assert!(
                (g - w).abs() <= 2.0 * f32::EPSILON * w.abs(),
                "exp ({case}): element {i} is {g}, expected {w}"
            );
        }
        drop(keep);
    }
}

#[test]
fn same_shape_binary_kernels_match_element_by_element() {
    let device = Device::default();
    let other = random(N, &device);
    let y = values(other.clone());
    for (case, tensor, x) in operands(&device) {
        let keep = (case == "shared").then(|| tensor.clone());
        let pairs = || x.iter().zip(&y);
        check(
            "add",
            case,
            values(tensor.clone().add(other.clone())),
            pairs().map(|(a, b)| a + b),
        );
        check(
            "sub",
            case,
            values(tensor.clone().sub(other.clone())),
            pairs().map(|(a, b)| a - b),
        );
        check(
            "mul",
            case,
            values(tensor.clone().mul(other.clone())),
            pairs().map(|(a, b)| a * b),
        );
        check(
            "div",
            case,
            values(tensor.clone().div(other.clone())),
            pairs().map(|(a, b)| a / b),
        );
        // A generic (non-SIMD) binary kernel.
        check(
            "max_pair",
            case,
            values(tensor.clone().max_pair(other.clone())),
            pairs().map(|(a, b)| a.max(*b)),
        );
        drop(keep);
    }
}

#[test]
fn a_large_transpose_copies_every_element() {
    let device = Device::default();
    let (rows, cols) = (613, 509);
    let x: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
    let tensor = Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, cols]), &device);
    // `swap_dims` is a strided view; adding zero forces a contiguous copy of it.
    let got = values(tensor.swap_dims(0, 1).add_scalar(0.0));
    let want = (0..cols).flat_map(|c| (0..rows).map(move |r| (r * cols + c) as f32));
    check("transpose", "strided view", got, want);
}

#[test]
fn zeros_are_zero_and_hold_their_shape() {
    let device = Device::default();
    let zeros = Tensor::<3>::zeros([7, 301, 157], &device);
    assert_eq!(zeros.dims(), [7, 301, 157]);
    assert!(values(zeros).iter().all(|&v| v.to_bits() == 0));
}

#[test]
fn broadcast_binary_kernels_match_element_by_element() {
    let device = Device::default();
    // Above the split threshold, with odd sides so no chunk of rows lands on a round boundary.
    let (rows, cols) = (613, 509);
    let x: Vec<f32> = (0..rows * cols)
        .map(|i| (i % 977) as f32 * 0.37 - 50.0)
        .collect();
    let row: Vec<f32> = (0..cols).map(|c| c as f32 * 0.11 - 7.0).collect();
    let col: Vec<f32> = (0..rows).map(|r| r as f32 * -0.23 + 9.0).collect();
    let matrix = || Tensor::<2>::from_data(TensorData::new(x.clone(), [rows, cols]), &device);
    let row_t = Tensor::<2>::from_data(TensorData::new(row.clone(), [1, cols]), &device);
    let col_t = Tensor::<2>::from_data(TensorData::new(col.clone(), [rows, 1]), &device);
    let at = |r: usize, c: usize| x[r * cols + c];
    let grid = |f: &dyn Fn(usize, usize) -> f32| {
        (0..rows)
            .flat_map(|r| (0..cols).map(move |c| (r, c)))
            .map(|(r, c)| f(r, c))
            .collect::<Vec<f32>>()
    };
    for (case, shared) in [("owned", false), ("shared", true)] {
        let m = matrix();
        let keep = shared.then(|| m.clone());
        // `sub` is not commutative, so an operand swap on either path would show.
        check(
            "sub row",
            case,
            values(m.clone().sub(row_t.clone())),
            grid(&|r, c| at(r, c) - row[c]).into_iter(),
        );
        check(
            "sub column",
            case,
            values(m.clone().sub(col_t.clone())),
            grid(&|r, c| at(r, c) - col[r]).into_iter(),
        );
        check(
            "column minus matrix",
            case,
            values(col_t.clone().sub(m.clone())),
            grid(&|r, c| col[r] - at(r, c)).into_iter(),
        );
        check(
            "max_pair row",
            case,
            values(m.clone().max_pair(row_t.clone())),
            grid(&|r, c| at(r, c).max(row[c])).into_iter(),
        );
        drop(keep);
    }
    // Three dimensions, a leading broadcast axis (the attention's shared position bias): the
    // nest splits by its leading rows, one row per chunk.
    let (heads, q, k) = (3, 211, 157);
    let scores: Vec<f32> = (0..heads * q * k).map(|i| (i % 613) as f32 * 0.5).collect();
    let bias: Vec<f32> = (0..q * k).map(|i| (i % 101) as f32 * -0.25).collect();
    let scores_t = Tensor::<3>::from_data(TensorData::new(scores.clone(), [heads, q, k]), &device);
    let bias_t = Tensor::<3>::from_data(TensorData::new(bias.clone(), [1, q, k]), &device);
    check(
        "add leading broadcast",
        "owned",
        values(scores_t.add(bias_t)),
        (0..heads * q * k).map(|i| scores[i] + bias[i % (q * k)]),
    );
    // A transposed (strided) operand against a broadcast row: the general inner loop.
    let t = matrix().swap_dims(0, 1); // [cols, rows]
    let row_of_rows = Tensor::<2>::from_data(TensorData::new(col.clone(), [1, rows]), &device);
    let got = values(t.sub(row_of_rows));
    let want = (0..cols).flat_map(|c| (0..rows).map(move |r| (r, c)));
    check(
        "strided minus row",
        "view",
        got,
        want.map(|(r, c)| at(r, c) - col[r]),
    );
}
