//! Batch normalization (PyTorch's `BatchNorm1d/2d/3d`): each of the `C`
//! channels is normalized with statistics over the batch and the channel's
//! spatial positions in training, and with running averages of them in
//! inference. A row is channel-major (`[[T; L]; C]`, `[[[T; W]; H]; C]`, or
//! `[T; C]` without spatial dims), like PyTorch's contiguous NCHW.
//!
//! `f32` batches of fewer than `BATCH_DISPATCH_MIN_VALUES` values take the
//! `straight` kernels (private): `f64` throughout, rounded once.
//! Larger batches use the numerics of [`rows`](super::rows): a rough mean, the
//! corrected two-pass sums of deviations, and the mean kept as `hi + lo`, in
//! the layer's own type; the per-channel sums over rows, `rstd`, the gradient
//! sums and the running averages are kept in `f64` (as PyTorch's CPU kernels
//! keep them in `double`). Without spatial dims the loops run across
//! channels, which vectorizes; with them, across each channel's positions.
//!
//! Two neighbours build on these kernels: [`fold`](super::fold) (inference
//! folded into one multiply-add per value) and [`sync`](super::sync) (the
//! statistics of a batch split across workers). Their public items are
//! re-exported here too, where they were first.

use super::dispatch::{BATCH_DISPATCH_MIN_VALUES, STRAIGHT_DISPATCH_MIN_VALUES, dispatched};
pub use super::layout::BatchSaved;
pub(super) use super::layout::spatial;
use super::parallel::for_row_chunks;
use super::reduce::{fast_two_sum, madd, sums};
use super::stats::{check_finite, update_running, wide_mean_var};
use super::straight::{self, batch_backward, batch_normalize, batch_train};
use super::{Acc, Affine, GradsMut, check_backward, check_forward};
use crate::{Float, Mode, NormError, Row};

/// Folding lives in [`kernels::fold`](super::fold); re-exported here, where it
/// was first.
pub use super::fold::{Folded, fold};
/// Statistics across workers live in [`kernels::sync`](super::sync);
/// re-exported here, where they were first.
pub use super::sync::{
    ChannelStats, GradSums, backward_global, forward_train_global, shard_grad_sums, shard_stats,
};

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

impl<T: Float, const C: usize> Running<'_, T, C> {
    /// Counts one more training batch and moves the running statistics
    /// towards the batch's `mean` and unbiased variance as PyTorch does:
    /// `r = (1 - m) r + m s` with `m = momentum`, or `1 / num_batches_tracked`
    /// (the cumulative average) when it is `None`.
    #[inline]
    pub(super) fn update(
        self,
        momentum: Option<f64>,
        mean: &[T::Acc; C],
        unbiased_var: &[T::Acc; C],
    ) {
        let batches = self.num_batches_tracked.saturating_add(1);
        *self.num_batches_tracked = batches;
        #[allow(clippy::cast_precision_loss)]
        let momentum = momentum.unwrap_or(1.0 / batches as f64);
        update_running(self.mean, self.var, momentum, mean, unbiased_var);
    }
}

/// A layer's running mean and variance, read-only.
pub type RunningRef<'a, T, const C: usize> = (&'a [T; C], &'a [T; C]);

impl<T: Float, const C: usize> BatchSaved<T, C> {
    /// Sets `rstd = 1 / sqrt(var + eps)` from the biased variance, computed in
    /// the wider type and kept as `rstd + rstd_lo`.
    ///
    /// For `f32` layers whose `var + eps` are all normal `f32` numbers the
    /// square roots and divisions run in `f32`, at its full vector width,
    /// and one Newton step in `f64`, `r (3 - a r^2) / 2`, takes their
    /// relative error from about `2^-23` to about `2^-45`.
    #[inline(never)]
    pub(super) fn set_rstd(&mut self, var: &[T::Acc; C], eps: f64) {
        let eps = T::Acc::from_f64(eps);
        let mut a = *var;
        for v in &mut a {
            *v += eps;
        }
        let mut wide = [T::Acc::ZERO; C];
        if straight::seeds_in_range::<T, C>(&a) {
            let half = T::Acc::from_f64(0.5);
            let three = T::Acc::from_f64(3.0);
            for c in 0..C {
                let r = (T::ONE / T::from_acc(a[c]).sqrt()).to_acc();
                wide[c] = r * (three - a[c] * r * r) * half;
            }
        } else {
            for c in 0..C {
                wide[c] = T::Acc::ONE / a[c].sqrt();
            }
        }
        for c in 0..C {
            self.rstd[c] = T::from_acc(wide[c]);
            self.rstd_lo[c] = T::from_acc(wide[c] - self.rstd[c].to_acc());
        }
    }
}

