//! Sequence layers in `#[network]`: a per-step `Linear` and layer norm, a
//! sequence-wise batch norm (statistics over batch and time), the last step
//! and the mean over steps, composed with a GRU and an LSTM. Checked
//! against their definitions (PyTorch applies `Linear` and `LayerNorm` to
//! the last dim of `(N, S, F)`; `BatchNorm1d` on `(N*S, F)` sees every step
//! of every sequence) and, for the whole network, finite differences.

mod common;

use common::fd::richardson;
use constnorm::nn::{Gru, LastStep, Linear, Lstm, MeanOverSteps, PerStep, init_seeded};
use constnorm::{Gradients, Layer, Network, NormError, Parameters, network, normalize};

#[normalize(layer, dims = 6, dtype = f64)]
struct Ln6;

#[normalize(batch, dims = 6, dtype = f64)]
struct Bn6;

const S: usize = 4;

#[network]
#[derive(Default)]
struct Net {
    gru: Gru<3, 6, S, f64>,
    bn: PerStep<Bn6, S>,
    lstm: Lstm<6, 6, S, f64>,
    ln: PerStep<Ln6, S>,
    fc: PerStep<Linear<6, 6, f64>, S>,
    mean: MeanOverSteps<[f64; 6], S>,
    head: Linear<6, 2, f64>,
}

fn inputs() -> [[[f64; 3]; S]; 5] {
    std::array::from_fn(|n| {
        std::array::from_fn(|t| std::array::from_fn(|j| ((n * 12 + t * 3 + j) as f64 * 0.37).sin()))
    })
}

fn network() -> Net {
    let mut net = Net::default();
    init_seeded(&mut net, 11);
    net.bn.layer.running_mean = [0.1, -0.2, 0.3, 0.0, 0.2, -0.1];
    net.bn.layer.running_var = [1.2, 0.8, 1.5, 0.9, 1.1, 0.7];
    net.ln.layer.weight = [1.1, 0.9, -0.7, 1.3, 0.6, 1.0];
    net
}

/// `sum(y * r)` after a forward pass.
fn probe(net: &mut Net, x: &[[[f64; 3]; S]; 5], r: &[[f64; 2]; 5], train: bool) -> f64 {
    let mut ws = NetWorkspace::<5>::new();
    let y = if train {
        net.forward_train(x, &mut ws).unwrap()
    } else {
        net.forward_eval(x, &mut ws).unwrap()
    };
    y.iter()
        .zip(r)
        .map(|(y, r)| y.iter().zip(r).map(|(a, b)| a * b).sum::<f64>())
        .sum()
}

#[test]
fn a_sequence_network_backpropagates_through_time_exactly() {
    let x = inputs();
    let r: [[f64; 2]; 5] = std::array::from_fn(|n| [(n as f64).cos(), (n as f64 * 0.5).sin()]);
    for train in [true, false] {
        let mut net = network();
        let mut ws = NetWorkspace::<5>::new();
        let mut grads = NetGrads::default();
        if train {
            net.forward_train(&x, &mut ws).unwrap();
        } else {
            net.forward_eval(&x, &mut ws).unwrap();
        }
        net.backward(&x, &mut ws, &r, &mut grads).unwrap();
        let dx = *ws.input_grad();
        let net = network();
        let close = |analytic: f64, (numeric, bound): (f64, f64), what: &str| {
            assert!(
                (analytic - numeric).abs() <= 1e-7 * numeric.abs().max(1.0) + bound,
                "train {train}, {what}: backward {analytic} vs finite difference {numeric}"
            );
        };
        let mut checked = 0;
        for i in 0..<NetGrads as Gradients<f64>>::ARRAYS {
            // Every third entry of every array keeps the test quick.
            for j in (0..net.parameter(i).len()).step_by(3) {
                let numeric = richardson(
                    |h| {
                        let mut n = network();
                        n.parameter_mut(i)[j] += h;
                        probe(&mut n, &x, &r, train)
                    },
                    1e-4,
                );
                close(grads.array(i)[j], numeric, &format!("parameter {i}[{j}]"));
                checked += 1;
            }
        }
        for (n, t, j) in [(0, 0, 0), (1, 2, 1), (4, 3, 2), (2, 1, 0)] {
            let numeric = richardson(
                |h| {
                    let mut xh = x;
                    xh[n][t][j] += h;
                    probe(&mut network(), &xh, &r, train)
                },
                1e-4,
            );
            close(dx[n][t][j], numeric, &format!("dx[{n}][{t}][{j}]"));
            checked += 1;
        }
        assert!(checked > 100, "{checked} checks");
    }
}

