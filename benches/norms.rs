//! Generated layers against hand-written baselines, measured in the same run
//! (see BENCHMARKS.md for the table and how to regenerate it):
//!
//! - `generated`: a `#[normalize]` layer;
//! - `plain_loop`: a plain loop over slices with run-time sizes;
//! - `const_generic`: the same loop with const-generic arrays;
//! - `ndarray`: idiomatic ndarray (broadcasting, allocating);
//! - `copy`: copying x into y, the memory-bandwidth floor.
//!
//! Run with `cargo bench --bench norms`; a filter selects workloads, for
//! example `cargo bench --bench norms -- layernorm_fwd/`.

mod baselines;

use baselines::{f32 as b32, f64 as b64};
use constnorm::{AffineGrads, Layer as _, normalize};
use criterion::{Criterion, criterion_group, criterion_main};
use ndarray::{ArrayView1, ArrayView2};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::hint::black_box;
use std::time::Duration;

const EPS: f32 = 1e-5;

/// Seeded values around 0.5 with spread 2, as in PyTorch's reference vectors.
fn data(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-3.0_f32..4.0)).collect()
}

fn rows<const D: usize>(flat: &[f32]) -> Vec<[f32; D]> {
    flat.chunks_exact(D)
        .map(|c| c.try_into().expect("chunk"))
        .collect()
}

macro_rules! layer_norm {
    ($c:ident, $rows:literal x $dims:literal, copy = $copy:literal) => {{
        #[normalize(layer, dims = $dims)]
        struct Ln;

        let flat = data($rows * $dims, 1);
        let dy_flat = data($rows * $dims, 4);
        let x = rows::<$dims>(&flat);
        let dy = rows::<$dims>(&dy_flat);
        let w = data($dims, 2);
        let b = data($dims, 3);
        let wa: [f32; $dims] = w.clone().try_into().unwrap();
        let ba: [f32; $dims] = b.clone().try_into().unwrap();
        let mut layer = Ln::new();
        layer.weight = wa;
        layer.bias = ba;
        let mut y = vec![[0.0_f32; $dims]; $rows];
        let mut dx = vec![[0.0_f32; $dims]; $rows];
        let xv = ArrayView2::from_shape(($rows, $dims), &flat).unwrap();
        let dyv = ArrayView2::from_shape(($rows, $dims), &dy_flat).unwrap();
        let (wv, bv) = (ArrayView1::from(&w), ArrayView1::from(&b));

        let mut g = $c.benchmark_group(concat!("layernorm_fwd/", $rows, "x", $dims));
        g.bench_function("generated", |bn| {
            bn.iter(|| {
                layer
                    .forward_train(black_box(&x), black_box(&mut y))
                    .unwrap()
            })
        });
        g.bench_function("plain_loop", |bn| {
            bn.iter(|| {
                b32::layer_norm_plain(
                    black_box(&flat),
                    black_box(y.as_flattened_mut()),
                    &w,
                    &b,
                    $dims,
                    EPS,
                )
            })
        });
        g.bench_function("const_generic", |bn| {
            bn.iter(|| b32::layer_norm_const(black_box(&x), black_box(&mut y), &wa, &ba, EPS))
        });
        g.bench_function("ndarray", |bn| {
            bn.iter(|| b32::layer_norm_ndarray(black_box(xv), wv, bv, EPS))
        });
        if $copy {
            g.bench_function("copy", |bn| {
                bn.iter(|| black_box(y.as_flattened_mut()).copy_from_slice(black_box(&flat)))
            });
        }
        g.finish();

        let mut g = $c.benchmark_group(concat!("layernorm_fwd_bwd/", $rows, "x", $dims));
        let mut grads = AffineGrads::default();
        g.bench_function("generated", |bn| {
            bn.iter(|| {
                let saved = layer.forward_train(black_box(&x), &mut y).unwrap();
                layer
                    .backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                    .unwrap();
            })
        });
        let (mut dw, mut db) = (vec![0.0_f32; $dims], vec![0.0_f32; $dims]);
        g.bench_function("plain_loop", |bn| {
            bn.iter(|| {
                b32::layer_norm_plain(black_box(&flat), y.as_flattened_mut(), &w, &b, $dims, EPS);
                b32::layer_norm_backward_plain(
                    &flat,
                    black_box(&dy_flat),
                    &w,
                    dx.as_flattened_mut(),
                    &mut dw,
                    &mut db,
                    $dims,
                    EPS,
                );
            })
        });
        let (mut dwa, mut dba) = ([0.0_f32; $dims], [0.0_f32; $dims]);
        g.bench_function("const_generic", |bn| {
            bn.iter(|| {
                b32::layer_norm_const(black_box(&x), &mut y, &wa, &ba, EPS);
                b32::layer_norm_backward_const(
                    &x,
                    black_box(&dy),
                    &wa,
                    &mut dx,
                    &mut dwa,
                    &mut dba,
                    EPS,
                );
            })
        });
        g.bench_function("ndarray", |bn| {
            bn.iter(|| {
                let y = b32::layer_norm_ndarray(black_box(xv), wv, bv, EPS);
                (
                    y,
                    b32::layer_norm_backward_ndarray(xv, black_box(dyv), wv, EPS),
                )
            })
        });
        g.finish();
    }};
}

