//! Convolutions whose output channels each read one input channel
//! (depthwise, with or without a channel multiplier) as per-channel
//! stencils over a zero-padded copy of the input plane.
//!
//! The plane is copied once per input channel into a stack buffer with its
//! padding, split into phase planes by row and column remainder modulo the
//! strides (one plane for stride 1), `width` values a line. Output `(oh,
//! ow)` then reads, for each tap, one phase plane at `oh * width + ow` plus
//! a fixed offset, so the whole output plane is one line of `OUT_H * width`
//! values, the last `width - OUT_W` of each row being discarded: every
//! kernel tap is one multiply-add over a long contiguous line that the
//! compiler vectorizes, even when the output is only a few columns wide
//! (KWS's 25x5, the 3x3 of a stride-2 layer). Maps whose kernel rows read
//! much padding (a 5x5 kernel on 2 or 3 rows) go row by row, skipping those
//! rows. The phases are worked out once per call, not per plane or line.
//!
//! Per output value: the bias (or zero), then the taps in order (kernel row,
//! kernel column), fused with `FMA`, as the im2col path and the direct
//! convolution sum them.

use super::{Axis, Conv, Phase};
use crate::Float;
use crate::kernels::matvec::dot_slices;
use crate::kernels::reduce::madd;

/// Values of each plane buffer (32 KiB of `f32`); larger planes take the
/// im2col path.
const PLANE: usize = 8192;

/// Kernel taps of the largest kernel the stencils take (8x8, or 64 along
/// one axis).
const MAX_TAPS: usize = 64;

/// The largest stride the stencils take along either axis (larger ones take
/// the im2col path): the phases along each axis are worked out once per
/// call, in arrays of this length.
const MAX_STRIDE: usize = 8;

/// The phases of an axis of which `used` input positions are copied
/// ([`phase`](super::phase) by phase), worked out once per call.
fn phases(axis: Axis, used: usize) -> [Option<Phase>; MAX_STRIDE] {
    core::array::from_fn(|q| super::phase(axis, q, used))
}

/// The layout of the padded plane and of the output lines.
///
/// The padded plane is split into `stride_h * stride_w` phase planes, phase
/// `(p, q)` holding the padded rows `r` with `r % stride_h == p` at `r /
/// stride_h` and the columns `c` with `c % stride_w == q` at `c /
/// stride_w`. Tap `(kh, kw)` then reads one phase plane at row `oh + kh *
/// DH / SH` and column `ow + kw * DW / SW` for output `(oh, ow)`: at "wide
/// position" `oh * width + ow` plus a fixed offset, whatever the strides, so
/// the whole output plane is one line of `OUT_H * width` values (the last
/// `width - OUT_W` of each row computed and discarded) over which every tap
/// is one multiply-add, vectorized even when the rows are a few values
/// long (KWS's 25x5, a stride-2 layer's 3x3). Maps whose kernel rows read
/// much padding go row by row instead, skipping those rows.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Values per line of a phase plane.
    width: usize,
    /// Values per phase plane.
    phase: usize,
    /// Input rows and columns copied (the others are never read).
    rows: usize,
    cols: usize,
    /// The row and column phases.
    row_phases: [Option<Phase>; MAX_STRIDE],
    col_phases: [Option<Phase>; MAX_STRIDE],
    /// Output lines, their length, and the offset between them.
    lines: usize,
    line_len: usize,
    line_step: usize,
    /// Values between output rows in the line buffer.
    out_row: usize,
    /// Padded-plane values in use (all phases).
    used: usize,
}

impl Plan {
    fn new(conv: &Conv) -> Self {
        let (h, w) = (conv.h, conv.w);
        let ((rows_read, rows), (cols_read, cols)) = (super::reads(h), super::reads(w));
        let width = cols_read.div_ceil(w.stride);
        // Rows of a phase plane: those copied, and those the taps read for
        // every output row plus one line for the discarded values' reads
        // past the last row.
        let reach = h.out + (h.kernel - 1) * h.dilation / h.stride + 1;
        let phase = rows_read.div_ceil(h.stride).max(reach) * width;
        let (lines, line_len, out_row) = if rows_worth_skipping(conv) {
            (h.out, w.out, w.out)
        } else {
            (1, h.out * width, width)
        };
        Self {
            width,
            phase,
            rows,
            cols,
            row_phases: phases(h, rows),
            col_phases: phases(w, cols),
            lines,
            line_len,
            line_step: width,
            out_row,
            used: h.stride * w.stride * phase,
        }
    }

