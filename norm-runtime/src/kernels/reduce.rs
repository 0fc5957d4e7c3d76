//! Reductions split over independent lanes.
//!
//! A floating-point sum in a single accumulator is a dependency chain the
//! compiler may not reorder, so it neither vectorizes nor pipelines. Summing
//! into `LANES` independent partial sums and combining them pairwise does
//! both, and its rounding error grows more slowly than a running sum's.

use crate::Float;

/// Independent partial sums: two AVX-512 registers of `f32`, four of `f64`.
pub(crate) const LANES: usize = 32;

/// Sums `K` quantities `f(i)` over `i in 0..n`, `LANES` partial sums each
/// (one chain when `n` is smaller than that).
#[inline(always)]
pub(crate) fn sums<T: Float, const K: usize>(n: usize, f: impl Fn(usize) -> [T; K]) -> [T; K] {
    if n < LANES {
        let mut acc = [T::ZERO; K];
        for i in 0..n {
            for (a, v) in acc.iter_mut().zip(f(i)) {
                *a += v;
            }
        }
        return acc;
    }
    let mut acc = [[T::ZERO; LANES]; K];
    let full = n - n % LANES;
    let mut base = 0;
    while base < full {
        for lane in 0..LANES {
            let v = f(base + lane);
            for k in 0..K {
                acc[k][lane] += v[k];
            }
        }
        base += LANES;
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

/// The sum `a + b` as `(hi, lo)` with `hi + lo == a + b` exactly (Knuth's
/// TwoSum, valid for any magnitudes).
#[inline(always)]
pub(crate) fn two_sum<T: Float>(a: T, b: T) -> (T, T) {
    let hi = a + b;
    let b_part = hi - a;
    let a_part = hi - b_part;
    (hi, (a - a_part) + (b - b_part))
}

/// `a * b + c`, fused when `FMA` (set only in code compiled for CPUs with
/// fused multiply-add, where it is one instruction).
#[inline(always)]
pub(crate) fn madd<T: Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

#[cfg(test)]
mod tests {
    use super::{sums, two_sum};

    #[test]
    fn sums_every_index_once_for_all_tail_lengths() {
        for n in 0..100usize {
            let [s, sq] = sums(n, |i| [i as f64, (i * i) as f64]);
            let expected: usize = (0..n).sum();
            let expected_sq: usize = (0..n).map(|i| i * i).sum();
            assert_eq!(s, expected as f64, "n = {n}");
            assert_eq!(sq, expected_sq as f64, "n = {n}");
        }
    }

    #[test]
    fn two_sum_is_exact() {
        for (a, b) in [
            (1.0e4_f32, 1.0e-4),
            (1.0e-4, 1.0e4),
            (0.0, -3.5e-9),
            (1.0, -1.0),
        ] {
            let (hi, lo) = two_sum(a, b);
            assert_eq!(hi, a + b);
            assert_eq!(f64::from(hi) + f64::from(lo), f64::from(a) + f64::from(b));
        }
    }
}
