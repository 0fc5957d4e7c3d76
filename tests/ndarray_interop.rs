//! ndarray interop: PyTorch reference cases run through `ArrayView2` inputs in
//! every memory layout (standard, Fortran order, strided) give the reference
//! outputs and gradients.

mod common;

use common::golden;
use constnorm::{AffineGrads, NormalizationNdarray, normalize};
use ndarray::{Array2, ArrayView2, ShapeBuilder, s};

fn close(what: &str, got: impl IntoIterator<Item = f64>, expected: &[f64]) {
    let got: Vec<f64> = got.into_iter().collect();
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!((g - e).abs() <= 1e-10 * scale, "{what}[{i}]: {g} vs {e}");
    }
}

/// The same (rows, cols) data in three layouts.
fn layouts(values: &[f64], cols: usize) -> Vec<(&'static str, Array2<f64>, bool)> {
    let rows = values.len() / cols;
    let standard = Array2::from_shape_vec((rows, cols), values.to_vec()).unwrap();
    let mut fortran = Array2::zeros((rows, cols).f());
    fortran.assign(&standard);
    // every other column of a twice-as-wide array: a strided view
    let mut wide = Array2::from_elem((rows, 2 * cols), f64::NAN);
    wide.slice_mut(s![.., ..;2]).assign(&standard);
    vec![
        ("standard", standard, false),
        ("fortran", fortran, false),
        ("strided", wide, true),
    ]
}

fn view(a: &Array2<f64>, strided: bool) -> ArrayView2<'_, f64> {
    if strided {
        a.slice(s![.., ..;2])
    } else {
        a.view()
    }
}

#[test]
fn layer_norm_in_every_layout() {
    #[normalize(layer, dims = 16, dtype = f64)]
    struct Ln;
    let case = golden::case("layer_norm", "layer_f64_8x16_normal");
    let init = case.init.as_ref().unwrap();
    let step = &case.steps[0];
    for ((name, x, strided), (_, dy, dy_strided)) in
        layouts(&step.x, 16).into_iter().zip(layouts(&step.dy, 16))
    {
        let mut layer = Ln::new();
        layer.weight = golden::array(init.weight.as_deref().unwrap());
        layer.bias = golden::array(init.bias.as_deref().unwrap());
        let (y, saved) = layer.forward_train_ndarray(view(&x, strided)).unwrap();
        assert!(y.is_standard_layout());
        close(&format!("{name} y"), y.iter().copied(), &step.y);
        let mut grads = AffineGrads::default();
        let dx = layer
            .backward_ndarray(view(&x, strided), &saved, view(&dy, dy_strided), &mut grads)
            .unwrap();
        close(&format!("{name} dx"), dx.iter().copied(), &step.dx);
        close(
            &format!("{name} dweight"),
            grads.weight,
            step.dweight.as_deref().unwrap(),
        );
        close(
            &format!("{name} dbias"),
            grads.bias,
            step.dbias.as_deref().unwrap(),
        );
    }
}

#[test]
fn batch_norm_in_every_layout() {
    #[normalize(batch, dims = 16, dtype = f64)]
    struct Bn;
    let case = golden::case("batch_norm", "batch_f64_32x16_normal_m0.1");
    let init = case.init.as_ref().unwrap();
    for ((name, x0, s0), (_, x1, s1)) in layouts(&case.steps[0].x, 16)
        .into_iter()
        .zip(layouts(&case.steps[1].x, 16))
    {
        let mut layer = Bn::new();
        layer.weight = golden::array(init.weight.as_deref().unwrap());
        layer.bias = golden::array(init.bias.as_deref().unwrap());
        layer.running_mean = golden::array(init.running_mean.as_deref().unwrap());
        layer.running_var = golden::array(init.running_var.as_deref().unwrap());
        for (step, x, strided) in [(&case.steps[0], &x0, s0), (&case.steps[1], &x1, s1)] {
            let (y, saved) = layer.forward_train_ndarray(view(x, strided)).unwrap();
            close(&format!("{name} y"), y.iter().copied(), &step.y);
            let dy = Array2::from_shape_vec((32, 16), step.dy.clone()).unwrap();
            let mut grads = AffineGrads::default();
            let dx = layer
                .backward_ndarray(view(x, strided), &saved, dy.t().t(), &mut grads)
                .unwrap();
            close(&format!("{name} dx"), dx.iter().copied(), &step.dx);
            close(
                &format!("{name} dweight"),
                grads.weight,
                step.dweight.as_deref().unwrap(),
            );
            close(
                &format!("{name} running_mean"),
                layer.running_mean,
                step.running_mean_after.as_deref().unwrap(),
            );
            close(
                &format!("{name} running_var"),
                layer.running_var,
                step.running_var_after.as_deref().unwrap(),
            );
        }
        let eval = &case.steps[2];
        let x = Array2::from_shape_vec((32, 16), eval.x.clone()).unwrap();
        let (y, _) = layer.forward_eval_ndarray(x.view()).unwrap();
        close(&format!("{name} eval y"), y.iter().copied(), &eval.y);
    }
}
