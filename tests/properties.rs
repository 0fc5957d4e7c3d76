//! Properties that hold for any input (proptest), checked against direct
//! computations in the test, not against the kernels:
//! - before the affine step, the output has mean ~ 0 and variance
//!   ~ v / (v + eps), where v is the input's biased variance;
//! - adding a constant to the input leaves the output unchanged;
//! - a constant input gives exactly the bias, never NaN;
//! - batch norm's and tracked instance norm's running statistics follow
//!   PyTorch's update rules;
//! - RMS norm gives unit mean square and ignores the input's scale; group and
//!   instance norm standardize each group / channel.

use constnorm::{AffineGrads, Layer as _, normalize};
use proptest::prelude::*;

#[normalize(layer, dims = 17, dtype = f64)]
struct Ln64;

#[normalize(layer, dims = 17)]
struct Ln32;

#[normalize(batch, dims = 5, dtype = f64)]
struct Bn64;

#[normalize(batch, dims = 5)]
struct Bn32;

#[normalize(batch, dims = 3, momentum = none, dtype = f64)]
struct BnCumulative;

#[normalize(batch, dims = 3, momentum = 0.25, dtype = f64)]
struct BnQuarter;

/// Mean and biased variance, computed the plain way.
fn moments(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var)
}

fn row<const N: usize>() -> impl Strategy<Value = [f64; N]> {
    prop::collection::vec(-100.0..100.0_f64, N).prop_map(|v| v.try_into().unwrap())
}

fn rows<const N: usize>(count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<[f64; N]>> {
    prop::collection::vec(row::<N>(), count)
}

/// Values that make a sum of copies inexact (0.1), huge, tiny or negative.
fn awkward() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6_f64,
        Just(0.1),
        Just(1e15),
        Just(-3.3e-7),
        Just(0.0),
        Just(1e4 + 0.1),
    ]
}

