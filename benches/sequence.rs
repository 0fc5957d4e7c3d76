//! Sequence workloads, in the same run:
//!
//! - one streaming step (batch size 1, the state kept by the caller) of a
//!   GRU and an LSTM with 64 inputs and 64 hidden units, against a
//!   hand-written step over const-generic arrays: the latency a real-time
//!   user sees per frame;
//! - a whole-sequence GRU (64 -> 64) forward and forward+backward through
//!   time at S = 32, batch 16, through the `Layer` trait;
//! - a transformer encoder block (d_model 64, 4 heads, feed-forward 256,
//!   S = 16, batch 8, post-norm, ReLU) forward and forward+backward.
//!
//! `cargo bench --bench sequence`; `benches/torch_sequence.py` times the
//! same workloads in PyTorch. The figures are in BENCHMARKS.md.

use constnorm::nn::{Gru, Lstm, TransformerEncoderLayer, init_seeded};
use constnorm::{Layer, Parameters};
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const I: usize = 64;
const H: usize = 64;

/// What a user writes without constnorm: PyTorch's GRU step, gate rows
/// r, z, n, over const-generic arrays, one dot product per gate row.
mod hand {
    pub struct Gru<const I: usize, const H: usize> {
        pub w_ih: [[[f32; I]; H]; 3],
        pub w_hh: [[[f32; H]; H]; 3],
        pub b_ih: [[f32; H]; 3],
        pub b_hh: [[f32; H]; 3],
    }

    fn dot<const N: usize>(a: &[f32; N], b: &[f32; N]) -> f32 {
        a.iter().zip(b).map(|(a, b)| a * b).sum()
    }

    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + (-x).exp())
    }

    impl<const I: usize, const H: usize> Gru<I, H> {
        pub fn step(&self, x: &[f32; I], h: &mut [f32; H]) {
            let mut next = [0.0; H];
            for j in 0..H {
                let gi = |g: usize| dot(&self.w_ih[g][j], x) + self.b_ih[g][j];
                let gh = |g: usize| dot(&self.w_hh[g][j], h) + self.b_hh[g][j];
                let r = sigmoid(gi(0) + gh(0));
                let z = sigmoid(gi(1) + gh(1));
                let n = (gi(2) + r * gh(2)).tanh();
                next[j] = (1.0 - z) * n + z * h[j];
            }
            *h = next;
        }
    }
}

fn random<const N: usize>(rng: &mut StdRng) -> [f32; N] {
    std::array::from_fn(|_| rng.random_range(-1.0..1.0))
}

fn streaming(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut gru = Gru::<I, H, 1>::new();
    let mut lstm = Lstm::<I, H, 1>::new();
    init_seeded(&mut gru, 1);
    init_seeded(&mut lstm, 2);
    let hand = hand::Gru::<I, H> {
        w_ih: gru.cell.weight_ih,
        w_hh: gru.cell.weight_hh,
        b_ih: gru.cell.bias_ih,
        b_hh: gru.cell.bias_hh,
    };
    let x: [f32; I] = random(&mut rng);
    let mut group = c.benchmark_group("streaming step, batch 1, 64 -> 64");
    let mut state = [[0.0; H]; 1];
    group.bench_function("GRU", |b| {
        b.iter(|| black_box(gru.step(black_box(&x), &mut state)));
    });
    let mut h = [0.0; H];
    group.bench_function("GRU hand-written", |b| {
        b.iter(|| hand.step(black_box(&x), black_box(&mut h)));
    });
    let mut state = [[0.0; H]; 2];
    group.bench_function("LSTM", |b| {
        b.iter(|| black_box(lstm.step(black_box(&x), &mut state)));
    });
    group.finish();
}

fn whole_sequence(c: &mut Criterion) {
    const S: usize = 32;
    const B: usize = 16;
    let mut rng = StdRng::seed_from_u64(2);
    let mut gru = Box::new(Gru::<I, H, S>::new());
    init_seeded(&mut *gru, 3);
    let x: Vec<[[f32; I]; S]> = (0..B)
        .map(|_| std::array::from_fn(|_| random(&mut rng)))
        .collect();
    let dy: Vec<[[f32; H]; S]> = (0..B)
        .map(|_| std::array::from_fn(|_| random(&mut rng)))
        .collect();
    let mut y = vec![[[0.0; H]; S]; B];
    let mut dx = vec![[[0.0; I]; S]; B];
    let mut grads = Box::<<Gru<I, H, S> as Parameters>::Grads>::default();
    let mut group = c.benchmark_group("GRU 64 -> 64, S = 32, batch 16");
    group.bench_function("forward", |b| {
        b.iter(|| gru.forward_train(black_box(&x), &mut y).unwrap());
    });
    group.bench_function("forward+backward", |b| {
        b.iter(|| {
            let saved = gru.forward_train(black_box(&x), &mut y).unwrap();
            gru.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
        });
    });
    group.finish();
}

fn encoder(c: &mut Criterion) {
    const S: usize = 16;
    const B: usize = 8;
    type Block = TransformerEncoderLayer<64, 4, 256, S>;
    let mut rng = StdRng::seed_from_u64(3);
    let mut block = Box::<Block>::default();
    init_seeded(&mut *block, 4);
    let x: Vec<[[f32; 64]; S]> = (0..B)
        .map(|_| std::array::from_fn(|_| random(&mut rng)))
        .collect();
    let dy: Vec<[[f32; 64]; S]> = (0..B)
        .map(|_| std::array::from_fn(|_| random(&mut rng)))
        .collect();
    let mut y = vec![[[0.0; 64]; S]; B];
    let mut dx = vec![[[0.0; 64]; S]; B];
    let mut grads = Box::<<Block as Parameters>::Grads>::default();
    let mut group = c.benchmark_group("encoder block d64 h4 ff256, S = 16, batch 8");
    group.bench_function("forward", |b| {
        b.iter(|| block.forward_train(black_box(&x), &mut y).unwrap());
    });
    group.bench_function("forward+backward", |b| {
        b.iter(|| {
            let saved = block.forward_train(black_box(&x), &mut y).unwrap();
            block
                .backward(&x, &saved, &dy, &mut dx, &mut grads)
                .unwrap();
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = streaming, whole_sequence, encoder
}
criterion_main!(benches);
