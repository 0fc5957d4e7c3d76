//! Instructions per call of the tiny norm workloads, generated against the
//! const-generic hand-written loops of `benches/baselines` (which the timed
//! suite `benches/norms.rs` also runs). A loaded machine blurs nanosecond
//! timings; instruction counts under callgrind do not move:
//!
//!     bash benches/instructions.sh
//!
//! The binary runs one workload `n` times (`instructions WORKLOAD N`); the
//! script counts its instructions for two values of `n` and prints the
//! difference per call, so start-up cancels.

#[path = "baselines/mod.rs"]
mod baselines;

use baselines::f32 as b32;
use constnorm::{AffineGrads, Layer as _, normalize};
use std::hint::black_box;

#[normalize(batch, dims = 16)]
struct Bn16;
#[normalize(layer, dims = 3)]
struct Ln3;
#[normalize(layer, dims = 16)]
struct Ln16;

const EPS: f32 = 1e-5;

fn data<const D: usize>(rows: usize, seed: u32) -> Vec<[f32; D]> {
    (0..rows)
        .map(|r| {
            core::array::from_fn(|i| {
                let k = u32::try_from(r * D + i).expect("small") ^ seed;
                (k.wrapping_mul(2_654_435_761) % 1000) as f32 / 150.0 - 3.0
            })
        })
        .collect()
}

/// Rows of `C` channels as `[[f32; 1]; C]`, the hand-written batch norm's
/// layout.
fn channels<const C: usize>(x: &[[f32; C]]) -> Vec<[[f32; 1]; C]> {
    x.iter().map(|r| r.map(|v| [v])).collect()
}

/// Batch norm training forward (+ backward) on `rows` x 16, generated or
/// hand-written.
fn batch_norm(rows: usize, generated: bool, backward: bool, n: usize) {
    let x = data::<16>(rows, 1);
    let dy = data::<16>(rows, 2);
    let (mut y, mut dx) = (x.clone(), x.clone());
    let mut layer = Bn16::new();
    let mut grads = AffineGrads::default();
    let (xc, dyc) = (channels(&x), channels(&dy));
    let (mut yc, mut dxc) = (xc.clone(), xc.clone());
    let (w, b) = ([1.1_f32; 16], [0.2_f32; 16]);
    let (mut rm, mut rv) = ([0.0_f32; 16], [1.0_f32; 16]);
    let (mut dw, mut db) = ([0.0_f32; 16], [0.0_f32; 16]);
    for _ in 0..n {
        if generated {
            let saved = layer.forward_train(black_box(&x), &mut y).expect("forward");
            if backward {
                layer
                    .backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                    .expect("backward");
            }
        } else {
            let (m, i) = b32::batch_norm_train_const(
                black_box(&xc),
                &mut yc,
                &w,
                &b,
                &mut rm,
                &mut rv,
                EPS,
                0.1,
            );
            if backward {
                b32::batch_norm_backward_const(
                    &xc,
                    black_box(&dyc),
                    &w,
                    &m,
                    &i,
                    &mut dxc,
                    &mut dw,
                    &mut db,
                );
            }
        }
    }
    black_box((&y, &dx, &yc, &dxc, &grads, &rm, &rv, &dw, &db));
}

/// Layer norm training forward (+ backward) on `rows` x `D`.
macro_rules! layer_norm {
    ($layer:ident, $d:literal, $rows:expr, $generated:expr, $backward:expr, $n:expr) => {{
        let x = data::<$d>($rows, 1);
        let dy = data::<$d>($rows, 2);
        let (mut y, mut dx) = (x.clone(), x.clone());
        let mut layer = $layer::new();
        let mut grads = AffineGrads::default();
        let (w, b) = ([1.1_f32; $d], [0.2_f32; $d]);
        let (mut dw, mut db) = ([0.0_f32; $d], [0.0_f32; $d]);
        for _ in 0..$n {
            if $generated {
                let saved = layer.forward_train(black_box(&x), &mut y).expect("forward");
                if $backward {
                    layer
                        .backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                        .expect("backward");
                }
            } else {
                b32::layer_norm_const(black_box(&x), &mut y, &w, &b, EPS);
                if $backward {
                    b32::layer_norm_backward_const(
                        &x,
                        black_box(&dy),
                        &w,
                        &mut dx,
                        &mut dw,
                        &mut db,
                        EPS,
                    );
                }
            }
        }
        black_box((&y, &dx, &grads, &dw, &db));
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(workload), Some(n)) = (args.next(), args.next()) else {
        // `cargo bench` runs every bench target with its own flags: nothing
        // to do without a workload.
        return;
    };
    let Ok(n) = n.parse::<usize>() else { return };
    let generated = workload.ends_with("/generated");
    match workload.split('/').next().unwrap_or("") {
        "batchnorm_train_fwd_2x16" => batch_norm(2, generated, false, n),
        "batchnorm_train_fwd_32x16" => batch_norm(32, generated, false, n),
        "batchnorm_train_fwd_bwd_2x16" => batch_norm(2, generated, true, n),
        "batchnorm_train_fwd_bwd_32x16" => batch_norm(32, generated, true, n),
        "layernorm_fwd_1x3" => layer_norm!(Ln3, 3, 1, generated, false, n),
        "layernorm_fwd_bwd_1x3" => layer_norm!(Ln3, 3, 1, generated, true, n),
        "layernorm_fwd_32x16" => layer_norm!(Ln16, 16, 32, generated, false, n),
        "layernorm_fwd_bwd_32x16" => layer_norm!(Ln16, 16, 32, generated, true, n),
        other => panic!("unknown workload {other}"),
    }
}
