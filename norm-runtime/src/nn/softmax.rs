//! Softmax and log-softmax over the last dim of rows of any shape.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError, Row};
use core::fmt::Debug;
use core::marker::PhantomData;

/// A function of one vector (a row's last dim) and its backward pass, applied
/// to every last-dim vector of a row by [`LastDimOn`].
pub trait LastDimFn: Copy + Debug + Default + PartialEq {
    /// Writes `f(x)` into `y` (both the length of the last dim).
    fn forward<T: Float>(x: &[T], y: &mut [T]);
    /// Writes the input gradient `dx` of `f` at `x` for the output gradient
    /// `dy` (all three the length of the last dim).
    fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]);
}

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

impl LastDimFn for SoftmaxFn {
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

impl LastDimFn for LogSoftmaxFn {
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

/// A layer applying `F` to every vector along the last dim of a row `R`:
/// the row itself for `[T; N]`, each step of a sequence `[[T; N]; S]`, each
/// innermost vector of deeper rows (PyTorch's `dim = -1`). No parameters.
/// Use it through [`Softmax`] and [`LogSoftmax`] (flat rows), or
/// [`SoftmaxOn`] and [`LogSoftmaxOn`] for any row.
///
/// Backward gets `x`, not `y`, so it recomputes `F(x)` per vector, in `dx`
/// (nothing is saved or allocated).
///
/// Training vs inference: the same; nothing is learned or tracked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LastDimOn<F, R> {
    marker: PhantomData<(F, R)>,
}

/// Softmax over every last-dim vector of a row `R`
/// (`torch.nn.Softmax(dim = -1)`).
pub type SoftmaxOn<R> = LastDimOn<SoftmaxFn, R>;
/// Log-softmax over every last-dim vector of a row `R`
/// (`torch.nn.LogSoftmax(dim = -1)`).
pub type LogSoftmaxOn<R> = LastDimOn<LogSoftmaxFn, R>;
/// Softmax over `N` values (`torch.nn.Softmax(dim = -1)`).
pub type Softmax<const N: usize, T = f32> = SoftmaxOn<[T; N]>;
/// Log-softmax over `N` values (`torch.nn.LogSoftmax(dim = -1)`).
pub type LogSoftmax<const N: usize, T = f32> = LogSoftmaxOn<[T; N]>;

super::stateless_layer!([F: LastDimFn, R: Row] LastDimOn<F, R>, scalar = R::Scalar);

impl<F: LastDimFn, R: Row> LastDimOn<F, R> {
    /// The length of the last dim (at least 1, so that an empty row has no
    /// vectors rather than a vector length of 0).
    const LAST: usize = match R::SHAPE.last() {
        Some(&n) if n > 0 => n,
        _ => 1,
    };
}

impl<F: LastDimFn, R: Row> Layer for LastDimOn<F, R> {
    type Input = R;
    type Output = R;
    type Saved = SavedRows;

    #[inline]
    fn forward_train(&mut self, x: &[R], y: &mut [R]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[R], y: &mut [R]) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            let vectors = x.as_flat().chunks_exact(Self::LAST);
            for (x, y) in vectors.zip(y.as_flat_mut().chunks_exact_mut(Self::LAST)) {
                F::forward(x, y);
            }
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[R],
        saved: &SavedRows,
        dy: &[R],
        dx: &mut [R],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            let n = Self::LAST;
            let vectors = x
                .as_flat()
                .chunks_exact(n)
                .zip(dy.as_flat().chunks_exact(n));
            for ((x, dy), dx) in vectors.zip(dx.as_flat_mut().chunks_exact_mut(n)) {
                F::backward(x, dy, dx);
            }
        }
        Ok(())
    }
}