/// Adds `f(c, values of channel c)` for every row into per-channel sums.
#[inline(always)]
fn per_channel<R: Row, const C: usize, const K: usize>(
    x: &[R],
    mut f: impl FnMut(usize, &[R::Scalar]) -> [R::Scalar; K],
) -> [[R::Scalar; C]; K] {
    let s = spatial::<R, C>();
    let mut acc = [[R::Scalar::ZERO; C]; K];
    for row in x {
        for (c, values) in row.as_flat().chunks_exact(s).enumerate() {
            let v = f(c, values);
            for k in 0..K {
                acc[k][c] += v[k];
            }
        }
    }
    acc
}

/// Fills `saved` with the batch's statistics and returns the biased variance.
#[inline(always)]
fn moments<R: Row, const C: usize, const FMA: bool>(
    x: &[R],
    eps: f64,
    saved: &mut BatchSaved<R::Scalar, C>,
) -> [R::Scalar; C] {
    let s = spatial::<R, C>();
    let count = x.len() * s;
    let inv_n = R::Scalar::ONE / R::Scalar::from_usize(count);
    let sum = if s == 1 {
        // Across channels, which vectorizes.
        let mut acc = [R::Scalar::ZERO; C];
        for row in x {
            for (a, v) in acc.iter_mut().zip(row.as_flat()) {
                *a += *v;
            }
        }
        acc
    } else {
        let [sum] = per_channel::<R, C, 1>(x, |_, v| sums::<_, 1, FMA>(v.len(), |i| [v[i]]));
        sum
    };
    let rough = sum.map(|t| t * inv_n);
    let [s1, s2] = if s == 1 {
        let mut acc = [[R::Scalar::ZERO; C]; 2];
        for row in x {
            for ((v, r), (a1, a2)) in row.as_flat().iter().zip(&rough).zip(acc_pair(&mut acc)) {
                let d = *v - *r;
                *a1 += d;
                *a2 = madd::<_, FMA>(d, d, *a2);
            }
        }
        acc
    } else {
        per_channel::<R, C, 2>(x, |c, v| {
            let r = rough[c];
            sums::<_, 2, FMA>(v.len(), |i| {
                let d = v[i] - r;
                [d, d * d]
            })
        })
    };
    let finite = |v: &R::Scalar| v.to_f64().is_finite();
    if !(s2.iter().all(finite) && rough.iter().all(finite)) {
        return wide_moments::<R, C>(x, eps, saved);
    }
    let mut var = [R::Scalar::ZERO; C];
    // Centred deviations: s2 / n - c^2 does not cancel (see `rows`).
    for c in 0..C {
        let mean_dev = s1[c] * inv_n;
        var[c] = (s2[c] * inv_n - mean_dev * mean_dev).max(R::Scalar::ZERO);
        (saved.hi[c], saved.lo[c]) = fast_two_sum(rough[c], mean_dev);
    }
    saved.set_rstd(&var.map(Float::to_acc), eps);
    var
}

/// The same statistics in the wider type, for batches whose sums (of
/// squares) overflow the layer's type; returns the biased variance.
#[cold]
fn wide_moments<R: Row, const C: usize>(
    x: &[R],
    eps: f64,
    saved: &mut BatchSaved<R::Scalar, C>,
) -> [R::Scalar; C] {
    let mut var = [R::Scalar::ZERO; C];
    let mut wide = [Acc::<R::Scalar>::ZERO; C];
    for c in 0..C {
        let (hi, lo, wide_var) = channel_wide_mean_var::<R, C>(x, c);
        (saved.hi[c], saved.lo[c], var[c], wide[c]) =
            (hi, lo, R::Scalar::from_acc(wide_var), wide_var);
    }
    saved.set_rstd(&wide, eps);
    var
}

