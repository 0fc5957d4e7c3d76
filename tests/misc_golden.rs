//! The misc layers against PyTorch (tests/golden_layers/misc.json;
//! tolerances in tests/common/golden.rs): `ReLU6`, `LeakyReLU`, `SiLU`,
//! `Sigmoid`, `Softmax`, `LogSoftmax` forward and backward, `Embedding`'s
//! lookup and weight gradient (with `padding_idx`); then finite differences
//! in f64 for every new function, closed forms at the edges (huge inputs,
//! the kinks, rows offset by ±1e4), refused calls that change nothing, and
//! `Embedding`'s initialization, state dict and serde.

mod common;

use common::fd::{at, random_rows, rng};
use common::golden::Report;
use common::golden_layers::{Case, case, check_table, flat};
use constnorm::nn::{
    Embedding, EmbeddingGrads, LeakyRelu, LeakyReluFn, LeakyReluOn, LogSoftmax, LogSoftmaxOn,
    Relu6, Relu6On, Sigmoid, SigmoidOn, Silu, SiluOn, Softmax, SoftmaxOn, init_seeded,
};
use constnorm::{Float, Layer, NoGrads, NormError, Parameters, Row, StateDict};

/// `misc_cases! { test: runner::<generic arguments>; ... }`: a test per
/// line running the case of misc.json named by the test through the runner,
/// and a test that the lines are exactly the file's cases.
macro_rules! misc_cases {
    ($($test:ident: $run:ident::<$($arg:tt),*>;)*) => {
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                $run::<$($arg),*>(case("misc", name)).finish(name);
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            check_table("misc", &[$(stringify!($test)),*]);
        }
    };
}

/// Fails unless the case is PyTorch's module for `op` with the options our
/// layer has: `negative_slope` 0.01 for `LeakyReLU`, `dim = -1` for the
/// softmaxes, none for the others.
fn expect_options(case: &Case, op: &str) {
    assert_eq!(case.op, op, "{}: op", case.name);
    let options = &case.options;
    match op {
        "leaky_relu" => assert_eq!(
            options["negative_slope"].as_f64(),
            Some(LeakyReluFn::NEGATIVE_SLOPE),
            "{}: negative_slope",
            case.name
        ),
        "softmax" | "log_softmax" => {
            assert_eq!(options["dim"].as_i64(), Some(-1), "{}: dim", case.name);
        }
        _ => assert!(options.is_empty(), "{}: options {options:?}", case.name),
    }
}

/// Compares as [`Case::compare`] does, after checking that every value is
/// finite, as all of the reference's are (the report's maximum error can
/// miss a NaN that is not the last value).
fn compare(case: &Case, outputs: &[(&str, Vec<f64>)], grads: &[(&str, Vec<f64>)]) -> Report {
    for (name, values) in outputs.iter().chain(grads) {
        let bad = values.iter().position(|v| !v.is_finite());
        assert!(
            bad.is_none(),
            "{}: {name}[{bad:?}] is not finite",
            case.name
        );
    }
    case.compare(outputs, grads)
}

/// Runs a case of a layer without parameters (`x` in, `y` out) forward and
/// backward.
fn layer<L: Layer<Grads = NoGrads> + Default>(case: &Case, op: &str) -> Report {
    expect_options(case, op);
    case.expect_dtype::<L::Scalar>();
    assert!(case.params.is_empty(), "{}: no parameters", case.name);
    let mut layer = L::default();
    let x: Vec<L::Input> = case.input("x");
    let mut y = vec![L::Output::ZERO; x.len()];
    let saved = layer.forward_train(&x, &mut y).expect("forward");
    let dy: Vec<L::Output> = case.dy("y");
    let mut dx = vec![L::Input::ZERO; x.len()];
    layer
        .backward(&x, &saved, &dy, &mut dx, &mut NoGrads)
        .expect("backward");
    compare(case, &[("y", flat(&y))], &[("x", flat(&dx))])
}

