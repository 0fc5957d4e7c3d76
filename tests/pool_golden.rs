//! The pooling kernels against PyTorch's `MaxPool1d/2d`, `AvgPool1d/2d` and
//! the global `AdaptiveAvgPool1d/2d` and `AdaptiveMaxPool2d`
//! (tests/golden_layers/pool.json; tolerances in tests/common/golden.rs):
//! every case forward, and backward with the gradient of `x`.
//!
//! As in tests/conv_golden.rs, the table at the end has a line per case
//! naming the kernel and its generic arguments in the kernel's order; each
//! test first checks them against the case's options.

mod common;

use common::golden::Report;
use common::golden_layers::{Case, flat};
use common::kernels::Geometry;
use constnorm::runtime::kernels::window::pool_out_len;
use constnorm::{NormError, Row};

/// Fails unless the kernel's generics are the case's module: its op, and
/// per axis the kernel, stride, padding and dilation, with the output length
/// PyTorch gives for the case's `ceil_mode` (global pools: `output_size` 1
/// on every axis); `count_include_pad` for average pools.
fn expect_geometry(case: &Case, geometry: &Geometry) {
    assert_eq!(case.op, geometry.op, "{}: op", case.name);
    assert_eq!(
        case.inputs["x"].shape[1], geometry.channels[0],
        "{}: channels",
        case.name
    );
    if case.op.starts_with("adaptive") {
        let ones = vec![1; geometry.axes.len()];
        assert_eq!(
            case.counts("output_size"),
            ones,
            "{}: output_size",
            case.name
        );
        return;
    }
    let list = |name| case.counts(name);
    let (kernel, stride, padding) = (list("kernel_size"), list("stride"), list("padding"));
    let dilation = match case.options.get("dilation") {
        Some(_) => list("dilation"),
        None => vec![1; geometry.axes.len()],
    };
    let ceil_mode = case.flag("ceil_mode");
    assert_eq!(
        kernel.len(),
        geometry.axes.len(),
        "{}: spatial axes",
        case.name
    );
    for (i, &[len, out, k, s, p, d]) in geometry.axes.iter().enumerate() {
        let options = [kernel[i], stride[i], padding[i], dilation[i]];
        assert_eq!(options, [k, s, p, d], "{}: axis {i}", case.name);
        let pytorch = pool_out_len(len, k, s, p, d, ceil_mode);
        assert_eq!(pytorch, out, "{}: output length of axis {i}", case.name);
    }
    if let Some(incl) = geometry.count_include_pad {
        assert_eq!(
            case.flag("count_include_pad"),
            incl,
            "{}: count_include_pad",
            case.name
        );
        let divisor_override = case.options.get("divisor_override");
        assert!(
            divisor_override.is_none_or(|d| d.is_null()),
            "{}: divisor_override",
            case.name
        );
    }
}

/// Runs a case through a forward and backward kernel (rows `X` in, `Y` out)
/// after checking their geometry.
fn run<X: Row, Y: Row<Scalar = X::Scalar>>(
    case: &Case,
    geometry: Geometry,
    forward: impl Fn(&[X], &mut [Y]) -> Result<(), NormError>,
    backward: impl Fn(&[X], &[Y], &mut [X]) -> Result<(), NormError>,
) -> Report {
    expect_geometry(case, &geometry);
    case.expect_dtype::<X::Scalar>();
    assert!(
        case.params.is_empty(),
        "{}: pools have no parameters",
        case.name
    );
    let x: Vec<X> = case.input("x");
    let mut y = vec![Y::ZERO; x.len()];
    forward(&x, &mut y).expect("forward");
    let dy: Vec<Y> = case.dy("y");
    let mut dx = vec![X::ZERO; x.len()];
    backward(&x, &dy, &mut dx).expect("backward");
    case.compare(&[("y", flat(&y))], &[("x", flat(&dx))])
}

// max_pool1d: T, C, L, OUT_L, K, STRIDE, PAD, DILATION
// max_pool2d: T, C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W,
//             DILATION_H, DILATION_W
// avg_pool1d: T, C, L, OUT_L, K, STRIDE, PAD, COUNT_INCLUDE_PAD
// avg_pool2d: T, C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W,
//             COUNT_INCLUDE_PAD
// adaptive_*_pool1d: T, C, L; adaptive_*_pool2d: T, C, H, W
golden_cases! {
    "pool";
    max_pool1d_f64_pad_dil_ceil_2x3x10: max_pool1d::<f64, 3, 10, 5, 3, 2, 1, 2>;
    max_pool1d_f64_ceil_drops_window_in_pad_2x2x5: max_pool1d::<f64, 2, 5, 2, 3, 3, 1, 1>;
    max_pool2d_f64_basic_2x3x8x8: max_pool2d::<f64, 3, 8, 8, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1>;
    max_pool2d_f64_nonsquare_2x2x7x8: max_pool2d::<f64, 2, 7, 8, 4, 7, 3, 2, 2, 1, 1, 0, 1, 1>;
    max_pool2d_f64_ceil_2x2x8x8: max_pool2d::<f64, 2, 8, 8, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1>;
    max_pool2d_f64_dil_ceil_2x2x9x9: max_pool2d::<f64, 2, 9, 9, 5, 5, 2, 3, 2, 2, 1, 1, 2, 1>;
    avg_pool1d_f64_pad_incl_2x3x9: avg_pool1d::<f64, 3, 9, 5, 3, 2, 1, true>;
    avg_pool1d_f64_ceil_excl_2x2x10: avg_pool1d::<f64, 2, 10, 6, 3, 2, 1, false>;
    avg_pool2d_f64_ceil_incl_2x3x8x8: avg_pool2d::<f64, 3, 8, 8, 5, 5, 3, 3, 2, 2, 1, 1, true>;
    avg_pool2d_f64_ceil_excl_drop_2x2x5x7: avg_pool2d::<f64, 2, 5, 7, 2, 4, 3, 3, 3, 2, 1, 1, false>;
    avg_pool2d_f64_excl_2x2x6x7: avg_pool2d::<f64, 2, 6, 7, 4, 4, 2, 3, 2, 2, 1, 1, false>;
    adaptive_avg_pool1d_f64_global_2x3x7: adaptive_avg_pool1d::<f64, 3, 7>;
    adaptive_avg_pool2d_f64_global_2x3x5x6: adaptive_avg_pool2d::<f64, 3, 5, 6>;
    adaptive_max_pool2d_f64_global_2x3x5x6: adaptive_max_pool2d::<f64, 3, 5, 6>;
    max_pool2d_f32_ceil_2x2x8x8: max_pool2d::<f32, 2, 8, 8, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1>;
    avg_pool2d_f32_ceil_excl_drop_2x2x5x7: avg_pool2d::<f32, 2, 5, 7, 2, 4, 3, 3, 3, 2, 1, 1, false>;
    adaptive_avg_pool2d_f32_global_2x3x5x6: adaptive_avg_pool2d::<f32, 3, 5, 6>;
}