/// The mean as `(hi, lo)` and the biased variance of channel `c` over the
/// batch, in the wider type.
#[inline]
pub(super) fn channel_wide_mean_var<R: Row, const C: usize>(
    x: &[R],
    c: usize,
) -> (R::Scalar, R::Scalar, Acc<R::Scalar>) {
    let s = spatial::<R, C>();
    let values = x
        .iter()
        .flat_map(|row| row.as_flat()[c * s..(c + 1) * s].iter().copied());
    wide_mean_var(values, x.len() * s, true)
}

/// The two accumulators of each channel, side by side.
#[inline(always)]
fn acc_pair<T, const C: usize>(acc: &mut [[T; C]; 2]) -> impl Iterator<Item = (&mut T, &mut T)> {
    let [a1, a2] = acc;
    a1.iter_mut().zip(a2.iter_mut())
}

/// `y = ((x - hi) - lo) * rstd * weight + bias`, per channel, with the
/// statistics in `stats`.
#[inline(always)]
pub(super) fn normalize<R: Row, const C: usize, const FMA: bool>(
    affine: Affine<'_, [R::Scalar; C]>,
    stats: &BatchSaved<R::Scalar, C>,
    x: &[R],
    y: &mut [R],
) {
    let Affine { weight, bias } = affine;
    let (hi, lo, rstd) = (&stats.hi, &stats.lo, &stats.rstd);
    let s = spatial::<R, C>();
    let scale: [R::Scalar; C] =
        core::array::from_fn(|c| weight.map_or(rstd[c], |w| w[c] * rstd[c]));
    let shift: [R::Scalar; C] = core::array::from_fn(|c| bias.map_or(R::Scalar::ZERO, |b| b[c]));
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        if s == 1 {
            for c in 0..C {
                yr.as_flat_mut()[c] =
                    madd::<_, FMA>((xr.as_flat()[c] - hi[c]) - lo[c], scale[c], shift[c]);
            }
        } else {
            let channels = xr
                .as_flat()
                .chunks_exact(s)
                .zip(yr.as_flat_mut().chunks_exact_mut(s));
            for (c, (xs, ys)) in channels.enumerate() {
                for (yv, xv) in ys.iter_mut().zip(xs) {
                    *yv = madd::<_, FMA>((*xv - hi[c]) - lo[c], scale[c], shift[c]);
                }
            }
        }
    }
}

#[inline(always)]
fn train_rows<R: Row, const C: usize, const FMA: bool>(
    affine: Affine<'_, [R::Scalar; C]>,
    eps: f64,
    x: &[R],
    y: &mut [R],
    saved: &mut BatchSaved<R::Scalar, C>,
) -> [R::Scalar; C] {
    let var = moments::<R, C, FMA>(x, eps, saved);
    normalize::<R, C, FMA>(affine, saved, x, y);
    var
}

dispatched! {
    /// [`train_rows`] for a batch of `values` values.
    fn train_dispatched[R: Row, const C: usize](
        affine: Affine<'_, [R::Scalar; C]>,
        eps: f64,
        x: &[R],
        y: &mut [R],
        saved: &mut BatchSaved<R::Scalar, C>,
    ) -> [R::Scalar; C] = train_rows::<R, C>, portable below BATCH_DISPATCH_MIN_VALUES;
}

dispatched! {
    /// [`straight::batch_train`], always dispatched: in `f64`, AVX2 halves
    /// the instructions of the baseline's two-lane code.
    fn straight_train[R: Row, const C: usize](
        affine: Affine<'_, [R::Scalar; C]>,
        eps: f64,
        x: &[R],
        y: &mut [R],
        saved: &mut BatchSaved<R::Scalar, C>,
    ) -> [Acc<R::Scalar>; C] = batch_train::<R, C>, portable below STRAIGHT_DISPATCH_MIN_VALUES;
}

dispatched! {
    /// [`straight::batch_normalize`], always dispatched.
    fn straight_normalize[R: Row, const C: usize](
        affine: Affine<'_, [R::Scalar; C]>,
        saved: &BatchSaved<R::Scalar, C>,
        x: &[R],
        y: &mut [R],
    ) = batch_normalize::<R, C>, portable below STRAIGHT_DISPATCH_MIN_VALUES;
}

