//! Convolutions whose output channels each read one input channel
//! (depthwise, with or without a channel multiplier) as per-channel
//! stencils over a zero-padded copy of the input plane.
//!
//! The plane is copied once per input channel into a stack buffer with its
//! padding, `width` values a line. With stride 1, output `(oh, ow)` reads
//! the padded plane at `oh * width + ow + kh * DH * width + kw * DW`, so the
//! whole output plane is one line of `OUT_H * width` values, the last
//! `width - OUT_W` of each row being discarded: every kernel tap is one
//! multiply-add over a long contiguous line that the compiler vectorizes,
//! even when the output is only a few columns wide (KWS's 25x5). Other
//! strides (2, `(2, 1)`) take the output row by row.
//!
//! Per output value: the bias (or zero), then the taps in order (kernel row,
//! kernel column), fused with `FMA`, as the im2col path and the direct
//! convolution sum them.

use super::Conv;
use crate::Float;
use crate::kernels::reduce::madd;

/// Values of each plane buffer (32 KiB of `f32`); larger planes take the
/// im2col path.
const PLANE: usize = 8192;

/// The layout of the padded plane and of the output lines.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Values per padded line.
    width: usize,
    /// Padded lines that hold input values (the rest stay zero).
    rows: usize,
    /// Input columns copied per line.
    cols: usize,
    /// Output lines, their length, and the padded-plane offset between
    /// them.
    lines: usize,
    line_len: usize,
    line_step: usize,
    /// Padded-plane values between consecutive outputs of a line.
    step: usize,
    /// Values between output rows in the line buffer.
    out_row: usize,
    /// Padded-plane values in use.
    used: usize,
}

impl Plan {
    fn new(conv: &Conv) -> Self {
        let (h, w) = (conv.h, conv.w);
        let reach = |a: super::Axis| (a.out - 1) * a.stride + (a.kernel - 1) * a.dilation + 1;
        let (rows_read, cols_read) = (reach(h), reach(w));
        let rows = h.len.min(rows_read.saturating_sub(h.pad));
        let cols = w.len.min(cols_read.saturating_sub(w.pad));
        if h.stride == 1 && w.stride == 1 {
            let width = cols_read;
            Self {
                width,
                rows,
                cols,
                lines: 1,
                line_len: h.out * width,
                line_step: 0,
                step: 1,
                out_row: width,
                used: (h.out + (h.kernel - 1) * h.dilation + 1) * width,
            }
        } else {
            Self {
                width: cols_read,
                rows,
                cols,
                lines: h.out,
                line_len: w.out,
                line_step: h.stride * cols_read,
                step: w.stride,
                out_row: w.out,
                used: rows_read * cols_read,
            }
        }
    }

    /// Values of the output line buffer in use.
    fn out_len(&self) -> usize {
        self.lines * self.line_len
    }

    /// The padded-plane offset of tap `(kh, kw)`.
    fn tap(&self, conv: &Conv, kh: usize, kw: usize) -> usize {
        kh * conv.h.dilation * self.width + kw * conv.w.dilation
    }
}

/// Whether the stencils take this convolution: one input channel per group,
/// fewer than four output channels per group (more are a matrix product
/// worth packing), and planes that fit the buffers.
pub(super) fn takes(conv: &Conv) -> bool {
    if conv.c_in_per_group != 1 || conv.m_per_group() >= 4 {
        return false;
    }
    let plan = Plan::new(conv);
    plan.used <= PLANE && plan.out_len() <= PLANE
}

/// Copies input plane `x` (`H x W`) into the padded buffer.
fn pad_plane<T: Float>(conv: &Conv, plan: &Plan, x: &[T], xp: &mut [T]) {
    let (top, left) = (conv.h.pad, conv.w.pad);
    for ih in 0..plan.rows {
        let from = ih * conv.w.len;
        let to = (ih + top) * plan.width + left;
        xp[to..to + plan.cols].copy_from_slice(&x[from..from + plan.cols]);
    }
}

