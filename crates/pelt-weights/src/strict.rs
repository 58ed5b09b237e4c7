//! Strict loading: every tensor the model needs, with its exact shape, and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::{Device, Tensor, TensorData};

use crate::checkpoint::Checkpoint;
use crate::error::{Problem, WeightsError};

/// Hands out a checkpoint's tensors by name and expected shape, and remembers what was used.
///
/// A failed [`take`](Self::take) does not stop loading: it returns zeros and records the
/// problem, so that [`finish`](Self::finish) can report every problem of a checkpoint at once
/// instead of one per attempt.
pub struct StrictLoader<'a> {
    checkpoint: &'a Checkpoint,
    device: Device,
    used: BTreeSet<String>,
    aliases: BTreeSet<String>,
    problems: BTreeMap<String, Problem>,
}

impl<'a> StrictLoader<'a> {
    /// Starts loading from `checkpoint`, creating tensors on `device`.
    pub fn new(checkpoint: &'a Checkpoint, device: &Device) -> Self {
        Self {
            checkpoint,
            device: device.clone(),
            used: BTreeSet::new(),
            aliases: BTreeSet::new(),
            problems: BTreeMap::new(),
        }
    }

    /// The device tensors are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether the checkpoint holds a tensor of this name (used or not).
    pub fn contains(&self, name: &str) -> bool {
        self.checkpoint.meta(name).is_some()
    }

    /// Takes the tensor `name`, which must have exactly `shape`.
    pub fn take<const D: usize>(&mut self, name: &str, shape: [usize; D]) -> Tensor<D> {
        let values = self.take_values(name, &shape);
        Tensor::from_data(TensorData::new(values, shape), &self.device)
    }

    /// Takes the row-major values of tensor `name`, which must have exactly `shape`; zeros
    /// (and a recorded problem) when it cannot.
    pub fn take_values(&mut self, name: &str, shape: &[usize]) -> Vec<f32> {
        self.used.insert(name.to_string());
        self.read(name, shape).unwrap_or_else(|problem| {
            self.problems.insert(name.to_string(), problem);
            vec![0.0; shape.iter().product()]
        })
    }

    /// Declares `name` a known alias of a tensor loaded under another name (a tied
    /// embedding saved twice, say): present or not, it is not reported as unused.
    pub fn alias(&mut self, name: &str) {
        self.aliases.insert(name.to_string());
    }

    /// Ends loading: an error listing every missing, mismatched, unreadable or unused tensor.
    pub fn finish(self) -> Result<(), WeightsError> {
        let mut problems = self.problems;
        for meta in self.checkpoint.tensors() {
            if !self.used.contains(&meta.name) && !self.aliases.contains(&meta.name) {
                problems.insert(
                    meta.name.clone(),
                    Problem::Unused {
                        name: meta.name.clone(),
                        shape: meta.shape.clone(),
                    },
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(WeightsError::Mismatch {
                path: self.checkpoint.path().to_path_buf(),
                problems: problems.into_values().collect(),
            })
        }
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, Problem> {
        let meta = self.checkpoint.meta(name).ok_or_else(|| Problem::Missing {
            name: name.to_string(),
            expected: shape.to_vec(),
        })?;
        if meta.shape != shape {
            return Err(Problem::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: meta.shape.clone(),
            });
        }
        let values = self.checkpoint.read_f32(name)?;
        let count = values.iter().filter(|v| !v.is_finite()).count();
        if count > 0 {
            return Err(Problem::NonFinite {
                name: name.to_string(),
                count,
            });
        }
        Ok(values)
    }
}
