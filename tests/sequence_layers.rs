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

/// The masked batch norm over time: finite differences of a training and
/// an inference pass with lengths 4, 0 and 2 (a zero length and padding
/// that would move the statistics if counted), the layer as a plain batch
/// norm over every step when all lengths are full, and the refusals.
mod masked_batch_norm {
    use super::*;
    use constnorm::AffineGrads;
    use constnorm::nn::MaskedBatchNorm;

    type Bn = MaskedBatchNorm<3, 4, f64>;
    type Batch = Vec<[[f64; 3]; 4]>;
    const LENGTHS: [usize; 3] = [4, 0, 2];

    fn inputs() -> (Batch, Batch) {
        let v = |i: usize, s: f64| (i as f64 * 0.73 + s).sin() * 2.0;
        let x = (0..3)
            .map(|n| {
                std::array::from_fn(|t| {
                    std::array::from_fn(|c| {
                        v(n * 12 + t * 3 + c, 0.1) + 40.0 * (t >= LENGTHS[n]) as u8 as f64
                    })
                })
            })
            .collect();
        let dy = (0..3)
            .map(|n| std::array::from_fn(|t| std::array::from_fn(|c| v(n * 12 + t * 3 + c, 1.7))))
            .collect();
        (x, dy)
    }

    fn layer() -> Bn {
        let mut bn = Bn::new();
        bn.weight = [1.5, -0.5, 0.8];
        bn.bias = [0.1, 0.2, -0.3];
        bn.running_mean = [0.4, -0.1, 0.2];
        bn.running_var = [1.3, 0.7, 2.1];
        bn
    }

    /// `sum(y * dy)` of a masked pass.
    fn loss(bn: &Bn, x: &[[[f64; 3]; 4]], dy: &[[[f64; 3]; 4]], train: bool) -> f64 {
        let mut y = vec![[[0.0; 3]; 4]; 3];
        if train {
            bn.forward_train_masked_deferred(x, &LENGTHS, &mut y)
                .unwrap();
        } else {
            bn.forward_eval_masked(x, &LENGTHS, &mut y).unwrap();
        }
        y.iter()
            .flatten()
            .flatten()
            .zip(dy.iter().flatten().flatten())
            .map(|(a, b)| a * b)
            .sum()
    }

