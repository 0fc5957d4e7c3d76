//! Gradients against central finite differences (f64): dx, dweight and dbias
//! of both kinds, in training and inference mode, at dims 1, 3, 17 and 64.
//!
//! The loss is `sum(y * dy)` for a random `dy`, so its gradient with respect
//! to the output is `dy`, and `backward` must give the loss's gradients with
//! respect to `x`, `weight` and `bias`. In training mode the batch statistics
//! depend on `x` (batch norm) or each row's statistics do (layer norm); in
//! inference mode batch norm's statistics are constants.

use constnorm::{AffineGrads, Mode, Normalization, normalize};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

const H: f64 = 1e-5;

/// |analytic - numeric| <= TOL * max(1, |numeric|): central differences with
/// h = 1e-5 are accurate to about h^2 * f''' + eps / h ~ 1e-10 here.
const TOL: f64 = 1e-6;

/// Access to the parameters and running statistics a test perturbs or sets.
trait Params<const N: usize>:
    Clone + Normalization<Scalar = f64, Row = [f64; N], Grads = AffineGrads<f64, N>>
{
    fn weight(&mut self) -> &mut [f64; N];
    fn bias(&mut self) -> &mut [f64; N];
    fn set_running(&mut self, _mean: &[f64; N], _var: &[f64; N]) {}
}

fn loss<L: Params<N>, const N: usize>(
    layer: &L,
    mode: Mode,
    x: &[[f64; N]],
    dy: &[[f64; N]],
) -> f64 {
    let mut layer = layer.clone();
    let mut y = vec![[0.0; N]; x.len()];
    match mode {
        Mode::Train => layer.forward_train(x, &mut y),
        Mode::Eval => layer.forward_eval(x, &mut y),
    }
    .expect("forward");
    y.iter()
        .flatten()
        .zip(dy.iter().flatten())
        .map(|(y, d)| y * d)
        .sum()
}

fn numeric(f: impl Fn(f64) -> f64) -> f64 {
    (f(H) - f(-H)) / (2.0 * H)
}

fn close(what: &str, analytic: f64, numeric: f64) -> Result<(), TestCaseError> {
    prop_assert!(
        (analytic - numeric).abs() <= TOL * numeric.abs().max(1.0),
        "{what}: backward {analytic:e}, finite difference {numeric:e}"
    );
    Ok(())
}

fn check<L: Params<N>, const N: usize>(
    layer: L,
    mode: Mode,
    x: &[[f64; N]],
    dy: &[[f64; N]],
) -> Result<(), TestCaseError> {
    let mut fresh = layer.clone();
    let mut y = vec![[0.0; N]; x.len()];
    let saved = match mode {
        Mode::Train => fresh.forward_train(x, &mut y),
        Mode::Eval => fresh.forward_eval(x, &mut y),
    }
    .expect("forward");
    let mut dx = vec![[0.0; N]; x.len()];
    let mut grads = AffineGrads::default();
    fresh
        .backward(x, &saved, dy, &mut dx, &mut grads)
        .expect("backward");

    for r in 0..x.len() {
        for c in 0..N {
            let fd = numeric(|h| {
                let mut xp = x.to_vec();
                xp[r][c] += h;
                loss(&layer, mode, &xp, dy)
            });
            close(&format!("dx[{r}][{c}]"), dx[r][c], fd)?;
        }
    }
    for c in 0..N {
        let fd = numeric(|h| {
            let mut l = layer.clone();
            l.weight()[c] += h;
            loss(&l, mode, x, dy)
        });
        close(&format!("dweight[{c}]"), grads.weight[c], fd)?;
        let fd = numeric(|h| {
            let mut l = layer.clone();
            l.bias()[c] += h;
            loss(&l, mode, x, dy)
        });
        close(&format!("dbias[{c}]"), grads.bias[c], fd)?;
    }
    // backward accumulates: a second call adds the same gradients again.
    let before = grads.clone();
    fresh
        .backward(x, &saved, dy, &mut dx, &mut grads)
        .expect("backward");
    for c in 0..N {
        close(
            "accumulated dweight",
            grads.weight[c],
            2.0 * before.weight[c],
        )?;
        close("accumulated dbias", grads.bias[c], 2.0 * before.bias[c])?;
    }
    Ok(())
}

fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-3.0..3.0_f64, len)
}

fn rows<const N: usize>(v: &[f64]) -> Vec<[f64; N]> {
    v.chunks_exact(N)
        .map(|c| c.try_into().expect("chunk"))
        .collect()
}

macro_rules! finite_difference_tests {
    ($($name:ident: $kind:ident, dims = $n:literal, rows = $rows:literal;)*) => {$(
        mod $name {
            use super::*;

            #[normalize($kind, dims = $n, dtype = f64)]
            struct Layer;

            impl Params<$n> for Layer {
                fn weight(&mut self) -> &mut [f64; $n] { &mut self.weight }
                fn bias(&mut self) -> &mut [f64; $n] { &mut self.bias }
                finite_difference_tests!(@running $kind, $n);
            }

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(24))]

                #[test]
                fn train(x in values($rows * $n), dy in values($rows * $n), w in values($n), b in values($n)) {
                    let mut layer = Layer::new();
                    layer.weight.copy_from_slice(&w);
                    layer.bias.copy_from_slice(&b);
                    check(layer, Mode::Train, &rows::<$n>(&x), &rows::<$n>(&dy))?;
                }

                #[test]
                fn eval(
                    x in values($rows * $n),
                    dy in values($rows * $n),
                    w in values($n),
                    b in values($n),
                    mean in values($n),
                    var in prop::collection::vec(0.25..4.0_f64, $n),
                ) {
                    let mut layer = Layer::new();
                    layer.weight.copy_from_slice(&w);
                    layer.bias.copy_from_slice(&b);
                    layer.set_running(&mean.clone().try_into().unwrap(), &var.clone().try_into().unwrap());
                    check(layer, Mode::Eval, &rows::<$n>(&x), &rows::<$n>(&dy))?;
                }
            }
        }
    )*};
    (@running batch, $n:literal) => {
        fn set_running(&mut self, mean: &[f64; $n], var: &[f64; $n]) {
            self.running_mean = *mean;
            self.running_var = *var;
        }
    };
    (@running layer, $n:literal) => {};
}

finite_difference_tests! {
    layer_1: layer, dims = 1, rows = 3;
    layer_3: layer, dims = 3, rows = 3;
    layer_17: layer, dims = 17, rows = 3;
    layer_64: layer, dims = 64, rows = 2;
    batch_1: batch, dims = 1, rows = 5;
    batch_3: batch, dims = 3, rows = 5;
    batch_3_two_rows: batch, dims = 3, rows = 2;
    batch_17: batch, dims = 17, rows = 4;
    batch_64: batch, dims = 64, rows = 3;
}
