//! The forward pass of convolutions with few output positions per example
//! (at most [`MAX_POSITIONS`]: Silero VAD's 4-frame STFT and encoder, a
//! classifier's last maps), where the other paths vectorize over positions
//! and would leave most of the 16 lanes of their micro-kernel empty. Here
//! each output position's input window (its im2col column, zeros for the
//! padding) is gathered once, and every output channel is one eight-lane
//! dot product of its weight row with it: the lanes run along the taps, and
//! eight output channels run at once. Each dot product is
//! [`dot_slices`]'s arithmetic, in its order.
//!
//! Per position: `C_out x K` multiply-adds (`K = C_in / groups x taps`)
//! from a `K`-value window on the stack (at most [`MAX_K`] values: 16 KiB of
//! `f32`). Dense convolutions (`groups = 1`) only; each example is computed
//! alone, so it gets the same bits in any batch.

use super::Conv;
use crate::Float;
use crate::kernels::matvec::dot_slices;
use crate::kernels::reduce::madd;

/// Output channels whose dot products run together: eight independent
/// accumulator chains, enough to keep both FMA pipes busy (one chain alone
/// waits on the FMA latency and reaches a quarter of the peak).
const ROWS: usize = 8;

/// The most output positions per example this path takes.
pub(super) const MAX_POSITIONS: usize = 8;
/// The longest window (input channels x taps) it gathers.
pub(super) const MAX_K: usize = 4096;

/// Whether this path computes `conv`'s forward pass.
pub(super) fn takes(conv: &Conv) -> bool {
    conv.groups == 1 && conv.out_plane() <= MAX_POSITIONS && conv.k_per_group() <= MAX_K
}

/// The input value of channel `ci` under tap `(kh, kw)` of output `(oh,
/// ow)`, or 0 in the padding.
#[inline(always)]
fn tap<T: Float>(
    conv: &Conv,
    x: &[T],
    ci: usize,
    (oh, ow): (usize, usize),
    (kh, kw): (usize, usize),
) -> T {
    let at = |axis: &super::Axis, o: usize, k: usize| {
        (o * axis.stride + k * axis.dilation)
            .checked_sub(axis.pad)
            .filter(|&i| i < axis.len)
    };
    match (at(&conv.h, oh, kh), at(&conv.w, ow, kw)) {
        (Some(ih), Some(iw)) => x[ci * conv.in_plane() + ih * conv.w.len + iw],
        _ => T::ZERO,
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
    let taps = conv.h.kernel * conv.w.kernel;
    let positions = conv.out_plane();
    let mut window = [T::ZERO; MAX_K];
    let window = &mut window[..k];
    for (x, y) in x
        .chunks_exact(conv.x_row())
        .zip(y.chunks_exact_mut(conv.y_row()))
    {
        for p in 0..positions {
            let out = (p / conv.w.out, p % conv.w.out);
            for (i, v) in window.iter_mut().enumerate() {
                let (ci, t) = (i / taps, i % taps);
                *v = tap(conv, x, ci, out, (t / conv.w.kernel, t % conv.w.kernel));
            }
            let blocks = weight.chunks_exact(ROWS * k);
            let rest = blocks.remainder();
            for (block, w) in blocks.enumerate() {
                let sums = dot_rows::<T, FMA>(w, window);
                for (r, sum) in sums.into_iter().enumerate() {
                    let o = block * ROWS + r;
                    let b = if let Some(b) = bias { b[o] } else { T::ZERO };
                    y[o * positions + p] = b + sum;
                }
            }
            let first = conv.c_out - rest.len() / k;
            for (o, w) in (first..).zip(rest.chunks_exact(k)) {
                let b = if let Some(b) = bias { b[o] } else { T::ZERO };
                y[o * positions + p] = b + dot_slices::<T, FMA>(w, window);
            }
        }
    }
}

/// The dot products of [`ROWS`] consecutive weight rows (each `x.len()`
/// long) with `x`, each as [`dot_slices`] computes it.
#[inline(always)]
fn dot_rows<T: Float, const FMA: bool>(w: &[T], x: &[T]) -> [T; ROWS] {
    let k = x.len();
    let mut acc = [[T::ZERO; 8]; ROWS];
    let (chunks, tail) = x.as_chunks::<8>();
    for (c, xc) in chunks.iter().enumerate() {
        // One load of the window's chunk for the eight rows.
        let xv: [T; 8] = *xc;
        for (r, acc) in acc.iter_mut().enumerate() {
            let at = r * k + c * 8;
            let wc = &w[at..at + 8];
            for l in 0..8 {
                acc[l] = madd::<T, FMA>(xv[l], wc[l], acc[l]);
            }
        }
    }
    let mut sums = [T::ZERO; ROWS];
    for (r, (sum, acc)) in sums.iter_mut().zip(&acc).enumerate() {
        let mut s =
            ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        let row = &w[r * k + chunks.len() * 8..(r + 1) * k];
        for (x, w) in tail.iter().zip(row) {
            s = madd::<T, FMA>(*x, *w, s);
        }
        *sum = s;
    }
    sums
}