#[test]
fn per_step_layers_are_the_layer_at_every_step() {
    let net = network();
    let x: [[[f64; 6]; S]; 3] = std::array::from_fn(|n| {
        std::array::from_fn(|t| std::array::from_fn(|j| ((n * 24 + t * 6 + j) as f64).cos()))
    });
    let mut per_step = [[[0.0; 6]; S]; 3];
    net.fc.forward_eval(&x, &mut per_step).unwrap();
    let mut ln = [[[0.0; 6]; S]; 3];
    net.ln.forward_eval(&x, &mut ln).unwrap();
    for n in 0..3 {
        for t in 0..S {
            let mut one = [[0.0; 6]];
            net.fc.layer.forward_eval(&[x[n][t]], &mut one).unwrap();
            assert_eq!(one[0], per_step[n][t]);
            // PyTorch's LayerNorm of one step: (v - mean) / sqrt(var + eps) * w + b.
            let v = x[n][t];
            let mean = v.iter().sum::<f64>() / 6.0;
            let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / 6.0;
            for j in 0..6 {
                let want = (v[j] - mean) / (var + 1e-5).sqrt() * net.ln.layer.weight[j];
                assert!((ln[n][t][j] - want).abs() < 1e-12, "ln[{n}][{t}][{j}]");
            }
        }
    }
}

#[test]
fn batch_norm_per_step_uses_statistics_over_batch_and_time() {
    let mut bn = PerStep::<Bn6, S>::default();
    let x: [[[f64; 6]; S]; 2] = std::array::from_fn(|n| {
        std::array::from_fn(|t| {
            std::array::from_fn(|j| (n * 3 + t * 2 + j) as f64 * 0.5 + (t as f64).sin())
        })
    });
    let mut y = [[[0.0; 6]; S]; 2];
    bn.forward_train(&x, &mut y).unwrap();
    for j in 0..6 {
        let values: Vec<f64> = x
            .iter()
            .flat_map(|s| s.iter().map(move |step| step[j]))
            .collect();
        let count = values.len() as f64;
        let mean = values.iter().sum::<f64>() / count;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
        // PyTorch: running = 0.9 * running + 0.1 * batch (unbiased variance).
        assert!((bn.layer.running_mean[j] - 0.1 * mean).abs() < 1e-12);
        let unbiased = var * count / (count - 1.0);
        assert!((bn.layer.running_var[j] - (0.9 + 0.1 * unbiased)).abs() < 1e-12);
        for (s, ys) in x.iter().zip(&y) {
            for (step, ystep) in s.iter().zip(ys) {
                let want = (step[j] - mean) / (var + 1e-5).sqrt();
                assert!((ystep[j] - want).abs() < 1e-12);
            }
        }
    }
    // One sequence of S >= 2 steps has enough values per channel.
    assert_eq!(<PerStep<Bn6, S> as Layer>::MIN_TRAIN_ROWS, 1);
}

#[test]
fn last_step_and_mean_pass_gradients_to_the_right_steps() {
    let x = [[[1.0, 2.0], [3.0, 4.0], [5.0, 7.0]]];
    let (mut y, mut dx) = ([[0.0; 2]], [[[9.0; 2]; 3]]);
    let last = LastStep::<[f64; 2], 3>::new();
    let saved = last.forward_eval(&x, &mut y).unwrap();
    assert_eq!(y, [[5.0, 7.0]]);
    last.backward(&x, &saved, &[[1.0, -1.0]], &mut dx, &mut Default::default())
        .unwrap();
    assert_eq!(dx, [[[0.0, 0.0], [0.0, 0.0], [1.0, -1.0]]]);
    let mean = MeanOverSteps::<[f64; 2], 3>::new();
    let saved = mean.forward_eval(&x, &mut y).unwrap();
    assert_eq!(y, [[3.0, 13.0 / 3.0]]);
    mean.backward(&x, &saved, &[[3.0, -6.0]], &mut dx, &mut Default::default())
        .unwrap();
    assert_eq!(dx, [[[1.0, -2.0]; 3]]);
}

#[test]
fn refused_calls_change_nothing() {
    let mut bn = PerStep::<Bn6, S>::default();
    let x = [[[1.0; 6]; S]; 2];
    let mut y = [[[0.0; 6]; S]; 3];
    let err = bn.forward_train(&x, &mut y).unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "y",
            expected: 2,
            found: 3
        }
    );
    assert_eq!(bn.layer.running_mean, [0.0; 6]);
    assert_eq!(bn.layer.num_batches_tracked, 0);
    assert_eq!(y, [[[0.0; 6]; S]; 3]);

    let gru = Gru::<3, 6, S, f64>::new();
    let (x, h0) = ([[[0.5; 3]; S]; 2], [[[0.1; 6]; 1]; 1]);
    let (mut out, mut last) = ([[[7.0; 6]; S]; 2], [[[7.0; 6]; 1]; 2]);
    let err = gru
        .forward_sequence(&x, &h0, &mut out, &mut last)
        .unwrap_err();
    assert_eq!(
        err,
        NormError::RowCountMismatch {
            argument: "h0",
            expected: 2,
            found: 1
        }
    );
    assert_eq!(out, [[[7.0; 6]; S]; 2]);
}
