//! The network pieces on their own: activations, losses, `Linear`, the
//! optimizers and seeded initialization. Values are checked against closed
//! forms and finite differences, optimizers against hand-worked steps and
//! the textbook form of Adam.

mod common;

use constnorm::nn::{
    Activation, Adam, Gelu, LeakyRelu, LeakyReluFn, Linear, LinearGrads, Relu, Sgd, Tanh,
    cross_entropy, init_seeded, mse,
};
use constnorm::{Gradients, Layer, NoGrads, NormError, Parameters};
use rand::{RngExt, SeedableRng};

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// A derivative by Richardson-extrapolated central differences.
fn derivative(f: impl FnMut(f64) -> f64, h: f64) -> f64 {
    common::fd::richardson(f, h).0
}

fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol * b.abs().max(1.0),
        "{what}: {a} vs {b}"
    );
}

#[test]
fn activations_have_their_closed_forms() {
    let x = [[-1.0, 0.0, 0.5, 1.0]];
    let mut y = [[0.0; 4]];
    Relu::<4, f64>::new().forward_eval(&x, &mut y).unwrap();
    assert_eq!(y, [[0.0, 0.0, 0.5, 1.0]]);
    Tanh::<4, f64>::new().forward_eval(&x, &mut y).unwrap();
    assert_close(y[0][2], 0.462_117_157_260_009_74, 1e-15, "tanh(0.5)");
    Gelu::<4, f64>::new().forward_eval(&x, &mut y).unwrap();
    // GELU(x) = x * Phi(x); Phi(1) = 0.841344746068543, Phi(-1) = 1 - Phi(1).
    assert_close(y[0][3], 0.841_344_746_068_542_9, 1e-15, "gelu(1)");
    assert_close(y[0][0], -0.158_655_253_931_457_05, 1e-15, "gelu(-1)");
    assert_eq!(y[0][1], 0.0);
}

fn check_activation<L: Layer<Input = [f64; 16], Output = [f64; 16], Grads = NoGrads> + Default>(
    name: &str,
) {
    let mut r = rng(7);
    let layer = L::default();
    let x: [[f64; 16]; 3] =
        std::array::from_fn(|_| std::array::from_fn(|_| r.random_range(-3.0..3.0)));
    let dy: [[f64; 16]; 3] =
        std::array::from_fn(|_| std::array::from_fn(|_| r.random_range(-1.0..1.0)));
    let (_, saved) = layer.forward_eval_array(&x);
    let dx = layer.backward_array(&x, &saved, &dy, &mut NoGrads).unwrap();
    for b in 0..3 {
        for k in 0..16 {
            let numeric = derivative(
                &mut |h| {
                    let mut x = x;
                    x[b][k] += h;
                    let (y, _) = layer.forward_eval_array(&x);
                    y.as_flattened()
                        .iter()
                        .zip(dy.as_flattened())
                        .map(|(y, d)| y * d)
                        .sum()
                },
                1e-4,
            );
            assert_close(dx[b][k], numeric, 1e-8, &format!("{name} dx[{b}][{k}]"));
        }
    }
}

#[test]
fn leaky_relu_takes_pytorchs_negative_slope() {
    // LeakyReLU(0.2) on f32: x * f32(0.2), PyTorch's one multiply by its
    // Python float turned into the tensor's type; the default is 0.01.
    assert_eq!(LeakyReluFn::<1, 5>::SLOPE, 0.2);
    assert_eq!(LeakyReluFn::<1, 100>::SLOPE, LeakyReluFn::NEGATIVE_SLOPE);
    let x = [[-3.7_f32, -0.1, 0.0, 2.5]];
    let mut y = [[0.0; 4]];
    Activation::<LeakyReluFn<1, 5>, 4>::default()
        .forward_eval(&x, &mut y)
        .unwrap();
    assert_eq!(y, [[-3.7 * 0.2_f32, -0.1 * 0.2_f32, 0.0, 2.5]]);
    LeakyRelu::<4>::default().forward_eval(&x, &mut y).unwrap();
    assert_eq!(y[0][0], -3.7 * 0.01_f32);
    // The derivative at 0 is the slope, as in PyTorch.
    let (_, saved) = Activation::<LeakyReluFn<3, 10>, 4, f64>::default()
        .forward_eval_array(&[[-1.0, 0.0, 1.0, 2.0]]);
    let dx = Activation::<LeakyReluFn<3, 10>, 4, f64>::default()
        .backward_array(&[[-1.0, 0.0, 1.0, 2.0]], &saved, &[[1.0; 4]], &mut NoGrads)
        .unwrap();
    assert_eq!(dx, [[0.3, 0.3, 1.0, 1.0]]);
}

