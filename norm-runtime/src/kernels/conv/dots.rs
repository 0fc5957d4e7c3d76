//! The forward pass of convolutions with few output positions per example
//! (at most eight: Silero VAD's 4-frame STFT and encoder, a classifier's
//! last maps), where the other paths vectorize over positions and would
//! leave most of the 16 lanes of their micro-kernel empty. Here each output
//! position's input window (its im2col column, zeros for the padding) is
//! gathered once, and every output value is an eight-lane dot product of a
//! weight row with a window, the lanes along the taps. Four positions and
//! two output channels run together (eight accumulator chains, each weight
//! chunk loaded once per four positions); leftover positions run with eight
//! channels. Each dot product is `matvec::dot_slices`' arithmetic, in its
//! order, so the blocking never changes a bit.
//!
//! Per example: `positions x C_out x K` multiply-adds (`K = C_in x taps`)
//! from the windows on the stack (at most 8192 values: 32 KiB of `f32`).
//! Dense convolutions (`groups = 1`) only; each example is computed alone,
//! so it gets the same bits in any batch.

use super::Conv;
use crate::Float;
use crate::kernels::reduce::madd;

/// The most output positions per example this path takes.
pub(super) const MAX_POSITIONS: usize = 8;
/// The most values of all of an example's windows (positions x window):
/// 32 KiB of `f32` on the stack.
const BUFFER: usize = 8192;

/// Whether this path computes `conv`'s forward pass.
pub(super) fn takes(conv: &Conv) -> bool {
    conv.groups == 1
        && conv.out_plane() <= MAX_POSITIONS
        && conv.out_plane() * conv.k_per_group() <= BUFFER
}

/// Output positions whose dot products run together, and the output
/// channels run with them: `POSITIONS x ROWS_WITH` = 8 accumulator chains
/// from one load of each weight chunk per four positions.
const POSITIONS: usize = 4;
/// Output channels with each block of [`POSITIONS`].
const ROWS_WITH: usize = 2;

/// Writes the window of output `(oh, ow)` (input channel-major, then the
/// kernel's rows and columns, as the weights are laid out; 0 in the
/// padding) into `window`, with additions only.
#[inline(always)]
fn gather<T: Float>(conv: &Conv, x: &[T], (oh, ow): (usize, usize), window: &mut [T]) {
    let (h, w) = (&conv.h, &conv.w);
    let mut out = window.iter_mut();
    for plane in x.chunks_exact(conv.in_plane()).take(conv.c_in_per_group) {
        let mut ih = oh * h.stride;
        for _ in 0..h.kernel {
            let row = ih
                .checked_sub(h.pad)
                .filter(|&r| r < h.len)
                .map(|r| &plane[r * w.len..(r + 1) * w.len]);
            let mut iw = ow * w.stride;
            for _ in 0..w.kernel {
                let value = match (row, iw.checked_sub(w.pad)) {
                    (Some(row), Some(c)) if c < w.len => row[c],
                    _ => T::ZERO,
                };
                if let Some(o) = out.next() {
                    *o = value;
                }
                iw += w.dilation;
            }
            ih += h.dilation;
        }
    }
}

/// `y = conv(x) + bias` for a flat batch.
#[inline(always)]
pub(super) fn forward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    let k = conv.k_per_group();
    let positions = conv.out_plane();
    let mut buffer = [T::ZERO; BUFFER];
    let windows = &mut buffer[..positions * k];
    for (x, y) in x
        .chunks_exact(conv.x_row())
        .zip(y.chunks_exact_mut(conv.y_row()))
    {
        for (p, window) in windows.chunks_exact_mut(k).enumerate() {
            gather(conv, x, (p / conv.w.out, p % conv.w.out), window);
        }
        let mut p = 0;
        while p + POSITIONS <= positions {
            let block = &windows[p * k..(p + POSITIONS) * k];
            rows::<T, FMA, ROWS_WITH, POSITIONS>(conv, weight, bias, block, p, y);
            p += POSITIONS;
        }
        for p in p..positions {
            rows::<T, FMA, 8, 1>(conv, weight, bias, &windows[p * k..(p + 1) * k], p, y);
        }
    }
}

/// Every output channel at the `P` positions from `first` on, whose
/// windows are `windows`: blocks of `R` channels, then one at a time.
#[inline(always)]
fn rows<T: Float, const FMA: bool, const R: usize, const P: usize>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    windows: &[T],
    first: usize,
    y: &mut [T],
) {
    let k = conv.k_per_group();
    let positions = conv.out_plane();
    let blocks = weight.chunks_exact(R * k);
    let rest = blocks.remainder();
    for (block, w) in blocks.enumerate() {
        let sums = dots::<T, FMA, R, P>(w, windows, k);
        for (r, sums) in sums.iter().enumerate() {
            write(bias, block * R + r, sums, &mut y[first..], positions);
        }
    }
    let first_rest = conv.c_out - rest.len() / k;
    for (o, w) in (first_rest..).zip(rest.chunks_exact(k)) {
        let [sums] = dots::<T, FMA, 1, P>(w, windows, k);
        write(bias, o, &sums, &mut y[first..], positions);
    }
}

/// `y[o * positions + q] = bias[o] + sums[q]`.
#[inline(always)]
fn write<T: Float, const P: usize>(
    bias: Option<&[T]>,
    o: usize,
    sums: &[T; P],
    y: &mut [T],
    positions: usize,
) {
    let b = if let Some(b) = bias { b[o] } else { T::ZERO };
    for (q, sum) in sums.iter().enumerate() {
        y[o * positions + q] = b + *sum;
    }
}

/// The dot products of `R` consecutive weight rows (each `k` long) with `P`
/// consecutive windows (each `k` long), each as [`dot_slices`] computes it:
/// eight lanes along the taps, summed pairwise, then the tail in order.
#[inline(always)]
fn dots<T: Float, const FMA: bool, const R: usize, const P: usize>(
    w: &[T],
    windows: &[T],
    k: usize,
) -> [[T; P]; R] {
    let mut acc = [[[T::ZERO; 8]; P]; R];
    let chunks = k / 8;
    // Every operand cut to exactly `chunks` chunks first, so the loop
    // below indexes without bounds checks or reloaded pointers.
    let xs: [&[[T; 8]]; P] =
        core::array::from_fn(|q| &windows[q * k..][..chunks * 8].as_chunks::<8>().0[..chunks]);
    let ws: [&[[T; 8]]; R] =
        core::array::from_fn(|r| &w[r * k..][..chunks * 8].as_chunks::<8>().0[..chunks]);
    for c in 0..chunks {
        let xv: [[T; 8]; P] = core::array::from_fn(|q| xs[q][c]);
        for (acc, ws) in acc.iter_mut().zip(&ws) {
            let wc = ws[c];
            for (acc, xv) in acc.iter_mut().zip(&xv) {
                for l in 0..8 {
                    acc[l] = madd::<T, FMA>(xv[l], wc[l], acc[l]);
                }
            }
        }
    }
    let mut sums = [[T::ZERO; P]; R];
    for (r, (sums, acc)) in sums.iter_mut().zip(&acc).enumerate() {
        for (q, (sum, acc)) in sums.iter_mut().zip(acc).enumerate() {
            let mut s =
                ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            let tail = &windows[q * k + chunks * 8..(q + 1) * k];
            for (x, w) in tail.iter().zip(&w[r * k + chunks * 8..(r + 1) * k]) {
                s = madd::<T, FMA>(*x, *w, s);
            }
            *sum = s;
        }
    }
    sums
}
