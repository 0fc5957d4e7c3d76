//! Reductions split over independent lanes.
//!
//! A floating-point sum in a single accumulator is a dependency chain the
//! compiler may not reorder, so it neither vectorizes nor pipelines. Summing
//! into `LANES` independent partial sums and combining them pairwise does
//! both, and its rounding error grows more slowly than a running sum's.

use crate::Float;

/// Independent partial sums: two AVX-512 registers of `f32`, four of `f64`.
pub(crate) const LANES: usize = 32;

/// Sums `K` quantities `f(i)` over `i in 0..n`, in `LANES` partial sums each
/// when `WIDE` (`SHORT_LANES` for short runs, one chain for very short ones).
///
/// `WIDE` is set in code compiled for SIMD extensions, where wide
/// accumulators are what hides the latency of additions; portable code
/// keeps `SHORT_LANES`, which compiles to far less code.
#[inline(always)]
pub(crate) fn sums<T: Float, const K: usize, const WIDE: bool>(
    n: usize,
    f: impl Fn(usize) -> [T; K],
) -> [T; K] {
    if n < SHORT_LANES {
        let mut acc = [T::ZERO; K];
        for i in 0..n {
            for (a, v) in acc.iter_mut().zip(f(i)) {
                *a += v;
            }
        }
        acc
    } else if !WIDE || n < LANES {
        sums_in::<T, K, SHORT_LANES>(n, f)
    } else {
        sums_in::<T, K, LANES>(n, f)
    }
}

/// Partial sums for short runs (8 to 31 values): enough chains to hide the
/// latency of an addition.
pub(crate) const SHORT_LANES: usize = 8;

#[inline(always)]
fn sums_in<T: Float, const K: usize, const L: usize>(
    n: usize,
    f: impl Fn(usize) -> [T; K],
) -> [T; K] {
    let mut acc = [[T::ZERO; L]; K];
    let full = n - n % L;
    let mut base = 0;
    while base < full {
        for lane in 0..L {
            let v = f(base + lane);
            for k in 0..K {
                acc[k][lane] += v[k];
            }
        }
        base += L;
    }
    for (lane, i) in (full..n).enumerate() {
        let v = f(i);
        for k in 0..K {
            acc[k][lane] += v[k];
        }
    }
    acc.map(pairwise)
}

/// Sums lanes pairwise.
#[inline(always)]
pub(crate) fn pairwise<T: Float, const L: usize>(mut acc: [T; L]) -> T {
    let mut width = L;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// `a * b + c`, fused when `FMA` (set only in code compiled for CPUs with
/// fused multiply-add, where it is one instruction).
#[inline(always)]
pub(crate) fn madd<T: Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// The sum `a + b` as `(hi, lo)` with `hi + lo == a + b` exactly when
/// `|a| >= |b|` (Dekker's Fast2Sum); otherwise `lo` is off by at most about
/// `eps^2 * |b|`. Used where `a` is a rough mean and `b` its small correction.
#[inline(always)]
pub(crate) fn fast_two_sum<T: Float>(a: T, b: T) -> (T, T) {
    let hi = a + b;
    (hi, b - (hi - a))
}

#[cfg(test)]
mod tests {
    use super::sums;

    #[test]
    fn sums_every_index_once_for_all_tail_lengths() {
        for n in 0..100usize {
            let [s, sq] = sums::<_, 2, true>(n, |i| [i as f64, (i * i) as f64]);
            let expected: usize = (0..n).sum();
            let expected_sq: usize = (0..n).map(|i| i * i).sum();
            assert_eq!(s, expected as f64, "n = {n}");
            assert_eq!(sq, expected_sq as f64, "n = {n}");
            let [s] = sums::<_, 1, false>(n, |i| [i as f64]);
            assert_eq!(s, expected as f64, "n = {n}");
        }
    }

    #[test]
    fn fast_two_sum_is_exact_for_a_correction() {
        for (a, b) in [
            (1.0e4_f32, 1.0e-4),
            (0.0, -3.5e-9),
            (-2.5, 1.0e-7),
            (1.0, -1.0),
        ] {
            let (hi, lo) = super::fast_two_sum(a, b);
            assert_eq!(f64::from(hi) + f64::from(lo), f64::from(a) + f64::from(b));
        }
    }
}
