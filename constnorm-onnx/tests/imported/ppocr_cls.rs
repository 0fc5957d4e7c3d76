//! `ppocr_cls` imported by constnorm-onnx 0.1.0 (opset 11, written by PaddlePaddle).
//!
//! Input `x`: one example is [3, 48, 192]; output `save_infer_model/scale_0.tmp_1`: [2]. Every field names
//! the ONNX nodes it maps; `weights.safetensors` holds the weights under
//! the fields' keys, with the ONNX names in its metadata.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, HardsigmoidFn, HardswishOn, Linear, PaddleGate, ReluFn, ReluOn, Softmax, SqueezeExcitation};
use constnorm::{conv2d, max_pool2d, network, normalize};

/// One example's input shape (`x`, without the batch dimension).
pub const INPUT_SHAPE: [usize; 3] = [3, 48, 192];
/// One example's output shape (`save_infer_model/scale_0.tmp_1`).
pub const OUTPUT_SHAPE: [usize; 1] = [2];
/// One example's input.
pub type Input = [[[f32; 192]; 48]; 3];
/// One example's output.
pub type Output = [f32; 2];

/// Batch norm of ONNX `BatchNormalization@0`.
#[normalize(batch, dims = 8, spatial = [24, 96])]
pub struct Conv1Bn;

/// Batch norm of ONNX `BatchNormalization@1`.
#[normalize(batch, dims = 8, spatial = [24, 96])]
pub struct Conv2ExpandBn;

/// Batch norm of ONNX `BatchNormalization@2`.
#[normalize(batch, dims = 8, spatial = [12, 96])]
pub struct Conv2DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@3`.
#[normalize(batch, dims = 8, spatial = [12, 96])]
pub struct Conv2LinearBn;

/// Batch norm of ONNX `BatchNormalization@4`.
#[normalize(batch, dims = 24, spatial = [12, 96])]
pub struct Conv3ExpandBn;

/// Batch norm of ONNX `BatchNormalization@5`.
#[normalize(batch, dims = 24, spatial = [6, 96])]
pub struct Conv3DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@6`.
#[normalize(batch, dims = 8, spatial = [6, 96])]
pub struct Conv3LinearBn;

/// Batch norm of ONNX `BatchNormalization@7`.
#[normalize(batch, dims = 32, spatial = [6, 96])]
pub struct Conv4ExpandBn;

/// Batch norm of ONNX `BatchNormalization@8`.
#[normalize(batch, dims = 32, spatial = [6, 96])]
pub struct Conv4DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@9`.
#[normalize(batch, dims = 8, spatial = [6, 96])]
pub struct Conv4LinearBn;

/// Batch norm of ONNX `BatchNormalization@10`.
#[normalize(batch, dims = 32, spatial = [6, 96])]
pub struct Conv5ExpandBn;

/// Batch norm of ONNX `BatchNormalization@11`.
#[normalize(batch, dims = 32, spatial = [3, 96])]
pub struct Conv5DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@12`.
#[normalize(batch, dims = 16, spatial = [3, 96])]
pub struct Conv5LinearBn;

/// Batch norm of ONNX `BatchNormalization@13`.
#[normalize(batch, dims = 88, spatial = [3, 96])]
pub struct Conv6ExpandBn;

/// Batch norm of ONNX `BatchNormalization@14`.
#[normalize(batch, dims = 88, spatial = [3, 96])]
pub struct Conv6DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@15`.
#[normalize(batch, dims = 16, spatial = [3, 96])]
pub struct Conv6LinearBn;

/// Batch norm of ONNX `BatchNormalization@16`.
#[normalize(batch, dims = 88, spatial = [3, 96])]
pub struct Conv7ExpandBn;

/// Batch norm of ONNX `BatchNormalization@17`.
#[normalize(batch, dims = 88, spatial = [3, 96])]
pub struct Conv7DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@18`.
#[normalize(batch, dims = 16, spatial = [3, 96])]
pub struct Conv7LinearBn;

/// Batch norm of ONNX `BatchNormalization@19`.
#[normalize(batch, dims = 40, spatial = [3, 96])]
pub struct Conv8ExpandBn;

