//! Opening checkpoint files and reading their tensors as f32.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use half::{bf16, f16};

use crate::error::{Problem, WeightsError};

/// Element type of a stored tensor, as far as loading cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredType {
    F64,
    F32,
    F16,
    BF16,
    /// Anything else, by name (integers, booleans, float8...).
    Other(&'static str),
}

/// Name, shape and element type of one tensor, without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorMeta {
    /// Hugging Face tensor name.
    pub name: String,
    /// Shape as stored.
    pub shape: Vec<usize>,
    /// Element type as stored, lower case (`"f32"`, `"bf16"`, ...).
    pub dtype: &'static str,
}

/// Where a tensor's bytes are.
enum Location {
    /// A slice of a safetensors file held in memory.
    Safetensors {
        buffer: Arc<Vec<u8>>,
        start: usize,
        end: usize,
    },
    /// A tensor of a PyTorch pickle checkpoint, read on demand.
    Pytorch(pytorch_reader::Tensor),
}

struct Entry {
    meta: TensorMeta,
    stored: StoredType,
    location: Location,
}

/// An opened checkpoint: every tensor's metadata, with data read on demand.
pub struct Checkpoint {
    path: PathBuf,
    entries: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("path", &self.path)
            .field("tensors", &self.entries.len())
            .finish()
    }
}

/// File names searched in a model directory, in order of preference.
const CANDIDATES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

