//! Straight kernels for small `f32` batches: every statistic and every value
//! computed in `f64` ([`Float::Acc`]) and rounded to `f32` once.
//!
//! Below the dispatch thresholds ([`ROWS_DISPATCH_MIN_VALUES`],
//! [`BATCH_DISPATCH_MIN_VALUES`]) the corrected two-pass sums, the `hi + lo`
//! mean and the overflow checks of [`rows`](super::rows) and
//! [`batch`](super::batch) cost more than they save. (Batch norm's straight
//! kernels are still dispatched to AVX2 code: across channels, two-lane
//! `f64` code costs more than the dispatch.) Here each segment or channel is
//! summed once for the
//! mean and once for the variance, plainly, in `f64`: an `f32` input's square
//! cannot overflow `f64`, and `f64` sums of fewer than a thousand `f32`
//! values are exact to far below an `f32` ulp, so the result is the `f64`
//! truth rounded once: at least as accurate as PyTorch's `f32` kernels (whose
//! batch-norm statistics are accumulated in `f64` too).
//!
//! `f64` layers never come here ([`widens`] is false for them): for them the
//! wider type is the layer's own, and the compensated kernels are the
//! accurate ones.
//!
//! [`ROWS_DISPATCH_MIN_VALUES`]: super::dispatch::ROWS_DISPATCH_MIN_VALUES
//! [`BATCH_DISPATCH_MIN_VALUES`]: super::dispatch::BATCH_DISPATCH_MIN_VALUES

use super::layout::{BatchSaved, GradSums, backward_segments, segments, spatial};
use super::{Acc, Affine};
use crate::{Float, Mode, Row};

/// Whether `T`'s wider type is wider than `T` (`f32`), so that the straight
/// kernels are more accurate, not less, than the compensated ones.
#[inline(always)]
pub(super) const fn widens<T: Float>() -> bool {
    size_of::<T>() < size_of::<T::Acc>()
}

/// Most parameters a straight kernel accumulates gradients for, in a local
/// buffer of the wider type.
pub(super) const MAX_PARAMS: usize = 256;

/// Whether every `a` (a variance plus `eps`) is a normal `f32` number well
/// inside its range, so that `1 / sqrt(a)` can be seeded in `f32` and
/// refined in `f64` ([`BatchSaved::set_rstd`]); false for `f64` layers.
#[inline(always)]
pub(super) fn seeds_in_range<T: Float, const C: usize>(a: &[T::Acc; C]) -> bool {
    let (low, high) = (
        4.0 * f64::from(f32::MIN_POSITIVE),
        0.25 * f64::from(f32::MAX),
    );
    widens::<T>()
        && a.iter().fold(true, |ok, v| {
            let v = v.to_f64();
            ok & (v >= low) & (v <= high)
        })
}

/// The mean (0 without centring) and `1 / sqrt(var + eps)` of a segment, in
/// the wider type: two plain passes (short segments: a chain of additions
/// costs less than lanes would).
#[inline(always)]
fn mean_rstd<T: Float, const CENTER: bool>(xs: &[T], eps: f64) -> (Acc<T>, Acc<T>) {
    let zero = Acc::<T>::ZERO;
    let n = Acc::<T>::from_usize(xs.len());
    let inv_n = Acc::<T>::ONE / n;
    // Divided, not multiplied by `inv_n`: the mean of a constant segment is
    // then exactly its value, its variance exactly 0, and the output exactly
    // the bias.
    let mean = if CENTER {
        xs.iter().fold(zero, |s, v| s + v.to_acc()) / n
    } else {
        zero
    };
    let var = xs.iter().fold(zero, |s, v| {
        let d = v.to_acc() - mean;
        s + d * d
    }) * inv_n;
    (mean, Acc::<T>::ONE / (var + Acc::<T>::from_f64(eps)).sqrt())
}

/// [`rows::forward`](super::rows::forward) for a small `f32` batch.
#[inline(always)]
pub(super) fn rows_forward<R: Row, const COUNT: usize, const PP: usize, const CENTER: bool>(
    weight: Option<&[R::Scalar]>,
    bias: Option<&[R::Scalar]>,
    eps: f64,
    x: &[R],
    y: &mut [R],
) {
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        for (first, xs, ys) in segments::<R, COUNT, PP>(xr, yr) {
            let (mean, rstd) = mean_rstd::<_, CENTER>(xs, eps);
            for (i, (yv, xv)) in ys.iter_mut().zip(xs).enumerate() {
                let p = first + i / PP;
                let xhat = (xv.to_acc() - mean) * rstd;
                let scaled = weight.map_or(xhat, |w| xhat * w[p].to_acc());
                *yv = R::Scalar::from_acc(bias.map_or(scaled, |b| scaled + b[p].to_acc()));
            }
        }
    }
}

