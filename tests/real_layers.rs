//! The layers the shipped real models needed, against PyTorch
//! (tests/golden_layers/real_layers.json, written by real_layers.py next to
//! it; tolerances in tests/common/golden.rs): `Hardswish`, `Hardsigmoid`
//! (PyTorch's and Paddle's slope), the padding layers, the complex
//! magnitude and squeeze-and-excitation, forward and backward; then finite
//! differences in f64 (parameters included), the corners of the hard
//! functions, and `Dropout` (identity in inference, inverted scaling, a
//! replayed mask, seeds, atomic commits).

mod common;

use common::fd::{at, check_fd};
use common::golden::Report;
use common::golden_layers::{Case, case, check_table, flat, grads_by_key};
use constnorm::nn::{
    Activation, ComplexMagnitude1d, ConstantPad1d, Dropout, Hardsigmoid, HardsigmoidFn, Hardswish,
    HardswishOn, PaddleGate, ReflectionPad1d, ReflectionPad2d, ReluFn, ReplicationPad1d,
    ReplicationPad2d, SqueezeExcitation, StftMagnitude, ZeroPad2d,
};
use constnorm::{Float, Layer, NoGrads, Parameters, Row, StateDict};

/// `real_cases! { test: runner::<generic arguments>; ... }`: a test per
/// line running the case of real_layers.json named by the test, and a test
/// that the lines are exactly the file's cases.
macro_rules! real_cases {
    ($($test:ident: $run:expr;)*) => {
        $(
            #[test]
            fn $test() {
                let name = stringify!($test);
                ($run)(case("real_layers", name)).finish(name);
            }
        )*

        #[test]
        fn every_reference_case_is_run() {
            check_table("real_layers", &[$(stringify!($test)),*]);
        }
    };
}

/// Runs `layer` forward (training mode) and backward on the case's `x` and
/// `dy`, loading the case's parameters, and compares `y`, `dx` and every
/// parameter gradient.
fn run<L: Layer + StateDict<Scalar = <L as Parameters>::Scalar>>(
    case: &Case,
    mut layer: L,
) -> Report {
    case.expect_dtype::<<L as Parameters>::Scalar>();
    case.load(&mut layer);
    let x: Vec<L::Input> = case.input("x");
    let mut y = vec![L::Output::ZERO; x.len()];
    let saved = layer.forward_train(&x, &mut y).expect("forward");
    let dy: Vec<L::Output> = case.dy("y");
    // dx starts non-zero: backward must overwrite it.
    let mut dx = vec![L::Input::ZERO; x.len()];
    for d in &mut dx {
        d.as_flat_mut().fill(Float::from_f64(7.0));
    }
    let mut grads = L::Grads::default();
    layer
        .backward(&x, &saved, &dy, &mut dx, &mut grads)
        .expect("backward");
    let mut all_grads = vec![("x".to_owned(), flat(&dx))];
    all_grads.extend(grads_by_key(&layer, &grads));
    let grads: Vec<(&str, Vec<f64>)> = all_grads
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    case.compare(&[("y", flat(&y))], &grads)
}

/// [`run`] with the layer's default.
fn default<L: Layer + Default + StateDict<Scalar = <L as Parameters>::Scalar>>(
    case: &Case,
) -> Report {
    run(case, L::default())
}

/// [`run`] with the case's fill value.
fn constant_pad(case: &Case) -> Report {
    let value = case.options["value"].as_f64().expect("value");
    run(case, ConstantPad1d::<2, 5, 1, 2, 8, f64>::with_value(value))
}

type PaddleSe = SqueezeExcitation<6, 3, 2, 3, f64, ReluFn, HardsigmoidFn<PaddleGate>>;

