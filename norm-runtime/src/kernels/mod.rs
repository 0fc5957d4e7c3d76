//! Numeric kernels the generated layers call.
//!
//! Every kernel is generic over the scalar type and the layer's constant size
//! `N`, so each generated layer gets its own copy, specialized to its size.
//! They take the layer's arrays by reference and allocate nothing.
//!
//! Statistics are accumulated in [`Float::Acc`](crate::Float::Acc) with the
//! corrected two-pass algorithm (mean, then the sum of squared deviations
//! together with the sum of deviations, which corrects the mean's rounding
//! error). This is stable for inputs far from zero, and a constant input gives
//! exactly zero variance and exactly the bias as output.

pub mod batch;
pub mod layer;
mod reduce;

use crate::NormError;

/// The learned per-feature scale and shift, when the layer has them.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a, T, const N: usize> {
    /// The per-feature scale (PyTorch's `weight`, gamma), if the layer has one.
    pub weight: Option<&'a [T; N]>,
    /// The per-feature shift (PyTorch's `bias`, beta), if the layer has one.
    pub bias: Option<&'a [T; N]>,
}

/// Where backward accumulates the parameter gradients, for the parameters the
/// layer has.
#[derive(Debug)]
pub struct GradsMut<'a, T, const N: usize> {
    /// Accumulator of the `weight` gradient.
    pub weight: Option<&'a mut [T; N]>,
    /// Accumulator of the `bias` gradient.
    pub bias: Option<&'a mut [T; N]>,
}

/// Checks the arguments of a forward pass.
#[inline]
pub(crate) fn check_forward(x_rows: usize, y_rows: usize) -> Result<(), NormError> {
    if y_rows != x_rows {
        return Err(NormError::RowCountMismatch {
            argument: "y",
            expected: x_rows,
            found: y_rows,
        });
    }
    if x_rows == 0 {
        return Err(NormError::EmptyBatch);
    }
    Ok(())
}

/// Checks the arguments of a backward pass against the forward pass it undoes.
#[inline]
pub(crate) fn check_backward(
    saved_rows: usize,
    x_rows: usize,
    dy_rows: usize,
    dx_rows: usize,
) -> Result<(), NormError> {
    if x_rows != saved_rows {
        return Err(NormError::SavedRowsMismatch {
            expected: saved_rows,
            found: x_rows,
        });
    }
    for (argument, found) in [("dy", dy_rows), ("dx", dx_rows)] {
        if found != x_rows {
            return Err(NormError::RowCountMismatch {
                argument,
                expected: x_rows,
                found,
            });
        }
    }
    Ok(())
}

/// Adds gradient sums computed in the accumulator type to the caller's
/// accumulators, rounding once.
#[inline]
pub(crate) fn accumulate<T: crate::Float, const N: usize>(
    grads: GradsMut<'_, T, N>,
    dweight: &[T::Acc; N],
    dbias: &[T::Acc; N],
) {
    for (acc, sum) in [(grads.weight, dweight), (grads.bias, dbias)] {
        if let Some(acc) = acc {
            for (a, s) in acc.iter_mut().zip(sum) {
                *a = T::from_acc(a.to_acc() + *s);
            }
        }
    }
}