/// [`rows::backward`](super::rows::backward) for a small `f32` batch: the
/// parameter gradients are summed over the batch in the wider type and added
/// to `dweight` / `dbias` with one rounding each. Needs at most
/// [`MAX_PARAMS`] parameters per row (`R::LEN / PP`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn rows_backward<R: Row, const COUNT: usize, const PP: usize, const CENTER: bool>(
    weight: Option<&[R::Scalar]>,
    eps: f64,
    x: &[R],
    dy: &[R],
    dx: &mut [R],
    dweight: Option<&mut [R::Scalar]>,
    dbias: Option<&mut [R::Scalar]>,
) {
    let m = R::LEN / COUNT;
    let zero = Acc::<R::Scalar>::ZERO;
    let inv_n = Acc::<R::Scalar>::ONE / Acc::<R::Scalar>::from_usize(m);
    let mut dw = [zero; MAX_PARAMS];
    let mut db = [zero; MAX_PARAMS];
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        for (first, xs, dys, dxs) in backward_segments::<R, COUNT, PP>(xr, dyr, dxr) {
            let (mean, rstd) = mean_rstd::<_, CENTER>(xs, eps);
            let xhat = |i: usize| (xs[i].to_acc() - mean) * rstd;
            let g = |i: usize| {
                let d = dys[i].to_acc();
                weight.map_or(d, |w| d * w[first + i / PP].to_acc())
            };
            let (mut sum_g, mut sum_gx) = (zero, zero);
            for i in 0..m {
                sum_g += g(i);
                sum_gx += g(i) * xhat(i);
                dw[first + i / PP] += dys[i].to_acc() * xhat(i);
                db[first + i / PP] += dys[i].to_acc();
            }
            let mean_g = if CENTER { sum_g * inv_n } else { zero };
            let mean_gx = sum_gx * inv_n;
            for (i, dxv) in dxs.iter_mut().enumerate() {
                *dxv = R::Scalar::from_acc(rstd * (g(i) - mean_g - xhat(i) * mean_gx));
            }
        }
    }
    for (grad, sums) in [(dweight, &dw), (dbias, &db)] {
        if let Some(grad) = grad {
            for (a, s) in grad.iter_mut().zip(sums) {
                *a = R::Scalar::from_acc(a.to_acc() + *s);
            }
        }
    }
}

/// Batch norm's training forward pass for a small `f32` batch: fills
/// `saved` with the batch's statistics, writes `y`, and returns the biased
/// variance, in the wider type. (`FMA`: compiled for AVX2 + FMA; the code is
/// the same.)
#[inline(always)]
pub(super) fn batch_train<R: Row, const C: usize, const FMA: bool>(
    affine: Affine<'_, [R::Scalar; C]>,
    eps: f64,
    x: &[R],
    y: &mut [R],
    saved: &mut BatchSaved<R::Scalar, C>,
) -> [Acc<R::Scalar>; C] {
    let [mean, var] = batch_moments::<R, C>(x);
    for c in 0..C {
        saved.hi[c] = R::Scalar::from_acc(mean[c]);
        saved.lo[c] = R::Scalar::from_acc(mean[c] - saved.hi[c].to_acc());
    }
    saved.set_rstd(&var, eps);
    batch_normalize::<R, C, FMA>(affine, saved, x, y);
    var
}

/// Calls `f(c, i)` for the index `i` of every value of a row and its channel
/// `c`: across channels without spatial dims (a loop that vectorizes), and
/// along each channel's positions with them.
#[inline(always)]
fn each_value<R: Row, const C: usize>(mut f: impl FnMut(usize, usize)) {
    let s = spatial::<R, C>();
    if s == 1 {
        for c in 0..C {
            f(c, c);
        }
    } else {
        for c in 0..C {
            for i in c * s..(c + 1) * s {
                f(c, i);
            }
        }
    }
}

