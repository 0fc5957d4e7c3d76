//! The forward pass of depthwise convolutions (one input channel per output
//! channel, a channel multiplier under 4) with eight output channels in the
//! lanes of a vector.
//!
//! The stencils ([`stencil`](super::stencil)) run one channel at a time
//! along its plane, which on the small maps of keyword spotting and
//! MobileNets (25x5, 6x6, 3x3) costs more in copying rows in and out of
//! the padded line than in multiply-adds: 24% of KWS's depthwise layer went
//! to the padded copy and as much again to copying 5-value rows out (perf).
//! Here eight channels' planes are interleaved once into a zero-padded
//! buffer of `[rows][columns][8]` (eight positions transposed at a time,
//! whatever the rows' length), and every output position of the eight
//! channels is one vector: the bias, then each tap one multiply-add of the
//! tap's eight weights and the eight inputs it reads. Eight positions are
//! computed together and transposed back into the eight output planes, so
//! nothing is copied row by row and the plane's shape no longer matters.
//!
//! Per output value: the bias (or zero), then the taps in order (kernel row,
//! kernel column), fused with `FMA`, as the stencils' one-line layout and
//! the im2col path sum them (a tap on padding adds an exact zero product).
//! The last block of a layer whose channels are not a multiple of eight
//! repeats its last channel in the spare lanes and discards them.

use super::{Conv, reads};
use crate::Float;
use crate::kernels::reduce::madd;

/// Channels per vector.
const LANES: usize = 8;

/// Values of the interleaved buffer (32 KiB of `f32`): padded positions
/// times [`LANES`]. Larger planes take the stencils.
const BUF: usize = 8192;

/// Kernel taps of the largest kernel this path takes.
const MAX_TAPS: usize = 64;

/// Whether this path takes the forward pass: one input channel per group,
/// fewer than four output channels per group, at least one full block of
/// channels, a kernel of at most [`MAX_TAPS`] taps, a padded plane that
/// fits the buffer, and output rows short enough that the stencils lose:
/// under 8 outputs, or under 16 for a strided layer. Measured on
/// MobileNetV1's and KWS's depthwise layers (`benches/mlperf_tiny.rs`,
/// eval at batch 1, before -> after): stride 2 on 24x24, 12x12 and 6x6
/// planes 11.1 -> 9.0, 10.8 -> 4.7 and 12.5 -> 3.7 us; stride 1 on 25x5,
/// 6x6 and 3x3 11.8 -> 10.1, 8.3 -> 5.8 and 10.4 -> 5.1 us; but stride 1
/// on 24x24 and 12x12, whose rows fill the stencils' vectors, 12.7 -> 23.2
/// and 8.7 -> 11.3 us, and the PP-OCR classifier's stride-(2, 1) layers
/// with rows of 96 outputs made it 7% slower (`benches/real_models.rs`,
/// six images one at a time, 4.69 -> 5.01 ms), so those stay there.
pub(super) fn takes(conv: &Conv) -> bool {
    let taps = conv.h.kernel * conv.w.kernel;
    let padded = reads(conv.h).0 * reads(conv.w).0;
    let strided = conv.h.stride > 1 || conv.w.stride > 1;
    conv.c_in_per_group == 1
        && conv.m_per_group() < 4
        && conv.c_out >= LANES
        && taps <= MAX_TAPS
        && padded * LANES <= BUF
        && (conv.w.out < LANES || strided && conv.w.out < 2 * LANES)
}

/// `src` transposed: `[j][l] = src[l][j]`, by AVX2 shuffles in the code
/// compiled for it ([`Float::transpose8_avx2`]).
#[inline(always)]
fn transpose<T: Float, const FMA: bool>(src: &[[T; LANES]; LANES]) -> [[T; LANES]; LANES] {
    if FMA {
        // SAFETY: `FMA` is set only in the copy of the kernels compiled
        // for AVX2 and FMA, which the dispatch runs only on CPUs that have
        // both (`kernels::dispatch`); the unit tests that pass `FMA`
        // themselves run `f64`, whose transpose is the portable one.
        unsafe { T::transpose8_avx2(src) }
    } else {
        crate::kernels::simd::transpose8_portable(src)
    }
}

