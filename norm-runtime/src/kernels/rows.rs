//! Statistics of contiguous segments of each row, the same in training and
//! inference: layer norm (PyTorch's `LayerNorm`: the whole row), RMS norm
//! (`RMSNorm`: the whole row, scaled by its root mean square, not centred),
//! group norm (`GroupNorm`: one segment per group of channels) and instance
//! norm (`InstanceNorm1d/2d/3d` without running statistics: one per channel).
//!
//! The geometry is in const generics: `COUNT` segments per row, `PP`
//! consecutive values per parameter (1 for layer and RMS norm, the spatial
//! size for group and instance norm), `CENTER` (all but RMS norm), so every
//! loop bound is a constant of the generated layer.
//!
//! # Numerics
//! `f32` batches of fewer than `ROWS_DISPATCH_MIN_VALUES` values take the
//! `straight` kernels (private), which compute in `f64` and round once.
//! Everything else runs in the layer's own type, `f32` or `f64`, so it
//! vectorizes at full width; accuracy comes from the algorithm rather than
//! from a wider type:
//! 1. a rough mean `r` from a many-lane sum;
//! 2. deviations `d = x - r`, exact in floating point near the mean
//!    (Sterbenz), with their sum and sum of squares: the corrected two-pass
//!    algorithm, whose `sum(d) / n` corrects the rough mean's rounding;
//! 3. the mean kept as an unevaluated sum `hi + lo` (TwoSum), so that
//!    `(x - hi) - lo` stays exact to a few ulps even for inputs around 1e4
//!    with spread 1, where a rounded mean alone would lose 1e-4.
//!
//! A constant segment gives deviations that are a few-bit multiple of one
//! ulp, so every sum is exact, the variance is exactly 0 and the output
//! exactly the bias. A sum of squares that overflows (|x| > 1e19 in `f32`)
//! falls back to the same algorithm in `f64`.

use super::dispatch::{ROWS_DISPATCH_MIN_VALUES, dispatched};
pub(super) use super::layout::{backward_segments, segments};
use super::parallel::for_row_chunks;
use super::reduce::{LANES, fast_two_sum, madd, pairwise, sums};
use super::stats::wide_mean_var;
use super::straight;
use super::{Affine, GradsMut, check_backward, check_forward};
use crate::{Float, Mode, NormError, Row};

/// What a forward pass with per-row statistics keeps for backward: the batch
/// size and mode.
///
/// Per-row statistics are not kept (that would need memory proportional to
/// the batch); backward recomputes them from `x` with the same arithmetic, so
/// they are bit-for-bit those of the forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowSaved {
    rows: usize,
    mode: Mode,
}

impl RowSaved {
    /// Nothing saved yet (zero rows), for scratch that a forward pass
    /// overwrites.
    pub(crate) const EMPTY: Self = Self {
        rows: 0,
        mode: Mode::Train,
    };

    /// The number of rows of the forward pass.
    #[inline]
    #[must_use]
    pub const fn rows(&self) -> usize {
        self.rows
    }

    /// Which forward pass produced these statistics. Per-row statistics are
    /// the same in both modes.
    #[inline]
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
}

/// The statistics of one segment: the mean as `hi + lo`, the reciprocal
/// standard deviation `1 / sqrt(var + eps)`, and the biased variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats<T: Float> {
    /// The mean, rounded (0 for RMS norm).
    pub hi: T,
    /// The mean's rounding error: `hi + lo` is the mean to twice the precision.
    pub lo: T,
    /// `1 / sqrt(var + eps)`.
    pub rstd: T,
    /// The biased variance (the mean square for RMS norm).
    pub var: T,
}

/// The rough mean a segment's deviations are taken from (0 for RMS norm).
#[inline(always)]
fn rough_mean<T: Float, const CENTER: bool, const WIDE: bool>(xs: &[T]) -> T {
    if CENTER {
        let [sum] = sums::<_, 1, WIDE>(xs.len(), |i| [xs[i]]);
        sum * (T::ONE / T::from_usize(xs.len()))
    } else {
        T::ZERO
    }
}

