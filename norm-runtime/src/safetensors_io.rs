//! PyTorch state dicts in the safetensors format (feature `safetensors`):
//! load a layer from a file saved with `safetensors.torch.save_file`, and
//! save layers in the same conventions.
//!
//! ```
//! use constnorm::normalize;
//! use constnorm::safetensors::{LoadOptions, StateDictFile, StateDictWriter};
//!
//! #[normalize(batch, dims = 4)]
//! struct Bn;
//!
//! let mut trained = Bn::new();
//! trained.running_mean = [0.5, -0.5, 1.0, 2.0];
//! let mut writer = StateDictWriter::new();
//! writer.add("encoder.bn", &trained)?;
//! let bytes = writer.to_bytes()?;
//!
//! let file = StateDictFile::parse(&bytes)?;
//! let mut layer = Bn::new();
//! file.load("encoder.bn", &mut layer, LoadOptions::default())?;
//! assert_eq!(layer, trained);
//! # Ok::<(), constnorm::safetensors::LoadError>(())
//! ```

use crate::{Float, StateDict};
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::string::{String, ToString};
use std::vec::Vec;

/// How strictly [`StateDictFile::load`] matches the file to the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Refuse keys under the prefix that the layer does not have (PyTorch's
    /// `load_state_dict(strict=True)`). Default `true`.
    pub strict: bool,
    /// Accept `f32` tensors into `f64` layers and `f64` into `f32` (rounded).
    /// Default `false`: a dtype mismatch is an error.
    pub convert_dtype: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            strict: true,
            convert_dtype: false,
        }
    }
}

