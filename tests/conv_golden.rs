//! The convolution kernels against PyTorch's `Conv1d` and `Conv2d`
//! (tests/golden_layers/conv.json; tolerances in tests/common/golden.rs):
//! every case forward, and backward with the gradients of `x`, the weight
//! and the bias.
//!
//! The kernels take their geometry as const generics, so the table at the end
//! has a line per case naming the kernel and its generic arguments in the
//! kernel's order; each test first checks them against the case's options,
//! so a wrong line fails instead of testing something else.

mod common;

use common::golden::Report;
use common::golden_layers::{Case, flat};
use common::kernels::Geometry;
use constnorm::runtime::kernels::window::{Padding, conv_out_len};
use constnorm::{NormError, Row};

/// Fails unless the kernel's generics are the case's module: its op,
/// channels, groups, and per axis the kernel, stride, dilation and left
/// padding, with an output length that PyTorch's formula gives for the
/// resolved padding.
fn expect_geometry(case: &Case, geometry: &Geometry) {
    assert_eq!(case.op, geometry.op, "{}: op", case.name);
    let channels = ["in_channels", "out_channels", "groups"].map(|name| case.count(name));
    assert_eq!(
        channels, geometry.channels,
        "{}: channels and groups",
        case.name
    );
    let resolved: Vec<[usize; 2]> =
        serde_json::from_value(case.options["padding_resolved"].clone()).expect("padding_resolved");
    let list = |name| case.counts(name);
    let (kernel, stride, dilation) = (list("kernel_size"), list("stride"), list("dilation"));
    assert_eq!(
        resolved.len(),
        geometry.axes.len(),
        "{}: spatial axes",
        case.name
    );
    for (i, &[len, out, k, s, left, d]) in geometry.axes.iter().enumerate() {
        let options = [kernel[i], stride[i], resolved[i][0], dilation[i]];
        assert_eq!(options, [k, s, left, d], "{}: axis {i}", case.name);
        let padding = Padding {
            left,
            right: resolved[i][1],
        };
        let pytorch = conv_out_len(len, k, s, padding, d);
        assert_eq!(pytorch, out, "{}: output length of axis {i}", case.name);
    }
}

/// Runs a case through a forward and backward kernel (rows `X` in, `Y` out,
/// weight `Wt`, bias `B`) after checking their geometry.
fn run<X, Y, Wt, B>(
    case: &Case,
    geometry: Geometry,
    forward: impl Fn(&Wt, Option<&B>, &[X], &mut [Y]) -> Result<(), NormError>,
    backward: impl Fn(&Wt, &[X], &[Y], &mut [X], &mut Wt, Option<&mut B>) -> Result<(), NormError>,
) -> Report
where
    X: Row,
    Y: Row<Scalar = X::Scalar>,
    Wt: Row<Scalar = X::Scalar>,
    B: Row<Scalar = X::Scalar>,
{
    expect_geometry(case, &geometry);
    case.expect_dtype::<X::Scalar>();
    assert_eq!(case.flag("bias"), case.params.contains_key("bias"));
    let weight: Wt = case.param("weight").expect("weight");
    let bias: Option<B> = case.param("bias");
    let x: Vec<X> = case.input("x");
    let mut y = vec![Y::ZERO; x.len()];
    forward(&weight, bias.as_ref(), &x, &mut y).expect("forward");
    let dy: Vec<Y> = case.dy("y");
    let mut dx = vec![X::ZERO; x.len()];
    let mut dweight = Wt::ZERO;
    let mut dbias = bias.map(|_| B::ZERO);
    backward(&weight, &x, &dy, &mut dx, &mut dweight, dbias.as_mut()).expect("backward");
    let mut grads = vec![("x", flat(&dx)), ("weight", flat(&[dweight]))];
    grads.extend(dbias.map(|db| ("bias", flat(&[db]))));
    case.compare(&[("y", flat(&y))], &grads)
}

// conv1d: T, C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, L, OUT_L, K, STRIDE, PAD, DILATION
// conv2d: T, C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, H, W, OUT_H, OUT_W, KH, KW,
//         STRIDE_H, STRIDE_W, PAD_TOP, PAD_LEFT, DILATION_H, DILATION_W
golden_cases! {
    "conv";
    conv1d_f64_basic_2x3x10: conv1d::<f64, 3, 4, 1, 3, 10, 8, 3, 1, 0, 1>;
    conv1d_f64_stride_dil_groups_2x4x12: conv1d::<f64, 4, 6, 2, 2, 12, 5, 3, 2, 1, 2>;
    conv1d_f64_depthwise_same_2x4x9: conv1d::<f64, 4, 4, 4, 1, 9, 9, 5, 1, 2, 1>;
    conv2d_f64_basic_2x3x8x8: conv2d::<f64, 3, 4, 1, 3, 8, 8, 6, 6, 3, 3, 1, 1, 0, 0, 1, 1>;
    conv2d_f64_nonsquare_2x3x8x8: conv2d::<f64, 3, 5, 1, 3, 8, 8, 4, 7, 3, 2, 2, 1, 1, 0, 1, 1>;
    conv2d_f64_same_dil_2x3x8x8: conv2d::<f64, 3, 4, 1, 3, 8, 8, 8, 8, 3, 3, 1, 1, 2, 2, 2, 2>;
    conv2d_f64_same_even_kernel_2x2x7x8: conv2d::<f64, 2, 3, 1, 2, 7, 8, 7, 8, 4, 2, 1, 1, 1, 0, 1, 1>;
    conv2d_f64_stride_dil_groups_2x4x9x9: conv2d::<f64, 4, 6, 2, 2, 9, 9, 4, 4, 3, 3, 2, 2, 1, 1, 2, 2>;
    conv2d_f64_depthwise_2x3x8x8: conv2d::<f64, 3, 3, 3, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1>;
    conv2d_f64_depthwise_mult2_2x3x6x6: conv2d::<f64, 3, 6, 3, 1, 6, 6, 3, 4, 3, 3, 2, 2, 1, 2, 1, 1>;
    conv2d_f64_1x1_2x4x5x5: conv2d::<f64, 4, 2, 1, 4, 5, 5, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1>;
    conv1d_f32_stride_dil_groups_2x4x12: conv1d::<f32, 4, 6, 2, 2, 12, 5, 3, 2, 1, 2>;
    conv2d_f32_stride_dil_groups_2x4x9x9: conv2d::<f32, 4, 6, 2, 2, 9, 9, 4, 4, 3, 3, 2, 2, 1, 1, 2, 2>;
    conv2d_f32_depthwise_2x3x8x8: conv2d::<f32, 3, 3, 3, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1>;
}
