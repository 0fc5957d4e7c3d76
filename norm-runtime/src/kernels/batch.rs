//! Batch normalization (PyTorch's `BatchNorm1d` on `(batch, N)` input): each
//! of the `N` features is normalized with statistics over the batch in
//! training, and with running averages of them in inference.

use super::{Affine, GradsMut, check_backward, check_forward};
use crate::{Float, Mode, NormError};

/// The running statistics of a batch-norm layer, updated by training passes.
#[derive(Debug)]
pub struct Running<'a, T, const N: usize> {
    /// Running mean per feature (PyTorch's `running_mean`).
    pub mean: &'a mut [T; N],
    /// Running unbiased variance per feature (PyTorch's `running_var`).
    pub var: &'a mut [T; N],
    /// Training batches seen (PyTorch's `num_batches_tracked`).
    pub num_batches_tracked: &'a mut u64,
}

/// The statistics a batch-norm forward pass used, kept for backward: the
/// per-feature mean and `1 / sqrt(var + eps)`, the batch size and the mode.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSaved<T: Float, const N: usize> {
    mean: [T::Acc; N],
    inv_std: [T::Acc; N],
    rows: usize,
    mode: Mode,
}

impl<T: Float, const N: usize> BatchSaved<T, N> {
    /// The per-feature mean used: the batch's in training, the running mean
    /// in inference.
    #[inline]
    #[must_use]
    pub const fn mean(&self) -> &[T::Acc; N] {
        &self.mean
    }

    /// The per-feature `1 / sqrt(var + eps)` used.
    #[inline]
    #[must_use]
    pub const fn inv_std(&self) -> &[T::Acc; N] {
        &self.inv_std
    }

    /// The number of rows of the forward pass.
    #[inline]
    #[must_use]
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the statistics are the batch's ([`Mode::Train`]) or fixed
    /// running statistics ([`Mode::Eval`]).
    #[inline]
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
}

/// Per-feature batch mean and biased variance, corrected two-pass.
#[inline]
fn batch_moments<T: Float, const N: usize>(x: &[[T; N]]) -> ([T::Acc; N], [T::Acc; N]) {
    let n = T::Acc::from_usize(x.len());
    let mut rough = [T::Acc::ZERO; N];
    for row in x {
        for (s, v) in rough.iter_mut().zip(row) {
            *s += v.to_acc();
        }
    }
    for s in &mut rough {
        *s = *s / n;
    }
    let mut dev = [T::Acc::ZERO; N];
    let mut dev2 = [T::Acc::ZERO; N];
    for row in x {
        for c in 0..N {
            let d = row[c].to_acc() - rough[c];
            dev[c] += d;
            dev2[c] += d * d;
        }
    }
    let mut var = [T::Acc::ZERO; N];
    for c in 0..N {
        rough[c] += dev[c] / n;
        var[c] = ((dev2[c] - dev[c] * dev[c] / n) / n).max(T::Acc::ZERO);
    }
    (rough, var)
}

#[inline]
fn inv_std<A: Float>(var: A, eps: f64) -> A {
    A::ONE / (var + A::from_f64(eps)).sqrt()
}

/// `y = (x - mean) * inv_std * weight + bias`, per feature.
#[inline]
fn normalize<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    mean: &[T::Acc; N],
    inv_std: &[T::Acc; N],
    x: &[[T; N]],
    y: &mut [[T; N]],
) {
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        for c in 0..N {
            let xhat = (xr[c].to_acc() - mean[c]) * inv_std[c];
            let scaled = affine.weight.map_or(xhat, |w| xhat * w[c].to_acc());
            let shifted = affine.bias.map_or(scaled, |b| scaled + b[c].to_acc());
            yr[c] = T::from_acc(shifted);
        }
    }
}