    /// Values of the output line buffer in use.
    fn out_len(&self) -> usize {
        self.lines * self.line_len
    }

    /// Where padded value `(r, c)` is.
    #[inline(always)]
    fn at(&self, conv: &Conv, r: usize, c: usize) -> usize {
        let (sh, sw) = (conv.h.stride, conv.w.stride);
        (r % sh * sw + c % sw) * self.phase + r / sh * self.width + c / sw
    }

    /// Where tap `(kh, kw)` reads for the first output.
    fn tap(&self, conv: &Conv, kh: usize, kw: usize) -> usize {
        self.at(conv, kh * conv.h.dilation, kw * conv.w.dilation)
    }

    /// [`tap`](Self::tap) of every tap, in order.
    fn offsets(&self, conv: &Conv) -> [usize; MAX_TAPS] {
        core::array::from_fn(|t| {
            let (kh, kw) = (t / conv.w.kernel, t % conv.w.kernel);
            if kh < conv.h.kernel {
                self.tap(conv, kh, kw)
            } else {
                0
            }
        })
    }

    /// For every pair of row and column phases: the phase plane's first
    /// value, the input rows (`first`, `first + stride_h`, ...) and columns.
    fn each_phase(&self, conv: &Conv, mut f: impl FnMut(usize, Phase, Phase)) {
        let rows = self
            .row_phases
            .iter()
            .enumerate()
            .filter_map(|(p, r)| Some((p, (*r)?)));
        for (p, r) in rows {
            let cols = self
                .col_phases
                .iter()
                .enumerate()
                .filter_map(|(q, c)| Some((q, (*c)?)));
            for (q, c) in cols {
                let start = (p * conv.w.stride + q) * self.phase + r.to * self.width + c.to;
                f(start, r, c);
            }
        }
    }
}

/// The kernel rows `lo..hi` that read inside the input for output row `oh`
/// (the others read only padding, whose products are zeros).
#[inline(always)]
fn kernel_rows(conv: &Conv, oh: usize) -> (usize, usize) {
    let h = &conv.h;
    let first = oh * h.stride;
    // Row kh reads padded row first + kh * dilation, inside when in
    // pad..pad + len.
    let lo = h.pad.saturating_sub(first).div_ceil(h.dilation);
    let hi = (h.pad + h.len)
        .saturating_sub(first)
        .div_ceil(h.dilation)
        .min(h.kernel);
    (lo.min(hi), hi)
}

/// Whether a convolution is better taken row by row, skipping
/// the kernel rows that read only padding: when those are at least a
/// quarter of the taps (short maps: a 5x5 kernel on 2 or 3 rows reads
/// padding with 60% or 40% of its taps) and rows are long enough to fill
/// the registers on their own.
pub(super) fn rows_worth_skipping(conv: &Conv) -> bool {
    let h = &conv.h;
    let used: usize = (0..h.out)
        .map(|oh| kernel_rows(conv, oh))
        .map(|(lo, hi)| hi - lo)
        .sum();
    conv.w.out >= 16 && 4 * used <= 3 * h.out * h.kernel
}

/// Whether the stencils take this convolution: one input channel per group,
/// fewer than four output channels per group (more are a matrix product
/// worth packing), and planes that fit the buffers.
pub(super) fn takes(conv: &Conv) -> bool {
    if conv.c_in_per_group != 1 || conv.m_per_group() >= 4 {
        return false;
    }
    if conv.h.kernel * conv.w.kernel > MAX_TAPS
        || conv.h.stride > MAX_STRIDE
        || conv.w.stride > MAX_STRIDE
    {
        return false;
    }
    let plan = Plan::new(conv);
    // Room for the last eight outputs' reads past the plane.
    plan.used + 8 <= PLANE && plan.out_len() <= PLANE
}

