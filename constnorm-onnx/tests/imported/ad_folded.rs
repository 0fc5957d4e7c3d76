//! `ad` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [640]; output `y`: [640]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{Linear, Relu};
use constnorm::{network};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 1] = [640];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [640];
/// One example's input.
pub type Input = [f32; 640];
/// One example's output.
pub type Output = [f32; 640];

/// The network of `ad`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/fc1/Gemm`, `/bn1/BatchNormalization`: [640] -> [128].
    pub fc1: Linear<640, 128>,
    /// ONNX `/relu1/Relu`: [128] -> [128].
    pub relu1: Relu<128>,
    /// ONNX `/fc2/Gemm`, `/bn2/BatchNormalization`: [128] -> [128].
    pub fc2: Linear<128, 128>,
    /// ONNX `/relu2/Relu`: [128] -> [128].
    pub relu2: Relu<128>,
    /// ONNX `/fc3/Gemm`, `/bn3/BatchNormalization`: [128] -> [128].
    pub fc3: Linear<128, 128>,
    /// ONNX `/relu3/Relu`: [128] -> [128].
    pub relu3: Relu<128>,
    /// ONNX `/fc4/Gemm`, `/bn4/BatchNormalization`: [128] -> [128].
    pub fc4: Linear<128, 128>,
    /// ONNX `/relu4/Relu`: [128] -> [128].
    pub relu4: Relu<128>,
    /// ONNX `/fc5/Gemm`, `/bn5/BatchNormalization`: [128] -> [8].
    pub fc5: Linear<128, 8>,
    /// ONNX `/relu5/Relu`: [8] -> [8].
    pub relu5: Relu<8>,
    /// ONNX `/fc6/Gemm`, `/bn6/BatchNormalization`: [8] -> [128].
    pub fc6: Linear<8, 128>,
    /// ONNX `/relu6/Relu`: [128] -> [128].
    pub relu6: Relu<128>,
    /// ONNX `/fc7/Gemm`, `/bn7/BatchNormalization`: [128] -> [128].
    pub fc7: Linear<128, 128>,
    /// ONNX `/relu7/Relu`: [128] -> [128].
    pub relu7: Relu<128>,
    /// ONNX `/fc8/Gemm`, `/bn8/BatchNormalization`: [128] -> [128].
    pub fc8: Linear<128, 128>,
    /// ONNX `/relu8/Relu`: [128] -> [128].
    pub relu8: Relu<128>,
    /// ONNX `/fc9/Gemm`, `/bn9/BatchNormalization`: [128] -> [128].
    pub fc9: Linear<128, 128>,
    /// ONNX `/relu9/Relu`: [128] -> [128].
    pub relu9: Relu<128>,
    /// ONNX `/fc10/Gemm`: [128] -> [640].
    pub fc10: Linear<128, 640>,
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
/// (`f32`, C order, `[N, 640]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 640]` (`constnorm::runtime::npy::forward_eval`).
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
