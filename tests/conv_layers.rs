//! The convolutional layer types (`nn::Conv1d`, `Conv2d`, the pools,
//! `Flatten`, activations over channel-major rows) on their own and inside
//! `#[network]`: gradients against finite differences in f64, PyTorch's
//! state-dict keys and shapes, PyTorch's initialization bounds, `bias =
//! false`, and refused calls that change nothing. The kernels under them are
//! tested against PyTorch's vectors in `conv_golden.rs` / `pool_golden.rs`.

mod common;

use constnorm::nn::{
    AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d, AvgPool1d,
    AvgPool2d, Conv1d, Conv2d, Flatten, GeluOn, Linear, MaxPool1d, MaxPool2d, Relu1d, Relu2d,
    TanhOn, init_seeded,
};
use constnorm::{Gradients, Layer, Network, NormError, Parameters, Row, StateDict};
use constnorm::{network, normalize};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A row of values uniform in `-1..1`.
fn random_row<R: Row<Scalar = f64>>(rng: &mut impl rand::Rng) -> R {
    let mut row = R::ZERO;
    for v in row.as_flat_mut() {
        *v = rng.random_range(-1.0..1.0);
    }
    row
}

fn random_rows<R: Row<Scalar = f64>>(n: usize, rng: &mut impl rand::Rng) -> Vec<R> {
    (0..n).map(|_| random_row(rng)).collect()
}

/// `sum(y * r)`, whose gradient with respect to `y` is `r`.
fn dot<R: Row<Scalar = f64>>(y: &[R], r: &[R]) -> f64 {
    let pairs = y.iter().zip(r);
    pairs
        .flat_map(|(y, r)| y.as_flat().iter().zip(r.as_flat()).map(|(a, b)| a * b))
        .sum()
}

/// Backward's value `analytic` against the finite difference `numeric` of
/// the probe and its error bound: `|analytic - numeric| <= tol * max(1,
/// |numeric|) + bound`. The bound is tiny except where a step crosses a kink
/// (a ReLU at 0, two inputs of a max pool swapping), which the many values
/// of a CNN make likely somewhere.
fn check(analytic: f64, (numeric, bound): (f64, f64), tol: f64, what: &str) {
    let err = (analytic - numeric).abs();
    assert!(
        err <= tol * numeric.abs().max(1.0) + bound,
        "{what}: backward {analytic} vs finite difference {numeric} (bound {bound:e})"
    );
}

/// A derivative by Richardson-extrapolated central differences, and a bound
/// on its error.
fn derivative(f: impl FnMut(f64) -> f64) -> (f64, f64) {
    common::fd::richardson(f, 1e-4)
}

/// One layer's backward against finite differences of `sum(y * r)`, for
/// every parameter and input value, and its contract: `dx` overwritten,
/// parameter gradients added to.
fn check_layer<L>(layer: &L, rows: usize, seed: u64)
where
    L: Layer<Scalar = f64> + Clone,
{
    let mut rng = rng(seed);
    let x: Vec<L::Input> = random_rows(rows, &mut rng);
    let r: Vec<L::Output> = random_rows(rows, &mut rng);
    let probe = |layer: &L, x: &[L::Input]| {
        let mut y = vec![L::Output::ZERO; x.len()];
        layer.clone().forward_train(x, &mut y).unwrap();
        dot(&y, &r)
    };
    let mut y = vec![L::Output::ZERO; rows];
    let saved = layer.clone().forward_train(&x, &mut y).unwrap();
    let mut dx = vec![random_row::<L::Input>(&mut rng); rows];
    let mut grads = L::Grads::default();
    for i in 0..<L::Grads as Gradients<f64>>::ARRAYS {
        grads.array_mut(i).fill(1.0);
    }
    layer.backward(&x, &saved, &r, &mut dx, &mut grads).unwrap();
    for i in 0..<L::Grads as Gradients<f64>>::ARRAYS {
        assert_eq!(grads.array(i).len(), layer.parameter(i).len());
        for j in 0..layer.parameter(i).len() {
            let numeric = derivative(|h| {
                let mut l = layer.clone();
                l.parameter_mut(i)[j] += h;
                probe(&l, &x)
            });
            let what = format!("parameter {i}[{j}] (plus the 1 it held)");
            check(grads.array(i)[j] - 1.0, numeric, 1e-8, &what);
        }
    }
    for b in 0..rows {
        for k in 0..L::Input::LEN {
            let numeric = derivative(|h| {
                let mut x = x.clone();
                x[b].as_flat_mut()[k] += h;
                probe(layer, &x)
            });
            check(dx[b].as_flat()[k], numeric, 1e-8, &format!("x[{b}][{k}]"));
        }
    }
}