fn relu6<T: Float>(case: &Case) -> Report {
    layer::<Relu6<8, T>>(case, "relu6")
}
fn leaky_relu<T: Float>(case: &Case) -> Report {
    layer::<LeakyRelu<8, T>>(case, "leaky_relu")
}
fn silu<T: Float>(case: &Case) -> Report {
    layer::<Silu<8, T>>(case, "silu")
}
fn sigmoid<T: Float>(case: &Case) -> Report {
    layer::<Sigmoid<8, T>>(case, "sigmoid")
}
fn softmax<T: Float>(case: &Case) -> Report {
    layer::<Softmax<7, T>>(case, "softmax")
}
fn log_softmax<T: Float>(case: &Case) -> Report {
    layer::<LogSoftmax<7, T>>(case, "log_softmax")
}

/// The case's integer input `x` as sequences of `S` indices.
fn indices<const S: usize>(case: &Case) -> Vec<[usize; S]> {
    let x = &case.inputs["x"];
    assert_eq!(x.shape[1..], [S], "{}: shape of x", case.name);
    let index = |v: &f64| {
        assert!(v.fract() == 0.0 && *v >= 0.0, "{}: index {v}", case.name);
        *v as usize
    };
    let flat: Vec<usize> = x.values.iter().map(index).collect();
    flat.chunks_exact(S)
        .map(|s| s.try_into().expect("S indices"))
        .collect()
}

/// An embedding with the case's options and weight, loaded through its
/// state dict (so its key and shape are PyTorch's).
fn embedding_of<const NUM: usize, const DIM: usize, T: Float>(
    case: &Case,
) -> Embedding<NUM, DIM, T> {
    assert_eq!(case.count("num_embeddings"), NUM, "{}", case.name);
    assert_eq!(case.count("embedding_dim"), DIM, "{}", case.name);
    for (option, default) in [("max_norm", "null"), ("scale_grad_by_freq", "false")] {
        assert_eq!(case.options[option].to_string(), default, "{}", case.name);
    }
    let mut layer = Embedding::<NUM, DIM, T>::new();
    if !case.options["padding_idx"].is_null() {
        layer = layer.with_padding_idx(case.count("padding_idx"));
    }
    case.load(&mut layer);
    layer
}

/// Runs an embedding case (indices `(N, S)`) forward and backward.
fn embedding<const NUM: usize, const DIM: usize, const S: usize, T: Float>(case: &Case) -> Report {
    assert_eq!(case.op, "embedding", "{}: op", case.name);
    case.expect_dtype::<T>();
    let layer = embedding_of::<NUM, DIM, T>(case);
    let x = indices::<S>(case);
    let mut y = vec![[[T::ZERO; DIM]; S]; x.len()];
    layer.forward_seq(&x, &mut y).expect("forward");
    let dy: Vec<[[T; DIM]; S]> = case.dy("y");
    let mut grads = EmbeddingGrads::default();
    layer.backward_seq(&x, &dy, &mut grads).expect("backward");
    compare(
        case,
        &[("y", flat(&y))],
        &[("weight", flat(&[grads.weight]))],
    )
}

misc_cases! {
    embedding_f64_10x4_idx2x5: embedding::<10, 4, 5, f64>;
    embedding_f64_7x3_pad0_idx3x4: embedding::<7, 3, 4, f64>;
    relu6_f64_4x8: relu6::<f64>;
    leaky_relu_f64_4x8: leaky_relu::<f64>;
    silu_f64_4x8: silu::<f64>;
    sigmoid_f64_4x8: sigmoid::<f64>;
    softmax_f64_5x7: softmax::<f64>;
    log_softmax_f64_5x7: log_softmax::<f64>;
    silu_f32_4x8: silu::<f32>;
    softmax_f32_5x7: softmax::<f32>;
    log_softmax_f32_5x7: log_softmax::<f32>;
}

/// [`check_fd`](common::fd::check_fd) of the layer's default, whose `dx`
/// starts non-zero (backward must overwrite it); the kinks of ReLU6 and
/// leaky ReLU are never within a step of the random values.
fn check_fd<L: Layer<Scalar = f64, Grads = NoGrads> + Default>(scale: f64, seed: u64) {
    common::fd::check_fd(L::default(), scale, seed);
}

