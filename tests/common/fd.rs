//! Finite differences for the gradient tests, and a layer's gradients
//! checked by them.

use constnorm::{Gradients, Layer, NoGrads, Row};
use rand::{RngExt, SeedableRng};

/// A derivative by finite differences, and a bound on its error.
///
/// Central differences with steps `h` and `h / 2`, combined by Richardson
/// extrapolation (error O(h^4)); the two estimates' difference bounds the
/// error. It is tiny for well-conditioned inputs and grows only where the
/// function is strongly curved, as near a zero-variance channel, where the
/// normalization's gradient changes fast.
pub fn richardson(mut f: impl FnMut(f64) -> f64, h: f64) -> (f64, f64) {
    let mut central = |h: f64| (f(h) - f(-h)) / (2.0 * h);
    let (coarse, fine) = (central(h), central(h / 2.0));
    ((4.0 * fine - coarse) / 3.0, (fine - coarse).abs())
}

/// A generator seeded with `seed`.
pub fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Rows of values uniform in `-scale..scale`.
pub fn random_rows<R: Row<Scalar = f64>>(n: usize, scale: f64, rng: &mut impl rand::Rng) -> Vec<R> {
    (0..n)
        .map(|_| {
            let mut r = R::ZERO;
            r.as_flat_mut()
                .iter_mut()
                .for_each(|v| *v = rng.random_range(-scale..scale));
            r
        })
        .collect()
}

/// `sum(y * r)`.
pub fn dot<R: Row<Scalar = f64>>(y: &[R], r: &[R]) -> f64 {
    let pairs = y
        .iter()
        .zip(r)
        .flat_map(|(y, r)| y.as_flat().iter().zip(r.as_flat()));
    pairs.map(|(a, b)| a * b).sum()
}

/// `layer`'s input and parameter gradients against finite differences of
/// `sum(y * r)` on three random rows in `-scale..scale`.
pub fn check_fd<L: Layer<Scalar = f64>>(mut layer: L, scale: f64, seed: u64) {
    let mut rng = rng(seed);
    let x: Vec<L::Input> = random_rows(3, scale, &mut rng);
    let r: Vec<L::Output> = random_rows(3, 1.0, &mut rng);
    let mut y = vec![L::Output::ZERO; 3];
    let saved = layer.forward_eval(&x, &mut y).unwrap();
    let mut dx: Vec<L::Input> = random_rows(3, 1.0, &mut rng);
    let mut grads = L::Grads::default();
    layer.backward(&x, &saved, &r, &mut dx, &mut grads).unwrap();
    let close = |analytic: f64, (numeric, bound): (f64, f64), what: &str| {
        assert!(
            (analytic - numeric).abs() <= 1e-8 * numeric.abs().max(1.0) + bound,
            "{}: {what} = {analytic}, finite difference {numeric}",
            std::any::type_name::<L>()
        );
    };
    for b in 0..3 {
        for k in 0..L::Input::LEN {
            let numeric = richardson(
                |h| {
                    let mut x = x.clone();
                    x[b].as_flat_mut()[k] += h;
                    let mut y = vec![L::Output::ZERO; 3];
                    layer.forward_eval(&x, &mut y).unwrap();
                    dot(&y, &r)
                },
                1e-4,
            );
            close(dx[b].as_flat()[k], numeric, &format!("dx[{b}][{k}]"));
        }
    }
    for i in 0..<L::Grads as Gradients<f64>>::ARRAYS {
        for k in 0..layer.parameter(i).len() {
            let numeric = richardson(
                |h| {
                    let keep = layer.parameter(i)[k];
                    layer.parameter_mut(i)[k] = keep + h;
                    let mut y = vec![L::Output::ZERO; 3];
                    layer.forward_eval(&x, &mut y).unwrap();
                    layer.parameter_mut(i)[k] = keep;
                    dot(&y, &r)
                },
                1e-4,
            );
            let analytic = Gradients::array(&grads, i)[k];
            close(analytic, numeric, &format!("parameter {i}[{k}]"));
        }
    }
}

/// `f` and `f'` at `x` through the layer `L` over one value.
pub fn at<L: Layer<Input = [f64; 1], Output = [f64; 1], Grads = NoGrads> + Default>(
    x: f64,
) -> (f64, f64) {
    let layer = L::default();
    let ([[y]], saved) = layer.forward_eval_array(&[[x]]);
    let [[d]] = layer
        .backward_array(&[[x]], &saved, &[[1.0]], &mut NoGrads)
        .unwrap();
    (y, d)
}
