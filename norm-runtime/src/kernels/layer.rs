//! Layer normalization (PyTorch's `LayerNorm`): each row is normalized over
//! its own `N` values, the same in training and inference.

use super::reduce::lane_sums;
use super::{Affine, GradsMut, check_backward, check_forward};
use crate::{Float, Mode, NormError};

/// What a layer-norm forward pass keeps for backward: the batch size and mode.
///
/// Per-row statistics are not kept (that would need memory proportional to
/// the batch); backward recomputes them from `x` with the same arithmetic, so
/// they are bit-for-bit those of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSaved {
    rows: usize,
    mode: Mode,
}

impl LayerSaved {
    /// The number of rows of the forward pass.
    #[inline]
    #[must_use]
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// Which forward pass produced these statistics. Layer norm computes the
    /// same thing in both modes.
    #[inline]
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
}

/// The mean and reciprocal standard deviation `1 / sqrt(var + eps)` of one
/// row, with the biased variance, in the accumulator type.
#[inline]
#[must_use]
pub fn row_moments<T: Float, const N: usize>(x: &[T; N], eps: f64) -> (T::Acc, T::Acc) {
    let n = T::Acc::from_usize(N);
    let [sum] = lane_sums(N, |i| [x[i].to_acc()]);
    let rough = sum / n;
    let [dev, dev2] = lane_sums(N, |i| {
        let d = x[i].to_acc() - rough;
        [d, d * d]
    });
    let mean = rough + dev / n;
    let var = ((dev2 - dev * dev / n) / n).max(T::Acc::ZERO);
    let rstd = T::Acc::ONE / (var + T::Acc::from_f64(eps)).sqrt();
    (mean, rstd)
}

/// Forward pass over a batch of rows: `y = (x - mean) / sqrt(var + eps) * weight + bias`
/// with each row's own mean and biased variance.
///
/// # Errors
/// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
/// [`NormError::EmptyBatch`] if `x` is empty.
#[inline]
pub fn forward<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    eps: f64,
    mode: Mode,
    x: &[[T; N]],
    y: &mut [[T; N]],
) -> Result<LayerSaved, NormError> {
    check_forward(x.len(), y.len())?;
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        let (mean, rstd) = row_moments(xr, eps);
        for i in 0..N {
            let xhat = (xr[i].to_acc() - mean) * rstd;
            let scaled = affine.weight.map_or(xhat, |w| xhat * w[i].to_acc());
            let shifted = affine.bias.map_or(scaled, |b| scaled + b[i].to_acc());
            yr[i] = T::from_acc(shifted);
        }
    }
    Ok(LayerSaved {
        rows: x.len(),
        mode,
    })
}

/// Backward pass: writes `dx` and accumulates the gradients of the parameters
/// the layer has.
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`] when the
/// row counts of `x`, `dy`, `dx` and the saved forward pass differ; nothing is
/// written then.
#[inline]
pub fn backward<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    eps: f64,
    x: &[[T; N]],
    saved: &LayerSaved,
    dy: &[[T; N]],
    dx: &mut [[T; N]],
    grads: GradsMut<'_, T, N>,
) -> Result<(), NormError> {
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let n = T::Acc::from_usize(N);
    let mut dweight = [T::Acc::ZERO; N];
    let mut dbias = [T::Acc::ZERO; N];
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        let (mean, rstd) = row_moments(xr, eps);
        let g = |i: usize| {
            let d = dyr[i].to_acc();
            affine.weight.map_or(d, |w| d * w[i].to_acc())
        };
        let [sum_g, sum_g_xhat] = lane_sums(N, |i| {
            let xhat = (xr[i].to_acc() - mean) * rstd;
            let gi = g(i);
            [gi, gi * xhat]
        });
        let mean_g = sum_g / n;
        let mean_g_xhat = sum_g_xhat / n;
        for i in 0..N {
            let xhat = (xr[i].to_acc() - mean) * rstd;
            dxr[i] = T::from_acc(rstd * (g(i) - mean_g - xhat * mean_g_xhat));
            let d = dyr[i].to_acc();
            dweight[i] += d * xhat;
            dbias[i] += d;
        }
    }
    super::accumulate(grads, &dweight, &dbias);
    Ok(())
}