macro_rules! batch_norm {
    ($c:ident, $rows:literal x $ch:literal, eval = $eval:literal) => {{
        #[normalize(batch, dims = $ch)]
        struct Bn;

        let flat = data($rows * $ch, 5);
        let dy_flat = data($rows * $ch, 6);
        let x = rows::<$ch>(&flat);
        let dy = rows::<$ch>(&dy_flat);
        let w = data($ch, 7);
        let b = data($ch, 8);
        let wa: [f32; $ch] = w.clone().try_into().unwrap();
        let ba: [f32; $ch] = b.clone().try_into().unwrap();
        let mut layer = Bn::new();
        layer.weight = wa;
        layer.bias = ba;
        let mut y = vec![[0.0_f32; $ch]; $rows];
        let mut dx = vec![[0.0_f32; $ch]; $rows];
        let (mut rm, mut rv) = (vec![0.0_f32; $ch], vec![1.0_f32; $ch]);
        let (mut rma, mut rva) = ([0.0_f32; $ch], [1.0_f32; $ch]);
        let x3: Vec<[[f32; 1]; $ch]> = x.iter().map(|r| r.map(|v| [v])).collect();
        let dy3: Vec<[[f32; 1]; $ch]> = dy.iter().map(|r| r.map(|v| [v])).collect();
        let mut y3 = vec![[[0.0_f32; 1]; $ch]; $rows];
        let mut dx3 = vec![[[0.0_f32; 1]; $ch]; $rows];
        let xv = ArrayView2::from_shape(($rows, $ch), &flat).unwrap();
        let (wv, bv) = (ArrayView1::from(&w), ArrayView1::from(&b));

        let mut g = $c.benchmark_group(concat!("batchnorm_train_fwd/", $rows, "x", $ch));
        g.bench_function("generated", |bn| {
            bn.iter(|| {
                layer
                    .forward_train(black_box(&x), black_box(&mut y))
                    .unwrap()
            })
        });
        g.bench_function("plain_loop", |bn| {
            bn.iter(|| {
                b32::batch_norm_train_plain(
                    black_box(&flat),
                    y.as_flattened_mut(),
                    &w,
                    &b,
                    &mut rm,
                    &mut rv,
                    $ch,
                    1,
                    EPS,
                    0.1,
                )
            })
        });
        g.bench_function("const_generic", |bn| {
            bn.iter(|| {
                b32::batch_norm_train_const(
                    black_box(&x3),
                    &mut y3,
                    &wa,
                    &ba,
                    &mut rma,
                    &mut rva,
                    EPS,
                    0.1,
                )
            })
        });
        g.bench_function("ndarray", |bn| {
            bn.iter(|| b32::batch_norm_train_ndarray(black_box(xv), wv, bv, EPS))
        });
        g.finish();

        let mut g = $c.benchmark_group(concat!("batchnorm_train_fwd_bwd/", $rows, "x", $ch));
        let mut grads = AffineGrads::default();
        g.bench_function("generated", |bn| {
            bn.iter(|| {
                let saved = layer.forward_train(black_box(&x), &mut y).unwrap();
                layer
                    .backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                    .unwrap();
            })
        });
        let (mut dw, mut db) = (vec![0.0_f32; $ch], vec![0.0_f32; $ch]);
        g.bench_function("plain_loop", |bn| {
            bn.iter(|| {
                let (mean, inv) = b32::batch_norm_train_plain(
                    black_box(&flat),
                    y.as_flattened_mut(),
                    &w,
                    &b,
                    &mut rm,
                    &mut rv,
                    $ch,
                    1,
                    EPS,
                    0.1,
                );
                b32::batch_norm_backward_plain(
                    &flat,
                    black_box(&dy_flat),
                    &w,
                    &mean,
                    &inv,
                    dx.as_flattened_mut(),
                    &mut dw,
                    &mut db,
                    $ch,
                    1,
                );
            })
        });
        let (mut dwa, mut dba) = ([0.0_f32; $ch], [0.0_f32; $ch]);
        g.bench_function("const_generic", |bn| {
            bn.iter(|| {
                let (mean, inv) = b32::batch_norm_train_const(
                    black_box(&x3),
                    &mut y3,
                    &wa,
                    &ba,
                    &mut rma,
                    &mut rva,
                    EPS,
                    0.1,
                );
                b32::batch_norm_backward_const(
                    &x3,
                    black_box(&dy3),
                    &wa,
                    &mean,
                    &inv,
                    &mut dx3,
                    &mut dwa,
                    &mut dba,
                );
            })
        });
        g.finish();

        if $eval {
            let mut g = $c.benchmark_group(concat!("batchnorm_eval/", $rows, "x", $ch));
            g.bench_function("generated", |bn| {
                bn.iter(|| {
                    layer
                        .forward_eval(black_box(&x), black_box(&mut y))
                        .unwrap()
                })
            });
            g.bench_function("plain_loop", |bn| {
                bn.iter(|| {
                    b32::batch_norm_eval_plain(
                        black_box(&flat),
                        y.as_flattened_mut(),
                        &w,
                        &b,
                        &rm,
                        &rv,
                        EPS,
                    )
                })
            });
            g.bench_function("const_generic", |bn| {
                bn.iter(|| {
                    b32::batch_norm_eval_const(black_box(&x), &mut y, &wa, &ba, &rma, &rva, EPS)
                })
            });
            let (rmv, rvv) = (ArrayView1::from(&rm), ArrayView1::from(&rv));
            g.bench_function("ndarray", |bn| {
                bn.iter(|| b32::batch_norm_eval_ndarray(black_box(xv), wv, bv, rmv, rvv, EPS))
            });
            g.finish();
        }
    }};
}

