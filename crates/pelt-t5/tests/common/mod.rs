//! Shared helpers of the tests: fixture paths, fixture tensors, relative error, and the float
//! types and bit patterns of the bit-for-bit checks.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;

use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use pelt_weights::Checkpoint;

/// Relative error allowed between our f32 outputs and PyTorch's: `max|ours - theirs| /
/// max|theirs|`. Burn and PyTorch sum in different orders (about 1e-7 relative per
/// operation); a few dozen operations deep that stays below 1e-5, while a wrong formula (a
/// missing scale, a shifted position bucket) shows as 1e-2 or more.
pub const PARITY_TOLERANCE: f32 = 1e-4;

/// Relative error allowed on gradients: backward passes chain twice as many operations, and
/// gradients of small magnitude lose relative precision faster.
pub const GRADIENT_TOLERANCE: f32 = 1e-3;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The expected tensors of one fixture model.
pub struct Expected {
    checkpoint: Checkpoint,
    pub device: Device,
}

impl Expected {
    pub fn open(model: &str, device: &Device) -> Self {
        let checkpoint = Checkpoint::open(fixture(model).join("expected.safetensors"))
            .expect("fixture expected.safetensors");
        Self {
            checkpoint,
            device: device.clone(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.checkpoint.meta(name).is_some()
    }

    pub fn tensor<const D: usize>(&self, name: &str) -> Tensor<D> {
        let meta = self
            .checkpoint
            .meta(name)
            .unwrap_or_else(|| panic!("fixture tensor {name}"));
        let shape: [usize; D] = meta.shape.clone().try_into().expect("rank");
        let values = self.checkpoint.read_f32(name).expect("fixture data");
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    pub fn ints<const D: usize>(&self, name: &str) -> Tensor<D, Int> {
        self.tensor::<D>(name).int()
    }

    pub fn scalar(&self, name: &str) -> f32 {
        self.checkpoint.read_f32(name).expect("fixture data")[0]
    }

    pub fn json(&self, model: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(fixture(model).join("expected.json")).expect("json");
        serde_json::from_str(&text).expect("valid json")
    }
}

/// `max|ours - theirs| / max|theirs|`.
pub fn relative_error<const D: usize>(ours: Tensor<D>, theirs: Tensor<D>) -> f32 {
    assert_eq!(ours.dims(), theirs.dims(), "shapes differ");
    let diff: f32 = (ours - theirs.clone()).abs().max().into_scalar();
    let scale: f32 = theirs.abs().max().into_scalar();
    diff / scale.max(f32::MIN_POSITIVE)
}

pub fn assert_close<const D: usize>(what: &str, ours: Tensor<D>, theirs: Tensor<D>, tol: f32) {
    let err = relative_error(ours, theirs);
    assert!(err <= tol, "{what}: relative error {err:e} exceeds {tol:e}");
    eprintln!("{what}: relative error {err:e}");
}

pub fn token_lists(value: &serde_json::Value) -> Vec<Vec<u32>> {
    value
        .as_array()
        .expect("list")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("row")
                .iter()
                .map(|t| t.as_u64().expect("token") as u32)
                .collect()
        })
        .collect()
}

/// The float types a bit-for-bit check covers on the default device (the CPU one, or the one
/// `BURN_DEVICE` names, as under `cargo xtask gpu-check`): f32 everywhere, and f64 on the CPU
/// (Mesa's Vulkan driver has none).
pub fn float_dtypes() -> Vec<DType> {
    if Device::default() == Device::flex() {
        vec![DType::F32, DType::F64]
    } else {
        vec![DType::F32]
    }
}

/// The bit patterns of an f32 or f64 tensor's values, widened to `u64`.
pub fn bits<const D: usize>(t: Tensor<D>) -> Vec<u64> {
    let data = t.into_data();
    match data.dtype() {
        DType::F64 => data.iter::<f64>().map(f64::to_bits).collect(),
        _ => data.iter::<f32>().map(|v| u64::from(v.to_bits())).collect(),
    }
}