dispatched! {
    /// [`straight::batch_backward`], always dispatched.
    fn straight_backward[R: Row, const C: usize](
        weight: Option<&[R::Scalar; C]>,
        saved: &BatchSaved<R::Scalar, C>,
        global: Option<&GradSums<C>>,
        x: &[R],
        dy: &[R],
        dx: &mut [R],
    ) -> [[Acc<R::Scalar>; C]; 2] = batch_backward::<R, C>, portable below STRAIGHT_DISPATCH_MIN_VALUES;
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
/// [`NormError::TooFewValuesPerChannel`] when each channel has a single value;
/// on these nothing is written. With running statistics,
/// [`NormError::NonFiniteStatistics`] when a channel's batch mean or
/// unbiased variance is NaN or infinite: the running statistics are
/// unchanged, `y` may hold non-finite values. (Without running statistics
/// there is nothing to protect, and NaN in gives NaN out.)
#[inline]
pub fn forward_train<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    running: Option<Running<'_, R::Scalar, C>>,
    eps: f64,
    momentum: Option<f64>,
    x: &[R],
    y: &mut [R],
) -> Result<BatchSaved<R::Scalar, C>, NormError> {
    let saved = forward_train_deferred(affine, running.is_some(), eps, x, y)?;
    if let Some(running) = running {
        commit_train(running, momentum, &saved);
    }
    Ok(saved)
}

/// [`forward_train`] without the update of the running statistics: with
/// `tracked`, the batch statistics that would be stored are checked (the
/// same [`NormError::NonFiniteStatistics`]) and kept in the result, and
/// [`commit_train`] stores them. `forward_train` is exactly the two in turn;
/// a network calls them apart so that a later layer's refusal leaves this
/// layer unchanged.
///
/// # Errors
/// Those of [`forward_train`]; nothing but `y` is written.
#[inline]
pub fn forward_train_deferred<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    tracked: bool,
    eps: f64,
    x: &[R],
    y: &mut [R],
) -> Result<BatchSaved<R::Scalar, C>, NormError> {
    const {
        assert!(R::LEN.is_multiple_of(C));
    }
    check_forward(x.len(), y.len())?;
    let values = x.len() * spatial::<R, C>();
    if values < 2 {
        return Err(NormError::TooFewValuesPerChannel { values });
    }
    let zero = R::Scalar::ZERO;
    let mut saved = BatchSaved {
        hi: [zero; C],
        lo: [zero; C],
        rstd: [zero; C],
        rstd_lo: [zero; C],
        target_mean: [Acc::<R::Scalar>::ZERO; C],
        target_var: [Acc::<R::Scalar>::ZERO; C],
        rows: x.len(),
        count: values,
        mode: Mode::Train,
    };
    let all = x.len() * R::LEN;
    let var = if straight::widens::<R::Scalar>() && all < BATCH_DISPATCH_MIN_VALUES {
        straight_train::<R, C>(all, affine, eps, x, y, &mut saved)
    } else {
        train_dispatched::<R, C>(all, affine, eps, x, y, &mut saved).map(Float::to_acc)
    };
    if tracked {
        let n = Acc::<R::Scalar>::from_usize(values);
        let bessel = n / (n - Acc::<R::Scalar>::ONE);
        let (mean, _) = saved.wide();
        let mut unbiased = var;
        for v in &mut unbiased {
            *v *= bessel;
        }
        (saved.target_mean, saved.target_var) = (mean, unbiased);
        // What would be stored, checked before anything is.
        check_finite::<R::Scalar, C>(&saved.target_mean, &saved.target_var)?;
    }
    Ok(saved)
}

/// Stores what the training pass that returned `saved` staged
/// ([`forward_train_deferred`] with `tracked`): `num_batches_tracked += 1`,
/// then `r = (1 - m) r + m s` as [`forward_train`] describes. Nothing to
/// fail: the statistics were checked when they were computed. A `saved` of
/// inference ([`Mode::Eval`]) changes nothing.
#[inline]
pub fn commit_train<T: Float, const C: usize>(
    running: Running<'_, T, C>,
    momentum: Option<f64>,
    saved: &BatchSaved<T, C>,
) {
    if saved.mode == Mode::Train {
        running.update(momentum, &saved.target_mean, &saved.target_var);
    }
}

