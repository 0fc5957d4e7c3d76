//! The conv and pool kernels' gradients against central finite differences
//! (f64), and their calling contract: `dx` is overwritten, parameter
//! gradients are added to, and a refused call writes nothing.
//!
//! The loss is `sum(y * dy)` for a fixed `dy`, so backward must give its
//! gradient with respect to `x`, the weight and the bias. Every table line
//! below is one kernel at one geometry (output lengths computed by the
//! crate's own `const fn`s in the generic arguments); together they cover
//! every kernel with stride, dilation, groups, padding (asymmetric "same"
//! with an even kernel among them) and `ceil_mode` windows, the dropped and
//! the clipped kind.

mod common;

use common::fd::richardson;
use common::kernels::Geometry;
use constnorm::runtime::kernels::window::{Padding, conv_out_len, pool_out_len, same_padding};
use constnorm::{NormError, Row};

/// Finite-difference step. Every loss here is linear in each input or, for
/// max pools, piecewise linear with kinks only where two inputs tie; the
/// inputs are at least 0.25 apart, so the step never crosses one.
const STEP: f64 = 1e-3;

/// |analytic - numeric| <= TOL * max(1, |numeric|) + the estimate's own
/// error bound.
const TOL: f64 = 1e-9;

/// Rows per batch.
const ROWS: usize = 2;

/// `test: check(arguments), kernel::<generic arguments>;` per geometry: a
/// test of the kernel's gradients and contract by [`conv`] or [`pool`].
macro_rules! cases {
    ($($test:ident: $check:ident($($lead:expr),*), $kernel:ident::<$($arg:tt),*>;)*) => {$(
        #[test]
        fn $test() {
            with_kernel!($check(stringify!($test) $(, $lead)*), $kernel::<$($arg),*>);
        }
    )*};
}

/// Whether a convolution of the table has a bias.
const BIAS: bool = true;
const NO_BIAS: bool = false;

/// `n` distinct values, a shuffle of a grid with step 0.25 around zero
/// (seeded: the same on every run).
fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut grid: Vec<f64> = (0..n).map(|i| (i as f64 - n as f64 / 2.0) * 0.25).collect();
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        grid.swap(i, (state % (i as u64 + 1)) as usize);
    }
    grid
}

fn array<R: Row<Scalar = f64>>(values: &[f64]) -> R {
    let mut out = R::ZERO;
    out.as_flat_mut().copy_from_slice(values);
    out
}

fn rows<R: Row<Scalar = f64>>(values: &[f64]) -> Vec<R> {
    values.chunks_exact(R::LEN).map(array).collect()
}

fn flat<R: Row<Scalar = f64>>(rows: &[R]) -> Vec<f64> {
    rows.iter()
        .flat_map(|r| r.as_flat().iter().copied())
        .collect()
}

/// The loss `sum(y * dy)`.
fn dot<R: Row<Scalar = f64>>(y: &[R], dy: &[R]) -> f64 {
    flat(y).iter().zip(flat(dy)).map(|(y, d)| y * d).sum()
}

/// Checks `analytic`, the gradient of `loss` at `at`, one coordinate at a
/// time.
fn check_gradient(what: &str, at: &[f64], analytic: &[f64], loss: impl Fn(&[f64]) -> f64) {
    assert_eq!(at.len(), analytic.len(), "{what}: length");
    for (i, a) in analytic.iter().enumerate() {
        let (numeric, error) = richardson(
            |h| {
                let mut p = at.to_vec();
                p[i] += h;
                loss(&p)
            },
            STEP,
        );
        assert!(
            (a - numeric).abs() <= TOL * numeric.abs().max(1.0) + error,
            "{what}[{i}]: backward {a:e}, finite difference {numeric:e} (+- {error:e})"
        );
    }
}

/// Gradients `ones + g` minus the ones they started from.
fn added<R: Row<Scalar = f64>>(grads: &[R]) -> Vec<f64> {
    flat(grads).iter().map(|g| g - 1.0).collect()
}

