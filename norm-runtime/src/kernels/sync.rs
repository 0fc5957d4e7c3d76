//! Batch norm across data-parallel workers (PyTorch's `SyncBatchNorm`): each
//! worker holds a shard of the batch, and the shards exchange statistics so
//! that every worker normalizes with those of the whole batch.
//!
//! A training step, with an all-reduce (any exchange that merges every
//! worker's value) at the two marked points:
//! 1. each worker's [`shard_stats`]; all-reduce with [`ChannelStats::merge`];
//! 2. [`forward_train_global`] with the merged statistics;
//! 3. each worker's [`shard_grad_sums`]; all-reduce with [`GradSums::merge`];
//! 4. [`backward_global`] with the merged sums.
//!
//! Each worker then holds the outputs, input gradients and running statistics
//! one worker would compute on the whole batch, and its share of the
//! parameter gradients (sum them across workers, as for any parameter).

use super::batch::{
    BatchSaved, Running, backward_inner, channel_wide_mean_var, grad_sums, normalize, spatial,
};
pub use super::layout::GradSums;
use super::{Acc, Affine, GradsMut, check_backward, check_forward};
use crate::{Float, Mode, NormError, Row};

/// Per-channel statistics of one shard of a batch, in a form that merges
/// exactly: the count of values per channel, their mean, and the sum of their
/// squared deviations from it (`m2`). In `f64` whatever the layer's type, so
/// what workers exchange loses nothing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChannelStats<const C: usize> {
    /// Values per channel (rows x spatial positions).
    pub count: u64,
    /// Mean per channel.
    pub mean: [f64; C],
    /// Sum of squared deviations from the mean, per channel.
    pub m2: [f64; C],
}

impl<const C: usize> ChannelStats<C> {
    /// The statistics of two shards together (Chan, Golub and LeVeque's
    /// pairwise update: exact in exact arithmetic, and numerically stable).
    #[must_use]
    pub fn merge(&self, other: &Self) -> Self {
        if self.count == 0 {
            return *other;
        }
        if other.count == 0 {
            return *self;
        }
        #[allow(clippy::cast_precision_loss)]
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let mut out = Self {
            count: self.count + other.count,
            mean: [0.0; C],
            m2: [0.0; C],
        };
        for c in 0..C {
            let delta = other.mean[c] - self.mean[c];
            out.mean[c] = self.mean[c] + delta * (nb / n);
            out.m2[c] = self.m2[c] + other.m2[c] + delta * delta * (na * nb / n);
        }
        out
    }

    /// The biased variance per channel (`m2 / count`).
    #[must_use]
    pub fn variance(&self) -> [f64; C] {
        #[allow(clippy::cast_precision_loss)]
        let n = self.count as f64;
        self.m2.map(|m2| m2 / n)
    }
}

/// This shard's per-channel statistics, to merge across workers.
///
/// # Errors
/// [`NormError::EmptyBatch`] if `x` is empty.
pub fn shard_stats<R: Row, const C: usize>(x: &[R]) -> Result<ChannelStats<C>, NormError> {
    if x.is_empty() {
        return Err(NormError::EmptyBatch);
    }
    let s = spatial::<R, C>();
    let count = x.len() * s;
    let mut stats = ChannelStats {
        count: count as u64,
        mean: [0.0; C],
        m2: [0.0; C],
    };
    #[allow(clippy::cast_precision_loss)]
    let n = count as f64;
    for c in 0..C {
        let (hi, lo, var) = channel_wide_mean_var::<R, C>(x, c);
        stats.mean[c] = hi.to_f64() + lo.to_f64();
        stats.m2[c] = var.to_f64() * n;
    }
    Ok(stats)
}

/// Training forward pass on one shard with the statistics of the whole batch
/// (`global`, merged from every shard's [`shard_stats`]): normalizes with
/// them and updates the running statistics from them, so every worker's layer
/// stays identical to a single worker's on the whole batch.
///
/// # Errors
/// [`NormError::RowCountMismatch`], [`NormError::EmptyBatch`], and
/// [`NormError::TooFewValuesPerChannel`] when the whole batch has fewer than 2
/// values per channel; on these nothing is written. With running
/// statistics, [`NormError::NonFiniteStatistics`] when the global mean or
/// unbiased variance of a channel is NaN or infinite: the running statistics
/// are unchanged, `y` may hold non-finite values.
pub fn forward_train_global<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running: Option<Running<'_, R::Scalar, C>>,
    eps: f64,
    momentum: Option<f64>,
    global: &ChannelStats<C>,
    x: &[R],
    y: &mut [R],
) -> Result<BatchSaved<R::Scalar, C>, NormError> {
    check_forward(x.len(), y.len())?;
    let count = usize::try_from(global.count).unwrap_or(usize::MAX);
    if count < 2 {
        return Err(NormError::TooFewValuesPerChannel { values: count });
    }
    let var = global.variance();
    #[allow(clippy::cast_precision_loss)]
    let bessel = count as f64 / (count as f64 - 1.0);
    let zero = R::Scalar::ZERO;
    let mut saved = BatchSaved {
        hi: global.mean.map(R::Scalar::from_f64),
        lo: [zero; C],
        rstd: [zero; C],
        rstd_lo: [zero; C],
        target_mean: global.mean.map(Acc::<R::Scalar>::from_f64),
        target_var: var.map(|v| Acc::<R::Scalar>::from_f64(v * bessel)),
        rows: x.len(),
        count,
        mode: Mode::Train,
    };
    for c in 0..C {
        saved.lo[c] = R::Scalar::from_f64(global.mean[c] - saved.hi[c].to_f64());
    }
    saved.set_rstd(&var.map(Acc::<R::Scalar>::from_f64), eps);
    normalize::<R, C, false>(affine, &saved, x, y);
    if let Some(running) = running {
        // What would be stored, checked before anything is.
        super::stats::check_finite::<R::Scalar, C>(&saved.target_mean, &saved.target_var)?;
        super::batch::commit_train(running, momentum, &saved);
    }
    Ok(saved)
}

/// This shard's gradient sums for [`backward_global`], to add up across
/// workers. `saved` comes from [`forward_train_global`].
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`].
pub fn shard_grad_sums<R: Row, const C: usize>(
    x: &[R],
    saved: &BatchSaved<R::Scalar, C>,
    dy: &[R],
) -> Result<GradSums<C>, NormError> {
    check_backward(saved.rows, x.len(), dy.len(), dy.len())?;
    // The sums of one worker's backward pass, in its order when that pass runs
    // the portable code; dispatched (BATCH_DISPATCH_MIN_VALUES values or more,
    // on a CPU with FMA) it sums channels of 32 or more spatial positions in
    // more lanes, so the last bits can differ there.
    let [sum_dy, sum_dy_xhat] = grad_sums::<R, C, false>(saved, x, dy);
    Ok(GradSums {
        sum_dy: sum_dy.map(Float::to_f64),
        sum_dy_xhat: sum_dy_xhat.map(Float::to_f64),
    })
}

/// Backward pass on one shard with the gradient sums of the whole batch
/// (`global`, merged from every shard's [`shard_grad_sums`]): writes this
/// shard's `dx`, as a single worker's backward on the whole batch would, and
/// accumulates this shard's parameter gradients (sum them across workers, as
/// data-parallel training does for every parameter).
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`];
/// nothing is written then.
pub fn backward_global<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    x: &[R],
    saved: &BatchSaved<R::Scalar, C>,
    global: &GradSums<C>,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, [R::Scalar; C]>,
) -> Result<(), NormError> {
    backward_inner(affine, x, saved, Some(global), dy, dx, grads)
}
