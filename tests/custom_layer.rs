//! A layer written outside the crate, as a user would (README, "Your own
//! layer"): a learnable per-feature scale `y = x * weight`, put into a
//! `#[network]` after a `Linear` and a batch norm, before another `Linear`. Its
//! backward must match finite differences, SGD must move it as its gradient
//! says (against a closed-form answer), its state-dict key must nest under
//! its field name, and the optimizers must reach its parameter through the
//! network's numbering.

mod common;

use constnorm::nn::{Adam, Linear, SavedRows, Sgd, init_seeded, mse};
use constnorm::{
    Float, Gradients, Key, Layer, Network, NormError, Parameters, Row, StateDict, Visit,
    VisitCounter, VisitCounterMut, VisitMut, WeightGrads, network, normalize,
};
use rand::{RngExt, SeedableRng};
use std::collections::BTreeMap;

// ---- the user's layer --------------------------------------------------------

/// `y = x * weight`, one learnable scale per feature, weight 1 at the start.
#[derive(Clone, Debug, PartialEq)]
struct Scale<const N: usize, T: Float = f32> {
    weight: [T; N],
}

impl<const N: usize, T: Float> Default for Scale<N, T> {
    fn default() -> Self {
        Self {
            weight: [T::ONE; N],
        }
    }
}

impl<const N: usize, T: Float> Parameters for Scale<N, T> {
    type Scalar = T;
    type Grads = WeightGrads<[T; N]>;

    fn parameter(&self, i: usize) -> &[T] {
        match i {
            0 => &self.weight,
            _ => &[],
        }
    }

    fn parameter_mut(&mut self, i: usize) -> &mut [T] {
        match i {
            0 => &mut self.weight,
            _ => &mut [],
        }
    }

    fn reset_parameters<R: constnorm::rand::Rng + ?Sized>(&mut self, _: &mut R) {
        self.weight = [T::ONE; N];
    }
}

impl<const N: usize, T: Float> Layer for Scale<N, T> {
    type Input = [T; N];
    type Output = [T; N];
    type Saved = SavedRows;

    fn forward_train(&mut self, x: &[[T; N]], y: &mut [[T; N]]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    fn forward_eval(&self, x: &[[T; N]], y: &mut [[T; N]]) -> Result<SavedRows, NormError> {
        let saved = SavedRows::check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            for ((y, x), w) in y.iter_mut().zip(x).zip(&self.weight) {
                *y = *x * *w;
            }
        }
        Ok(saved)
    }

    fn backward(
        &self,
        x: &[[T; N]],
        saved: &SavedRows,
        dy: &[[T; N]],
        dx: &mut [[T; N]],
        grads: &mut WeightGrads<[T; N]>,
    ) -> Result<(), NormError> {
        saved.check_backward(x.len(), dy.len(), dx.len())?;
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            for k in 0..N {
                dx[k] = dy[k] * self.weight[k];
                grads.weight[k] += dy[k] * x[k];
            }
        }
        Ok(())
    }
}

impl<const N: usize, T: Float> StateDict for Scale<N, T> {
    type Scalar = T;

    fn visit_arrays(&self, f: &mut Visit<'_, T>) {
        f(&Key::leaf("weight"), <[T; N]>::SHAPE, &self.weight);
    }

    fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, T>) {
        f(&Key::leaf("weight"), <[T; N]>::SHAPE, &mut self.weight);
    }

    fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

    fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
}

// ---- the networks --------------------------------------------------------------

/// Batch norm without its own affine parameters, so the scale after it is the
/// only per-feature weight.
#[normalize(batch, dims = 4, affine = false, dtype = f64)]
struct Bn4;

#[network]
#[derive(Clone, Debug, Default)]
struct Net {
    fc1: Linear<3, 4, f64>,
    bn: Bn4,
    scale: Scale<4, f64>,
    fc2: Linear<4, 2, f64>,
}

/// The same layers under `torch.nn.Sequential`'s positional keys.
#[network(sequential)]
#[derive(Default)]
struct SequentialNet {
    fc1: Linear<3, 4, f64>,
    bn: Bn4,
    scale: Scale<4, f64>,
    fc2: Linear<4, 2, f64>,
}

/// Where `Net` puts the scale's weight among its parameter arrays: after
/// `fc1`'s weight and bias (the batch norm has none).
const SCALE_WEIGHT: usize = 2;

fn random<const N: usize, const B: usize>(rng: &mut impl rand::Rng, range: f64) -> [[f64; N]; B] {
    std::array::from_fn(|_| std::array::from_fn(|_| rng.random_range(-range..range)))
}

