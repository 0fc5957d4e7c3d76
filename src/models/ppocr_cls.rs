//! PP-OCR mobile v2.0's text-direction classifier (Apache-2.0, PaddlePaddle
//! authors; as packaged by RapidOCR): is a text line upright (label "0") or
//! upside down ("180")? A MobileNetV3-small (scale 0.35) on `3 x 48 x 192`
//! images, with 35 batch norms in inference (their stored running
//! statistics), depthwise 3x3 and 5x5 convolutions of strides 2 and (2, 1),
//! squeeze-and-excitation gated by Paddle's hard sigmoid (slope 0.2) and
//! hard swish.
//!
//! | field | what | shape after |
//! |---|---|---|
//! | `conv1`, `conv1_bn`, `conv1_act` | 3x3 conv, stride 2, BN, hard swish | `[8, 24, 96]` |
//! | `conv2` ... `conv12` | inverted residual blocks ([`conv2::Block`], ...): 1x1 expand + BN + act, depthwise kxk + BN + act, optional SE, 1x1 project + BN, `+ x` when the shape is kept | `[32, 2, 96]` |
//! | `conv_last`, `conv_last_bn`, `conv_last_act` | 1x1 conv 32 -> 200, BN, hard swish | `[200, 2, 96]` |
//! | `pool`, `gap`, `flatten` | max pool 2x2, global average pool | `[200]` |
//! | `fc`, `softmax` | `Linear(200, 2)`, softmax | `[2]`: P("0"), P("180") |
//!
//! The blocks (expand -> exp channels, kernel, stride, activation, SE
//! squeeze channels, residual):
//!
//! | block | in -> exp -> out | dw | stride | act | SE | `+ x` |
//! |---|---|---|---|---|---|---|
//! | `conv2` | 8 -> 8 -> 8 | 3x3 | (2, 1) | ReLU | 2 | |
//! | `conv3` | 8 -> 24 -> 8 | 3x3 | (2, 1) | ReLU | | |
//! | `conv4` | 8 -> 32 -> 8 | 3x3 | 1 | ReLU | | yes |
//! | `conv5` | 8 -> 32 -> 16 | 5x5 | (2, 1) | hard swish | 8 | |
//! | `conv6`, `conv7` | 16 -> 88 -> 16 | 5x5 | 1 | hard swish | 22 | yes |
//! | `conv8` | 16 -> 40 -> 16 | 5x5 | 1 | hard swish | 10 | yes |
//! | `conv9` | 16 -> 48 -> 16 | 5x5 | 1 | hard swish | 12 | yes |
//! | `conv10` | 16 -> 104 -> 32 | 5x5 | (2, 1) | hard swish | 26 | |
//! | `conv11`, `conv12` | 32 -> 200 -> 32 | 5x5 | 1 | hard swish | 50 | yes |
//!
//! The weights load by name from the package's tensors
//! (`TextDirection::from_safetensors`, feature `safetensors`): `paddle_name` is the key map
//! (`conv2.expand_bn.running_var` is Paddle's `conv2_expand_bn_variance`),
//! and the classifier's weight, stored `[in, out]` by Paddle, is transposed
//! into `Linear`'s `[out, in]`.
//!
//! [`preprocess`] is the package's `resize_norm_img` for an image already
//! 48 pixels high (the package resizes to height 48 first; the example
//! `text_direction` does it as OpenCV does).

use crate::nn::{
    AdaptiveAvgPool2d, Flatten, HardsigmoidFn, HardswishFn, Linear, PaddleGate, ReluFn, Softmax,
    SqueezeExcitation,
};
use crate::{conv2d, max_pool2d, network, normalize};

/// The input: three channels (B, G, R) of 48 x 192.
pub type Image = [[[f32; WIDTH]; HEIGHT]; 3];

/// The input height.
pub const HEIGHT: usize = 48;
/// The input width (narrower images are padded on the right).
pub const WIDTH: usize = 192;
/// The labels of the two outputs.
pub const LABELS: [&str; 2] = ["0", "180"];

/// Paddle's hard sigmoid, the SE blocks' gate.
type Gate = HardsigmoidFn<PaddleGate>;

