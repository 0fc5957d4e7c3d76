//! Depthwise convolutions (one input channel per output channel, a channel
//! multiplier under 4) with eight output channels in the lanes of a vector:
//! the forward pass of strided and short-row layers, and the backward pass
//! (see [`backward`]).
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
        let mut block = [[T::ZERO; LANES]; LANES];
        for (b, plane) in block.iter_mut().zip(planes) {
            b.copy_from_slice(&plane[q..q + LANES]);
        }
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

/// Where tap `t` reads, in padded positions from an output position's
/// first tap (`wp` padded columns a row).
fn tap_offsets(conv: &Conv, wp: usize) -> [usize; MAX_TAPS] {
    let (h, w) = (conv.h, conv.w);
    core::array::from_fn(|t| {
        let (kh, kw) = (t / w.kernel, t % w.kernel);
        kh * h.dilation * wp + kw * w.dilation
    })
}

/// The block of output channels from `block`: how many are real (`n`),
/// the channel of each lane (the spare lanes of a last, partial block
/// repeat its last channel), and each tap's weights of those channels,
/// written into `weights`.
#[inline(always)]
fn block_of<T: Float>(
    conv: &Conv,
    weight: &[T],
    block: usize,
    weights: &mut [[T; LANES]; MAX_TAPS],
) -> (usize, [usize; LANES]) {
    let taps = conv.h.kernel * conv.w.kernel;
    let n = (conv.c_out - block).min(LANES);
    let channel: [usize; LANES] = core::array::from_fn(|l| block + l.min(n - 1));
    for (t, wt) in weights[..taps].iter_mut().enumerate() {
        for (w, c) in wt.iter_mut().zip(&channel) {
            *w = weight[c * taps + t];
        }
    }
    (n, channel)
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
    let offsets = tap_offsets(conv, wp);
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
            let (n, channel) = block_of(conv, weight, block, &mut weights);
            let planes: [&[T]; LANES] =
                core::array::from_fn(|l| &x[channel[l] / m_n * in_plane..][..in_plane]);
            interleave::<T, FMA>(conv, &planes, buf, wp);
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

/// Whether this path takes the backward pass: as [`takes`], but with one
/// output channel per input channel (a multiplier would sum several lanes
/// into one input gradient) and whatever the rows' length. The stencils'
/// backward pass does a dot product (with its horizontal sum) and a
/// scattered multiply-add per tap, channel and example, which on small
/// maps cost more than the products. Measured forward and backward at
/// batch 32 (`benches/mlperf_tiny.rs`, stencils -> lanes): KWS's 25x5
/// layer 1.43 -> 0.81 ms, VWW's on 24x24, 12x12, 6x6 and 3x3 planes 1.86
/// -> 1.55, 1.17 -> 0.85, 0.91 -> 0.50 and 1.18 -> 0.38 ms, strided on
/// 24x24, 12x12, 6x6 1.15 -> 0.78, 0.84 -> 0.41, 0.85 -> 0.26 ms. Planes
/// too large for the buffer (VWW's 48x48) stay on the stencils.
pub(super) fn takes_backward(conv: &Conv) -> bool {
    let taps = conv.h.kernel * conv.w.kernel;
    let padded = reads(conv.h).0 * reads(conv.w).0;
    conv.c_in_per_group == 1
        && conv.m_per_group() == 1
        && conv.c_out >= LANES
        && taps <= MAX_TAPS
        && padded * LANES <= BUF
}

/// The output gradients of the eight lanes' planes side by side: `out[p]
/// [l] = planes[l][p]`, eight positions transposed at a time.
#[inline(always)]
fn gather<T: Float, const FMA: bool>(planes: &[&[T]; LANES], out: &mut [[T; LANES]]) {
    let len = out.len();
    let mut q = 0;
    while q + LANES <= len {
        let mut block = [[T::ZERO; LANES]; LANES];
        for (b, plane) in block.iter_mut().zip(planes) {
            b.copy_from_slice(&plane[q..q + LANES]);
        }
        out[q..q + LANES].copy_from_slice(&transpose::<T, FMA>(&block));
        q += LANES;
    }
    for (p, out) in out.iter_mut().enumerate().skip(q) {
        *out = core::array::from_fn(|l| planes[l][p]);
    }
}

/// The inverse of [`interleave`] for the input gradient: writes the first
/// `n` lanes' planes of `dx` from `buf` (`dx[l * in_plane + (ih, iw)] =
/// buf[padded (ih, iw)][l]`), with zero for the inputs no output reads.
#[inline(always)]
fn deinterleave<T: Float, const FMA: bool>(
    conv: &Conv,
    buf: &[[T; LANES]],
    wp: usize,
    dx: &mut [T],
    n: usize,
) {
    let (rows, cols) = (reads(conv.h).1, reads(conv.w).1);
    let (w, plane) = (conv.w.len, conv.in_plane());
    let at = |ih: usize, iw: usize| (ih + conv.h.pad) * wp + conv.w.pad + iw;
    let (mut ih, mut iw) = (0, 0);
    let mut next = || {
        let v = if ih < rows && iw < cols {
            buf[at(ih, iw)]
        } else {
            [T::ZERO; LANES]
        };
        iw += 1;
        if iw == w {
            (ih, iw) = (ih + 1, 0);
        }
        v
    };
    let mut q = 0;
    while q + LANES <= plane {
        let mut block = [[T::ZERO; LANES]; LANES];
        for b in &mut block {
            *b = next();
        }
        for (l, out) in transpose::<T, FMA>(&block)[..n].iter().enumerate() {
            super::copy_run(&mut dx[l * plane + q..][..LANES], out);
        }
        q += LANES;
    }
    for q in q..plane {
        let v = next();
        for (l, v) in v[..n].iter().enumerate() {
            dx[l * plane + q] = *v;
        }
    }
}

/// `dw[g] += Σ_p dy[p] * x[from[p] + offsets[g]]` for `G` taps at once,
/// positions in order, the `G` sums held in registers across the positions
/// (one vector each, eight channels). Returns `G`.
#[inline(always)]
fn weight_taps<T: Float, const G: usize, const FMA: bool>(
    dy: &[[T; LANES]],
    from: &[usize],
    x: &[[T; LANES]],
    offsets: &[usize],
    dw: &mut [[T; LANES]],
) -> usize {
    let offsets: &[usize; G] = offsets[..G].try_into().unwrap();
    let dw: &mut [[T; LANES]; G] = (&mut dw[..G]).try_into().unwrap();
    let mut acc = *dw;
    for (d, from) in dy.iter().zip(from) {
        for (acc, off) in acc.iter_mut().zip(offsets) {
            let x = &x[from + off];
            for l in 0..LANES {
                acc[l] = madd::<T, FMA>(d[l], x[l], acc[l]);
            }
        }
    }
    *dw = acc;
    G
}

/// The backward pass over a batch: writes `dx`, adds to `dweight` and
/// `dbias`.
///
/// Per block of eight channels and example, the input planes interleaved
/// as in [`forward`] and the output gradients side by side:
///
/// - weight gradient: for up to eight taps at a time, one vector sum per
///   tap held in registers over the output positions in order (`dy * x`,
///   eight channels at once), kept across the batch and added to
///   `dweight` at the end;
/// - input gradient, into a padded buffer then transposed back into the
///   planes: for stride 1, each padded position gathers `w * dy` over the
///   taps in order from a copy of the output gradients laid out like the
///   padded plane, zero between rows and before the first; strided layers
///   scatter `w * dy` tap by tap. Either way each value sums the taps in
///   order from zero, as the stencils do, so it has their bits.
///
/// The weight and bias gradients sum positions, then examples (the
/// stencils sum each example's positions apart), so their bits may differ.
#[inline(always)]
pub(super) fn backward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    mut dbias: Option<&mut [T]>,
) {
    let (h, w) = (conv.h, conv.w);
    let wp = reads(w).0;
    let padded = reads(h).0 * wp;
    let taps = h.kernel * w.kernel;
    let (in_plane, out_plane) = (conv.in_plane(), conv.out_plane());
    let offsets = tap_offsets(conv, wp);
    // Where each output position's first tap reads.
    let mut from = [0; BUF / LANES];
    let from = &mut from[..out_plane];
    for (p, from) in from.iter_mut().enumerate() {
        *from = p / w.out * h.stride * wp + p % w.out * w.stride;
    }
    let gathers = h.stride == 1 && w.stride == 1;
    // For the gather: the output gradients at their first tap's padded
    // position plus `last`, the farthest tap's offset, so padded position
    // `i` reads tap `t`'s term at `i + last - offsets[t]`.
    let last = offsets[taps - 1];
    let mut xbuf = [T::ZERO; BUF];
    let (xbuf, _) = xbuf.as_chunks_mut::<LANES>();
    let mut dxbuf = [T::ZERO; BUF];
    let dxbuf = &mut dxbuf.as_chunks_mut::<LANES>().0[..padded];
    let mut dybuf = [T::ZERO; BUF];
    let dybuf = &mut dybuf.as_chunks_mut::<LANES>().0[..out_plane];
    let mut dywide = [T::ZERO; 2 * BUF + LANES * LANES];
    let dywide = &mut dywide.as_chunks_mut::<LANES>().0[..last + padded + LANES];
    let mut weights = [[T::ZERO; LANES]; MAX_TAPS];
    let rows = x
        .chunks_exact(conv.x_row())
        .zip(dy.chunks_exact(conv.y_row()));
    for block in (0..conv.c_out).step_by(LANES) {
        let (n, channel) = block_of(conv, weight, block, &mut weights);
        let mut dw = [[T::ZERO; LANES]; MAX_TAPS];
        let mut db = [T::ZERO; LANES];
        for ((x, dy), dx) in rows.clone().zip(dx.chunks_exact_mut(conv.x_row())) {
            let planes: [&[T]; LANES] =
                core::array::from_fn(|l| &x[channel[l] * in_plane..][..in_plane]);
            interleave::<T, FMA>(conv, &planes, xbuf, wp);
            let planes: [&[T]; LANES] =
                core::array::from_fn(|l| &dy[channel[l] * out_plane..][..out_plane]);
            gather::<T, FMA>(&planes, dybuf);
            for d in dybuf.iter() {
                for l in 0..LANES {
                    db[l] += d[l];
                }
            }
            let mut t = 0;
            while t < taps {
                let (offsets, dw) = (&offsets[t..taps], &mut dw[t..taps]);
                t += match taps - t {
                    8.. => weight_taps::<T, 8, FMA>(dybuf, from, xbuf, offsets, dw),
                    4..=7 => weight_taps::<T, 4, FMA>(dybuf, from, xbuf, offsets, dw),
                    2 | 3 => weight_taps::<T, 2, FMA>(dybuf, from, xbuf, offsets, dw),
                    _ => weight_taps::<T, 1, FMA>(dybuf, from, xbuf, offsets, dw),
                };
            }
            if gathers {
                for (d, from) in dybuf.iter().zip(&*from) {
                    dywide[last + from] = *d;
                }
                // Eight positions at a time: eight independent sums in
                // flight (one position's taps are a chain of dependent
                // multiply-adds). The last block reads up to seven
                // positions past the plane, zero, and drops them.
                for (c, dx) in dxbuf.chunks_mut(LANES).enumerate() {
                    let i = c * LANES;
                    let mut acc = [[T::ZERO; LANES]; LANES];
                    for (wt, off) in weights[..taps].iter().zip(&offsets) {
                        let d = &dywide[i + last - off..][..LANES];
                        for (acc, d) in acc.iter_mut().zip(d) {
                            for l in 0..LANES {
                                acc[l] = madd::<T, FMA>(wt[l], d[l], acc[l]);
                            }
                        }
                    }
                    dx.copy_from_slice(&acc[..dx.len()]);
                }
            } else {
                dxbuf.fill([T::ZERO; LANES]);
                for (wt, off) in weights[..taps].iter().zip(&offsets) {
                    for (d, from) in dybuf.iter().zip(&*from) {
                        let dx = &mut dxbuf[from + off];
                        for l in 0..LANES {
                            dx[l] = madd::<T, FMA>(wt[l], d[l], dx[l]);
                        }
                    }
                }
            }
            deinterleave::<T, FMA>(conv, dxbuf, wp, &mut dx[block * in_plane..], n);
        }
        for l in 0..n {
            let c = block + l;
            for (t, dw) in dw[..taps].iter().enumerate() {
                dweight[c * taps + t] += dw[l];
            }
            if let Some(dbias) = dbias.as_deref_mut() {
                dbias[c] += db[l];
            }
        }
    }
}
