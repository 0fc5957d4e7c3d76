//! `ic` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [3, 32, 32]; output `y`: [10]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, ReluOn};
use constnorm::{conv2d, network};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [3, 32, 32];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [10];
/// One example's input.
pub type Input = [[[f32; 32]; 32]; 3];
/// One example's output.
pub type Output = [f32; 10];

/// Residual block: `x + body(x)` (ONNX `/layer1/Add`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Layer1 {
    /// ONNX `/layer1/conv1/Conv`: [16, 32, 32] -> [16, 32, 32].
    pub conv1: conv2d!(16, 16, 3, padding = 1, input = [16, 32, 32]),
    /// ONNX `/layer1/relu/Relu`: [16, 32, 32] -> [16, 32, 32].
    pub relu: ReluOn<[[[f32; 32]; 32]; 16]>,
    /// ONNX `/layer1/conv2/Conv`: [16, 32, 32] -> [16, 32, 32].
    pub conv2: conv2d!(16, 16, 3, padding = 1, input = [16, 32, 32]),
}

/// Residual block: `shortcut(x) + body(x)` (ONNX `/layer2/Add`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Layer2 {
    /// ONNX `/layer2/conv1/Conv`: [16, 32, 32] -> [32, 16, 16].
    pub conv1: conv2d!(16, 32, 3, stride = 2, padding = 1, input = [16, 32, 32]),
    /// ONNX `/layer2/relu/Relu`: [32, 16, 16] -> [32, 16, 16].
    pub relu: ReluOn<[[[f32; 16]; 16]; 32]>,
    /// ONNX `/layer2/conv2/Conv`: [32, 16, 16] -> [32, 16, 16].
    pub conv2: conv2d!(32, 32, 3, padding = 1, input = [32, 16, 16]),
    /// ONNX `/layer2/shortcut/Conv`: [16, 32, 32] -> [32, 16, 16].
    #[shortcut]
    pub shortcut: conv2d!(16, 32, 1, stride = 2, input = [16, 32, 32]),
}

/// Residual block: `shortcut(x) + body(x)` (ONNX `/layer3/Add`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Layer3 {
    /// ONNX `/layer3/conv1/Conv`: [32, 16, 16] -> [64, 8, 8].
    pub conv1: conv2d!(32, 64, 3, stride = 2, padding = 1, input = [32, 16, 16]),
    /// ONNX `/layer3/relu/Relu`: [64, 8, 8] -> [64, 8, 8].
    pub relu: ReluOn<[[[f32; 8]; 8]; 64]>,
    /// ONNX `/layer3/conv2/Conv`: [64, 8, 8] -> [64, 8, 8].
    pub conv2: conv2d!(64, 64, 3, padding = 1, input = [64, 8, 8]),
    /// ONNX `/layer3/shortcut/Conv`: [32, 16, 16] -> [64, 8, 8].
    #[shortcut]
    pub shortcut: conv2d!(32, 64, 1, stride = 2, input = [32, 16, 16]),
}

/// The network of `ic`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/conv/Conv`: [3, 32, 32] -> [16, 32, 32].
    pub conv: conv2d!(3, 16, 3, padding = 1, input = [3, 32, 32]),
    /// ONNX `/relu/Relu`: [16, 32, 32] -> [16, 32, 32].
    pub relu: ReluOn<[[[f32; 32]; 32]; 16]>,
    /// ONNX `/layer1/Add`: `x + body(x)`.
    #[nested]
    pub layer1: Layer1,
    /// ONNX `/relu1/Relu`: [16, 32, 32] -> [16, 32, 32].
    pub relu1: ReluOn<[[[f32; 32]; 32]; 16]>,
    /// ONNX `/layer2/Add`: `shortcut(x) + body(x)`.
    #[nested]
    pub layer2: Layer2,
    /// ONNX `/relu2/Relu`: [32, 16, 16] -> [32, 16, 16].
    pub relu2: ReluOn<[[[f32; 16]; 16]; 32]>,
    /// ONNX `/layer3/Add`: `shortcut(x) + body(x)`.
    #[nested]
    pub layer3: Layer3,
    /// ONNX `/relu3/Relu`: [64, 8, 8] -> [64, 8, 8].
    pub relu3: ReluOn<[[[f32; 8]; 8]; 64]>,
    /// ONNX `/pool/GlobalAveragePool`: [64, 8, 8] -> [64, 1, 1].
    pub pool: AdaptiveAvgPool2d<64, 8, 8>,
    /// ONNX `/flatten/Flatten`: [64, 1, 1] -> [64].
    pub flatten: Flatten<[[[f32; 1]; 1]; 64], 64>,
    /// ONNX `/fc/Gemm`: [64] -> [10].
    pub fc: Linear<64, 10>,
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
/// (`f32`, C order, `[N, 3, 32, 32]` for any `N`; run 4 at a time, the
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
