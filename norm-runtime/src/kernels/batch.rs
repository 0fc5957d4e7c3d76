//! Batch normalization (PyTorch's `BatchNorm1d/2d/3d`): each of the `C`
//! channels is normalized with statistics over the batch and the channel's
//! spatial positions in training, and with running averages of them in
//! inference. A row is channel-major (`[[T; L]; C]`, `[[[T; W]; H]; C]`, or
//! `[T; C]` without spatial dims), like PyTorch's contiguous NCHW.

use super::{Acc, Affine, GradsMut, accumulate, check_backward, check_forward};
use crate::{Float, Mode, NormError, Row};

/// The running statistics of a layer that tracks them, updated by training
/// passes.
#[derive(Debug)]
pub struct Running<'a, T, const C: usize> {
    /// Running mean per channel (PyTorch's `running_mean`).
    pub mean: &'a mut [T; C],
    /// Running unbiased variance per channel (PyTorch's `running_var`).
    pub var: &'a mut [T; C],
    /// Training batches seen (PyTorch's `num_batches_tracked`).
    pub num_batches_tracked: &'a mut u64,
}

/// The statistics a batch-norm forward pass used, kept for backward: the
/// per-channel mean and `1 / sqrt(var + eps)`, the batch size and the mode.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSaved<T: Float, const C: usize> {
    mean: [T::Acc; C],
    inv_std: [T::Acc; C],
    rows: usize,
    mode: Mode,
}

impl<T: Float, const C: usize> BatchSaved<T, C> {
    /// The per-channel mean used: the batch's, or the running mean.
    #[inline]
    #[must_use]
    pub const fn mean(&self) -> &[T::Acc; C] {
        &self.mean
    }

    /// The per-channel `1 / sqrt(var + eps)` used.
    #[inline]
    #[must_use]
    pub const fn inv_std(&self) -> &[T::Acc; C] {
        &self.inv_std
    }

    /// The number of rows of the forward pass.
    #[inline]
    #[must_use]
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// Which statistics were used: the batch's ([`Mode::Train`]; also in
    /// inference for a layer that does not track running statistics), or the
    /// fixed running statistics ([`Mode::Eval`]).
    #[inline]
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }

    /// Statistics of a batch normalized with fixed per-channel statistics.
    pub(crate) fn fixed(mean: [T::Acc; C], inv_std: [T::Acc; C], rows: usize) -> Self {
        Self {
            mean,
            inv_std,
            rows,
            mode: Mode::Eval,
        }
    }
}

/// Values per channel in one row.
const fn spatial<R: Row, const C: usize>() -> usize {
    R::LEN / C
}

/// Per-channel mean and variance.
type Moments<T, const C: usize> = ([Acc<T>; C], [Acc<T>; C]);

/// A layer's running mean and variance, read-only.
pub type RunningRef<'a, T, const C: usize> = (&'a [T; C], &'a [T; C]);

/// Per-channel batch mean and biased variance, corrected two-pass.
#[inline]
fn batch_moments<R: Row, const C: usize>(x: &[R]) -> Moments<R::Scalar, C> {
    let s = spatial::<R, C>();
    let n = Acc::<R::Scalar>::from_usize(x.len() * s);
    let zero = Acc::<R::Scalar>::ZERO;
    let mut rough = [zero; C];
    for row in x {
        for (sum, values) in rough.iter_mut().zip(row.as_flat().chunks_exact(s)) {
            for v in values {
                *sum += v.to_acc();
            }
        }
    }
    for sum in &mut rough {
        *sum = *sum / n;
    }
    let mut dev = [zero; C];
    let mut dev2 = [zero; C];
    for row in x {
        for (c, values) in row.as_flat().chunks_exact(s).enumerate() {
            for v in values {
                let d = v.to_acc() - rough[c];
                dev[c] += d;
                dev2[c] += d * d;
            }
        }
    }
    let mut var = [zero; C];
    for c in 0..C {
        rough[c] += dev[c] / n;
        var[c] = ((dev2[c] - dev[c] * dev[c] / n) / n).max(zero);
    }
    (rough, var)
}

