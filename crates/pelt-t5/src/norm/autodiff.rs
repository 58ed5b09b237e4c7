//! The RMS norm under autodiff: one recorded operation whose backward hands `x` its gradient in
//! the parts, and the order, that Burn's composition would (so the sum with `x`'s other
//! gradients, the residual stream's, is the same to the bit), and `w` its gradient as Burn's
//! broadcast reduction computes it.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{Autodiff, TensorMetadata, tensor::FloatTensor};

use super::{RmsNormOps, RmsNormSaved, RmsStats};

#[derive(Debug)]
struct RmsNormBackward;

/// What the backward needs: the input, the weight and the row statistics.
type State<B> = (FloatTensor<B>, FloatTensor<B>, RmsStats<B>);

impl<B: RmsNormOps> Backward<B, 2> for RmsNormBackward {
    type State = State<B>;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let g = grads.consume::<B>(&ops.node);
        let [x_parent, w_parent] = ops.parents;
        let (x, w, stats) = ops.state;
        if let Some(w_node) = w_parent {
            // Burn: the product's gradient `g · (x·r)`, summed over every leading axis on which
            // it is longer than the broadcast weight (of length 1 there), then reshaped to `[d]`.
            let normed = B::float_mul(x.clone(), stats.r.clone());
            let grad = B::float_mul(g.clone(), normed);
            let shape = grad.shape();
            let dims: Vec<usize> = (0..shape.num_dims() - 1)
                .filter(|&i| shape[i] != 1)
                .collect();
            let grad = match dims.as_slice() {
                [] => grad,
                [dim] => B::float_sum_dim(grad, *dim),
                dims => B::float_sum_dims(grad, dims),
            };
            grads.register::<B>(w_node.id, B::float_reshape(grad, w.shape()));
        }
        if let Some(x_node) = x_parent {
            let (a, t) = B::rms_norm_backward(x, w, stats, g);
            grads.register::<B>(x_node.id, a);
            grads.register::<B>(x_node.id, t.clone());
            grads.register::<B>(x_node.id, t);
        }
    }
}

impl<B: RmsNormOps, C: CheckpointStrategy> RmsNormOps for Autodiff<B, C> {
    fn rms_norm(x: FloatTensor<Self>, w: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        let nodes = [x.node(), w.node()];
        match RmsNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.into_primitive(), w.into_primitive());
                let RmsNormSaved { y, stats } = B::rms_norm_saved(x.clone(), w.clone(), eps);
                prep.finish((x, w, stats), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::rms_norm(x.into_primitive(), w.into_primitive(), eps))
            }
        }
    }
}
