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

/// A kind of device, as `--backend` and `train.devices` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// `auto`: Burn's default device of this build.
    Auto,
    /// `cpu` or `flex`: the CPU (the `flex` backend).
    Cpu,
    /// `wgpu`: a GPU through wgpu.
    Wgpu,
    /// `vulkan`: a GPU through Vulkan.
    Vulkan,
    /// `cuda`: an NVIDIA GPU.
    Cuda,
}

impl DeviceKind {
    /// The name it is written with (the CPU as `cpu`).
    fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
            Self::Vulkan => "vulkan",
            Self::Cuda => "cuda",
        }
    }
}

/// One device as `--backend` and `train.devices` name it: `auto`, `cpu` (`flex`), `wgpu`,
/// `vulkan` or `cuda`, optionally `KIND:N` for the N-th GPU (CUDA's ordinal, wgpu's and
/// Vulkan's N-th discrete GPU). A bare `cuda` is `cuda:0` (the device Burn opens for it), so the
/// two compare equal; a bare `wgpu` or `vulkan` is the backend's default device, which Burn
/// tells apart from `wgpu:0`. Written back (`Display`, `config.json`) in that normal form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceSpec {
    /// The backend.
    pub kind: DeviceKind,
    /// The GPU's number; `None` for the CPU, `auto` and the default wgpu or Vulkan device.
    pub index: Option<usize>,
}

impl DeviceSpec {
    /// `auto`: Burn's default device of this build.
    pub const AUTO: Self = Self {
        kind: DeviceKind::Auto,
        index: None,
    };

    /// Burn's device for it; a backend this build lacks is an error naming the ones it has and
    /// the feature to build with.
    pub fn device(&self) -> Result<Device, TrainError> {
        #[cfg(any(feature = "wgpu", feature = "vulkan"))]
        let gpu = || {
            self.index
                .map_or(burn::tensor::DeviceKind::DefaultDevice, |n| {
                    burn::tensor::DeviceKind::DiscreteGpu(n)
                })
        };
        match self.kind {
            DeviceKind::Auto => Ok(Device::default()),
            #[cfg(feature = "flex")]
            DeviceKind::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceKind::Wgpu => Ok(Device::wgpu(gpu())),
            #[cfg(feature = "vulkan")]
            DeviceKind::Vulkan => Ok(Device::vulkan(gpu())),
            #[cfg(feature = "cuda")]
            DeviceKind::Cuda => Ok(Device::cuda(self.index.unwrap_or(0))),
            #[allow(unreachable_patterns)]
            missing => {
                let feature = match missing {
                    DeviceKind::Cpu => "flex",
                    other => other.name(),
                };
                Err(TrainError::Config(format!(
                    "device `{self}`: this build has {}; rebuild with `--features {feature}` to use it",
                    compiled_backends().join(", ")
                )))
            }
        }
    }
}

impl std::str::FromStr for DeviceSpec {
    type Err = TrainError;

    /// Parses `auto`, `cpu`, `flex`, `wgpu`, `vulkan`, `cuda` or `KIND:N`.
    fn from_str(name: &str) -> Result<Self, TrainError> {
        let (kind_name, index) = match name.split_once(':') {
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
        let kind = match kind_name {
            "auto" => DeviceKind::Auto,
            "cpu" | "flex" => DeviceKind::Cpu,
            "wgpu" => DeviceKind::Wgpu,
            "vulkan" => DeviceKind::Vulkan,
            "cuda" => DeviceKind::Cuda,
            other => {
                return Err(TrainError::Config(format!(
                    "device `{other}`: expected auto, cpu (flex), wgpu, vulkan or cuda, optionally KIND:N"
                )));
            }
        };
        match (kind, index) {
            (DeviceKind::Auto | DeviceKind::Cpu, Some(_)) => Err(TrainError::Config(format!(
                "device `{name}`: {kind_name} takes no number (`{kind_name},{kind_name}` gives two workers)"
            ))),
            (DeviceKind::Cuda, None) => Ok(Self {
                kind,
                index: Some(0),
            }),
            _ => Ok(Self { kind, index }),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.index {
            Some(n) => write!(f, "{}:{n}", self.kind.name()),
            None => f.write_str(self.kind.name()),
        }
    }
}

/// The device for `name` (`--backend`; see [`DeviceSpec`]).
pub fn device(name: &str) -> Result<Device, TrainError> {
    name.parse::<DeviceSpec>()?.device()
}

/// Whether `device` (plain or autodiff) is the CPU: the `flex` backend, whose threads are
/// `rayon`'s and where [`FusedAdamW`](crate::FusedAdamW) fuses its update.
pub(crate) fn on_cpu(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// The data-parallel workers of a comma-separated device list (`train.devices`, `--devices`):
/// `cpu,cpu`, `cuda:0,cuda:1`, `wgpu:0,wgpu:1`. An empty string is no list; an empty entry in
/// a list is an error. The devices are not opened, nor checked against this build.
pub fn device_list(list: &str) -> Result<Vec<DeviceSpec>, TrainError> {
    if list.trim().is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = list.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty()) {
        return Err(TrainError::Config(format!(
            "train.devices `{list}`: expected a comma-separated list such as cpu,cpu or cuda:0,cuda:1"
        )));
    }
    names.into_iter().map(str::parse).collect()
}

/// A device list written as [`device_list`] reads it: `cpu,cpu`, empty for none.
pub fn device_list_text(list: &[DeviceSpec]) -> String {
    let names: Vec<String> = list.iter().map(DeviceSpec::to_string).collect();
    names.join(",")
}

/// `train.devices` in configuration files: the comma-separated string of [`device_list`],
/// written back in [`DeviceSpec`]'s normal form.
pub(crate) mod device_list_string {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use super::DeviceSpec;

    /// Writes the list as `cpu,cpu` (empty for none).
    pub fn serialize<S: Serializer>(list: &[DeviceSpec], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::device_list_text(list))
    }

    /// Reads `cpu,cpu`, `cuda:0,cuda:1`, or an empty string for none.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<DeviceSpec>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::device_list(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

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
    fn device_lists_parse_each_worker_and_refuse_gaps() {
        let workers = device_list("cpu, flex").unwrap();
        assert_eq!(workers, [DeviceSpec::from_str("cpu").unwrap(); 2]);
        assert!(
            workers[0].device().unwrap() == workers[1].device().unwrap(),
            "two workers on the one CPU device"
        );
        assert_eq!(device_list("").unwrap(), []);
        for bad in ["cpu,", "cpu,,cpu", ","] {
            let err = device_list(bad).unwrap_err().to_string();
            assert!(err.contains("comma-separated"), "{bad}: {err}");
        }
        let err = device_list("cpu,tpu:0").unwrap_err().to_string();
        assert!(err.contains("`tpu`"), "{err}");
    }

    #[test]
    fn a_bare_cuda_is_cuda_0_and_names_are_written_back_normalised() {
        let spec = |name: &str| DeviceSpec::from_str(name).unwrap();
        assert_eq!(spec("cuda"), spec("cuda:0"));
        assert_ne!(spec("cuda:0"), spec("cuda:1"));
        assert_eq!(spec("cuda").kind, DeviceKind::Cuda);
        // Burn's default wgpu device is another device than its first discrete GPU.
        assert_ne!(spec("wgpu"), spec("wgpu:0"));
        let names: Vec<String> = device_list("flex,cuda,wgpu,vulkan:2,auto")
            .unwrap()
            .iter()
            .map(DeviceSpec::to_string)
            .collect();
        assert_eq!(names, ["cpu", "cuda:0", "wgpu", "vulkan:2", "auto"]);
    }
}