/// A network with random parameters: `fc1` and `fc2` from PyTorch's
/// initialization, the scale and the running statistics away from their
/// defaults, so that neither train nor eval mode sees a trivial layer.
fn random_net(seed: u64) -> Net {
    let mut net = Net::default();
    init_seeded(&mut net, seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 100);
    net.scale.weight = std::array::from_fn(|_| rng.random_range(0.5..2.0));
    net.bn.running_mean = std::array::from_fn(|_| rng.random_range(-0.5..0.5));
    net.bn.running_var = std::array::from_fn(|_| rng.random_range(0.5..2.0));
    net
}

/// `sum(y * r)` for fixed weights `r`, whose gradient with respect to `y` is `r`.
fn probe<const B: usize>(net: &Net, x: &[[f64; 3]; B], r: &[[f64; 2]; B], train: bool) -> f64 {
    let mut ws = NetWorkspace::<B>::new();
    let y = if train {
        net.clone().forward_train(x, &mut ws).unwrap()
    } else {
        net.forward_eval(x, &mut ws).unwrap()
    };
    let values = y.as_flattened().iter().zip(r.as_flattened());
    values.map(|(y, r)| y * r).sum()
}

// ---- (a) finite differences ----------------------------------------------------

#[test]
fn backward_through_the_custom_layer_matches_finite_differences() {
    let mut checked = 0;
    for (seed, train) in [(1_u64, true), (2, false), (3, true), (4, false)] {
        let net = random_net(seed);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed + 200);
        let x: [[f64; 3]; 5] = random(&mut rng, 2.0);
        let r: [[f64; 2]; 5] = random(&mut rng, 1.0);

        let mut ws = NetWorkspace::<5>::new();
        if train {
            net.clone().forward_train(&x, &mut ws).unwrap();
        } else {
            net.forward_eval(&x, &mut ws).unwrap();
        }
        let mut grads = NetGrads::default();
        let dx = *net.backward(&x, &mut ws, &r, &mut grads).unwrap();

        let check = |analytic: f64, (numeric, bound): (f64, f64), what: &str| {
            let err = (analytic - numeric).abs() / numeric.abs().max(1.0);
            assert!(
                err < 1e-7 && bound < 1e-6,
                "seed {seed} train {train} {what}: backward {analytic} vs finite difference {numeric} (bound {bound:e})"
            );
        };
        // The custom layer's own parameter, through its own field...
        for k in 0..4 {
            let numeric = common::fd::richardson(
                |h| {
                    let mut n = net.clone();
                    n.scale.weight[k] += h;
                    probe(&n, &x, &r, train)
                },
                1e-4,
            );
            check(
                grads.scale.weight[k],
                numeric,
                &format!("scale.weight[{k}]"),
            );
            checked += 1;
        }
        // ...and every parameter of the network through the numbering the
        // optimizers use, which includes the scale's (array SCALE_WEIGHT).
        for i in 0..<NetGrads as Gradients<f64>>::ARRAYS {
            for j in 0..net.parameter(i).len() {
                let numeric = common::fd::richardson(
                    |h| {
                        let mut n = net.clone();
                        n.parameter_mut(i)[j] += h;
                        probe(&n, &x, &r, train)
                    },
                    1e-4,
                );
                check(grads.array(i)[j], numeric, &format!("parameter {i}[{j}]"));
                checked += 1;
            }
        }
        // The input: its gradient passes through the scale's dx.
        for b in 0..5 {
            for k in 0..3 {
                let numeric = common::fd::richardson(
                    |h| {
                        let mut x = x;
                        x[b][k] += h;
                        probe(&net, &x, &r, train)
                    },
                    1e-4,
                );
                check(dx[b][k], numeric, &format!("x[{b}][{k}]"));
                checked += 1;
            }
        }
    }
    // 4 cases x (4 scale weights + 12 + 4 + 4 + 8 + 2 parameters + 15 inputs).
    assert_eq!(checked, 4 * (4 + 30 + 15));
}