/// `Conv2d(1, 4, 3, padding = 1)` on 8x8.
type Conv2dPad1 = Conv2d<1, 4, 1, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true, f64>;
/// `Conv2d(4, 6, 3, stride = 2, padding = 2, dilation = 2, groups = 2)` on
/// 7x6: (7 + 4 - 5) / 2 + 1 = 4 rows, (6 + 4 - 5) / 2 + 1 = 3 columns.
type Conv2dStrided = Conv2d<4, 6, 2, 2, 7, 6, 4, 3, 3, 3, 2, 2, 2, 2, 2, 2, true, f64>;
/// `Conv2d(2, 3, (2, 3), padding = "same", bias = False)` on 5x4: an even
/// kernel pads 0 on top, 1 at the bottom.
type Conv2dSame = Conv2d<2, 3, 1, 2, 5, 4, 5, 4, 2, 3, 1, 1, 0, 1, 1, 1, false, f64>;
/// `Conv1d(4, 4, 3, stride = 2, padding = 1, dilation = 2, groups = 2)` on 9:
/// (9 + 2 - 5) / 2 + 1 = 4.
type Conv1dStrided = Conv1d<4, 4, 2, 2, 9, 4, 3, 2, 1, 2, true, f64>;

fn seeded<P: Parameters + Default>(seed: u64) -> P {
    let mut p = P::default();
    init_seeded(&mut p, seed);
    p
}

#[test]
fn conv_gradients_match_finite_differences() {
    check_layer(&seeded::<Conv2dPad1>(1), 2, 10);
    check_layer(&seeded::<Conv2dStrided>(2), 2, 11);
    check_layer(&seeded::<Conv2dSame>(3), 3, 12);
    check_layer(&seeded::<Conv1dStrided>(4), 2, 13);
    check_layer(
        &seeded::<Conv1d<3, 2, 1, 3, 6, 6, 3, 1, 1, 1, false, f64>>(5),
        2,
        14,
    );
}

/// The bound `1/sqrt(fan_in)` of every parameter, and that the draws use it:
/// the largest magnitude comes close to it.
fn check_bounds<P: Parameters<Scalar = f64> + Default>(fan_in: usize, arrays: usize) {
    let p: P = seeded(7);
    let bound = 1.0 / (fan_in as f64).sqrt();
    assert_eq!(<P::Grads as Gradients<f64>>::ARRAYS, arrays);
    for i in 0..arrays {
        let values = p.parameter(i);
        let max = values.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
        assert!(max < bound, "array {i}: {max} beyond {bound}");
        if values.len() >= 16 {
            assert!(max > 0.8 * bound, "array {i}: {max} far inside {bound}");
        }
    }
    assert!(p.parameter(arrays).is_empty());
    let again: P = seeded(7);
    for i in 0..arrays {
        assert_eq!(p.parameter(i), again.parameter(i), "reproducible");
    }
}

#[test]
fn reset_parameters_draws_in_pytorchs_bounds() {
    // fan_in = C_IN_PER_GROUP * kernel size.
    check_bounds::<Conv2dPad1>(9, 2);
    check_bounds::<Conv2dStrided>(2 * 9, 2);
    check_bounds::<Conv2dSame>(2 * 6, 1);
    check_bounds::<Conv1dStrided>(2 * 3, 2);
    let bias_free: Conv2dSame = seeded(7);
    assert_eq!(bias_free.bias, [0.0; 3], "no bias: it stays zero");
}

/// Every array's key and shape.
fn keys<S: StateDict>(model: &S) -> BTreeMap<String, Vec<usize>> {
    let mut keys = BTreeMap::new();
    model.visit_arrays(&mut |key, shape, values| {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "{key}");
        keys.insert(key.to_string(), shape.to_vec());
    });
    keys
}

#[test]
fn conv_state_dicts_are_pytorchs() {
    let expected = BTreeMap::from([
        ("weight".to_string(), vec![6, 2, 3, 3]),
        ("bias".to_string(), vec![6]),
    ]);
    assert_eq!(keys(&Conv2dStrided::new()), expected);
    let expected = BTreeMap::from([("weight".to_string(), vec![3, 2, 2, 3])]);
    assert_eq!(keys(&Conv2dSame::new()), expected, "no bias key");
    let expected = BTreeMap::from([
        ("weight".to_string(), vec![4, 2, 3]),
        ("bias".to_string(), vec![4]),
    ]);
    assert_eq!(keys(&Conv1dStrided::new()), expected);
    let mut counters = 0;
    Conv1dStrided::new().visit_counters(&mut |_, _| counters += 1);
    assert_eq!(counters, 0);
}