real_cases! {
    hardswish_f64_4x8: default::<Hardswish<8, f64>>;
    hardsigmoid_f64_4x8: default::<Hardsigmoid<8, f64>>;
    hardsigmoid_paddle_f64_4x8: default::<Activation<HardsigmoidFn<PaddleGate>, 8, f64>>;
    reflection_pad1d_f64_3x2x5: default::<ReflectionPad1d<2, 5, 2, 4, 11, f64>>;
    reflection_pad1d_f64_3x2x5_right: default::<ReflectionPad1d<2, 5, 0, 3, 8, f64>>;
    replication_pad1d_f64_3x2x5: default::<ReplicationPad1d<2, 5, 3, 1, 9, f64>>;
    constant_pad1d_f64_3x2x5: constant_pad;
    reflection_pad2d_f64_2x2x4x5: default::<ReflectionPad2d<2, 4, 5, 1, 3, 2, 0, 6, 9, f64>>;
    replication_pad2d_f64_2x2x4x5: default::<ReplicationPad2d<2, 4, 5, 2, 0, 1, 3, 8, 7, f64>>;
    zero_pad2d_f64_2x2x4x5: default::<ZeroPad2d<2, 4, 5, 0, 2, 1, 1, 6, 7, f64>>;
    complex_magnitude_f64_3x6x4: default::<ComplexMagnitude1d<3, 4, 6, f64>>;
    squeeze_excitation_f64_3x4x3x5: default::<SqueezeExcitation<4, 2, 3, 5, f64>>;
    squeeze_excitation_paddle_f64_2x6x2x3: default::<PaddleSe>;
    stft_magnitude_f64_3x1x40: default::<StftMagnitude<16, 8, 40, 4, 9, f64>>;
}

#[test]
fn gradients_match_finite_differences() {
    // Values away from the kinks (-3, 3 for PyTorch's gate; -2.5, 2.5 for
    // Paddle's) by far more than a step: rows in -2..2 cross none of them.
    check_fd(Hardswish::<16, f64>::default(), 2.0, 1);
    check_fd(Hardsigmoid::<16, f64>::default(), 2.0, 2);
    check_fd(
        Activation::<HardsigmoidFn<PaddleGate>, 12, f64>::default(),
        2.0,
        3,
    );
    check_fd(HardswishOn::<[[f64; 5]; 3]>::default(), 2.0, 4);
    check_fd(ReflectionPad1d::<3, 4, 3, 2, 9, f64>::default(), 1.0, 5);
    check_fd(
        ReflectionPad2d::<2, 3, 4, 3, 1, 2, 2, 7, 8, f64>::default(),
        1.0,
        6,
    );
    check_fd(
        ReplicationPad2d::<1, 2, 2, 3, 3, 0, 4, 6, 8, f64>::default(),
        1.0,
        7,
    );
    check_fd(
        ConstantPad1d::<2, 3, 4, 0, 7, f64>::with_value(-2.0),
        1.0,
        8,
    );
    check_fd(ComplexMagnitude1d::<2, 5, 4, f64>::default(), 1.0, 9);
    let mut se = SqueezeExcitation::<5, 3, 2, 4, f64>::default();
    constnorm::nn::init_seeded(&mut se, 10);
    check_fd(se, 1.0, 11);
    let mut se = PaddleSe::default();
    constnorm::nn::init_seeded(&mut se, 12);
    check_fd(se, 3.0, 13);
    check_fd(StftMagnitude::<8, 4, 20, 4, 5, f64>::default(), 1.0, 14);
}

#[test]
fn hard_functions_take_pytorchs_values_at_the_corners() {
    // hardswish' is 0 at -3 and 1 at 3 in PyTorch (x / 3 + 1/2 strictly
    // inside only).
    let swish = [-3.0, 3.0, -4.0, 4.0, 0.0].map(at::<Hardswish<1, f64>>);
    assert_eq!(
        swish,
        [(-0.0, 0.0), (3.0, 1.0), (-0.0, 0.0), (4.0, 1.0), (0.0, 0.5)]
    );
    // hardsigmoid' is 1/6 strictly inside (-3, 3) only, and PyTorch's 1/6
    // is an f32 constant even in f64.
    let sigmoid = [-3.0, 3.0, 0.0].map(at::<Hardsigmoid<1, f64>>);
    let sixth = f64::from(1.0_f32 / 6.0);
    assert_eq!(sigmoid, [(0.0, 0.0), (1.0, 0.0), (0.5, sixth)]);
    let paddle = [-2.5, 2.5, 1.0].map(at::<Activation<HardsigmoidFn<PaddleGate>, 1, f64>>);
    assert_eq!(paddle, [(0.0, 0.0), (1.0, 0.0), (0.7, 0.2)]);
    // f32 gives PyTorch's relu6(x + 3) / 6, not x / 6 + 0.5 (these differ
    // in the last bit for x = 0.1).
    let layer = Hardsigmoid::<1, f32>::default();
    let ([[y]], _) = layer.forward_eval_array(&[[0.1_f32]]);
    assert_eq!(y, (0.1_f32 + 3.0).clamp(0.0, 6.0) / 6.0);
}