/// Batch norm of ONNX `BatchNormalization@20`.
#[normalize(batch, dims = 40, spatial = [3, 96])]
pub struct Conv8DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@21`.
#[normalize(batch, dims = 16, spatial = [3, 96])]
pub struct Conv8LinearBn;

/// Batch norm of ONNX `BatchNormalization@22`.
#[normalize(batch, dims = 48, spatial = [3, 96])]
pub struct Conv9ExpandBn;

/// Batch norm of ONNX `BatchNormalization@23`.
#[normalize(batch, dims = 48, spatial = [3, 96])]
pub struct Conv9DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@24`.
#[normalize(batch, dims = 16, spatial = [3, 96])]
pub struct Conv9LinearBn;

/// Batch norm of ONNX `BatchNormalization@25`.
#[normalize(batch, dims = 104, spatial = [3, 96])]
pub struct Conv10ExpandBn;

/// Batch norm of ONNX `BatchNormalization@26`.
#[normalize(batch, dims = 104, spatial = [2, 96])]
pub struct Conv10DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@27`.
#[normalize(batch, dims = 32, spatial = [2, 96])]
pub struct Conv10LinearBn;

/// Batch norm of ONNX `BatchNormalization@28`.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct Conv11ExpandBn;

/// Batch norm of ONNX `BatchNormalization@29`.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct Conv11DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@30`.
#[normalize(batch, dims = 32, spatial = [2, 96])]
pub struct Conv11LinearBn;

/// Batch norm of ONNX `BatchNormalization@31`.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct Conv12ExpandBn;

/// Batch norm of ONNX `BatchNormalization@32`.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct Conv12DepthwiseBn;

/// Batch norm of ONNX `BatchNormalization@33`.
#[normalize(batch, dims = 32, spatial = [2, 96])]
pub struct Conv12LinearBn;

/// Batch norm of ONNX `BatchNormalization@34`.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct ConvLastBn;

