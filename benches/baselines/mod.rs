//! Hand-written baselines: what a careful user writes without constnorm.
//! The same numerics as PyTorch (two-pass mean and biased variance, eps inside
//! the square root, backward through the statistics), written three ways:
//! a plain loop over slices with run-time sizes, the same loop with
//! const-generic arrays, and idiomatic ndarray.
#![allow(clippy::cast_precision_loss, clippy::needless_range_loop, dead_code)]

macro_rules! baselines {
    ($t:ident) => {
        pub mod $t {
            use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

            /// Mean and `1 / sqrt(var + eps)` of a slice, two-pass.
            #[inline]
            fn moments(x: &[$t], eps: $t) -> ($t, $t) {
                let n = x.len() as $t;
                let mean = x.iter().sum::<$t>() / n;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<$t>() / n;
                (mean, 1.0 / (var + eps).sqrt())
            }

            // ---- layer norm ---------------------------------------------------------

            /// Layer norm over rows of `d` values, run-time sizes.
            pub fn layer_norm_plain(x: &[$t], y: &mut [$t], w: &[$t], b: &[$t], d: usize, eps: $t) {
                for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                    let (mean, rstd) = moments(xr, eps);
                    for i in 0..d {
                        yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
                    }
                }
            }

            /// Backward of [`layer_norm_plain`]; accumulates `dw`, `db`.
            #[allow(clippy::too_many_arguments)]
            pub fn layer_norm_backward_plain(
                x: &[$t],
                dy: &[$t],
                w: &[$t],
                dx: &mut [$t],
                dw: &mut [$t],
                db: &mut [$t],
                d: usize,
                eps: $t,
            ) {
                let n = d as $t;
                for ((xr, dyr), dxr) in x
                    .chunks_exact(d)
                    .zip(dy.chunks_exact(d))
                    .zip(dx.chunks_exact_mut(d))
                {
                    let (mean, rstd) = moments(xr, eps);
                    let mut sum_g = 0.0;
                    let mut sum_gx = 0.0;
                    for i in 0..d {
                        let xhat = (xr[i] - mean) * rstd;
                        let g = dyr[i] * w[i];
                        sum_g += g;
                        sum_gx += g * xhat;
                    }
                    for i in 0..d {
                        let xhat = (xr[i] - mean) * rstd;
                        dxr[i] = rstd * (dyr[i] * w[i] - sum_g / n - xhat * sum_gx / n);
                        dw[i] += dyr[i] * xhat;
                        db[i] += dyr[i];
                    }
                }
            }

            /// Layer norm with const-generic arrays.
            pub fn layer_norm_const<const D: usize>(
                x: &[[$t; D]],
                y: &mut [[$t; D]],
                w: &[$t; D],
                b: &[$t; D],
                eps: $t,
            ) {
                for (xr, yr) in x.iter().zip(y.iter_mut()) {
                    let (mean, rstd) = moments(xr, eps);
                    for i in 0..D {
                        yr[i] = (xr[i] - mean) * rstd * w[i] + b[i];
                    }
                }
            }

            /// Backward of [`layer_norm_const`].
            pub fn layer_norm_backward_const<const D: usize>(
                x: &[[$t; D]],
                dy: &[[$t; D]],
                w: &[$t; D],
                dx: &mut [[$t; D]],
                dw: &mut [$t; D],
                db: &mut [$t; D],
                eps: $t,
            ) {
                let n = D as $t;
                for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
                    let (mean, rstd) = moments(xr, eps);
                    let mut sum_g = 0.0;
                    let mut sum_gx = 0.0;
                    for i in 0..D {
                        let xhat = (xr[i] - mean) * rstd;
                        let g = dyr[i] * w[i];
                        sum_g += g;
                        sum_gx += g * xhat;
                    }
                    for i in 0..D {
                        let xhat = (xr[i] - mean) * rstd;
                        dxr[i] = rstd * (dyr[i] * w[i] - sum_g / n - xhat * sum_gx / n);
                        dw[i] += dyr[i] * xhat;
                        db[i] += dyr[i];
                    }
                }
            }

            /// Layer norm, idiomatic ndarray (broadcasting, allocating).
            pub fn layer_norm_ndarray(
                x: ArrayView2<'_, $t>,
                w: ArrayView1<'_, $t>,
                b: ArrayView1<'_, $t>,
                eps: $t,
            ) -> Array2<$t> {
                let mean = x
                    .mean_axis(Axis(1))
                    .expect("non-empty")
                    .insert_axis(Axis(1));
                let centered = &x - &mean;
                let var = centered
                    .mapv(|v| v * v)
                    .mean_axis(Axis(1))
                    .expect("non-empty");
                let rstd = var.mapv(|v| 1.0 / (v + eps).sqrt()).insert_axis(Axis(1));
                centered * rstd * w + b
            }

            /// Backward of [`layer_norm_ndarray`]: returns `(dx, dw, db)`.
            pub fn layer_norm_backward_ndarray(
                x: ArrayView2<'_, $t>,
                dy: ArrayView2<'_, $t>,
                w: ArrayView1<'_, $t>,
                eps: $t,
            ) -> (Array2<$t>, Array1<$t>, Array1<$t>) {
                let mean = x
                    .mean_axis(Axis(1))
                    .expect("non-empty")
                    .insert_axis(Axis(1));
                let centered = &x - &mean;
                let var = centered
                    .mapv(|v| v * v)
                    .mean_axis(Axis(1))
                    .expect("non-empty");
                let rstd = var.mapv(|v| 1.0 / (v + eps).sqrt()).insert_axis(Axis(1));
                let xhat = &centered * &rstd;
                let g = &dy * &w;
                let mean_g = g
                    .mean_axis(Axis(1))
                    .expect("non-empty")
                    .insert_axis(Axis(1));
                let mean_gx = (&g * &xhat)
                    .mean_axis(Axis(1))
                    .expect("non-empty")
                    .insert_axis(Axis(1));
                let dx = (&g - &mean_g - &xhat * &mean_gx) * &rstd;
                let dw = (&dy * &xhat).sum_axis(Axis(0));
                let db = dy.sum_axis(Axis(0));
                (dx, dw, db)
            }

            // ---- batch norm ---------------------------------------------------------

            /// Batch norm training forward over `(n, c)` rows with `s` spatial values per
            /// channel (`x` is `n` rows of `c * s`), run-time sizes; updates the running
            /// statistics; returns `(mean, inv_std)` per channel for backward.
            #[allow(clippy::too_many_arguments)]
            pub fn batch_norm_train_plain(
                x: &[$t],
                y: &mut [$t],
                w: &[$t],
                b: &[$t],
                running_mean: &mut [$t],
                running_var: &mut [$t],
                c: usize,
                s: usize,
                eps: $t,
                momentum: $t,
            ) -> (Vec<$t>, Vec<$t>) {
                let row = c * s;
                let count = (x.len() / row * s) as $t;
                let mut mean = vec![0.0; c];
                for xr in x.chunks_exact(row) {
                    for ch in 0..c {
                        for v in &xr[ch * s..(ch + 1) * s] {
                            mean[ch] += v;
                        }
                    }
                }
                for m in &mut mean {
                    *m /= count;
                }
                let mut var = vec![0.0; c];
                for xr in x.chunks_exact(row) {
                    for ch in 0..c {
                        for v in &xr[ch * s..(ch + 1) * s] {
                            var[ch] += (v - mean[ch]) * (v - mean[ch]);
                        }
                    }
                }
                let mut inv = vec![0.0; c];
                for ch in 0..c {
                    var[ch] /= count;
                    inv[ch] = 1.0 / (var[ch] + eps).sqrt();
                }
                for (xr, yr) in x.chunks_exact(row).zip(y.chunks_exact_mut(row)) {
                    for ch in 0..c {
                        for i in ch * s..(ch + 1) * s {
                            yr[i] = (xr[i] - mean[ch]) * inv[ch] * w[ch] + b[ch];
                        }
                    }
                }
                for ch in 0..c {
                    running_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mean[ch];
                    running_var[ch] = (1.0 - momentum) * running_var[ch]
                        + momentum * var[ch] * count / (count - 1.0);
                }
                (mean, inv)
            }

            /// Backward of [`batch_norm_train_plain`].
            #[allow(clippy::too_many_arguments)]
            pub fn batch_norm_backward_plain(
                x: &[$t],
                dy: &[$t],
                w: &[$t],
                mean: &[$t],
                inv: &[$t],
                dx: &mut [$t],
                dw: &mut [$t],
                db: &mut [$t],
                c: usize,
                s: usize,
            ) {
                let row = c * s;
                let count = (x.len() / row * s) as $t;
                let mut sum_dy = vec![0.0; c];
                let mut sum_dyx = vec![0.0; c];
                for (xr, dyr) in x.chunks_exact(row).zip(dy.chunks_exact(row)) {
                    for ch in 0..c {
                        for i in ch * s..(ch + 1) * s {
                            sum_dy[ch] += dyr[i];
                            sum_dyx[ch] += dyr[i] * (xr[i] - mean[ch]) * inv[ch];
                        }
                    }
                }
                for ((xr, dyr), dxr) in x
                    .chunks_exact(row)
                    .zip(dy.chunks_exact(row))
                    .zip(dx.chunks_exact_mut(row))
                {
                    for ch in 0..c {
                        for i in ch * s..(ch + 1) * s {
                            let xhat = (xr[i] - mean[ch]) * inv[ch];
                            dxr[i] = w[ch]
                                * inv[ch]
                                * (dyr[i] - sum_dy[ch] / count - xhat * sum_dyx[ch] / count);
                        }
                    }
                }
                for ch in 0..c {
                    dw[ch] += sum_dyx[ch];
                    db[ch] += sum_dy[ch];
                }
            }

            /// Batch norm inference over `(n, c)` rows, run-time sizes.
            pub fn batch_norm_eval_plain(
                x: &[$t],
                y: &mut [$t],
                w: &[$t],
                b: &[$t],
                running_mean: &[$t],
                running_var: &[$t],
                eps: $t,
            ) {
                let c = w.len();
                for (xr, yr) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)) {
                    for ch in 0..c {
                        yr[ch] = (xr[ch] - running_mean[ch]) / (running_var[ch] + eps).sqrt()
                            * w[ch]
                            + b[ch];
                    }
                }
            }

            /// Batch norm training forward over `(n, C)` rows with const-generic sizes
            /// (`S` spatial values per channel); returns `(mean, inv_std)`.
            #[allow(clippy::too_many_arguments)]
            pub fn batch_norm_train_const<const C: usize, const S: usize>(
                x: &[[[$t; S]; C]],
                y: &mut [[[$t; S]; C]],
                w: &[$t; C],
                b: &[$t; C],
                running_mean: &mut [$t; C],
                running_var: &mut [$t; C],
                eps: $t,
                momentum: $t,
            ) -> ([$t; C], [$t; C]) {
                let count = (x.len() * S) as $t;
                let mut mean = [0.0; C];
                for xr in x {
                    for ch in 0..C {
                        for v in &xr[ch] {
                            mean[ch] += v;
                        }
                    }
                }
                for m in &mut mean {
                    *m /= count;
                }
                let mut var = [0.0; C];
                for xr in x {
                    for ch in 0..C {
                        for v in &xr[ch] {
                            var[ch] += (v - mean[ch]) * (v - mean[ch]);
                        }
                    }
                }
                let mut inv = [0.0; C];
                for ch in 0..C {
                    var[ch] /= count;
                    inv[ch] = 1.0 / (var[ch] + eps).sqrt();
                }
                for (xr, yr) in x.iter().zip(y.iter_mut()) {
                    for ch in 0..C {
                        for i in 0..S {
                            yr[ch][i] = (xr[ch][i] - mean[ch]) * inv[ch] * w[ch] + b[ch];
                        }
                    }
                }
                for ch in 0..C {
                    running_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mean[ch];
                    running_var[ch] = (1.0 - momentum) * running_var[ch]
                        + momentum * var[ch] * count / (count - 1.0);
                }
                (mean, inv)
            }

            /// Backward of [`batch_norm_train_const`].
            #[allow(clippy::too_many_arguments)]
            pub fn batch_norm_backward_const<const C: usize, const S: usize>(
                x: &[[[$t; S]; C]],
                dy: &[[[$t; S]; C]],
                w: &[$t; C],
                mean: &[$t; C],
                inv: &[$t; C],
                dx: &mut [[[$t; S]; C]],
                dw: &mut [$t; C],
                db: &mut [$t; C],
            ) {
                let count = (x.len() * S) as $t;
                let mut sum_dy = [0.0; C];
                let mut sum_dyx = [0.0; C];
                for (xr, dyr) in x.iter().zip(dy) {
                    for ch in 0..C {
                        for i in 0..S {
                            sum_dy[ch] += dyr[ch][i];
                            sum_dyx[ch] += dyr[ch][i] * (xr[ch][i] - mean[ch]) * inv[ch];
                        }
                    }
                }
                for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
                    for ch in 0..C {
                        for i in 0..S {
                            let xhat = (xr[ch][i] - mean[ch]) * inv[ch];
                            dxr[ch][i] = w[ch]
                                * inv[ch]
                                * (dyr[ch][i] - sum_dy[ch] / count - xhat * sum_dyx[ch] / count);
                        }
                    }
                }
                for ch in 0..C {
                    dw[ch] += sum_dyx[ch];
                    db[ch] += sum_dy[ch];
                }
            }

            /// Batch norm inference, const-generic.
            pub fn batch_norm_eval_const<const C: usize>(
                x: &[[$t; C]],
                y: &mut [[$t; C]],
                w: &[$t; C],
                b: &[$t; C],
                running_mean: &[$t; C],
                running_var: &[$t; C],
                eps: $t,
            ) {
                for (xr, yr) in x.iter().zip(y.iter_mut()) {
                    for ch in 0..C {
                        yr[ch] = (xr[ch] - running_mean[ch]) / (running_var[ch] + eps).sqrt()
                            * w[ch]
                            + b[ch];
                    }
                }
            }

            /// Batch norm training forward over `(n, c)`, idiomatic ndarray.
            pub fn batch_norm_train_ndarray(
                x: ArrayView2<'_, $t>,
                w: ArrayView1<'_, $t>,
                b: ArrayView1<'_, $t>,
                eps: $t,
            ) -> Array2<$t> {
                let mean = x.mean_axis(Axis(0)).expect("non-empty");
                let var = x.var_axis(Axis(0), 0.0);
                let inv = var.mapv(|v| 1.0 / (v + eps).sqrt());
                (&x - &mean) * &inv * &w + &b
            }

            /// Batch norm inference, idiomatic ndarray.
            pub fn batch_norm_eval_ndarray(
                x: ArrayView2<'_, $t>,
                w: ArrayView1<'_, $t>,
                b: ArrayView1<'_, $t>,
                running_mean: ArrayView1<'_, $t>,
                running_var: ArrayView1<'_, $t>,
                eps: $t,
            ) -> Array2<$t> {
                let inv = running_var.mapv(|v| 1.0 / (v + eps).sqrt());
                (&x - &running_mean) * &inv * &w + &b
            }
        }
    };
}

baselines!(f32);
baselines!(f64);