/// Finishes a segment's statistics from the sums of its deviations from the
/// rough mean `r`. The deviations are centred, so `s2 / n - c^2` does not
/// cancel and the layer's own type is accurate enough.
#[inline(always)]
fn finish<T: Float, const CENTER: bool>(xs: &[T], r: T, s1: T, s2: T, eps: f64) -> Stats<T> {
    if !s2.to_f64().is_finite() || !r.to_f64().is_finite() {
        // Squares (or the rough sum) overflowed the type.
        let (hi, lo, var) = wide_mean_var(xs.iter().copied(), xs.len(), CENTER);
        let rstd = T::from_acc(T::Acc::ONE / (var + T::Acc::from_f64(eps)).sqrt());
        return Stats {
            hi,
            lo,
            rstd,
            var: T::from_acc(var),
        };
    }
    let inv_n = T::ONE / T::from_usize(xs.len());
    let (hi, lo, var) = if CENTER {
        let c = s1 * inv_n;
        let var = (s2 * inv_n - c * c).max(T::ZERO);
        let (hi, lo) = fast_two_sum(r, c);
        (hi, lo, var)
    } else {
        (T::ZERO, T::ZERO, s2 * inv_n)
    };
    let rstd = T::ONE / (var + T::from_f64(eps)).sqrt();
    Stats { hi, lo, rstd, var }
}

/// The sums of deviations from the rough mean `r`: `[sum(d), sum(d^2)]`.
#[inline(always)]
fn deviation_sums<T: Float, const FMA: bool>(xs: &[T], r: T) -> [T; 2] {
    if !FMA || xs.len() < LANES {
        sums::<_, 2, false>(xs.len(), |i| {
            let d = xs[i] - r;
            [d, d * d]
        })
    } else if xs.len() < 8 * LANES {
        deviation_sums_in::<T, FMA, { LANES / 2 }>(xs, r)
    } else {
        deviation_sums_in::<T, FMA, LANES>(xs, r)
    }
}

#[inline(always)]
fn deviation_sums_in<T: Float, const FMA: bool, const L: usize>(xs: &[T], r: T) -> [T; 2] {
    let mut acc = [[T::ZERO; L]; 2];
    let chunks = xs.chunks_exact(L);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, x) in chunk.iter().enumerate() {
            let d = *x - r;
            acc[0][lane] += d;
            acc[1][lane] = madd::<T, FMA>(d, d, acc[1][lane]);
        }
    }
    for (lane, x) in tail.iter().enumerate() {
        let d = *x - r;
        acc[0][lane] += d;
        acc[1][lane] = madd::<T, FMA>(d, d, acc[1][lane]);
    }
    acc.map(pairwise)
}

/// The statistics of one segment (see the module docs).
#[inline(always)]
#[must_use]
pub fn segment_stats<T: Float, const CENTER: bool>(xs: &[T], eps: f64) -> Stats<T> {
    segment_stats_with::<T, CENTER, false>(xs, eps)
}

#[inline(always)]
fn segment_stats_with<T: Float, const CENTER: bool, const FMA: bool>(
    xs: &[T],
    eps: f64,
) -> Stats<T> {
    let r = rough_mean::<T, CENTER, FMA>(xs);
    let [s1, s2] = deviation_sums::<T, FMA>(xs, r);
    finish::<_, CENTER>(xs, r, s1, s2, eps)
}

#[inline(always)]
fn forward_rows<
    R: Row,
    const COUNT: usize,
    const PP: usize,
    const CENTER: bool,
    const FMA: bool,