#[test]
fn activation_gradients_match_finite_differences() {
    check_activation::<Activation<LeakyReluFn<1, 5>, 16, f64>>("leaky_relu(0.2)");
    check_activation::<Relu<16, f64>>("relu");
    check_activation::<Tanh<16, f64>>("tanh");
    check_activation::<Gelu<16, f64>>("gelu");
}

#[test]
fn linear_computes_x_wt_plus_b_and_its_gradients() {
    let mut fc = Linear::<2, 2, f64>::new();
    fc.weight = [[1.0, 2.0], [3.0, 4.0]];
    fc.bias = [0.5, -1.0];
    let (y, _) = fc.forward_eval_array(&[[1.0, 1.0], [2.0, 0.0]]);
    assert_eq!(y, [[3.5, 6.0], [2.5, 5.0]]);

    let mut r = rng(3);
    let mut fc = Linear::<5, 7, f64>::new();
    fc.reset_parameters(&mut r);
    let x: [[f64; 5]; 4] =
        std::array::from_fn(|_| std::array::from_fn(|_| r.random_range(-2.0..2.0)));
    let dy: [[f64; 7]; 4] =
        std::array::from_fn(|_| std::array::from_fn(|_| r.random_range(-1.0..1.0)));
    let (_, saved) = fc.forward_eval_array(&x);
    let mut grads = LinearGrads::default();
    let dx = fc.backward_array(&x, &saved, &dy, &mut grads).unwrap();
    let loss = |fc: &Linear<5, 7, f64>, x: &[[f64; 5]; 4]| -> f64 {
        let (y, _) = fc.forward_eval_array(x);
        y.as_flattened()
            .iter()
            .zip(dy.as_flattened())
            .map(|(y, d)| y * d)
            .sum()
    };
    for i in 0..2 {
        for j in 0..fc.parameter(i).len() {
            let numeric = derivative(
                &mut |h| {
                    let mut f = fc.clone();
                    f.parameter_mut(i)[j] += h;
                    loss(&f, &x)
                },
                1e-3,
            );
            assert_close(grads.array(i)[j], numeric, 1e-9, &format!("param {i}[{j}]"));
        }
    }
    for b in 0..4 {
        for k in 0..5 {
            let numeric = derivative(
                &mut |h| {
                    let mut x = x;
                    x[b][k] += h;
                    loss(&fc, &x)
                },
                1e-3,
            );
            assert_close(dx[b][k], numeric, 1e-9, &format!("dx[{b}][{k}]"));
        }
    }
}

#[test]
fn linear_errors_change_nothing() {
    let mut fc = Linear::<3, 2, f64>::new();
    init_seeded(&mut fc, 1);
    let before = fc.clone();
    let mut y = [[9.0; 2]; 2];
    let err = fc.forward_train(&[[1.0; 3]; 3], &mut y).unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "y",
            expected: 3,
            found: 2
        }
    );
    assert_eq!(y, [[9.0; 2]; 2]);
    let saved = fc.forward_train(&[[1.0; 3]; 2], &mut y).unwrap();
    let mut grads = LinearGrads::default();
    let mut dx = [[5.0; 3]; 3];
    let err = fc.backward(&[[1.0; 3]; 3], &saved, &[[1.0; 2]; 3], &mut dx, &mut grads);
    assert_eq!(
        err,
        Err(NormError::SavedRowsMismatch {
            expected: 2,
            found: 3
        })
    );
    assert_eq!(dx, [[5.0; 3]; 3]);
    assert_eq!(grads, LinearGrads::default());
    assert_eq!(fc, before);
}

