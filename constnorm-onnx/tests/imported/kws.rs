//! `kws` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [1, 49, 10]; output `y`: [12]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{Flatten, Linear, ReluOn};
use constnorm::{avg_pool2d, conv2d, network};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [1, 49, 10];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [12];
/// One example's input.
pub type Input = [[[f32; 10]; 49]; 1];
/// One example's output.
pub type Output = [f32; 12];

/// The network of `kws`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/conv/Conv`: [1, 49, 10] -> [64, 25, 5].
    pub conv: conv2d!(1, 64, [10, 4], stride = 2, padding = [5, 1], input = [1, 49, 10]),
    /// ONNX `/relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block1/dw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block1_dw: conv2d!(64, 64, 3, padding = 1, groups = 64, input = [64, 25, 5]),
    /// ONNX `/block1/dw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block1_dw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block1/pw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block1_pw: conv2d!(64, 64, 1, input = [64, 25, 5]),
    /// ONNX `/block1/pw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block1_pw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block2/dw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block2_dw: conv2d!(64, 64, 3, padding = 1, groups = 64, input = [64, 25, 5]),
    /// ONNX `/block2/dw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block2_dw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block2/pw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block2_pw: conv2d!(64, 64, 1, input = [64, 25, 5]),
    /// ONNX `/block2/pw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block2_pw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block3/dw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block3_dw: conv2d!(64, 64, 3, padding = 1, groups = 64, input = [64, 25, 5]),
    /// ONNX `/block3/dw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block3_dw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block3/pw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block3_pw: conv2d!(64, 64, 1, input = [64, 25, 5]),
    /// ONNX `/block3/pw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block3_pw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block4/dw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block4_dw: conv2d!(64, 64, 3, padding = 1, groups = 64, input = [64, 25, 5]),
    /// ONNX `/block4/dw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block4_dw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/block4/pw/Conv`: [64, 25, 5] -> [64, 25, 5].
    pub block4_pw: conv2d!(64, 64, 1, input = [64, 25, 5]),
    /// ONNX `/block4/pw_relu/Relu`: [64, 25, 5] -> [64, 25, 5].
    pub block4_pw_relu: ReluOn<[[[f32; 5]; 25]; 64]>,
    /// ONNX `/pool/AveragePool`: [64, 25, 5] -> [64, 1, 1].
    pub pool: avg_pool2d!([25, 5], input = [64, 25, 5]),
    /// ONNX `/flatten/Flatten`: [64, 1, 1] -> [64].
    pub flatten: Flatten<[[[f32; 1]; 1]; 64], 64>,
    /// ONNX `/fc/Gemm`: [64] -> [12].
    pub fc: Linear<64, 12>,
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
/// (`f32`, C order, `[N, 1, 49, 10]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 12]` (`constnorm::runtime::npy::forward_eval`).
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
