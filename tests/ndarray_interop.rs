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

/// A (N, C, ...spatial) reference tensor as a view that is not contiguous:
/// stored channels-last (N, ...spatial, C) and permuted back.
fn channels_last(values: &[f64], shape: &[usize]) -> ndarray::ArrayD<f64> {
    let standard = ndarray::ArrayD::from_shape_vec(shape, values.to_vec()).unwrap();
    let rank = shape.len();
    // (N, C, S...) -> (N, S..., C), made contiguous, then viewed as (N, C, S...)
    let mut to_last: Vec<usize> = vec![0];
    to_last.extend(2..rank);
    to_last.push(1);
    let stored = standard
        .permuted_axes(to_last.clone())
        .as_standard_layout()
        .into_owned();
    let mut back = vec![0; rank];
    for (i, &a) in to_last.iter().enumerate() {
        back[a] = i;
    }
    stored.permuted_axes(back)
}

macro_rules! nd_case {
    ($name:ident, $file:literal, $case:literal, [$($attr:tt)*], running = $running:ident) => {
        #[test]
        fn $name() {
            #[normalize($($attr)*, dtype = f64)]
            struct L;
            let case = golden::case($file, $case);
            let init = case.init.as_ref();
            let mut layer = L::new();
            if let Some(w) = init.and_then(|i| i.weight.as_deref()) {
                nd_case!(@set layer, weight, w);
            }
            if let Some(b) = init.and_then(|i| i.bias.as_deref()) {
                nd_case!(@set layer, bias, b);
            }
            nd_case!(@running $running, layer, init);
            for step in &case.steps {
                let x = channels_last(&step.x, &case.shape);
                assert!(!x.is_standard_layout());
                let dy = channels_last(&step.dy, &case.shape);
                let (y, saved) = match step.mode.as_str() {
                    "train" => layer.forward_train_ndarray_d(x.view()).unwrap(),
                    _ => layer.forward_eval_ndarray_d(x.view()).unwrap(),
                };
                assert_eq!(y.shape(), x.shape());
                close("y", y.iter().copied(), &step.y);
                let mut grads = Default::default();
                let dx = layer.backward_ndarray_d(x.view(), &saved, dy.view(), &mut grads).unwrap();
                close("dx", dx.iter().copied(), &step.dx);
            }
        }
    };
    (@set $layer:ident, $field:ident, $values:ident) => {
        for (d, s) in $layer.$field.iter_mut().zip($values) {
            *d = *s;
        }
    };
    (@running yes, $layer:ident, $init:ident) => {
        $layer.running_mean = golden::array($init.unwrap().running_mean.as_deref().unwrap());
        $layer.running_var = golden::array($init.unwrap().running_var.as_deref().unwrap());
    };
    (@running no, $layer:ident, $init:ident) => {};
}

nd_case!(
    batch_norm_2d_nchw,
    "batch_norm",
    "batch_f64_2x3x4x4_normal_m0.1",
    [batch, dims = 3, spatial = [4, 4]],
    running = yes
);
nd_case!(
    batch_norm_1d_ncl,
    "batch_norm",
    "batch_f64_8x4x10_normal_m0.1",
    [batch, dims = 4, spatial = 10],
    running = yes
);
nd_case!(
    group_norm_2d,
    "group_norm",
    "group_f64_2x6x4x4_g3",
    [group, dims = 6, groups = 3, spatial = [4, 4]],
    running = no
);
nd_case!(
    instance_norm_1d_affine,
    "instance_norm",
    "instance_f64_3x4x10_affine",
    [instance, dims = 4, spatial = 10, affine = true],
    running = no
);

#[test]
fn layer_norm_over_two_dims() {
    #[normalize(layer, dims = [4, 8], dtype = f64)]
    struct L;
    let case = golden::case("layer_norm", "layer_f64_2x3x4x8_normal");
    let init = case.init.as_ref().unwrap();
    let mut layer = L::new();
    layer.weight = golden::array(init.weight.as_deref().unwrap());
    layer.bias = golden::array(init.bias.as_deref().unwrap());
    let step = &case.steps[0];
    // (2, 3, 4, 8): six examples of shape (4, 8), given Fortran-ordered.
    let x = ndarray::ArrayD::from_shape_vec(vec![6, 4, 8], step.x.clone()).unwrap();
    let mut fortran = ndarray::ArrayD::zeros(ndarray::IxDyn(&[6, 4, 8]).f());
    fortran.assign(&x);
    let (y, _) = layer.forward_train_ndarray_d(fortran.view()).unwrap();
    close("y", y.iter().copied(), &step.y);
}

#[test]
fn wrong_shapes_are_errors_and_change_nothing() {
    use constnorm::NormError;
    #[normalize(batch, dims = 3, spatial = [4, 4], dtype = f64)]
    struct Bn;
    let mut layer = Bn::new();
    layer.running_mean = [0.5, -0.5, 2.0];
    let before = layer.clone();
    for shape in [
        vec![2, 3, 4],
        vec![2, 3, 4, 5],
        vec![2, 4, 4, 3],
        vec![2, 3, 4, 4, 1],
    ] {
        let x = ndarray::ArrayD::<f64>::zeros(shape.clone());
        let error = layer.forward_train_ndarray_d(x.view()).unwrap_err();
        match error {
            NormError::RowShapeMismatch {
                argument,
                expected,
                found,
            } => {
                assert_eq!(argument, "x");
                assert_eq!(expected, &[3, 4, 4]);
                assert_eq!(found.dims(), shape.as_slice());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(layer, before);
    }
    let message = layer
        .forward_eval_ndarray_d(ndarray::ArrayD::<f64>::zeros(vec![2, 4, 4, 3]).view())
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "`x` has shape (2, 4, 4, 3) but the layer expects (batch, 3, 4, 4)"
    );
}
