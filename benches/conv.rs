//! Convolutional workloads, in the same run:
//!
//! - a `conv2d!(32, 32, 3, padding = 1, input = [32, 16, 16])` layer on a
//!   batch of 16, forward and forward+backward, through the `Layer` trait,
//!   against a hand-written direct convolution over const-generic arrays;
//! - the CNN of `tests/cnn_fixture.rs` (f32 here): a training step
//!   (`forward_train`, `cross_entropy`, `backward`, SGD with momentum) and an
//!   inference pass (`forward_eval`) at batch 1, 8 and 64.
//!
//! `cargo bench --bench conv`; `benches/torch_conv.py` times the same
//! workloads in PyTorch. The figures are in BENCHMARKS.md.

use constnorm::nn::{AdaptiveAvgPool2d, Flatten, Linear, Relu2d, Sgd, cross_entropy, init_seeded};
use constnorm::{Gradients, Layer, Network, Parameters, conv2d, max_pool2d, network, normalize};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

/// What a user writes without constnorm: a direct convolution (stride 1,
/// dilation 1, zero padding `P` on every side) over const-generic arrays, one
/// output at a time, the kernel window clamped to the input so the inner
/// loops have no branches.
mod hand {
    /// The kernel rows (or columns) `lo..hi` that output `r` reads inside an
    /// input of length `len`: `r + k - P` in `0..len`.
    #[inline(always)]
    fn window<const K: usize, const P: usize>(r: usize, len: usize) -> (usize, usize) {
        (P.saturating_sub(r), K.min(len + P - r))
    }

    /// `y[o][r][s] = b[o] + sum of w[o][c][i][j] * x[c][r + i - P][s + j - P]`.
    pub fn forward<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const P: usize,
        const H: usize,
        const W: usize,
    >(
        w: &[[[[f32; K]; K]; CI]; CO],
        b: &[f32; CO],
        x: &[[[f32; W]; H]; CI],
        y: &mut [[[f32; W]; H]; CO],
    ) {
        for o in 0..CO {
            for r in 0..H {
                let (i0, i1) = window::<K, P>(r, H);
                for s in 0..W {
                    let (j0, j1) = window::<K, P>(s, W);
                    let mut acc = b[o];
                    for c in 0..CI {
                        for i in i0..i1 {
                            for j in j0..j1 {
                                acc += w[o][c][i][j] * x[c][r + i - P][s + j - P];
                            }
                        }
                    }
                    y[o][r][s] = acc;
                }
            }
        }
    }