#[test]
fn activation_gradients_match_finite_differences() {
    check_fd::<Sigmoid<16, f64>>(8.0, 1);
    check_fd::<Silu<16, f64>>(8.0, 2);
    check_fd::<LeakyRelu<16, f64>>(3.0, 3);
    check_fd::<Relu6<16, f64>>(8.0, 4);
    check_fd::<SigmoidOn<[[f64; 4]; 3]>>(8.0, 5);
    check_fd::<SiluOn<[[[f64; 2]; 3]; 2]>>(8.0, 6);
    check_fd::<LeakyReluOn<[[f64; 5]; 2]>>(3.0, 7);
    check_fd::<Relu6On<[[f64; 5]; 2]>>(8.0, 8);
}

#[test]
fn softmax_gradients_match_finite_differences() {
    check_fd::<Softmax<7, f64>>(4.0, 11);
    check_fd::<LogSoftmax<7, f64>>(4.0, 12);
    check_fd::<Softmax<1, f64>>(4.0, 13);
    // A sequence: one softmax per step.
    check_fd::<SoftmaxOn<[[f64; 5]; 3]>>(4.0, 14);
    check_fd::<LogSoftmaxOn<[[f64; 5]; 3]>>(4.0, 15);
    check_fd::<LogSoftmaxOn<[[[f64; 3]; 2]; 2]>>(4.0, 16);
}

#[test]
fn activations_are_exact_at_the_edges() {
    // The sigmoid never forms e^1100: 0 and 1 in the tails, no NaN.
    assert_eq!(at::<Sigmoid<1, f64>>(-1100.0), (0.0, 0.0));
    assert_eq!(at::<Sigmoid<1, f64>>(1100.0), (1.0, 0.0));
    assert_eq!(at::<Sigmoid<1, f64>>(0.0), (0.5, 0.25));
    // s(-40) = e^-40 / (1 + e^-40), and s' = s (1 - s) there.
    let (s, d) = at::<Sigmoid<1, f64>>(-40.0);
    assert!((s / 4.248_354_255_291_589e-18 - 1.0).abs() < 1e-15, "{s}");
    assert!((d / s - 1.0).abs() < 1e-15, "{d}");
    let (y, d) = at::<Silu<1, f64>>(-1100.0);
    assert!(y == 0.0 && d == 0.0, "silu(-1100) = {y}, {d}");
    assert_eq!(at::<Silu<1, f64>>(1100.0), (1100.0, 1.0));
    assert_eq!(at::<Silu<1, f64>>(0.0), (0.0, 0.5));
    // Leaky ReLU: the slope at 0 and below, 1 above.
    assert_eq!(at::<LeakyRelu<1, f64>>(0.0), (0.0, 0.01));
    assert_eq!(at::<LeakyRelu<1, f64>>(-2.0), (-0.02, 0.01));
    assert_eq!(at::<LeakyRelu<1, f64>>(1e-300), (1e-300, 1.0));
    // ReLU6: gradient 1 strictly inside (0, 6) only.
    let relu6 = [0.0, 6.0, 3.0, -1.0, 7.0, 1e-300].map(at::<Relu6<1, f64>>);
    let expected = [(0.0, 0.0), (6.0, 0.0), (3.0, 1.0), (0.0, 0.0), (6.0, 0.0)];
    assert_eq!(relu6[..5], expected);
    assert_eq!(relu6[5], (1e-300, 1.0));
}

#[test]
fn softmax_is_per_step_and_shift_invariant() {
    // [0, ln 2, ln 3, ln 4] + c has softmax [0.1, 0.2, 0.3, 0.4] for any c.
    let logs = [1.0_f64, 2.0, 3.0, 4.0].map(f64::ln);
    let row: [[f64; 4]; 3] = [0.0, 1e4, -1e4].map(|c| logs.map(|l| l + c));
    let (y, _) = SoftmaxOn::<[[f64; 4]; 3]>::new().forward_eval_array(&[row]);
    let (log_y, _) = LogSoftmaxOn::<[[f64; 4]; 3]>::new().forward_eval_array(&[row]);
    for (step, (y, log_y)) in y[0].iter().zip(&log_y[0]).enumerate() {
        for (i, (y, log_y)) in y.iter().zip(log_y).enumerate() {
            let p = (i + 1) as f64 / 10.0;
            // The offset rows lose the low bits of ln k when 1e4 is added.
            let tol = if step == 0 { 1e-15 } else { 1e-12 };
            assert!((y - p).abs() <= tol, "softmax step {step}[{i}] = {y}");
            assert!(
                (log_y - p.ln()).abs() <= tol,
                "log-softmax step {step}[{i}] = {log_y}"
            );
        }
    }
    // Where e^(x - max) underflows, log-softmax is still exact.
    let (log_y, _) = LogSoftmax::<2, f64>::new().forward_eval_array(&[[0.0, -1000.0]]);
    assert_eq!(log_y, [[0.0, -1000.0]]);
}