#[test]
fn without_bias_backward_leaves_the_bias_gradient_alone() {
    let conv: Conv2dSame = seeded(3);
    let mut rng = rng(4);
    let x: [[[[f64; 4]; 5]; 2]; 2] = std::array::from_fn(|_| random_row(&mut rng));
    let (y, saved) = conv.forward_eval_array(&x);
    let mut grads = <Conv2dSame as Parameters>::Grads::default();
    conv.backward_array(&x, &saved, &y, &mut grads).unwrap();
    assert_eq!(grads.bias, [0.0; 3]);
    assert!(grads.weight.as_flat().iter().any(|g| *g != 0.0));
    assert_eq!(grads.array(1).len(), 0, "no bias gradient array");
    assert!(
        conv.clone().parameter_mut(1).is_empty(),
        "no bias parameter"
    );
}

#[test]
fn conv_errors_change_nothing() {
    let conv: Conv2dStrided = seeded(1);
    let mut rng = rng(2);
    let x: Vec<<Conv2dStrided as Layer>::Input> = random_rows(3, &mut rng);
    let mut y = vec![<Conv2dStrided as Layer>::Output::ZERO; 3];
    let before = y.clone();
    let err = conv.forward_eval(&x, &mut y[..2]).unwrap_err();
    assert!(matches!(
        err,
        NormError::RowCountMismatch { argument: "y", .. }
    ));
    assert_eq!(y, before);
    assert_eq!(
        conv.forward_eval(&[], &mut []).unwrap_err(),
        NormError::EmptyBatch
    );

    let saved = conv.forward_eval(&x, &mut y).unwrap();
    let mut grads = <Conv2dStrided as Parameters>::Grads::default();
    grads.bias[0] = 5.0;
    let grads_before = grads.clone();
    let mut dx = vec![<Conv2dStrided as Layer>::Input::ZERO; 3];
    let dx_before = dx.clone();
    let err = conv
        .backward(&x[..2], &saved, &y[..2], &mut dx[..2], &mut grads)
        .unwrap_err();
    assert!(matches!(err, NormError::SavedRowsMismatch { .. }));
    let err = conv
        .backward(&x, &saved, &y, &mut dx[..1], &mut grads)
        .unwrap_err();
    assert!(matches!(
        err,
        NormError::RowCountMismatch { argument: "dx", .. }
    ));
    assert_eq!(grads, grads_before);
    assert_eq!(dx, dx_before);
}

#[test]
fn pool_flatten_and_activation_gradients_match_finite_differences() {
    // MaxPool2d(3, stride 2, padding 1, dilation (1, 2), ceil_mode) on 7x8.
    check_layer(
        &MaxPool2d::<2, 7, 8, 4, 3, 3, 3, 2, 2, 1, 1, 1, 2, f64>::new(),
        2,
        20,
    );
    check_layer(&MaxPool1d::<3, 9, 5, 3, 2, 1, 1, f64>::new(), 2, 21);
    // AvgPool2d((3, 2), stride 2, padding 1, ceil_mode, count_include_pad)
    // on 6x5: the last row of windows runs past the bottom padding.
    check_layer(
        &AvgPool2d::<2, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1, true, f64>::new(),
        2,
        22,
    );
    check_layer(&AvgPool1d::<2, 7, 4, 3, 2, 1, false, f64>::new(), 2, 23);
    check_layer(&AdaptiveAvgPool1d::<3, 5, f64>::new(), 2, 24);
    check_layer(&AdaptiveAvgPool2d::<3, 4, 3, f64>::new(), 2, 25);
    check_layer(&AdaptiveMaxPool1d::<3, 5, f64>::new(), 2, 26);
    check_layer(&AdaptiveMaxPool2d::<3, 4, 3, f64>::new(), 2, 27);
    check_layer(&Flatten::<[[[f64; 3]; 2]; 2], 12>::new(), 2, 28);
    check_layer(&Relu2d::<2, 3, 4, f64>::new(), 2, 29);
    check_layer(&Relu1d::<2, 5, f64>::new(), 2, 30);
    check_layer(&TanhOn::<[[f64; 5]; 2]>::new(), 2, 31);
    check_layer(&GeluOn::<[[[f64; 2]; 3]; 2]>::new(), 2, 32);
}

