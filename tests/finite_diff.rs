//! Gradients against central finite differences (f64), for every kind and
//! switch: dx and the gradient of every parameter the layer has, in training
//! and inference mode, at several sizes (dims 1, 3, 17 and 64 among them).
//!
//! The loss is `sum(y * dy)` for a random `dy`, so its gradient with respect
//! to the output is `dy`, and `backward` must give the loss's gradients with
//! respect to `x` and the parameters. In training mode the statistics depend
//! on `x`; in inference mode they do too for the per-example kinds and for
//! batch norm without running statistics, and are constants otherwise.

mod common;

use constnorm::{Mode, Normalization, Row, normalize};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const H: f64 = 1e-5;

/// |analytic - numeric| <= TOL * max(1, |numeric|) + the numeric estimate's
/// own error bound (see [`numeric`]).
const TOL: f64 = 1e-6;

/// Flat access to the parameters (and running statistics) a test perturbs or
/// sets, and to the matching gradients, in the same order.
trait Params: Clone + Normalization<Scalar = f64> {
    fn params(&mut self) -> Vec<&mut [f64]>;
    fn grads(grads: &Self::Grads) -> Vec<Vec<f64>>;
    fn set_running(&mut self, _mean: &[f64], _var: &[f64]) {}
}

fn forward<L: Params>(layer: &mut L, mode: Mode, x: &[L::Row], y: &mut [L::Row]) -> L::Saved {
    match mode {
        Mode::Train => layer.forward_train(x, y),
        Mode::Eval => layer.forward_eval(x, y),
    }
    .expect("forward")
}

fn loss<L: Params>(layer: &L, mode: Mode, x: &[L::Row], dy: &[L::Row]) -> f64 {
    let mut layer = layer.clone();
    let mut y = vec![L::Row::ZERO; x.len()];
    forward(&mut layer, mode, x, &mut y);
    y.iter()
        .zip(dy)
        .flat_map(|(y, d)| y.as_flat().iter().zip(d.as_flat()).map(|(y, d)| y * d))
        .sum()
}

/// A derivative by finite differences with step `H`, and a bound on its
/// error (see [`common::fd::richardson`]).
fn numeric(f: impl Fn(f64) -> f64) -> (f64, f64) {
    common::fd::richardson(f, H)
}

fn close(what: &str, analytic: f64, (numeric, error): (f64, f64)) -> Result<(), TestCaseError> {
    prop_assert!(
        (analytic - numeric).abs() <= TOL * numeric.abs().max(1.0) + error,
        "{what}: backward {analytic:e}, finite difference {numeric:e} (+- {error:e})"
    );
    Ok(())
}

fn rows<R: Row<Scalar = f64>>(values: &[f64]) -> Vec<R> {
    values
        .chunks_exact(R::LEN)
        .map(|chunk| {
            let mut row = R::ZERO;
            row.as_flat_mut().copy_from_slice(chunk);
            row
        })
        .collect()
}

fn check<L: Params>(layer: &L, mode: Mode, x: &[f64], dy: &[f64]) -> Result<(), TestCaseError> {
    let (x, dy) = (rows::<L::Row>(x), rows::<L::Row>(dy));
    let mut fresh = layer.clone();
    let mut y = vec![L::Row::ZERO; x.len()];
    let saved = forward(&mut fresh, mode, &x, &mut y);
    let mut dx = vec![L::Row::ZERO; x.len()];
    let mut grads = L::Grads::default();
    fresh
        .backward(&x, &saved, &dy, &mut dx, &mut grads)
        .expect("backward");

    for r in 0..x.len() {
        for i in 0..L::Row::LEN {
            let fd = numeric(|h| {
                let mut xp = x.clone();
                xp[r].as_flat_mut()[i] += h;
                loss(layer, mode, &xp, &dy)
            });
            close(&format!("dx[{r}][{i}]"), dx[r].as_flat()[i], fd)?;
        }
    }
    let analytic = L::grads(&grads);
    let count = layer.clone().params().len();
    prop_assert_eq!(analytic.len(), count, "one gradient per parameter");
    for (p, grad) in analytic.iter().enumerate() {
        for (i, g) in grad.iter().enumerate() {
            let fd = numeric(|h| {
                let mut l = layer.clone();
                l.params()[p][i] += h;
                loss(&l, mode, &x, &dy)
            });
            close(&format!("parameter {p}[{i}]"), *g, fd)?;
        }
    }
    // backward accumulates: a second call adds the same gradients again.
    fresh
        .backward(&x, &saved, &dy, &mut dx, &mut grads)
        .expect("backward");
    for (twice, once) in L::grads(&grads).iter().zip(&analytic) {
        for (t, o) in twice.iter().zip(once) {
            close("accumulated gradient", *t, (2.0 * o, 0.0))?;
        }
    }
    Ok(())
}

fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-3.0..3.0_f64, len)
}

