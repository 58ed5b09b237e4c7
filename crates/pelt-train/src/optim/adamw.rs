//! AdamW as one pass over each parameter on the CPU (docs/train.md, "Optimiser").
//!
//! Burn's `AdamW` updates a parameter with about a dozen tensor operations (moments, bias
//! corrections, square root, decay), each a full pass over memory that allocates its result; on
//! the CPU backend a full fine-tuning step of t5-small spent about 0.45 s of 1.7 s there. On the
//! `flex` device this optimiser does the same arithmetic, operation for operation in the same
//! order and precision, in one parallel pass over the parameter, its gradient and its two
//! moments, so its results are bit-identical to Burn's (tested below). Other devices use Burn's
//! `AdamW` unchanged. The state is Burn's `AdamWState`, so checkpoints are the same either way.

use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use rayon::prelude::*;

use crate::resolve::backend::on_cpu;

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 14;

/// The step-dependent scalars of one update, as Burn's `AdamW` rounds them.
#[derive(Debug, Clone, Copy)]
struct Update {
    /// `1 - beta_1^t` and `1 - beta_2^t`.
    correction_1: f32,
    correction_2: f32,
    /// `1 - lr * weight_decay`, or `None` without decay.
    decay: Option<f32>,
    lr: f32,
    /// The first step: the moments start from the gradient alone.
    first: bool,
}

impl Update {
    /// One element: parameter `p`, gradient `g`, moments `m` and `v` (updated in place).
    fn apply(&self, p: &mut f32, g: f32, m: &mut f32, v: &mut f32) {
        let (factor_1, factor_2) = (1.0 - BETA_1, 1.0 - BETA_2);
        if self.first {
            *m = g * factor_1;
            *v = (g * g) * factor_2;
        } else {
            *m = *m * BETA_1 + g * factor_1;
            *v = *v * BETA_2 + (g * g) * factor_2;
        }
        let delta = (*m / self.correction_1) / ((*v / self.correction_2).sqrt() + EPSILON);
        let decayed = self.decay.map_or(*p, |d| *p * d);
        *p = decayed - delta * self.lr;
    }
}

/// Burn's `AdamWConfig` defaults, which every run has used.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// Floor of a parameter's RMS when it scales the learning rate (Adafactor's `epsilon_2`).
const MIN_PARAMETER_RMS: f64 = 1e-3;

/// AdamW with betas 0.9 and 0.999, epsilon 1e-5 (Burn's defaults) and `weight_decay`.
#[derive(Clone)]
pub struct FusedAdamW {
    weight_decay: f32,
    /// Scale each parameter's step by its RMS (docs/train.md, "Optimiser").
    parameter_scale: bool,
    fallback: AdamW,
}

/// `max(1e-3, RMS(tensor))`, the step scale of a parameter under `train.parameter_scale`.
fn rms_scale<const D: usize>(tensor: &Tensor<D>) -> f64 {
    let mean_square: f64 = tensor.clone().square().mean().into_scalar();
    mean_square.sqrt().max(MIN_PARAMETER_RMS)
}

