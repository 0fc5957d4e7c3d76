//! Inputs near the type's largest value: per-example norms (layer, RMS,
//! group) give the finite, correct outputs where the true result is finite,
//! in f32 and f64, though `x - mean` and the variance overflow the type.
//! Reference: the textbook two-pass formula on `x / 2^k` in f64 (exact
//! scaling), independent of the kernel's code.

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
    v.iter().map(|x| (x - mean) / std).collect()
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