/// Runs a call that must be refused, with `output` as its output, and
/// checks that it left `output` as it was.
fn refused<R: Row<Scalar = f64>>(
    output: &mut [R],
    call: impl FnOnce(&mut [R]) -> Result<(), NormError>,
) -> NormError {
    let before = flat(output);
    let error = call(output).expect_err("the call must be refused");
    assert_eq!(flat(output), before, "a refused call wrote its output");
    error
}

/// `RowCountMismatch` for `argument` with `found` rows against `ROWS`.
fn mismatch(argument: &'static str, found: usize) -> NormError {
    NormError::RowCountMismatch {
        argument,
        expected: ROWS,
        found,
    }
}

/// A convolution's gradients (`dx` written over garbage, weight and bias
/// gradients added to ones) against finite differences, and its refusals of
/// mismatched row counts.
fn conv<X, Y, Wt, B>(
    name: &str,
    with_bias: bool,
    geometry: Geometry,
    forward: impl Fn(&Wt, Option<&B>, &[X], &mut [Y]) -> Result<(), NormError>,
    backward: impl Fn(&Wt, &[X], &[Y], &mut [X], &mut Wt, Option<&mut B>) -> Result<(), NormError>,
) where
    X: Row<Scalar = f64>,
    Y: Row<Scalar = f64>,
    Wt: Row<Scalar = f64>,
    B: Row<Scalar = f64>,
{
    assert!(geometry.op.starts_with("conv"), "{name}: not a convolution");
    let x: Vec<X> = rows(&values(ROWS * X::LEN, 1));
    let weight: Wt = array(&values(Wt::LEN, 2));
    let bias: Option<B> = with_bias.then(|| array(&values(B::LEN, 3)));
    let dy: Vec<Y> = rows(&values(ROWS * Y::LEN, 4));
    let loss = |x: &[X], weight: &Wt, bias: Option<&B>| {
        let mut y = vec![Y::ZERO; x.len()];
        forward(weight, bias, x, &mut y).expect("forward");
        dot(&y, &dy)
    };
    let mut dx: Vec<X> = rows(&values(ROWS * X::LEN, 5));
    let mut dweight: Wt = array(&vec![1.0; Wt::LEN]);
    let mut dbias: Option<B> = bias.map(|_| array(&vec![1.0; B::LEN]));
    backward(&weight, &x, &dy, &mut dx, &mut dweight, dbias.as_mut()).expect("backward");

    check_gradient(&format!("{name} dx"), &flat(&x), &flat(&dx), |v| {
        loss(&rows(v), &weight, bias.as_ref())
    });
    check_gradient(
        &format!("{name} dweight"),
        &flat(&[weight]),
        &added(&[dweight]),
        |v| loss(&x, &array(v), bias.as_ref()),
    );
    if let (Some(b), Some(db)) = (bias, dbias) {
        check_gradient(&format!("{name} dbias"), &flat(&[b]), &added(&[db]), |v| {
            loss(&x, &weight, Some(&array(v)))
        });
    }

    let mut y = vec![Y::ZERO; ROWS + 1];
    let error = refused(&mut y, |y| forward(&weight, bias.as_ref(), &x, y));
    assert_eq!(error, mismatch("y", ROWS + 1));
    let error = refused::<Y>(&mut [], |y| forward(&weight, bias.as_ref(), &[], y));
    assert_eq!(error, NormError::EmptyBatch);
    let grads_before = (flat(&[dweight]), dbias.map(|db| flat(&[db])));
    let error = refused(&mut dx, |dx| {
        backward(&weight, &x, &dy[..1], dx, &mut dweight, dbias.as_mut())
    });
    assert_eq!(error, mismatch("dy", 1));
    let error = refused(&mut dx[..1], |dx| {
        backward(&weight, &x, &dy, dx, &mut dweight, dbias.as_mut())
    });
    assert_eq!(error, mismatch("dx", 1));
    let grads_after = (flat(&[dweight]), dbias.map(|db| flat(&[db])));
    assert_eq!(
        grads_before, grads_after,
        "a refused backward added to a gradient"
    );
}

