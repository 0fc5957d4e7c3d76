//! Folding inference-mode batch norm into `y = scale * x + shift`: applied to
//! the eval step of PyTorch reference cases, with the layer holding
//! PyTorch's running statistics from before that step, it gives PyTorch's
//! eval output.

mod common;

use common::golden;
use constnorm::{Row, normalize};

/// Checks `fold()` on the eval step of `case`, to `tol` relative.
macro_rules! fold_case {
    ($name:ident, $case:literal, [$($attr:tt)*], $tol:expr) => {
        #[test]
        fn $name() {
            #[normalize($($attr)*)]
            struct Bn;
            let case = golden::case("batch_norm", $case);
            let init = case.init.as_ref().unwrap();
            let (eval_at, eval) = case.steps.iter().enumerate().find(|(_, s)| s.mode == "eval").unwrap();
            let before = &case.steps[eval_at - 1];
            let mut layer = Bn::new();
            layer.weight = golden::array(init.weight.as_deref().unwrap());
            layer.bias = golden::array(init.bias.as_deref().unwrap());
            layer.running_mean = golden::array(before.running_mean_after.as_deref().unwrap());
            layer.running_var = golden::array(before.running_var_after.as_deref().unwrap());
            let folded = layer.fold();
            let mut rows = golden::rows::<<Bn as constnorm::Normalization>::Row>(&eval.x);
            for row in &mut rows {
                folded.apply(row);
            }
            let got: Vec<f64> = rows.iter().flat_map(|r| r.as_flat().iter().map(|v| f64::from(*v))).collect();
            let scale = eval.y.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for (i, (g, e)) in got.iter().zip(&eval.y).enumerate() {
                assert!((g - e).abs() <= $tol * scale, "{}[{i}]: {g} vs {e}", $case);
            }
        }
    };
}

fold_case!(
    batch_norm_1d,
    "batch_f64_32x16_normal_m0.1",
    [batch, dims = 16, dtype = f64],
    1e-12
);
fold_case!(
    batch_norm_2d,
    "batch_f64_2x3x4x4_normal_m0.1",
    [batch, dims = 3, spatial = [4, 4], dtype = f64],
    1e-12
);
fold_case!(
    batch_norm_cumulative,
    "batch_f64_8x16_normal_mNone",
    [batch, dims = 16, momentum = none, dtype = f64],
    1e-12
);
// f32: one more rounding than the layer's own pass (scale and shift are f32).
fold_case!(
    batch_norm_f32,
    "batch_f32_32x16_normal_m0.1",
    [batch, dims = 16],
    1e-6
);

#[test]
fn fold_without_affine_parameters() {
    #[normalize(batch, dims = 2, affine = false, dtype = f64)]
    struct Bn;
    let mut layer = Bn::new();
    layer.running_mean = [1.0, -2.0];
    layer.running_var = [4.0, 0.25];
    let folded = layer.fold();
    // y = (x - mean) / sqrt(var + eps), computed here directly.
    for c in 0..2 {
        let inv = 1.0 / (layer.running_var[c] + Bn::EPS).sqrt();
        assert!((folded.scale[c] - inv).abs() < 1e-15);
        assert!((folded.shift[c] + layer.running_mean[c] * inv).abs() < 1e-15);
    }
}
