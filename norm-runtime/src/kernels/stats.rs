//! Statistics more than one kind computes the same way: the mean and variance
//! in the wider type, for inputs whose sums of squares overflow the layer's
//! type, and the update of running averages.

use crate::Float;

/// The mean as `(hi, lo)` and the biased variance of `count` values, all in
/// the wider type (`center == false`: RMS norm, mean 0 and the mean square).
/// For the rare inputs whose sums of squares overflow the layer's type; the
/// variance stays wide, since it may overflow the layer's type itself.
#[cold]
pub(crate) fn wide_mean_var<T: Float>(
    values: impl Iterator<Item = T> + Clone,
    count: usize,
    center: bool,
) -> (T, T, T::Acc) {
    let inv_n = T::Acc::ONE / T::Acc::from_usize(count);
    let mut rough = T::Acc::ZERO;
    if center {
        // Each value over `count` before the sum, which then cannot
        // overflow: for f64, whose wide type is f64 itself, the sum of a
        // channel of `-f64::MAX` would be `-inf`, and the variance NaN.
        for v in values.clone() {
            rough += v.to_acc() * inv_n;
        }
    }
    // `s2` sums `d^2 / n`, the variance itself, so it overflows only when
    // the variance does (a sum of `d^2` could overflow f64 `n` times
    // sooner).
    let (mut s1, mut s2) = (T::Acc::ZERO, T::Acc::ZERO);
    for v in values {
        let d = v.to_acc() - rough;
        s1 += d;
        s2 += d * inv_n * d;
    }
    if !center {
        return (T::ZERO, T::ZERO, s2);
    }
    let mean = rough + s1 * inv_n;
    let hi = T::from_acc(mean);
    let mean_dev = s1 * inv_n;
    let var = (s2 - mean_dev * mean_dev).max(T::Acc::ZERO);
    (hi, T::from_acc(mean - hi.to_acc()), var)
}

/// `r = (1 - m) r + m s` for the running mean and variance, in the wider
/// type and rounded once, as PyTorch's CPU batch norm computes it (its
/// statistics and momentum are `double` there).
#[inline]
pub(crate) fn update_running<T: Float, const C: usize>(
    running_mean: &mut [T; C],
    running_var: &mut [T; C],
    momentum: f64,
    mean: &[T::Acc; C],
    unbiased_var: &[T::Acc; C],
) {
    let m = T::Acc::from_f64(momentum);
    let keep = T::Acc::from_f64(1.0 - momentum);
    for c in 0..C {
        running_mean[c] = T::from_acc(keep * running_mean[c].to_acc() + m * mean[c]);
        running_var[c] = T::from_acc(keep * running_var[c].to_acc() + m * unbiased_var[c]);
    }
}

/// Fails, naming the first channel, unless every batch mean and variance is
/// finite: checked before the running statistics move, so a batch with a
/// NaN or an infinity leaves them (and `num_batches_tracked`) unchanged.
/// One comparison per channel, on statistics already computed.
///
/// # Errors
/// [`NormError::NonFiniteStatistics`].
#[inline]
pub(crate) fn check_finite<T: Float, const C: usize>(
    mean: &[T::Acc; C],
    var: &[T::Acc; C],
) -> Result<(), crate::NormError> {
    // In the layer's type: a wide value past its range cannot be stored.
    // Branch-free over every channel (the compiler vectorizes the
    // comparisons and the `|`), and the channel is looked for only on the
    // rare refusal: a search that stops at the first bad channel is a
    // branch per channel, several per cent of a small batch's pass.
    let mut bad = false;
    for c in 0..C {
        bad |= !(fits::<T>(mean[c]) & fits::<T>(var[c]));
    }
    if bad {
        return Err(first_non_finite::<T, C>(mean, var));
    }
    Ok(())
}

/// Whether the wide statistic `v` is finite once stored in the layer's type.
#[inline(always)]
fn fits<T: Float>(v: T::Acc) -> bool {
    T::from_acc(v).is_finite()
}

/// The refusal naming the first channel whose statistics are not finite.
#[cold]
fn first_non_finite<T: Float, const C: usize>(
    mean: &[T::Acc; C],
    var: &[T::Acc; C],
) -> crate::NormError {
    let channel = (0..C)
        .find(|&c| !(fits::<T>(mean[c]) && fits::<T>(var[c])))
        .unwrap_or(0);
    crate::NormError::NonFiniteStatistics { channel }
}