#[test]
fn the_custom_layer_alone_matches_finite_differences_and_accumulates() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut layer = Scale::<3, f64> {
        weight: [0.5, -1.5, 2.0],
    };
    let x: [[f64; 3]; 4] = random(&mut rng, 2.0);
    let r: [[f64; 3]; 4] = random(&mut rng, 1.0);
    let loss = |layer: &Scale<3, f64>, x: &[[f64; 3]; 4]| {
        let (y, _) = layer.forward_eval_array(x);
        let values = y.as_flattened().iter().zip(r.as_flattened());
        values.map(|(y, r)| y * r).sum::<f64>()
    };
    let (_, saved) = layer.forward_train_array(&x);
    let mut grads = WeightGrads::default();
    let dx = layer.backward_array(&x, &saved, &r, &mut grads).unwrap();
    for k in 0..3 {
        let (numeric, _) = common::fd::richardson(
            |h| {
                let mut l = layer.clone();
                l.weight[k] += h;
                loss(&l, &x)
            },
            1e-4,
        );
        assert!((grads.weight[k] - numeric).abs() < 1e-9, "weight[{k}]");
        for b in 0..4 {
            let (numeric, _) = common::fd::richardson(
                |h| {
                    let mut x = x;
                    x[b][k] += h;
                    loss(&layer, &x)
                },
                1e-4,
            );
            assert!((dx[b][k] - numeric).abs() < 1e-9, "x[{b}][{k}]");
        }
    }
    // A second backward adds to the gradients and writes dx afresh.
    let once = grads.weight;
    let dx_again = layer.backward_array(&x, &saved, &r, &mut grads).unwrap();
    assert_eq!(dx_again, dx);
    for (twice, once) in grads.weight.iter().zip(&once) {
        assert!((twice - 2.0 * once).abs() < 1e-12);
    }
    // A refused call changes nothing.
    let before = grads.weight;
    let mut dx_short = [[9.0; 3]; 3];
    let err = layer
        .backward(&x, &saved, &r[..3], &mut dx_short, &mut grads)
        .unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "dy",
            expected: 4,
            found: 3
        }
    );
    assert_eq!(grads.weight, before);
    assert_eq!(dx_short, [[9.0; 3]; 3]);
    let mut y = [[9.0; 3]; 2];
    assert_eq!(
        layer.forward_train(&[], &mut y[..0]),
        Err(NormError::EmptyBatch)
    );
}

// ---- (b) SGD against a closed-form answer -----------------------------------

#[normalize(batch, dims = 4, affine = false, dtype = f64)]
struct KnownBn;

/// Batch norm then the scale: `y[b][k] = xhat[b][k] * w[k]`.
#[network]
#[derive(Default)]
struct Known {
    bn: KnownBn,
    scale: Scale<4, f64>,
}

#[test]
fn sgd_moves_the_scale_as_its_gradient_says() {
    // Against targets `xhat * w_star`, the mean squared error is
    // `sum_k c[k] (w[k] - w_star[k])^2 / N`, where `c[k] = var / (var + eps)`
    // of channel k (the mean of `xhat^2` over the batch). Its gradient is
    // `2 c[k] (w[k] - w_star[k]) / N`, so each SGD step multiplies
    // `w[k] - w_star[k]` by `1 - 2 lr c[k] / N`.
    const B: usize = 6;
    const N: f64 = 4.0;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let x: [[f64; 4]; B] = random(&mut rng, 3.0);
    let w_star = [2.0, 0.5, -1.0, 3.0];
    let lr = 1.0;
    let mut c = [0.0; 4];
    let mut targets = [[0.0; 4]; B];
    for k in 0..4 {
        let mean = x.iter().map(|row| row[k]).sum::<f64>() / B as f64;
        let var = x.iter().map(|row| (row[k] - mean).powi(2)).sum::<f64>() / B as f64;
        c[k] = var / (var + KnownBn::EPS);
        for (t, row) in targets.iter_mut().zip(&x) {
            t[k] = (row[k] - mean) / (var + KnownBn::EPS).sqrt() * w_star[k];
        }
    }

    let mut net = Known::default();
    let mut ws = KnownWorkspace::<B>::new();
    let mut grads = KnownGrads::default();
    let mut sgd = Sgd::new(lr, 0.0);
    let mut gap: [f64; 4] = std::array::from_fn(|k| 1.0 - w_star[k]);
    let mut losses = Vec::new();
    for step in 0..5 {
        let y = net.forward_train(&x, &mut ws).unwrap();
        let mut dy = [[0.0; 4]; B];
        let loss = mse(y, &targets, &mut dy).unwrap();
        let expected: f64 = (0..4).map(|k| c[k] * gap[k] * gap[k]).sum::<f64>() / N;
        assert!(
            (loss - expected).abs() < 1e-12 * expected,
            "step {step}: loss {loss}, closed form {expected}"
        );
        losses.push(loss);
        grads.set_zero();
        net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
        for k in 0..4 {
            let slope = 2.0 * c[k] * gap[k] / N;
            assert!(
                (grads.scale.weight[k] - slope).abs() < 1e-12,
                "step {step} k {k}"
            );
        }
        sgd.step(&mut net, &grads);
        for k in 0..4 {
            gap[k] *= 1.0 - 2.0 * lr * c[k] / N;
            let w = w_star[k] + gap[k];
            assert!(
                (net.scale.weight[k] - w).abs() < 1e-12,
                "step {step}: weight {k}"
            );
        }
    }
    assert!(losses.windows(2).all(|l| l[1] < l[0]), "{losses:?}");
    assert!(losses[4] < 0.1 * losses[0], "{losses:?}");
}