macro_rules! finite_difference_tests {
    ($($name:ident: [$($attr:tt)*], rows = $rows:literal, params = [$($p:ident),*], running = $running:ident;)*) => {$(
        mod $name {
            use super::*;

            #[normalize($($attr)*, dtype = f64)]
            struct Layer;

            impl Params for Layer {
                fn params(&mut self) -> Vec<&mut [f64]> {
                    vec![$(self.$p.as_flat_mut()),*]
                }
                #[allow(unused_variables)]
                fn grads(grads: &Self::Grads) -> Vec<Vec<f64>> {
                    vec![$(grads.$p.as_flat().to_vec()),*]
                }
                finite_difference_tests!(@running $running);
            }

            const LEN: usize = <<Layer as Normalization>::Row as Row>::LEN;

            fn layer(params: &[f64]) -> Layer {
                let mut layer = Layer::new();
                let mut values = params.iter().copied();
                for p in layer.params() {
                    for v in p.iter_mut() {
                        *v = values.next().expect("enough parameter values");
                    }
                }
                layer
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(16))]

                #[test]
                fn train(x in values($rows * LEN), dy in values($rows * LEN), p in values(2 * LEN)) {
                    check(&layer(&p), Mode::Train, &x, &dy)?;
                }

                #[test]
                fn eval(
                    x in values($rows * LEN),
                    dy in values($rows * LEN),
                    p in values(2 * LEN),
                    mean in values(LEN),
                    var in prop::collection::vec(0.25..4.0_f64, LEN),
                ) {
                    let mut layer = layer(&p);
                    layer.set_running(&mean, &var);
                    check(&layer, Mode::Eval, &x, &dy)?;
                }
            }
        }
    )*};
    (@running yes) => {
        fn set_running(&mut self, mean: &[f64], var: &[f64]) {
            let c = self.running_mean.len();
            self.running_mean.copy_from_slice(&mean[..c]);
            self.running_var.copy_from_slice(&var[..c]);
        }
    };
    (@running no) => {};
}

finite_difference_tests! {
    layer_1: [layer, dims = 1], rows = 3, params = [weight, bias], running = no;
    layer_3: [layer, dims = 3], rows = 3, params = [weight, bias], running = no;
    layer_17: [layer, dims = 17], rows = 3, params = [weight, bias], running = no;
    layer_64: [layer, dims = 64], rows = 2, params = [weight, bias], running = no;
    layer_3x4: [layer, dims = [3, 4]], rows = 2, params = [weight, bias], running = no;
    layer_2x2x3: [layer, dims = [2, 2, 3]], rows = 2, params = [weight, bias], running = no;
    layer_no_bias: [layer, dims = 5, bias = false], rows = 3, params = [weight], running = no;
    layer_no_affine: [layer, dims = 5, affine = false], rows = 3, params = [], running = no;
    rms_1: [rms, dims = 1, eps = 1e-3], rows = 3, params = [weight], running = no;
    rms_17: [rms, dims = 17], rows = 3, params = [weight], running = no;
    rms_2x3: [rms, dims = [2, 3]], rows = 2, params = [weight], running = no;
    rms_with_bias: [rms, dims = 5, bias = true], rows = 3, params = [weight, bias], running = no;
    rms_no_affine: [rms, dims = 5, affine = false], rows = 3, params = [], running = no;
    batch_1: [batch, dims = 1], rows = 5, params = [weight, bias], running = yes;
    batch_3: [batch, dims = 3], rows = 5, params = [weight, bias], running = yes;
    batch_3_two_rows: [batch, dims = 3], rows = 2, params = [weight, bias], running = yes;
    batch_17: [batch, dims = 17], rows = 4, params = [weight, bias], running = yes;
    batch_64: [batch, dims = 64], rows = 3, params = [weight, bias], running = yes;
    batch_1d_spatial: [batch, dims = 3, spatial = 4], rows = 2, params = [weight, bias], running = yes;
    batch_2d_one_row: [batch, dims = 2, spatial = [2, 3]], rows = 1, params = [weight, bias], running = yes;
    batch_3d: [batch, dims = 2, spatial = [2, 2, 2]], rows = 2, params = [weight, bias], running = yes;
    batch_no_affine: [batch, dims = 4, affine = false], rows = 4, params = [], running = yes;
    batch_no_running: [batch, dims = 4, track_running_stats = false], rows = 4, params = [weight, bias], running = no;
    batch_cumulative: [batch, dims = 4, momentum = none], rows = 3, params = [weight, bias], running = yes;
    group_3_of_6: [group, dims = 6, groups = 3, spatial = 2], rows = 2, params = [weight, bias], running = no;
    group_1: [group, dims = 4, groups = 1], rows = 3, params = [weight, bias], running = no;
    group_per_channel: [group, dims = 4, groups = 4, spatial = [2, 2]], rows = 2, params = [weight, bias], running = no;
    group_no_affine: [group, dims = 4, groups = 2, spatial = 3, affine = false], rows = 2, params = [], running = no;
    instance_1d: [instance, dims = 3, spatial = 4], rows = 2, params = [], running = no;
    instance_2d_affine: [instance, dims = 2, spatial = [2, 3], affine = true], rows = 2, params = [weight, bias], running = no;
    instance_tracked: [instance, dims = 3, spatial = 5, track_running_stats = true], rows = 3, params = [], running = yes;
    instance_tracked_affine: [instance, dims = 2, spatial = 3, affine = true, track_running_stats = true, momentum = 0.3], rows = 2, params = [weight, bias], running = yes;
    // Batches large enough to run the code dispatched to the CPU's SIMD
    // extensions (the small ones above run the portable code).
    simd_layer: [layer, dims = 96], rows = 3, params = [weight, bias], running = no;
    simd_rms: [rms, dims = 130], rows = 2, params = [weight], running = no;
    simd_group: [group, dims = 8, groups = 2, spatial = [4, 4]], rows = 2, params = [weight, bias], running = no;
    simd_batch: [batch, dims = 40], rows = 26, params = [weight, bias], running = yes;
    simd_batch_2d: [batch, dims = 4, spatial = [8, 8]], rows = 4, params = [weight, bias], running = yes;
}