>(
    weight: Option<&[R::Scalar]>,
    bias: Option<&[R::Scalar]>,
    eps: f64,
    x: &[R],
    y: &mut [R],
) {
    let m = R::LEN / COUNT;
    let zero = R::Scalar::ZERO;
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        for (first, xs, ys) in segments::<R, COUNT, PP>(xr, yr) {
            let Stats { hi, lo, rstd, var } = segment_stats_with::<_, CENTER, FMA>(xs, eps);
            if !var.is_finite() && xs.iter().all(|v| v.is_finite()) {
                scaled_segment::<_, CENTER, PP>(weight, bias, first, eps, xs, ys);
                continue;
            }
            if PP == 1 {
                // One parameter per value: plain zipped loops, one per case,
                // so each vectorizes.
                let w = weight.map(|w| &w[first..first + m]);
                let b = bias.map(|b| &b[first..first + m]);
                let centred = |x: R::Scalar| (x - hi) - lo;
                match (w, b) {
                    (Some(w), Some(b)) => {
                        for (((y, x), w), b) in ys.iter_mut().zip(xs).zip(w).zip(b) {
                            *y = madd::<_, FMA>(centred(*x), rstd * *w, *b);
                        }
                    }
                    (Some(w), None) => {
                        for ((y, x), w) in ys.iter_mut().zip(xs).zip(w) {
                            *y = centred(*x) * (rstd * *w);
                        }
                    }
                    (None, Some(b)) => {
                        for ((y, x), b) in ys.iter_mut().zip(xs).zip(b) {
                            *y = madd::<_, FMA>(centred(*x), rstd, *b);
                        }
                    }
                    (None, None) => {
                        for (y, x) in ys.iter_mut().zip(xs) {
                            *y = centred(*x) * rstd;
                        }
                    }
                }
            } else {
                // One parameter per run of PP values (per channel).
                let runs = xs.chunks_exact(PP).zip(ys.chunks_exact_mut(PP));
                for (k, (xc, yc)) in runs.enumerate() {
                    let scale = weight.map_or(rstd, |w| rstd * w[first + k]);
                    let shift = bias.map_or(zero, |b| b[first + k]);
                    for (y, x) in yc.iter_mut().zip(xc) {
                        *y = madd::<_, FMA>((*x - hi) - lo, scale, shift);
                    }
                }
            }
        }
    }
}

/// One segment whose variance overflows the type (values near its
/// largest, such as `[f32::MAX, -f32::MAX, ..]`): normalizes `x / 2^k`
/// instead, `2^k` at least the largest `|x|`, with `eps / 4^k`. That is the
/// same result (`(x - mean) / sqrt(var + eps)` does not change when `x`,
/// the mean and the deviation scale together), the scaling is exact, and
/// `x - mean` stays finite. `ys` holds the scaled values, then the output.
/// [`scaled_backward`] is its backward pass.
#[cold]
#[inline(never)]
fn scaled_segment<T: Float, const CENTER: bool, const PP: usize>(
    weight: Option<&[T]>,
    bias: Option<&[T]>,
    first: usize,
    eps: f64,
    xs: &[T],
    ys: &mut [T],
) {
    let (down, up) = overflow_scale(xs);
    for (y, x) in ys.iter_mut().zip(xs) {
        *y = *x * down;
    }
    let Stats { hi, lo, rstd, .. } =
        segment_stats_with::<_, CENTER, false>(ys, scaled_eps::<T>(eps, up));
    for (i, y) in ys.iter_mut().enumerate() {
        let scale = weight.map_or(rstd, |w| rstd * w[first + i / PP]);
        let shift = bias.map_or(T::ZERO, |b| b[first + i / PP]);
        *y = ((*y - hi) - lo) * scale + shift;
    }
}

/// The backward pass of [`scaled_segment`]: the same statistics of `x /
/// 2^k`, `dx = 2^-k rstd' (g - mean(g) - x̂ mean(g x̂))` with `g = dy w`,
/// `x̂` unchanged by the scaling, and the parameter gradients `+=`. `dxs`
/// holds the scaled input until it is overwritten by `dx`.
#[cold]
#[inline(never)]
fn scaled_backward<T: Float, const CENTER: bool, const PP: usize>(
    weight: Option<&[T]>,
    (mut dweight, mut dbias): (Option<&mut [T]>, Option<&mut [T]>),
    first: usize,
    eps: f64,
    xs: &[T],
    dys: &[T],
    dxs: &mut [T],
) {
    let (down, up) = overflow_scale(xs);
    for (d, x) in dxs.iter_mut().zip(xs) {
        *d = *x * down;
    }
    let Stats { hi, lo, rstd, .. } =
        segment_stats_with::<_, CENTER, false>(dxs, scaled_eps::<T>(eps, up));
    let param = |i: usize| first + i / PP;
    let g = |i: usize| dys[i] * weight.map_or(T::ONE, |w| w[param(i)]);
    let xhat = |x: T| ((x - hi) - lo) * rstd;
    let inv_n = T::ONE / T::from_usize(xs.len());
    let (mut sum_g, mut sum_gx) = (T::ZERO, T::ZERO);
    for (i, x) in dxs.iter().enumerate() {
        sum_g += g(i);
        sum_gx += g(i) * xhat(*x);
        if let Some(dw) = dweight.as_deref_mut() {
            dw[param(i)] += dys[i] * xhat(*x);
        }
        if let Some(db) = dbias.as_deref_mut() {
            db[param(i)] += dys[i];
        }
    }
    let mean_g = if CENTER { sum_g * inv_n } else { T::ZERO };
    let mean_gx = sum_gx * inv_n;
    for (i, d) in dxs.iter_mut().enumerate() {
        *d = ((g(i) - mean_g - xhat(*d) * mean_gx) * rstd) * down;
    }
}

