//! How data-parallel workers combine their gradients (`train.transport`; docs/train.md,
//! "Several devices"), and which device lists each transport takes.

use serde::{Deserialize, Serialize};

use crate::error::TrainError;
use crate::resolve::backend::{DeviceKind, DeviceSpec};

/// How the workers' gradients are combined (`train.transport`; docs/train.md, "Several
/// devices").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// `GradientsParams::to_device` to the main device, summed there by `GradientsAccumulator`:
    /// any backend, any mix of workers.
    #[default]
    Gather,
    /// Burn's `DistributedContext`: NCCL all-reduces the gradients inside the backward pass.
    /// One worker per CUDA device, a `cuda` build with NCCL installed.
    Nccl,
}

impl Transport {
    /// Checks that workers on `devices` (`train.devices`) can use this transport: `nccl` takes
    /// one worker per CUDA device, each device once (a bare `cuda` is `cuda:0`: Burn keys the
    /// all-reduce by device, so two workers on one device would wait for each other forever).
    /// `gather` takes any list, a device several times included (`cpu,cpu`).
    pub fn check(self, devices: &[DeviceSpec]) -> Result<(), TrainError> {
        if self == Self::Gather {
            return Ok(());
        }
        let bad = |why: String| Err(TrainError::Config(format!("train.transport `nccl`: {why}")));
        if devices.is_empty() {
            return bad("name the CUDA devices in train.devices (cuda:0,cuda:1,...)".into());
        }
        if let Some(device) = devices.iter().find(|d| d.kind != DeviceKind::Cuda) {
            return bad(format!(
                "worker `{device}` is not a CUDA device (NCCL runs on CUDA only)"
            ));
        }
        for (k, device) in devices.iter().enumerate() {
            if let Some(first) = devices[..k].iter().position(|d| d == device) {
                return bad(format!(
                    "`{device}` twice (workers {first} and {k}; a bare `cuda` is `cuda:0`): \
                     NCCL takes one worker per device"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(list: &str) -> Vec<DeviceSpec> {
        crate::resolve::backend::device_list(list).unwrap()
    }

    #[test]
    fn nccl_takes_distinct_cuda_devices_only() {
        assert!(Transport::Nccl.check(&specs("cuda:0,cuda:1")).is_ok());
        assert!(Transport::Gather.check(&specs("cpu,cpu")).is_ok());
        // Under `gather` several workers share a device, on a GPU as on the CPU.
        assert!(Transport::Gather.check(&specs("cuda,cuda:0")).is_ok());
        for (list, says) in [
            ("cpu,cpu", "`cpu` is not a CUDA device"),
            ("cuda:0,wgpu:1", "`wgpu:1` is not a CUDA device"),
            ("cuda:0,cuda:0", "`cuda:0` twice (workers 0 and 1;"),
            (
                "cuda,cuda:0",
                "`cuda:0` twice (workers 0 and 1; a bare `cuda` is `cuda:0`)",
            ),
            ("cuda:1,cuda:0,cuda", "`cuda:0` twice (workers 1 and 2;"),
            ("", "name the CUDA devices"),
        ] {
            let err = Transport::Nccl.check(&specs(list)).unwrap_err().to_string();
            assert!(
                err.contains("train.transport") && err.contains(says),
                "{list}: {err}"
            );
        }
    }
}
