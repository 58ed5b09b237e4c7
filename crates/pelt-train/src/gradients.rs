//! Gradient handling Burn leaves to us: global-norm clipping (Burn clips per tensor) and
//! parameter ids that survive a restart (optimiser state is keyed by them).

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use pelt_hyper::PeltModel;

/// Sums the squares of every gradient, or scales every gradient, one parameter at a time.
struct Grads<'a> {
    grads: &'a mut GradientsParams,
    scale: Option<f64>,
    sum_squares: f64,
}

impl ModuleVisitor for Grads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        match self.scale {
            None => {
                if let Some(g) = self.grads.get::<D>(param.id) {
                    let s: f32 = g.powi_scalar(2).sum().into_scalar();
                    self.sum_squares += f64::from(s);
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
/// clipping). Returns the norm before clipping (not finite when a gradient is not).
pub fn clip_global_norm(model: &PeltModel, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut visitor = Grads {
        grads,
        scale: None,
        sum_squares: 0.0,
    };
    model.visit(&mut visitor);
    let norm = visitor.sum_squares.sqrt();
    if max_norm > 0.0 && norm.is_finite() && norm > max_norm {
        visitor.scale = Some(max_norm / (norm + 1e-6));
        model.visit(&mut visitor);
    }
    norm
}

/// Gives every parameter an id derived from its module path (FNV-1a), so that a model rebuilt
/// in a new process has the ids its saved optimiser state refers to.
pub fn stable_param_ids(model: PeltModel) -> PeltModel {
    struct Ids(Vec<String>);
    impl ModuleMapper for Ids {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.0.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.0.pop();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let hash = self
                .0
                .join(".")
                .bytes()
                .fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
                });
            let require_grad = param.val().is_require_grad();
            let (_, tensor, mapper) = param.consume();
            Param::from_mapped_value(ParamId::from(hash), tensor, mapper)
                .set_require_grad(require_grad)
        }
    }
    model.map(&mut Ids(Vec::new()))
}