    /// Backward of [`forward`]: writes `dx`, adds to `dw` and `db`.
    pub fn backward<
        const CI: usize,
        const CO: usize,
        const K: usize,
        const P: usize,
        const H: usize,
        const W: usize,
    >(
        w: &[[[[f32; K]; K]; CI]; CO],
        x: &[[[f32; W]; H]; CI],
        dy: &[[[f32; W]; H]; CO],
        dx: &mut [[[f32; W]; H]; CI],
        dw: &mut [[[[f32; K]; K]; CI]; CO],
        db: &mut [f32; CO],
    ) {
        *dx = [[[0.0; W]; H]; CI];
        for o in 0..CO {
            for r in 0..H {
                let (i0, i1) = window::<K, P>(r, H);
                for s in 0..W {
                    let (j0, j1) = window::<K, P>(s, W);
                    let g = dy[o][r][s];
                    db[o] += g;
                    for c in 0..CI {
                        for i in i0..i1 {
                            for j in j0..j1 {
                                dx[c][r + i - P][s + j - P] += w[o][c][i][j] * g;
                                dw[o][c][i][j] += x[c][r + i - P][s + j - P] * g;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn random<const N: usize>(rng: &mut StdRng) -> [f32; N] {
    std::array::from_fn(|_| rng.random_range(-1.0_f32..1.0))
}

/// `max |a - b| / max(1, max |b|)`.
fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1.0_f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0_f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

mod conv32 {
    use super::*;

    pub const BATCH: usize = 16;
    pub type Conv = conv2d!(32, 32, 3, padding = 1, input = [32, 16, 16]);
    pub type Image = [[[f32; 16]; 16]; 32];
    type Weight = [[[[f32; 3]; 3]; 32]; 32];
    type Grads = <Conv as Parameters>::Grads;

    fn images(rng: &mut StdRng) -> Vec<Image> {
        (0..BATCH)
            .map(|_| {
                let mut im = [[[0.0; 16]; 16]; 32];
                for v in im.as_flattened_mut().as_flattened_mut() {
                    *v = rng.random_range(-1.0..1.0);
                }
                im
            })
            .collect()
    }

    /// Both convolutions give the same output, input gradient and parameter
    /// gradients (to 1e-4 of each tensor's scale).
    fn check(conv: &Conv, x: &[Image], dy: &[Image]) {
        let mut y = vec![[[[0.0; 16]; 16]; 32]; BATCH];
        let mut y_hand = y.clone();
        let saved = conv.forward_eval(x, &mut y).unwrap();
        for (x, y) in x.iter().zip(&mut y_hand) {
            hand::forward::<32, 32, 3, 1, 16, 16>(&conv.weight, &conv.bias, x, y);
        }
        let flat = |v: &[Image]| v.as_flattened().as_flattened().as_flattened().to_vec();
        let d = rel_diff(&flat(&y), &flat(&y_hand));
        assert!(d < 1e-4, "forward: {d:e}");

        let (mut dx, mut dx_hand) = (y.clone(), y.clone());
        let mut grads = Box::<Grads>::default();
        conv.backward(x, &saved, dy, &mut dx, &mut grads).unwrap();
        let mut dw: Box<Weight> = Box::new([[[[0.0; 3]; 3]; 32]; 32]);
        let mut db = [0.0; 32];
        for ((x, dy), dx) in x.iter().zip(dy).zip(&mut dx_hand) {
            hand::backward::<32, 32, 3, 1, 16, 16>(&conv.weight, x, dy, dx, &mut dw, &mut db);
        }
        let d = rel_diff(&flat(&dx), &flat(&dx_hand));
        assert!(d < 1e-4, "dx: {d:e}");
        let flat_w = |w: &Weight| w.as_flattened().as_flattened().as_flattened().to_vec();
        let d = rel_diff(&flat_w(&grads.weight), &flat_w(&dw));
        assert!(d < 1e-4, "dweight: {d:e}");
        let d = rel_diff(&grads.bias, &db);
        assert!(d < 1e-4, "dbias: {d:e}");
    }

    pub fn bench(c: &mut Criterion) {
        let mut rng = StdRng::seed_from_u64(1);
        let mut conv = Box::<Conv>::default();
        init_seeded(&mut *conv, 2);
        let x = images(&mut rng);
        let dy = images(&mut rng);
        check(&conv, &x, &dy);

        let mut y = vec![[[[0.0; 16]; 16]; 32]; BATCH];
        let mut dx = y.clone();
        let mut grads = Box::<Grads>::default();
        let mut dw: Box<Weight> = Box::new([[[[0.0; 3]; 3]; 32]; 32]);
        let mut db = [0.0; 32];

        let mut g = c.benchmark_group("conv2d 32->32 3x3 pad 1, 16x16, batch 16");
        g.bench_function("forward: constnorm", |b| {
            b.iter(|| conv.forward_eval(black_box(&x), black_box(&mut y)).unwrap());
        });
        g.bench_function("forward: hand-written", |b| {
            b.iter(|| {
                for (x, y) in black_box(&x).iter().zip(black_box(&mut y).iter_mut()) {
                    hand::forward::<32, 32, 3, 1, 16, 16>(&conv.weight, &conv.bias, x, y);
                }
            });
        });
        g.bench_function("forward+backward: constnorm", |b| {
            b.iter(|| {
                let saved = conv.forward_train(black_box(&x), &mut y).unwrap();
                conv.backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                    .unwrap();
            });
        });
        g.bench_function("forward+backward: hand-written", |b| {
            b.iter(|| {
                for (x, y) in black_box(&x).iter().zip(y.iter_mut()) {
                    hand::forward::<32, 32, 3, 1, 16, 16>(&conv.weight, &conv.bias, x, y);
                }
                for ((x, dy), dx) in x.iter().zip(black_box(&dy)).zip(dx.iter_mut()) {
                    hand::backward::<32, 32, 3, 1, 16, 16>(
                        &conv.weight,
                        x,
                        dy,
                        dx,
                        &mut dw,
                        &mut db,
                    );
                }
            });
        });
        g.finish();
    }
}

/// The CNN of `tests/cnn_fixture.rs`, in f32.
mod cnn {
    use super::*;

    type Conv0 = conv2d!(1, 4, 3, padding = 1, input = [1, 8, 8]);
    #[normalize(batch, dims = 4, spatial = [8, 8])]
    struct Bn1;
    type Pool3 = max_pool2d!(2, input = [4, 8, 8]);
    type Conv4 = conv2d!(4, 8, 3, padding = 1, input = [4, 4, 4]);
    #[normalize(group, dims = 8, groups = 2, spatial = [4, 4])]
    struct Gn5;

    #[network(sequential)]
    #[derive(Default)]
    struct Cnn {
        conv0: Conv0,
        bn1: Bn1,
        relu2: Relu2d<4, 8, 8>,
        pool3: Pool3,
        conv4: Conv4,
        gn5: Gn5,
        relu6: Relu2d<8, 4, 4>,
        gap7: AdaptiveAvgPool2d<8, 4, 4>,
        flat8: Flatten<[[[f32; 1]; 1]; 8], 8>,
        fc9: Linear<8, 10>,
    }

    type Digit = [[[f32; 8]; 8]; 1];

    fn batch<const B: usize>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    ) {
        let mut rng = StdRng::seed_from_u64(B as u64);
        let x: Box<[Digit; B]> = Box::new(std::array::from_fn(|_| {
            [std::array::from_fn(|_| random(&mut rng))]
        }));
        let t: [usize; B] = std::array::from_fn(|_| rng.random_range(0..10));
        let mut net = Box::<Cnn>::default();
        init_seeded(&mut *net, 3);
        let mut ws = Box::<<Cnn as Network>::Workspace<B>>::default();
        let mut grads = Box::<<Cnn as Parameters>::Grads>::default();
        let mut sgd = Sgd::new(0.1, 0.9);
        let mut dlogits = [[0.0; 10]; B];

        g.bench_function(BenchmarkId::new("train step", B), |b| {
            b.iter(|| {
                let logits = net.forward_train(black_box(&x), &mut ws).unwrap();
                let loss = cross_entropy(logits, &t, &mut dlogits).unwrap();
                grads.set_zero();
                net.backward(&x, &mut ws, &dlogits, &mut grads).unwrap();
                sgd.step(&mut *net, &grads);
                loss
            });
        });
        g.bench_function(BenchmarkId::new("inference", B), |b| {
            b.iter(|| net.forward_eval(black_box(&x), &mut ws).unwrap()[0][0]);
        });
    }

    pub fn bench(c: &mut Criterion) {
        let mut g = c.benchmark_group("cnn (tests/cnn_fixture.rs, f32)");
        batch::<1>(&mut g);
        batch::<8>(&mut g);
        batch::<64>(&mut g);
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = conv32::bench, cnn::bench
}
criterion_main!(benches);