fn layer_norm_benches(c: &mut Criterion) {
    layer_norm!(c, 1 x 3, copy = false);
    layer_norm!(c, 32 x 16, copy = false);
    layer_norm!(c, 64 x 64, copy = false);
    layer_norm!(c, 64 x 768, copy = true);
    layer_norm!(c, 256 x 4096, copy = true);
}

/// Layer norm at 4096x4096 (64 MiB in, 64 MiB out: past this machine's
/// 32 MiB L3), forward and forward+backward, beside the copy of the same
/// buffer: the distance to the DRAM bandwidth floor.
fn layer_norm_dram(c: &mut Criterion) {
    const ROWS: usize = 4096;
    const DIMS: usize = 4096;
    #[normalize(layer, dims = DIMS)]
    struct Ln;

    let flat = data(ROWS * DIMS, 1);
    let x = rows::<DIMS>(&flat);
    let dy = rows::<DIMS>(&data(ROWS * DIMS, 4));
    let mut layer = Ln::new();
    layer.weight.copy_from_slice(&data(DIMS, 2));
    layer.bias.copy_from_slice(&data(DIMS, 3));
    let mut y = vec![[0.0_f32; DIMS]; ROWS];
    let mut dx = vec![[0.0_f32; DIMS]; ROWS];
    let mut grads = Box::<AffineGrads<[f32; DIMS]>>::default();

    let mut g = c.benchmark_group("layernorm_fwd/4096x4096");
    g.sample_size(10);
    g.bench_function("generated", |bn| {
        bn.iter(|| {
            layer
                .forward_train(black_box(&x), black_box(&mut y))
                .unwrap()
        })
    });
    g.bench_function("copy", |bn| {
        bn.iter(|| y.as_flattened_mut().copy_from_slice(black_box(&flat)))
    });
    g.finish();
    let mut g = c.benchmark_group("layernorm_fwd_bwd/4096x4096");
    g.sample_size(10);
    g.bench_function("generated", |bn| {
        bn.iter(|| {
            let saved = layer.forward_train(black_box(&x), &mut y).unwrap();
            layer
                .backward(&x, &saved, black_box(&dy), &mut dx, &mut grads)
                .unwrap();
        })
    });
    g.finish();
}

