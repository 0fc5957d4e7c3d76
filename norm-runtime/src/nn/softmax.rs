//! Softmax and log-softmax over the last dim of rows of any shape.
//!
//! They are [`ActivationOn`] layers with a [`VectorFn`] that takes the whole
//! vector: [`SoftmaxOn`] over the last dim of any row (each step of a
//! sequence `[[T; N]; S]`), [`Softmax`] over a flat row.

use super::{ActivationOn, VectorFn};
use crate::Float;

/// `e^(x_i - m) / sum_j e^(x_j - m)` with `m = max x`: PyTorch's
/// `Softmax(dim = -1)`. The shift by the maximum keeps every exponential
/// in `(0, 1]`, so rows offset by ±1e4 or spread over thousands are exact.
/// Backward: `dx = y (dy - sum(dy y))`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftmaxFn;

/// `(x_i - m) - ln(sum_j e^(x_j - m))` with `m = max x`: PyTorch's
/// `LogSoftmax(dim = -1)`, accurate where `ln(softmax)` would round to
/// `-inf`. Backward: `dx = dy - softmax(x) sum(dy)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSoftmaxFn;

/// The maximum of `x` (NaN values are skipped here; they still make the
/// result NaN through the exponentials, as in PyTorch).
#[inline]
fn max<T: Float>(x: &[T]) -> T {
    x.iter()
        .fold(T::from_f64(f64::NEG_INFINITY), |m, v| m.max(*v))
}

/// Writes `e^(x_i - m)` into `y` and returns `m` and the sum of `y`.
#[inline]
fn shifted_exp<T: Float>(x: &[T], y: &mut [T]) -> (T, T) {
    let m = max(x);
    let mut sum = T::ZERO;
    for (x, y) in x.iter().zip(y.iter_mut()) {
        *y = (*x - m).exp();
        sum += *y;
    }
    (m, sum)
}

impl VectorFn for SoftmaxFn {
    #[inline]
    fn forward<T: Float>(x: &[T], y: &mut [T]) {
        let (_, sum) = shifted_exp(x, y);
        for y in y.iter_mut() {
            *y = *y / sum;
        }
    }

    #[inline]
    fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]) {
        // y is recomputed into dx, then overwritten by the gradient.
        Self::forward(x, dx);
        let mut dot = T::ZERO;
        for (dy, y) in dy.iter().zip(dx.iter()) {
            dot += *dy * *y;
        }
        for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
            *dx *= *dy - dot;
        }
    }
}

impl VectorFn for LogSoftmaxFn {
    #[inline]
    fn forward<T: Float>(x: &[T], y: &mut [T]) {
        let (m, sum) = shifted_exp(x, y);
        let log_sum = sum.ln();
        for (x, y) in x.iter().zip(y.iter_mut()) {
            *y = (*x - m) - log_sum;
        }
    }

    #[inline]
    fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]) {
        // softmax(x) is recomputed into dx, then overwritten by the gradient.
        SoftmaxFn::forward(x, dx);
        let mut sum = T::ZERO;
        for dy in dy {
            sum += *dy;
        }
        for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
            *dx = *dy - *dx * sum;
        }
    }
}

/// Softmax over every last-dim vector of a row `R`
/// (`torch.nn.Softmax(dim = -1)`).
pub type SoftmaxOn<R> = ActivationOn<SoftmaxFn, R>;
/// Log-softmax over every last-dim vector of a row `R`
/// (`torch.nn.LogSoftmax(dim = -1)`).
pub type LogSoftmaxOn<R> = ActivationOn<LogSoftmaxFn, R>;
/// Softmax over `N` values (`torch.nn.Softmax(dim = -1)`).
pub type Softmax<const N: usize, T = f32> = SoftmaxOn<[T; N]>;
/// Log-softmax over `N` values (`torch.nn.LogSoftmax(dim = -1)`).
pub type LogSoftmax<const N: usize, T = f32> = LogSoftmaxOn<[T; N]>;
