//! Reductions split over independent lanes.
//!
//! A floating-point sum in a single accumulator is a dependency chain the
//! compiler may not reorder, so it neither vectorizes nor pipelines. Summing
//! into `LANES` independent partial sums and combining them pairwise does
//! both, and its rounding error grows more slowly than a running sum's.

use crate::Float;

const LANES: usize = 8;

/// Sums `K` quantities `f(i)` over `i in 0..n`.
#[inline(always)]
pub(crate) fn lane_sums<A: Float, const K: usize>(n: usize, f: impl Fn(usize) -> [A; K]) -> [A; K] {
    let mut acc = [[A::ZERO; K]; LANES];
    let full = n - n % LANES;
    let mut base = 0;
    while base < full {
        for (lane, partial) in acc.iter_mut().enumerate() {
            let v = f(base + lane);
            for (p, v) in partial.iter_mut().zip(v) {
                *p += v;
            }
        }
        base += LANES;
    }
    for (partial, i) in acc.iter_mut().zip(full..n) {
        let v = f(i);
        for (p, v) in partial.iter_mut().zip(v) {
            *p += v;
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        let (low, high) = acc.split_at_mut(width);
        for (l, h) in low.iter_mut().zip(high.iter()) {
            for (a, b) in l.iter_mut().zip(h) {
                *a += *b;
            }
        }
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::lane_sums;

    #[test]
    fn sums_every_index_once_for_all_tail_lengths() {
        for n in 0..40usize {
            let [s, sq] = lane_sums(n, |i| [i as f64, (i * i) as f64]);
            let expected: usize = (0..n).sum();
            let expected_sq: usize = (0..n).map(|i| i * i).sum();
            assert_eq!(s, expected as f64, "n = {n}");
            assert_eq!(sq, expected_sq as f64, "n = {n}");
        }
    }
}
