//! `separable` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [6, 16, 16]; output `y`: [4]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{Flatten, Linear, Relu6On};
use constnorm::{conv2d, max_pool2d, network, normalize};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [6, 16, 16];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [4];
/// One example's input.
pub type Input = [[[f32; 16]; 16]; 6];
/// One example's output.
pub type Output = [f32; 4];

/// Batch norm of ONNX `/dw_bn/BatchNormalization`.
#[normalize(batch, dims = 6, spatial = [8, 8])]
pub struct DwBn;

/// Batch norm of ONNX `/pw_bn/BatchNormalization`.
#[normalize(batch, dims = 12, spatial = [8, 8])]
pub struct PwBn;

/// The network of `separable`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/dw/Conv`: [6, 16, 16] -> [6, 8, 8].
    pub dw: conv2d!(6, 6, 3, stride = 2, padding = 1, groups = 6, bias = false, input = [6, 16, 16]),
    /// ONNX `/dw_bn/BatchNormalization`: [6, 8, 8] -> [6, 8, 8].
    pub dw_bn: DwBn,
    /// ONNX `/dw_relu/Clip`: [6, 8, 8] -> [6, 8, 8].
    pub dw_relu: Relu6On<[[[f32; 8]; 8]; 6]>,
    /// ONNX `/pw/Conv`: [6, 8, 8] -> [12, 8, 8].
    pub pw: conv2d!(6, 12, 1, bias = false, input = [6, 8, 8]),
    /// ONNX `/pw_bn/BatchNormalization`: [12, 8, 8] -> [12, 8, 8].
    pub pw_bn: PwBn,
    /// ONNX `/pw_relu/Clip`: [12, 8, 8] -> [12, 8, 8].
    pub pw_relu: Relu6On<[[[f32; 8]; 8]; 12]>,
    /// ONNX `/pool/MaxPool`: [12, 8, 8] -> [12, 4, 4].
    pub pool: max_pool2d!(2, input = [12, 8, 8]),
    /// ONNX `/flatten/Flatten`: [12, 4, 4] -> [192].
    pub flatten: Flatten<[[[f32; 4]; 4]; 12], 192>,
    /// ONNX `/fc/Gemm`: [192] -> [4].
    pub fc: Linear<192, 4>,
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
/// (`f32`, C order, `[N, 6, 16, 16]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 4]` (`constnorm::runtime::npy::forward_eval`).
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
