//! Softmax and log-softmax under autodiff: one recorded operation each, whose backward is the
//! inner backend's `*_backward` kernel applied to what the forward kept.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::{Autodiff, tensor::FloatTensor};

use super::SoftmaxOps;

/// Softmax's backward; keeps `e = exp(x − max x)` and `s = Σ e`.
#[derive(Debug)]
struct SoftmaxBackward;

impl<B: SoftmaxOps> Backward<B, 1> for SoftmaxBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (e, s) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::softmax_last_backward(e, s, g)
        });
    }
}

/// Log-softmax's backward; keeps `ex = exp(x − max x)` and `se = Σ ex`.
#[derive(Debug)]
struct LogSoftmaxBackward;

impl<B: SoftmaxOps> Backward<B, 1> for LogSoftmaxBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (ex, se) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |g| {
            B::log_softmax_last_backward(ex, se, g)
        });
    }
}

impl<B: SoftmaxOps, C: CheckpointStrategy> SoftmaxOps for Autodiff<B, C> {
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let node = x.node();
        match SoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, e, s) = B::softmax_last_saved(x.into_primitive());
                prep.finish((e, s), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(x.into_primitive())),
        }
    }

    fn log_softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let node = x.node();
        match LogSoftmaxBackward
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, ex, se) = B::log_softmax_last_saved(x.into_primitive());
                prep.finish((ex, se), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::log_softmax_last(x.into_primitive())),
        }
    }
}