/// The scaling of [`scaled_segment`] and [`scaled_backward`]: `2^-k`, with
/// `2^k` above the largest `|x|` (one more than its binary exponent), and
/// `4^k`, which divides `eps`.
fn overflow_scale<T: Float>(xs: &[T]) -> (T, f64) {
    let largest = xs.iter().fold(0.0_f64, |m, v| m.max(v.to_f64().abs()));
    #[allow(clippy::cast_possible_wrap)]
    let k = ((largest.to_bits() >> 52) & 0x7ff) as i64 - 1022;
    (T::from_f64(pow2(-k)), pow2(2 * k))
}

/// `eps / 4^k`, but never below the smallest normal value of `T`: for the
/// largest inputs it would round to 0 in `T`, and a segment of equal values
/// (variance 0) would give `0 * (1 / sqrt(0))`, NaN, where the true output
/// is 0. Wherever the variance is not 0, it is far above that floor (the
/// deviations are at least an ulp of the scaled values), so the floor
/// changes nothing else.
fn scaled_eps<T: Float>(eps: f64, up: f64) -> f64 {
    let smallest = if T::from_f64(f64::MIN_POSITIVE) == T::ZERO {
        f64::from(f32::MIN_POSITIVE)
    } else {
        f64::MIN_POSITIVE
    };
    (eps / up).max(smallest)
}

/// `2^e` exactly (subnormal below `2^-1022`, infinite above `2^1023`).
fn pow2(e: i64) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        #[allow(clippy::cast_sign_loss)]
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        pow2(e + 64) * pow2(-64)
    }
}

dispatched! {
    /// [`forward_rows`] for a batch of `values` values.
    fn forward_dispatched[R: Row, const COUNT: usize, const PP: usize, const CENTER: bool](
        weight: Option<&[R::Scalar]>,
        bias: Option<&[R::Scalar]>,
        eps: f64,
        x: &[R],
        y: &mut [R],
    ) = forward_rows::<R, COUNT, PP, CENTER>, portable below ROWS_DISPATCH_MIN_VALUES;
}

/// Whether a batch of `values` values takes the [`straight`] kernels: `f32`
/// batches too small to dispatch, with few enough parameters per row for its
/// gradient buffers.
#[inline(always)]
const fn straight_path<R: Row, const COUNT: usize, const PP: usize>(values: usize) -> bool {
    straight::widens::<R::Scalar>()
        && R::LEN / PP <= straight::MAX_PARAMS
        && values < ROWS_DISPATCH_MIN_VALUES
}

/// Forward pass: each of the `COUNT` segments of each row normalized with its
/// own statistics, then `* weight + bias` for the parameters the layer has.
///
/// # Errors
/// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
/// [`NormError::EmptyBatch`] if `x` is empty.
#[inline]
pub fn forward<R, P, const COUNT: usize, const PP: usize, const CENTER: bool>(
    affine: Affine<'_, P>,
    eps: f64,
    mode: Mode,
    x: &[R],
    y: &mut [R],
) -> Result<RowSaved, NormError>
where
    R: Row,
    P: Row<Scalar = R::Scalar>,
{
    const {
        assert!(R::LEN.is_multiple_of(COUNT) && (R::LEN / COUNT).is_multiple_of(PP));
    }
    check_forward(x.len(), y.len())?;
    let (weight, bias) = affine.flat();
    let values = x.len() * R::LEN;
    if straight_path::<R, COUNT, PP>(values) {
        straight::rows_forward::<R, COUNT, PP, CENTER>(weight, bias, eps, x, y);
    } else {
        // Every row on its own: split across threads (feature `parallel`).
        for_row_chunks(values, x, y, |x, y| {
            forward_dispatched::<R, COUNT, PP, CENTER>(values, weight, bias, eps, x, y);
        });
    }
    Ok(RowSaved {
        rows: x.len(),
        mode,
    })
}

