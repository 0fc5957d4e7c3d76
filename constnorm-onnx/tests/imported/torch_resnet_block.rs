//! `resnet_block` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [3, 16, 16]; output `y`: [5]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, ReluOn};
use constnorm::{conv2d, network, normalize};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [3, 16, 16];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [5];
/// One example's input.
pub type Input = [[[f32; 16]; 16]; 3];
/// One example's output.
pub type Output = [f32; 5];

/// Batch norm of ONNX `/block/bn1/BatchNormalization`.
#[normalize(batch, dims = 16, spatial = [8, 8])]
pub struct BlockBn1;

/// Batch norm of ONNX `/block/bn2/BatchNormalization`.
#[normalize(batch, dims = 16, spatial = [8, 8])]
pub struct BlockBn2;

/// Batch norm of ONNX `/block/shortcut/shortcut.1/BatchNormalization`.
#[normalize(batch, dims = 16, spatial = [8, 8])]
pub struct BlockShortcutLayer1;

/// A chain of layers.
#[network]
#[derive(Clone, Debug, Default)]
pub struct BlockShortcut {
    /// ONNX `/block/shortcut/shortcut.0/Conv`: [8, 16, 16] -> [16, 8, 8].
    pub layer_0: conv2d!(8, 16, 1, stride = 2, bias = false, input = [8, 16, 16]),
    /// ONNX `/block/shortcut/shortcut.1/BatchNormalization`: [16, 8, 8] -> [16, 8, 8].
    pub layer_1: BlockShortcutLayer1,
}

/// Residual block: `shortcut(x) + body(x)` (ONNX `/block/Add`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// ONNX `/block/conv1/Conv`: [8, 16, 16] -> [16, 8, 8].
    pub conv1: conv2d!(8, 16, 3, stride = 2, padding = 1, bias = false, input = [8, 16, 16]),
    /// ONNX `/block/bn1/BatchNormalization`: [16, 8, 8] -> [16, 8, 8].
    pub bn1: BlockBn1,
    /// ONNX `/block/relu/Relu`: [16, 8, 8] -> [16, 8, 8].
    pub relu: ReluOn<[[[f32; 8]; 8]; 16]>,
    /// ONNX `/block/conv2/Conv`: [16, 8, 8] -> [16, 8, 8].
    pub conv2: conv2d!(16, 16, 3, padding = 1, bias = false, input = [16, 8, 8]),
    /// ONNX `/block/bn2/BatchNormalization`: [16, 8, 8] -> [16, 8, 8].
    pub bn2: BlockBn2,
    /// The shortcut, 2 layers.
    #[shortcut]
    #[nested]
    pub shortcut: BlockShortcut,
}

/// The network of `resnet_block`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/stem/Conv`: [3, 16, 16] -> [8, 16, 16].
    pub stem: conv2d!(3, 8, 3, padding = 1, input = [3, 16, 16]),
    /// ONNX `/Relu`: [8, 16, 16] -> [8, 16, 16].
    pub stem_relu: ReluOn<[[[f32; 16]; 16]; 8]>,
    /// ONNX `/block/Add`: `shortcut(x) + body(x)`.
    #[nested]
    pub block: Block,
    /// ONNX `/block/Relu`: [16, 8, 8] -> [16, 8, 8].
    pub block_relu: ReluOn<[[[f32; 8]; 8]; 16]>,
    /// ONNX `/pool/GlobalAveragePool`: [16, 8, 8] -> [16, 1, 1].
    pub pool: AdaptiveAvgPool2d<16, 8, 8>,
    /// ONNX `/Flatten`: [16, 1, 1] -> [16].
    pub pool_flatten: Flatten<[[[f32; 1]; 1]; 16], 16>,
    /// ONNX `/fc/Gemm`: [16] -> [5].
    pub fc: Linear<16, 5>,
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
/// (`f32`, C order, `[N, 3, 16, 16]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 5]` (`constnorm::runtime::npy::forward_eval`).
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