impl Checkpoint {
    /// Opens a checkpoint file, or the preferred checkpoint file of a model directory.
    ///
    /// Files ending in `.safetensors` are read as safetensors, `.index.json` as a sharded
    /// checkpoint (its `weight_map` names the shard of every tensor), anything else as a
    /// PyTorch pickle checkpoint. Pickles are parsed, never executed: a pickle that calls any
    /// function other than PyTorch's tensor rebuilders is refused.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, WeightsError> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            CANDIDATES
                .iter()
                .map(|name| path.join(name))
                .find(|candidate| candidate.is_file())
                .ok_or_else(|| WeightsError::NoCheckpoint {
                    path: path.to_path_buf(),
                })?
        } else {
            path.to_path_buf()
        };
        let mut checkpoint = Self {
            path: file.clone(),
            entries: BTreeMap::new(),
            metadata: BTreeMap::new(),
        };
        let name = file.to_string_lossy();
        if name.ends_with(".index.json") {
            checkpoint.add_shards(&file)?;
        } else {
            checkpoint.add_file(&file)?;
        }
        Ok(checkpoint)
    }

    /// The file this checkpoint was opened from (the index for sharded checkpoints).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata of every tensor, in name order.
    pub fn tensors(&self) -> impl Iterator<Item = &TensorMeta> {
        self.entries.values().map(|e| &e.meta)
    }

    /// The free-form `__metadata__` strings of a safetensors header (empty for other formats).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Metadata of one tensor.
    pub fn meta(&self, name: &str) -> Option<&TensorMeta> {
        self.entries.get(name).map(|e| &e.meta)
    }

    /// Reads a tensor as row-major f32 values, converting from f16, bf16 or f64.
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, Problem> {
        let entry = self.entries.get(name).ok_or_else(|| Problem::Missing {
            name: name.to_string(),
            expected: vec![],
        })?;
        let read_error = |reason: String| Problem::Read {
            name: name.to_string(),
            reason,
        };
        let owned;
        let bytes: &[u8] = match &entry.location {
            Location::Safetensors { buffer, start, end } => &buffer[*start..*end],
            Location::Pytorch(tensor) => {
                owned = tensor.read().map_err(|e| read_error(e.to_string()))?;
                &owned
            }
        };
        let values: Vec<f32> = match entry.stored {
            StoredType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            StoredType::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            StoredType::BF16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            StoredType::F64 => bytes
                .chunks_exact(8)
                .map(|c| {
                    f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                })
                .collect(),
            StoredType::Other(dtype) => {
                return Err(Problem::Dtype {
                    name: name.to_string(),
                    dtype: dtype.to_string(),
                });
            }
        };
        let expected: usize = entry.meta.shape.iter().product();
        if values.len() != expected {
            return Err(read_error(format!(
                "holds {} values, its shape {:?} needs {expected}",
                values.len(),
                entry.meta.shape
            )));
        }
        Ok(values)
    }

    /// Reads tensor `name` as a rank-`D` f32 tensor on `device`; its stored rank must be `D`.
    pub fn read_tensor<const D: usize>(
        &self,
        name: &str,
        device: &burn::tensor::Device,
    ) -> Result<burn::tensor::Tensor<D>, Problem> {
        let shape = self.meta(name).map(|m| m.shape.clone()).unwrap_or_default();
        let dims: [usize; D] = shape.clone().try_into().map_err(|_| Problem::Read {
            name: name.to_string(),
            reason: format!("has shape {shape:?}, expected rank {D}"),
        })?;
        let values = self.read_f32(name)?;
        Ok(burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(values, dims),
            device,
        ))
    }

    fn add_file(&mut self, file: &Path) -> Result<(), WeightsError> {
        if file.to_string_lossy().ends_with(".safetensors") {
            self.add_safetensors(file)
        } else {
            self.add_pytorch(file)
        }
    }

    fn add_shards(&mut self, index: &Path) -> Result<(), WeightsError> {
        let format = |reason: String| WeightsError::Format {
            path: index.to_path_buf(),
            reason,
        };
        let text = fs::read_to_string(index).map_err(|source| WeightsError::Io {
            path: index.to_path_buf(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format(format!("invalid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| format("no `weight_map` object".into()))?;
        let mut shards: Vec<&str> = Vec::new();
        for (tensor, shard) in map {
            let shard = shard
                .as_str()
                .ok_or_else(|| format(format!("shard of `{tensor}` is not a string")))?;
            if shard.contains('/') || shard.contains('\\') || shard.starts_with('.') {
                return Err(format(format!(
                    "shard `{shard}` of `{tensor}` is not a plain file name"
                )));
            }
            if !shards.contains(&shard) {
                shards.push(shard);
            }
        }
        let dir = index.parent().unwrap_or(Path::new("."));
        for shard in shards {
            self.add_file(&dir.join(shard))?;
        }
        for tensor in map.keys() {
            if !self.entries.contains_key(tensor) {
                return Err(format(format!(
                    "`{tensor}` is in the weight map but in none of the shards"
                )));
            }
        }
        Ok(())
    }

    fn add_safetensors(&mut self, file: &Path) -> Result<(), WeightsError> {
        let buffer = fs::read(file).map_err(|source| WeightsError::Io {
            path: file.to_path_buf(),
            source,
        })?;
        let (header_len, metadata) =
            safetensors::SafeTensors::read_metadata(&buffer).map_err(|e| WeightsError::Format {
                path: file.to_path_buf(),
                reason: format!("not a valid safetensors file: {e}"),
            })?;
        if let Some(map) = metadata.metadata() {
            self.metadata
                .extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let data_start = 8 + header_len;
        let buffer = Arc::new(buffer);
        for (name, info) in metadata.tensors() {
            let (start, end) = info.data_offsets;
            let stored = match info.dtype {
                safetensors::Dtype::F32 => StoredType::F32,
                safetensors::Dtype::F16 => StoredType::F16,
                safetensors::Dtype::BF16 => StoredType::BF16,
                safetensors::Dtype::F64 => StoredType::F64,
                other => StoredType::Other(safetensors_dtype_name(other)),
            };
            self.insert(
                file,
                Entry {
                    meta: TensorMeta {
                        name: name.clone(),
                        shape: info.shape.clone(),
                        dtype: stored_name(stored),
                    },
                    stored,
                    location: Location::Safetensors {
                        buffer: Arc::clone(&buffer),
                        start: data_start + start,
                        end: data_start + end,
                    },
                },
            )?;
        }
        Ok(())
    }

    fn add_pytorch(&mut self, file: &Path) -> Result<(), WeightsError> {
        let reader =
            pytorch_reader::PytorchReader::new(file).map_err(|e| WeightsError::Format {
                path: file.to_path_buf(),
                reason: format!("not a readable PyTorch checkpoint: {e}"),
            })?;
        for (name, tensor) in reader.into_tensors() {
            use pytorch_reader::DType as D;
            let stored = match tensor.dtype() {
                D::F32 => StoredType::F32,
                D::F16 => StoredType::F16,
                D::BF16 => StoredType::BF16,
                D::F64 => StoredType::F64,
                other => StoredType::Other(pytorch_dtype_name(other)),
            };
            let meta = TensorMeta {
                name: name.clone(),
                shape: tensor.shape().to_vec(),
                dtype: stored_name(stored),
            };
            self.insert(
                file,
                Entry {
                    meta,
                    stored,
                    location: Location::Pytorch(tensor),
                },
            )?;
        }
        Ok(())
    }

    fn insert(&mut self, file: &Path, entry: Entry) -> Result<(), WeightsError> {
        let name = entry.meta.name.clone();
        if self.entries.insert(name.clone(), entry).is_some() {
            return Err(WeightsError::Format {
                path: file.to_path_buf(),
                reason: format!("tensor `{name}` appears in more than one shard"),
            });
        }
        Ok(())
    }
}

fn stored_name(stored: StoredType) -> &'static str {
    match stored {
        StoredType::F64 => "f64",
        StoredType::F32 => "f32",
        StoredType::F16 => "f16",
        StoredType::BF16 => "bf16",
        StoredType::Other(name) => name,
    }
}

fn safetensors_dtype_name(dtype: safetensors::Dtype) -> &'static str {
    use safetensors::Dtype as D;
    match dtype {
        D::BOOL => "bool",
        D::U8 => "u8",
        D::I8 => "i8",
        D::I16 => "i16",
        D::U16 => "u16",
        D::I32 => "i32",
        D::U32 => "u32",
        D::I64 => "i64",
        D::U64 => "u64",
        _ => "an unsupported type",
    }
}

fn pytorch_dtype_name(dtype: pytorch_reader::DType) -> &'static str {
    use pytorch_reader::DType as D;
    match dtype {
        D::I64 => "i64",
        D::I32 => "i32",
        D::I16 => "i16",
        D::I8 => "i8",
        D::U64 => "u64",
        D::U32 => "u32",
        D::U16 => "u16",
        D::U8 => "u8",
        D::Bool => "bool",
        D::F64 | D::F32 | D::F16 | D::BF16 => "float",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pelt-weights-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(path: &Path, tensors: &[(&str, safetensors::Dtype, Vec<usize>, Vec<u8>)]) {
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view = TensorView::new(*dtype, shape.clone(), data).unwrap();
                (name.to_string(), view)
            })
            .collect();
        safetensors::serialize_to_file(views, None, path).unwrap();
    }

    #[test]
    fn sharded_checkpoints_join_their_shards() {
        let dir = temp_dir("shards");
        let one = 1.5f32.to_le_bytes().to_vec();
        let two = [2.0f32, -3.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write(
            &dir.join("a.safetensors"),
            &[("x", safetensors::Dtype::F32, vec![1], one)],
        );
        write(
            &dir.join("b.safetensors"),
            &[("y", safetensors::Dtype::F32, vec![2], two)],
        );
        let index = r#"{"weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}"#;
        fs::write(dir.join("model.safetensors.index.json"), index).unwrap();
        let checkpoint = Checkpoint::open(&dir).unwrap();
        assert_eq!(checkpoint.read_f32("x").unwrap(), vec![1.5]);
        assert_eq!(checkpoint.read_f32("y").unwrap(), vec![2.0, -3.0]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn shard_names_cannot_leave_the_model_directory() {
        let dir = temp_dir("escape");
        let index = r#"{"weight_map": {"x": "../elsewhere.safetensors"}}"#;
        let path = dir.join("model.safetensors.index.json");
        fs::write(&path, index).unwrap();
        let err = Checkpoint::open(&path).unwrap_err().to_string();
        assert!(err.contains("not a plain file name"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn integer_tensors_are_refused_by_name() {
        let dir = temp_dir("ints");
        let path = dir.join("model.safetensors");
        let data = 7i64.to_le_bytes().to_vec();
        write(&path, &[("steps", safetensors::Dtype::I64, vec![1], data)]);
        let checkpoint = Checkpoint::open(&path).unwrap();
        let err = checkpoint.read_f32("steps").unwrap_err().to_string();
        assert!(err.contains("`steps`") && err.contains("i64"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_checkpoint_is_named() {
        let dir = temp_dir("garbage");
        let path = dir.join("pytorch_model.bin");
        fs::write(&path, b"this is not a pickle").unwrap();
        let err = Checkpoint::open(&dir).unwrap_err().to_string();
        assert!(err.contains("pytorch_model.bin"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
