//! The magnitude of complex values stored as two halves of the channels,
//! what an STFT front end computes after its convolution with a fixed
//! `[cos; -sin]` basis.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError, Row};
use core::marker::PhantomData;

/// `y = sqrt(re² + im²)` where the first half of `X`'s channels holds the
/// real parts and the second half the imaginary parts: `X` is `[[T; L];
/// 2C]` and `Y` is `[[T; L]; C]` (or any rows whose first dims are `2C` and
/// `C` and whose other dims agree, a flat `[T; 2N]` into `[T; N]`
/// included). Silero VAD's `torch.sqrt(real ** 2 + imag ** 2)` after its
/// STFT convolution, computed in that order (two squares, a sum, a root:
/// the same roundings).
///
/// Backward: `dre = dy re / y`, `dim = dy im / y`, and 0 for both where
/// `y = 0` (the gradient of `torch.abs` of a complex 0, where the written-out
/// `torch.sqrt` would give NaN).
///
/// Training vs inference: the same; no parameters, no state. A size that
/// does not halve is a compile error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ComplexMagnitude<X, Y> {
    marker: PhantomData<(X, Y)>,
}

/// [`ComplexMagnitude`] after a 1-d convolution: `C2 = 2 C` channels of
/// length `L` into `C`.
pub type ComplexMagnitude1d<const C: usize, const L: usize, const C2: usize, T = f32> =
    ComplexMagnitude<[[T; L]; C2], [[T; L]; C]>;

super::stateless_layer!([X: Row, Y: Row<Scalar = X::Scalar>] ComplexMagnitude<X, Y>, scalar = X::Scalar);

impl<X: Row, Y: Row<Scalar = X::Scalar>> ComplexMagnitude<X, Y> {
    /// `X` is `Y` with twice the channels (a compile error otherwise).
    const fn check_shapes() {
        let (x, y) = (X::SHAPE, Y::SHAPE);
        assert!(
            X::LEN == 2 * Y::LEN && x.len() == y.len() && x[0] == 2 * y[0],
            "ComplexMagnitude<X, Y>: X must be Y with twice the channels (the first dim)"
        );
    }
}

impl<X: Row, Y: Row<Scalar = X::Scalar>> Layer for ComplexMagnitude<X, Y> {
    type Input = X;
    type Output = Y;
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(&mut self, x: &[X], y: &mut [Y]) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(&self, x: &[X], y: &mut [Y]) -> Result<SavedRows, NormError> {
        const { Self::check_shapes() };
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().zip(y) {
            let (re, im) = x.as_flat().split_at(Y::LEN);
            for ((y, &re), &im) in y.as_flat_mut().iter_mut().zip(re).zip(im) {
                *y = (re * re + im * im).sqrt();
            }
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[X],
        saved: &SavedRows,
        dy: &[Y],
        dx: &mut [X],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        const { Self::check_shapes() };
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
            let (re, im) = x.as_flat().split_at(Y::LEN);
            let (dre, dim) = dx.as_flat_mut().split_at_mut(Y::LEN);
            let values = re.iter().zip(im).zip(dy.as_flat());
            for (((&re, &im), &dy), (dre, dim)) in values.zip(dre.iter_mut().zip(dim)) {
                let y = (re * re + im * im).sqrt();
                let zero = <X::Scalar as Float>::ZERO;
                let scale = if y == zero { zero } else { dy / y };
                *dre = scale * re;
                *dim = scale * im;
            }
        }
        Ok(())
    }
}
