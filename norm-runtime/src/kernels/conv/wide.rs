//! The forward pass of kxk convolutions (and the input gradient of
//! stride-1 ones, and the weight gradient of maps of two strips of
//! positions or more, [`backward_weight`]) read straight from a
//! zero-padded copy of each example, without an im2col matrix.
//!
//! The example's input channels are copied once into a stack buffer with
//! their padding, `width = (OUT_W - 1) + (KW - 1) * DW + 1` values a line.
//! Output `(oh, ow)` then reads channel `c`, tap `(kh, kw)` at
//! `c * plane + (oh * width + ow) + kh * DH * width + kw * DW`: for the
//! "wide" position `i = oh * width + ow`, every tap is a fixed offset, so
//! sixteen consecutive wide positions read sixteen consecutive values, across
//! output rows. The register-blocked micro-kernel of [`gemm`](super::gemm)
//! (6 x 16 accumulators) runs over those offsets directly; the `width -
//! OUT_W` positions of each row past the output are computed and dropped
//! (6 % of a 32-wide padded image, 20 % of an 8-wide one). The copy costs
//! `C_IN * H * W` moves per example, where im2col costs `KH * KW` times
//! that per output strip.
//!
//! With strides `(SH, SW)` the padded copy is split into `SH * SW` phase
//! planes, phase `(p, q)` holding the padded rows `p, p + SH, ...` and columns
//! `q, q + SW, ...`; tap `(kh, kw)` reads one phase plane at row `oh + kh * DH
//! / SH` and column `ow + kw * DW / SW`, so strided convolutions (stems,
//! downsampling 3x3s) read consecutive values too.
//!
//! Sums: the bias, then every tap in order (input channel, kernel row,
//! kernel column), one fused multiply-add each: the operations of the
//! im2col path, so the two give the same bits.

use super::Conv;
use super::gemm::{NC, NR};
use crate::Float;
use crate::kernels::reduce::madd;

/// Values of the padded-example buffer (80 KiB of `f32`); larger inputs
/// take the im2col path.
const BUFFER: usize = 20480;
/// The most weights per output channel this path takes (128 input
/// channels of a 3x3 kernel): a block's weights, gathered once per example,
/// take `6 * MAX_K` values of the stack (27 KiB of `f32`); more take the
/// im2col path.
const MAX_K: usize = 1152;

/// The padded layout.
#[derive(Clone, Copy, Debug)]
struct Plan {
    /// Values per line of a phase plane.
    width: usize,
    /// Values per phase plane, with one spare line for the dropped
    /// positions' reads.
    plane: usize,
    /// Phase planes per channel: `STRIDE_H * STRIDE_W`.
    phases: usize,
    /// Input rows and columns copied (the others are never read).
    rows: usize,
    cols: usize,
    /// Wide positions: `OUT_H * width`.
    positions: usize,
}

impl Plan {
    fn new(conv: &Conv) -> Self {
        let (h, w) = (conv.h, conv.w);
        let ((rows_read, rows), (cols_read, cols)) = (super::reads(h), super::reads(w));
        let width = cols_read.div_ceil(w.stride);
        Self {
            width,
            plane: (rows_read.div_ceil(h.stride) + 1) * width,
            phases: h.stride * w.stride,
            rows,
            cols,
            positions: h.out * width,
        }
    }

    /// Buffer values in use, with room for the last panel's reads past the
    /// last channel.
    fn used(&self, conv: &Conv) -> usize {
        conv.groups * conv.c_in_per_group * self.phases * self.plane + NR
    }

    /// Where each tap of group 0 reads, from a wide position: the first
    /// `k_per_group` values (input channel, kernel row, kernel column).
    fn offsets(&self, conv: &Conv) -> [usize; MAX_K] {
        let mut offsets = [0; MAX_K];
        let mut k = 0;
        for ci in 0..conv.c_in_per_group {
            for kh in 0..conv.h.kernel {
                for kw in 0..conv.w.kernel {
                    offsets[k] = self.at(conv, ci, kh * conv.h.dilation, kw * conv.w.dilation);
                    k += 1;
                }
            }
        }
        offsets
    }

    /// Where padded value `(r, c)` of channel `ci` is.
    fn at(&self, conv: &Conv, ci: usize, r: usize, c: usize) -> usize {
        let (sh, sw) = (conv.h.stride, conv.w.stride);
        (ci * self.phases + r % sh * sw + c % sw) * self.plane + r / sh * self.width + c / sw
    }
}