/// The statistics' sums and the gradient's in one pass over a segment with
/// one parameter per value: `[sum(d), sum(d^2), sum(g), sum(g * d)]` with
/// `d = x - r` and `g = dy * w`, in the same lanes as [`deviation_sums`].
#[inline(always)]
fn backward_sums<T: Float, const FMA: bool>(xs: &[T], dys: &[T], w: Option<&[T]>, r: T) -> [T; 4] {
    if !FMA || xs.len() < LANES {
        // The same chains as `deviation_sums` for short segments.
        sums::<_, 4, false>(xs.len(), |i| {
            let d = xs[i] - r;
            let g = w.map_or(dys[i], |w| dys[i] * w[i]);
            [d, d * d, g, g * d]
        })
    } else if xs.len() < 8 * LANES {
        backward_sums_in::<T, FMA, { LANES / 2 }>(xs, dys, w, r)
    } else {
        backward_sums_in::<T, FMA, LANES>(xs, dys, w, r)
    }
}

#[inline(always)]
fn backward_sums_in<T: Float, const FMA: bool, const L: usize>(
    xs: &[T],
    dys: &[T],
    w: Option<&[T]>,
    r: T,
) -> [T; 4] {
    let mut acc = [[T::ZERO; L]; 4];
    let mut add = |lane: usize, x: T, g: T| {
        let d = x - r;
        acc[0][lane] += d;
        acc[1][lane] = madd::<T, FMA>(d, d, acc[1][lane]);
        acc[2][lane] += g;
        acc[3][lane] = madd::<T, FMA>(g, d, acc[3][lane]);
    };
    let n = xs.len() - xs.len() % L;
    match w {
        Some(w) => {
            let chunks = xs[..n]
                .chunks_exact(L)
                .zip(dys[..n].chunks_exact(L))
                .zip(w[..n].chunks_exact(L));
            for ((xc, dc), wc) in chunks {
                for lane in 0..L {
                    add(lane, xc[lane], dc[lane] * wc[lane]);
                }
            }
            for (lane, ((x, d), w)) in xs[n..].iter().zip(&dys[n..]).zip(&w[n..]).enumerate() {
                add(lane, *x, *d * *w);
            }
        }
        None => {
            for (xc, dc) in xs[..n].chunks_exact(L).zip(dys[..n].chunks_exact(L)) {
                for lane in 0..L {
                    add(lane, xc[lane], dc[lane]);
                }
            }
            for (lane, (x, d)) in xs[n..].iter().zip(&dys[n..]).enumerate() {
                add(lane, *x, *d);
            }
        }
    }
    acc.map(pairwise)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn backward_rows<
    R: Row,
    const COUNT: usize,
    const PP: usize,
    const CENTER: bool,
    const FMA: bool,
>(
    weight: Option<&[R::Scalar]>,
    eps: f64,
    x: &[R],
    dy: &[R],
    dx: &mut [R],
    mut dweight: Option<&mut [R::Scalar]>,
    mut dbias: Option<&mut [R::Scalar]>,
) {
    let m = R::LEN / COUNT;
    let inv_n = R::Scalar::ONE / R::Scalar::from_usize(m);
    let one = R::Scalar::ONE;
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        for (first, xs, dys, dxs) in backward_segments::<R, COUNT, PP>(xr, dyr, dxr) {
            // The statistics' sums and the gradient's in one pass:
            // sum(g * xhat) = rstd * (sum(g * d) - c * sum(g)), c = mean - r.
            let r = rough_mean::<_, CENTER, FMA>(xs);
            // (The same lanes as the forward pass's sums, so the statistics
            // are bit-for-bit the same.)
            let [s1, s2, sum_g, sum_gd] = if PP == 1 {
                backward_sums::<_, FMA>(xs, dys, weight.map(|w| &w[first..first + m]), r)
            } else {
                let [s1, s2] = deviation_sums::<_, FMA>(xs, r);
                let [sum_g, sum_gd] = sums::<_, 2, FMA>(m, |i| {
                    let g = dys[i] * weight.map_or(one, |w| w[first + i / PP]);
                    [g, g * (xs[i] - r)]
                });
                [s1, s2, sum_g, sum_gd]
            };
            let Stats { hi, lo, rstd, var } = finish::<_, CENTER>(xs, r, s1, s2, eps);
            if !var.is_finite() && xs.iter().all(|v| v.is_finite()) {
                let grads = (dweight.as_deref_mut(), dbias.as_deref_mut());
                scaled_backward::<_, CENTER, PP>(weight, grads, first, eps, xs, dys, dxs);
                continue;
            }
            let c = (hi - r) + lo;
            let mean_g = if CENTER {
                sum_g * inv_n
            } else {
                R::Scalar::ZERO
            };
            let mean_g_xhat = rstd * (sum_gd - c * sum_g) * inv_n;
            let xhat = |x: R::Scalar| ((x - hi) - lo) * rstd;
            if PP == 1 {
                let w = weight.map(|w| &w[first..first + m]);
                let dw = dweight.as_deref_mut().map(|d| &mut d[first..first + m]);
                let db = dbias.as_deref_mut().map(|d| &mut d[first..first + m]);
                fused_backward::<_, FMA>(
                    xs,
                    dys,
                    dxs,
                    w,
                    dw,
                    db,
                    hi,
                    lo,
                    rstd,
                    mean_g,
                    mean_g_xhat,
                );
            } else {
                let runs = xs
                    .chunks_exact(PP)
                    .zip(dys.chunks_exact(PP))
                    .zip(dxs.chunks_exact_mut(PP));
                for (k, ((xc, dyc), dxc)) in runs.enumerate() {
                    let wk = weight.map_or(one, |w| w[first + k]);
                    for ((dxv, xv), dyv) in dxc.iter_mut().zip(xc).zip(dyc) {
                        *dxv = rstd * (*dyv * wk - mean_g - xhat(*xv) * mean_g_xhat);
                    }
                    if let Some(dw) = dweight.as_deref_mut() {
                        let [t] = sums::<_, 1, FMA>(PP, |i| [dyc[i] * xhat(xc[i])]);
                        dw[first + k] += t;
                    }
                    if let Some(db) = dbias.as_deref_mut() {
                        let [t] = sums::<_, 1, FMA>(PP, |i| [dyc[i]]);
                        db[first + k] += t;
                    }
                }
            }
        }
    }
}

