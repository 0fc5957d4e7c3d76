//! Inputs near the type's largest value: per-example norms (layer, RMS,
//! group) give the finite, correct outputs where the true result is finite,
//! in f32 and f64, though `x - mean` and the variance overflow the type.
//! Reference: the textbook two-pass formula on `x / 2^k` in f64 (exact
//! scaling), independent of the kernel's code.
//!
//! Then property tests over the whole finite range, subnormals and +-MAX
//! included, for every kind (batch, layer, RMS, group, instance) in f32
//! and f64: finite, correct outputs; batch norm in training may refuse a
//! channel (`NonFiniteStatistics`) only when its unbiased variance truly
//! overflows the type.

use constnorm::{Layer, normalize};
use proptest::prelude::*;

#[normalize(layer, dims = 4)]
struct Ln;

#[normalize(layer, dims = 6, dtype = f64)]
struct Ln64;

#[normalize(rms, dims = 6, dtype = f64)]
struct Rms64;

#[normalize(group, dims = 6, groups = 2)]
struct Gn;

/// `x / 2^k` (for values past 1e150, `2^k = 2^1000`), with its mean (0
/// without centring) and `sqrt(var + eps / 4^k)`, and `2^-k`.
fn scaled(xs: &[f64], center: bool, eps: f64) -> (Vec<f64>, f64, f64, f64) {
    let largest = xs.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let scale = if largest > 1e150 {
        2f64.powi(-1000)
    } else {
        1.0
    };
    let v: Vec<f64> = xs.iter().map(|x| x * scale).collect();
    let n = v.len() as f64;
    let mean = if center {
        v.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let std = (var + eps * scale * scale).sqrt();
    (v, mean, std, scale)
}

/// `(x - mean) / sqrt(var + eps)` (or RMS: `x / sqrt(mean(x^2) + eps)`),
/// computed on `x / 2^k` with `eps / 4^k`.
fn reference(xs: &[f64], center: bool, eps: f64) -> Vec<f64> {
    let (v, mean, std, _) = scaled(xs, center, eps);
    // `std` is 0 only when the variance is 0 and `eps / 4^k` underflows:
    // every `x - mean` is then 0, and so is the true output `0 / sqrt(eps)`.
    v.iter()
        .map(|x| if std == 0.0 { 0.0 } else { (x - mean) / std })
        .collect()
}

#[test]
fn layer_norm_of_the_largest_f32_values_is_finite_and_right() {
    let x = [[f32::MAX, -f32::MAX, f32::MAX, 0.0]];
    let mut y = [[0.0_f32; 4]];
    Ln::new().forward_train(&x, &mut y).unwrap();
    let want = reference(&x[0].map(f64::from), true, 1e-5);
    for (g, w) in y[0].iter().zip(&want) {
        assert!((f64::from(*g) - w).abs() < 1e-6, "{g} vs {w}");
    }
    assert!((y[0][1] + 1.507_556_7).abs() < 1e-6);
}

fn huge64() -> impl Strategy<Value = f64> {
    prop_oneof![-f64::MAX..f64::MAX, -1e308..1e308_f64, -1.0..1.0_f64]
}

proptest! {
    #[test]
    fn f64_values_up_to_the_largest_normalize_correctly(row in prop::array::uniform6(huge64())) {
        let close = |g: f64, w: f64| (g - w).abs() <= 1e-9 * w.abs().max(1.0);
        let mut y = [[0.0; 6]];
        Ln64::new().forward_train(&[row], &mut y).unwrap();
        for (g, w) in y[0].iter().zip(reference(&row, true, 1e-5)) {
            prop_assert!(g.is_finite() && close(*g, w), "layer: {g} vs {w} for {row:?}");
        }
        Rms64::new().forward_train(&[row], &mut y).unwrap();
        for (g, w) in y[0].iter().zip(reference(&row, false, Rms64::EPS)) {
            prop_assert!(g.is_finite() && close(*g, w), "rms: {g} vs {w} for {row:?}");
        }
    }

    #[test]
    fn f32_groups_of_huge_values_normalize_correctly(row in prop::array::uniform6(prop_oneof![-f32::MAX..f32::MAX, -1.0..1.0_f32])) {
        let mut y = [[0.0_f32; 6]];
        Gn::new().forward_train(&[row], &mut y).unwrap();
        let wide = row.map(f64::from);
        for g in 0..2 {
            let want = reference(&wide[g * 3..g * 3 + 3], true, 1e-5);
            for (got, w) in y[0][g * 3..g * 3 + 3].iter().zip(want) {
                let got = f64::from(*got);
                prop_assert!(got.is_finite() && (got - w).abs() <= 1e-5 * w.abs().max(1.0), "{got} vs {w} for {row:?}");
            }
        }
    }
}

/// The reference gradient of `y = x̂ w` (layer norm, or RMS norm without
/// centring) for upstream `dy`: `dx = (g - mean(g) - x̂ mean(g x̂)) /
/// sqrt(var + eps)` with `g = dy w`, on `x / 2^k` as in [`reference`].
fn reference_dx(xs: &[f64], w: &[f64], dy: &[f64], center: bool, eps: f64) -> Vec<f64> {
    let (v, mean, std, scale) = scaled(xs, center, eps);
    let n = v.len() as f64;
    let xhat: Vec<f64> = v.iter().map(|x| (x - mean) / std).collect();
    let g: Vec<f64> = dy.iter().zip(w).map(|(d, w)| d * w).collect();
    let mean_g = if center {
        g.iter().sum::<f64>() / n
    } else {
        0.0
    };
    let mean_gx = g.iter().zip(&xhat).map(|(g, x)| g * x).sum::<f64>() / n;
    (0..xs.len())
        .map(|i| (g[i] - mean_g - xhat[i] * mean_gx) / std * scale)
        .collect()
}

proptest! {
    #[test]
    fn gradients_of_huge_f64_rows_are_right(row in prop::array::uniform6(huge64()), dy in prop::array::uniform6(-1.0..1.0_f64)) {
        let mut ln = Ln64::new();
        ln.weight = [1.5, -0.5, 2.0, 1.0, 0.25, -1.0];
        let mut y = [[0.0; 6]];
        let saved = ln.forward_train(&[row], &mut y).unwrap();
        let mut dx = [[0.0; 6]];
        let mut grads = Default::default();
        ln.backward(&[row], &saved, &[dy], &mut dx, &mut grads).unwrap();
        let want = reference_dx(&row, &ln.weight, &dy, true, 1e-5);
        let scale = want.iter().fold(f64::MIN_POSITIVE, |m, v| m.max(v.abs()));
        for (g, w) in dx[0].iter().zip(&want) {
            prop_assert!(g.is_finite() && (g - w).abs() <= 1e-9 * scale, "{g} vs {w} for {row:?}");
        }
    }
}

// ---- The whole finite range, subnormals included, for every kind ----
//
// Values are drawn from every bit pattern of the type that is finite (so
// every exponent, subnormals and +-MAX among them), from the subnormals
// alone, from +-MAX, and from [-1, 1). Reference: the textbook formula in
// f64 (f32 inputs: exact in f64, whose squares cannot overflow) or on
// `x / 2^k` (f64 inputs, as above). Normalized outputs are at most
// `sqrt(n)` in size, so the true result is always finite here.

/// `$name()`: values of `$t` from every finite bit pattern (`$bits`), the
/// subnormals alone (bit patterns below `$normal`, either sign), +-MAX, and
/// [-1, 1).
macro_rules! whole_range {
    ($name:ident, $t:ty, $bits:ty, $normal:expr) => {
        fn $name() -> impl Strategy<Value = $t> {
            prop_oneof![
                any::<$bits>()
                    .prop_map(<$t>::from_bits)
                    .prop_filter("finite", |v| v.is_finite()),
                (1..$normal, any::<bool>()).prop_map(|(b, neg): ($bits, bool)| if neg {
                    -<$t>::from_bits(b)
                } else {
                    <$t>::from_bits(b)
                }),
                Just(<$t>::MAX),
                Just(-<$t>::MAX),
                -1.0..1.0 as $t,
            ]
        }
    };
}

whole_range!(any_f32, f32, u32, 0x0080_0000_u32);
whole_range!(any_f64, f64, u64, 0x0010_0000_0000_0000_u64);

#[normalize(layer, dims = 6)]
struct AnyLn32;
#[normalize(layer, dims = 6, dtype = f64)]
struct AnyLn64;
#[normalize(rms, dims = 6)]
struct AnyRms32;
#[normalize(rms, dims = 6, dtype = f64)]
struct AnyRms64;
#[normalize(group, dims = 6, groups = 2)]
struct AnyGn32;
#[normalize(group, dims = 6, groups = 2, dtype = f64)]
struct AnyGn64;
#[normalize(instance, dims = 2, spatial = 3)]
struct AnyIn32;
#[normalize(instance, dims = 2, spatial = 3, dtype = f64)]
struct AnyIn64;
#[normalize(batch, dims = 3)]
struct AnyBn32;
#[normalize(batch, dims = 3, dtype = f64)]
struct AnyBn64;

/// `got` (as f64) against the reference `want`: within `tol` relative to
/// `want`, or absolute below 1.
fn close(got: f64, want: f64, tol: f64) -> bool {
    got.is_finite() && (got - want).abs() <= tol * want.abs().max(1.0)
}

/// Per-example kinds: one row of 6 values in segments of `seg` (the whole
/// row, or a group / a channel of 3), centred or not (RMS).
macro_rules! rows_whole_range {
    ($name:ident, $layer:ty, $t:ty, $any:expr, $seg:expr, $center:expr, $tol:expr, $to_row:expr, $flat:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn $name(v in prop::array::uniform6($any)) {
                let x = [$to_row(v)];
                let mut y = [$to_row([0.0 as $t; 6])];
                <$layer>::new().forward_train(&x, &mut y).unwrap();
                let got: [$t; 6] = $flat(y[0]);
                let wide = v.map(f64::from);
                for s in (0..6).step_by($seg) {
                    let want = reference(&wide[s..s + $seg], $center, <$layer>::EPS);
                    for (g, w) in got[s..s + $seg].iter().zip(want) {
                        prop_assert!(close(f64::from(*g), w, $tol), "{} vs {w} for {v:?}", g);
                    }
                }
            }
        }
    };
}