/// Copies input plane `x` (`H x W`) into the padded phase planes.
fn pad_plane<T: Float>(conv: &Conv, plan: &Plan, x: &[T], xp: &mut [T]) {
    let (sh, sw) = (conv.h.stride, conv.w.stride);
    let w = conv.w.len;
    if sh == 1 && sw == 1 {
        // One phase: the plane itself.
        let start = plan.at(conv, conv.h.pad, conv.w.pad);
        let lines = x.chunks_exact(w).take(plan.rows);
        for (line, dst) in lines.zip(xp[start..].chunks_mut(plan.width)) {
            super::copy_run(&mut dst[..plan.cols], &line[..plan.cols]);
        }
        return;
    }
    plan.each_phase(conv, |start, rows, cols| {
        for r in 0..rows.count {
            let line = &x[(rows.first + r * sh) * w..][cols.first..w];
            let dst = &mut xp[start + r * plan.width..][..cols.count];
            super::copy_every(dst, line, sw);
        }
    });
}

/// The input gradient of one plane from the padded phase planes `dxp`.
fn unpad_plane<T: Float>(conv: &Conv, plan: &Plan, dxp: &[T], dx: &mut [T]) {
    let (sh, sw) = (conv.h.stride, conv.w.stride);
    let w = conv.w.len;
    plan.each_phase(conv, |start, rows, cols| {
        for r in 0..rows.count {
            let line = &mut dx[(rows.first + r * sh) * w..][..w];
            let src = &dxp[start + r * plan.width..][..cols.count];
            if sw == 1 {
                super::copy_run(&mut line[cols.first..][..cols.count], src);
            } else {
                for (j, v) in src.iter().enumerate() {
                    line[cols.first + j * sw] = *v;
                }
            }
        }
    });
    // Inputs no output reads get no gradient.
    for (ih, line) in dx.chunks_exact_mut(conv.w.len).enumerate() {
        let unread = if ih < plan.rows { plan.cols } else { 0 };
        if unread < line.len() {
            line[unread..].fill(T::ZERO);
        }
    }
}

/// Outputs computed together in registers: four 8-lane `f32` vectors.
const CHUNK: usize = 32;

/// `out[i] = start + Σ_t weight[t] * xp[offsets[t] + i]`, the taps in
/// order, [`CHUNK`] outputs at a time held in registers across the taps.
#[inline(always)]
fn stencil_line<T: Float, const FMA: bool>(
    start: T,
    weight: &[T],
    offsets: &[usize],
    xp: &[T],
    out: &mut [T],
) {
    let (chunks, tail) = out.as_chunks_mut::<CHUNK>();
    for (c, out) in chunks.iter_mut().enumerate() {
        let mut acc = [start; CHUNK];
        for (w, at) in weight.iter().zip(offsets) {
            let x = &xp[at + c * CHUNK..][..CHUNK];
            for k in 0..CHUNK {
                acc[k] = madd::<T, FMA>(*w, x[k], acc[k]);
            }
        }
        *out = acc;
    }
    // The rest eight at a time, reading past the line (the buffers leave
    // room for it) and keeping the values inside.
    for (c, out) in tail.chunks_mut(8).enumerate() {
        let from = chunks.len() * CHUNK + c * 8;
        let mut acc = [start; 8];
        for (w, at) in weight.iter().zip(offsets) {
            let x = &xp[at + from..][..8];
            for k in 0..8 {
                acc[k] = madd::<T, FMA>(*w, x[k], acc[k]);
            }
        }
        out.copy_from_slice(&acc[..out.len()]);
    }
}

