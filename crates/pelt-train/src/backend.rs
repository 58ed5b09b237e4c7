//! `--backend`: the device a command runs on, chosen at run time among the backends this
//! binary was built with (Cargo features `flex`, `wgpu`, `vulkan`, `cuda`).

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

/// The device for `name`: `auto` (Burn's default device of this build), `flex` (CPU),
/// `wgpu`, `vulkan` or `cuda` (the first GPU); a backend this build lacks is an error naming
/// the ones it has and the feature to build with.
pub fn device(name: &str) -> Result<Device, TrainError> {
    let missing = || {
        TrainError::Config(format!(
            "--backend {name}: this build has {}; rebuild with `--features {name}` to use it",
            compiled_backends().join(", ")
        ))
    };
    match name {
        "auto" => Ok(Device::default()),
        #[cfg(feature = "flex")]
        "flex" => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "vulkan")]
        "vulkan" => Ok(Device::vulkan(burn::tensor::DeviceKind::DefaultDevice)),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        known if ["flex", "wgpu", "vulkan", "cuda"].contains(&known) => Err(missing()),
        other => Err(TrainError::Config(format!(
            "--backend `{other}`: expected auto, flex, wgpu, vulkan or cuda"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_unknown_and_missing_backends() {
        assert!(device("auto").is_ok());
        assert!(device("flex").is_ok());
        let err = device("tpu").unwrap_err().to_string();
        assert!(err.contains("`tpu`"), "{err}");
        if !cfg!(feature = "cuda") {
            let err = device("cuda").unwrap_err().to_string();
            assert!(
                err.contains("--features cuda") && err.contains("flex"),
                "{err}"
            );
        }
    }
}
