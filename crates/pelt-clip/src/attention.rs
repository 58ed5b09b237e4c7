//! `CLIPAttention`: bidirectional multi-head self-attention with biases and 1/sqrt(d) scaling.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::softmax;

/// Query, key, value and output projections, each `hidden -> hidden` with a bias.
#[derive(Module, Debug)]
pub struct ClipAttention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub out_proj: Linear,
    /// Number of heads.
    pub num_heads: usize,
}

impl ClipAttention {
    /// Randomly initialised projections (weights are normally loaded afterwards).
    pub fn new(hidden: usize, num_heads: usize, device: &Device) -> Self {
        let linear = || LinearConfig::new(hidden, hidden).init(device);
        Self {
            q_proj: linear(),
            k_proj: linear(),
            v_proj: linear(),
            out_proj: linear(),
            num_heads,
        }
    }

    /// Self-attention over `x: [batch, seq, hidden]`, every token seeing every token (the
    /// vision tower has neither padding nor a causal mask). Returns `[batch, seq, hidden]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let heads = |t: Tensor<3>| {
            t.reshape([batch, seq, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        // [batch, heads, seq, head_dim]
        let q = heads(self.q_proj.forward(x.clone()));
        let k = heads(self.k_proj.forward(x.clone()));
        let v = heads(self.v_proj.forward(x));
        // Hugging Face scales the scores (not the queries); the order matters in float32.
        let scale = (head_dim as f64).powf(-0.5);
        let scores = q.matmul(k.swap_dims(2, 3)).mul_scalar(scale);
        let weights = softmax(scores, 3);
        // [batch, heads, seq, head_dim] -> [batch, seq, hidden]
        let context = weights
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.out_proj.forward(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;

    #[test]
    fn identical_tokens_attend_uniformly_and_return_their_value() {
        // With every token equal, attention averages equal values: the output is
        // out_proj(v_proj(x)) whatever the queries and keys, for every head count.
        let device = Device::default();
        let x = Tensor::<3>::random([2, 1, 8], burn::tensor::Distribution::Default, &device)
            .expand([2, 5, 8]);
        for heads in [1, 2, 4] {
            let attention = ClipAttention::new(8, heads, &device);
            let expected = attention
                .out_proj
                .forward(attention.v_proj.forward(x.clone()));
            let got = attention.forward(x.clone());
            let diff: f32 = (got - expected).abs().max().into_scalar();
            assert!(diff < 1e-5, "{heads} heads: {diff}");
        }
    }

    #[test]
    fn matches_a_loop_reference_with_identity_projections() {
        // q = k = v = x per head, so the output is softmax(x_h x_hᵀ / sqrt(d)) x_h, head by head.
        let device = Device::default();
        let (seq, hidden, heads) = (3, 4, 2);
        let head_dim = hidden / heads;
        let mut attention = ClipAttention::new(hidden, heads, &device);
        let eye = Tensor::<2>::eye(hidden, &device);
        for proj in [
            &mut attention.q_proj,
            &mut attention.k_proj,
            &mut attention.v_proj,
            &mut attention.out_proj,
        ] {
            proj.weight = Param::from_tensor(eye.clone());
            proj.bias = None;
        }
        let values: Vec<f32> = (0..seq * hidden)
            .map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.4)
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(values.clone(), [1, seq, hidden]), &device);
        let got: Vec<f32> = attention
            .forward(x)
            .into_data()
            .try_to_vec()
            .expect("f32 data");
        let at = |t: usize, c: usize| values[t * hidden + c] as f64;
        for h in 0..heads {
            for i in 0..seq {
                let scores: Vec<f64> = (0..seq)
                    .map(|j| {
                        (0..head_dim)
                            .map(|c| at(i, h * head_dim + c) * at(j, h * head_dim + c))
                            .sum::<f64>()
                            / (head_dim as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let total: f64 = exp.iter().sum();
                for c in 0..head_dim {
                    let expected: f64 = (0..seq)
                        .map(|j| exp[j] / total * at(j, h * head_dim + c))
                        .sum();
                    let got = got[i * hidden + h * head_dim + c] as f64;
                    assert!(
                        (got - expected).abs() < 1e-5,
                        "head {h} token {i}: {got} vs {expected}"
                    );
                }
            }
        }
    }
}