proptest! {
    #[test]
    fn layer_output_is_standardized(x in rows::<17>(1..6)) {
        let mut y = vec![[0.0; 17]; x.len()];
        Ln64::new().forward_train(&x, &mut y).unwrap();
        for (xr, yr) in x.iter().zip(&y) {
            let (_, v) = moments(xr.iter().copied());
            let (mean, var) = moments(yr.iter().copied());
            prop_assert!(mean.abs() < 1e-12, "mean {mean}");
            prop_assert!((var - v / (v + Ln64::EPS)).abs() < 1e-12, "var {var}, input var {v}");
        }
    }

    #[test]
    fn layer_output_is_standardized_f32(x in rows::<17>(1..6)) {
        let x32: Vec<[f32; 17]> = x.iter().map(|r| r.map(|v| v as f32)).collect();
        let mut y = vec![[0.0_f32; 17]; x.len()];
        Ln32::new().forward_train(&x32, &mut y).unwrap();
        for (xr, yr) in x32.iter().zip(&y) {
            let (_, v) = moments(xr.iter().map(|v| f64::from(*v)));
            let (mean, var) = moments(yr.iter().map(|v| f64::from(*v)));
            prop_assert!(mean.abs() < 1e-6, "mean {mean}");
            prop_assert!((var - v / (v + Ln32::EPS)).abs() < 1e-6, "var {var}");
        }
    }

    #[test]
    fn batch_output_is_standardized_per_feature(x in rows::<5>(2..9)) {
        let mut y = vec![[0.0; 5]; x.len()];
        Bn64::new().forward_train(&x, &mut y).unwrap();
        for c in 0..5 {
            let (_, v) = moments(x.iter().map(|r| r[c]));
            let (mean, var) = moments(y.iter().map(|r| r[c]));
            prop_assert!(mean.abs() < 1e-12, "feature {c}: mean {mean}");
            prop_assert!((var - v / (v + Bn64::EPS)).abs() < 1e-12, "feature {c}: var {var}");
        }
    }

    #[test]
    fn batch_output_is_standardized_per_feature_f32(x in rows::<5>(2..9)) {
        let x32: Vec<[f32; 5]> = x.iter().map(|r| r.map(|v| v as f32)).collect();
        let mut y = vec![[0.0_f32; 5]; x.len()];
        Bn32::new().forward_train(&x32, &mut y).unwrap();
        for c in 0..5 {
            let (_, v) = moments(x32.iter().map(|r| f64::from(r[c])));
            let (mean, var) = moments(y.iter().map(|r| f64::from(r[c])));
            prop_assert!(mean.abs() < 1e-6, "feature {c}: mean {mean}");
            prop_assert!((var - v / (v + Bn32::EPS)).abs() < 1e-6, "feature {c}: var {var}");
        }
    }

    #[test]
    fn layer_is_invariant_to_shifting_a_row(x in rows::<17>(1..5), shift in -1e3..1e3_f64, w in row::<17>(), b in row::<17>()) {
        let layer = Ln64 { weight: w, bias: b };
        let shifted: Vec<[f64; 17]> = x.iter().map(|r| r.map(|v| v + shift)).collect();
        let (mut y, mut ys) = (vec![[0.0; 17]; x.len()], vec![[0.0; 17]; x.len()]);
        layer.forward_eval(&x, &mut y).unwrap();
        layer.forward_eval(&shifted, &mut ys).unwrap();
        for (a, b) in y.iter().flatten().zip(ys.iter().flatten()) {
            prop_assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn batch_is_invariant_to_shifting_a_feature(x in rows::<5>(2..9), shift in prop::array::uniform5(-1e3..1e3_f64)) {
        let shifted: Vec<[f64; 5]> = x.iter().map(|r| std::array::from_fn(|c| r[c] + shift[c])).collect();
        let (mut y, mut ys) = (vec![[0.0; 5]; x.len()], vec![[0.0; 5]; x.len()]);
        Bn64::new().forward_train(&x, &mut y).unwrap();
        Bn64::new().forward_train(&shifted, &mut ys).unwrap();
        for (a, b) in y.iter().flatten().zip(ys.iter().flatten()) {
            prop_assert!((a - b).abs() < 1e-9 * a.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn constant_rows_give_exactly_the_bias(c in awkward(), rows in 1..5usize, w in row::<17>(), b in row::<17>()) {
        let x = vec![[c; 17]; rows];
        let mut layer = Ln64 { weight: w, bias: b };
        let mut y = vec![[f64::NAN; 17]; rows];
        let saved = layer.forward_train(&x, &mut y).unwrap();
        for yr in &y {
            prop_assert_eq!(yr, &b);
        }
        let mut dx = vec![[f64::NAN; 17]; rows];
        layer.backward(&x, &saved, &x, &mut dx, &mut AffineGrads::default()).unwrap();
        prop_assert!(dx.iter().flatten().all(|v| v.is_finite()));

        let x32 = vec![[c as f32; 17]; rows];
        let b32 = b.map(|v| v as f32);
        let mut layer = Ln32 { weight: w.map(|v| v as f32), bias: b32 };
        let mut y = vec![[f32::NAN; 17]; rows];
        layer.forward_train(&x32, &mut y).unwrap();
        for yr in &y {
            prop_assert_eq!(yr, &b32);
        }
    }

    #[test]
    fn constant_features_give_exactly_the_bias(c in prop::array::uniform5(awkward()), rows in 2..9usize, b in row::<5>()) {
        let x = vec![c; rows];
        let mut layer = Bn64::new();
        layer.bias = b;
        let mut y = vec![[f64::NAN; 5]; rows];
        layer.forward_train(&x, &mut y).unwrap();
        for yr in &y {
            prop_assert_eq!(yr, &b);
        }
        prop_assert_eq!(layer.running_var, [0.9; 5]);

        let mut layer = Bn32::new();
        layer.bias = b.map(|v| v as f32);
        let x32 = vec![c.map(|v| v as f32); rows];
        let mut y = vec![[f32::NAN; 5]; rows];
        layer.forward_train(&x32, &mut y).unwrap();
        for yr in &y {
            prop_assert_eq!(yr, &layer.bias);
        }
    }

    #[test]
    fn running_statistics_follow_the_momentum_rule(batches in prop::collection::vec(rows::<3>(2..6), 1..5)) {
        let mut layer = BnQuarter::new();
        let (mut mean, mut var) = ([0.0; 3], [1.0; 3]);
        for x in &batches {
            layer.forward_train(x, &mut vec![[0.0; 3]; x.len()]).unwrap();
            let n = x.len() as f64;
            for c in 0..3 {
                let (m, v) = moments(x.iter().map(|r| r[c]));
                mean[c] = 0.75 * mean[c] + 0.25 * m;
                var[c] = 0.75 * var[c] + 0.25 * v * n / (n - 1.0);
            }
        }
        prop_assert_eq!(layer.num_batches_tracked, batches.len() as u64);
        for c in 0..3 {
            prop_assert!((layer.running_mean[c] - mean[c]).abs() < 1e-12 * mean[c].abs().max(1.0));
            prop_assert!((layer.running_var[c] - var[c]).abs() < 1e-12 * var[c].abs().max(1.0));
        }
    }

    #[test]
    fn momentum_none_is_the_average_of_batch_statistics(batches in prop::collection::vec(rows::<3>(2..6), 1..6)) {
        let mut layer = BnCumulative::new();
        for x in &batches {
            layer.forward_train(x, &mut vec![[0.0; 3]; x.len()]).unwrap();
        }
        let k = batches.len() as f64;
        for c in 0..3 {
            let mean = batches.iter().map(|x| moments(x.iter().map(|r| r[c])).0).sum::<f64>() / k;
            let var = batches.iter().map(|x| {
                let n = x.len() as f64;
                moments(x.iter().map(|r| r[c])).1 * n / (n - 1.0)
            }).sum::<f64>() / k;
            prop_assert!((layer.running_mean[c] - mean).abs() < 1e-10 * mean.abs().max(1.0));
            prop_assert!((layer.running_var[c] - var).abs() < 1e-10 * var.abs().max(1.0));
        }
    }
}

#[normalize(rms, dims = [3, 5], dtype = f64)]
struct Rms;

#[normalize(group, dims = 6, groups = 3, spatial = 4, dtype = f64)]
struct Group;

#[normalize(instance, dims = 3, spatial = [2, 3], affine = true, dtype = f64)]
struct Instance;

#[normalize(instance, dims = 2, spatial = 5, track_running_stats = true, momentum = 0.25, dtype = f64)]
struct InstanceTracked;

fn spatial_rows() -> impl Strategy<Value = Vec<[[f64; 4]; 6]>> {
    prop::collection::vec(
        prop::array::uniform6(prop::array::uniform4(-100.0..100.0_f64)),
        1..4,
    )
}

proptest! {
    #[test]
    fn rms_output_has_unit_mean_square(x in prop::collection::vec(prop::array::uniform3(prop::array::uniform5(-100.0..100.0_f64)), 1..4)) {
        let mut y = vec![[[0.0; 5]; 3]; x.len()];
        Rms::new().forward_train(&x, &mut y).unwrap();
        for (xr, yr) in x.iter().zip(&y) {
            let ms = xr.iter().flatten().map(|v| v * v).sum::<f64>() / 15.0;
            let out = yr.iter().flatten().map(|v| v * v).sum::<f64>() / 15.0;
            prop_assert!((out - ms / (ms + Rms::EPS)).abs() < 1e-12, "{out} vs {ms}");
            // scaling the input does not change the output (away from eps)
            let scaled: Vec<[[f64; 5]; 3]> = x.iter().map(|r| r.map(|c| c.map(|v| v * 4.0))).collect();
            let mut ys = vec![[[0.0; 5]; 3]; x.len()];
            Rms::new().forward_train(&scaled, &mut ys).unwrap();
            for (a, b) in y.iter().flatten().flatten().zip(ys.iter().flatten().flatten()) {
                prop_assert!((a - b).abs() < 1e-9, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn group_norm_standardizes_each_group(x in spatial_rows()) {
        let mut y = vec![[[0.0; 4]; 6]; x.len()];
        Group::new().forward_train(&x, &mut y).unwrap();
        for (xr, yr) in x.iter().zip(&y) {
            for g in 0..3 {
                let (_, v) = moments(xr[2 * g..2 * g + 2].iter().flatten().copied());
                let (mean, var) = moments(yr[2 * g..2 * g + 2].iter().flatten().copied());
                prop_assert!(mean.abs() < 1e-12, "group {g}: mean {mean}");
                prop_assert!((var - v / (v + Group::EPS)).abs() < 1e-12, "group {g}: var {var}");
            }
        }
    }

    #[test]
    fn instance_norm_standardizes_each_channel(x in prop::collection::vec(prop::array::uniform3(prop::array::uniform2(prop::array::uniform3(-100.0..100.0_f64))), 1..4), b in prop::array::uniform3(-5.0..5.0_f64)) {
        let mut layer = Instance::new();
        layer.bias = b;
        let mut y = vec![[[[0.0; 3]; 2]; 3]; x.len()];
        layer.forward_train(&x, &mut y).unwrap();
        for (xr, yr) in x.iter().zip(&y) {
            for c in 0..3 {
                let (_, v) = moments(xr[c].iter().flatten().copied());
                let (mean, var) = moments(yr[c].iter().flatten().copied());
                prop_assert!((mean - b[c]).abs() < 1e-12, "channel {c}: mean {mean}");
                prop_assert!((var - v / (v + Instance::EPS)).abs() < 1e-12, "channel {c}: var {var}");
            }
        }
    }

    #[test]
    fn constant_groups_give_exactly_the_bias(c in prop::array::uniform3(awkward()), b in prop::array::uniform6(-5.0..5.0_f64)) {
        // one constant per group of two channels
        let x = [std::array::from_fn::<_, 6, _>(|ch| [c[ch / 2]; 4]); 2];
        let mut layer = Group::new();
        layer.bias = b;
        let mut y = [[[f64::NAN; 4]; 6]; 2];
        layer.forward_train(&x, &mut y).unwrap();
        for row in &y {
            for (ch, values) in row.iter().enumerate() {
                prop_assert!(values.iter().all(|v| *v == b[ch]), "channel {ch}: {values:?}");
            }
        }
    }

    #[test]
    fn tracked_instance_norm_follows_pytorch_update(batches in prop::collection::vec(prop::collection::vec(prop::array::uniform2(prop::array::uniform5(-10.0..10.0_f64)), 1..4), 1..4)) {
        // PyTorch: running = (1 - m) running + m * (batch average of each
        // instance's mean / unbiased variance); num_batches_tracked unchanged.
        let mut layer = InstanceTracked::new();
        let (mut mean, mut var) = ([0.0; 2], [1.0; 2]);
        for x in &batches {
            layer.forward_train(x, &mut vec![[[0.0; 5]; 2]; x.len()]).unwrap();
            for c in 0..2 {
                let k = x.len() as f64;
                let m = x.iter().map(|r| moments(r[c].iter().copied()).0).sum::<f64>() / k;
                let v = x.iter().map(|r| moments(r[c].iter().copied()).1 * 5.0 / 4.0).sum::<f64>() / k;
                mean[c] = 0.75 * mean[c] + 0.25 * m;
                var[c] = 0.75 * var[c] + 0.25 * v;
            }
        }
        prop_assert_eq!(layer.num_batches_tracked, 0);
        for c in 0..2 {
            prop_assert!((layer.running_mean[c] - mean[c]).abs() < 1e-12);
            prop_assert!((layer.running_var[c] - var[c]).abs() < 1e-12 * var[c].max(1.0));
        }
    }
}

#[normalize(layer, dims = 9)]
struct LnHuge;

#[normalize(rms, dims = 9)]
struct RmsHuge;

#[normalize(batch, dims = 3)]
struct BnHuge;

/// f32 values up to 1e25, whose squares (1e50) overflow f32: the kernels
/// fall back to f64 for those statistics.
fn huge() -> impl Strategy<Value = f32> {
    prop_oneof![-1e25_f32..1e25, -1e25_f32..-1e19, 1e19_f32..1e25]
}

/// `(x - mean) / sqrt(var + eps)` per row (or, not centred, `x / rms`),
/// computed in f64 in the test.
fn standardized(values: &[f32], center: bool, eps: f64) -> Vec<f64> {
    let v: Vec<f64> = values.iter().map(|x| f64::from(*x)).collect();
    let n = v.len() as f64;
    let mean = if center {
        v.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    v.iter().map(|x| (x - mean) / (var + eps).sqrt()).collect()
}

proptest! {
    #[test]
    fn squares_that_overflow_f32_fall_back_to_f64(rows in prop::collection::vec(prop::array::uniform9(huge()), 2..4)) {
        let close = |got: f32, want: f64| (f64::from(got) - want).abs() <= 1e-5 * want.abs().max(1.0);
        let mut y = vec![[0.0_f32; 9]; rows.len()];
        LnHuge::new().forward_train(&rows, &mut y).unwrap();
        for (xr, yr) in rows.iter().zip(&y) {
            for (g, w) in yr.iter().zip(standardized(xr, true, LnHuge::EPS)) {
                prop_assert!(close(*g, w), "layer: {g} vs {w}");
            }
        }
        RmsHuge::new().forward_train(&rows, &mut y).unwrap();
        for (xr, yr) in rows.iter().zip(&y) {
            for (g, w) in yr.iter().zip(standardized(xr, false, RmsHuge::EPS)) {
                prop_assert!(close(*g, w), "rms: {g} vs {w}");
            }
        }
        let x3: Vec<[f32; 3]> = rows.iter().map(|r| [r[0], r[1], r[2]]).collect();
        let mut y3 = vec![[0.0_f32; 3]; x3.len()];
        let mut bn = BnHuge::new();
        // A variance beyond f32's range cannot be a running statistic: the
        // batch is refused and the running statistics kept, but `y` is
        // still the batch's correct, finite output.
        let result = bn.forward_train(&x3, &mut y3);
        match result {
            Ok(_) => prop_assert!(bn.running_var.iter().all(|v| v.is_finite())),
            Err(e) => {
                prop_assert!(matches!(e, constnorm::NormError::NonFiniteStatistics { .. }), "{e:?}");
                prop_assert_eq!(bn.running_var, [1.0; 3]);
                prop_assert_eq!(bn.num_batches_tracked, 0);
            }
        }
        for c in 0..3 {
            let column: Vec<f32> = x3.iter().map(|r| r[c]).collect();
            for (r, w) in standardized(&column, true, BnHuge::EPS).into_iter().enumerate() {
                prop_assert!(close(y3[r][c], w), "batch: {} vs {w}", y3[r][c]);
            }
        }
    }
}