/// Training forward pass: normalizes with the batch's statistics and, when the
/// layer tracks them, updates the running statistics as PyTorch does:
/// `num_batches_tracked += 1`, then `r = (1 - m) r + m s` with the batch mean,
/// and the batch's unbiased variance (`var * n / (n - 1)`) for `running_var`,
/// where `m = momentum`, or `1 / num_batches_tracked` when it is `None`.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`], and
/// [`NormError::TooFewValuesPerChannel`] for a single row. On error nothing is
/// written.
#[inline]
pub fn forward_train<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    running: Option<Running<'_, T, N>>,
    eps: f64,
    momentum: Option<f64>,
    x: &[[T; N]],
    y: &mut [[T; N]],
) -> Result<BatchSaved<T, N>, NormError> {
    check_forward(x.len(), y.len())?;
    if x.len() < 2 {
        return Err(NormError::TooFewValuesPerChannel { values: x.len() });
    }
    let (mean, var) = batch_moments(x);
    let mut inv = [T::Acc::ZERO; N];
    for (i, v) in inv.iter_mut().zip(&var) {
        *i = inv_std(*v, eps);
    }
    normalize(affine, &mean, &inv, x, y);
    if let Some(running) = running {
        let count = running.num_batches_tracked.saturating_add(1);
        *running.num_batches_tracked = count;
        let m = T::Acc::from_f64(momentum.unwrap_or(1.0 / count as f64));
        let keep = T::Acc::ONE - m;
        let n = T::Acc::from_usize(x.len());
        let bessel = n / (n - T::Acc::ONE);
        for c in 0..N {
            running.mean[c] = T::from_acc(keep * running.mean[c].to_acc() + m * mean[c]);
            running.var[c] = T::from_acc(keep * running.var[c].to_acc() + m * var[c] * bessel);
        }
    }
    Ok(BatchSaved {
        mean,
        inv_std: inv,
        rows: x.len(),
        mode: Mode::Train,
    })
}

/// Inference forward pass: normalizes with the running statistics, or, for a
/// layer that does not track them (`running` is `None`), with the batch's
/// statistics as PyTorch does. Nothing is updated.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`]; without running
/// statistics also [`NormError::TooFewValuesPerChannel`].
#[inline]
pub fn forward_eval<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    running: Option<(&[T; N], &[T; N])>,
    eps: f64,
    x: &[[T; N]],
    y: &mut [[T; N]],
) -> Result<BatchSaved<T, N>, NormError> {
    let Some((running_mean, running_var)) = running else {
        return forward_train(affine, None, eps, None, x, y);
    };
    check_forward(x.len(), y.len())?;
    let mut mean = [T::Acc::ZERO; N];
    let mut inv = [T::Acc::ZERO; N];
    for c in 0..N {
        mean[c] = running_mean[c].to_acc();
        inv[c] = inv_std(running_var[c].to_acc(), eps);
    }
    normalize(affine, &mean, &inv, x, y);
    Ok(BatchSaved {
        mean,
        inv_std: inv,
        rows: x.len(),
        mode: Mode::Eval,
    })
}

/// Backward pass of the forward pass that returned `saved`: through the batch
/// statistics after training, through the fixed statistics after inference.
/// Writes `dx` and accumulates the gradients of the parameters the layer has.
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`]; nothing
/// is written then.
#[inline]
pub fn backward<T: Float, const N: usize>(
    affine: Affine<'_, T, N>,
    x: &[[T; N]],
    saved: &BatchSaved<T, N>,
    dy: &[[T; N]],
    dx: &mut [[T; N]],
    grads: GradsMut<'_, T, N>,
) -> Result<(), NormError> {
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let (mean, inv) = (&saved.mean, &saved.inv_std);
    let mut sum_dy = [T::Acc::ZERO; N];
    let mut sum_dy_xhat = [T::Acc::ZERO; N];
    for (xr, dyr) in x.iter().zip(dy) {
        for c in 0..N {
            let d = dyr[c].to_acc();
            sum_dy[c] += d;
            sum_dy_xhat[c] += d * (xr[c].to_acc() - mean[c]) * inv[c];
        }
    }
    let n = T::Acc::from_usize(x.len());
    let mut scale = [T::Acc::ZERO; N];
    let mut mean_dy = [T::Acc::ZERO; N];
    let mut mean_dy_xhat = [T::Acc::ZERO; N];
    for c in 0..N {
        scale[c] = affine.weight.map_or(inv[c], |w| w[c].to_acc() * inv[c]);
        if saved.mode == Mode::Train {
            mean_dy[c] = sum_dy[c] / n;
            mean_dy_xhat[c] = sum_dy_xhat[c] / n;
        }
    }
    // In inference the statistics are constants, so the two mean terms vanish.
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        for c in 0..N {
            let xhat = (xr[c].to_acc() - mean[c]) * inv[c];
            dxr[c] =
                T::from_acc(scale[c] * (dyr[c].to_acc() - mean_dy[c] - xhat * mean_dy_xhat[c]));
        }
    }
    super::accumulate(grads, &sum_dy_xhat, &sum_dy);
    Ok(())
}