/// A row of 1e30 everywhere, to see that a refused call wrote nothing.
fn sentinel<R: Row>() -> R {
    let mut r = R::ZERO;
    r.as_flat_mut().fill(Float::from_f64(1e30));
    r
}

#[test]
fn softmax_refuses_mismatched_rows_and_writes_nothing() {
    type L = SoftmaxOn<[[f64; 3]; 2]>;
    let layer = L::new();
    let x: Vec<[[f64; 3]; 2]> = random_rows(4, 2.0, &mut rng(20));
    let unwritten = vec![sentinel::<[[f64; 3]; 2]>(); 4];
    let mut out = unwritten.clone();
    let e = NormError::RowCountMismatch {
        argument: "y",
        expected: 4,
        found: 3,
    };
    assert_eq!(layer.forward_eval(&x, &mut out[..3]), Err(e));
    assert_eq!(out, unwritten);
    let saved = layer.forward_eval(&x, &mut [[[0.0; 3]; 2]; 4]).unwrap();
    let e = NormError::RowCountMismatch {
        argument: "dx",
        expected: 4,
        found: 2,
    };
    assert_eq!(
        layer.backward(&x, &saved, &x, &mut out[..2], &mut NoGrads),
        Err(e)
    );
    let e = NormError::SavedRowsMismatch {
        expected: 4,
        found: 3,
    };
    assert_eq!(
        layer.backward(&x[..3], &saved, &x[..3], &mut out[..3], &mut NoGrads),
        Err(e)
    );
    let e = NormError::RowCountMismatch {
        argument: "dy",
        expected: 4,
        found: 1,
    };
    assert_eq!(
        layer.backward(&x, &saved, &x[..1], &mut out, &mut NoGrads),
        Err(e)
    );
    assert_eq!(out, unwritten);
}

type Emb = Embedding<5, 3, f64>;

/// An embedding with distinct weights, and gradients that are not zero.
fn embedding_and_grads() -> (Emb, EmbeddingGrads<5, 3, f64>) {
    let mut layer = Emb::new();
    init_seeded(&mut layer, 30);
    let mut grads = EmbeddingGrads::default();
    grads.weight[2] = [1.0, -2.0, 0.5];
    (layer, grads)
}

#[test]
fn embedding_refuses_bad_indices_and_row_counts_and_changes_nothing() {
    let (layer, mut grads) = embedding_and_grads();
    let before = grads.clone();
    let row = sentinel::<[f64; 3]>();
    let mut y = [row; 4];
    let bad = NormError::IndexOutOfRange {
        index: 5,
        position: 2,
        len: 5,
    };
    assert_eq!(layer.forward(&[0, 4, 5, 1], &mut y), Err(bad));
    assert_eq!(layer.backward(&[0, 4, 5, 1], &y, &mut grads), Err(bad));
    // In sequences, the position is in the flattened indices.
    let mut y_seq = [[row; 2]; 2];
    let bad = NormError::IndexOutOfRange {
        index: 9,
        position: 3,
        len: 5,
    };
    assert_eq!(layer.forward_seq(&[[0, 1], [2, 9]], &mut y_seq), Err(bad));
    assert_eq!(
        layer.backward_seq(&[[0, 1], [2, 9]], &y_seq, &mut grads),
        Err(bad)
    );
    let short = NormError::RowCountMismatch {
        argument: "y",
        expected: 4,
        found: 3,
    };
    assert_eq!(layer.forward(&[0, 1, 2, 3], &mut y[..3]), Err(short));
    let seq = NormError::RowCountMismatch {
        argument: "y",
        expected: 2,
        found: 1,
    };
    assert_eq!(
        layer.forward_seq(&[[0, 1], [2, 3]], &mut y_seq[..1]),
        Err(seq)
    );
    let short = NormError::RowCountMismatch {
        argument: "dy",
        expected: 4,
        found: 2,
    };
    assert_eq!(
        layer.backward(&[0, 1, 2, 3], &y[..2], &mut grads),
        Err(short)
    );
    let seq = NormError::RowCountMismatch {
        argument: "dy",
        expected: 2,
        found: 1,
    };
    assert_eq!(
        layer.backward_seq(&[[0, 1], [2, 3]], &y_seq[..1], &mut grads),
        Err(seq)
    );
    assert_eq!(layer.forward(&[], &mut []), Err(NormError::EmptyBatch));
    assert_eq!(y, [row; 4], "output written");
    assert_eq!(y_seq, [[row; 2]; 2], "output written");
    assert_eq!(grads, before, "gradients changed");
}