fn flat6<T: Copy>(r: [T; 6]) -> [T; 6] {
    r
}
fn channels<T: Copy>(r: [T; 6]) -> [[T; 3]; 2] {
    [[r[0], r[1], r[2]], [r[3], r[4], r[5]]]
}
fn unchannels<T: Copy>(r: [[T; 3]; 2]) -> [T; 6] {
    [r[0][0], r[0][1], r[0][2], r[1][0], r[1][1], r[1][2]]
}

rows_whole_range!(
    layer_f32_whole_range,
    AnyLn32,
    f32,
    any_f32(),
    6,
    true,
    1e-5,
    flat6,
    flat6
);
rows_whole_range!(
    layer_f64_whole_range,
    AnyLn64,
    f64,
    any_f64(),
    6,
    true,
    1e-9,
    flat6,
    flat6
);
rows_whole_range!(
    rms_f32_whole_range,
    AnyRms32,
    f32,
    any_f32(),
    6,
    false,
    1e-5,
    flat6,
    flat6
);
rows_whole_range!(
    rms_f64_whole_range,
    AnyRms64,
    f64,
    any_f64(),
    6,
    false,
    1e-9,
    flat6,
    flat6
);
rows_whole_range!(
    group_f32_whole_range,
    AnyGn32,
    f32,
    any_f32(),
    3,
    true,
    1e-5,
    flat6,
    flat6
);
rows_whole_range!(
    group_f64_whole_range,
    AnyGn64,
    f64,
    any_f64(),
    3,
    true,
    1e-9,
    flat6,
    flat6
);
rows_whole_range!(
    instance_f32_whole_range,
    AnyIn32,
    f32,
    any_f32(),
    3,
    true,
    1e-5,
    channels,
    unchannels
);
rows_whole_range!(
    instance_f64_whole_range,
    AnyIn64,
    f64,
    any_f64(),
    3,
    true,
    1e-9,
    channels,
    unchannels
);

