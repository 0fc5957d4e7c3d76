//! Statistics of contiguous segments of each row, the same in training and
//! inference: layer norm (PyTorch's `LayerNorm`: the whole row), RMS norm
//! (`RMSNorm`: the whole row, scaled by its root mean square, not centred),
//! group norm (`GroupNorm`: one segment per group of channels) and instance
//! norm (`InstanceNorm1d/2d/3d` without running statistics: one per channel).

use super::reduce::lane_sums;
use super::{Acc, Affine, GradsMut, accumulate, check_backward, check_forward};
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

/// How a row splits into independently normalized segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    /// Segments per row: 1 for layer and RMS norm, the groups for group norm,
    /// the channels for instance norm.
    pub count: usize,
    /// Consecutive values that share one weight and bias: 1 for layer and
    /// RMS norm, the spatial size for group and instance norm.
    pub per_param: usize,
    /// Subtract the mean (all but RMS norm).
    pub center: bool,
}

impl Segments {
    /// Layer norm: the whole row, one parameter per value.
    pub const LAYER: Self = Self {
        count: 1,
        per_param: 1,
        center: true,
    };
    /// RMS norm: the whole row, not centred, one parameter per value.
    pub const RMS: Self = Self {
        count: 1,
        per_param: 1,
        center: false,
    };

    /// Group norm over `groups` groups of channels of `spatial` values each.
    #[must_use]
    pub const fn group(groups: usize, spatial: usize) -> Self {
        Self {
            count: groups,
            per_param: spatial,
            center: true,
        }
    }

    /// Instance norm over `channels` channels of `spatial` values each.
    #[must_use]
    pub const fn instance(channels: usize, spatial: usize) -> Self {
        Self {
            count: channels,
            per_param: spatial,
            center: true,
        }
    }
}

/// The mean (0 when not centring) and biased variance (the mean square when
/// not centring) of a segment, corrected two-pass, in the accumulator type.
#[inline]
#[must_use]
pub fn segment_stats<T: Float>(values: &[T], center: bool) -> (Acc<T>, Acc<T>) {
    let len = values.len();
    let n = Acc::<T>::from_usize(len);
    if !center {
        let [squares] = lane_sums(len, |i| {
            let v = values[i].to_acc();
            [v * v]
        });
        return (Acc::<T>::ZERO, squares / n);
    }
    let [sum] = lane_sums(len, |i| [values[i].to_acc()]);
    let rough = sum / n;
    let [dev, dev2] = lane_sums(len, |i| {
        let d = values[i].to_acc() - rough;
        [d, d * d]
    });
    let mean = rough + dev / n;
    let var = ((dev2 - dev * dev / n) / n).max(Acc::<T>::ZERO);
    (mean, var)
}

/// The mean and `1 / sqrt(var + eps)` of a segment (see [`segment_stats`]).
#[inline]
#[must_use]
pub fn segment_moments<T: Float>(values: &[T], center: bool, eps: f64) -> (Acc<T>, Acc<T>) {
    let (mean, var) = segment_stats(values, center);
    (mean, Acc::<T>::ONE / (var + Acc::<T>::from_f64(eps)).sqrt())
}

/// Forward pass: each segment of each row normalized with its own
/// statistics, then `* weight + bias` for the parameters the layer has.
///
/// # Errors
/// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
/// [`NormError::EmptyBatch`] if `x` is empty.
#[inline]
pub fn forward<R: Row, P: Row<Scalar = R::Scalar>>(
    affine: Affine<'_, P>,
    geometry: Segments,
    eps: f64,
    mode: Mode,
    x: &[R],
    y: &mut [R],
) -> Result<RowSaved, NormError> {
    check_forward(x.len(), y.len())?;
    let m = R::LEN / geometry.count;
    let pp = geometry.per_param;
    debug_assert!(m * geometry.count == R::LEN && m.is_multiple_of(pp));
    let (weight, bias) = affine.flat();
    for (xr, yr) in x.iter().zip(y.iter_mut()) {
        let segments = xr
            .as_flat()
            .chunks_exact(m)
            .zip(yr.as_flat_mut().chunks_exact_mut(m));
        for (s, (xs, ys)) in segments.enumerate() {
            let (mean, rstd) = segment_moments(xs, geometry.center, eps);
            let first = s * m / pp;
            for (i, (xv, yv)) in xs.iter().zip(ys.iter_mut()).enumerate() {
                let p = first + i / pp;
                let xhat = (xv.to_acc() - mean) * rstd;
                let scaled = weight.map_or(xhat, |w| xhat * w[p].to_acc());
                let shifted = bias.map_or(scaled, |b| scaled + b[p].to_acc());
                *yv = R::Scalar::from_acc(shifted);
            }
        }
    }
    Ok(RowSaved {
        rows: x.len(),
        mode,
    })
}

/// Backward pass: writes `dx` and accumulates the gradients of the parameters
/// the layer has. `NP` is the number of parameter values (`P::LEN`, or 0 for
/// a layer without parameters).
///
/// # Errors
/// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`] when the
/// row counts of `x`, `dy`, `dx` and the saved forward pass differ; nothing is
/// written then.
#[inline]
#[allow(clippy::too_many_arguments)] // the layer's parts, passed apart so each is borrowed as it must be
pub fn backward<R: Row, P: Row<Scalar = R::Scalar>, const NP: usize>(
    affine: Affine<'_, P>,
    geometry: Segments,
    eps: f64,
    x: &[R],
    saved: &RowSaved,
    dy: &[R],
    dx: &mut [R],
    grads: GradsMut<'_, P>,
) -> Result<(), NormError> {
    const {
        assert!(
            NP == P::LEN || NP == 0,
            "NP must be the number of parameters"
        );
    }
    check_backward(saved.rows, x.len(), dy.len(), dx.len())?;
    let m = R::LEN / geometry.count;
    let pp = geometry.per_param;
    let n = Acc::<R::Scalar>::from_usize(m);
    let (weight, _) = affine.flat();
    let mut dweight = [Acc::<R::Scalar>::ZERO; NP];
    let mut dbias = [Acc::<R::Scalar>::ZERO; NP];
    for ((xr, dyr), dxr) in x.iter().zip(dy).zip(dx.iter_mut()) {
        let segments = xr
            .as_flat()
            .chunks_exact(m)
            .zip(dyr.as_flat().chunks_exact(m))
            .zip(dxr.as_flat_mut().chunks_exact_mut(m));
        for (s, ((xs, dys), dxs)) in segments.enumerate() {
            let (mean, rstd) = segment_moments(xs, geometry.center, eps);
            let first = s * m / pp;
            let g = |i: usize| {
                let d = dys[i].to_acc();
                weight.map_or(d, |w| d * w[first + i / pp].to_acc())
            };
            let [sum_g, sum_g_xhat] = lane_sums(m, |i| {
                let xhat = (xs[i].to_acc() - mean) * rstd;
                let gi = g(i);
                [gi, gi * xhat]
            });
            let mean_g = if geometry.center {
                sum_g / n
            } else {
                Acc::<R::Scalar>::ZERO
            };
            let mean_g_xhat = sum_g_xhat / n;
            for (i, dxv) in dxs.iter_mut().enumerate() {
                let xhat = (xs[i].to_acc() - mean) * rstd;
                *dxv = R::Scalar::from_acc(rstd * (g(i) - mean_g - xhat * mean_g_xhat));
                if NP > 0 {
                    let p = first + i / pp;
                    let d = dys[i].to_acc();
                    dweight[p] += d * xhat;
                    dbias[p] += d;
                }
            }
        }
    }
    accumulate(grads, &dweight, &dbias);
    Ok(())
}