impl FusedAdamW {
    /// The optimiser of a whole module; with `parameter_scale` each parameter's learning
    /// rate (and so its decay) is multiplied by `max(1e-3, RMS(parameter))` before the step,
    /// as Adafactor's `scale_parameter` does, so that every tensor moves by about the same
    /// share of its size whatever its initial scale.
    pub fn module(weight_decay: f32, parameter_scale: bool) -> ModuleOptimizer {
        let fallback = AdamWConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .with_weight_decay(weight_decay)
            .build();
        ModuleOptimizer::from(Self {
            weight_decay,
            parameter_scale,
            fallback,
        })
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let lr = if self.parameter_scale {
            lr * rms_scale(&tensor)
        } else {
            lr
        };
        let device = tensor.device();
        let f32_values = tensor.dtype() == DType::F32 && grad.dtype() == DType::F32;
        if !on_cpu(&device) || !f32_values {
            return self.fallback.step(lr, tensor, grad, state);
        }
        let shape = tensor.shape();
        let first = state.is_none();
        let (time, m, v) = match state {
            Some(AdamWState { momentum }) => (
                momentum.time + 1,
                momentum.moment_1.into_data(),
                momentum.moment_2.into_data(),
            ),
            None => {
                let zeros = || TensorData::new(vec![0.0_f32; shape.num_elements()], shape.clone());
                (1, zeros(), zeros())
            }
        };
        // Owned data: the flex backend hands over a uniquely held buffer without copying.
        let mut data = [tensor.into_data(), grad.into_data(), m, v];
        // The scalars as Burn's tensor operations see them: computed in f64 or f32 as there,
        // then rounded to f32 by the scalar kernels.
        let decay_rate = lr * f64::from(self.weight_decay);
        let update = Update {
            correction_1: 1.0 - BETA_1.powi(time as i32),
            correction_2: 1.0 - BETA_2.powi(time as i32),
            decay: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            lr: lr as f32,
            first,
        };
        let applied = match &mut data {
            [p, g, m, v] => match (
                p.as_mut_slice::<f32>(),
                g.as_slice::<f32>(),
                m.as_mut_slice::<f32>(),
                v.as_mut_slice::<f32>(),
            ) {
                (Ok(p), Ok(g), Ok(m), Ok(v)) => {
                    p.par_chunks_mut(CHUNK)
                        .zip(g.par_chunks(CHUNK))
                        .zip(m.par_chunks_mut(CHUNK))
                        .zip(v.par_chunks_mut(CHUNK))
                        .for_each(|(((p, g), m), v)| {
                            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                                update.apply(p, g, m, v);
                            }
                        });
                    true
                }
                _ => false,
            },
        };
        let [p, g, m, v] = data.map(|d| Tensor::<D>::from_data(d, &device));
        if !applied {
            // A layout the slices could not view: Burn's operations handle every layout.
            let momentum = AdaptiveMomentumState {
                time: time - 1,
                moment_1: m,
                moment_2: v,
                max_moment_2: None,
            };
            let state = (!first).then_some(AdamWState { momentum });
            return self.fallback.step(lr, p, g, state);
        }
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: m,
            moment_2: v,
            max_moment_2: None,
        };
        (p, Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    use super::*;

    /// A parameter set big enough for several parallel chunks, a few steps of each optimiser
    /// from the same start with the same gradients, compared bit for bit.
    #[test]
    fn matches_burns_adamw_bit_for_bit() {
        let device = Device::default().autodiff();
        let linear = burn::nn::LinearConfig::new(300, 211).init(&device);
        // The optimiser sees the parameters' inner (non-autodiff) tensors.
        assert!(
            on_cpu(&linear.weight.val().inner().device()),
            "the test must exercise the fused pass"
        );
        let (mut ours, mut theirs) = (linear.clone(), linear);
        let mut fused = FusedAdamW::module(0.01, false);
        let mut burn = AdamWConfig::new().with_weight_decay(0.01).init();
        // Burn's defaults are the constants above.
        assert_eq!((BETA_1, BETA_2, EPSILON), (0.9, 0.999, 1e-5));
        for step in 0..4 {
            let x = Tensor::<2>::random([7, 300], Distribution::Normal(0.0, 1.0), &device);
            let lr = 1e-3 * f64::from(step + 1);
            let loss = |l: &burn::nn::Linear| l.forward(x.clone()).powi_scalar(2).mean();
            let g_ours = GradientsParams::from_grads(loss(&ours).backward(), &ours);
            ours = fused.step(lr, ours, g_ours);
            let g_theirs = GradientsParams::from_grads(loss(&theirs).backward(), &theirs);
            theirs = burn.step(lr, theirs, g_theirs);
            let bits = |l: &burn::nn::Linear| -> Vec<u32> {
                let mut out: Vec<f32> = l.weight.val().into_data().try_into_vec().unwrap();
                if let Some(b) = &l.bias {
                    out.extend(b.val().into_data().try_into_vec::<f32>().unwrap());
                }
                out.into_iter().map(f32::to_bits).collect()
            };
            assert_eq!(bits(&ours), bits(&theirs), "step {step}");
        }
    }

    /// With `parameter_scale`, each parameter takes Burn's AdamW step at `lr * max(1e-3,
    /// RMS(parameter))`: weight and bias (of very different scales) each at their own rate.
    #[test]
    fn parameter_scale_multiplies_each_parameters_rate_by_its_rms() {
        let device = Device::default().autodiff();
        let linear = burn::nn::LinearConfig::new(64, 48).init(&device);
        let mut ours = linear.clone();
        // A bias far smaller than the weight, as a fresh leaf of the graph.
        ours.bias = Some(burn::module::Param::from_tensor(Tensor::random(
            [48],
            Distribution::Normal(0.0, 1e-5),
            &device,
        )));
        let mut theirs = ours.clone();
        let rms = |t: Tensor<1>| -> f64 {
            let ms: f64 = t.square().mean().into_scalar();
            ms.sqrt()
        };
        let weight_rms = rms(theirs.weight.val().inner().flatten(0, 1));
        let bias_rms = rms(theirs.bias.as_ref().unwrap().val().inner());
        // The bias is below the floor, the weight above it.
        assert!(bias_rms < MIN_PARAMETER_RMS && weight_rms > MIN_PARAMETER_RMS);
        let mut fused = FusedAdamW::module(0.01, true);
        let mut burn = AdamWConfig::new().with_weight_decay(0.01).init();
        let x = Tensor::<2>::random([5, 64], Distribution::Normal(0.0, 1.0), &device);
        let loss = |l: &burn::nn::Linear| l.forward(x.clone()).powi_scalar(2).mean();
        let lr = 0.05;
        let grads = GradientsParams::from_grads(loss(&ours).backward(), &ours);
        ours = fused.step(lr, ours, grads);
        // Burn's AdamW, once per parameter at its own rate, the other one frozen.
        let weight_only = {
            let mut l = theirs.clone();
            l.bias = None;
            l
        };
        let g = GradientsParams::from_grads(loss(&theirs).backward(), &weight_only);
        let stepped = burn.step(lr * weight_rms, weight_only, g);
        let mut burn_bias = AdamWConfig::new().with_weight_decay(0.01).init();
        let bias_grad = GradientsParams::from_grads(loss(&theirs).backward(), &theirs);
        let bias_stepped = burn_bias.step(lr * MIN_PARAMETER_RMS, theirs, bias_grad);
        theirs = burn::nn::Linear {
            weight: stepped.weight,
            bias: bias_stepped.bias,
        };
        let bits = |t: Tensor<1>| -> Vec<u32> {
            let v: Vec<f32> = t.into_data().try_into_vec().unwrap();
            v.into_iter().map(f32::to_bits).collect()
        };
        let flat = |l: &burn::nn::Linear| l.weight.val().inner().flatten(0, 1);
        assert_eq!(bits(flat(&ours)), bits(flat(&theirs)), "weight");
        let bias = |l: &burn::nn::Linear| l.bias.as_ref().unwrap().val().inner();
        assert_eq!(bits(bias(&ours)), bits(bias(&theirs)), "bias");
    }

    #[test]
    fn without_decay_a_step_moves_against_the_gradient() {
        let update = Update {
            correction_1: 0.1,
            correction_2: 0.001,
            decay: None,
            lr: 0.1,
            first: true,
        };
        let (mut p, mut m, mut v) = (1.0_f32, 0.0, 0.0);
        update.apply(&mut p, 2.0, &mut m, &mut v);
        // The first bias-corrected step is lr * sign(g).
        assert!((p - 0.9).abs() < 1e-6, "{p}");
    }
}
