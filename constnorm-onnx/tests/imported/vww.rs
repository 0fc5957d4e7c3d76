//! `vww` imported by constnorm-onnx 0.1.0 (opset 17, written by pytorch 2.15.0).
//!
//! Input `x`: one example is [3, 96, 96]; output `y`: [2]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, Relu6On};
use constnorm::{conv2d, network};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [3, 96, 96];
/// One example's output shape (`y`).
pub const OUTPUT_SHAPE: [usize; 1] = [2];
/// One example's input.
pub type Input = [[[f32; 96]; 96]; 3];
/// One example's output.
pub type Output = [f32; 2];

/// The network of `vww`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct Net {
    /// ONNX `/conv/Conv`: [3, 96, 96] -> [8, 48, 48].
    pub conv: conv2d!(3, 8, 3, stride = 2, padding = 1, input = [3, 96, 96]),
    /// ONNX `/relu/Clip`: [8, 48, 48] -> [8, 48, 48].
    pub relu: Relu6On<[[[f32; 48]; 48]; 8]>,
    /// ONNX `/block1/dw/Conv`: [8, 48, 48] -> [8, 48, 48].
    pub block1_dw: conv2d!(8, 8, 3, padding = 1, groups = 8, input = [8, 48, 48]),
    /// ONNX `/block1/dw_relu/Clip`: [8, 48, 48] -> [8, 48, 48].
    pub block1_dw_relu: Relu6On<[[[f32; 48]; 48]; 8]>,
    /// ONNX `/block1/pw/Conv`: [8, 48, 48] -> [16, 48, 48].
    pub block1_pw: conv2d!(8, 16, 1, input = [8, 48, 48]),
    /// ONNX `/block1/pw_relu/Clip`: [16, 48, 48] -> [16, 48, 48].
    pub block1_pw_relu: Relu6On<[[[f32; 48]; 48]; 16]>,
    /// ONNX `/block2/dw/Conv`: [16, 48, 48] -> [16, 24, 24].
    pub block2_dw: conv2d!(16, 16, 3, stride = 2, padding = 1, groups = 16, input = [16, 48, 48]),
    /// ONNX `/block2/dw_relu/Clip`: [16, 24, 24] -> [16, 24, 24].
    pub block2_dw_relu: Relu6On<[[[f32; 24]; 24]; 16]>,
    /// ONNX `/block2/pw/Conv`: [16, 24, 24] -> [32, 24, 24].
    pub block2_pw: conv2d!(16, 32, 1, input = [16, 24, 24]),
    /// ONNX `/block2/pw_relu/Clip`: [32, 24, 24] -> [32, 24, 24].
    pub block2_pw_relu: Relu6On<[[[f32; 24]; 24]; 32]>,
    /// ONNX `/block3/dw/Conv`: [32, 24, 24] -> [32, 24, 24].
    pub block3_dw: conv2d!(32, 32, 3, padding = 1, groups = 32, input = [32, 24, 24]),
    /// ONNX `/block3/dw_relu/Clip`: [32, 24, 24] -> [32, 24, 24].
    pub block3_dw_relu: Relu6On<[[[f32; 24]; 24]; 32]>,
    /// ONNX `/block3/pw/Conv`: [32, 24, 24] -> [32, 24, 24].
    pub block3_pw: conv2d!(32, 32, 1, input = [32, 24, 24]),
    /// ONNX `/block3/pw_relu/Clip`: [32, 24, 24] -> [32, 24, 24].
    pub block3_pw_relu: Relu6On<[[[f32; 24]; 24]; 32]>,
    /// ONNX `/block4/dw/Conv`: [32, 24, 24] -> [32, 12, 12].
    pub block4_dw: conv2d!(32, 32, 3, stride = 2, padding = 1, groups = 32, input = [32, 24, 24]),
    /// ONNX `/block4/dw_relu/Clip`: [32, 12, 12] -> [32, 12, 12].
    pub block4_dw_relu: Relu6On<[[[f32; 12]; 12]; 32]>,
    /// ONNX `/block4/pw/Conv`: [32, 12, 12] -> [64, 12, 12].
    pub block4_pw: conv2d!(32, 64, 1, input = [32, 12, 12]),
    /// ONNX `/block4/pw_relu/Clip`: [64, 12, 12] -> [64, 12, 12].
    pub block4_pw_relu: Relu6On<[[[f32; 12]; 12]; 64]>,
    /// ONNX `/block5/dw/Conv`: [64, 12, 12] -> [64, 12, 12].
    pub block5_dw: conv2d!(64, 64, 3, padding = 1, groups = 64, input = [64, 12, 12]),
    /// ONNX `/block5/dw_relu/Clip`: [64, 12, 12] -> [64, 12, 12].
    pub block5_dw_relu: Relu6On<[[[f32; 12]; 12]; 64]>,
    /// ONNX `/block5/pw/Conv`: [64, 12, 12] -> [64, 12, 12].
    pub block5_pw: conv2d!(64, 64, 1, input = [64, 12, 12]),
    /// ONNX `/block5/pw_relu/Clip`: [64, 12, 12] -> [64, 12, 12].
    pub block5_pw_relu: Relu6On<[[[f32; 12]; 12]; 64]>,
    /// ONNX `/block6/dw/Conv`: [64, 12, 12] -> [64, 6, 6].
    pub block6_dw: conv2d!(64, 64, 3, stride = 2, padding = 1, groups = 64, input = [64, 12, 12]),
    /// ONNX `/block6/dw_relu/Clip`: [64, 6, 6] -> [64, 6, 6].
    pub block6_dw_relu: Relu6On<[[[f32; 6]; 6]; 64]>,
    /// ONNX `/block6/pw/Conv`: [64, 6, 6] -> [128, 6, 6].
    pub block6_pw: conv2d!(64, 128, 1, input = [64, 6, 6]),
    /// ONNX `/block6/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block6_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block7/dw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block7_dw: conv2d!(128, 128, 3, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block7/dw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block7_dw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block7/pw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block7_pw: conv2d!(128, 128, 1, input = [128, 6, 6]),
    /// ONNX `/block7/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block7_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block8/dw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block8_dw: conv2d!(128, 128, 3, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block8/dw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block8_dw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block8/pw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block8_pw: conv2d!(128, 128, 1, input = [128, 6, 6]),
    /// ONNX `/block8/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block8_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block9/dw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block9_dw: conv2d!(128, 128, 3, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block9/dw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block9_dw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block9/pw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block9_pw: conv2d!(128, 128, 1, input = [128, 6, 6]),
    /// ONNX `/block9/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block9_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block10/dw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block10_dw: conv2d!(128, 128, 3, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block10/dw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block10_dw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block10/pw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block10_pw: conv2d!(128, 128, 1, input = [128, 6, 6]),
    /// ONNX `/block10/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block10_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block11/dw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block11_dw: conv2d!(128, 128, 3, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block11/dw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block11_dw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block11/pw/Conv`: [128, 6, 6] -> [128, 6, 6].
    pub block11_pw: conv2d!(128, 128, 1, input = [128, 6, 6]),
    /// ONNX `/block11/pw_relu/Clip`: [128, 6, 6] -> [128, 6, 6].
    pub block11_pw_relu: Relu6On<[[[f32; 6]; 6]; 128]>,
    /// ONNX `/block12/dw/Conv`: [128, 6, 6] -> [128, 3, 3].
    pub block12_dw: conv2d!(128, 128, 3, stride = 2, padding = 1, groups = 128, input = [128, 6, 6]),
    /// ONNX `/block12/dw_relu/Clip`: [128, 3, 3] -> [128, 3, 3].
    pub block12_dw_relu: Relu6On<[[[f32; 3]; 3]; 128]>,
    /// ONNX `/block12/pw/Conv`: [128, 3, 3] -> [256, 3, 3].
    pub block12_pw: conv2d!(128, 256, 1, input = [128, 3, 3]),
    /// ONNX `/block12/pw_relu/Clip`: [256, 3, 3] -> [256, 3, 3].
    pub block12_pw_relu: Relu6On<[[[f32; 3]; 3]; 256]>,
    /// ONNX `/block13/dw/Conv`: [256, 3, 3] -> [256, 3, 3].
    pub block13_dw: conv2d!(256, 256, 3, padding = 1, groups = 256, input = [256, 3, 3]),
    /// ONNX `/block13/dw_relu/Clip`: [256, 3, 3] -> [256, 3, 3].
    pub block13_dw_relu: Relu6On<[[[f32; 3]; 3]; 256]>,
    /// ONNX `/block13/pw/Conv`: [256, 3, 3] -> [256, 3, 3].
    pub block13_pw: conv2d!(256, 256, 1, input = [256, 3, 3]),
    /// ONNX `/block13/pw_relu/Clip`: [256, 3, 3] -> [256, 3, 3].
    pub block13_pw_relu: Relu6On<[[[f32; 3]; 3]; 256]>,
    /// ONNX `/pool/GlobalAveragePool`: [256, 3, 3] -> [256, 1, 1].
    pub pool: AdaptiveAvgPool2d<256, 3, 3>,
    /// ONNX `/flatten/Flatten`: [256, 1, 1] -> [256].
    pub flatten: Flatten<[[[f32; 1]; 1]; 256], 256>,
    /// ONNX `/fc/Gemm`: [256] -> [2].
    pub fc: Linear<256, 2>,
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
/// (`f32`, C order, `[N, 3, 96, 96]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 2]` (`constnorm::runtime::npy::forward_eval`).
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