/// Writes one inverted-residual block as a module holding its `#[network]`
/// struct `Block` and its batch norms.
macro_rules! block {
    (
        $(#[$doc:meta])*
        $name:ident: $in:literal -> $exp:literal -> $out:literal, kernel $k:literal, padding $p:literal,
        stride $stride:tt, height $h:literal -> $ho:literal, act $act:ty
        $(, se $sq:literal)? ; [$($attr:tt)*]
    ) => {
        $(#[$doc])*
        pub mod $name {
            use super::*;

            /// The batch norm after the expansion.
            #[normalize(batch, dims = $exp, spatial = [$h, 96])]
            pub struct ExpandBn;
            /// The batch norm after the depthwise convolution.
            #[normalize(batch, dims = $exp, spatial = [$ho, 96])]
            pub struct DepthwiseBn;
            /// The batch norm after the projection.
            #[normalize(batch, dims = $out, spatial = [$ho, 96])]
            pub struct LinearBn;

            /// The block (`y = linear(se(dw(expand(x))))`, plus `x` when
            /// residual).
            #[$($attr)*]
            #[derive(Clone, Debug, Default)]
            pub struct Block {
                /// 1x1 expansion, no bias.
                pub expand: conv2d!($in, $exp, 1, bias = false, input = [$in, $h, 96]),
                /// Its batch norm.
                pub expand_bn: ExpandBn,
                /// Its activation.
                pub expand_act: crate::nn::ActivationOn<$act, [[[f32; 96]; $h]; $exp]>,
                /// Depthwise kxk, no bias.
                pub depthwise: conv2d!($exp, $exp, $k, stride = $stride, padding = $p, groups = $exp, bias = false, input = [$exp, $h, 96]),
                /// Its batch norm.
                pub depthwise_bn: DepthwiseBn,
                /// Its activation.
                pub depthwise_act: crate::nn::ActivationOn<$act, [[[f32; 96]; $ho]; $exp]>,
                $(
                    /// Squeeze-and-excitation, gated by Paddle's hard sigmoid.
                    pub se: SqueezeExcitation<$exp, $sq, $ho, 96, f32, ReluFn, Gate>,
                )?
                /// 1x1 projection, no bias, no activation.
                pub linear: conv2d!($exp, $out, 1, bias = false, input = [$exp, $ho, 96]),
                /// Its batch norm.
                pub linear_bn: LinearBn,
            }
        }
    };
}

block! {
    /// Block `conv2`: 8 -> 8 -> 8, 3x3 stride (2, 1), ReLU, SE.
    conv2: 8 -> 8 -> 8, kernel 3, padding 1, stride [2, 1], height 24 -> 12, act ReluFn, se 2; [network]
}
block! {
    /// Block `conv3`: 8 -> 24 -> 8, 3x3 stride (2, 1), ReLU.
    conv3: 8 -> 24 -> 8, kernel 3, padding 1, stride [2, 1], height 12 -> 6, act ReluFn; [network]
}
block! {
    /// Block `conv4`: 8 -> 32 -> 8, 3x3, ReLU, residual.
    conv4: 8 -> 32 -> 8, kernel 3, padding 1, stride 1, height 6 -> 6, act ReluFn; [network(residual)]
}
block! {
    /// Block `conv5`: 8 -> 32 -> 16, 5x5 stride (2, 1), hard swish, SE.
    conv5: 8 -> 32 -> 16, kernel 5, padding 2, stride [2, 1], height 6 -> 3, act HardswishFn, se 8; [network]
}
block! {
    /// Block `conv6`: 16 -> 88 -> 16, 5x5, hard swish, SE, residual.
    conv6: 16 -> 88 -> 16, kernel 5, padding 2, stride 1, height 3 -> 3, act HardswishFn, se 22; [network(residual)]
}
block! {
    /// Block `conv7`: 16 -> 88 -> 16, 5x5, hard swish, SE, residual.
    conv7: 16 -> 88 -> 16, kernel 5, padding 2, stride 1, height 3 -> 3, act HardswishFn, se 22; [network(residual)]
}
block! {
    /// Block `conv8`: 16 -> 40 -> 16, 5x5, hard swish, SE, residual.
    conv8: 16 -> 40 -> 16, kernel 5, padding 2, stride 1, height 3 -> 3, act HardswishFn, se 10; [network(residual)]
}
block! {
    /// Block `conv9`: 16 -> 48 -> 16, 5x5, hard swish, SE, residual.
    conv9: 16 -> 48 -> 16, kernel 5, padding 2, stride 1, height 3 -> 3, act HardswishFn, se 12; [network(residual)]
}
block! {
    /// Block `conv10`: 16 -> 104 -> 32, 5x5 stride (2, 1), hard swish, SE.
    conv10: 16 -> 104 -> 32, kernel 5, padding 2, stride [2, 1], height 3 -> 2, act HardswishFn, se 26; [network]
}
block! {
    /// Block `conv11`: 32 -> 200 -> 32, 5x5, hard swish, SE, residual.
    conv11: 32 -> 200 -> 32, kernel 5, padding 2, stride 1, height 2 -> 2, act HardswishFn, se 50; [network(residual)]
}
block! {
    /// Block `conv12`: 32 -> 200 -> 32, 5x5, hard swish, SE, residual.
    conv12: 32 -> 200 -> 32, kernel 5, padding 2, stride 1, height 2 -> 2, act HardswishFn, se 50; [network(residual)]
}

/// The stem's batch norm.
#[normalize(batch, dims = 8, spatial = [24, 96])]
pub struct Conv1Bn;
/// The last convolution's batch norm.
#[normalize(batch, dims = 200, spatial = [2, 96])]
pub struct ConvLastBn;

/// The classifier: an image `[3, 48, 192]` (B, G, R; [`preprocess`]) to the
/// probabilities of [`LABELS`].
#[network]
#[derive(Clone, Debug, Default)]
pub struct TextDirection {
    /// The stem: 3x3, stride 2, no bias.
    pub conv1: conv2d!(
        3,
        8,
        3,
        stride = 2,
        padding = 1,
        bias = false,
        input = [3, 48, 192]
    ),
    /// Its batch norm.
    pub conv1_bn: Conv1Bn,
    /// Hard swish.
    pub conv1_act: crate::nn::ActivationOn<HardswishFn, [[[f32; 96]; 24]; 8]>,
    /// Block 2.
    #[nested]
    pub conv2: conv2::Block,
    /// Block 3.
    #[nested]
    pub conv3: conv3::Block,
    /// Block 4.
    #[nested]
    pub conv4: conv4::Block,
    /// Block 5.
    #[nested]
    pub conv5: conv5::Block,
    /// Block 6.
    #[nested]
    pub conv6: conv6::Block,
    /// Block 7.
    #[nested]
    pub conv7: conv7::Block,
    /// Block 8.
    #[nested]
    pub conv8: conv8::Block,
    /// Block 9.
    #[nested]
    pub conv9: conv9::Block,
    /// Block 10.
    #[nested]
    pub conv10: conv10::Block,
    /// Block 11.
    #[nested]
    pub conv11: conv11::Block,
    /// Block 12.
    #[nested]
    pub conv12: conv12::Block,
    /// 1x1, 32 -> 200, no bias.
    pub conv_last: conv2d!(32, 200, 1, bias = false, input = [32, 2, 96]),
    /// Its batch norm.
    pub conv_last_bn: ConvLastBn,
    /// Hard swish.
    pub conv_last_act: crate::nn::ActivationOn<HardswishFn, [[[f32; 96]; 2]; 200]>,
    /// Max pool 2x2.
    pub pool: max_pool2d!(2, input = [200, 2, 96]),
    /// Global average pool.
    pub gap: AdaptiveAvgPool2d<200, 1, 48>,
    /// `[200, 1, 1]` to `[200]`.
    pub flatten: Flatten<[[[f32; 1]; 1]; 200], 200>,
    /// `fc_0`: `Linear(200, 2)`.
    pub fc: Linear<200, 2>,
    /// The probabilities.
    pub softmax: Softmax<2>,
}

/// The package's name of one of [`TextDirection`]'s state-dict keys (the
/// key map), `None` for a key the package's file does not have
/// (`num_batches_tracked`, which Paddle does not count). `fc.weight` is
/// `fc_0.w_0`, stored transposed.
///
/// `conv2.expand.weight` -> `conv2_expand_weights`, `conv2.expand_bn.weight`
/// -> `conv2_expand_bn_scale` (`bias` -> `_offset`, `running_mean` ->
/// `_mean`, `running_var` -> `_variance`), `conv2.se.fc1.weight` ->
/// `conv2_se_1_weights` (`bias` -> `_offset`). With the `std` feature.
#[cfg(feature = "std")]
#[must_use]
pub fn paddle_name(key: &str) -> Option<std::string::String> {
    use std::format;
    let (path, leaf) = key.rsplit_once('.')?;
    let path = path.replace('.', "_");
    match (path.as_str(), leaf) {
        ("fc", "weight") => Some("fc_0.w_0".into()),
        ("fc", "bias") => Some("fc_0.b_0".into()),
        (_, "num_batches_tracked") => None,
        (bn, leaf) if bn.ends_with("_bn") => {
            let suffix = match leaf {
                "weight" => "scale",
                "bias" => "offset",
                "running_mean" => "mean",
                "running_var" => "variance",
                _ => return None,
            };
            Some(format!("{bn}_{suffix}"))
        }
        (se, leaf) if se.ends_with("_se_fc1") || se.ends_with("_se_fc2") => {
            let (block, fc) = se.split_at(se.len() - 3);
            let n = &fc[2..];
            let suffix = if leaf == "weight" {
                "weights"
            } else {
                "offset"
            };
            Some(format!("{block}{n}_{suffix}"))
        }
        (conv, "weight") => Some(format!("{conv}_weights")),
        _ => None,
    }
}

#[cfg(feature = "safetensors")]
impl TextDirection {
    /// The classifier loaded from the package's 213 tensors
    /// (`ch_ppocr_mobile_v2.0_cls.safetensors`) through [`paddle_name`], on
    /// the heap. Every tensor is checked (shape, dtype f32, finite values,
    /// no negative running variance), the file must hold nothing else, and
    /// the batch norms' `num_batches_tracked` stay 0.
    ///
    /// # Errors
    /// A [`LoadError`](crate::safetensors::LoadError) for a file that is
    /// not safetensors or not these weights.
    pub fn from_safetensors(
        bytes: &[u8],
    ) -> Result<std::boxed::Box<Self>, crate::safetensors::LoadError> {
        use crate::StateDict;
        use crate::safetensors::{LoadError, LoadOptions, StateDictFile};
        use std::string::{String, ToString};
        use std::vec::Vec;
        let file = StateDictFile::parse(bytes)?;
        let mut net = Self::new_boxed();
        let mut renames: Vec<(String, String)> = Vec::new();
        net.visit_arrays(&mut |key, _, _| {
            let key = key.to_string();
            if let Some(name) = paddle_name(&key).filter(|_| key != "fc.weight") {
                renames.push((name, key));
            }
        });
        let pairs: Vec<(&str, &str)> = renames
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let theirs = "fc_0.w_0";
        if let Some(extra) = file
            .keys()
            .into_iter()
            .find(|k| k != theirs && !pairs.iter().any(|(from, _)| from == k))
        {
            return Err(LoadError::UnexpectedKey(extra));
        }
        // Everything but the classifier's weight, by name; then Paddle's
        // [in, out] weight into Linear's [out, in].
        let fc: Vec<f32> = file.read_tensor(theirs, &[200, 2])?;
        let options = LoadOptions {
            strict: false,
            ..LoadOptions::default()
        };
        file.load_renamed(
            &mut AllBut {
                net: &mut net,
                skip: "fc.weight",
            },
            &pairs,
            options,
        )?;
        for (i, pair) in fc.chunks_exact(2).enumerate() {
            net.fc.weight[0][i] = pair[0];
            net.fc.weight[1][i] = pair[1];
        }
        Ok(net)
    }
}

/// A network's state dict without one array (the one a key map cannot
/// fill: Paddle's transposed classifier weight).
#[cfg(feature = "safetensors")]
struct AllBut<'a> {
    net: &'a mut TextDirection,
    skip: &'a str,
}

#[cfg(feature = "safetensors")]
impl crate::StateDict for AllBut<'_> {
    type Scalar = f32;

    fn visit_arrays(&self, f: &mut crate::Visit<'_, f32>) {
        use std::string::ToString;
        self.net.visit_arrays(&mut |key, shape, values| {
            if key.to_string() != self.skip {
                f(key, shape, values);
            }
        });
    }

    fn visit_arrays_mut(&mut self, f: &mut crate::VisitMut<'_, f32>) {
        use std::string::ToString;
        let skip = self.skip;
        self.net.visit_arrays_mut(&mut |key, shape, values| {
            if key.to_string() != skip {
                f(key, shape, values);
            }
        });
    }

    fn visit_counters(&self, f: &mut crate::VisitCounter<'_>) {
        self.net.visit_counters(f);
    }

    fn visit_counters_mut(&mut self, f: &mut crate::VisitCounterMut<'_>) {
        self.net.visit_counters_mut(f);
    }
}