/// Feature `parallel`: layer norm forward at 256x4096 and 4096x4096 on
/// pools of 1 and 2 threads (`cargo bench --bench norms --features parallel
/// -- parallel`).
#[cfg(feature = "parallel")]
fn layer_norm_parallel(c: &mut Criterion) {
    const DIMS: usize = 4096;
    #[normalize(layer, dims = DIMS)]
    struct Ln;
    let mut layer = Ln::new();
    layer.weight.copy_from_slice(&data(DIMS, 2));
    layer.bias.copy_from_slice(&data(DIMS, 3));
    for batch in [256, 4096] {
        let x = rows::<DIMS>(&data(batch * DIMS, 1));
        let mut y = vec![[0.0_f32; DIMS]; batch];
        let mut g = c.benchmark_group(format!("layernorm_fwd_parallel/{batch}x{DIMS}"));
        g.sample_size(10);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool");
            g.bench_function(format!("{threads}_threads"), |bn| {
                pool.install(|| {
                    bn.iter(|| {
                        layer
                            .forward_eval(black_box(&x), black_box(&mut y))
                            .unwrap()
                    })
                })
            });
        }
        g.finish();
    }
}

#[cfg(not(feature = "parallel"))]
fn layer_norm_parallel(_: &mut Criterion) {}

fn batch_norm_benches(c: &mut Criterion) {
    batch_norm!(c, 2 x 16, eval = false);
    batch_norm!(c, 32 x 16, eval = true);
    batch_norm!(c, 256 x 64, eval = false);
}

