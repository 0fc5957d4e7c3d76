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
use common::golden_layers::{self, Case, flat};
use constnorm::runtime::kernels::pool;
use constnorm::runtime::kernels::window::pool_out_len;
use constnorm::{NormError, Row};

/// `test: kernel::<generic arguments>;` per reference case: a test running
/// the case through the kernel (see [`kernel`]); and `TABLE`, every test's
/// name.
macro_rules! cases {
    ($($test:ident: $kernel:ident::<$($arg:tt),*>;)*) => {
        const TABLE: &[&str] = &[$(stringify!($test)),*];
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                let case = golden_layers::case("pool", name);
                kernel!(case, $kernel::<$($arg),*>).finish(name);
            }
        )*
    };
}

/// Runs `case` through a kernel's forward and backward pass with the given
/// generic arguments (in the kernel's order) after checking them against the
/// case's options: `max` and `avg` pools give their axes as `[input length,
/// output length, kernel, stride, padding, dilation]` (dilation 1 for `avg`),
/// global pools their spatial lengths.
macro_rules! kernel {
    ($case:expr, max_pool1d::<$t:ident, $c:tt, $l:tt, $out_l:tt, $k:tt, $s:tt, $p:tt, $d:tt>) => {{
        expect_window($case, &[[$l, $out_l, $k, $s, $p, $d]]);
        run::<[[$t; $l]; $c], _>(
            $case,
            pool::max_pool1d_forward::<$t, $c, $l, $out_l, $k, $s, $p, $d>,
            pool::max_pool1d_backward::<$t, $c, $l, $out_l, $k, $s, $p, $d>,
        )
    }};
    ($case:expr, max_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt, $out_h:tt, $out_w:tt,
        $kh:tt, $kw:tt, $sh:tt, $sw:tt, $ph:tt, $pw:tt, $dh:tt, $dw:tt>) => {{
        expect_window($case, &[[$h, $out_h, $kh, $sh, $ph, $dh], [$w, $out_w, $kw, $sw, $pw, $dw]]);
        run::<[[[$t; $w]; $h]; $c], _>(
            $case,
            pool::max_pool2d_forward::<$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $dh, $dw>,
            pool::max_pool2d_backward::<$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $dh, $dw>,
        )
    }};
    ($case:expr, avg_pool1d::<$t:ident, $c:tt, $l:tt, $out_l:tt, $k:tt, $s:tt, $p:tt, $incl:tt>) => {{
        expect_window($case, &[[$l, $out_l, $k, $s, $p, 1]]);
        assert_eq!($case.flag("count_include_pad"), $incl);
        run::<[[$t; $l]; $c], _>(
            $case,
            pool::avg_pool1d_forward::<$t, $c, $l, $out_l, $k, $s, $p, $incl>,
            pool::avg_pool1d_backward::<$t, $c, $l, $out_l, $k, $s, $p, $incl>,
        )
    }};
    ($case:expr, avg_pool2d::<$t:ident, $c:tt, $h:tt, $w:tt, $out_h:tt, $out_w:tt,
        $kh:tt, $kw:tt, $sh:tt, $sw:tt, $ph:tt, $pw:tt, $incl:tt>) => {{
        expect_window($case, &[[$h, $out_h, $kh, $sh, $ph, 1], [$w, $out_w, $kw, $sw, $pw, 1]]);
        assert_eq!($case.flag("count_include_pad"), $incl);
        assert!($case.options["divisor_override"].is_null());
        run::<[[[$t; $w]; $h]; $c], _>(
            $case,
            pool::avg_pool2d_forward::<$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $incl>,
            pool::avg_pool2d_backward::<$t, $c, $h, $w, $out_h, $out_w, $kh, $kw, $sh, $sw, $ph, $pw, $incl>,
        )
    }};
    ($case:expr, $global:ident::<$t:ident, $c:tt, $($len:tt),+>) => {{
        let spatial = [$($len),+];
        assert_eq!($case.counts("output_size"), spatial.map(|_| 1), "{}: output_size", $case.name);
        global!($case, $global, $t, $c, $($len),+)
    }};
}

/// The global pools: `kernel!`'s last arm, by name.
macro_rules! global {
    ($case:expr, adaptive_avg_pool1d, $t:ident, $c:tt, $l:tt) => {
        run::<[[$t; $l]; $c], _>(
            $case,
            pool::adaptive_avg_pool1d_forward::<$t, $c, $l>,
            pool::adaptive_avg_pool1d_backward::<$t, $c, $l>,
        )
    };
    ($case:expr, adaptive_avg_pool2d, $t:ident, $c:tt, $h:tt, $w:tt) => {
        run::<[[[$t; $w]; $h]; $c], _>(
            $case,
            pool::adaptive_avg_pool2d_forward::<$t, $c, $h, $w>,
            pool::adaptive_avg_pool2d_backward::<$t, $c, $h, $w>,
        )
    };
    ($case:expr, adaptive_max_pool2d, $t:ident, $c:tt, $h:tt, $w:tt) => {
        run::<[[[$t; $w]; $h]; $c], _>(
            $case,
            pool::adaptive_max_pool2d_forward::<$t, $c, $h, $w>,
            pool::adaptive_max_pool2d_backward::<$t, $c, $h, $w>,
        )
    };
}

#[test]
fn every_reference_case_is_run() {
    golden_layers::check_table("pool", TABLE);
}

/// Fails unless the kernel's generics are the case's module: per axis
/// `[input length, output length, kernel, stride, padding, dilation]`, the
/// output length being PyTorch's for the case's `ceil_mode`.
fn expect_window(case: &Case, axes: &[[usize; 6]]) {
    let list = |name| case.counts(name);
    let (kernel, stride, padding) = (list("kernel_size"), list("stride"), list("padding"));
    let dilation = match case.options.get("dilation") {
        Some(_) => list("dilation"),
        None => vec![1; axes.len()],
    };
    let ceil_mode = case.flag("ceil_mode");
    assert_eq!(kernel.len(), axes.len(), "{}: spatial axes", case.name);
    for (i, &[len, out, k, s, p, d]) in axes.iter().enumerate() {
        assert_eq!(
            [kernel[i], stride[i], padding[i], dilation[i]],
            [k, s, p, d],
            "{}: axis {i}",
            case.name
        );
        assert_eq!(
            pool_out_len(len, k, s, p, d, ceil_mode),
            out,
            "{}: output length of axis {i}",
            case.name
        );
    }
}

/// Runs a case through a forward and backward kernel: rows `X` in, `Y` out.
fn run<X: Row, Y: Row<Scalar = X::Scalar>>(
    case: &Case,
    forward: impl Fn(&[X], &mut [Y]) -> Result<(), NormError>,
    backward: impl Fn(&[X], &[Y], &mut [X]) -> Result<(), NormError>,
) -> Report {
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
cases! {
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