/// The package's `resize_norm_img` for an image already [`HEIGHT`] pixels
/// high and at most [`WIDTH`] wide, given as 8-bit B, G, R planes
/// (`bgr[c][y * width + x]`, as OpenCV reads a file): each value `v / 255`,
/// then `(t - 0.5) / 0.5`, in `f32` in that order, and the columns from
/// `width` on 0 (mid-grey after the normalization).
///
/// # Panics
/// If `width` is 0 or more than [`WIDTH`], or a plane does not hold
/// `HEIGHT * width` values.
pub fn preprocess(bgr: [&[u8]; 3], width: usize, image: &mut Image) {
    assert!(
        (1..=WIDTH).contains(&width),
        "preprocess: the width must be 1..=192 (resize to height 48 first)"
    );
    for (plane, out) in bgr.iter().zip(image.iter_mut()) {
        assert_eq!(
            plane.len(),
            HEIGHT * width,
            "preprocess: a plane of 48 x width values"
        );
        for (row, out) in plane.chunks_exact(width).zip(out.iter_mut()) {
            for (v, o) in row.iter().zip(out.iter_mut()) {
                let t = f32::from(*v) / 255.0;
                *o = (t - 0.5) / 0.5;
            }
            out[width..].fill(0.0);
        }
    }
}
