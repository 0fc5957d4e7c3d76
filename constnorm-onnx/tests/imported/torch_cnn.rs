//! `cnn` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [1, 8, 8]; output `y`: [10]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, ReluOn};
use constnorm::{conv2d, max_pool2d, network, normalize};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [1, 8, 8];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [10];
/// One example's input.
pub type Input = [[[f32; 8]; 8]; 1];
/// One example's output.
pub type Output = [f32; 10];

/// Batch norm of ONNX `/1/BatchNormalization`.
#[normalize(batch, dims = 4, spatial = [8, 8])]
pub struct Layer1;

/// Group norm of ONNX `/5/Reshape`, `/5/Shape`, `/5/InstanceNormalization`, `/5/Reshape_1`, `/5/Mul`, `/5/Add`.
#[normalize(group, dims = 8, groups = 2, spatial = [4, 4])]
pub struct Layer5;

/// The network of `cnn`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/0/Conv`: [1, 8, 8] -> [4, 8, 8].
    pub layer_0: conv2d!(1, 4, 3, padding = 1, input = [1, 8, 8]),
    /// ONNX `/1/BatchNormalization`: [4, 8, 8] -> [4, 8, 8].
    pub layer_1: Layer1,
    /// ONNX `/2/Relu`: [4, 8, 8] -> [4, 8, 8].
    pub layer_2: ReluOn<[[[f32; 8]; 8]; 4]>,
    /// ONNX `/3/MaxPool`: [4, 8, 8] -> [4, 4, 4].
    pub layer_3: max_pool2d!(2, input = [4, 8, 8]),
    /// ONNX `/4/Conv`: [4, 4, 4] -> [8, 4, 4].
    pub layer_4: conv2d!(4, 8, 3, padding = 1, input = [4, 4, 4]),
    /// ONNX `/5/Reshape`, `/5/Shape`, `/5/InstanceNormalization`, `/5/Reshape_1`, `/5/Mul`, `/5/Add`: [8, 4, 4] -> [8, 4, 4].
    pub layer_5: Layer5,
    /// ONNX `/6/Relu`: [8, 4, 4] -> [8, 4, 4].
    pub layer_6: ReluOn<[[[f32; 4]; 4]; 8]>,
    /// ONNX `/7/GlobalAveragePool`: [8, 4, 4] -> [8, 1, 1].
    pub layer_7: AdaptiveAvgPool2d<8, 4, 4>,
    /// ONNX `/8/Flatten`: [8, 1, 1] -> [8].
    pub layer_8: Flatten<[[[f32; 1]; 1]; 8], 8>,
    /// ONNX `/9/Gemm`: [8] -> [10].
    pub layer_9: Linear<8, 10>,
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
/// (`f32`, C order, `[N, 1, 8, 8]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 10]` (`constnorm::runtime::npy::forward_eval`).
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