#[test]
fn flatten_keeps_memory_order_and_pools_keep_size_one_axes() {
    let x = [[[1.0_f32, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]];
    let (y, _) = Flatten::<[[[f32; 2]; 2]; 2], 8>::new().forward_eval_array(&[x]);
    assert_eq!(y, [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]);
    let (mean, _) = AdaptiveAvgPool2d::<2, 2, 2>::new().forward_eval_array(&[x]);
    assert_eq!(mean, [[[[2.5]], [[6.5]]]]);
    let (max, _) = AdaptiveMaxPool2d::<2, 2, 2>::new().forward_eval_array(&[x]);
    assert_eq!(max, [[[[4.0]], [[8.0]]]]);
}

#[normalize(batch, dims = 4, spatial = [8, 8], dtype = f64)]
struct Bn4;

#[normalize(group, dims = 8, groups = 2, spatial = [4, 4], dtype = f64)]
struct Gn8;

/// PyTorch's `nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4),
/// ReLU(), MaxPool2d(2), Conv2d(4, 8, 3, padding=1), GroupNorm(2, 8), ReLU(),
/// AdaptiveAvgPool2d(1), Flatten(), Linear(8, 10))` on 1x8x8 images.
#[network(sequential)]
#[derive(Clone, Debug, Default, PartialEq)]
struct Cnn {
    conv1: Conv2d<1, 4, 1, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, true, f64>,
    bn1: Bn4,
    act1: Relu2d<4, 8, 8, f64>,
    pool1: MaxPool2d<4, 8, 8, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, f64>,
    conv2: Conv2d<4, 8, 1, 4, 4, 4, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, true, f64>,
    gn2: Gn8,
    act2: Relu2d<8, 4, 4, f64>,
    gap: AdaptiveAvgPool2d<8, 4, 4, f64>,
    flatten: Flatten<[[[f64; 1]; 1]; 8], 8>,
    fc: Linear<8, 10, f64>,
}

/// `nn.Sequential(Conv1d(2, 4, 3, padding=1), ReLU(), MaxPool1d(2),
/// Conv1d(4, 4, 3, dilation=2, groups=2), AvgPool1d(2, padding=1), Tanh(),
/// AdaptiveMaxPool1d(1), Flatten(), Linear(4, 3))` on 2x12 sequences.
#[network]
#[derive(Clone, Debug, Default)]
struct Seq1d {
    conv1: Conv1d<2, 4, 1, 2, 12, 12, 3, 1, 1, 1, true, f64>,
    act1: Relu1d<4, 12, f64>,
    pool1: MaxPool1d<4, 12, 6, 2, 2, 0, 1, f64>,
    conv2: Conv1d<4, 4, 2, 2, 6, 2, 3, 1, 0, 2, true, f64>,
    pool2: AvgPool1d<4, 2, 2, 2, 2, 1, true, f64>,
    act2: TanhOn<[[f64; 2]; 4]>,
    gmp: AdaptiveMaxPool1d<4, 2, f64>,
    flatten: Flatten<[[f64; 1]; 4], 4>,
    fc: Linear<4, 3, f64>,
}

/// A whole network's backward against finite differences of `sum(y * r)`,
/// for every parameter and input value, in training or inference mode.
fn check_network<N, const B: usize>(net: &N, seed: u64, train: bool)
where
    N: Network<Scalar = f64> + Clone,
{
    let mut rng = rng(seed);
    let x: [N::Input; B] = std::array::from_fn(|_| random_row(&mut rng));
    let r: [N::Output; B] = std::array::from_fn(|_| random_row(&mut rng));
    let probe = |net: &N, x: &[N::Input; B]| {
        let mut ws = <N as Network>::Workspace::<B>::default();
        let y = if train {
            net.clone().forward_train(x, &mut ws).unwrap()
        } else {
            net.forward_eval(x, &mut ws).unwrap()
        };
        dot(y, &r)
    };
    let mut ws = <N as Network>::Workspace::<B>::default();
    if train {
        net.clone().forward_train(&x, &mut ws).unwrap();
    } else {
        net.forward_eval(&x, &mut ws).unwrap();
    }
    let mut grads = N::Grads::default();
    let dx = *net.backward(&x, &mut ws, &r, &mut grads).unwrap();
    let arrays = <N::Grads as Gradients<f64>>::ARRAYS;
    for i in 0..arrays {
        for j in 0..net.parameter(i).len() {
            let numeric = derivative(|h| {
                let mut n = net.clone();
                n.parameter_mut(i)[j] += h;
                probe(&n, &x)
            });
            let what = format!("train {train}: parameter {i}[{j}]");
            check(grads.array(i)[j], numeric, 1e-7, &what);
        }
    }
    for b in 0..B {
        for k in 0..N::Input::LEN {
            let numeric = derivative(|h| {
                let mut x = x;
                x[b].as_flat_mut()[k] += h;
                probe(net, &x)
            });
            check(
                dx[b].as_flat()[k],
                numeric,
                1e-7,
                &format!("train {train}: x[{b}][{k}]"),
            );
        }
    }
}

fn cnn(seed: u64) -> Cnn {
    let mut net: Cnn = seeded(seed);
    let mut rng = rng(seed + 100);
    // Every parameter and running statistic away from its default, so each
    // one is tested.
    for p in [&mut net.bn1.weight, &mut net.bn1.running_var] {
        *p = std::array::from_fn(|_| rng.random_range(0.5..2.0));
    }
    for p in [&mut net.bn1.bias, &mut net.bn1.running_mean] {
        *p = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
    }
    net.gn2.weight = std::array::from_fn(|_| rng.random_range(0.5..2.0));
    net.gn2.bias = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
    net
}

#[test]
fn cnn_gradients_match_finite_differences() {
    let net = cnn(1);
    assert_eq!(<Cnn as Parameters>::Grads::ARRAYS, 10);
    check_network::<Cnn, 3>(&net, 2, true);
    check_network::<Cnn, 2>(&net, 3, false);
}

#[test]
fn conv1d_chain_gradients_match_finite_differences() {
    let net: Seq1d = seeded(4);
    check_network::<Seq1d, 3>(&net, 5, true);
    check_network::<Seq1d, 1>(&net, 6, false);
}

#[test]
fn cnn_state_dict_is_pytorchs_sequential() {
    let net = Cnn::default();
    let shape = |s: &[usize]| s.to_vec();
    let expected = BTreeMap::from([
        ("0.weight".to_string(), shape(&[4, 1, 3, 3])),
        ("0.bias".to_string(), shape(&[4])),
        ("1.weight".to_string(), shape(&[4])),
        ("1.bias".to_string(), shape(&[4])),
        ("1.running_mean".to_string(), shape(&[4])),
        ("1.running_var".to_string(), shape(&[4])),
        ("4.weight".to_string(), shape(&[8, 4, 3, 3])),
        ("4.bias".to_string(), shape(&[8])),
        ("5.weight".to_string(), shape(&[8])),
        ("5.bias".to_string(), shape(&[8])),
        ("9.weight".to_string(), shape(&[10, 8])),
        ("9.bias".to_string(), shape(&[10])),
    ]);
    assert_eq!(keys(&net), expected);
    let mut order = Vec::new();
    net.visit_arrays(&mut |key, _, _| order.push(key.to_string()));
    assert_eq!(
        order,
        [
            "0.weight",
            "0.bias",
            "1.weight",
            "1.bias",
            "1.running_mean",
            "1.running_var",
            "4.weight",
            "4.bias",
            "5.weight",
            "5.bias",
            "9.weight",
            "9.bias"
        ]
    );
    let mut counters = Vec::new();
    net.visit_counters(&mut |key, _| counters.push(key.to_string()));
    assert_eq!(counters, ["1.num_batches_tracked"]);
}

#[test]
fn conv_layers_round_trip_through_serde() {
    let conv: Conv2dStrided = seeded(8);
    let json = serde_json::to_string(&conv).unwrap();
    assert_eq!(serde_json::from_str::<Conv2dStrided>(&json).unwrap(), conv);
    let value = serde_json::to_value(Conv2dSame::new()).unwrap();
    let fields: Vec<&String> = value.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["weight"], "no bias field without a bias");
    assert_eq!(value["weight"].as_array().unwrap().len(), 3);
    assert_eq!(value["weight"][0][0].as_array().unwrap().len(), 2);
    let with_bias = serde_json::to_string(&conv).unwrap();
    assert!(serde_json::from_str::<Conv2dSame>(&with_bias).is_err());
    let pool = MaxPool1d::<3, 9, 5, 3, 2, 1, 1, f64>::new();
    assert_eq!(serde_json::to_string(&pool).unwrap(), "null");
    let back: MaxPool1d<3, 9, 5, 3, 2, 1, 1, f64> = serde_json::from_str("null").unwrap();
    assert_eq!(back, pool);
}