#[test]
fn seeded_initialization_is_pytorchs_range_and_reproducible() {
    let mut a = Linear::<16, 32, f64>::new();
    let mut b = Linear::<16, 32, f64>::new();
    init_seeded(&mut a, 42);
    init_seeded(&mut b, 42);
    assert_eq!(a, b, "same seed, same parameters");
    init_seeded(&mut b, 43);
    assert_ne!(a, b, "another seed, other parameters");
    // kaiming_uniform_(a = sqrt(5)): bound 1 / sqrt(fan_in) = 0.25, bias alike.
    let all: Vec<f64> = a
        .weight
        .as_flattened()
        .iter()
        .chain(&a.bias)
        .copied()
        .collect();
    assert!(all.iter().all(|v| v.abs() < 0.25));
    assert!(
        all.iter().any(|v| v.abs() > 0.2),
        "values spread over the range"
    );
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!(mean.abs() < 0.03, "mean {mean}");
}

#[test]
fn cross_entropy_value_gradient_and_errors() {
    // Equal logits: the loss is ln(C) whatever the target.
    let mut grad = [[0.0; 4]; 2];
    let loss = cross_entropy(&[[0.3; 4]; 2], &[0, 3], &mut grad).unwrap();
    assert_close(loss, 4f64.ln(), 1e-15, "ln 4");
    assert_close(grad[0][0], (0.25 - 1.0) / 2.0, 1e-15, "grad at target");
    assert_close(grad[0][1], 0.25 / 2.0, 1e-15, "grad elsewhere");

    let mut r = rng(5);
    let logits: [[f64; 5]; 3] =
        std::array::from_fn(|_| std::array::from_fn(|_| r.random_range(-30.0..30.0)));
    let targets = [4, 0, 2];
    let mut grad = [[0.0; 5]; 3];
    cross_entropy(&logits, &targets, &mut grad).unwrap();
    for b in 0..3 {
        for c in 0..5 {
            let numeric = derivative(
                &mut |h| {
                    let mut z = logits;
                    z[b][c] += h;
                    cross_entropy(&z, &targets, &mut [[0.0; 5]; 3]).unwrap()
                },
                1e-3,
            );
            assert_close(grad[b][c], numeric, 1e-9, &format!("dlogits[{b}][{c}]"));
        }
    }

    let mut grad = [[7.0; 3]; 2];
    let err = cross_entropy(&[[0.0; 3]; 2], &[1, 3], &mut grad).unwrap_err();
    assert_eq!(
        err,
        NormError::TargetOutOfRange {
            row: 1,
            target: 3,
            classes: 3
        }
    );
    assert_eq!(
        err.to_string(),
        "target 3 of row 1 is not a class index: there are 3 classes (0..3)"
    );
    assert_eq!(grad, [[7.0; 3]; 2], "nothing written on error");
    let err = cross_entropy(&[[0.0; 3]; 2], &[1], &mut grad).unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "targets",
            expected: 2,
            found: 1
        }
    );
    let err = cross_entropy::<f64, 3>(&[], &[], &mut []).unwrap_err();
    assert_eq!(err, NormError::EmptyBatch);
}

#[test]
fn mse_value_gradient_and_errors() {
    let mut grad = [[0.0; 2]; 2];
    let loss = mse(
        &[[1.0, 2.0], [3.0, 4.0]],
        &[[0.0, 2.0], [3.0, 6.0]],
        &mut grad,
    )
    .unwrap();
    assert_eq!(loss, (1.0 + 4.0) / 4.0);
    assert_eq!(grad, [[0.5, 0.0], [0.0, -1.0]]);
    let mut grad = [[7.0; 2]; 1];
    let err = mse(&[[1.0, 2.0]; 2], &[[0.0; 2]; 2], &mut grad).unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "grad",
            expected: 2,
            found: 1
        }
    );
    assert_eq!(grad, [[7.0; 2]; 1]);
}

