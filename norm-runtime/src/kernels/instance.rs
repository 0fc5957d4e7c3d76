//! Instance normalization that tracks running statistics
//! (`InstanceNorm1d/2d/3d(track_running_stats=True)`): training normalizes
//! each channel of each example with its own statistics and moves the running
//! statistics towards their average over the batch; inference uses the
//! running statistics, like batch norm.
//!
//! Without running statistics, instance norm is [`rows`] with one segment per
//! channel.

use super::batch::{self, BatchSaved};
use super::rows::{self, RowSaved, Stats, segment_stats};
use super::stats::update_running;
use super::{Acc, Affine, GradsMut};
use crate::{Float, Mode, NormError, Row};

/// What a tracked instance-norm forward pass keeps for backward.
#[derive(Clone, Debug, PartialEq)]
pub enum InstanceSaved<T: Float, const C: usize> {
    /// Training: each channel of each example used its own statistics.
    PerInstance(RowSaved),
    /// Inference: every example used the running statistics.
    Running(BatchSaved<T, C>),
}

impl<T: Float, const C: usize> InstanceSaved<T, C> {
    /// The number of rows of the forward pass.
    #[inline]
    #[must_use]
    pub const fn rows(&self) -> usize {
        match self {
            Self::PerInstance(s) => s.rows(),
            Self::Running(s) => s.rows(),
        }
    }

    /// The mode of the forward pass.
    #[inline]
    #[must_use]
    pub const fn mode(&self) -> Mode {
        match self {
            Self::PerInstance(_) => Mode::Train,
            Self::Running(_) => Mode::Eval,
        }
    }
}

/// Training forward pass. PyTorch computes it as batch norm over the
/// `(1, batch * C, spatial)` view with the running statistics repeated per
/// example, then averages them over the batch; so: `r = (1 - m) r + m s` where
/// `s` is the batch average of each instance's mean, or of each instance's
/// unbiased variance (`var * S / (S - 1)`). `num_batches_tracked` is not
/// changed, as in PyTorch.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`], and
/// [`NormError::TooFewValuesPerChannel`] when a channel has a single spatial
/// position; on these nothing is written. [`NormError::NonFiniteStatistics`]
/// when a channel's batch-averaged statistics are NaN or infinite: the running
/// statistics are unchanged, `y` may hold non-finite values.
#[inline]
pub fn forward_train<R: Row, const C: usize, const S: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running_mean: &mut [R::Scalar; C],
    running_var: &mut [R::Scalar; C],
    eps: f64,
    momentum: f64,
    x: &[R],
    y: &mut [R],
) -> Result<InstanceSaved<R::Scalar, C>, NormError> {
    const {
        assert!(C * S == R::LEN);
    }
    if S < 2 && !x.is_empty() && x.len() == y.len() {
        return Err(NormError::TooFewValuesPerChannel { values: S });
    }
    let saved = rows::forward::<R, [R::Scalar; C], C, S, true>(affine, eps, Mode::Train, x, y)?;
    let [mean, var] = batch_averages::<R, C, S>(eps, x);
    super::stats::check_finite::<R::Scalar, C>(&mean, &var)?;
    update_running(running_mean, running_var, momentum, &mean, &var);
    Ok(InstanceSaved::PerInstance(saved))
}

/// [`forward_train`] without the update of the running statistics: the
/// batch averages that would be stored are checked (the same
/// [`NormError::NonFiniteStatistics`]), and [`commit_train`] stores them.
/// A network calls the two apart, so that a later layer's refusal leaves
/// this layer unchanged.
///
/// # Errors
/// Those of [`forward_train`]; nothing but `y` is written.
#[inline]
pub fn forward_train_deferred<R: Row, const C: usize, const S: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    eps: f64,
    x: &[R],
    y: &mut [R],
) -> Result<InstanceSaved<R::Scalar, C>, NormError> {
    const {
        assert!(C * S == R::LEN);
    }
    if S < 2 && !x.is_empty() && x.len() == y.len() {
        return Err(NormError::TooFewValuesPerChannel { values: S });
    }
    let saved = rows::forward::<R, [R::Scalar; C], C, S, true>(affine, eps, Mode::Train, x, y)?;
    let [mean, var] = batch_averages::<R, C, S>(eps, x);
    super::stats::check_finite::<R::Scalar, C>(&mean, &var)?;
    Ok(InstanceSaved::PerInstance(saved))
}

/// Stores the running statistics of the training pass over `x` that
/// returned `saved` ([`forward_train_deferred`]): the batch averages are
/// computed again from `x` (the per-instance statistics are not kept, so
/// `Saved` stays batch-size-free), bit for bit those that were checked. A
/// `saved` of inference changes nothing.
#[inline]
pub fn commit_train<R: Row, const C: usize, const S: usize>(
    running_mean: &mut [R::Scalar; C],
    running_var: &mut [R::Scalar; C],
    eps: f64,
    momentum: f64,
    x: &[R],
    saved: &InstanceSaved<R::Scalar, C>,
) {
    if saved.mode() == Mode::Train {
        let [mean, var] = batch_averages::<R, C, S>(eps, x);
        update_running(running_mean, running_var, momentum, &mean, &var);
    }
}

/// The batch averages of each instance's mean and unbiased variance
/// (`var * S / (S - 1)`), accumulated in the wider type: what the running
/// statistics move towards.
#[inline]
fn batch_averages<R: Row, const C: usize, const S: usize>(
    eps: f64,
    x: &[R],
) -> [[Acc<R::Scalar>; C]; 2] {
    let zero = Acc::<R::Scalar>::ZERO;
    let rows = Acc::<R::Scalar>::from_usize(x.len());
    let bessel = Acc::<R::Scalar>::from_usize(S) / Acc::<R::Scalar>::from_usize(S - 1);
    let mut mean = [zero; C];
    let mut var = [zero; C];
    for row in x {
        for (c, values) in row.as_flat().chunks_exact(S).enumerate() {
            let Stats { hi, lo, var: v, .. } = segment_stats::<_, true>(values, eps);
            mean[c] += (hi.to_acc() + lo.to_acc()) / rows;
            var[c] += v.to_acc() * bessel / rows;
        }
    }
    [mean, var]
}

/// Inference forward pass with the running statistics.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`].
#[inline]
pub fn forward_eval<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running_mean: &[R::Scalar; C],
    running_var: &[R::Scalar; C],
    eps: f64,
    x: &[R],
    y: &mut [R],
) -> Result<InstanceSaved<R::Scalar, C>, NormError> {
    batch::forward_eval(affine, Some((running_mean, running_var)), eps, x, y)
        .map(InstanceSaved::Running)
}

/// Backward pass of the forward pass that returned `saved`.
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`]; nothing
/// is written then.
#[inline]
pub fn backward<R: Row, const C: usize, const S: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    eps: f64,
    x: &[R],
    saved: &InstanceSaved<R::Scalar, C>,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, [R::Scalar; C]>,
) -> Result<(), NormError> {
    match saved {
        InstanceSaved::PerInstance(s) => {
            rows::backward::<R, [R::Scalar; C], C, S, true>(affine, eps, x, s, dy, dx, grads)
        }
        InstanceSaved::Running(s) => batch::backward(affine, x, s, dy, dx, grads),
    }
}