#[inline]
pub(crate) fn inv_std<A: Float>(var: A, eps: f64) -> A {
    A::ONE / (var + A::from_f64(eps)).sqrt()
}

/// `y = (x - mean) * inv_std * weight + bias`, per channel.
#[inline]
fn normalize<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    mean: &[Acc<R::Scalar>; C],
    inv_std: &[Acc<R::Scalar>; C],
    x: &[R],
    y: &mut [R],
) {
    let s = spatial::<R, C>();
    let one = Acc::<R::Scalar>::ONE;
    let zero = Acc::<R::Scalar>::ZERO;
    let mut scale = [zero; C];
    let mut shift = [zero; C];
    for c in 0..C {
        scale[c] = affine.weight.map_or(one, |w| w[c].to_acc());
        shift[c] = affine.bias.map_or(zero, |b| b[c].to_acc());
    }
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        let channels = xr
            .as_flat()
            .chunks_exact(s)
            .zip(yr.as_flat_mut().chunks_exact_mut(s));
        for (c, (xs, ys)) in channels.enumerate() {
            for (xv, yv) in xs.iter().zip(ys) {
                let xhat = (xv.to_acc() - mean[c]) * inv_std[c];
                *yv = R::Scalar::from_acc(xhat * scale[c] + shift[c]);
            }
        }
    }
}

/// Training forward pass: normalizes with the batch's statistics and, when the
/// layer tracks them, updates the running statistics as PyTorch does:
/// `num_batches_tracked += 1`, then `r = (1 - m) r + m s` with the batch mean,
/// and the batch's unbiased variance (`var * n / (n - 1)`, `n` = rows x
/// spatial positions) for `running_var`, where `m = momentum`, or
/// `1 / num_batches_tracked` when it is `None`.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`], and
/// [`NormError::TooFewValuesPerChannel`] when each channel has a single value.
/// On error nothing is written.
#[inline]
pub fn forward_train<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running: Option<Running<'_, R::Scalar, C>>,
    eps: f64,
    momentum: Option<f64>,
    x: &[R],
    y: &mut [R],
) -> Result<BatchSaved<R::Scalar, C>, NormError> {
    check_forward(x.len(), y.len())?;
    let values = x.len() * spatial::<R, C>();
    if values < 2 {
        return Err(NormError::TooFewValuesPerChannel { values });
    }
    let (mean, var) = batch_moments::<R, C>(x);
    let mut inv = [Acc::<R::Scalar>::ZERO; C];
    for (i, v) in inv.iter_mut().zip(&var) {
        *i = inv_std(*v, eps);
    }
    normalize(affine, &mean, &inv, x, y);
    if let Some(running) = running {
        let count = running.num_batches_tracked.saturating_add(1);
        *running.num_batches_tracked = count;
        #[allow(clippy::cast_precision_loss)]
        let m = momentum.unwrap_or(1.0 / count as f64);
        let n = Acc::<R::Scalar>::from_usize(values);
        let bessel = n / (n - Acc::<R::Scalar>::ONE);
        let mut unbiased = var;
        for v in &mut unbiased {
            *v *= bessel;
        }
        update_running(running.mean, running.var, m, &mean, &unbiased);
    }
    Ok(BatchSaved {
        mean,
        inv_std: inv,
        rows: x.len(),
        mode: Mode::Train,
    })
}

/// `r = (1 - m) r + m s` for the running mean and variance.
#[inline]
pub(crate) fn update_running<T: Float, const C: usize>(
    running_mean: &mut [T; C],
    running_var: &mut [T; C],
    momentum: f64,
    mean: &[T::Acc; C],
    unbiased_var: &[T::Acc; C],
) {
    let m = T::Acc::from_f64(momentum);
    let keep = T::Acc::ONE - m;
    for c in 0..C {
        running_mean[c] = T::from_acc(keep * running_mean[c].to_acc() + m * mean[c]);
        running_var[c] = T::from_acc(keep * running_var[c].to_acc() + m * unbiased_var[c]);
    }
}