#[test]
fn magnitude_gradient_at_zero_is_zero() {
    let layer = ComplexMagnitude1d::<1, 2, 2, f64>::default();
    let x = [[[0.0, 3.0], [0.0, -4.0]]];
    let (y, saved) = layer.forward_eval_array(&x);
    assert_eq!(y, [[[0.0, 5.0]]]);
    let dx = layer
        .backward_array(&x, &saved, &[[[1.0, 1.0]]], &mut NoGrads)
        .unwrap();
    let expected = [0.0, 0.6, 0.0, -0.8];
    for (d, e) in dx[0].as_flat().iter().zip(expected) {
        assert!((d - e).abs() < 1e-15, "{dx:?}");
    }
}

#[test]
fn stft_magnitude_is_the_convolution_with_its_basis() {
    // The FFT against the O(N^2) sum with `basis` (Silero's convolution
    // weights), in f64.
    type Stft = StftMagnitude<32, 8, 64, 5, 17, f64>;
    let stft = Stft::default();
    let x: [[f64; 64]; 1] = [core::array::from_fn(|i| {
        ((i * 37 % 23) as f64 - 11.0) / 7.0
    })];
    let (y, _) = stft.forward_eval_array(&[x]);
    for f in 0..5 {
        for (k, bin) in y[0].iter().enumerate() {
            let dot = |r: usize| {
                (0..32)
                    .map(|n| Stft::basis(r, n) * x[0][f * 8 + n])
                    .sum::<f64>()
            };
            let (re, im) = (dot(k), dot(17 + k));
            let want = (re * re + im * im).sqrt();
            assert!(
                (bin[f] - want).abs() < 1e-12,
                "bin {k} frame {f}: {} vs {want}",
                bin[f]
            );
        }
    }
}

#[test]
fn reflection_pads_like_pytorchs_example() {
    // torch.nn.ReflectionPad1d(2) on [0, 1, 2, 3] (its docs' example).
    let layer = ReflectionPad1d::<1, 4, 2, 2, 8, f32>::default();
    let (y, _) = layer.forward_eval_array(&[[[0.0, 1.0, 2.0, 3.0]]]);
    assert_eq!(y, [[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0]]]);
}

type Drop = Dropout<[[f32; 50]; 4]>;

/// A batch of 8 rows of 200 values, all 1.5.
fn ones() -> Vec<[[f32; 50]; 4]> {
    vec![[[1.5; 50]; 4]; 8]
}

#[test]
fn dropout_is_the_identity_in_inference() {
    let layer = Drop::new(0.3).with_seed(5);
    let x: Vec<[[f32; 50]; 4]> = (0..8).map(|i| [[i as f32 - 3.5; 50]; 4]).collect();
    let mut y = vec![[[0.0; 50]; 4]; 8];
    let saved = layer.forward_eval(&x, &mut y).unwrap();
    assert_eq!(y, x);
    let mut dx = vec![[[9.0; 50]; 4]; 8];
    layer
        .backward(&x, &saved, &x, &mut dx, &mut NoGrads)
        .unwrap();
    assert_eq!(dx, x);
    assert_eq!(layer.passes(), 0);
}

#[test]
fn dropout_zeroes_about_p_and_scales_the_rest() {
    for p in [0.1, 0.5, 0.8] {
        let mut layer = Drop::new(p).with_seed(17);
        let x = ones();
        let mut y = vec![[[0.0; 50]; 4]; 8];
        let saved = layer.forward_train(&x, &mut y).unwrap();
        let values: Vec<f32> = y.iter().flat_map(|r| r.as_flat().to_vec()).collect();
        // PyTorch's noise: 1 / (1 - p), the difference taken in f64.
        let scale = 1.0 / ((1.0 - p) as f32);
        let kept = 1.5_f32 * scale;
        let dropped = values.iter().filter(|&&v| v == 0.0).count();
        assert!(values.iter().all(|&v| v == 0.0 || v == kept), "p = {p}");
        // 1600 draws: the count of drops is within 5 standard deviations.
        let n = values.len() as f64;
        let sd = (n * p * (1.0 - p)).sqrt();
        assert!(
            (dropped as f64 - n * p).abs() < 5.0 * sd,
            "p = {p}: {dropped} of {n} dropped"
        );
        // Backward replays the mask: dx is dy where y was kept, scaled alike.
        let dy: Vec<[[f32; 50]; 4]> = vec![[[2.0; 50]; 4]; 8];
        let mut dx = vec![[[0.0; 50]; 4]; 8];
        layer
            .backward(&x, &saved, &dy, &mut dx, &mut NoGrads)
            .unwrap();
        for (dx, y) in dx.iter().flat_map(|r| r.as_flat().to_vec()).zip(&values) {
            assert_eq!(dx == 0.0, *y == 0.0);
            assert!(dx == 0.0 || dx == 2.0 * scale);
        }
    }
}

