//! `test_averagepool_2d_ceil_last_window_starts_on_pad` imported by constnorm-onnx 0.1.0 (opset 22, written by backend-test).
//!
//! Input `x`: one example is [3, 2, 2]; output `y`: [3, 1, 1]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::{avg_pool2d, network};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [3, 2, 2];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 3] = [3, 1, 1];
/// One example's input.
pub type Input = [[[f32; 2]; 2]; 3];
/// One example's output.
pub type Output = [[[f32; 1]; 1]; 3];

/// The network of `test_averagepool_2d_ceil_last_window_starts_on_pad`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `AveragePool_0`: [3, 2, 2] -> [3, 1, 1].
    pub avg_pool: avg_pool2d!(3, padding = 1, ceil_mode = true, input = [3, 2, 2]),
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
/// (`f32`, C order, `[N, 3, 2, 2]` for any `N`; run 2 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 3, 1, 1]` (`constnorm::runtime::npy::forward_eval`).
///
/// # Errors
/// A file that is not such an array, or what a layer reports.
pub fn check(
    net: &Net,
    npy_bytes: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut workspace = NetWorkspace::<2>::new_boxed();
    constnorm::runtime::npy::forward_eval(net, &mut *workspace, npy_bytes)
}
