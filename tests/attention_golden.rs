//! `nn::MultiheadAttention` and `nn::TransformerEncoderLayer` against
//! PyTorch's `MultiheadAttention` and `TransformerEncoderLayer`
//! (tests/golden_layers/attention.json; tolerances in tests/common/golden.rs):
//! every case forward, and backward with the gradients of `x` and of every
//! parameter by its state-dict key, masks included. Then gradients against
//! finite differences (f64) with and without masks, PyTorch's
//! initialization, and refused calls that change nothing.
//!
//! The table of cases names the layer type of each; each test first checks
//! the type's sizes and switches against the case's options and masks, so a
//! wrong line fails instead of testing something else.

mod common;

use common::golden::Report;
use common::golden_layers::{Case, case, check_table, flat, grads_by_key};
use constnorm::nn::{
    Elementwise, GeluFn, MultiheadAttention, ReluFn, SavedRows, TransformerEncoderLayer,
    init_seeded,
};
use constnorm::{Float, Gradients, Layer, NormError, Parameters, Row, StateDict};
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

/// What the tests need of both layer types: the options the type fixes, as
/// the case's JSON has them, and the passes with an optional key padding
/// mask (flat, `N * L` values).
trait Sequence:
    Layer<Saved = SavedRows, Output = <Self as Layer>::Input>
    + StateDict<Scalar = <Self as Parameters>::Scalar>
    + Clone
    + Default
    + PartialEq
    + core::fmt::Debug
{
    /// The module the type is.
    const MODULE: &'static str;
    /// Tokens per example.
    const L: usize;
    /// Whether the type applies the causal mask.
    const CAUSAL: bool;
    /// The names of the case's inputs for the causal and the padding mask.
    const MASKS: [&'static str; 2];

    /// The module's options that the type fixes.
    fn options() -> Vec<(&'static str, Value)>;

    fn forward_with(
        &self,
        x: &[Self::Input],
        padding: Option<&[bool]>,
        y: &mut [Self::Output],
    ) -> Result<SavedRows, NormError>;

    fn backward_with(
        &self,
        x: &[Self::Input],
        padding: Option<&[bool]>,
        saved: &SavedRows,
        dy: &[Self::Output],
        dx: &mut [Self::Input],
        grads: &mut Self::Grads,
    ) -> Result<(), NormError>;
}

/// A flat mask as one row of `L` per example.
fn mask_rows<const L: usize>(flat: &[bool]) -> Vec<[bool; L]> {
    assert_eq!(flat.len() % L, 0, "mask length");
    flat.chunks_exact(L)
        .map(|c| c.try_into().expect("L values"))
        .collect()
}

/// The passes of a `Sequence` impl: the type's inherent `forward_masked`
/// and `backward_masked` with a mask, `Layer`'s without.
macro_rules! sequence_passes {
    () => {
        fn forward_with(
            &self,
            x: &[Self::Input],
            padding: Option<&[bool]>,
            y: &mut [Self::Output],
        ) -> Result<SavedRows, NormError> {
            match padding {
                Some(p) => self.forward_masked(x, &mask_rows(p), y),
                None => self.forward_eval(x, y),
            }
        }

        fn backward_with(
            &self,
            x: &[Self::Input],
            padding: Option<&[bool]>,
            saved: &SavedRows,
            dy: &[Self::Output],
            dx: &mut [Self::Input],
            grads: &mut Self::Grads,
        ) -> Result<(), NormError> {
            match padding {
                Some(p) => self.backward_masked(x, &mask_rows(p), saved, dy, dx, grads),
                None => Layer::backward(self, x, saved, dy, dx, grads),
            }
        }
    };
}

impl<const E: usize, const H: usize, const L: usize, T, const BIAS: bool, const CAUSAL: bool>
    Sequence for MultiheadAttention<E, H, L, T, BIAS, CAUSAL>
where
    T: Float,
{
    const MODULE: &'static str = "torch.nn.MultiheadAttention";
    const L: usize = L;
    const CAUSAL: bool = CAUSAL;
    const MASKS: [&'static str; 2] = ["attn_mask", "key_padding_mask"];

    fn options() -> Vec<(&'static str, Value)> {
        vec![
            ("embed_dim", json!(E)),
            ("num_heads", json!(H)),
            ("bias", json!(BIAS)),
            ("batch_first", json!(true)),
            ("dropout", json!(0.0)),
        ]
    }

    sequence_passes!();
}

/// PyTorch's name of an activation.
trait Named: Elementwise {
    const NAME: &'static str;
}

impl Named for ReluFn {
    const NAME: &'static str = "relu";
}

impl Named for GeluFn {
    const NAME: &'static str = "gelu";
}

impl<
    const D: usize,
    const H: usize,
    const FF: usize,
    const L: usize,
    T: Float,
    A: Named,
    const NORM_FIRST: bool,
    const CAUSAL: bool,
> Sequence for TransformerEncoderLayer<D, H, FF, L, T, A, NORM_FIRST, CAUSAL>
{
    const MODULE: &'static str = "torch.nn.TransformerEncoderLayer";
    const L: usize = L;
    const CAUSAL: bool = CAUSAL;
    const MASKS: [&'static str; 2] = ["src_mask", "src_key_padding_mask"];

    fn options() -> Vec<(&'static str, Value)> {
        vec![
            ("d_model", json!(D)),
            ("nhead", json!(H)),
            ("dim_feedforward", json!(FF)),
            ("activation", json!(A::NAME)),
            ("norm_first", json!(NORM_FIRST)),
            ("layer_norm_eps", json!(1e-5)),
            ("bias", json!(true)),
            ("batch_first", json!(true)),
            ("dropout", json!(0.0)),
        ]
    }

    sequence_passes!();
}

/// Fails unless the layer type is the case's module: its options, and a
/// causal mask exactly when the type has one (and then PyTorch's: true
/// above the diagonal).
fn expect_module<M: Sequence>(case: &Case) {
    assert_eq!(case.module, M::MODULE, "{}: module", case.name);
    case.expect_dtype::<<M as Parameters>::Scalar>();
    for (name, value) in M::options() {
        assert_eq!(case.options[name], value, "{}: option {name}", case.name);
    }
    let causal = case.bools(M::MASKS[0]);
    assert_eq!(causal.is_some(), M::CAUSAL, "{}: causal mask", case.name);
    if let Some(mask) = causal {
        let l = M::L;
        let expected: Vec<bool> = (0..l * l).map(|k| k % l > k / l).collect();
        assert_eq!(mask, expected, "{}: the mask is not causal", case.name);
    }
}

/// Runs a case: the case's parameters loaded by state-dict key, forward
/// (with the case's padding mask, if any), backward of its `dy`, and every
/// output and gradient compared.
fn run<M: Sequence>(case: &Case) -> Report {
    expect_module::<M>(case);
    let padding = case.bools(M::MASKS[1]);
    let mut layer = M::default();
    case.load(&mut layer);
    let x: Vec<M::Input> = case.input("x");
    let mut y = vec![M::Output::ZERO; x.len()];
    let saved = layer
        .forward_with(&x, padding.as_deref(), &mut y)
        .expect("forward");
    let dy: Vec<M::Output> = case.dy("y");
    let mut dx = vec![M::Input::ZERO; x.len()];
    let mut grads = M::Grads::default();
    layer
        .backward_with(&x, padding.as_deref(), &saved, &dy, &mut dx, &mut grads)
        .expect("backward");
    let mut named = vec![("x".to_owned(), flat(&dx))];
    named.extend(grads_by_key(&layer, &grads));
    let grads: Vec<(&str, Vec<f64>)> = named.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    case.compare(&[("y", flat(&y))], &grads)
}

/// `attention_cases! { test: Type; ... }`: a test per line running the case
/// of attention.json named by the test through `run::<Type>`, and a test
/// that the lines are exactly the file's cases.
macro_rules! attention_cases {
    ($($test:ident: $ty:ty;)*) => {
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                run::<$ty>(case("attention", name)).finish(name);
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            check_table("attention", &[$(stringify!($test)),*]);
        }
    };
}

type Mha<const E: usize, const H: usize, const L: usize, T, const BIAS: bool, const CAUSAL: bool> =
    MultiheadAttention<E, H, L, T, BIAS, CAUSAL>;
type Tel<const D: usize, const FF: usize, const L: usize, T, A, const NF: bool, const C: bool> =
    TransformerEncoderLayer<D, 2, FF, L, T, A, NF, C>;

// Mha<E, HEADS, L, T, BIAS, CAUSAL>; Tel<D, FF, L, T, A, NORM_FIRST, CAUSAL> (2 heads)
attention_cases! {
    mha_f64_e8_h1_n2_l5: Mha<8, 1, 5, f64, true, false>;
    mha_f64_e8_h2_causal_n2_l5: Mha<8, 2, 5, f64, true, true>;
    mha_f64_e12_h4_nobias_n2_l4: Mha<12, 4, 4, f64, false, false>;
    mha_f64_e16_h4_kpm_n2_l6: Mha<16, 4, 6, f64, true, false>;
    mha_f64_e8_h2_nobias_causal_kpm_n3_l5: Mha<8, 2, 5, f64, false, true>;
    mha_f64_e16_h2_causal_kpm_n2_l3: Mha<16, 2, 3, f64, true, true>;
    tel_f64_d8_h2_ff16_post_relu_n2_l5: Tel<8, 16, 5, f64, ReluFn, false, false>;
    tel_f64_d8_h2_ff16_pre_relu_n2_l5: Tel<8, 16, 5, f64, ReluFn, true, false>;
    tel_f64_d16_h2_ff32_post_gelu_n2_l4: Tel<16, 32, 4, f64, GeluFn, false, false>;
    tel_f64_d12_h2_ff24_pre_gelu_n2_l6: Tel<12, 24, 6, f64, GeluFn, true, false>;
    tel_f64_d8_h2_ff16_pre_relu_causal_kpm_n2_l5: Tel<8, 16, 5, f64, ReluFn, true, true>;
    mha_f32_e8_h2_nobias_causal_kpm_n3_l5: Mha<8, 2, 5, f32, false, true>;
    mha_f32_e16_h2_causal_kpm_n2_l3: Mha<16, 2, 3, f32, true, true>;
    tel_f32_d8_h2_ff16_pre_relu_n2_l5: Tel<8, 16, 5, f32, ReluFn, true, false>;
    tel_f32_d16_h2_ff32_post_gelu_n2_l4: Tel<16, 32, 4, f32, GeluFn, false, false>;
}

// ---------------------------------------------------------------------------
// Finite differences (f64)

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

fn random_rows<R: Row<Scalar = f64>>(n: usize, rng: &mut impl rand::Rng) -> Vec<R> {
    (0..n)
        .map(|_| {
            let mut row = R::ZERO;
            for v in row.as_flat_mut() {
                *v = rng.random_range(-1.0..1.0);
            }
            row
        })
        .collect()
}

/// A layer with every parameter uniform in ±0.5 (biases and norm weights
/// included, so none of them is a trivial 0 or 1).
fn random_layer<M: Sequence + Parameters<Scalar = f64>>(seed: u64) -> M {
    let mut rng = rng(seed);
    let mut layer = M::default();
    for i in 0..<M::Grads as Gradients<f64>>::ARRAYS {
        for v in layer.parameter_mut(i) {
            *v = rng.random_range(-0.5..0.5);
        }
    }
    layer
}

/// `sum(y * r)`, whose gradient with respect to `y` is `r`.
fn dot<R: Row<Scalar = f64>>(y: &[R], r: &[R]) -> f64 {
    let pairs = y.iter().zip(r);
    pairs
        .flat_map(|(y, r)| y.as_flat().iter().zip(r.as_flat()).map(|(a, b)| a * b))
        .sum()
}

/// Backward's `analytic` against the finite difference and its error bound:
/// `|analytic - numeric| <= 1e-8 * max(1, |numeric|) + bound` (the bound is
/// tiny unless a step crosses a ReLU's kink).
fn check(analytic: f64, (numeric, bound): (f64, f64), what: &str) {
    let err = (analytic - numeric).abs();
    assert!(
        err <= 1e-8 * numeric.abs().max(1.0) + bound,
        "{what}: backward {analytic} vs finite difference {numeric} (bound {bound:e})"
    );
}

/// Backward against finite differences of `sum(y * r)` for every parameter
/// and input value, with the padding mask given (flat), and the contract:
/// `dx` overwritten, parameter gradients added to.
fn check_gradients<M: Sequence + Parameters<Scalar = f64>>(
    layer: &M,
    rows: usize,
    padding: Option<&[bool]>,
) {
    let mut rng = rng(rows as u64 + 100);
    let x: Vec<M::Input> = random_rows(rows, &mut rng);
    let r: Vec<M::Output> = random_rows(rows, &mut rng);
    let probe = |layer: &M, x: &[M::Input]| {
        let mut y = vec![M::Output::ZERO; x.len()];
        layer.forward_with(x, padding, &mut y).unwrap();
        dot(&y, &r)
    };
    let derivative = |f: &dyn Fn(f64) -> f64| common::fd::richardson(f, 1e-4);
    let mut y = vec![M::Output::ZERO; rows];
    let saved = layer.forward_with(&x, padding, &mut y).unwrap();
    let mut dx: Vec<M::Input> = random_rows(rows, &mut rng);
    let mut grads = M::Grads::default();
    for i in 0..<M::Grads as Gradients<f64>>::ARRAYS {
        grads.array_mut(i).fill(1.0);
    }
    layer
        .backward_with(&x, padding, &saved, &r, &mut dx, &mut grads)
        .unwrap();
    for i in 0..<M::Grads as Gradients<f64>>::ARRAYS {
        assert_eq!(grads.array(i).len(), layer.parameter(i).len(), "array {i}");
        for j in 0..layer.parameter(i).len() {
            let numeric = derivative(&|h| {
                let mut l = layer.clone();
                l.parameter_mut(i)[j] += h;
                probe(&l, &x)
            });
            let what = format!("parameter {i}[{j}] (plus the 1 it held)");
            check(grads.array(i)[j] - 1.0, numeric, &what);
        }
    }
    for b in 0..rows {
        for k in 0..M::Input::LEN {
            let numeric = derivative(&|h| {
                let mut x = x.clone();
                x[b].as_flat_mut()[k] += h;
                probe(layer, &x)
            });
            check(dx[b].as_flat()[k], numeric, &format!("x[{b}][{k}]"));
        }
    }
}

/// Padding masks of two examples of 5 tokens: trailing padding, and a
/// padded first key (which only a causal mask makes a fully masked query).
const PADDED: [bool; 10] = [
    false, false, false, true, true, //
    true, false, true, false, true,
];
/// Padding that a causal mask leaves every query a key of.
const PADDED_CAUSAL: [bool; 10] = [
    false, true, false, false, true, //
    false, false, false, true, true,
];

#[test]
fn attention_gradients_match_finite_differences() {
    check_gradients(&random_layer::<Mha<8, 2, 5, f64, true, false>>(1), 2, None);
    check_gradients(&random_layer::<Mha<8, 2, 5, f64, true, true>>(2), 2, None);
    check_gradients(
        &random_layer::<Mha<8, 2, 5, f64, true, false>>(3),
        2,
        Some(&PADDED),
    );
    let both = random_layer::<Mha<8, 4, 5, f64, true, true>>(4);
    check_gradients(&both, 2, Some(&PADDED_CAUSAL));
    check_gradients(&random_layer::<Mha<6, 3, 4, f64, false, true>>(5), 3, None);
}

#[test]
fn encoder_gradients_match_finite_differences() {
    check_gradients(
        &random_layer::<Tel<8, 12, 5, f64, ReluFn, false, false>>(6),
        2,
        None,
    );
    check_gradients(
        &random_layer::<Tel<8, 12, 5, f64, ReluFn, true, false>>(7),
        2,
        None,
    );
    check_gradients(
        &random_layer::<Tel<8, 12, 5, f64, GeluFn, false, false>>(8),
        2,
        None,
    );
    check_gradients(
        &random_layer::<Tel<8, 12, 5, f64, GeluFn, true, false>>(9),
        2,
        None,
    );
    let masked = random_layer::<Tel<8, 12, 5, f64, GeluFn, true, true>>(10);
    check_gradients(&masked, 2, Some(&PADDED_CAUSAL));
    let masked = random_layer::<Tel<8, 12, 5, f64, ReluFn, false, false>>(11);
    check_gradients(&masked, 2, Some(&PADDED));
}

// ---------------------------------------------------------------------------
// Initialization and state-dict keys

#[test]
fn initialization_is_pytorchs() {
    let mut mha = Mha::<16, 4, 3, f64, true, false>::new();
    mha.out_proj.bias = [1.0; 16];
    init_seeded(&mut mha, 7);
    let xavier = (6.0_f64 / 64.0).sqrt();
    let weight = mha.in_proj_weight.as_flattened().as_flattened();
    assert!(weight.iter().all(|w| w.abs() < xavier));
    assert!(
        weight.iter().any(|w| w.abs() > 0.9 * xavier),
        "uniform over ±√(6/4E)"
    );
    let kaiming = 1.0 / 4.0;
    let out = mha.out_proj.weight.as_flattened();
    assert!(out.iter().all(|w| w.abs() < kaiming));
    assert!(
        out.iter().any(|w| w.abs() > 0.9 * kaiming),
        "uniform over ±1/√E"
    );
    assert_eq!(mha.in_proj_bias, [[0.0; 16]; 3]);
    assert_eq!(mha.out_proj.bias, [0.0; 16]);

    let mut block = Tel::<8, 16, 3, f64, ReluFn, false, false>::new();
    block.norm1.weight = [3.0; 8];
    init_seeded(&mut block, 8);
    assert_eq!((block.norm1.weight, block.norm1.bias), ([1.0; 8], [0.0; 8]));
    assert_eq!((block.norm2.weight, block.norm2.bias), ([1.0; 8], [0.0; 8]));
    assert!(
        block
            .linear2
            .weight
            .as_flattened()
            .iter()
            .all(|w| w.abs() < 0.25)
    );
    assert!(
        block.linear2.bias.iter().any(|b| *b != 0.0),
        "Linear's bias is drawn"
    );
    assert_eq!(block.self_attn.in_proj_bias, [[0.0; 8]; 3]);
}

/// Every state-dict key with its shape, in order.
fn keys<M: StateDict>(layer: &M) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    layer.visit_arrays(&mut |key, shape, _| out.push((key.to_string(), shape.to_vec())));
    out
}

#[test]
fn without_bias_there_is_no_bias_anywhere() {
    let mut mha = random_layer::<Mha<6, 2, 3, f64, false, false>>(12);
    let expected = [
        ("in_proj_weight", vec![18, 6]),
        ("out_proj.weight", vec![6, 6]),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(k, s)| ((*k).to_owned(), s.clone()))
        .collect();
    assert_eq!(keys(&mha), expected);
    assert!(mha.parameter(1).is_empty() && mha.parameter(3).is_empty());
    init_seeded(&mut mha, 3);
    assert_eq!(mha.out_proj.bias, [0.0; 6]);
    let x: Vec<[[f64; 6]; 3]> = random_rows(2, &mut rng(1));
    let mut y = vec![[[0.0; 6]; 3]; 2];
    let saved = mha.forward_eval(&x, &mut y).unwrap();
    let mut grads = <Mha<6, 2, 3, f64, false, false> as Parameters>::Grads::default();
    let mut dx = y.clone();
    mha.backward(&x, &saved, &y, &mut dx, &mut grads).unwrap();
    assert_eq!(grads.in_proj_bias, [[0.0; 6]; 3]);
    assert_eq!(grads.out_proj.bias, [0.0; 6]);
}

#[test]
fn encoder_keys_are_pytorchs() {
    let block = Tel::<8, 16, 3, f64, GeluFn, true, false>::new();
    let names: Vec<String> = keys(&block).into_iter().map(|(k, _)| k).collect();
    let expected = [
        "self_attn.in_proj_weight",
        "self_attn.in_proj_bias",
        "self_attn.out_proj.weight",
        "self_attn.out_proj.bias",
        "linear1.weight",
        "linear1.bias",
        "linear2.weight",
        "linear2.bias",
        "norm1.weight",
        "norm1.bias",
        "norm2.weight",
        "norm2.bias",
    ];
    assert_eq!(names, expected);
}

// ---------------------------------------------------------------------------
// Refused calls

/// `call` fails with `expected` and changes neither its output nor the
/// gradients (filled with sentinels) nor the layer.
fn refuses<M: Sequence + Parameters<Scalar = f64>>(
    layer: &M,
    expected: NormError,
    call: impl FnOnce(&M, &mut [M::Output], &mut M::Grads) -> Result<(), NormError>,
) {
    let before = layer.clone();
    let mut out = vec![M::Output::ZERO; 4];
    for row in &mut out {
        row.as_flat_mut().fill(7.0);
    }
    let sentinel = out.clone();
    let mut grads = M::Grads::default();
    for i in 0..<M::Grads as Gradients<f64>>::ARRAYS {
        grads.array_mut(i).fill(3.0);
    }
    let grads_before = format!("{grads:?}");
    assert_eq!(call(layer, &mut out, &mut grads), Err(expected));
    assert!(out == sentinel, "the output was written");
    assert_eq!(format!("{grads:?}"), grads_before, "the gradients changed");
    assert!(before == *layer, "the layer changed");
}

/// Every refusal of a layer with `L = 5` tokens: row counts of `y`, `dy`,
/// `dx`, `x` against the forward pass and of the mask, and fully masked
/// queries (padding alone, and under the causal mask).
fn check_refusals<M: Sequence + Parameters<Scalar = f64>>(layer: &M) {
    assert_eq!(M::L, 5);
    let x: Vec<M::Input> = random_rows(4, &mut rng(9));
    let dy: Vec<M::Output> = random_rows(4, &mut rng(10));
    let mismatch = |argument, expected, found| NormError::RowCountMismatch {
        argument,
        expected,
        found,
    };
    refuses(layer, mismatch("y", 4, 3), |l, y, _| {
        l.forward_with(&x, None, &mut y[..3]).map(drop)
    });
    let short = [false; 15];
    refuses(layer, mismatch("key_padding_mask", 4, 3), |l, y, _| {
        l.forward_with(&x, Some(&short), y).map(drop)
    });
    let saved = SavedRows { rows: 4 };
    refuses(layer, mismatch("dy", 4, 3), |l, dx, g| {
        l.backward_with(&x, None, &saved, &dy[..3], dx, g)
    });
    refuses(layer, mismatch("dx", 4, 2), |l, dx, g| {
        l.backward_with(&x, None, &saved, &dy, &mut dx[..2], g)
    });
    let saved3 = SavedRows { rows: 3 };
    refuses(
        layer,
        NormError::SavedRowsMismatch {
            expected: 3,
            found: 4,
        },
        |l, dx, g| l.backward_with(&x, None, &saved3, &dy, dx, g),
    );
    // Row 2 is all padding; under a causal mask, row 1's first key is too.
    let mut padding = [false; 20];
    padding[5] = true;
    padding[10..15].fill(true);
    let row = if M::CAUSAL { 1 } else { 2 };
    let masked = NormError::FullyMaskedQuery { row, query: 0 };
    refuses(layer, masked, |l, y, _| {
        l.forward_with(&x, Some(&padding), y).map(drop)
    });
    refuses(layer, masked, |l, dx, g| {
        l.backward_with(&x, Some(&padding), &saved, &dy, dx, g)
    });
}

#[test]
fn refused_calls_change_nothing() {
    check_refusals(&random_layer::<Mha<8, 2, 5, f64, true, false>>(20));
    check_refusals(&random_layer::<Mha<8, 2, 5, f64, false, true>>(21));
    check_refusals(&random_layer::<Tel<8, 12, 5, f64, ReluFn, false, false>>(
        22,
    ));
    check_refusals(&random_layer::<Tel<8, 12, 5, f64, GeluFn, true, true>>(23));
}

#[test]
fn a_fully_masked_query_is_an_error_that_says_why() {
    let message = NormError::FullyMaskedQuery { row: 2, query: 0 }.to_string();
    assert!(
        message.contains("query 0 of row 2 may attend to no key"),
        "{message}"
    );
    assert!(
        message.contains("leave at least one key unmasked"),
        "{message}"
    );
    // PyTorch's only fully masked case under a causal mask: key 0 padded.
    let mha = random_layer::<Mha<4, 2, 3, f64, true, true>>(30);
    let x: Vec<[[f64; 4]; 3]> = random_rows(1, &mut rng(2));
    let mut y = vec![[[0.0; 4]; 3]];
    let error = mha.forward_masked(&x, &[[true, false, false]], &mut y);
    assert_eq!(error, Err(NormError::FullyMaskedQuery { row: 0, query: 0 }));
    let unmasked = mha.forward_masked(&x, &[[false, true, true]], &mut y);
    assert!(unmasked.is_ok() && y[0].as_flattened().iter().all(|v| v.is_finite()));
}