/// Residual block: `x + body(x)` (ONNX `Add@3`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv4 {
    /// ONNX `Conv@9`: [8, 6, 96] -> [32, 6, 96].
    pub expand: conv2d!(8, 32, 1, bias = false, input = [8, 6, 96]),
    /// ONNX `BatchNormalization@7`: [32, 6, 96] -> [32, 6, 96].
    pub expand_bn: Conv4ExpandBn,
    /// ONNX `Relu@5`: [32, 6, 96] -> [32, 6, 96].
    pub expand_relu: ReluOn<[[[f32; 96]; 6]; 32]>,
    /// ONNX `Conv@10`: [32, 6, 96] -> [32, 6, 96].
    pub depthwise: conv2d!(32, 32, 3, padding = 1, groups = 32, bias = false, input = [32, 6, 96]),
    /// ONNX `BatchNormalization@8`: [32, 6, 96] -> [32, 6, 96].
    pub depthwise_bn: Conv4DepthwiseBn,
    /// ONNX `Relu@6`: [32, 6, 96] -> [32, 6, 96].
    pub depthwise_relu: ReluOn<[[[f32; 96]; 6]; 32]>,
    /// ONNX `Conv@11`: [32, 6, 96] -> [8, 6, 96].
    pub linear: conv2d!(32, 8, 1, bias = false, input = [32, 6, 96]),
    /// ONNX `BatchNormalization@9`: [8, 6, 96] -> [8, 6, 96].
    pub linear_bn: Conv4LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@12`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv6 {
    /// ONNX `Conv@17`: [16, 3, 96] -> [88, 3, 96].
    pub expand: conv2d!(16, 88, 1, bias = false, input = [16, 3, 96]),
    /// ONNX `BatchNormalization@13`: [88, 3, 96] -> [88, 3, 96].
    pub expand_bn: Conv6ExpandBn,
    /// ONNX `Add@8`, `Clip@3`, `Mul@5`, `Div@3`: [88, 3, 96] -> [88, 3, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 3]; 88]>,
    /// ONNX `Conv@18`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise: conv2d!(88, 88, 5, padding = 2, groups = 88, bias = false, input = [88, 3, 96]),
    /// ONNX `BatchNormalization@14`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise_bn: Conv6DepthwiseBn,
    /// ONNX `Add@9`, `Clip@4`, `Mul@6`, `Div@4`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 3]; 88]>,
    /// ONNX `GlobalAveragePool@2`, `Conv@19`, `Add@10`, `Relu@8`, `Conv@20`, `Add@11`, `HardSigmoid@2`, `Mul@7`: [88, 3, 96] -> [88, 3, 96].
    pub se: SqueezeExcitation<88, 22, 3, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@21`: [88, 3, 96] -> [16, 3, 96].
    pub linear: conv2d!(88, 16, 1, bias = false, input = [88, 3, 96]),
    /// ONNX `BatchNormalization@15`: [16, 3, 96] -> [16, 3, 96].
    pub linear_bn: Conv6LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@17`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv7 {
    /// ONNX `Conv@22`: [16, 3, 96] -> [88, 3, 96].
    pub expand: conv2d!(16, 88, 1, bias = false, input = [16, 3, 96]),
    /// ONNX `BatchNormalization@16`: [88, 3, 96] -> [88, 3, 96].
    pub expand_bn: Conv7ExpandBn,
    /// ONNX `Add@13`, `Clip@5`, `Mul@8`, `Div@5`: [88, 3, 96] -> [88, 3, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 3]; 88]>,
    /// ONNX `Conv@23`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise: conv2d!(88, 88, 5, padding = 2, groups = 88, bias = false, input = [88, 3, 96]),
    /// ONNX `BatchNormalization@17`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise_bn: Conv7DepthwiseBn,
    /// ONNX `Add@14`, `Clip@6`, `Mul@9`, `Div@6`: [88, 3, 96] -> [88, 3, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 3]; 88]>,
    /// ONNX `GlobalAveragePool@3`, `Conv@24`, `Add@15`, `Relu@9`, `Conv@25`, `Add@16`, `HardSigmoid@3`, `Mul@10`: [88, 3, 96] -> [88, 3, 96].
    pub se: SqueezeExcitation<88, 22, 3, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@26`: [88, 3, 96] -> [16, 3, 96].
    pub linear: conv2d!(88, 16, 1, bias = false, input = [88, 3, 96]),
    /// ONNX `BatchNormalization@18`: [16, 3, 96] -> [16, 3, 96].
    pub linear_bn: Conv7LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@22`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv8 {
    /// ONNX `Conv@27`: [16, 3, 96] -> [40, 3, 96].
    pub expand: conv2d!(16, 40, 1, bias = false, input = [16, 3, 96]),
    /// ONNX `BatchNormalization@19`: [40, 3, 96] -> [40, 3, 96].
    pub expand_bn: Conv8ExpandBn,
    /// ONNX `Add@18`, `Clip@7`, `Mul@11`, `Div@7`: [40, 3, 96] -> [40, 3, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 3]; 40]>,
    /// ONNX `Conv@28`: [40, 3, 96] -> [40, 3, 96].
    pub depthwise: conv2d!(40, 40, 5, padding = 2, groups = 40, bias = false, input = [40, 3, 96]),
    /// ONNX `BatchNormalization@20`: [40, 3, 96] -> [40, 3, 96].
    pub depthwise_bn: Conv8DepthwiseBn,
    /// ONNX `Add@19`, `Clip@8`, `Mul@12`, `Div@8`: [40, 3, 96] -> [40, 3, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 3]; 40]>,
    /// ONNX `GlobalAveragePool@4`, `Conv@29`, `Add@20`, `Relu@10`, `Conv@30`, `Add@21`, `HardSigmoid@4`, `Mul@13`: [40, 3, 96] -> [40, 3, 96].
    pub se: SqueezeExcitation<40, 10, 3, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@31`: [40, 3, 96] -> [16, 3, 96].
    pub linear: conv2d!(40, 16, 1, bias = false, input = [40, 3, 96]),
    /// ONNX `BatchNormalization@21`: [16, 3, 96] -> [16, 3, 96].
    pub linear_bn: Conv8LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@27`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv9 {
    /// ONNX `Conv@32`: [16, 3, 96] -> [48, 3, 96].
    pub expand: conv2d!(16, 48, 1, bias = false, input = [16, 3, 96]),
    /// ONNX `BatchNormalization@22`: [48, 3, 96] -> [48, 3, 96].
    pub expand_bn: Conv9ExpandBn,
    /// ONNX `Add@23`, `Clip@9`, `Mul@14`, `Div@9`: [48, 3, 96] -> [48, 3, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 3]; 48]>,
    /// ONNX `Conv@33`: [48, 3, 96] -> [48, 3, 96].
    pub depthwise: conv2d!(48, 48, 5, padding = 2, groups = 48, bias = false, input = [48, 3, 96]),
    /// ONNX `BatchNormalization@23`: [48, 3, 96] -> [48, 3, 96].
    pub depthwise_bn: Conv9DepthwiseBn,
    /// ONNX `Add@24`, `Clip@10`, `Mul@15`, `Div@10`: [48, 3, 96] -> [48, 3, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 3]; 48]>,
    /// ONNX `GlobalAveragePool@5`, `Conv@34`, `Add@25`, `Relu@11`, `Conv@35`, `Add@26`, `HardSigmoid@5`, `Mul@16`: [48, 3, 96] -> [48, 3, 96].
    pub se: SqueezeExcitation<48, 12, 3, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@36`: [48, 3, 96] -> [16, 3, 96].
    pub linear: conv2d!(48, 16, 1, bias = false, input = [48, 3, 96]),
    /// ONNX `BatchNormalization@24`: [16, 3, 96] -> [16, 3, 96].
    pub linear_bn: Conv9LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@36`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv11 {
    /// ONNX `Conv@42`: [32, 2, 96] -> [200, 2, 96].
    pub expand: conv2d!(32, 200, 1, bias = false, input = [32, 2, 96]),
    /// ONNX `BatchNormalization@28`: [200, 2, 96] -> [200, 2, 96].
    pub expand_bn: Conv11ExpandBn,
    /// ONNX `Add@32`, `Clip@13`, `Mul@20`, `Div@13`: [200, 2, 96] -> [200, 2, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 2]; 200]>,
    /// ONNX `Conv@43`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise: conv2d!(200, 200, 5, padding = 2, groups = 200, bias = false, input = [200, 2, 96]),
    /// ONNX `BatchNormalization@29`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise_bn: Conv11DepthwiseBn,
    /// ONNX `Add@33`, `Clip@14`, `Mul@21`, `Div@14`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 2]; 200]>,
    /// ONNX `GlobalAveragePool@7`, `Conv@44`, `Add@34`, `Relu@13`, `Conv@45`, `Add@35`, `HardSigmoid@7`, `Mul@22`: [200, 2, 96] -> [200, 2, 96].
    pub se: SqueezeExcitation<200, 50, 2, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@46`: [200, 2, 96] -> [32, 2, 96].
    pub linear: conv2d!(200, 32, 1, bias = false, input = [200, 2, 96]),
    /// ONNX `BatchNormalization@30`: [32, 2, 96] -> [32, 2, 96].
    pub linear_bn: Conv11LinearBn,
}

