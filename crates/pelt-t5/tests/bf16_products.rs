//! bf16 products (`train.matmul_precision: "bf16"`; our burn-flex patch, `vendor/README.md` item
//! 6; docs/precision.md) through Burn's tensors, as the model reaches them: 2-D, batched with a
//! broadcast operand, transposed and offset views, a right operand used again (item 7's kept
//! packings), forward and backward.
//!
//! Two kinds of input tell the kernel's two properties apart. Small integers are exact in bf16,
//! so with them every product and sum is exact and the result must equal the textbook loop bit
//! for bit: the kernel multiplies the right elements. `1 + 2^-10` is not a bf16 (8 significant
//! bits): rounded, it is 1, so a product with it shows whether the inputs were rounded (bf16
//! products) or not (f32). The switch is process-wide, so this file holds one test, which runs
//! every kernel this CPU has (AVX512-BF16's `vdpbf16ps`; AMX tiles where the CPU has them).

#![allow(clippy::unwrap_used)]

use burn::backend::flex::ops::bf16_products::{
    Bf16Kernel, bf16_kernel, bf16_kernel_supported, bf16_products, bf16_products_supported,
    set_bf16_kernel, set_bf16_products,
};
use burn::prelude::*;
use burn::tensor::TensorData;

/// Values `((i * step) % 7) - 3`, exact in bf16.
fn small_ints(len: usize, step: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * step) % 7) as f32 - 3.0).collect()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

/// `a: [m, k]` times `b: [k, n]`, both row-major, by the textbook loop.
fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).fold(0.0, |acc, p| acc + a[i * k + p] * b[p * n + j]);
        }
    }
    out
}

#[test]
fn bf16_products_round_the_inputs_and_nothing_else() {
    if !bf16_products_supported() {
        assert!(
            !set_bf16_products(true),
            "a CPU without AVX512-BF16 must refuse"
        );
        assert!(!bf16_products());
        eprintln!("this CPU has no AVX512-BF16: checked that the switch refuses it, nothing more");
        return;
    }
    // The switch picks the fastest kernel: AMX where the CPU (and Linux) allow it.
    assert!(set_bf16_products(true) && bf16_products());
    let best = match bf16_kernel_supported(Bf16Kernel::Amx) {
        true => Bf16Kernel::Amx,
        false => Bf16Kernel::Avx512Bf16,
    };
    assert_eq!(bf16_kernel(), Some(best));
    for kernel in [Bf16Kernel::Avx512Bf16, Bf16Kernel::Amx] {
        if !bf16_kernel_supported(kernel) {
            assert!(!set_bf16_kernel(kernel), "{kernel:?} refused");
            eprintln!("this CPU has no {kernel:?}: checked that the switch refuses it");
            continue;
        }
        assert!(set_bf16_kernel(kernel) && bf16_kernel() == Some(kernel));
        products_round_the_inputs_and_nothing_else(kernel);
    }

    // Switched off, the same products keep 1 + 2^-10.
    assert!(set_bf16_products(false) && !bf16_products());
    let (k, off, device) = (64, 1.0 + 2f32.powi(-10), Device::default());
    let x = Tensor::<2>::from_data(TensorData::new(vec![off; k], [1, k]), &device);
    let ones = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; k], [k, 1]), &device);
    let f32_sum = values(x.matmul(ones))[0];
    assert!(
        (f32_sum - k as f32 * off).abs() < 1e-5,
        "f32 products: {f32_sum}"
    );
}

