//! The four MLPerf Tiny v1.x reference models in `f32`, as constnorm
//! networks: [`ad::Autoencoder`], [`kws::DsCnn`], [`ic::ResNet8`] and
//! [`vww::MobileNet`].
//!
//! Every field is named as the module attribute of the PyTorch twin in
//! `benches/mlperf_tiny.py`, so PyTorch's state dict loads key for key
//! (`block3.pw_bn.running_var`, `layer2.shortcut.weight`). Convolutions
//! followed by a batch norm have no bias, as in the PyTorch twins. The
//! module is included by `benches/mlperf_tiny.rs` with `#[path]` and needs
//! only `constnorm`, so another crate can include it too.

#![allow(dead_code)] // each user takes the models and layer types it needs

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, Relu, Relu2d, Relu6On, ReluOn};
use constnorm::{avg_pool2d, conv2d, network, normalize};

/// A depthwise-separable block (MobileNetV1, DS-CNN) as a module `$module`
/// holding `Block` and its layer types: a depthwise 3x3 convolution with
/// the block's stride and padding 1, a batch norm and the activation
/// `$act` (`ReluOn` or `Relu6On`), then a pointwise 1x1 convolution, a
/// batch norm and `$act`; `[$h, $w]` is the input's size, `[$oh, $ow]` the
/// output's. The fields are `dw`, `dw_bn`, `dw_relu`, `pw`, `pw_bn` and
/// `pw_relu`, PyTorch's `separable()`.
macro_rules! separable {
    ($module:ident, $act:ident, $c_in:tt -> $c_out:tt, stride $stride:tt,
     [$h:tt, $w:tt] -> [$oh:tt, $ow:tt]) => {
        pub mod $module {
            use super::*;

            pub type Depthwise = conv2d!(
                $c_in,
                $c_in,
                3,
                stride = $stride,
                padding = 1,
                groups = $c_in,
                bias = false,
                input = [$c_in, $h, $w]
            );
            #[normalize(batch, dims = $c_in, spatial = [$oh, $ow])]
            pub struct DwBn;
            pub type Pointwise = conv2d!($c_in, $c_out, 1, bias = false, input = [$c_in, $oh, $ow]);
            #[normalize(batch, dims = $c_out, spatial = [$oh, $ow])]
            pub struct PwBn;
            // Aliases, not `$act<...>` in the fields: `#[network]` spans its
            // local `workspace` with each field type's first token, which
            // must not come from this macro's caller (a hygiene error).
            pub type DwAct = $act<[[[f32; $ow]; $oh]; $c_in]>;
            pub type PwAct = $act<[[[f32; $ow]; $oh]; $c_out]>;

            #[network]
            #[derive(Default)]
            pub struct Block {
                pub dw: Depthwise,
                pub dw_bn: DwBn,
                pub dw_relu: DwAct,
                pub pw: Pointwise,
                pub pw_bn: PwBn,
                pub pw_relu: PwAct,
            }
        }
    };
}

/// AD, anomaly detection: the dense autoencoder on 640 values (5 frames of
/// 128 log-mel bins), trained to reproduce its input (MSE).
pub mod ad {
    use super::*;

    #[normalize(batch, dims = 128)]
    pub struct Bn128;
    #[normalize(batch, dims = 8)]
    pub struct Bn8;

    /// `[Linear 128, BatchNorm1d, ReLU] x 4, [Linear 8, BN, ReLU],
    /// [Linear 128, BN, ReLU] x 4, Linear 640`.
    #[network]
    #[derive(Default)]
    pub struct Autoencoder {
        pub fc1: Linear<640, 128>,
        pub bn1: Bn128,
        pub relu1: Relu<128>,
        pub fc2: Linear<128, 128>,
        pub bn2: Bn128,
        pub relu2: Relu<128>,
        pub fc3: Linear<128, 128>,
        pub bn3: Bn128,
        pub relu3: Relu<128>,
        pub fc4: Linear<128, 128>,
        pub bn4: Bn128,
        pub relu4: Relu<128>,
        pub fc5: Linear<128, 8>,
        pub bn5: Bn8,
        pub relu5: Relu<8>,
        pub fc6: Linear<8, 128>,
        pub bn6: Bn128,
        pub relu6: Relu<128>,
        pub fc7: Linear<128, 128>,
        pub bn7: Bn128,
        pub relu7: Relu<128>,
        pub fc8: Linear<128, 128>,
        pub bn8: Bn128,
        pub relu8: Relu<128>,
        pub fc9: Linear<128, 128>,
        pub bn9: Bn128,
        pub relu9: Relu<128>,
        pub fc10: Linear<128, 640>,
    }

