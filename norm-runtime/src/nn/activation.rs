//! Element-wise activations.

use super::{SavedRows, check_backward, check_forward};
use crate::state::{Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Float, Layer, NoGrads, NormError, Parameters, StateDict};
use core::fmt::Debug;
use core::marker::PhantomData;

/// A scalar function and its derivative, applied to every value by
/// [`Activation`].
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

/// A layer applying `F` to each of `N` values: no parameters, the same in
/// training and inference. Use it through [`Relu`], [`Tanh`] and [`Gelu`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Activation<F, const N: usize, T = f32> {
    function: PhantomData<(F, T)>,
}

/// ReLU over `N` values (`torch.nn.ReLU`).
pub type Relu<const N: usize, T = f32> = Activation<ReluFn, N, T>;
/// Tanh over `N` values (`torch.nn.Tanh`).
pub type Tanh<const N: usize, T = f32> = Activation<TanhFn, N, T>;
/// GELU over `N` values (`torch.nn.GELU`, exact form).
pub type Gelu<const N: usize, T = f32> = Activation<GeluFn, N, T>;

impl<F, const N: usize, T> Activation<F, N, T> {
    /// The activation (it has no state).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            function: PhantomData,
        }
    }
}

impl<F, const N: usize, T> Default for Activation<F, N, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: Elementwise, const N: usize, T: Float> Parameters for Activation<F, N, T> {
    type Scalar = T;
    type Grads = NoGrads;

    #[inline]
    fn parameter(&self, _: usize) -> &[T] {
        &[]
    }

    #[inline]
    fn parameter_mut(&mut self, _: usize) -> &mut [T] {
        &mut []
    }

    #[inline]
    fn reset_parameters<R: rand::Rng + ?Sized>(&mut self, _: &mut R) {}
}

impl<F: Elementwise, const N: usize, T: Float> Layer for Activation<F, N, T> {
    type Input = [T; N];
    type Output = [T; N];
    type Saved = SavedRows;

    #[inline]
    fn forward_train(&mut self, x: &[[T; N]], y: &mut [[T; N]]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[[T; N]], y: &mut [[T; N]]) -> Result<SavedRows, NormError> {
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.as_flattened().iter().zip(y.as_flattened_mut()) {
            *y = F::value(*x);
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[[T; N]],
        saved: &SavedRows,
        dy: &[[T; N]],
        dx: &mut [[T; N]],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        let values = x.as_flattened().iter().zip(dy.as_flattened());
        for ((x, dy), dx) in values.zip(dx.as_flattened_mut()) {
            *dx = *dy * F::derivative(*x);
        }
        Ok(())
    }
}

impl<F: Elementwise, const N: usize, T: Float> StateDict for Activation<F, N, T> {
    type Scalar = T;

    fn visit_arrays(&self, _: &mut Visit<'_, T>) {}

    fn visit_arrays_mut(&mut self, _: &mut VisitMut<'_, T>) {}

    fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

    fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
}

/// A unit value: an activation has no state (feature `serde`).
#[cfg(feature = "serde")]
impl<F, const N: usize, T> serde::Serialize for Activation<F, N, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

/// Accepts a unit value (feature `serde`).
#[cfg(feature = "serde")]
impl<'de, F, const N: usize, T> serde::Deserialize<'de> for Activation<F, N, T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <() as serde::Deserialize>::deserialize(deserializer)?;
        Ok(Self::new())
    }
}
