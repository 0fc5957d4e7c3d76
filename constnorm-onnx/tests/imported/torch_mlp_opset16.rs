//! `mlp_opset16` imported by constnorm-onnx 0.1.0 (opset 16, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [4]; output `y`: [3]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{Linear, Relu};
use constnorm::{network, normalize};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 1] = [4];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [3];
/// One example's input.
pub type Input = [f32; 4];
/// One example's output.
pub type Output = [f32; 3];

/// Batch norm of ONNX `/bn1/BatchNormalization`.
#[normalize(batch, dims = 16)]
pub struct Bn1;

/// Layer norm of ONNX `/ln2/ReduceMean`, `/ln2/Sub`, `/ln2/Pow`, `/ln2/ReduceMean_1`, `/ln2/Add`, `/ln2/Sqrt`, `/ln2/Div`, `/ln2/Mul`, `/ln2/Add_1`.
#[normalize(layer, dims = 16)]
pub struct Ln2;

/// The network of `mlp_opset16`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/fc1/Gemm`: [4] -> [16].
    pub fc1: Linear<4, 16>,
    /// ONNX `/bn1/BatchNormalization`: [16] -> [16].
    pub bn1: Bn1,
    /// ONNX `/act1/Relu`: [16] -> [16].
    pub act1: Relu<16>,
    /// ONNX `/fc2/Gemm`: [16] -> [16].
    pub fc2: Linear<16, 16>,
    /// ONNX `/ln2/ReduceMean`, `/ln2/Sub`, `/ln2/Pow`, `/ln2/ReduceMean_1`, `/ln2/Add`, `/ln2/Sqrt`, `/ln2/Div`, `/ln2/Mul`, `/ln2/Add_1`: [16] -> [16].
    pub ln2: Ln2,
    /// ONNX `/act2/Relu`: [16] -> [16].
    pub act2: Relu<16>,
    /// ONNX `/out/Gemm`: [16] -> [3].
    pub out: Linear<16, 3>,
}

/// `weights.safetensors`, where the importer wrote it.
pub const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights.safetensors");

/// The network with the weights of a safetensors file's bytes, on the heap.
/// Every tensor is checked (shape, dtype, finite values) and the file must
/// hold nothing else.
///
/// # Errors
/// A [`constnorm::safetensors::LoadError`] naming the key at fault.
pub fn from_bytes(bytes: &[u8]) -> Result<Box<Net>, constnorm::safetensors::LoadError> {
    use constnorm::safetensors::{LoadOptions, StateDictFile};
    let file = StateDictFile::parse(bytes)?;
    let mut net = Net::new_boxed();
    file.load("", &mut *net, LoadOptions::default())?;
    Ok(net)
}

/// The network with the weights of the safetensors file at `path`
/// ([`WEIGHTS`] for the imported ones), on the heap.
///
/// # Errors
/// The file cannot be read, or [`from_bytes`]'s.
pub fn load(
    path: impl AsRef<std::path::Path>,
) -> Result<Box<Net>, Box<dyn std::error::Error + Send + Sync>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(from_bytes(&bytes)?)
}

/// The eval forward of `net` on every example of a `.npy` file's bytes
/// (`f32`, C order, `[N, 4]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 3]` (`constnorm::runtime::npy::forward_eval`).
///
/// # Errors
/// A file that is not such an array, or what a layer reports.
pub fn check(
    net: &Net,
    npy_bytes: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut workspace = NetWorkspace::<4>::new_boxed();
    constnorm::runtime::npy::forward_eval(net, &mut *workspace, npy_bytes)
}