dispatched! {
    /// [`normalize`] for a batch of `values` values.
    fn normalize_dispatched[R: Row, const C: usize](
        affine: Affine<'_, [R::Scalar; C]>,
        stats: &BatchSaved<R::Scalar, C>,
        x: &[R],
        y: &mut [R],
    ) = normalize::<R, C>, portable below BATCH_DISPATCH_MIN_VALUES;
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
    let zero = R::Scalar::ZERO;
    let mut saved = BatchSaved {
        hi: *running_mean,
        lo: [zero; C],
        rstd: [zero; C],
        rstd_lo: [zero; C],
        target_mean: running_mean.map(Float::to_acc),
        target_var: running_var.map(Float::to_acc),
        rows: x.len(),
        count: x.len() * spatial::<R, C>(),
        mode: Mode::Eval,
    };
    saved.set_rstd(&running_var.map(Float::to_acc), eps);
    let all = x.len() * R::LEN;
    if straight::widens::<R::Scalar>() && all < BATCH_DISPATCH_MIN_VALUES {
        straight_normalize::<R, C>(all, affine, &saved, x, y);
    } else {
        // Every row on its own: split across threads (feature `parallel`).
        for_row_chunks(all, x, y, |x, y| {
            normalize_dispatched::<R, C>(all, affine, &saved, x, y);
        });
    }
    Ok(saved)
}

/// Rows whose gradient sums across channels are added up in the layer's
/// type before they join the wider sums (batch norm without spatial dims).
const ROW_BLOCK: usize = 8;

/// This batch's per-channel `[sum(dy), sum(dy * xhat)]`, added up over the
/// rows in the wider type: each row's part of a channel with spatial dims
/// (summed in the layer's type, in lanes), or each block of [`ROW_BLOCK`]
/// rows without them.
#[inline(always)]
pub(super) fn grad_sums<R: Row, const C: usize, const WIDE: bool>(
    saved: &BatchSaved<R::Scalar, C>,
    x: &[R],
    dy: &[R],
) -> [[Acc<R::Scalar>; C]; 2] {
    let s = spatial::<R, C>();
    let (hi, lo, rstd) = (&saved.hi, &saved.lo, &saved.rstd);
    let mut sum_dy = [Acc::<R::Scalar>::ZERO; C];
    let mut sum_dy_xhat = [Acc::<R::Scalar>::ZERO; C];
    if s == 1 {
        // Across channels, which vectorizes, in the layer's type over blocks
        // of `ROW_BLOCK` rows, each block's sums then added in the wider one.
        for (xb, dyb) in x.chunks(ROW_BLOCK).zip(dy.chunks(ROW_BLOCK)) {
            let mut block_dy = [R::Scalar::ZERO; C];
            let mut block_dy_xhat = [R::Scalar::ZERO; C];
            for (xr, dyr) in xb.iter().zip(dyb) {
                let (xf, dyf) = (xr.as_flat(), dyr.as_flat());
                for c in 0..C {
                    let xhat = ((xf[c] - hi[c]) - lo[c]) * rstd[c];
                    block_dy[c] += dyf[c];
                    block_dy_xhat[c] += dyf[c] * xhat;
                }
            }
            for c in 0..C {
                sum_dy[c] += block_dy[c].to_acc();
                sum_dy_xhat[c] += block_dy_xhat[c].to_acc();
            }
        }
        return [sum_dy, sum_dy_xhat];
    }
    for (xr, dyr) in x.iter().zip(dy) {
        let (xf, dyf) = (xr.as_flat(), dyr.as_flat());
        for (c, (xs, dys)) in xf.chunks_exact(s).zip(dyf.chunks_exact(s)).enumerate() {
            let [a, b] = sums::<_, 2, WIDE>(s, |i| {
                let xhat = ((xs[i] - hi[c]) - lo[c]) * rstd[c];
                [dys[i], dys[i] * xhat]
            });
            sum_dy[c] += a.to_acc();
            sum_dy_xhat[c] += b.to_acc();
        }
    }
    [sum_dy, sum_dy_xhat]
}