/// Whether this path takes the convolution: a kernel larger than 1x1 (a
/// pointwise convolution's im2col rows are its input lines, copied as
/// cheaply), enough output channels per group for the 6 x 16 blocks
/// (depthwise goes to the stencils), and an example that fits the buffer.
pub(super) fn takes(conv: &Conv) -> bool {
    conv.h.kernel * conv.w.kernel > 1
        && conv.m_per_group() >= 4
        && conv.k_per_group() <= MAX_K
        && Plan::new(conv).used(conv) <= BUFFER
}

/// Copies one example's input channels into the padded phase planes.
fn pad_example<T: Float>(conv: &Conv, plan: &Plan, x: &[T], xw: &mut [T]) {
    let (sh, pad) = (conv.h.stride, conv.h.pad);
    for (ci, x) in x.chunks_exact(conv.in_plane()).enumerate() {
        // Row phase by row phase: the input rows `ih0, ih0 + sh, ...` are
        // consecutive lines of one phase plane.
        for p in 0..sh {
            let ih0 = (p + sh - pad % sh) % sh;
            let lines = x.chunks_exact(conv.w.len).take(plan.rows).skip(ih0);
            // Phase line q of padded row r starts where padded column q is.
            let r = ih0 + pad;
            super::split_plane(conv.w, lines.step_by(sh), plan.cols, xw, plan.width, |q| {
                plan.at(conv, ci, r, q)
            });
        }
    }
}

/// `acc[m][j] += Σ_r a[r][m] * xw[offsets[r] + base + j]`, in order.
#[inline(always)]
fn tile<T: Float, const R: usize, const FMA: bool>(
    a: &[[T; R]],
    xw: &[T],
    offsets: &[usize],
    base: usize,
    acc: &mut [[T; NR]; R],
) {
    let mut c = *acc;
    for (a, at) in a.iter().zip(offsets) {
        let b = &xw[at + base..][..NR];
        for m in 0..R {
            for j in 0..NR {
                c[m][j] = madd::<T, FMA>(a[m], b[j], c[m][j]);
            }
        }
    }
    *acc = c;
}

/// The weights of the convolution this path runs.
#[derive(Clone, Copy)]
enum Weights<'a, T> {
    /// PyTorch's layout, `[C_OUT][K]`.
    Plain(&'a [T]),
    /// The input gradient of a stride-1 convolution `of` is the convolution
    /// of `dy` with its weights transposed (input and output channels
    /// swapped within each group) and flipped (taps reversed).
    Transposed { weight: &'a [T], of: &'a Conv },
}