/// BatchNorm2d training forward on (8, 16, 16, 16).
fn batch_norm_2d(c: &mut Criterion) {
    #[normalize(batch, dims = 16, spatial = [16, 16])]
    struct Bn2d;
    type Row = [[[f32; 16]; 16]; 16];
    let flat = data(8 * 16 * 256, 9);
    let x: Vec<Row> = flat
        .chunks_exact(16 * 256)
        .map(|c| {
            let mut row = [[[0.0; 16]; 16]; 16];
            row.as_flattened_mut().as_flattened_mut().copy_from_slice(c);
            row
        })
        .collect();
    let x_cs: Vec<[[f32; 256]; 16]> = flat
        .chunks_exact(16 * 256)
        .map(|c| {
            let mut row = [[0.0; 256]; 16];
            row.as_flattened_mut().copy_from_slice(c);
            row
        })
        .collect();
    let (w, b) = (data(16, 10), data(16, 11));
    let (wa, ba): ([f32; 16], [f32; 16]) =
        (w.clone().try_into().unwrap(), b.clone().try_into().unwrap());
    let mut layer = Bn2d::new();
    layer.weight = wa;
    layer.bias = ba;
    let mut y = vec![[[[0.0_f32; 16]; 16]; 16]; 8];
    let mut y_cs = vec![[[0.0_f32; 256]; 16]; 8];
    let mut y_flat = vec![0.0_f32; flat.len()];
    let (mut rm, mut rv) = (vec![0.0_f32; 16], vec![1.0_f32; 16]);
    let (mut rma, mut rva) = ([0.0_f32; 16], [1.0_f32; 16]);

    let mut g = c.benchmark_group("batchnorm2d_train_fwd/8x16x16x16");
    g.bench_function("generated", |bn| {
        bn.iter(|| {
            layer
                .forward_train(black_box(&x), black_box(&mut y))
                .unwrap()
        })
    });
    g.bench_function("plain_loop", |bn| {
        bn.iter(|| {
            b32::batch_norm_train_plain(
                black_box(&flat),
                &mut y_flat,
                &w,
                &b,
                &mut rm,
                &mut rv,
                16,
                256,
                EPS,
                0.1,
            )
        })
    });
    g.bench_function("const_generic", |bn| {
        bn.iter(|| {
            b32::batch_norm_train_const(
                black_box(&x_cs),
                &mut y_cs,
                &wa,
                &ba,
                &mut rma,
                &mut rva,
                EPS,
                0.1,
            )
        })
    });
    g.bench_function("copy", |bn| {
        bn.iter(|| black_box(&mut y_flat).copy_from_slice(black_box(&flat)))
    });
    g.finish();
}

/// A few f64 workloads: generated against the const-generic baseline.
fn f64_benches(c: &mut Criterion) {
    #[normalize(layer, dims = 768, dtype = f64)]
    struct Ln64;
    let x: Vec<[f64; 768]> = data(64 * 768, 12)
        .chunks_exact(768)
        .map(|c| std::array::from_fn(|i| f64::from(c[i])))
        .collect();
    let (w, b) = ([1.0_f64; 768], [0.0_f64; 768]);
    let layer = Ln64::new();
    let mut y = vec![[0.0_f64; 768]; 64];
    let mut g = c.benchmark_group("layernorm_fwd_f64/64x768");
    g.bench_function("generated", |bn| {
        bn.iter(|| {
            layer
                .forward_eval(black_box(&x), black_box(&mut y))
                .unwrap()
        })
    });
    g.bench_function("const_generic", |bn| {
        bn.iter(|| b64::layer_norm_const(black_box(&x), black_box(&mut y), &w, &b, 1e-5))
    });
    g.finish();

    #[normalize(batch, dims = 64, dtype = f64)]
    struct Bn64;
    let x: Vec<[f64; 64]> = data(256 * 64, 13)
        .chunks_exact(64)
        .map(|c| std::array::from_fn(|i| f64::from(c[i])))
        .collect();
    let x3: Vec<[[f64; 1]; 64]> = x.iter().map(|r| r.map(|v| [v])).collect();
    let mut layer = Bn64::new();
    let mut y = vec![[0.0_f64; 64]; 256];
    let mut y3 = vec![[[0.0_f64; 1]; 64]; 256];
    let (mut rm, mut rv) = ([0.0_f64; 64], [1.0_f64; 64]);
    let mut g = c.benchmark_group("batchnorm_train_fwd_f64/256x64");
    g.bench_function("generated", |bn| {
        bn.iter(|| {
            layer
                .forward_train(black_box(&x), black_box(&mut y))
                .unwrap()
        })
    });
    g.bench_function("const_generic", |bn| {
        bn.iter(|| {
            b64::batch_norm_train_const(
                black_box(&x3),
                &mut y3,
                &[1.0; 64],
                &[0.0; 64],
                &mut rm,
                &mut rv,
                1e-5,
                0.1,
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = layer_norm_benches, layer_norm_dram, layer_norm_parallel, batch_norm_benches, batch_norm_2d, f64_benches
}
criterion_main!(benches);