#[test]
fn sgd_with_momentum_follows_pytorchs_form() {
    // v = mu v + g; p -= lr v, worked by hand.
    let mut fc = Linear::<1, 1, f64>::new();
    fc.weight = [[1.0]];
    let grads = LinearGrads {
        weight: [[0.5]],
        bias: [-1.0],
    };
    let mut sgd = Sgd::new(0.1, 0.9);
    sgd.step(&mut fc, &grads);
    assert_close(fc.weight[0][0], 0.95, 1e-15, "step 1");
    assert_close(fc.bias[0], 0.1, 1e-15, "bias step 1");
    sgd.step(&mut fc, &grads);
    assert_close(
        fc.weight[0][0],
        0.95 - 0.1 * (0.9 * 0.5 + 0.5),
        1e-15,
        "step 2",
    );
    assert_close(fc.bias[0], 0.1 + 0.1 * (0.9 + 1.0), 1e-15, "bias step 2");
}

#[test]
fn adam_matches_the_textbook_form_with_pytorchs_defaults() {
    let mut fc = Linear::<3, 2, f64>::new();
    init_seeded(&mut fc, 9);
    let mut reference: Vec<f64> = fc
        .weight
        .as_flattened()
        .iter()
        .chain(&fc.bias)
        .copied()
        .collect();
    let (mut m, mut v) = (vec![0.0; 8], vec![0.0; 8]);
    let mut adam = Adam::new(1e-3);
    let mut r = rng(11);
    for t in 1..=5 {
        let mut grads = LinearGrads::default();
        for i in 0..2 {
            for g in grads.array_mut(i) {
                *g = r.random_range(-1.0..1.0);
            }
        }
        let g: Vec<f64> = grads
            .weight
            .as_flattened()
            .iter()
            .chain(&grads.bias)
            .copied()
            .collect();
        adam.step(&mut fc, &grads);
        for k in 0..8 {
            m[k] = 0.9 * m[k] + 0.1 * g[k];
            v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
            let m_hat = m[k] / (1.0 - 0.9f64.powi(t));
            let v_hat = v[k] / (1.0 - 0.999f64.powi(t));
            reference[k] -= 1e-3 * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
    assert_eq!(adam.steps(), 5);
    let ours: Vec<f64> = fc
        .weight
        .as_flattened()
        .iter()
        .chain(&fc.bias)
        .copied()
        .collect();
    for (k, (a, b)) in ours.iter().zip(&reference).enumerate() {
        assert_close(*a, *b, 1e-12, &format!("parameter {k}"));
    }
}

#[test]
fn mse_of_a_wide_f32_batch_is_as_accurate_as_pytorchs() {
    // An autoencoder's loss: 32 rows of 640 values, reconstruction errors
    // of every size. Against the exact sum (f64 of the same f32 values), the
    // relative error must be within PyTorch's (1.8e-8 for its cascade sum;
    // a running f32 sum was 3.8e-6).
    let mut s = 7_u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let prediction: Vec<[f32; 640]> = (0..32)
        .map(|_| std::array::from_fn(|_| next() * 4.0 - 2.0))
        .collect();
    let target: Vec<[f32; 640]> = (0..32)
        .map(|_| std::array::from_fn(|_| next() * 4.0 - 2.0))
        .collect();
    let mut grad = vec![[0.0_f32; 640]; 32];
    let loss = mse(&prediction, &target, &mut grad).unwrap();
    let exact: f64 = prediction
        .iter()
        .flatten()
        .zip(target.iter().flatten())
        .map(|(p, t)| (f64::from(*p) - f64::from(*t)).powi(2))
        .sum::<f64>()
        / (32.0 * 640.0);
    let relative = (f64::from(loss) - exact).abs() / exact;
    assert!(relative <= 1.8e-8, "relative error {relative:e}");
}