/// A pool's gradient (`dx` written over garbage) against finite
/// differences, and its refusals of mismatched row counts.
fn pool<X, Y>(
    name: &str,
    geometry: Geometry,
    forward: impl Fn(&[X], &mut [Y]) -> Result<(), NormError>,
    backward: impl Fn(&[X], &[Y], &mut [X]) -> Result<(), NormError>,
) where
    X: Row<Scalar = f64>,
    Y: Row<Scalar = f64>,
{
    assert!(geometry.op.contains("pool"), "{name}: not a pool");
    let x: Vec<X> = rows(&values(ROWS * X::LEN, 1));
    let dy: Vec<Y> = rows(&values(ROWS * Y::LEN, 4));
    let mut dx: Vec<X> = rows(&values(ROWS * X::LEN, 5));
    backward(&x, &dy, &mut dx).expect("backward");
    check_gradient(&format!("{name} dx"), &flat(&x), &flat(&dx), |v| {
        let x: Vec<X> = rows(v);
        let mut y = vec![Y::ZERO; x.len()];
        forward(&x, &mut y).expect("forward");
        dot(&y, &dy)
    });

    let mut y = vec![Y::ZERO; ROWS - 1];
    assert_eq!(refused(&mut y, |y| forward(&x, y)), mismatch("y", ROWS - 1));
    assert_eq!(
        refused::<Y>(&mut [], |y| forward(&[], y)),
        NormError::EmptyBatch
    );
    assert_eq!(
        refused(&mut dx, |dx| backward(&x, &dy[..1], dx)),
        mismatch("dy", 1)
    );
    assert_eq!(
        refused(&mut dx[..1], |dx| backward(&x, &dy, dx)),
        mismatch("dx", 1)
    );
}

