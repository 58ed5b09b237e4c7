//! Gradient handling Burn leaves to us: global-norm clipping (Burn clips per tensor) and
//! parameter ids that survive a restart (optimiser state is keyed by them).

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use pelt_hyper::{ModulePath, PeltModel};

/// Sums the squares of every gradient on the device, or scales every gradient, one parameter at
/// a time.
struct Grads<'a> {
    grads: &'a mut GradientsParams,
    scale: Option<f64>,
    sum_squares: Option<Tensor<1>>,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.scale {
            None => {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    let s = g.powi_scalar(2).sum();
                    self.sum_squares = Some(match self.sum_squares.take() {
                        Some(total) => total + s,
                        None => s,
                    });
                }
            }
            Some(scale) => {
                if let Some(g) = self.grads.remove::<D>(param.id) {
                    self.grads.register(param.id, g * scale);
                }
            }
        }
    }
}

/// Scales all gradients together so that their global L2 norm is at most `max_norm` (0: no
/// clipping). Returns the norm before clipping (not finite when a gradient is not). The squares
/// are summed on the device and read back once, so a GPU synchronises once per step.
pub fn clip_global_norm(model: &PeltModel, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut visitor = Grads {
        grads,
        scale: None,
        sum_squares: None,
    };
    model.visit(&mut visitor);
    let sum_squares: f32 = visitor.sum_squares.take().map_or(0.0, |s| s.into_scalar());
    let norm = f64::from(sum_squares).sqrt();
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
        visitor.scale = Some(max_norm / (norm + 1e-6));
        model.visit(&mut visitor);
    }
    norm
}

/// Gives every parameter an id derived from its module path (FNV-1a), so that a model rebuilt
/// in a new process has the ids its saved optimiser state refers to.
pub fn stable_param_ids(model: PeltModel) -> PeltModel {
    struct Ids(ModulePath);
    impl ModuleMapper for Ids {
        fn enter_module(&mut self, name: &str, container: &str) {
            self.0.enter(name, container);
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let hash = self.0.path().bytes().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
            });
            let require_grad = param.val().is_require_grad();
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(ParamId::from(hash), tensor, mapper)
                .set_require_grad(require_grad)
        }
    }
    model.map(&mut Ids(ModulePath::default()))
}

#[cfg(test)]
mod tests {
    use burn::module::ModuleVisitor;
    use pelt_hyper::{Method, PeltConfig, PeltInput};
    use pelt_t5::T5Config;

    use super::*;

    /// Collects every gradient's values, in visiting order.
    struct Values<'a>(&'a GradientsParams, Vec<f32>);
    impl ModuleVisitor for Values<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.extend(g.into_data().try_to_vec::<f32>().unwrap());
            }
        }
    }

    fn values(model: &PeltModel, grads: &GradientsParams) -> Vec<f32> {
        let mut v = Values(grads, Vec::new());
        model.visit(&mut v);
        v.1
    }

    #[test]
    fn clipping_scales_all_gradients_together_to_the_global_norm() {
        let device = Device::default().autodiff();
        device.seed(7);
        let t5 = T5Config::from_json(
            r#"{"vocab_size": 40, "d_model": 8, "d_kv": 4, "d_ff": 12, "num_layers": 1,
                "num_heads": 2, "dropout_rate": 0.0}"#,
        )
        .unwrap()
        .init(&device);
        let pelt = PeltConfig {
            init_std: 0.5,
            ..PeltConfig::new(Method::Hyperpelt, &["a"])
        };
        let model = PeltModel::new(t5, pelt).unwrap();
        let ids = Tensor::<2, Int>::from_data([[3, 4, 5, 1], [6, 7, 1, 0]], &device);
        let mask = Tensor::<2, Int>::from_data([[1, 1, 1, 1], [1, 1, 1, 0]], &device);
        let labels = Tensor::<2, Int>::from_data([[8, 1], [9, 1]], &device);
        let loss = model
            .loss(PeltInput::text(ids, mask, vec![0, 0]), labels, 0.0)
            .unwrap();
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let before = values(&model, &grads);
        assert!(before.len() > 1000, "{} gradient values", before.len());
        let expected = before
            .iter()
            .map(|&g| f64::from(g).powi(2))
            .sum::<f64>()
            .sqrt();

        // Above the norm: nothing changes, and the norm is reported.
        let norm = clip_global_norm(&model, &mut grads, expected * 2.0);
        assert!(
            (norm - expected).abs() <= 1e-5 * expected,
            "{norm} vs {expected}"
        );
        assert_eq!(values(&model, &grads), before);

        // Below it: every gradient is scaled by the same factor, to the threshold.
        clip_global_norm(&model, &mut grads, expected / 4.0);
        let after = values(&model, &grads);
        let factor = (expected / 4.0) / (norm + 1e-6);
        for (a, b) in after.iter().zip(&before) {
            assert!(
                (f64::from(*a) - f64::from(*b) * factor).abs() <= 1e-6 * (1.0 + b.abs() as f64)
            );
        }
        let clipped = clip_global_norm(&model, &mut grads, 0.0);
        assert!(
            (clipped - expected / 4.0).abs() <= 1e-4 * expected,
            "{clipped}"
        );
    }
}
