//! `--backend` and `--devices`: the devices a command runs on, chosen at run time among the
//! backends this binary was built with (Cargo features `flex`, `wgpu`, `vulkan`, `cuda`).

use burn::prelude::*;

use crate::error::TrainError;

/// The backends compiled into this build, in order of preference for `auto`.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut out = Vec::new();
    if cfg!(feature = "cuda") {
        out.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        out.push("vulkan");
    }
    if cfg!(feature = "wgpu") {
        out.push("wgpu");
    }
    if cfg!(feature = "flex") {
        out.push("flex");
    }
    out
}

/// The device for `name`: `auto` (Burn's default device of this build), `flex` or `cpu` (the
/// CPU), `wgpu`, `vulkan` or `cuda` (the default GPU), or `KIND:N` (the N-th GPU: CUDA's
/// ordinal, wgpu's and Vulkan's N-th discrete GPU); a backend this build lacks is an error
/// naming the ones it has and the feature to build with.
pub fn device(name: &str) -> Result<Device, TrainError> {
    let (kind, index) = match name.split_once(':') {
        Some((kind, index)) => {
            let index = index.parse::<usize>().map_err(|_| {
                TrainError::Config(format!(
                    "device `{name}`: `{index}` is not a device number (expected KIND:N, e.g. cuda:1)"
                ))
            })?;
            (kind, Some(index))
        }
        None => (name, None),
    };
    let missing = || {
        TrainError::Config(format!(
            "device `{name}`: this build has {}; rebuild with `--features {kind}` to use it",
            compiled_backends().join(", ")
        ))
    };
    #[cfg(any(feature = "wgpu", feature = "vulkan"))]
    let gpu = || {
        index.map_or(burn::tensor::DeviceKind::DefaultDevice, |n| {
            burn::tensor::DeviceKind::DiscreteGpu(n)
        })
    };
    match (kind, index) {
        ("auto", None) => Ok(Device::default()),
        #[cfg(feature = "flex")]
        ("flex" | "cpu", None) => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        ("wgpu", _) => Ok(Device::wgpu(gpu())),
        #[cfg(feature = "vulkan")]
        ("vulkan", _) => Ok(Device::vulkan(gpu())),
        #[cfg(feature = "cuda")]
        ("cuda", _) => Ok(Device::cuda(index.unwrap_or(0))),
        ("auto" | "flex" | "cpu", Some(_)) => Err(TrainError::Config(format!(
            "device `{name}`: {kind} takes no number (`{kind},{kind}` gives two workers)"
        ))),
        (known, _) if ["flex", "cpu", "wgpu", "vulkan", "cuda"].contains(&known) => Err(missing()),
        (other, _) => Err(TrainError::Config(format!(
            "device `{other}`: expected auto, cpu (flex), wgpu, vulkan or cuda, optionally KIND:N"
        ))),
    }
}

/// The data-parallel workers of a comma-separated device list (`train.devices`, `--devices`):
/// `cpu,cpu`, `cuda:0,cuda:1`, `wgpu:0,wgpu:1`; each with its name. An empty list is an error.
pub fn devices(list: &str) -> Result<Vec<(String, Device)>, TrainError> {
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(TrainError::Config(format!(
            "train.devices `{list}`: expected a comma-separated list such as cpu,cpu or cuda:0,cuda:1"
        )));
    }
    names
        .into_iter()
        .map(|name| Ok((name.to_string(), device(name)?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_missing_backends() {
        assert!(device("auto").is_ok());
        assert!(device("flex").is_ok());
        assert!(device("cpu").is_ok());
        let err = device("tpu").unwrap_err().to_string();
        assert!(err.contains("`tpu`"), "{err}");
        let err = device("cuda:x").unwrap_err().to_string();
        assert!(err.contains("`x` is not a device number"), "{err}");
        let err = device("cpu:1").unwrap_err().to_string();
        assert!(err.contains("takes no number"), "{err}");
        if !cfg!(feature = "cuda") {
            let err = device("cuda:1").unwrap_err().to_string();
            assert!(
                err.contains("--features cuda") && err.contains("flex"),
                "{err}"
            );
        }
    }

    #[test]
    fn device_lists_name_each_worker_and_refuse_gaps() {
        let workers = devices("cpu, cpu").unwrap();
        assert_eq!(workers.len(), 2);
        assert_eq!(workers[0].0, "cpu");
        assert!(
            workers[0].1 == workers[1].1,
            "two workers on the one CPU device"
        );
        for bad in ["", "cpu,", "cpu,,cpu"] {
            let err = devices(bad).unwrap_err().to_string();
            assert!(err.contains("comma-separated"), "{bad}: {err}");
        }
        let err = devices("cpu,tpu:0").unwrap_err().to_string();
        assert!(err.contains("`tpu`"), "{err}");
    }
}