/// `dx`, and `+=` into the parameter gradients, in one pass over a segment
/// with one parameter per value (a loop per case, so each vectorizes).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fused_backward<T: Float, const FMA: bool>(
    xs: &[T],
    dys: &[T],
    dxs: &mut [T],
    w: Option<&[T]>,
    dw: Option<&mut [T]>,
    db: Option<&mut [T]>,
    hi: T,
    lo: T,
    rstd: T,
    mean_g: T,
    mean_g_xhat: T,
) {
    let xhat = |x: T| ((x - hi) - lo) * rstd;
    let dx = |g: T, xhat: T| rstd * (g - mean_g - xhat * mean_g_xhat);
    let rows = dxs.iter_mut().zip(xs).zip(dys);
    match (w, dw, db) {
        (Some(w), Some(dw), Some(db)) => {
            for ((((dxv, xv), dyv), wv), (dwv, dbv)) in
                rows.zip(w).zip(dw.iter_mut().zip(db.iter_mut()))
            {
                let xh = xhat(*xv);
                *dxv = dx(*dyv * *wv, xh);
                *dwv = madd::<_, FMA>(*dyv, xh, *dwv);
                *dbv += *dyv;
            }
        }
        (Some(w), Some(dw), None) => {
            for ((((dxv, xv), dyv), wv), dwv) in rows.zip(w).zip(dw.iter_mut()) {
                let xh = xhat(*xv);
                *dxv = dx(*dyv * *wv, xh);
                *dwv = madd::<_, FMA>(*dyv, xh, *dwv);
            }
        }
        (w, None, db) => {
            // No weight gradient wanted (no parameters, or a caller that
            // passes none): dx, and the bias gradient if any.
            match w {
                Some(w) => {
                    for (((dxv, xv), dyv), wv) in rows.zip(w) {
                        *dxv = dx(*dyv * *wv, xhat(*xv));
                    }
                }
                None => {
                    for ((dxv, xv), dyv) in rows {
                        *dxv = dx(*dyv, xhat(*xv));
                    }
                }
            }
            if let Some(db) = db {
                for (dbv, dyv) in db.iter_mut().zip(dys) {
                    *dbv += *dyv;
                }
            }
        }
        (None, Some(dw), db) => {
            for (((dxv, xv), dyv), dwv) in rows.zip(dw.iter_mut()) {
                let xh = xhat(*xv);
                *dxv = dx(*dyv, xh);
                *dwv = madd::<_, FMA>(*dyv, xh, *dwv);
            }
            if let Some(db) = db {
                for (dbv, dyv) in db.iter_mut().zip(dys) {
                    *dbv += *dyv;
                }
            }
        }
    }
}