/// `dxp[i] += w * line[i]`.
#[inline(always)]
fn scatter<T: Float, const FMA: bool>(w: T, line: &[T], dxp: &mut [T]) {
    let dxp = &mut dxp[..line.len()];
    for (d, v) in dxp.iter_mut().zip(line) {
        *d = madd::<T, FMA>(w, *v, *d);
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
    let plan = Plan::new(conv);
    let (m_n, taps) = (conv.m_per_group(), conv.h.kernel * conv.w.kernel);
    let (in_plane, out_plane) = (conv.in_plane(), conv.out_plane());
    let offsets = plan.offsets(conv);
    let mut xp = [T::ZERO; PLANE];
    let mut line = [T::ZERO; PLANE];
    let line = &mut line[..plan.out_len()];
    for (x, y) in x
        .chunks_exact(conv.x_row())
        .zip(y.chunks_exact_mut(conv.y_row()))
    {
        for (o, y) in y.chunks_exact_mut(out_plane).enumerate() {
            if o % m_n == 0 {
                pad_plane(conv, &plan, &x[o / m_n * in_plane..][..in_plane], &mut xp);
            }
            let start = bias.map_or(T::ZERO, |b| b[o]);
            let weight = &weight[o * taps..][..taps];
            for (l, out) in line.chunks_exact_mut(plan.line_len).enumerate() {
                // Row by row, only the kernel rows that read the input:
                // the others add exact zeros.
                let (lo, hi) = if plan.lines == conv.h.out {
                    let (lo, hi) = kernel_rows(conv, l);
                    (lo * conv.w.kernel, hi * conv.w.kernel)
                } else {
                    (0, taps)
                };
                stencil_line::<T, FMA>(
                    start,
                    &weight[lo..hi],
                    &offsets[lo..hi],
                    &xp[l * plan.line_step..],
                    out,
                );
            }
            for (oh, y) in y.chunks_exact_mut(conv.w.out).enumerate() {
                super::copy_run(y, &line[oh * plan.out_row..][..conv.w.out]);
            }
        }
    }
}

/// The backward pass over a batch: writes `dx`, adds to `dweight` and
/// `dbias`.
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
    let plan = Plan::new(conv);
    let offsets = plan.offsets(conv);
    let (m_n, taps) = (conv.m_per_group(), conv.h.kernel * conv.w.kernel);
    let (in_plane, out_plane) = (conv.in_plane(), conv.out_plane());
    let mut xp = [T::ZERO; PLANE];
    let mut dxp = [T::ZERO; PLANE];
    let mut dline = [T::ZERO; PLANE];
    let dline = &mut dline[..plan.out_len()];
    let rows = dy
        .chunks_exact(conv.y_row())
        .zip(x.chunks_exact(conv.x_row()));
    for ((dy, x), dx) in rows.zip(dx.chunks_exact_mut(conv.x_row())) {
        for (c, dx) in dx.chunks_exact_mut(in_plane).enumerate() {
            pad_plane(conv, &plan, &x[c * in_plane..][..in_plane], &mut xp);
            dxp[..plan.used].fill(T::ZERO);
            for o in c * m_n..(c + 1) * m_n {
                let dy = &dy[o * out_plane..][..out_plane];
                for (oh, dy) in dy.chunks_exact(conv.w.out).enumerate() {
                    super::copy_run(&mut dline[oh * plan.out_row..][..conv.w.out], dy);
                }
                if let Some(db) = dbias.as_deref_mut() {
                    db[o] += super::sum(dy);
                }
                let (weight, dweight) = (
                    &weight[o * taps..][..taps],
                    &mut dweight[o * taps..][..taps],
                );
                for kh in 0..conv.h.kernel {
                    for kw in 0..conv.w.kernel {
                        let t = kh * conv.w.kernel + kw;
                        let tap = offsets[t];
                        for (l, d) in dline.chunks_exact(plan.line_len).enumerate() {
                            let at = tap + l * plan.line_step;
                            dweight[t] += dot_slices::<T, FMA>(&xp[at..][..d.len()], d);
                            scatter::<T, FMA>(weight[t], d, &mut dxp[at..]);
                        }
                    }
                }
            }
            unpad_plane(conv, &plan, &dxp, dx);
        }
    }
}