/// The batch's per-channel mean and biased variance, in the wider type.
#[inline(always)]
fn batch_moments<R: Row, const C: usize>(x: &[R]) -> [[Acc<R::Scalar>; C]; 2] {
    let s = spatial::<R, C>();
    let zero = Acc::<R::Scalar>::ZERO;
    let n = Acc::<R::Scalar>::from_usize(x.len() * s);
    let inv_n = Acc::<R::Scalar>::ONE / n;
    let mut mean = [zero; C];
    for row in x {
        let xf = row.as_flat();
        each_value::<R, C>(|c, i| mean[c] += xf[i].to_acc());
    }
    // Divided (see `mean_rstd`): a constant channel's mean is exact.
    for m in &mut mean {
        *m = *m / n;
    }
    let mut var = [zero; C];
    for row in x {
        let xf = row.as_flat();
        each_value::<R, C>(|c, i| {
            let d = xf[i].to_acc() - mean[c];
            var[c] += d * d;
        });
    }
    for v in &mut var {
        *v *= inv_n;
    }
    [mean, var]
}

/// [`batch::normalize`](super::batch): `y = (x - mean) * rstd * weight +
/// bias` in the wider type, with the statistics of `saved`.
#[inline(always)]
pub(super) fn batch_normalize<R: Row, const C: usize, const FMA: bool>(
    affine: Affine<'_, [R::Scalar; C]>,
    saved: &BatchSaved<R::Scalar, C>,
    x: &[R],
    y: &mut [R],
) {
    let Affine { weight, bias } = affine;
    let (mean, rstd) = saved.wide();
    let mut scale = rstd;
    let mut shift = [Acc::<R::Scalar>::ZERO; C];
    for c in 0..C {
        if let Some(w) = weight {
            scale[c] *= w[c].to_acc();
        }
        if let Some(b) = bias {
            shift[c] = b[c].to_acc();
        }
    }
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        let (xf, yf) = (xr.as_flat(), yr.as_flat_mut());
        each_value::<R, C>(|c, i| {
            yf[i] = R::Scalar::from_acc((xf[i].to_acc() - mean[c]) * scale[c] + shift[c]);
        });
    }
}

/// Batch norm's backward pass for a small `f32` batch: `dx` from this
/// batch's gradient sums or, across workers, the whole batch's (`global`);
/// returns this batch's `[sum(dy * xhat), sum(dy)]`, in the wider type.
#[inline(always)]
pub(super) fn batch_backward<R: Row, const C: usize, const FMA: bool>(
    weight: Option<&[R::Scalar; C]>,
    saved: &BatchSaved<R::Scalar, C>,
    global: Option<&GradSums<C>>,
    x: &[R],
    dy: &[R],
    dx: &mut [R],
) -> [[Acc<R::Scalar>; C]; 2] {
    let zero = Acc::<R::Scalar>::ZERO;
    let (mean, rstd) = saved.wide();
    let mut sum_dy = [zero; C];
    let mut sum_dy_xhat = [zero; C];
    for (xr, dyr) in x.iter().zip(dy) {
        let (xf, dyf) = (xr.as_flat(), dyr.as_flat());
        each_value::<R, C>(|c, i| {
            let d = dyf[i].to_acc();
            sum_dy[c] += d;
            sum_dy_xhat[c] += d * ((xf[i].to_acc() - mean[c]) * rstd[c]);
        });
    }
    let inv_n = Acc::<R::Scalar>::ONE / Acc::<R::Scalar>::from_usize(saved.count);
    // With fixed statistics (inference) the two mean terms vanish.
    let train = saved.mode == Mode::Train;
    let mut mean_dy = [zero; C];
    let mut mean_dy_xhat = [zero; C];
    let mut scale = rstd;
    for c in 0..C {
        if train {
            (mean_dy[c], mean_dy_xhat[c]) = match global {
                Some(g) => (
                    Acc::<R::Scalar>::from_f64(g.sum_dy[c]),
                    Acc::<R::Scalar>::from_f64(g.sum_dy_xhat[c]),
                ),
                None => (sum_dy[c], sum_dy_xhat[c]),
            };
            mean_dy[c] *= inv_n;
            mean_dy_xhat[c] *= inv_n;
        }
        if let Some(w) = weight {
            scale[c] *= w[c].to_acc();
        }
    }
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        let (xf, dyf, dxf) = (xr.as_flat(), dyr.as_flat(), dxr.as_flat_mut());
        each_value::<R, C>(|c, i| {
            let xhat = (xf[i].to_acc() - mean[c]) * rstd[c];
            let g = dyf[i].to_acc() - mean_dy[c] - xhat * mean_dy_xhat[c];
            dxf[i] = R::Scalar::from_acc(scale[c] * g);
        });
    }
    [sum_dy_xhat, sum_dy]
}