dispatched! {
    /// [`backward_rows`] for a batch of `values` values.
    #[allow(clippy::too_many_arguments)]
    fn backward_dispatched[R: Row, const COUNT: usize, const PP: usize, const CENTER: bool](
        weight: Option<&[R::Scalar]>,
        eps: f64,
        x: &[R],
        dy: &[R],
        dx: &mut [R],
        dweight: Option<&mut [R::Scalar]>,
        dbias: Option<&mut [R::Scalar]>,
    ) = backward_rows::<R, COUNT, PP, CENTER>, portable below ROWS_DISPATCH_MIN_VALUES;
}

/// Backward pass: writes `dx` and accumulates the gradients of the parameters
/// the layer has.
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`] when the
/// row counts of `x`, `dy`, `dx` and the saved forward pass differ; nothing is
/// written then.
#[inline]
pub fn backward<R, P, const COUNT: usize, const PP: usize, const CENTER: bool>(
    affine: Affine<'_, P>,
    eps: f64,
    x: &[R],
    saved: &RowSaved,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, P>,
) -> Result<(), NormError>
where
    R: Row,
    P: Row<Scalar = R::Scalar>,
{
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let (weight, _) = affine.flat();
    let dweight = grads.weight.map(Row::as_flat_mut);
    let dbias = grads.bias.map(Row::as_flat_mut);
    let values = x.len() * R::LEN;
    if straight_path::<R, COUNT, PP>(values) {
        straight::rows_backward::<R, COUNT, PP, CENTER>(weight, eps, x, dy, dx, dweight, dbias);
    } else {
        backward_dispatched::<R, COUNT, PP, CENTER>(values, weight, eps, x, dy, dx, dweight, dbias);
    }
    Ok(())
}

/// The per-kind entry points the generated layers call: each names its kind
/// and fixes the segment geometry and centring, so the generated code passes
/// no positional flags.
macro_rules! kind_entry_points {
    ($(
        $(#[$doc:meta])*
        $forward:ident, $backward:ident,
        [$($geometry:tt)*], param = $param:ty, count = $count:expr, per_param = $pp:expr, center = $center:literal;
    )*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// As [`forward`].
        #[inline]
        pub fn $forward<R: Row, $($geometry)*>(
            affine: Affine<'_, $param>,
            eps: f64,
            mode: Mode,
            x: &[R],
            y: &mut [R],
        ) -> Result<RowSaved, NormError> {
            forward::<R, $param, { $count }, { $pp }, $center>(affine, eps, mode, x, y)
        }

        /// Backward pass of the forward pass of the same kind.
        ///
        /// # Errors
        /// As [`backward`].
        #[inline]
        pub fn $backward<R: Row, $($geometry)*>(
            affine: Affine<'_, $param>,
            eps: f64,
            x: &[R],
            saved: &RowSaved,
            dy: &[R],
            dx: &mut [R],
            grads: GradsMut<'_, $param>,
        ) -> Result<(), NormError> {
            backward::<R, $param, { $count }, { $pp }, $center>(affine, eps, x, saved, dy, dx, grads)
        }
    )*};
}

kind_entry_points! {
    /// Layer norm: the whole row is one segment, one parameter per value.
    layer_norm_forward, layer_norm_backward,
        [], param = R, count = 1, per_param = 1, center = true;
    /// RMS norm: the whole row, not centred, one parameter per value.
    rms_norm_forward, rms_norm_backward,
        [], param = R, count = 1, per_param = 1, center = false;
    /// Group norm: `GROUPS` segments per row, one parameter per channel of
    /// `SPATIAL` values.
    group_norm_forward, group_norm_backward,
        [const C: usize, const GROUPS: usize, const SPATIAL: usize],
        param = [R::Scalar; C], count = GROUPS, per_param = SPATIAL, center = true;
    /// Instance norm without running statistics: one segment per channel of
    /// `SPATIAL` values.
    instance_norm_forward, instance_norm_backward,
        [const C: usize, const SPATIAL: usize],
        param = [R::Scalar; C], count = C, per_param = SPATIAL, center = true;
}