    pub type Input = [f32; 640];
}

/// KWS, keyword spotting: DS-CNN on 49 frames of 10 MFCCs, 12 classes.
pub mod kws {
    use super::*;

    /// 49x10 with padding (5, 1), kernel (10, 4) and stride 2 gives 25x5.
    pub type Conv = conv2d!(
        1,
        64,
        [10, 4],
        stride = 2,
        padding = [5, 1],
        bias = false,
        input = [1, 49, 10]
    );
    #[normalize(batch, dims = 64, spatial = [25, 5])]
    pub struct Bn;
    pub type Pool = avg_pool2d!([25, 5], input = [64, 25, 5]);

    separable!(ds, ReluOn, 64 -> 64, stride 1, [25, 5] -> [25, 5]);

    #[network]
    #[derive(Default)]
    pub struct DsCnn {
        pub conv: Conv,
        pub bn: Bn,
        pub relu: Relu2d<64, 25, 5>,
        #[nested]
        pub block1: ds::Block,
        #[nested]
        pub block2: ds::Block,
        #[nested]
        pub block3: ds::Block,
        #[nested]
        pub block4: ds::Block,
        pub pool: Pool,
        pub flatten: Flatten<[[[f32; 1]; 1]; 64], 64>,
        pub fc: Linear<64, 12>,
    }

    pub type Input = [[[f32; 10]; 49]; 1];
}

/// IC, image classification: ResNet-8 on 32x32 RGB (CIFAR-10), 10 classes.
pub mod ic {
    use super::*;

    pub type Conv = conv2d!(3, 16, 3, padding = 1, bias = false, input = [3, 32, 32]);
    #[normalize(batch, dims = 16, spatial = [32, 32])]
    pub struct Bn16;
    pub type Conv16 = conv2d!(16, 16, 3, padding = 1, bias = false, input = [16, 32, 32]);

    /// `x + bn2(conv2(relu(bn1(conv1(x)))))` at 16 channels, 32x32.
    #[network(residual)]
    #[derive(Default)]
    pub struct Block1 {
        pub conv1: Conv16,
        pub bn1: Bn16,
        pub relu: Relu2d<16, 32, 32>,
        pub conv2: Conv16,
        pub bn2: Bn16,
    }

    pub type Conv16To32 = conv2d!(
        16,
        32,
        3,
        stride = 2,
        padding = 1,
        bias = false,
        input = [16, 32, 32]
    );
    #[normalize(batch, dims = 32, spatial = [16, 16])]
    pub struct Bn32;
    pub type Conv32 = conv2d!(32, 32, 3, padding = 1, bias = false, input = [32, 16, 16]);
    pub type Shortcut32 = conv2d!(16, 32, 1, stride = 2, input = [16, 32, 32]);

    /// `shortcut(x) + bn2(conv2(relu(bn1(conv1(x)))))`, 16 to 32 channels,
    /// 32x32 to 16x16; the shortcut a 1x1 stride-2 convolution with a bias.
    #[network(residual)]
    #[derive(Default)]
    pub struct Block2 {
        pub conv1: Conv16To32,
        pub bn1: Bn32,
        pub relu: Relu2d<32, 16, 16>,
        pub conv2: Conv32,
        pub bn2: Bn32,
        #[shortcut]
        pub shortcut: Shortcut32,
    }