/// `dx`, from this batch's gradient sums or, across workers, from the sums
/// over the whole batch (`global`); returns this batch's
/// `[sum(dy * xhat), sum(dy)]`.
#[inline(always)]
fn backward_rows<R: Row, const C: usize, const WIDE: bool>(
    weight: Option<&[R::Scalar; C]>,
    saved: &BatchSaved<R::Scalar, C>,
    global: Option<&GradSums<C>>,
    x: &[R],
    dy: &[R],
    dx: &mut [R],
) -> [[Acc<R::Scalar>; C]; 2] {
    let s = spatial::<R, C>();
    let (hi, lo, rstd) = (&saved.hi, &saved.lo, &saved.rstd);
    let [sum_dy, sum_dy_xhat] = grad_sums::<R, C, WIDE>(saved, x, dy);
    let n = Acc::<R::Scalar>::from_usize(saved.count);
    let zero = R::Scalar::ZERO;
    let scale: [R::Scalar; C] =
        core::array::from_fn(|c| weight.map_or(rstd[c], |w| w[c] * rstd[c]));
    // With fixed statistics (inference) the two mean terms vanish.
    let train = saved.mode == Mode::Train;
    let (all_dy, all_dy_xhat) = match global {
        Some(g) => (
            g.sum_dy.map(Acc::<R::Scalar>::from_f64),
            g.sum_dy_xhat.map(Acc::<R::Scalar>::from_f64),
        ),
        None => (sum_dy, sum_dy_xhat),
    };
    let mean_dy: [R::Scalar; C] = core::array::from_fn(|c| {
        if train {
            R::Scalar::from_acc(all_dy[c] / n)
        } else {
            zero
        }
    });
    let mean_dy_xhat: [R::Scalar; C] = core::array::from_fn(|c| {
        if train {
            R::Scalar::from_acc(all_dy_xhat[c] / n)
        } else {
            zero
        }
    });
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        if s == 1 {
            // Across channels, which vectorizes.
            let (xf, dyf, dxf) = (xr.as_flat(), dyr.as_flat(), dxr.as_flat_mut());
            for c in 0..C {
                let xhat = ((xf[c] - hi[c]) - lo[c]) * rstd[c];
                dxf[c] = scale[c] * (dyf[c] - mean_dy[c] - xhat * mean_dy_xhat[c]);
            }
            continue;
        }
        let channels = xr
            .as_flat()
            .chunks_exact(s)
            .zip(dyr.as_flat().chunks_exact(s))
            .zip(dxr.as_flat_mut().chunks_exact_mut(s));
        for (c, ((xs, dys), dxs)) in channels.enumerate() {
            for ((xv, dyv), dxv) in xs.iter().zip(dys).zip(dxs) {
                let xhat = ((*xv - hi[c]) - lo[c]) * rstd[c];
                *dxv = scale[c] * (*dyv - mean_dy[c] - xhat * mean_dy_xhat[c]);
            }
        }
    }
    [sum_dy_xhat, sum_dy]
}

dispatched! {
    /// [`backward_rows`] for a batch of `values` values.
    fn backward_dispatched[R: Row, const C: usize](
        weight: Option<&[R::Scalar; C]>,
        saved: &BatchSaved<R::Scalar, C>,
        global: Option<&GradSums<C>>,
        x: &[R],
        dy: &[R],
        dx: &mut [R],
    ) -> [[Acc<R::Scalar>; C]; 2] = backward_rows::<R, C>, portable below BATCH_DISPATCH_MIN_VALUES;
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
    backward_inner(affine, x, saved, None, dy, dx, grads)
}

#[inline(always)]
pub(super) fn backward_inner<R: Row, const C: usize>(
    affine: Affine<'_, [R::Scalar; C]>,
    x: &[R],
    saved: &BatchSaved<R::Scalar, C>,
    global: Option<&GradSums<C>>,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, [R::Scalar; C]>,
) -> Result<(), NormError> {
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let values = x.len() * R::LEN;
    let [dweight, dbias] = if straight::widens::<R::Scalar>() && values < BATCH_DISPATCH_MIN_VALUES
    {
        straight_backward::<R, C>(values, affine.weight, saved, global, x, dy, dx)
    } else {
        backward_dispatched::<R, C>(values, affine.weight, saved, global, x, dy, dx)
    };
    // Added in the wider type: one rounding.
    for (acc, sum) in [(grads.weight, dweight), (grads.bias, dbias)] {
        if let Some(acc) = acc {
            for (a, s) in acc.iter_mut().zip(sum) {
                *a = R::Scalar::from_acc(a.to_acc() + s);
            }
        }
    }
    Ok(())
}
