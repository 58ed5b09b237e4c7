//! `train.matmul_precision`: the inputs of the CPU backend's matrix products (docs/precision.md).

use burn::prelude::Device;
use serde::{Deserialize, Serialize};

/// What the matrix products of a run multiply. Storage, accumulation and every other operation
/// stay f32 either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatmulPrecision {
    /// f32 inputs (`gemm`'s f32 kernels).
    #[default]
    F32,
    /// Inputs rounded to bf16 (round to nearest even), products summed in f32 by AMX tiles
    /// (`tdpbf16ps`) where the CPU has them, else by AVX512-BF16's `vdpbf16ps`: forward and
    /// backward products of training, pretraining and evaluation on the CPU backend. Elsewhere
    /// (another backend, a CPU without AVX512-BF16) the products stay f32, with a warning.
    Bf16,
}

impl MatmulPrecision {
    /// Makes this the precision of the products of this process on `device`, and returns the
    /// precision they will use: `F32` (after a warning naming the reason) when `Bf16` cannot be
    /// had there. A process-wide setting of the CPU backend: the last call wins.
    pub fn apply(self, device: &Device) -> Self {
        match self.reason_unavailable(device) {
            None => {
                #[cfg(feature = "flex")]
                if let Some(kernel) = burn::backend::flex::ops::bf16_products::bf16_kernel() {
                    tracing::info!("matrix products: bf16 inputs, {} kernel", kernel.name());
                }
                self
            }
            Some(reason) => {
                tracing::warn!(
                    "warning: train.matmul_precision `bf16`: {reason}; the products stay f32"
                );
                Self::F32
            }
        }
    }

    /// The precision of the CPU backend's products now (what the last [`apply`](Self::apply)
    /// gave).
    pub fn in_effect() -> Self {
        #[cfg(feature = "flex")]
        if burn::backend::flex::ops::bf16_products::bf16_products() {
            return Self::Bf16;
        }
        Self::F32
    }

    /// Switches the CPU backend's products; `None` when the precision is had, else why not.
    fn reason_unavailable(self, device: &Device) -> Option<&'static str> {
        #[cfg(feature = "flex")]
        {
            use burn::backend::flex::ops::bf16_products::set_bf16_products;
            if self == Self::F32 {
                set_bf16_products(false);
                return None;
            }
            if device.clone().inner() != Device::flex() {
                set_bf16_products(false);
                return Some("bf16 products are implemented for the CPU backend (`flex`) only");
            }
            (!set_bf16_products(true)).then_some("this CPU has no AVX512-BF16 (`avx512_bf16`)")
        }
        #[cfg(not(feature = "flex"))]
        {
            let _ = device;
            (self == Self::Bf16)
                .then_some("bf16 products are implemented for the CPU backend (`flex`) only")
        }
    }
}