/// `line[i] += w * xp[i * step]`.
#[inline(always)]
fn axpy<T: Float, const FMA: bool>(w: T, xp: &[T], step: usize, line: &mut [T]) {
    if step == 1 {
        let xp = &xp[..line.len()];
        for (y, x) in line.iter_mut().zip(xp) {
            *y = madd::<T, FMA>(w, *x, *y);
        }
    } else {
        for (y, x) in line.iter_mut().zip(xp.iter().step_by(step)) {
            *y = madd::<T, FMA>(w, *x, *y);
        }
    }
}

/// `Σ_i line[i] * xp[i * step]`, in eight lanes summed as a fixed tree.
#[inline(always)]
fn dot<T: Float, const FMA: bool>(line: &[T], xp: &[T], step: usize) -> T {
    let mut acc = [T::ZERO; 8];
    let (chunks, tail) = line.as_chunks::<8>();
    if step == 1 {
        for (c, x) in chunks.iter().zip(xp.as_chunks::<8>().0) {
            for k in 0..8 {
                acc[k] = madd::<T, FMA>(c[k], x[k], acc[k]);
            }
        }
    } else {
        for (i, c) in chunks.iter().enumerate() {
            for k in 0..8 {
                acc[k] = madd::<T, FMA>(c[k], xp[(i * 8 + k) * step], acc[k]);
            }
        }
    }
    let mut sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    let done = chunks.len() * 8;
    for (i, v) in tail.iter().enumerate() {
        sum = madd::<T, FMA>(*v, xp[(done + i) * step], sum);
    }
    sum
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
            line.fill(bias.map_or(T::ZERO, |b| b[o]));
            let weight = &weight[o * taps..][..taps];
            for kh in 0..conv.h.kernel {
                for kw in 0..conv.w.kernel {
                    let w = weight[kh * conv.w.kernel + kw];
                    let tap = plan.tap(conv, kh, kw);
                    for (l, out) in line.chunks_exact_mut(plan.line_len).enumerate() {
                        axpy::<T, FMA>(w, &xp[tap + l * plan.line_step..], plan.step, out);
                    }
                }
            }
            for (oh, y) in y.chunks_exact_mut(conv.w.out).enumerate() {
                y.copy_from_slice(&line[oh * plan.out_row..][..conv.w.out]);
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
                    dline[oh * plan.out_row..][..conv.w.out].copy_from_slice(dy);
                }
                if let Some(db) = dbias.as_deref_mut() {
                    let mut sum = T::ZERO;
                    for v in dy {
                        sum += *v;
                    }
                    db[o] += sum;
                }
                let (weight, dweight) = (
                    &weight[o * taps..][..taps],
                    &mut dweight[o * taps..][..taps],
                );
                for kh in 0..conv.h.kernel {
                    for kw in 0..conv.w.kernel {
                        let t = kh * conv.w.kernel + kw;
                        let tap = plan.tap(conv, kh, kw);
                        for (l, d) in dline.chunks_exact(plan.line_len).enumerate() {
                            let at = tap + l * plan.line_step;
                            dweight[t] += dot::<T, FMA>(d, &xp[at..], plan.step);
                            scatter::<T, FMA>(weight[t], d, &mut dxp[at..], plan.step);
                        }
                    }
                }
            }
            for (ih, dx) in dx.chunks_exact_mut(conv.w.len).enumerate() {
                if ih < plan.rows {
                    let from = (ih + conv.h.pad) * plan.width + conv.w.pad;
                    dx[..plan.cols].copy_from_slice(&dxp[from..from + plan.cols]);
                    dx[plan.cols..].fill(T::ZERO);
                } else {
                    dx.fill(T::ZERO);
                }
            }
        }
    }
}

/// `dxp[i * step] += w * line[i]`.
#[inline(always)]
fn scatter<T: Float, const FMA: bool>(w: T, line: &[T], dxp: &mut [T], step: usize) {
    if step == 1 {
        for (d, v) in dxp[..line.len()].iter_mut().zip(line) {
            *d = madd::<T, FMA>(w, *v, *d);
        }
    } else {
        for (d, v) in dxp.iter_mut().step_by(step).zip(line) {
            *d = madd::<T, FMA>(w, *v, *d);
        }
    }
}
