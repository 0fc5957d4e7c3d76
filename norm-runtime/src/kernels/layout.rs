//! The shapes and saved values every normalization kernel shares: what a
//! batch-norm pass keeps for backward ([`BatchSaved`]), the per-channel
//! gradient sums that add up across workers ([`GradSums`]), values per
//! channel in a row ([`spatial`]) and a row's segments ([`segments`]).
//! A leaf: it depends on no other kernel module, so `straight`, `batch`,
//! `rows` and `sync` all read it without depending on one another.

use crate::{Float, Mode, Row};

/// The statistics a batch-norm forward pass used, kept for backward: the
/// per-channel mean (as `hi + lo`) and `rstd = 1 / sqrt(var + eps)`, the
/// batch size and the mode.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchSaved<T: Float, const C: usize> {
    pub(super) hi: [T; C],
    pub(super) lo: [T; C],
    pub(super) rstd: [T; C],
    /// `rstd`'s rounding error: `rstd + rstd_lo` is `rstd` in the wider type.
    pub(super) rstd_lo: [T; C],
    /// What a training pass moves the running statistics towards: the batch
    /// mean and unbiased variance, in the wider type (in inference, the
    /// running statistics used). Kept so the update can wait for
    /// [`commit_train`](super::batch::commit_train) (a network commits only when every layer succeeded).
    pub(super) target_mean: [T::Acc; C],
    pub(super) target_var: [T::Acc; C],
    pub(super) rows: usize,
    /// Values per channel the statistics came from: rows x spatial positions,
    /// or the whole batch's count when they were merged across workers.
    pub(super) count: usize,
    pub(super) mode: Mode,
}

impl<T: Float, const C: usize> BatchSaved<T, C> {
    /// The per-channel mean used: the batch's, or the running mean.
    #[inline]
    #[must_use]
    pub fn mean(&self) -> [T::Acc; C] {
        core::array::from_fn(|c| self.hi[c].to_acc() + self.lo[c].to_acc())
    }

    /// The per-channel `rstd = 1 / sqrt(var + eps)` used (the name PyTorch's
    /// layer norm gives it; its batch norm saves it as `invstd`).
    #[inline]
    #[must_use]
    pub const fn rstd(&self) -> &[T; C] {
        &self.rstd
    }

    /// The mean and `rstd`, each to the wider type's precision.
    #[inline(always)]
    pub(super) fn wide(&self) -> ([T::Acc; C], [T::Acc; C]) {
        let mut mean = [T::Acc::ZERO; C];
        let mut rstd = [T::Acc::ZERO; C];
        for c in 0..C {
            mean[c] = self.hi[c].to_acc() + self.lo[c].to_acc();
            rstd[c] = self.rstd[c].to_acc() + self.rstd_lo[c].to_acc();
        }
        (mean, rstd)
    }

    /// Same as [`rstd`](Self::rstd); kept for compatibility.
    #[inline]
    #[must_use]
    pub const fn inv_std(&self) -> &[T; C] {
        &self.rstd
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
}

/// Values per channel in one row.
pub(super) const fn spatial<R: Row, const C: usize>() -> usize {
    R::LEN / C
}

/// The `COUNT` segments of one row `xr` and of its output row `yr`, in
/// step, each with the index of its first parameter (`PP` values per
/// parameter).
#[inline(always)]
pub(super) fn segments<'a, R: Row, const COUNT: usize, const PP: usize>(
    xr: &'a R,
    yr: &'a mut R,
) -> impl Iterator<Item = (usize, &'a [R::Scalar], &'a mut [R::Scalar])> {
    let m = R::LEN / COUNT;
    let pairs = xr
        .as_flat()
        .chunks_exact(m)
        .zip(yr.as_flat_mut().chunks_exact_mut(m));
    pairs
        .enumerate()
        .map(move |(s, (xs, ys))| (s * m / PP, xs, ys))
}

/// One segment of a backward pass: its first parameter, and its values of
/// `x`, `dy` and `dx`.
pub(super) type BackwardSegment<'a, T> = (usize, &'a [T], &'a [T], &'a mut [T]);

/// [`segments`] of a backward pass: of `xr`, `dyr` and `dxr` in step.
#[inline(always)]
pub(super) fn backward_segments<'a, R: Row, const COUNT: usize, const PP: usize>(
    xr: &'a R,
    dyr: &'a R,
    dxr: &'a mut R,
) -> impl Iterator<Item = BackwardSegment<'a, R::Scalar>> {
    let m = R::LEN / COUNT;
    let rows = xr
        .as_flat()
        .chunks_exact(m)
        .zip(dyr.as_flat().chunks_exact(m));
    let triples = rows.zip(dxr.as_flat_mut().chunks_exact_mut(m));
    triples
        .enumerate()
        .map(move |(s, ((xs, dys), dxs))| (s * m / PP, xs, dys, dxs))
}

/// Per-channel gradient sums of one shard, `sum(dy)` and `sum(dy * xhat)`,
/// which add up across workers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GradSums<const C: usize> {
    /// `sum(dy)` per channel.
    pub sum_dy: [f64; C],
    /// `sum(dy * xhat)` per channel.
    pub sum_dy_xhat: [f64; C],
}

impl<const C: usize> GradSums<C> {
    /// The sums of two shards together.
    #[must_use]
    pub fn merge(&self, other: &Self) -> Self {
        Self {
            sum_dy: core::array::from_fn(|c| self.sum_dy[c] + other.sum_dy[c]),
            sum_dy_xhat: core::array::from_fn(|c| self.sum_dy_xhat[c] + other.sum_dy_xhat[c]),
        }
    }
}