/// Why a state dict could not be loaded or saved. Loading that fails leaves
/// the layer unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// The bytes are not a valid safetensors file.
    Format(String),
    /// The file has no tensor under this key.
    MissingKey(String),
    /// Strict loading found a key under the prefix that the layer does not have.
    UnexpectedKey(String),
    /// The tensor has another shape than the layer's array.
    Shape {
        /// The key.
        key: String,
        /// The layer's shape (PyTorch's).
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// The tensor's dtype does not match the layer's.
    Dtype {
        /// The key.
        key: String,
        /// The dtype the layer needs.
        expected: &'static str,
        /// The file's dtype.
        found: String,
    },
    /// A parameter or running statistic is NaN or infinite (a NaN running
    /// variance would silently ruin inference).
    NonFinite {
        /// The key.
        key: String,
        /// The flat index of the first bad value.
        index: usize,
    },
    /// A running variance is negative (its square root in inference would
    /// be NaN).
    NegativeVariance {
        /// The key.
        key: String,
        /// The flat index of the first bad value.
        index: usize,
    },
    /// `num_batches_tracked` is negative.
    NegativeCount {
        /// The key.
        key: String,
    },
    /// Saving two tensors under the same key.
    DuplicateKey(String),
    /// A fixed tensor (a buffer such as an STFT basis, which the layer
    /// computes rather than stores) does not hold the values the layer
    /// computes.
    UnexpectedValues {
        /// The key.
        key: String,
        /// The flat index of the first value off.
        index: usize,
        /// What the values should be.
        expected: &'static str,
    },
    /// A key map ([`StateDictFile::load_renamed`]) names a key the layer
    /// does not have.
    UnusedRename {
        /// The name in the file.
        from: String,
        /// The key the map gives it, which the layer lacks.
        to: String,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => write!(f, "not a valid safetensors file: {e}"),
            Self::MissingKey(key) => write!(f, "missing key `{key}` in the state dict"),
            Self::UnexpectedKey(key) => write!(
                f,
                "unexpected key `{key}` in the state dict (the layer has no such array; load with strict = false to ignore it)"
            ),
            Self::Shape {
                key,
                expected,
                found,
            } => write!(
                f,
                "`{key}` has shape {found:?}, the layer expects {expected:?}"
            ),
            Self::Dtype {
                key,
                expected,
                found,
            } => write!(
                f,
                "`{key}` is {found}, the layer expects {expected} (load with convert_dtype = true to convert)"
            ),
            Self::NonFinite { key, index } => {
                write!(f, "`{key}` has a NaN or infinite value at index {index}")
            }
            Self::NegativeVariance { key, index } => {
                write!(f, "`{key}` has a negative variance at index {index}")
            }
            Self::NegativeCount { key } => write!(f, "`{key}` is negative"),
            Self::DuplicateKey(key) => write!(f, "two tensors would be saved under `{key}`"),
            Self::UnexpectedValues {
                key,
                index,
                expected,
            } => write!(f, "`{key}` is not {expected}: value {index} is off"),
            Self::UnusedRename { from, to } => write!(
                f,
                "the key map sends `{from}` to `{to}`, which the layer does not have"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

fn key(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn dtype_name(dtype: Dtype) -> String {
    format!("{dtype:?}").to_lowercase()
}

/// A parsed safetensors file of PyTorch state-dict tensors.
pub struct StateDictFile<'data> {
    tensors: SafeTensors<'data>,
}

impl<'data> StateDictFile<'data> {
    /// Parses a file's bytes (no copy).
    ///
    /// # Errors
    /// [`LoadError::Format`] when the bytes are not safetensors.
    pub fn parse(bytes: &'data [u8]) -> Result<Self, LoadError> {
        SafeTensors::deserialize(bytes)
            .map(|tensors| Self { tensors })
            .map_err(|e| LoadError::Format(e.to_string()))
    }

    /// The keys in the file, sorted.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .tensors
            .names()
            .into_iter()
            .map(ToString::to_string)
            .collect();
        keys.sort();
        keys
    }

    /// Loads `layer` from the tensors under `prefix` (`"bn1"` reads
    /// `bn1.weight`, ...; `""` reads `weight`, ...). Every tensor is read and
    /// checked first; the layer is written only when all of them are right.
    ///
    /// # Errors
    /// [`LoadError::MissingKey`], [`LoadError::UnexpectedKey`] (strict),
    /// [`LoadError::Shape`], [`LoadError::Dtype`], [`LoadError::NonFinite`],
    /// [`LoadError::NegativeCount`]; the layer is then unchanged.
    pub fn load<L: StateDict>(
        &self,
        prefix: &str,
        layer: &mut L,
        options: LoadOptions,
    ) -> Result<(), LoadError> {
        let under_prefix = |k: &str| {
            prefix.is_empty()
                || k.strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
        };
        self.load_keys(
            layer,
            options,
            |name| key(prefix, name),
            under_prefix,
            false,
        )
    }

    /// Loads `layer` from a file whose names differ from the layer's keys:
    /// `renames` pairs a name in the file with the layer's key it fills
    /// (`("encoder.0.reparam_conv.weight", "conv0.weight")`); every other
    /// key is read under its own name. This is how a model trained
    /// elsewhere comes in: a key map where its names and the fields differ.
    /// Every tensor is read and checked first, as in [`load`](Self::load).
    /// A counter the file lacks (`num_batches_tracked`: other frameworks do
    /// not count) keeps the layer's value, as PyTorch's batch norm loads
    /// such a state dict.
    ///
    /// # Errors
    /// Those of [`load`](Self::load) (strict: every tensor of the file must
    /// be read), and [`LoadError::UnusedRename`] for a pair whose key the
    /// layer does not have; the layer is then unchanged.
    pub fn load_renamed<L: StateDict>(
        &self,
        layer: &mut L,
        renames: &[(&str, &str)],
        options: LoadOptions,
    ) -> Result<(), LoadError> {
        let mut ours = BTreeSet::new();
        layer.visit_arrays(&mut |name, _, _| {
            ours.insert(name.to_string());
        });
        layer.visit_counters(&mut |name, _| {
            ours.insert(name.to_string());
        });
        if let Some((from, to)) = renames.iter().find(|(_, to)| !ours.contains(*to)) {
            return Err(LoadError::UnusedRename {
                from: (*from).to_string(),
                to: (*to).to_string(),
            });
        }
        let file_name = |name: &str| {
            renames
                .iter()
                .find(|(_, to)| *to == name)
                .map_or_else(|| name.to_string(), |(from, _)| (*from).to_string())
        };
        self.load_keys(layer, options, file_name, |_| true, true)
    }

    /// [`load`](Self::load) and [`load_renamed`](Self::load_renamed):
    /// `file_key` names the tensor of each of the layer's keys, strict
    /// loading refuses any unread tensor for which `strict_over` holds, and
    /// `counters_optional` lets a counter be missing (the layer keeps its
    /// own).
    fn load_keys<L: StateDict>(
        &self,
        layer: &mut L,
        options: LoadOptions,
        file_key: impl Fn(&str) -> String,
        strict_over: impl Fn(&str) -> bool,
        counters_optional: bool,
    ) -> Result<(), LoadError> {
        // (the file's name, the shape, whether the layer's key is a
        // running variance: the rule follows the layer, not the file's name)
        let mut expected: Vec<(String, &'static [usize], bool)> = Vec::new();
        layer.visit_arrays(&mut |name, shape, _| {
            let name = name.to_string();
            expected.push((file_key(&name), shape, crate::state::is_variance(&name)));
        });
        let mut counters: Vec<String> = Vec::new();
        layer.visit_counters(&mut |name, _| counters.push(file_key(&name.to_string())));
        let values = expected
            .iter()
            .map(|(key, shape, variance)| self.read::<L::Scalar>(key, shape, options, *variance))
            .collect::<Result<Vec<_>, _>>()?;
        let counts = counters
            .iter()
            .map(|key| match self.read_count(key) {
                Err(LoadError::MissingKey(_)) if counters_optional => Ok(None),
                other => other.map(Some),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if options.strict {
            let ours: BTreeSet<&str> = expected
                .iter()
                .map(|(key, _, _)| key.as_str())
                .chain(counters.iter().map(String::as_str))
                .collect();
            if let Some(extra) = self
                .keys()
                .into_iter()
                .find(|k| strict_over(k) && !ours.contains(k.as_str()))
            {
                return Err(LoadError::UnexpectedKey(extra));
            }
        }
        // The visit order is fixed, so the i-th array visited is the i-th read.
        let mut values = values.into_iter();
        layer.visit_arrays_mut(&mut |_, _, out| {
            if let Some(v) = values.next() {
                out.copy_from_slice(&v);
            }
        });
        let mut counts = counts.into_iter();
        layer.visit_counters_mut(&mut |_, out| {
            if let Some(Some(v)) = counts.next() {
                *out = v;
            }
        });
        Ok(())
    }

    /// The tensor `key`, checked as [`load`](Self::load) checks a layer's
    /// (its shape must be `shape`, its dtype `T`'s, every value finite), for
    /// what a key map cannot say: a weight stored in another layout (Paddle's
    /// `[in, out]` linear weights) is read here and rearranged by the caller.
    ///
    /// # Errors
    /// [`LoadError::MissingKey`], [`LoadError::Shape`], [`LoadError::Dtype`],
    /// [`LoadError::NonFinite`], and [`LoadError::NegativeVariance`] under a
    /// running variance's name.
    pub fn read_tensor<T: Float>(&self, key: &str, shape: &[usize]) -> Result<Vec<T>, LoadError> {
        self.read(
            key,
            shape,
            LoadOptions::default(),
            crate::state::is_variance(key),
        )
    }

    fn tensor(&self, key: &str) -> Result<safetensors::tensor::TensorView<'data>, LoadError> {
        self.tensors
            .tensor(key)
            .map_err(|_| LoadError::MissingKey(key.to_string()))
    }

    /// The tensor `key` of `shape`, every value finite and, for a running
    /// `variance`, none negative.
    fn read<T: Float>(
        &self,
        key: &str,
        shape: &[usize],
        options: LoadOptions,
        variance: bool,
    ) -> Result<Vec<T>, LoadError> {
        let view = self.tensor(key)?;
        if view.shape() != shape {
            return Err(LoadError::Shape {
                key: key.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let ours = if T::NAME == "f32" {
            Dtype::F32
        } else {
            Dtype::F64
        };
        let data = view.data();
        let values: Vec<T> = match view.dtype() {
            Dtype::F32 if ours == Dtype::F32 || options.convert_dtype => data
                .chunks_exact(4)
                .map(|b| T::from_f64(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))))
                .collect(),
            Dtype::F64 if ours == Dtype::F64 || options.convert_dtype => data
                .chunks_exact(8)
                .map(|b| {
                    T::from_f64(f64::from_le_bytes([
                        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                    ]))
                })
                .collect(),
            other => {
                return Err(LoadError::Dtype {
                    key: key.to_string(),
                    expected: T::NAME,
                    found: dtype_name(other),
                });
            }
        };
        if let Some(index) = values.iter().position(|v| !v.to_f64().is_finite()) {
            return Err(LoadError::NonFinite {
                key: key.to_string(),
                index,
            });
        }
        if variance && let Some(index) = values.iter().position(|v| v.to_f64() < 0.0) {
            return Err(LoadError::NegativeVariance {
                key: key.to_string(),
                index,
            });
        }
        Ok(values)
    }

    fn read_count(&self, key: &str) -> Result<u64, LoadError> {
        let view = self.tensor(key)?;
        if !view.shape().is_empty() {
            return Err(LoadError::Shape {
                key: key.to_string(),
                expected: Vec::new(),
                found: view.shape().to_vec(),
            });
        }
        if view.dtype() != Dtype::I64 {
            return Err(LoadError::Dtype {
                key: key.to_string(),
                expected: "i64",
                found: dtype_name(view.dtype()),
            });
        }
        let b = view.data();
        let value = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        u64::try_from(value).map_err(|_| LoadError::NegativeCount {
            key: key.to_string(),
        })
    }
}

/// One tensor to save: dtype, shape and little-endian bytes.
struct Owned {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &Owned {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Collects layers' tensors under PyTorch's state-dict keys and writes them
/// as one safetensors file: arrays in the layer's dtype with PyTorch's
/// shapes, `num_batches_tracked` as an int64 scalar, as
/// `safetensors.torch.save_file` writes them.
#[derive(Default)]
pub struct StateDictWriter {
    tensors: BTreeMap<String, Owned>,
}

impl StateDictWriter {
    /// An empty state dict.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a layer's tensors under `prefix`.
    ///
    /// # Errors
    /// [`LoadError::DuplicateKey`] if a key is already taken; nothing is added then.
    pub fn add<L: StateDict>(&mut self, prefix: &str, layer: &L) -> Result<(), LoadError> {
        let mut new: Vec<(String, Owned)> = Vec::new();
        layer.visit_arrays(&mut |name, shape, values| {
            let (dtype, bytes) = if L::Scalar::NAME == "f32" {
                #[allow(clippy::cast_possible_truncation)]
                let bytes = values
                    .iter()
                    .flat_map(|v| (v.to_f64() as f32).to_le_bytes())
                    .collect();
                (Dtype::F32, bytes)
            } else {
                (
                    Dtype::F64,
                    values
                        .iter()
                        .flat_map(|v| v.to_f64().to_le_bytes())
                        .collect(),
                )
            };
            new.push((
                key(prefix, &name.to_string()),
                Owned {
                    dtype,
                    shape: shape.to_vec(),
                    bytes,
                },
            ));
        });
        layer.visit_counters(&mut |name, count| {
            let count = i64::try_from(count).unwrap_or(i64::MAX);
            new.push((
                key(prefix, &name.to_string()),
                Owned {
                    dtype: Dtype::I64,
                    shape: Vec::new(),
                    bytes: count.to_le_bytes().to_vec(),
                },
            ));
        });
        if let Some((taken, _)) = new.iter().find(|(k, _)| self.tensors.contains_key(k)) {
            return Err(LoadError::DuplicateKey(taken.clone()));
        }
        self.tensors.extend(new);
        Ok(())
    }

    /// The file's bytes.
    ///
    /// # Errors
    /// [`LoadError::Format`] if safetensors refuses the data.
    pub fn to_bytes(&self) -> Result<Vec<u8>, LoadError> {
        safetensors::serialize(self.tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
            .map_err(|e| LoadError::Format(e.to_string()))
    }
}