/// Residual block: `x + body(x)` (ONNX `Add@41`).
#[network(residual)]
#[derive(Clone, Debug, Default)]
pub struct Conv12 {
    /// ONNX `Conv@47`: [32, 2, 96] -> [200, 2, 96].
    pub expand: conv2d!(32, 200, 1, bias = false, input = [32, 2, 96]),
    /// ONNX `BatchNormalization@31`: [200, 2, 96] -> [200, 2, 96].
    pub expand_bn: Conv12ExpandBn,
    /// ONNX `Add@37`, `Clip@15`, `Mul@23`, `Div@15`: [200, 2, 96] -> [200, 2, 96].
    pub expand_hardswish: HardswishOn<[[[f32; 96]; 2]; 200]>,
    /// ONNX `Conv@48`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise: conv2d!(200, 200, 5, padding = 2, groups = 200, bias = false, input = [200, 2, 96]),
    /// ONNX `BatchNormalization@32`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise_bn: Conv12DepthwiseBn,
    /// ONNX `Add@38`, `Clip@16`, `Mul@24`, `Div@16`: [200, 2, 96] -> [200, 2, 96].
    pub depthwise_hardswish: HardswishOn<[[[f32; 96]; 2]; 200]>,
    /// ONNX `GlobalAveragePool@8`, `Conv@49`, `Add@39`, `Relu@14`, `Conv@50`, `Add@40`, `HardSigmoid@8`, `Mul@25`: [200, 2, 96] -> [200, 2, 96].
    pub se: SqueezeExcitation<200, 50, 2, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@51`: [200, 2, 96] -> [32, 2, 96].
    pub linear: conv2d!(200, 32, 1, bias = false, input = [200, 2, 96]),
    /// ONNX `BatchNormalization@33`: [32, 2, 96] -> [32, 2, 96].
    pub linear_bn: Conv12LinearBn,
}

/// The network of `ppocr_cls`.
#[network]
#[derive(Clone, Debug, Default)]
pub struct TextDirection {
    /// ONNX `Conv@0`: [3, 48, 192] -> [8, 24, 96].
    pub conv1: conv2d!(3, 8, 3, stride = 2, padding = 1, bias = false, input = [3, 48, 192]),
    /// ONNX `BatchNormalization@0`: [8, 24, 96] -> [8, 24, 96].
    pub conv1_bn: Conv1Bn,
    /// ONNX `Add@0`, `Clip@0`, `Mul@0`, `Div@0`: [8, 24, 96] -> [8, 24, 96].
    pub conv1_hardswish: HardswishOn<[[[f32; 96]; 24]; 8]>,
    /// ONNX `Conv@1`: [8, 24, 96] -> [8, 24, 96].
    pub conv2_expand: conv2d!(8, 8, 1, bias = false, input = [8, 24, 96]),
    /// ONNX `BatchNormalization@1`: [8, 24, 96] -> [8, 24, 96].
    pub conv2_expand_bn: Conv2ExpandBn,
    /// ONNX `Relu@0`: [8, 24, 96] -> [8, 24, 96].
    pub conv2_expand_relu: ReluOn<[[[f32; 96]; 24]; 8]>,
    /// ONNX `Conv@2`: [8, 24, 96] -> [8, 12, 96].
    pub conv2_depthwise: conv2d!(8, 8, 3, stride = [2, 1], padding = 1, groups = 8, bias = false, input = [8, 24, 96]),
    /// ONNX `BatchNormalization@2`: [8, 12, 96] -> [8, 12, 96].
    pub conv2_depthwise_bn: Conv2DepthwiseBn,
    /// ONNX `Relu@1`: [8, 12, 96] -> [8, 12, 96].
    pub conv2_depthwise_relu: ReluOn<[[[f32; 96]; 12]; 8]>,
    /// ONNX `GlobalAveragePool@0`, `Conv@3`, `Add@1`, `Relu@2`, `Conv@4`, `Add@2`, `HardSigmoid@0`, `Mul@1`: [8, 12, 96] -> [8, 12, 96].
    pub conv2_se: SqueezeExcitation<8, 2, 12, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@5`: [8, 12, 96] -> [8, 12, 96].
    pub conv2_linear: conv2d!(8, 8, 1, bias = false, input = [8, 12, 96]),
    /// ONNX `BatchNormalization@3`: [8, 12, 96] -> [8, 12, 96].
    pub conv2_linear_bn: Conv2LinearBn,
    /// ONNX `Conv@6`: [8, 12, 96] -> [24, 12, 96].
    pub conv3_expand: conv2d!(8, 24, 1, bias = false, input = [8, 12, 96]),
    /// ONNX `BatchNormalization@4`: [24, 12, 96] -> [24, 12, 96].
    pub conv3_expand_bn: Conv3ExpandBn,
    /// ONNX `Relu@3`: [24, 12, 96] -> [24, 12, 96].
    pub conv3_expand_relu: ReluOn<[[[f32; 96]; 12]; 24]>,
    /// ONNX `Conv@7`: [24, 12, 96] -> [24, 6, 96].
    pub conv3_depthwise: conv2d!(24, 24, 3, stride = [2, 1], padding = 1, groups = 24, bias = false, input = [24, 12, 96]),
    /// ONNX `BatchNormalization@5`: [24, 6, 96] -> [24, 6, 96].
    pub conv3_depthwise_bn: Conv3DepthwiseBn,
    /// ONNX `Relu@4`: [24, 6, 96] -> [24, 6, 96].
    pub conv3_depthwise_relu: ReluOn<[[[f32; 96]; 6]; 24]>,
    /// ONNX `Conv@8`: [24, 6, 96] -> [8, 6, 96].
    pub conv3_linear: conv2d!(24, 8, 1, bias = false, input = [24, 6, 96]),
    /// ONNX `BatchNormalization@6`: [8, 6, 96] -> [8, 6, 96].
    pub conv3_linear_bn: Conv3LinearBn,
    /// ONNX `Add@3`: `x + body(x)`.
    #[nested]
    pub conv4: Conv4,
    /// ONNX `Conv@12`: [8, 6, 96] -> [32, 6, 96].
    pub conv5_expand: conv2d!(8, 32, 1, bias = false, input = [8, 6, 96]),
    /// ONNX `BatchNormalization@10`: [32, 6, 96] -> [32, 6, 96].
    pub conv5_expand_bn: Conv5ExpandBn,
    /// ONNX `Add@4`, `Clip@1`, `Mul@2`, `Div@1`: [32, 6, 96] -> [32, 6, 96].
    pub conv5_expand_hardswish: HardswishOn<[[[f32; 96]; 6]; 32]>,
    /// ONNX `Conv@13`: [32, 6, 96] -> [32, 3, 96].
    pub conv5_depthwise: conv2d!(32, 32, 5, stride = [2, 1], padding = 2, groups = 32, bias = false, input = [32, 6, 96]),
    /// ONNX `BatchNormalization@11`: [32, 3, 96] -> [32, 3, 96].
    pub conv5_depthwise_bn: Conv5DepthwiseBn,
    /// ONNX `Add@5`, `Clip@2`, `Mul@3`, `Div@2`: [32, 3, 96] -> [32, 3, 96].
    pub conv5_depthwise_hardswish: HardswishOn<[[[f32; 96]; 3]; 32]>,
    /// ONNX `GlobalAveragePool@1`, `Conv@14`, `Add@6`, `Relu@7`, `Conv@15`, `Add@7`, `HardSigmoid@1`, `Mul@4`: [32, 3, 96] -> [32, 3, 96].
    pub conv5_se: SqueezeExcitation<32, 8, 3, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@16`: [32, 3, 96] -> [16, 3, 96].
    pub conv5_linear: conv2d!(32, 16, 1, bias = false, input = [32, 3, 96]),
    /// ONNX `BatchNormalization@12`: [16, 3, 96] -> [16, 3, 96].
    pub conv5_linear_bn: Conv5LinearBn,
    /// ONNX `Add@12`: `x + body(x)`.
    #[nested]
    pub conv6: Conv6,
    /// ONNX `Add@17`: `x + body(x)`.
    #[nested]
    pub conv7: Conv7,
    /// ONNX `Add@22`: `x + body(x)`.
    #[nested]
    pub conv8: Conv8,
    /// ONNX `Add@27`: `x + body(x)`.
    #[nested]
    pub conv9: Conv9,
    /// ONNX `Conv@37`: [16, 3, 96] -> [104, 3, 96].
    pub conv10_expand: conv2d!(16, 104, 1, bias = false, input = [16, 3, 96]),
    /// ONNX `BatchNormalization@25`: [104, 3, 96] -> [104, 3, 96].
    pub conv10_expand_bn: Conv10ExpandBn,
    /// ONNX `Add@28`, `Clip@11`, `Mul@17`, `Div@11`: [104, 3, 96] -> [104, 3, 96].
    pub conv10_expand_hardswish: HardswishOn<[[[f32; 96]; 3]; 104]>,
    /// ONNX `Conv@38`: [104, 3, 96] -> [104, 2, 96].
    pub conv10_depthwise: conv2d!(104, 104, 5, stride = [2, 1], padding = 2, groups = 104, bias = false, input = [104, 3, 96]),
    /// ONNX `BatchNormalization@26`: [104, 2, 96] -> [104, 2, 96].
    pub conv10_depthwise_bn: Conv10DepthwiseBn,
    /// ONNX `Add@29`, `Clip@12`, `Mul@18`, `Div@12`: [104, 2, 96] -> [104, 2, 96].
    pub conv10_depthwise_hardswish: HardswishOn<[[[f32; 96]; 2]; 104]>,
    /// ONNX `GlobalAveragePool@6`, `Conv@39`, `Add@30`, `Relu@12`, `Conv@40`, `Add@31`, `HardSigmoid@6`, `Mul@19`: [104, 2, 96] -> [104, 2, 96].
    pub conv10_se: SqueezeExcitation<104, 26, 2, 96, f32, ReluFn, HardsigmoidFn<PaddleGate>>,
    /// ONNX `Conv@41`: [104, 2, 96] -> [32, 2, 96].
    pub conv10_linear: conv2d!(104, 32, 1, bias = false, input = [104, 2, 96]),
    /// ONNX `BatchNormalization@27`: [32, 2, 96] -> [32, 2, 96].
    pub conv10_linear_bn: Conv10LinearBn,
    /// ONNX `Add@36`: `x + body(x)`.
    #[nested]
    pub conv11: Conv11,
    /// ONNX `Add@41`: `x + body(x)`.
    #[nested]
    pub conv12: Conv12,
    /// ONNX `Conv@52`: [32, 2, 96] -> [200, 2, 96].
    pub conv_last: conv2d!(32, 200, 1, bias = false, input = [32, 2, 96]),
    /// ONNX `BatchNormalization@34`: [200, 2, 96] -> [200, 2, 96].
    pub conv_last_bn: ConvLastBn,
    /// ONNX `Add@42`, `Clip@17`, `Mul@26`, `Div@17`: [200, 2, 96] -> [200, 2, 96].
    pub conv_last_hardswish: HardswishOn<[[[f32; 96]; 2]; 200]>,
    /// ONNX `MaxPool@0`: [200, 2, 96] -> [200, 1, 48].
    pub conv_last_hardswish_max_pool: max_pool2d!(2, input = [200, 2, 96]),
    /// ONNX `GlobalAveragePool@9`: [200, 1, 48] -> [200, 1, 1].
    pub conv_last_hardswish_max_pool_gap: AdaptiveAvgPool2d<200, 1, 48>,
    /// ONNX `Reshape@18`: [200, 1, 1] -> [200].
    pub conv_last_hardswish_max_pool_gap_flatten: Flatten<[[[f32; 1]; 1]; 200], 200>,
    /// ONNX `MatMul@0`, `Add@43`: [200] -> [2].
    pub fc_0: Linear<200, 2>,
    /// ONNX `Softmax@0`: [2] -> [2].
    pub fc_0_softmax: Softmax<2>,
}

/// `weights.safetensors`, where the importer wrote it.
pub const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights.safetensors");

/// The network with the weights of a safetensors file's bytes, on the heap.
/// Every tensor is checked (shape, dtype, finite values) and the file must
/// hold nothing else.
///
/// # Errors
/// A [`constnorm::safetensors::LoadError`] naming the key at fault.
pub fn from_bytes(bytes: &[u8]) -> Result<Box<TextDirection>, constnorm::safetensors::LoadError> {
    use constnorm::safetensors::{LoadOptions, StateDictFile};
    let file = StateDictFile::parse(bytes)?;
    let mut net = TextDirection::new_boxed();
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
) -> Result<Box<TextDirection>, Box<dyn std::error::Error + Send + Sync>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(from_bytes(&bytes)?)
}

/// The eval forward of `net` on every example of a `.npy` file's bytes
/// (`f32`, C order, `[N, 3, 48, 192]` for any `N`; run 4 at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, 2]` (`constnorm::runtime::npy::forward_eval`).
///
/// # Errors
/// A file that is not such an array, or what a layer reports.
pub fn check(
    net: &TextDirection,
    npy_bytes: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let mut workspace = TextDirectionWorkspace::<4>::new_boxed();
    constnorm::runtime::npy::forward_eval(net, &mut *workspace, npy_bytes)
}