/// Interleaves the planes of the eight lanes into `buf` (`[padded position]
/// [lane]`, `wp` padded columns a row): input `(ih, iw)` goes to padded
/// position `(ih + pad_top, iw + pad_left)` when the outputs read it. The
/// planes are read eight flat positions at a time and transposed, so a
/// 5-column plane costs no more than a wide one.
#[inline(always)]
fn interleave<T: Float, const FMA: bool>(
    conv: &Conv,
    planes: &[&[T]; LANES],
    buf: &mut [[T; LANES]],
    wp: usize,
) {
    let (rows, cols) = (reads(conv.h).1, reads(conv.w).1);
    let w = conv.w.len;
    let used = rows * w;
    let at = |ih: usize, iw: usize| (ih + conv.h.pad) * wp + conv.w.pad + iw;
    let (mut ih, mut iw) = (0, 0);
    let mut q = 0;
    while q + LANES <= used {
        let block: [[T; LANES]; LANES] =
            core::array::from_fn(|l| core::array::from_fn(|j| planes[l][q + j]));
        for position in transpose::<T, FMA>(&block) {
            if iw < cols {
                buf[at(ih, iw)] = position;
            }
            iw += 1;
            if iw == w {
                (ih, iw) = (ih + 1, 0);
            }
        }
        q += LANES;
    }
    for q in q..used {
        let (ih, iw) = (q / w, q % w);
        if iw < cols {
            buf[at(ih, iw)] = core::array::from_fn(|l| planes[l][q]);
        }
    }
}

/// The forward pass over a batch.
#[inline(always)]
pub(super) fn forward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    let (h, w) = (conv.h, conv.w);
    let wp = reads(w).0;
    let taps = h.kernel * w.kernel;
    let m_n = conv.m_per_group();
    let (in_plane, out_plane) = (conv.in_plane(), conv.out_plane());
    // Where tap t reads, in positions from the output's first tap.
    let offsets: [usize; MAX_TAPS] = core::array::from_fn(|t| {
        let (kh, kw) = (t / w.kernel, t % w.kernel);
        kh * h.dilation * wp + kw * w.dilation
    });
    // Where each output position's first tap reads.
    let origin = |oh: usize, ow: usize| oh * h.stride * wp + ow * w.stride;
    let mut buf = [T::ZERO; BUF];
    let (buf, _) = buf.as_chunks_mut::<LANES>();
    // Each tap's weights of the block's channels.
    let mut weights = [[T::ZERO; LANES]; MAX_TAPS];
    for (x, y) in x
        .chunks_exact(conv.x_row())
        .zip(y.chunks_exact_mut(conv.y_row()))
    {
        for block in (0..conv.c_out).step_by(LANES) {
            let n = (conv.c_out - block).min(LANES);
            let channel: [usize; LANES] = core::array::from_fn(|l| block + l.min(n - 1));
            let planes: [&[T]; LANES] =
                core::array::from_fn(|l| &x[channel[l] / m_n * in_plane..][..in_plane]);
            interleave::<T, FMA>(conv, &planes, buf, wp);
            for (t, wt) in weights[..taps].iter_mut().enumerate() {
                for (w, c) in wt.iter_mut().zip(&channel) {
                    *w = weight[c * taps + t];
                }
            }
            let start: [T; LANES] =
                core::array::from_fn(|l| bias.map_or(T::ZERO, |b| b[channel[l]]));
            let (mut oh, mut ow) = (0, 0);
            let mut p = 0;
            while p < out_plane {
                let k = (out_plane - p).min(LANES);
                // Positions past the plane's last read position 0 and are
                // discarded.
                let mut from = [0; LANES];
                for f in &mut from[..k] {
                    *f = origin(oh, ow);
                    ow += 1;
                    if ow == w.out {
                        (oh, ow) = (oh + 1, 0);
                    }
                }
                let mut acc = [start; LANES];
                for (wt, off) in weights[..taps].iter().zip(&offsets) {
                    for (acc, from) in acc.iter_mut().zip(&from) {
                        let x = &buf[from + off];
                        for l in 0..LANES {
                            acc[l] = madd::<T, FMA>(wt[l], x[l], acc[l]);
                        }
                    }
                }
                let out = transpose::<T, FMA>(&acc);
                for (l, out) in out[..n].iter().enumerate() {
                    super::copy_run(&mut y[(block + l) * out_plane + p..][..k], &out[..k]);
                }
                p += k;
            }
        }
    }
}