/// The masks of `passes` training passes of a fresh layer.
fn masks(seed: u64, passes: usize) -> Vec<Vec<[[f32; 50]; 4]>> {
    let mut layer = Drop::new(0.5).with_seed(seed);
    (0..passes)
        .map(|_| {
            let mut y = vec![[[0.0; 50]; 4]; 8];
            layer.forward_train(&ones(), &mut y).unwrap();
            y
        })
        .collect()
}

#[test]
fn dropout_masks_follow_the_seed_and_the_pass() {
    let a = masks(3, 3);
    assert_eq!(a, masks(3, 3), "the same seed gives the same masks");
    assert_ne!(a[0], a[1], "each pass draws a new mask");
    assert_ne!(a[0], masks(4, 1)[0], "another seed, another mask");
    // Rows of one pass differ too.
    assert_ne!(a[0][0], a[0][1]);
    // Deferred + commit is forward_train; a deferred pass alone draws the
    // same mask again.
    let mut layer = Drop::new(0.5).with_seed(3);
    let mut y = vec![[[0.0; 50]; 4]; 8];
    let saved = layer.forward_train_deferred(&ones(), &mut y).unwrap();
    assert_eq!(y, a[0]);
    layer.forward_train_deferred(&ones(), &mut y).unwrap();
    assert_eq!(y, a[0], "uncommitted: the same pass");
    layer.commit_train(&ones(), &saved);
    assert_eq!(layer.passes(), 1);
    layer.forward_train(&ones(), &mut y).unwrap();
    assert_eq!(y, a[1]);
}

#[test]
fn dropout_edges_and_refusals() {
    let x = ones();
    let mut y = vec![[[0.0; 50]; 4]; 8];
    Drop::new(0.0).forward_train(&x, &mut y).unwrap();
    assert_eq!(y, x, "p = 0 keeps everything");
    Drop::new(1.0).forward_train(&x, &mut y).unwrap();
    assert!(
        y.iter().all(|r| r.as_flat().iter().all(|&v| v == 0.0)),
        "p = 1 drops everything"
    );
    // A refused call changes nothing, the pass count included.
    let mut layer = Drop::new(0.5);
    let mut short = vec![[[0.0; 50]; 4]; 7];
    assert!(layer.forward_train(&x, &mut short).is_err());
    assert_eq!(layer.passes(), 0);
    assert!(short.iter().all(|r| r.as_flat().iter().all(|&v| v == 0.0)));
    let refused = std::panic::catch_unwind(|| Drop::new(1.5));
    assert!(refused.is_err(), "p = 1.5 is refused");
    assert_eq!(Drop::default().p(), 0.5, "PyTorch's default p");
}

#[test]
fn hardswish_rounds_as_pytorch_does() {
    // PyTorch computes x * relu6(x + 3) / 6, the product first; x * (relu6(x
    // + 3) / 6) differs in the last bit for some x. Every f32 of [-3, 3]
    // spaced 2^-10 apart, against that order written out.
    let layer = Hardswish::<1, f32>::default();
    let mut x = -3.0_f32;
    while x <= 3.0 {
        let ([[y]], _) = layer.forward_eval_array(&[[x]]);
        let pytorch = x * (x + 3.0).clamp(0.0, 6.0) / 6.0;
        assert_eq!(y.to_bits(), pytorch.to_bits(), "x = {x}");
        x += 1.0 / 1024.0;
    }
}

#[test]
fn configuration_round_trips_through_serde() {
    // A constant pad keeps its fill value; dropout its p and seed (not the
    // pass count) and refuses a p outside [0, 1].
    let pad = ConstantPad1d::<2, 5, 1, 2, 8, f64>::with_value(0.75);
    let json = serde_json::to_string(&pad).unwrap();
    assert_eq!(json, "0.75");
    let back: ConstantPad1d<2, 5, 1, 2, 8, f64> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, pad);
    let mut drop = Drop::new(0.25).with_seed(9);
    let mut y = vec![[[0.0; 50]; 4]; 8];
    drop.forward_train(&ones(), &mut y).unwrap();
    let json = serde_json::to_string(&drop).unwrap();
    let back: Drop = serde_json::from_str(&json).unwrap();
    assert_eq!((back.p(), back.passes()), (0.25, 0));
    assert_eq!(back, Drop::new(0.25).with_seed(9));
    assert!(serde_json::from_str::<Drop>("[2.0, 9]").is_err());
}