/// The checks of [`bf16_products_round_the_inputs_and_nothing_else`] with `kernel` switched on.
fn products_round_the_inputs_and_nothing_else(kernel: Bf16Kernel) {
    let device = Device::default();
    let tensor =
        |v: Vec<f32>, shape: [usize; 2]| Tensor::<2>::from_data(TensorData::new(v, shape), &device);

    // Exact inputs, edges of every tile and block (m, n, k not multiples of 8, 32, 512).
    let (m, k, n) = (77, 515, 45);
    let (a, b) = (small_ints(m * k, 3), small_ints(k * n, 5));
    let want = reference(&a, &b, m, k, n);
    let got = values(tensor(a.clone(), [m, k]).matmul(tensor(b.clone(), [k, n])));
    assert_eq!(got, want, "{kernel:?}: 2-D");
    // The same operands stored transposed and read through transposed views.
    let at = values(tensor(a.clone(), [m, k]).transpose());
    let bt = values(tensor(b.clone(), [k, n]).transpose());
    let got = values(
        tensor(at, [k, m])
            .transpose()
            .matmul(tensor(bt, [n, k]).transpose()),
    );
    assert_eq!(got, want, "{kernel:?}: transposed views");
    // An offset view: rows 1.. of a taller left operand.
    let taller = [vec![9.0; k], a.clone()].concat();
    let got = values(
        tensor(taller, [m + 1, k])
            .slice([1..m + 1, 0..k])
            .matmul(tensor(b.clone(), [k, n])),
    );
    assert_eq!(got, want, "{kernel:?}: offset view");
    // Batched, the right operand broadcast over the batch.
    let batch = Tensor::<3>::from_data(
        TensorData::new([a.clone(), a.clone()].concat(), [2, m, k]),
        &device,
    );
    let got = values(batch.matmul(tensor(b.clone(), [k, n]).unsqueeze::<3>()));
    assert_eq!(
        got,
        [want.clone(), want].concat(),
        "{kernel:?}: batched with broadcast"
    );

    // A right operand used again keeps its packing from its second use (`vendor/README.md`
    // item 7), through its own view and through its transpose: the products stay exact, and
    // after the operand is written in place (its storage's only owner) they see the new values.
    let (k, n) = (515, 300);
    let (a, b) = (small_ints(m * k, 3), small_ints(k * n, 5));
    let want = reference(&a, &b, m, k, n);
    let wide = small_ints(m * n, 2);
    let want_t = reference(
        &wide,
        &values(tensor(b.clone(), [k, n]).transpose()),
        m,
        n,
        k,
    );
    let (x, x_wide, mut w) = (tensor(a, [m, k]), tensor(wide, [m, n]), tensor(b, [k, n]));
    for time in 1..=3 {
        assert_eq!(
            values(x.clone().matmul(w.clone())),
            want,
            "{kernel:?}: use {time} of a right operand"
        );
        assert_eq!(
            values(x_wide.clone().matmul(w.clone().transpose())),
            want_t,
            "{kernel:?}: use {time} of its transpose"
        );
    }
    w = w.mul_scalar(2.0);
    let doubled = |v: &[f32]| v.iter().map(|x| 2.0 * x).collect::<Vec<f32>>();
    assert_eq!(
        values(x.matmul(w.clone())),
        doubled(&want),
        "{kernel:?}: the right operand after a write"
    );
    assert_eq!(
        values(x_wide.matmul(w.transpose())),
        doubled(&want_t),
        "{kernel:?}: its transpose after a write"
    );

    // Inputs that bf16 rounds: 1 + 2^-10 becomes 1. Forward: a row of k of them times ones.
    let k = 64;
    let off = 1.0 + 2f32.powi(-10);
    let product = |x: &Tensor<2>, y: &Tensor<2>| values(x.clone().matmul(y.clone()))[0];
    let (x, ones) = (tensor(vec![off; k], [1, k]), tensor(vec![1.0; k], [k, 1]));
    assert_eq!(
        product(&x, &ones),
        k as f32,
        "{kernel:?}: bf16 products round 1 + 2^-10 to 1"
    );
    // Backward: d(sum(w · y))/dw = 1 · yᵀ, itself a product, with y = 1 + 2^-10 again.
    let autodiff = device.clone().autodiff();
    let w = Tensor::<2>::from_data(TensorData::new(vec![1.0f32; 4 * k], [4, k]), &autodiff)
        .require_grad();
    let y = Tensor::<2>::from_data(TensorData::new(vec![off; k * 3], [k, 3]), &autodiff);
    let grads = w.clone().matmul(y).sum().backward();
    let grad = values(w.grad(&grads).unwrap());
    assert!(
        grad.iter().all(|&g| g == 3.0),
        "{kernel:?}: backward products round too: {:?}",
        &grad[..4]
    );
}