#[test]
fn one_sgd_step_of_the_whole_network_is_minus_lr_times_the_gradient() {
    let mut net = random_net(5);
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let x: [[f64; 3]; 8] = random(&mut rng, 2.0);
    let targets: [[f64; 2]; 8] = random(&mut rng, 1.0);
    let mut ws = NetWorkspace::<8>::new();
    let mut grads = NetGrads::default();
    let mut sgd = Sgd::new(0.05, 0.0);
    let mut dy = [[0.0; 2]; 8];
    let mut losses = Vec::new();
    for _ in 0..10 {
        let before = net.scale.weight;
        losses.push(mse(net.forward_train(&x, &mut ws).unwrap(), &targets, &mut dy).unwrap());
        grads.set_zero();
        net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
        assert!(grads.scale.weight.iter().all(|g| *g != 0.0));
        sgd.step(&mut net, &grads);
        for (k, before) in before.iter().enumerate() {
            let expected = before - 0.05 * grads.scale.weight[k];
            assert_eq!(net.scale.weight[k], expected);
        }
    }
    assert!(losses.windows(2).all(|l| l[1] < l[0]), "{losses:?}");
}

// ---- (c) state-dict keys -----------------------------------------------------

#[test]
fn the_custom_layers_key_nests_under_its_field_name() {
    let mut net = random_net(6);
    let mut arrays = BTreeMap::new();
    let mut order = Vec::new();
    net.visit_arrays(&mut |key, shape, values| {
        order.push(key.to_string());
        arrays.insert(
            key.to_string(),
            (key.last(), shape.to_vec(), values.to_vec()),
        );
    });
    assert_eq!(
        order,
        [
            "fc1.weight",
            "fc1.bias",
            "bn.running_mean",
            "bn.running_var",
            "scale.weight",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    let (last, shape, values) = &arrays["scale.weight"];
    assert_eq!((*last, shape.as_slice()), ("weight", &[4][..]));
    assert_eq!(values.as_slice(), &net.scale.weight);

    // Writing through the network's visitor reaches the layer.
    net.visit_arrays_mut(&mut |key, _, values| {
        if key.to_string() == "scale.weight" {
            values.copy_from_slice(&[4.0, 3.0, 2.0, 1.0]);
        }
    });
    assert_eq!(net.scale.weight, [4.0, 3.0, 2.0, 1.0]);

    // The scale has no counters; the batch norm's is still nested.
    let mut counters = Vec::new();
    net.visit_counters(&mut |key, _| counters.push(key.to_string()));
    assert_eq!(counters, ["bn.num_batches_tracked"]);

    let mut positional = Vec::new();
    SequentialNet::default().visit_arrays(&mut |key, _, _| positional.push(key.to_string()));
    assert!(
        positional.contains(&"2.weight".to_owned()),
        "{positional:?}"
    );
}

// ---- (d) optimizers ------------------------------------------------------------

#[test]
fn the_optimizers_update_the_custom_layers_parameter() {
    let mut net = random_net(8);
    assert_eq!(<NetGrads as Gradients<f64>>::ARRAYS, 5);
    assert!(std::ptr::eq(
        net.parameter(SCALE_WEIGHT),
        &net.scale.weight[..]
    ));
    let mut grads = NetGrads::default();
    grads.scale.weight = [1.0, -2.0, 0.5, 0.0];
    assert_eq!(grads.array(SCALE_WEIGHT), &grads.scale.weight);

    // SGD with momentum 0.9: v = g, then v = 0.9 g + g.
    let start = net.clone();
    let mut sgd = Sgd::new(0.1, 0.9);
    sgd.step(&mut net, &grads);
    sgd.step(&mut net, &grads);
    for k in 0..4 {
        let g = grads.scale.weight[k];
        let expected = start.scale.weight[k] - 0.1 * g - 0.1 * (0.9 * g + g);
        assert!((net.scale.weight[k] - expected).abs() < 1e-15, "weight {k}");
    }
    // Only the scale had a gradient: every other parameter stayed put.
    for i in (0..5).filter(|&i| i != SCALE_WEIGHT) {
        assert_eq!(net.parameter(i), start.parameter(i), "array {i}");
    }

    // Adam's first step moves every parameter with a gradient by about lr,
    // against the gradient's sign.
    let mut net = start.clone();
    let mut adam = Adam::new(0.01);
    adam.step(&mut net, &grads);
    for k in 0..4 {
        let moved = net.scale.weight[k] - start.scale.weight[k];
        let g = grads.scale.weight[k];
        let expected = if g == 0.0 { 0.0 } else { -0.01 * g.signum() };
        assert!((moved - expected).abs() < 1e-8, "weight {k}: moved {moved}");
    }
}
