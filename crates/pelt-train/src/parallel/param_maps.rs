//! The module visitors that move a model's trainable values between devices: collect them,
//! put them into a device's copy, make them fresh leaves of a worker's replica, drop them from
//! a copy between steps, and count them.

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::container::TensorContainer;

/// Collects the trainable values of a model, detached and on `device`.
pub(crate) struct Trainable<'a> {
    pub(crate) device: &'a Device,
    pub(crate) values: TensorContainer<ParamId>,
}

impl ModuleVisitor for Trainable<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            let value = value
                .detach()
                .set_require_grad(false)
                .to_device(self.device);
            self.values.register(param.id, value);
        }
    }
}

/// Replaces every trainable parameter of a device's copy by its collected value (same id),
/// still marked trainable.
pub(crate) struct Replace<'a> {
    pub(crate) values: &'a TensorContainer<ParamId>,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.values.get::<Tensor<D>>(&param.id) {
            Some(value) => param.map(|_| value.require_grad()),
            None => param,
        }
    }
}

/// Makes every trainable parameter a new leaf of its value (same id, so the gradients map onto
/// the main model's parameters), marked for Burn's all-reduce when `distributed`.
pub(crate) struct Leaves {
    pub(crate) distributed: bool,
}

impl ModuleMapper for Leaves {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.is_require_grad() {
            return param;
        }
        let id = param.id;
        let distributed = self.distributed;
        param.map(|value| {
            let leaf = value.detach().require_grad();
            if distributed {
                leaf.set_distributed(id)
            } else {
                leaf
            }
        })
    }
}

/// Replaces every trainable parameter of a device's copy by a one-element zero of the same
/// rank on the same device, not trainable: what the copy holds between optimiser steps, until
/// [`Replace`] puts the next step's values in (by id).
pub(crate) struct Placeholders;

impl ModuleMapper for Placeholders {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !param.is_require_grad() {
            return param;
        }
        param.map(|value| Tensor::zeros([1; D], &value.device()))
    }
}

/// Counts the elements of a model's trainable parameters.
pub(crate) struct TrainableCount(pub(crate) usize);

impl ModuleVisitor for TrainableCount {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if param.is_require_grad() {
            self.0 += param.val().shape().num_elements();
        }
    }
}