    #[test]
    fn gradients_match_finite_differences_in_both_modes() {
        let (x, dy) = inputs();
        for train in [true, false] {
            let mut bn = layer();
            let mut y = vec![[[0.0; 3]; 4]; 3];
            let saved = if train {
                bn.forward_train_masked(&x, &LENGTHS, &mut y).unwrap()
            } else {
                bn.forward_eval_masked(&x, &LENGTHS, &mut y).unwrap()
            };
            // Past each length the output is 0, and padding gets no gradient.
            assert_eq!(y[1], [[0.0; 3]; 4]);
            assert_eq!(y[2][2], [0.0; 3]);
            let mut dx = vec![[[9.0; 3]; 4]; 3];
            let mut grads = AffineGrads::<[f64; 3]>::default();
            bn.backward_masked(&x, &LENGTHS, &saved, &dy, &mut dx, &mut grads)
                .unwrap();
            let bn = layer();
            for n in 0..3 {
                for t in 0..4 {
                    for c in 0..3 {
                        let (numeric, bound) = richardson(
                            |h| {
                                let mut x = x.clone();
                                x[n][t][c] += h;
                                loss(&bn, &x, &dy, train)
                            },
                            1e-5,
                        );
                        let got = dx[n][t][c];
                        assert!(
                            (got - numeric).abs() <= 1e-8 * numeric.abs().max(1.0) + bound,
                            "train {train} x[{n}][{t}][{c}]: {got:e} vs {numeric:e}"
                        );
                        if t >= LENGTHS[n] {
                            assert_eq!(got, 0.0);
                        }
                    }
                }
            }
            for (i, ours) in [grads.weight, grads.bias].iter().enumerate() {
                for (c, &got) in ours.iter().enumerate() {
                    let (numeric, bound) = richardson(
                        |h| {
                            let mut bn = layer();
                            bn.parameter_mut(i)[c] += h;
                            loss(&bn, &x, &dy, train)
                        },
                        1e-5,
                    );
                    assert!(
                        (got - numeric).abs() <= 1e-8 * numeric.abs().max(1.0) + bound,
                        "train {train} parameter {i}[{c}]: {got} vs {numeric:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn full_lengths_are_a_batch_norm_over_every_step() {
        // As a Layer (every length 4) it is PerStep of BatchNorm1d(3).
        #[normalize(batch, dims = 3, dtype = f64)]
        struct Plain;
        let (x, dy) = inputs();
        let mut masked = layer();
        let mut plain = PerStep::<Plain, 4>::default();
        plain.layer.weight = masked.weight;
        plain.layer.bias = masked.bias;
        plain.layer.running_mean = masked.running_mean;
        plain.layer.running_var = masked.running_var;
        let (mut a, mut b) = (vec![[[0.0; 3]; 4]; 3], vec![[[0.0; 3]; 4]; 3]);
        let sa = masked.forward_train(&x, &mut a).unwrap();
        let sb = plain.forward_train(&x, &mut b).unwrap();
        let close = |p: &[f64], q: &[f64]| {
            p.iter()
                .zip(q)
                .all(|(p, q)| (p - q).abs() <= 1e-12 * q.abs().max(1.0))
        };
        assert!(close(
            a.as_flattened().as_flattened(),
            b.as_flattened().as_flattened()
        ));
        assert!(close(&masked.running_var, &plain.layer.running_var));
        assert_eq!(masked.num_batches_tracked, 1);
        let (mut da, mut db) = (vec![[[0.0; 3]; 4]; 3], vec![[[0.0; 3]; 4]; 3]);
        let mut ga = AffineGrads::<[f64; 3]>::default();
        let mut gb = Default::default();
        masked.backward(&x, &sa, &dy, &mut da, &mut ga).unwrap();
        plain.backward(&x, &sb, &dy, &mut db, &mut gb).unwrap();
        assert!(close(
            da.as_flattened().as_flattened(),
            db.as_flattened().as_flattened()
        ));
        assert!(close(&ga.weight, gb.array(0)));
    }

    #[test]
    fn refused_calls_change_nothing() {
        let (x, _) = inputs();
        let mut bn = layer();
        let before = bn.clone();
        let mut y = vec![[[7.0; 3]; 4]; 3];
        assert_eq!(
            bn.forward_train_masked(&x, &[1, 0, 0], &mut y),
            Err(NormError::TooFewValuesPerChannel { values: 1 })
        );
        assert_eq!(
            bn.forward_train_masked(&x, &[4, 5, 0], &mut y),
            Err(NormError::LengthOutOfRange {
                row: 1,
                length: 5,
                steps: 4
            })
        );
        assert_eq!(
            bn.forward_eval_masked(&x, &[4, 0], &mut y).map(|_| ()),
            Err(NormError::RowCountMismatch {
                argument: "lengths",
                expected: 3,
                found: 2
            })
        );
        assert_eq!(bn, before);
        assert!(y.iter().flatten().flatten().all(|v| *v == 7.0));
        // A NaN in a valid step would reach the running statistics; one
        // in the padding is not counted.
        let mut bad = x.clone();
        bad[2][3][1] = f64::NAN;
        bn.forward_train_masked(&bad, &LENGTHS, &mut y).unwrap();
        bn = before.clone();
        y = vec![[[7.0; 3]; 4]; 3];
        bad[2][1][1] = f64::NAN;
        assert_eq!(
            bn.forward_train_masked(&bad, &LENGTHS, &mut y),
            Err(NormError::NonFiniteStatistics { channel: 1 })
        );
        assert_eq!(bn, before);
        assert!(y.iter().flatten().flatten().all(|v| *v == 7.0));
    }
}

/// `LastStep`, `MeanOverSteps` and attention's key padding from lengths.
mod lengths {
    use super::*;
    use constnorm::nn::{GruCell, Stacked, StackedState, padding_mask};

    fn sequences() -> Vec<[[f64; 2]; 4]> {
        (0..3)
            .map(|n| std::array::from_fn(|t| [n as f64 + 0.25 * t as f64, -(t as f64)]))
            .collect()
    }

    #[test]
    fn the_last_step_and_the_mean_count_only_valid_steps() {
        let x = sequences();
        let lengths = [4, 1, 3];
        let last = LastStep::<[f64; 2], 4>::default();
        let mut y = vec![[0.0; 2]; 3];
        last.forward_masked(&x, &lengths, &mut y).unwrap();
        assert_eq!(y, [x[0][3], x[1][0], x[2][2]]);
        let mut dx = vec![[[9.0; 2]; 4]; 3];
        last.backward_masked(&lengths, &[[1.0, 2.0]; 3], &mut dx)
            .unwrap();
        assert_eq!(dx[1], [[1.0, 2.0], [0.0; 2], [0.0; 2], [0.0; 2]]);
        assert_eq!(dx[2][2], [1.0, 2.0]);

        let mean = MeanOverSteps::<[f64; 2], 4>::default();
        mean.forward_masked(&x, &lengths, &mut y).unwrap();
        assert_eq!(y[1], x[1][0]);
        assert_eq!(y[2], [(x[2][0][0] + x[2][1][0] + x[2][2][0]) / 3.0, -1.0]);
        mean.backward_masked(&lengths, &[[3.0, 6.0]; 3], &mut dx)
            .unwrap();
        assert_eq!(dx[2], [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [0.0; 2]]);

        // Full lengths: the layers' own passes, bit for bit.
        let mut full = vec![[0.0; 2]; 3];
        mean.forward_masked(&x, &[4; 3], &mut y).unwrap();
        mean.forward_eval(&x, &mut full).unwrap();
        assert_eq!(y, full);

        // Refused: a zero length, one past the steps, a missing one.
        for (lengths, error) in [
            (
                &[4, 0, 3][..],
                NormError::LengthOutOfRange {
                    row: 1,
                    length: 0,
                    steps: 4,
                },
            ),
            (
                &[4, 5, 3][..],
                NormError::LengthOutOfRange {
                    row: 1,
                    length: 5,
                    steps: 4,
                },
            ),
            (
                &[4, 1][..],
                NormError::RowCountMismatch {
                    argument: "lengths",
                    expected: 3,
                    found: 2,
                },
            ),
        ] {
            let before = y.clone();
            assert_eq!(last.forward_masked(&x, lengths, &mut y), Err(error));
            assert_eq!(mean.forward_masked(&x, lengths, &mut y), Err(error));
            assert_eq!(y, before);
        }
    }

    #[test]
    fn a_packed_stack_then_the_last_valid_step_is_its_final_state() {
        // The forward direction's half of the last valid output is h_n.
        let mut gru = Stacked::<GruCell<2, 3, f64>, GruCell<6, 3, f64>, 4, 2, 1>::default();
        init_seeded(&mut gru, 4);
        let x = sequences();
        let lengths = [4, 1, 3];
        let (mut y, mut h_n) = (vec![[[0.0; 6]; 4]; 3], vec![StackedState::ZERO; 3]);
        gru.forward_sequence(
            &x,
            &[StackedState::ZERO; 3],
            Some(&lengths),
            &mut y,
            &mut h_n,
        )
        .unwrap();
        let mut last = vec![[0.0; 6]; 3];
        LastStep::<[f64; 6], 4>::default()
            .forward_masked(&y, &lengths, &mut last)
            .unwrap();
        for n in 0..3 {
            assert_eq!(last[n][..3], h_n[n].get(1, 0)[0]);
        }
    }

    #[test]
    fn key_padding_masks_come_from_lengths() {
        let mut mask = [[false; 4]; 2];
        padding_mask(&[3, 1], &mut mask).unwrap();
        assert_eq!(
            mask,
            [[false, false, false, true], [false, true, true, true]]
        );
        assert_eq!(
            padding_mask(&[3, 0], &mut mask),
            Err(NormError::LengthOutOfRange {
                row: 1,
                length: 0,
                steps: 4
            })
        );
    }
}
