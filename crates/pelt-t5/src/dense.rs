//! A linear layer over every position of a sequence, computed as one matrix product.

use burn::nn::Linear;
use burn::prelude::*;

/// `linear` applied to every row of `x: [batch, seq, d_in]`, giving `[batch, seq, d_out]`.
///
/// The rows are folded into one `[batch * seq, d_in] x [d_in, d_out]` product (a view when
/// `x` is contiguous). `Linear::forward` on a rank-3 input keeps Burn's batched form for
/// row counts that fill its tiles, and on the CPU backend each of those `batch` products packs
/// the whole weight again, in the forward pass and again for the input's gradient.
/// See docs/benchmarks.md, "Folded linear layers".
pub fn dense(linear: &Linear, x: Tensor<3>) -> Tensor<3> {
    fold_rows(x, |rows| linear.forward(rows))
}

/// `x: [batch, seq, d_in]` times `weight: [d_in, d_out]` (often a transposed view), folded
/// the same way: `[batch, seq, d_out]`.
pub fn fold_matmul(x: Tensor<3>, weight: Tensor<2>) -> Tensor<3> {
    fold_rows(x, |rows| rows.matmul(weight))
}

/// Applies `f` to `x: [batch, seq, d_in]` seen as `[batch * seq, d_in]` rows, and gives its
/// `[batch * seq, d_out]` result back as `[batch, seq, d_out]`.
fn fold_rows(x: Tensor<3>, f: impl FnOnce(Tensor<2>) -> Tensor<2>) -> Tensor<3> {
    let [batch, seq, d_in] = x.dims();
    let rows = f(x.reshape([batch * seq, d_in]));
    let [_, d_out] = rows.dims();
    rows.reshape([batch, seq, d_out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;
    use burn::tensor::Distribution;

    /// Both forms sum the same six products per output; only the order may differ.
    const TOLERANCE: f32 = 1e-6;

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// Folding the rows gives Burn's own rank-3 product, bias included.
    #[test]
    fn folded_rows_match_the_batched_product() {
        let device = Device::default();
        let linear = LinearConfig::new(6, 5).init(&device);
        let x = Tensor::<3>::random([3, 4, 6], Distribution::Normal(0.0, 1.0), &device);
        let weight = linear.weight.val();

        let diff = max_diff(dense(&linear, x.clone()), linear.forward(x.clone()));
        assert!(diff < TOLERANCE, "dense: {diff}");
        let batched = x.clone().matmul(weight.clone().unsqueeze_dim(0));
        let diff = max_diff(fold_matmul(x, weight), batched);
        assert!(diff < TOLERANCE, "fold_matmul: {diff}");
    }
}
