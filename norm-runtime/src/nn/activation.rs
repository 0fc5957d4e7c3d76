//! Element-wise activations, over rows of any shape.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError, Row};
use core::fmt::Debug;
use core::marker::PhantomData;

/// A scalar function and its derivative, applied to every value by
/// [`ActivationOn`].
pub trait Elementwise: Copy + Debug + Default + PartialEq {
    /// `f(x)`.
    fn value<T: Float>(x: T) -> T;
    /// `f'(x)`.
    fn derivative<T: Float>(x: T) -> T;
}

/// `max(x, 0)`; its derivative at 0 is 0, as in PyTorch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReluFn;

/// `tanh(x)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TanhFn;

/// `x Φ(x) = x (1 + erf(x / √2)) / 2`, PyTorch's `GELU()` (the exact form,
/// `approximate = "none"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeluFn;

impl Elementwise for ReluFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        if x > T::ZERO { x } else { T::ZERO }
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        if x > T::ZERO { T::ONE } else { T::ZERO }
    }
}

impl Elementwise for TanhFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        x.tanh()
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let t = x.tanh();
        T::ONE - t * t
    }
}

const FRAC_1_SQRT_2: f64 = core::f64::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl Elementwise for GeluFn {
    #[inline]
    fn value<T: Float>(x: T) -> T {
        let half = T::from_f64(0.5);
        half * x * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf())
    }
    #[inline]
    fn derivative<T: Float>(x: T) -> T {
        let half = T::from_f64(0.5);
        let cdf = half * (T::ONE + (x * T::from_f64(FRAC_1_SQRT_2)).erf());
        let pdf = T::from_f64(FRAC_1_SQRT_2PI) * (-half * x * x).exp();
        cdf + x * pdf
    }
}

/// A layer applying `F` to every value of a row `R` of any shape (`[T; N]`,
/// or a channel-major `[[T; L]; C]` or `[[[T; W]; H]; C]` after a
/// convolution): no parameters. Use it through [`Relu`], [`Tanh`] and
/// [`Gelu`] (flat rows), [`Relu1d`] and [`Relu2d`], or [`ReluOn`],
/// [`TanhOn`] and [`GeluOn`] for any row.
///
/// Training vs inference: the same; nothing is learned or tracked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActivationOn<F, R> {
    marker: PhantomData<(F, R)>,
}

/// An activation over `N` values: [`ActivationOn`] a row `[T; N]`.
pub type Activation<F, const N: usize, T = f32> = ActivationOn<F, [T; N]>;

/// ReLU over `N` values (`torch.nn.ReLU`).
pub type Relu<const N: usize, T = f32> = Activation<ReluFn, N, T>;
/// Tanh over `N` values (`torch.nn.Tanh`).
pub type Tanh<const N: usize, T = f32> = Activation<TanhFn, N, T>;
/// GELU over `N` values (`torch.nn.GELU`, exact form).
pub type Gelu<const N: usize, T = f32> = Activation<GeluFn, N, T>;

/// ReLU over every value of a row `R` (`torch.nn.ReLU`).
pub type ReluOn<R> = ActivationOn<ReluFn, R>;
/// Tanh over every value of a row `R` (`torch.nn.Tanh`).
pub type TanhOn<R> = ActivationOn<TanhFn, R>;
/// GELU over every value of a row `R` (`torch.nn.GELU`, exact form).
pub type GeluOn<R> = ActivationOn<GeluFn, R>;

/// ReLU after a 1-d convolution: `C` channels of length `L`.
pub type Relu1d<const C: usize, const L: usize, T = f32> = ReluOn<[[T; L]; C]>;
/// ReLU after a 2-d convolution: `C` channels of `H x W`.
pub type Relu2d<const C: usize, const H: usize, const W: usize, T = f32> = ReluOn<[[[T; W]; H]; C]>;

super::stateless_layer!([F: Elementwise, R: Row] ActivationOn<F, R>, scalar = R::Scalar);

impl<F: Elementwise, R: Row> Layer for ActivationOn<F, R> {
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
            for (x, y) in x.as_flat().iter().zip(y.as_flat_mut()) {
                *y = F::value(*x);
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
            let values = x.as_flat().iter().zip(dy.as_flat());
            for ((x, dy), dx) in values.zip(dx.as_flat_mut()) {
                *dx = *dy * F::derivative(*x);
            }
        }
        Ok(())
    }
}
