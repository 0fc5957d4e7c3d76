//! A batch-norm training forward pass in a loop, for instruction counts
//! (`valgrind --tool=callgrind`): `bn_train_loop 32x16 1000` runs 1000
//! forward passes of a batch of 32 rows of 16 channels (f32); `256x64` the
//! larger layer. BENCHMARKS.md ("Reliability") measures the cost of the
//! non-finite check with it: the difference of two loop lengths gives the
//! instructions of one pass, without the start-up.

use constnorm::{Layer, normalize};
use std::hint::black_box;

#[normalize(batch, dims = 16)]
struct Bn16;

#[normalize(batch, dims = 64)]
struct Bn64;

/// `iters` training passes over a fixed batch of smooth values.
fn run<L, const C: usize, const B: usize>(iters: usize) -> f32
where
    L: Layer<Scalar = f32, Input = [f32; C], Output = [f32; C]> + Default,
{
    let mut layer = L::default();
    let x: [[f32; C]; B] =
        core::array::from_fn(|i| core::array::from_fn(|c| ((i * C + c) as f32 * 0.37).sin()));
    let mut y = [[0.0_f32; C]; B];
    for _ in 0..iters {
        let saved = layer.forward_train(black_box(&x), black_box(&mut y));
        black_box(saved.is_ok());
    }
    y[B - 1][C - 1]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let size = args.next().unwrap_or_else(|| "32x16".into());
    let iters: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let last = match size.as_str() {
        "32x16" => run::<Bn16, 16, 32>(iters),
        "256x64" => run::<Bn64, 64, 256>(iters),
        other => panic!("size {other}: 32x16 or 256x64"),
    };
    println!("{size} x {iters}: y[-1][-1] = {last}");
}