/// Inference forward pass: normalizes with the running statistics, or, for a
/// layer that does not track them (`running` is `None`), with the batch's
/// statistics as PyTorch does. Nothing is updated.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`]; without running
/// statistics also [`NormError::TooFewValuesPerChannel`].
#[inline]
pub fn forward_eval<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running: Option<RunningRef<'_, R::Scalar, C>>,
    eps: f64,
    x: &[R],
    y: &mut [R],
) -> Result<BatchSaved<R::Scalar, C>, NormError> {
    let Some((running_mean, running_var)) = running else {
        return forward_train(affine, None, eps, None, x, y);
    };
    check_forward(x.len(), y.len())?;
    let mut mean = [Acc::<R::Scalar>::ZERO; C];
    let mut inv = [Acc::<R::Scalar>::ZERO; C];
    for c in 0..C {
        mean[c] = running_mean[c].to_acc();
        inv[c] = inv_std(running_var[c].to_acc(), eps);
    }
    normalize(affine, &mean, &inv, x, y);
    Ok(BatchSaved::fixed(mean, inv, x.len()))
}

/// Backward pass of the forward pass that returned `saved`: through the batch
/// statistics after training, through the fixed statistics after inference.
/// Writes `dx` and accumulates the gradients of the parameters the layer has.
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`]; nothing
/// is written then.
#[inline]
pub fn backward<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    x: &[R],
    saved: &BatchSaved<R::Scalar, C>,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, [R::Scalar; C]>,
) -> Result<(), NormError> {
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let s = spatial::<R, C>();
    let zero = Acc::<R::Scalar>::ZERO;
    let (mean, inv) = (&saved.mean, &saved.inv_std);
    let mut sum_dy = [zero; C];
    let mut sum_dy_xhat = [zero; C];
    for (xr, dyr) in x.iter().zip(dy) {
        let channels = xr
            .as_flat()
            .chunks_exact(s)
            .zip(dyr.as_flat().chunks_exact(s));
        for (c, (xs, dys)) in channels.enumerate() {
            for (xv, dyv) in xs.iter().zip(dys) {
                let d = dyv.to_acc();
                sum_dy[c] += d;
                sum_dy_xhat[c] += d * (xv.to_acc() - mean[c]) * inv[c];
            }
        }
    }
    let n = Acc::<R::Scalar>::from_usize(x.len() * s);
    let mut scale = [zero; C];
    let mut mean_dy = [zero; C];
    let mut mean_dy_xhat = [zero; C];
    for c in 0..C {
        scale[c] = affine.weight.map_or(inv[c], |w| w[c].to_acc() * inv[c]);
        // With fixed statistics (inference) the two mean terms vanish.
        if saved.mode == Mode::Train {
            mean_dy[c] = sum_dy[c] / n;
            mean_dy_xhat[c] = sum_dy_xhat[c] / n;
        }
    }
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        let channels = xr
            .as_flat()
            .chunks_exact(s)
            .zip(dyr.as_flat().chunks_exact(s))
            .zip(dxr.as_flat_mut().chunks_exact_mut(s));
        for (c, ((xs, dys), dxs)) in channels.enumerate() {
            for ((xv, dyv), dxv) in xs.iter().zip(dys).zip(dxs) {
                let xhat = (xv.to_acc() - mean[c]) * inv[c];
                *dxv = R::Scalar::from_acc(
                    scale[c] * (dyv.to_acc() - mean_dy[c] - xhat * mean_dy_xhat[c]),
                );
            }
        }
    }
    accumulate(grads, &sum_dy_xhat, &sum_dy);
    Ok(())
}