// conv1d: T, C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, L, OUT_L, K, STRIDE, PAD, DILATION
// conv2d: T, C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, H, W, OUT_H, OUT_W, KH, KW,
//         STRIDE_H, STRIDE_W, PAD_TOP, PAD_LEFT, DILATION_H, DILATION_W
// max_pool1d: T, C, L, OUT_L, K, STRIDE, PAD, DILATION
// max_pool2d: T, C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W,
//             DILATION_H, DILATION_W
// avg_pool1d: T, C, L, OUT_L, K, STRIDE, PAD, COUNT_INCLUDE_PAD
// avg_pool2d: T, C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W,
//             COUNT_INCLUDE_PAD
// adaptive_*_pool1d: T, C, L; adaptive_*_pool2d: T, C, H, W
cases! {
    conv1d_basic: conv(BIAS), conv1d::<f64, 3, 2, 1, 3, 7, 5, 3, 1, 0, 1>;
    conv1d_stride_dilation_groups_padding: conv(BIAS),
        conv1d::<f64, 4, 6, 2, 2, 11, { conv_out_len(11, 3, 2, Padding::symmetric(1), 2) }, 3, 2, 1, 2>;
    conv1d_same_even_kernel: conv(NO_BIAS),
        conv1d::<f64, 2, 3, 1, 2, 6, 6, 4, 1, { same_padding(4, 1).left }, 1>;
    conv1d_depthwise_stride3_wide_padding: conv(BIAS),
        conv1d::<f64, 2, 4, 2, 1, 8, { conv_out_len(8, 2, 3, Padding::symmetric(3), 1) }, 2, 3, 3, 1>;
    conv1d_right_padding_only: conv(NO_BIAS),
        conv1d::<f64, 1, 2, 1, 1, 5, { conv_out_len(5, 3, 2, Padding { left: 0, right: 2 }, 1) }, 3, 2, 0, 1>;
    conv2d_nonsquare_stride: conv(BIAS),
        conv2d::<f64, 2, 3, 1, 2, 5, 6, { conv_out_len(5, 3, 1, Padding::symmetric(1), 1) },
            { conv_out_len(6, 2, 2, Padding::symmetric(0), 1) }, 3, 2, 1, 2, 1, 0, 1, 1>;
    conv2d_stride_dilation_groups: conv(BIAS),
        conv2d::<f64, 4, 2, 2, 2, 7, 7, { conv_out_len(7, 3, 2, Padding::symmetric(1), 2) },
            { conv_out_len(7, 3, 2, Padding::symmetric(2), 1) }, 3, 3, 2, 2, 1, 2, 2, 1>;
    conv2d_same_even_dilated: conv(NO_BIAS),
        conv2d::<f64, 2, 2, 1, 2, 5, 5, 5, 5, 2, 4, 1, 1, { same_padding(2, 2).left },
            { same_padding(4, 1).left }, 2, 1>;
    conv2d_depthwise_padded: conv(BIAS), conv2d::<f64, 3, 3, 3, 1, 4, 5, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1>;
    conv2d_depthwise_mult2_stride3: conv(NO_BIAS),
        conv2d::<f64, 2, 4, 2, 1, 7, 6, { conv_out_len(7, 2, 3, Padding::symmetric(1), 2) },
            { conv_out_len(6, 3, 3, Padding::symmetric(2), 1) }, 2, 3, 3, 3, 1, 2, 2, 1>;
    max_pool1d_dilation_ceil_clipped: pool(),
        max_pool1d::<f64, 2, 10, { pool_out_len(10, 3, 2, 1, 2, true) }, 3, 2, 1, 2>;
    max_pool1d_ceil_drop: pool(), max_pool1d::<f64, 2, 5, { pool_out_len(5, 3, 3, 1, 1, true) }, 3, 3, 1, 1>;
    max_pool1d_overlapping: pool(), max_pool1d::<f64, 3, 8, { pool_out_len(8, 4, 1, 2, 1, false) }, 4, 1, 2, 1>;
    max_pool2d_ceil_clipped_dilation: pool(),
        max_pool2d::<f64, 2, 8, 6, { pool_out_len(8, 3, 2, 1, 1, true) }, { pool_out_len(6, 2, 2, 1, 2, true) },
            3, 2, 2, 2, 1, 1, 1, 2>;
    max_pool2d_ceil_drop: pool(),
        max_pool2d::<f64, 1, 5, 7, { pool_out_len(5, 3, 3, 1, 1, true) }, { pool_out_len(7, 3, 2, 1, 1, true) },
            3, 3, 3, 2, 1, 1, 1, 1>;
    avg_pool1d_incl_ceil_clipped: pool(),
        avg_pool1d::<f64, 2, 10, { pool_out_len(10, 3, 2, 1, 1, true) }, 3, 2, 1, true>;
    avg_pool1d_excl_ceil_clipped: pool(),
        avg_pool1d::<f64, 2, 10, { pool_out_len(10, 3, 2, 1, 1, true) }, 3, 2, 1, false>;
    avg_pool1d_incl_ceil_drop: pool(), avg_pool1d::<f64, 2, 5, { pool_out_len(5, 3, 3, 1, 1, true) }, 3, 3, 1, true>;
    avg_pool2d_incl_ceil: pool(),
        avg_pool2d::<f64, 2, 8, 5, { pool_out_len(8, 3, 2, 1, 1, true) }, { pool_out_len(5, 2, 2, 1, 1, true) },
            3, 2, 2, 2, 1, 1, true>;
    avg_pool2d_excl_ceil_drop: pool(),
        avg_pool2d::<f64, 2, 5, 7, { pool_out_len(5, 3, 3, 1, 1, true) }, { pool_out_len(7, 3, 2, 1, 1, true) },
            3, 3, 3, 2, 1, 1, false>;
    avg_pool2d_excl_floor: pool(),
        avg_pool2d::<f64, 2, 6, 7, { pool_out_len(6, 2, 2, 1, 1, false) }, { pool_out_len(7, 3, 2, 1, 1, false) },
            2, 3, 2, 2, 1, 1, false>;
    adaptive_avg_pool1d_global: pool(), adaptive_avg_pool1d::<f64, 3, 5>;
    adaptive_avg_pool2d_global: pool(), adaptive_avg_pool2d::<f64, 2, 3, 4>;
    adaptive_max_pool1d_global: pool(), adaptive_max_pool1d::<f64, 3, 6>;
    adaptive_max_pool2d_global: pool(), adaptive_max_pool2d::<f64, 2, 3, 4>;
}