impl<T: Float> Weights<'_, T> {
    /// `a[k][m]` = weight `k` of output channel `o0 + m` (of the
    /// convolution run), for every `k` of `a`.
    #[inline(always)]
    fn gather<const R: usize>(&self, o0: usize, a: &mut [[T; R]]) {
        let k_n = a.len();
        match *self {
            Self::Plain(w) => {
                let rows: [&[T]; R] = core::array::from_fn(|m| &w[(o0 + m) * k_n..][..k_n]);
                for (k, a) in a.iter_mut().enumerate() {
                    for m in 0..R {
                        a[m] = rows[m][k];
                    }
                }
            }
            Self::Transposed { weight, of } => {
                // Weight k = (mm, tap) of output channel o = (g, ci) is
                // `of`'s output channel g * m_n + mm, input channel ci,
                // tap reversed: no division per weight (one per weight,
                // per example, was most of a 64-channel 8x8 layer's input
                // gradient).
                let (cpg, taps) = (of.c_in_per_group, of.h.kernel * of.w.kernel);
                for m in 0..R {
                    let (g, ci) = ((o0 + m) / cpg, (o0 + m) % cpg);
                    for (mm, a) in a.chunks_exact_mut(taps).enumerate() {
                        let o_of = g * of.m_per_group() + mm;
                        let row = &weight[(o_of * cpg + ci) * taps..][..taps];
                        for (a, w) in a.iter_mut().zip(row.iter().rev()) {
                            a[m] = *w;
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv(x) + bias` over a batch.
#[inline(always)]
pub(super) fn forward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    run::<T, FMA>(conv, Weights::Plain(weight), bias, x, y);
}

/// The convolution whose forward pass is `conv`'s input gradient (stride 1):
/// `dy` in, `dx` out, the padding what the kernel reaches past `conv`'s.
fn transposed(conv: &Conv) -> Option<Conv> {
    let axis = |a: super::Axis| {
        let reach = (a.kernel - 1) * a.dilation;
        (a.stride == 1 && a.pad <= reach).then(|| super::Axis {
            len: a.out,
            out: a.len,
            kernel: a.kernel,
            stride: 1,
            pad: reach - a.pad,
            dilation: a.dilation,
        })
    };
    Some(Conv {
        c_out: conv.groups * conv.c_in_per_group,
        groups: conv.groups,
        c_in_per_group: conv.m_per_group(),
        h: axis(conv.h)?,
        w: axis(conv.w)?,
    })
}

/// Whether this path takes `conv`'s input gradient: stride 1, padding no
/// wider than the kernel reaches, and the transposed convolution one that
/// [`takes`] (four or more input channels per group among them).
pub(super) fn takes_backward(conv: &Conv) -> bool {
    transposed(conv).is_some_and(|t| takes(&t))
}

/// `dx` (written) of a convolution [`takes_backward`] takes, as the
/// transposed convolution of `dy`.
#[inline(always)]
pub(super) fn backward_input<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    dy: &[T],
    dx: &mut [T],
) {
    if let Some(t) = transposed(conv) {
        run::<T, FMA>(&t, Weights::Transposed { weight, of: conv }, None, dy, dx);
    }
}

/// The forward pass of `conv` with `weights`.
///
/// Per example and block of output channels, the block's weights are
/// gathered once into the interleaved left operand of [`tile`] (for the
/// transposed weights of an input gradient, a division or two per weight),
/// then every strip of positions runs over all the taps in registers.
#[inline(always)]
fn run<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: Weights<'_, T>,
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    let plan = Plan::new(conv);
    let offsets = &plan.offsets(conv);
    let offsets = &offsets[..conv.k_per_group()];
    let mut xw = [T::ZERO; BUFFER];
    let mut a = [T::ZERO; 6 * MAX_K];
    let mut blocks = super::gemm::Blocks::<T>::new();
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    for (x, y) in x
        .chunks_exact(conv.x_row())
        .zip(y.chunks_exact_mut(conv.y_row()))
    {
        pad_example(conv, &plan, x, &mut xw);
        for g in 0..conv.groups {
            let mut m0 = 0;
            while m0 < m_n {
                let rows = super::gemm::block_rows(m_n - m0);
                let o0 = g * m_n + m0;
                super::with_block!(rows, blocks, |R, _a, out| {
                    let a = &mut a[..R * k_n].as_chunks_mut::<R>().0;
                    weight.gather::<R>(o0, a);
                    for i0 in (0..plan.positions).step_by(NC) {
                        let at = Strip {
                            o0,
                            base: g * conv.c_in_per_group * plan.phases * plan.plane + i0,
                            i0,
                            len: NC.min(plan.positions - i0),
                        };
                        block::<T, R, FMA>(conv, &plan, bias, &xw, offsets, at, a, out, y);
                    }
                });
                m0 += rows;
            }
        }
    }
}

/// Output channels from `o0`, wide positions `i0..i0 + len`, read from
/// `base` plus each tap's offset (the group's first channel and `i0`).
#[derive(Clone, Copy)]
struct Strip {
    o0: usize,
    base: usize,
    i0: usize,
    len: usize,
}

/// Output channels `o0..o0 + R` of one strip of one example, their
/// weights interleaved in `a` (every tap).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn block<T: Float, const R: usize, const FMA: bool>(
    conv: &Conv,
    plan: &Plan,
    bias: Option<&[T]>,
    xw: &[T],
    offsets: &[usize],
    at: Strip,
    a: &[[T; R]],
    out: &mut [[T; NC]; R],
    y: &mut [T],
) {
    for p in 0..at.len.div_ceil(NR) {
        let mut acc: [[T; NR]; R] =
            core::array::from_fn(|m| [bias.map_or(T::ZERO, |b| b[at.o0 + m]); NR]);
        tile::<T, R, FMA>(a, xw, offsets, at.base + p * NR, &mut acc);
        for m in 0..R {
            out[m].as_chunks_mut::<NR>().0[p] = acc[m];
        }
    }
    // The strip's positions inside the output, row by row.
    let (width, out_w) = (plan.width, conv.w.out);
    let mut i = at.i0;
    while i < at.i0 + at.len {
        let (oh, ow) = (i / width, i % width);
        let end = (oh * width + width).min(at.i0 + at.len);
        if ow < out_w {
            let n = (out_w - ow).min(end - i);
            for (m, out) in out.iter().enumerate() {
                let to = (at.o0 + m) * conv.out_plane() + oh * out_w + ow;
                super::copy_run(&mut y[to..to + n], &out[i - at.i0..i - at.i0 + n]);
            }
        }
        i = end;
    }
}

/// Whether this path takes `conv`'s weight gradient: what [`takes`] takes,
/// with at least two strips of wide positions per example (the strips of a
/// padded copy cannot cross examples; the im2col path's do, which keeps
/// small maps' strips full).
pub(super) fn takes_weight(conv: &Conv) -> bool {
    takes(conv) && Plan::new(conv).positions >= 2 * NC
}

/// Adds the weight gradient of a batch to `dweight`, read from the padded
/// copy of each example: `dweight[o][k] += Σ_i dy[o][i] * xw[offsets[k] +
/// i]` over the wide positions `i`, where tap `k`'s reads of a strip of
/// positions are one contiguous run of the copy, so no im2col matrix is
/// built (its copy was a fifth of a ResNet 3x3's forward and backward
/// pass, perf). The output gradients are transposed a strip at a time,
/// zero at the positions past each output row, whose products add zeros
/// (an infinite or NaN input there would make them NaN: the training
/// forward passes of a network refuse such batches at their batch norms).
/// Sums: each strip's positions in order, then strip by strip and example
/// by example.
#[inline(always)]
pub(super) fn backward_weight<T: Float, const FMA: bool>(
    conv: &Conv,
    x: &[T],
    dy: &[T],
    dweight: &mut [T],
) {
    let plan = Plan::new(conv);
    let offsets = &plan.offsets(conv);
    let offsets = &offsets[..conv.k_per_group()];
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    let (width, out_w, out_plane) = (plan.width, conv.w.out, conv.out_plane());
    let mut xw = [T::ZERO; BUFFER];
    let mut dyt = [[T::ZERO; NC]; NC];
    for (x, dy) in x
        .chunks_exact(conv.x_row())
        .zip(dy.chunks_exact(conv.y_row()))
    {
        pad_example(conv, &plan, x, &mut xw);
        for g in 0..conv.groups {
            let base = g * conv.c_in_per_group * plan.phases * plan.plane;
            for i0 in (0..plan.positions).step_by(NC) {
                let len = NC.min(plan.positions - i0);
                let dyt = &mut dyt[..len];
                for m0 in (0..m_n).step_by(NC) {
                    let mc = NC.min(m_n - m0);
                    // dyt[n][j]: output channel m0 + j at wide position
                    // i0 + n, for the panels the tiles read.
                    for j in 0..mc.div_ceil(NR) * NR {
                        if j >= mc {
                            dyt.iter_mut().for_each(|d| d[j] = T::ZERO);
                            continue;
                        }
                        let plane = &dy[(g * m_n + m0 + j) * out_plane..][..out_plane];
                        let (mut oh, mut ow) = (i0 / width, i0 % width);
                        for d in dyt.iter_mut() {
                            d[j] = if ow < out_w {
                                plane[oh * out_w + ow]
                            } else {
                                T::ZERO
                            };
                            ow += 1;
                            if ow == width {
                                (oh, ow) = (oh + 1, 0);
                            }
                        }
                    }
                    let mut k = 0;
                    while k < k_n {
                        let rows_n = super::gemm::block_rows(k_n - k);
                        let at = (g * m_n + m0, mc, k);
                        macro_rules! block {
                            ($r:literal) => {
                                weight_block::<T, $r, FMA>(
                                    &xw,
                                    base + i0,
                                    offsets,
                                    dyt,
                                    at,
                                    k_n,
                                    dweight,
                                )
                            };
                        }
                        match rows_n {
                            6 => block!(6),
                            4 => block!(4),
                            _ => block!(1),
                        }
                        k += rows_n;
                    }
                }
            }
        }
    }
}

/// `dweight[o0 + j][k + i] += Σ_n xw[start + offsets[k + i] + n] *
/// dyt[n][j]` for `R` taps from `k` and output channels `o0..o0 + mc`.
#[inline(always)]
fn weight_block<T: Float, const R: usize, const FMA: bool>(
    xw: &[T],
    start: usize,
    offsets: &[usize],
    dyt: &[[T; NC]],
    (o0, mc, k): (usize, usize, usize),
    k_n: usize,
    dweight: &mut [T],
) {
    let len = dyt.len();
    let rows: [&[T]; R] = core::array::from_fn(|i| &xw[start + offsets[k + i]..][..len]);
    super::gemm::add_weight_block::<T, R, FMA>(rows, dyt, (o0, mc, k), k_n, dweight);
}