    pub type Conv32To64 = conv2d!(
        32,
        64,
        3,
        stride = 2,
        padding = 1,
        bias = false,
        input = [32, 16, 16]
    );
    #[normalize(batch, dims = 64, spatial = [8, 8])]
    pub struct Bn64;
    pub type Conv64 = conv2d!(64, 64, 3, padding = 1, bias = false, input = [64, 8, 8]);
    pub type Shortcut64 = conv2d!(32, 64, 1, stride = 2, input = [32, 16, 16]);

    /// [`Block2`] from 32 to 64 channels, 16x16 to 8x8.
    #[network(residual)]
    #[derive(Default)]
    pub struct Block3 {
        pub conv1: Conv32To64,
        pub bn1: Bn64,
        pub relu: Relu2d<64, 8, 8>,
        pub conv2: Conv64,
        pub bn2: Bn64,
        #[shortcut]
        pub shortcut: Shortcut64,
    }

    #[network]
    #[derive(Default)]
    pub struct ResNet8 {
        pub conv: Conv,
        pub bn: Bn16,
        pub relu: Relu2d<16, 32, 32>,
        #[nested]
        pub layer1: Block1,
        pub relu1: Relu2d<16, 32, 32>,
        #[nested]
        pub layer2: Block2,
        pub relu2: Relu2d<32, 16, 16>,
        #[nested]
        pub layer3: Block3,
        pub relu3: Relu2d<64, 8, 8>,
        pub pool: AdaptiveAvgPool2d<64, 8, 8>,
        pub flatten: Flatten<[[[f32; 1]; 1]; 64], 64>,
        pub fc: Linear<64, 10>,
    }

    pub type Input = [[[f32; 32]; 32]; 3];
}

/// VWW, visual wake words: MobileNetV1 with width multiplier 0.25 on 96x96
/// RGB, 2 classes, ReLU6.
pub mod vww {
    use super::*;

    pub type Conv = conv2d!(
        3,
        8,
        3,
        stride = 2,
        padding = 1,
        bias = false,
        input = [3, 96, 96]
    );
    #[normalize(batch, dims = 8, spatial = [48, 48])]
    pub struct Bn;

    // One module per distinct block; blocks 7 to 11 are the same, `b7`.
    separable!(b1, Relu6On, 8 -> 16, stride 1, [48, 48] -> [48, 48]);
    separable!(b2, Relu6On, 16 -> 32, stride 2, [48, 48] -> [24, 24]);
    separable!(b3, Relu6On, 32 -> 32, stride 1, [24, 24] -> [24, 24]);
    separable!(b4, Relu6On, 32 -> 64, stride 2, [24, 24] -> [12, 12]);
    separable!(b5, Relu6On, 64 -> 64, stride 1, [12, 12] -> [12, 12]);
    separable!(b6, Relu6On, 64 -> 128, stride 2, [12, 12] -> [6, 6]);
    separable!(b7, Relu6On, 128 -> 128, stride 1, [6, 6] -> [6, 6]);
    separable!(b12, Relu6On, 128 -> 256, stride 2, [6, 6] -> [3, 3]);
    separable!(b13, Relu6On, 256 -> 256, stride 1, [3, 3] -> [3, 3]);

    #[network]
    #[derive(Default)]
    pub struct MobileNet {
        pub conv: Conv,
        pub bn: Bn,
        pub relu: Relu6On<[[[f32; 48]; 48]; 8]>,
        #[nested]
        pub block1: b1::Block,
        #[nested]
        pub block2: b2::Block,
        #[nested]
        pub block3: b3::Block,
        #[nested]
        pub block4: b4::Block,
        #[nested]
        pub block5: b5::Block,
        #[nested]
        pub block6: b6::Block,
        #[nested]
        pub block7: b7::Block,
        #[nested]
        pub block8: b7::Block,
        #[nested]
        pub block9: b7::Block,
        #[nested]
        pub block10: b7::Block,
        #[nested]
        pub block11: b7::Block,
        #[nested]
        pub block12: b12::Block,
        #[nested]
        pub block13: b13::Block,
        pub pool: AdaptiveAvgPool2d<256, 3, 3>,
        pub flatten: Flatten<[[[f32; 1]; 1]; 256], 256>,
        pub fc: Linear<256, 2>,
    }

    pub type Input = [[[f32; 96]; 96]; 3];
}