/// The biased variance of `xs`, and whether the unbiased one (what
/// `running_var` would hold) is larger than the type's largest value
/// `max`, computed on `x / 2^k` so that it cannot overflow f64 itself.
fn unbiased_overflows(xs: &[f64], max: f64) -> bool {
    let (v, mean, _, scale) = scaled(xs, true, 0.0);
    let n = v.len() as f64;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    // var / scale^2 > max, without forming it.
    var > max * scale * scale
}

/// Batch norm in training over 4 rows of 3 channels: finite and right,
/// or, only when a channel's unbiased variance truly overflows the type,
/// `NonFiniteStatistics` (the running statistics are then untouched, as
/// tests/non_finite.rs checks).
macro_rules! batch_whole_range {
    ($name:ident, $layer:ty, $t:ty, $any:expr, $tol:expr) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn $name(v in prop::array::uniform4(prop::array::uniform3($any))) {
                let mut y = [[0.0 as $t; 3]; 4];
                let result = <$layer>::new().forward_train(&v, &mut y);
                let column = |c: usize| -> Vec<f64> { v.iter().map(|r| f64::from(r[c])).collect() };
                let overflows: Vec<bool> = (0..3).map(|c| unbiased_overflows(&column(c), f64::from(<$t>::MAX))).collect();
                match result {
                    Err(constnorm::NormError::NonFiniteStatistics { channel }) => {
                        // Near the boundary the computed variance may round
                        // either way: a margin of one part in 1e6.
                        let near = {
                            let (s, mean, _, scale) = scaled(&column(channel), true, 0.0);
                            let var = s.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0;
                            var > f64::from(<$t>::MAX) * (1.0 - 1e-6) * scale * scale
                        };
                        prop_assert!(near, "refused channel {channel} whose variance fits, for {v:?}");
                    }
                    Err(e) => prop_assert!(false, "{e} for {v:?}"),
                    Ok(_) => {
                        for c in 0..3 {
                            prop_assert!(!overflows[c] || {
                                let (s, mean, _, scale) = scaled(&column(c), true, 0.0);
                                let var = s.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0;
                                var <= f64::from(<$t>::MAX) * (1.0 + 1e-6) * scale * scale
                            }, "channel {c} overflows but was accepted, for {v:?}");
                            let want = reference(&column(c), true, <$layer>::EPS);
                            for (r, w) in want.iter().enumerate() {
                                let g = f64::from(y[r][c]);
                                prop_assert!(close(g, *w, $tol), "{g} vs {w} for {v:?}");
                            }
                        }
                    }
                }
            }
        }
    };
}

batch_whole_range!(batch_f32_whole_range, AnyBn32, f32, any_f32(), 1e-5);
batch_whole_range!(batch_f64_whole_range, AnyBn64, f64, any_f64(), 1e-9);
