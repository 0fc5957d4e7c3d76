//! `TransformerEncoderLayer`'s `layer_norm_eps` (PyTorch's constructor
//! argument): against PyTorch's own layer with `layer_norm_eps = 0.25`,
//! post-norm and pre-norm, and the default `1e-5`, from
//! `tests/fixtures/encoder_eps_f64.json`
//! (`tests/fixtures/make_encoder_eps_fixture.py`): the output, the input
//! gradient and every parameter gradient of `sum(y * r)`.

mod common;

use common::golden_layers::grads_by_key;
use constnorm::nn::{ReluFn, TokenNorm, TransformerEncoderLayer};
use constnorm::{Gradients, Layer, Row, StateDict};
use serde_json::Value;

type Post = TransformerEncoderLayer<8, 2, 12, 5, f64, ReluFn, false, false>;
type Pre = TransformerEncoderLayer<8, 2, 12, 5, f64, ReluFn, true, false>;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn rows<R: Row<Scalar = f64>>(flat: &[f64]) -> Vec<R> {
    flat.chunks_exact(R::LEN)
        .map(|c| {
            let mut r = R::ZERO;
            r.as_flat_mut().copy_from_slice(c);
            r
        })
        .collect()
}

fn worst(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / y.abs().max(1.0))
        .fold(0.0, f64::max)
}

fn run<M>(case: &Value, set_eps: impl Fn(&mut M, f64))
where
    M: Layer<Scalar = f64, Output = <M as Layer>::Input> + StateDict<Scalar = f64> + Default,
    M: constnorm::Parameters<Scalar = f64>,
{
    let eps = case["layer_norm_eps"].as_f64().unwrap();
    let mut layer = M::default();
    let state = &case["state"];
    let mut loaded = 0;
    layer.visit_arrays_mut(&mut |key, _, values| {
        let v = floats(&state[key.to_string().as_str()]);
        values.copy_from_slice(&v);
        loaded += 1;
    });
    assert_eq!(loaded, state.as_object().unwrap().len());
    set_eps(&mut layer, eps);
    let x: Vec<M::Input> = rows(&floats(&case["x"]));
    let r: Vec<M::Output> = rows(&floats(&case["r"]));
    let mut y = vec![M::Output::ZERO; x.len()];
    let saved = layer.forward_eval(&x, &mut y).unwrap();
    let flat = |rows: &[M::Output]| {
        rows.iter()
            .flat_map(|r| r.as_flat().to_vec())
            .collect::<Vec<f64>>()
    };
    let what = format!("norm_first {}, eps {eps}", case["norm_first"]);
    assert!(worst(&flat(&y), &floats(&case["y"])) < 1e-12, "{what}: y");
    let mut dx = vec![M::Input::ZERO; x.len()];
    let mut grads = M::Grads::default();
    grads.set_zero();
    layer.backward(&x, &saved, &r, &mut dx, &mut grads).unwrap();
    assert!(
        worst(&flat(&dx), &floats(&case["dx"])) < 1e-10,
        "{what}: dx"
    );
    for (key, g) in grads_by_key(&layer, &grads) {
        assert!(
            worst(&g, &floats(&case["grads"][key.as_str()])) < 1e-10,
            "{what}: d{key}"
        );
    }
}

#[test]
fn layer_norm_eps_is_pytorchs() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/encoder_eps_f64.json"
    ))
    .unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    for case in json["cases"].as_array().unwrap() {
        if case["norm_first"].as_bool().unwrap() {
            run::<Pre>(case, |l, eps| l.layer_norm_eps = eps);
        } else {
            run::<Post>(case, |l, eps| l.layer_norm_eps = eps);
        }
    }
}

#[test]
fn the_default_is_pytorchs_and_the_builder_sets_it() {
    assert_eq!(Post::new().layer_norm_eps, 1e-5);
    assert_eq!(Post::default().layer_norm_eps, TokenNorm::<8, f64>::EPS);
    assert_eq!(Post::new_boxed().layer_norm_eps, 1e-5);
    assert_eq!(Post::new().with_layer_norm_eps(0.25).layer_norm_eps, 0.25);
}