#[test]
fn index_out_of_range_says_which_index_and_where() {
    let e = NormError::IndexOutOfRange {
        index: 12,
        position: 3,
        len: 10,
    };
    let message = e.to_string();
    let expected = "index 12 at position 3 is out of range: the embedding has 10 rows (0..10)";
    assert_eq!(message, expected);
}

#[test]
fn embedding_backward_adds_to_the_gradients_and_skips_padding() {
    let (layer, mut grads) = embedding_and_grads();
    let layer = layer.with_padding_idx(4);
    let dy = [
        [1.0, 2.0, 3.0],
        [0.5, 0.5, 0.5],
        [10.0, 20.0, 30.0],
        [7.0, 7.0, 7.0],
    ];
    layer.backward(&[2, 0, 2, 4], &dy, &mut grads).unwrap();
    let mut expected = [[0.0; 3]; 5];
    expected[2] = [1.0 + 1.0 + 10.0, -2.0 + 2.0 + 20.0, 0.5 + 3.0 + 30.0];
    expected[0] = [0.5; 3];
    assert_eq!(grads.weight, expected);
    // The padding row is still looked up.
    let mut y = [[0.0; 3]];
    layer.forward(&[4], &mut y).unwrap();
    assert_eq!(y[0], layer.weight[4]);
}

#[test]
fn embedding_initializes_as_pytorch_normal_with_padding_zeroed() {
    let mut layer = Embedding::<1000, 10, f64>::new().with_padding_idx(7);
    init_seeded(&mut layer, 31);
    assert_eq!(layer.weight[7], [0.0; 10]);
    let values: Vec<f64> = layer
        .weight
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .flat_map(|(_, r)| *r)
        .collect();
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    // 9990 draws of N(0, 1): standard errors 0.01 (mean) and 0.014 (variance).
    assert!(mean.abs() < 0.05, "mean {mean}");
    assert!((var - 1.0).abs() < 0.07, "variance {var}");
    let beyond_3 = values.iter().filter(|v| v.abs() > 3.0).count() as f64 / n;
    assert!(
        beyond_3 < 0.006,
        "share beyond 3 sd {beyond_3} (normal: 0.0027)"
    );
    let mut again = Embedding::<1000, 10, f64>::new().with_padding_idx(7);
    init_seeded(&mut again, 31);
    assert_eq!(again, layer, "seeded initialization is reproducible");
}

#[test]
fn embedding_state_dict_and_serde_use_pytorchs_name_and_shape() {
    let (layer, _) = embedding_and_grads();
    let mut seen = Vec::new();
    layer.visit_arrays(&mut |key, shape, values| {
        seen.push((key.last().to_owned(), shape.to_vec(), values.to_vec()));
    });
    assert_eq!(
        seen,
        [(
            "weight".to_owned(),
            vec![5, 3],
            layer.weight.as_flattened().to_vec()
        )]
    );
    assert_eq!(layer.parameter(0), layer.weight.as_flattened());
    let json = serde_json::to_string(&layer).unwrap();
    assert!(json.contains("\"weight\""), "{json}");
    let back: Emb = serde_json::from_str(&json).unwrap();
    assert_eq!(back.weight, layer.weight, "bit for bit");
    assert!(
        serde_json::from_str::<Embedding<4, 3, f64>>(&json).is_err(),
        "wrong NUM"
    );
}
