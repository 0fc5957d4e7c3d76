//! Convolution as a matrix product over the im2col matrix, built a strip at
//! a time on the stack (an "implicit GEMM").
//!
//! Per group, with `M` output channels, `K = C_IN_PER_GROUP * KH * KW` taps
//! and `N = batch * OUT_H * OUT_W` output positions:
//!
//! - forward: `Y[M][N] = W[M][K] · Col[K][N] (+ bias)`;
//! - input gradient: `dCol[K][N] = Wᵀ · dY`, scattered back onto `dx`
//!   (col2im);
//! - weight gradient: `dWᵀ[K][M] += Col · dYᵀ`.
//!
//! `Col` is never built whole: a strip of [`NC`] positions (which may span
//! several examples, so small feature maps still fill the registers) and at
//! most [`KC`] taps is copied into a stack buffer, row by row and output line
//! by output line, so a stride-1 tap is a slice copy. Every product runs
//! through one register-blocked micro-kernel ([`tile`]): [`MR`] rows by
//! [`NR`] columns of accumulators (eight 8-lane AVX2 registers for `f32`),
//! each step one broadcast from the packed left operand and one row of the
//! right. In the copy compiled for AVX2 + FMA the compiler turns each
//! accumulator row into vector registers and the multiply-adds into fused
//! ones; the portable copy is the same code.
//!
//! Per strip the packing costs `K * NC` copies against `M * K * NC`
//! multiply-adds, so it is cheap from about 8 output channels on; layers
//! with one input channel per group and few output channels per group
//! (depthwise) go to [`stencil`](super::stencil) instead. The buffers are
//! at most 4 * [`KC`] * [`NC`] values (128 KiB of `f32`), whatever the layer's
//! size.
//!
//! Sums: a forward output is the bias (or zero), then every tap in order
//! (input channel, kernel row, kernel column), one fused multiply-add each:
//! the same operations whatever the batch, the strip or the example's place
//! in it, so a batch gives each example the bits it gets alone. The
//! gradients sum over output channels per tap, then over taps (`dx`), and
//! over each strip's positions, then strip by strip (weight, bias).

use super::Conv;
use crate::Float;
use crate::kernels::reduce::madd;

/// Output positions per strip.
pub(super) const NC: usize = 64;
/// Taps (or reduction rows) per packed chunk.
pub(super) const KC: usize = 256;
/// Rows of the micro-kernel's accumulator block.
const MR: usize = 4;
/// Columns of the micro-kernel's accumulator block.
const NR: usize = 16;

/// The micro-kernel: `acc[m][j] += Σ_r a[r][m] * b[r][panel * NR + j]` over
/// the `a.len()` reduction rows, in order, fused with `FMA`.
#[inline(always)]
fn tile<T: Float, const R: usize, const FMA: bool>(
    a: &[[T; R]],
    b: &[[T; NC]],
    panel: usize,
    acc: &mut [[T; NR]; R],
) {
    let mut c = *acc;
    for (a, b) in a.iter().zip(b) {
        let b = &b.as_chunks::<NR>().0[panel];
        for m in 0..R {
            for j in 0..NR {
                c[m][j] = madd::<T, FMA>(a[m], b[j], c[m][j]);
            }
        }
    }
    *acc = c;
}

/// `out[r][..R] = rows[..][r]`: `R` rows of length `out.len()` side by side,
/// the left operand of [`tile`].
#[inline(always)]
fn interleave<T: Float, const R: usize>(rows: [&[T]; R], out: &mut [[T; R]]) {
    for (r, o) in out.iter_mut().enumerate() {
        for m in 0..R {
            o[m] = rows[m][r];
        }
    }
}

/// A run of a strip's consecutive positions on one output line: example
/// `ex`, output row `oh`, output columns `ow..ow + len`, from strip lane
/// `lane` on.
#[derive(Clone, Copy, Debug, Default)]
struct Run {
    ex: usize,
    oh: usize,
    ow: usize,
    len: usize,
    lane: usize,
}

/// Positions `n0..n0 + len` of the batch (`n = example * OUT_H * OUT_W +
/// oh * OUT_W + ow`), cut at output lines.
#[derive(Clone, Copy, Debug)]
struct Strip {
    len: usize,
    runs: [Run; NC],
    count: usize,
}

impl Strip {
    fn new(conv: &Conv, n0: usize, len: usize) -> Self {
        let mut strip = Self {
            len,
            runs: [Run::default(); NC],
            count: 0,
        };
        let (plane, line) = (conv.out_plane(), conv.w.out);
        let mut lane = 0;
        while lane < len {
            let n = n0 + lane;
            let (ex, p) = (n / plane, n % plane);
            let (oh, ow) = (p / line, p % line);
            let run_len = (line - ow).min(len - lane);
            strip.runs[strip.count] = Run {
                ex,
                oh,
                ow,
                len: run_len,
                lane,
            };
            strip.count += 1;
            lane += run_len;
        }
        strip
    }

    fn runs(&self) -> &[Run] {
        &self.runs[..self.count]
    }

    /// Panels holding at least one position.
    fn panels(&self) -> usize {
        self.len.div_ceil(NR)
    }

    /// `out[lane] = y[example][channel][oh][ow]` at every position of the
    /// strip, zero past it: one channel of an output-shaped batch `y`.
    fn gather<T: Float>(&self, conv: &Conv, y: &[T], channel: usize, out: &mut [T; NC]) {
        let (plane, line, y_row) = (conv.out_plane(), conv.w.out, conv.y_row());
        for run in self.runs() {
            let from = run.ex * y_row + channel * plane + run.oh * line + run.ow;
            out[run.lane..run.lane + run.len].copy_from_slice(&y[from..from + run.len]);
        }
        out[self.len..].fill(T::ZERO);
    }

    /// The inverse of [`gather`](Self::gather): writes the strip's lanes of
    /// `row` into channel `channel` of `y`.
    fn scatter<T: Float>(&self, conv: &Conv, y: &mut [T], channel: usize, row: &[T; NC]) {
        let (plane, line, y_row) = (conv.out_plane(), conv.w.out, conv.y_row());
        for run in self.runs() {
            let to = run.ex * y_row + channel * plane + run.oh * line + run.ow;
            y[to..to + run.len].copy_from_slice(&row[run.lane..run.lane + run.len]);
        }
    }
}

/// Where tap `k` of group `g` reads the input, for every run of a strip:
/// calls `f(run, input offset of the run's first read column, the run's
/// columns lo..hi (relative to the run) that read inside)`, or skips a run
/// whose row is in the padding.
#[inline(always)]
fn each_read(
    conv: &Conv,
    g: usize,
    strip: &Strip,
    k: usize,
    mut f: impl FnMut(&Run, Option<(usize, usize, usize)>),
) {
    let (kh_n, kw_n) = (conv.h.kernel, conv.w.kernel);
    let (ci, tap) = (k / (kh_n * kw_n), k % (kh_n * kw_n));
    let (kh, kw) = (tap / kw_n, tap % kw_n);
    let channel = g * conv.c_in_per_group + ci;
    let rows_in = conv.h.outputs_of_tap(kh);
    let cols_in = conv.w.outputs_of_tap(kw);
    let (in_plane, x_row, in_w) = (conv.in_plane(), conv.x_row(), conv.w.len);
    for run in strip.runs() {
        if run.oh < rows_in.lo || run.oh >= rows_in.hi {
            f(run, None);
            continue;
        }
        let ih = rows_in.first + (run.oh - rows_in.lo) * conv.h.stride;
        let lo = cols_in.lo.clamp(run.ow, run.ow + run.len);
        let hi = cols_in.hi.clamp(lo, run.ow + run.len);
        let first = if lo < hi {
            cols_in.first + (lo - cols_in.lo) * conv.w.stride
        } else {
            0
        };
        f(
            run,
            Some((
                run.ex * x_row + channel * in_plane + ih * in_w + first,
                lo - run.ow,
                hi - run.ow,
            )),
        );
    }
}

/// Copies rows `k0..k0 + rows.len()` of group `g`'s im2col matrix, at the
/// strip's positions, into `rows` (lanes past the strip are zero).
fn pack_cols<T: Float>(
    conv: &Conv,
    x: &[T],
    g: usize,
    strip: &Strip,
    k0: usize,
    rows: &mut [[T; NC]],
) {
    let stride = conv.w.stride;
    for (i, row) in rows.iter_mut().enumerate() {
        row[strip.len..].fill(T::ZERO);
        each_read(conv, g, strip, k0 + i, |run, read| {
            let out = &mut row[run.lane..run.lane + run.len];
            let Some((from, lo, hi)) = read else {
                out.fill(T::ZERO);
                return;
            };
            out[..lo].fill(T::ZERO);
            out[hi..].fill(T::ZERO);
            let dst = &mut out[lo..hi];
            if stride == 1 {
                dst.copy_from_slice(&x[from..from + dst.len()]);
            } else {
                for (d, s) in dst.iter_mut().zip(x[from..].iter().step_by(stride)) {
                    *d = *s;
                }
            }
        });
    }
}

/// Adds row `k` of a strip of group `g`'s im2col gradient onto `dx`, where
/// that tap read it (col2im).
fn scatter_cols_add<T: Float>(
    conv: &Conv,
    dx: &mut [T],
    g: usize,
    strip: &Strip,
    k: usize,
    row: &[T; NC],
) {
    let stride = conv.w.stride;
    each_read(conv, g, strip, k, |run, read| {
        let Some((to, lo, hi)) = read else { return };
        let src = &row[run.lane + lo..run.lane + hi];
        if stride == 1 {
            for (d, s) in dx[to..to + src.len()].iter_mut().zip(src) {
                *d += *s;
            }
        } else {
            for (d, s) in dx[to..].iter_mut().step_by(stride).zip(src) {
                *d += *s;
            }
        }
    });
}

/// `y = conv(x) + bias` over a batch of `x.len() / conv.x_row()` examples.
#[inline(always)]
pub(super) fn forward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    let positions = x.len() / conv.x_row() * conv.out_plane();
    let mut cols = [[T::ZERO; NC]; KC];
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            let strip = Strip::new(conv, n0, NC.min(positions - n0));
            for k0 in (0..k_n).step_by(KC) {
                let cols = &mut cols[..KC.min(k_n - k0)];
                pack_cols(conv, x, g, &strip, k0, cols);
                let start = |o: usize| -> T { bias.map_or(T::ZERO, |b| b[o]) };
                let mut m0 = 0;
                while m0 < m_n {
                    let o0 = g * m_n + m0;
                    if m_n - m0 >= MR {
                        forward_block::<T, MR, FMA>(
                            conv, weight, &strip, cols, o0, k0, k_n, y, start,
                        );
                        m0 += MR;
                    } else {
                        forward_block::<T, 1, FMA>(
                            conv, weight, &strip, cols, o0, k0, k_n, y, start,
                        );
                        m0 += 1;
                    }
                }
            }
        }
    }
}

/// Output channels `o0..o0 + R` of one strip and tap chunk.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_block<T: Float, const R: usize, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    strip: &Strip,
    cols: &[[T; NC]],
    o0: usize,
    k0: usize,
    k_n: usize,
    y: &mut [T],
    start: impl Fn(usize) -> T,
) {
    let kc = cols.len();
    let mut a = [[T::ZERO; R]; KC];
    interleave(
        core::array::from_fn(|m| &weight[(o0 + m) * k_n + k0..][..kc]),
        &mut a[..kc],
    );
    let mut out = [[T::ZERO; NC]; R];
    for (m, out) in out.iter_mut().enumerate() {
        if k0 == 0 {
            out.fill(start(o0 + m));
        } else {
            strip.gather(conv, y, o0 + m, out);
        }
    }
    for p in 0..strip.panels() {
        let mut acc: [[T; NR]; R] = core::array::from_fn(|m| out[m].as_chunks::<NR>().0[p]);
        tile::<T, R, FMA>(&a[..kc], cols, p, &mut acc);
        for m in 0..R {
            out[m].as_chunks_mut::<NR>().0[p] = acc[m];
        }
    }
    for (m, out) in out.iter().enumerate() {
        strip.scatter(conv, y, o0 + m, out);
    }
}

/// Writes `dx` and adds the bias gradient (if any) for a batch.
#[inline(always)]
pub(super) fn backward_input<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    dy: &[T],
    dx: &mut [T],
    mut dbias: Option<&mut [T]>,
) {
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    let positions = dx.len() / conv.x_row() * conv.out_plane();
    dx.fill(T::ZERO);
    let mut dys = [[T::ZERO; NC]; KC];
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            let strip = Strip::new(conv, n0, NC.min(positions - n0));
            for m0 in (0..m_n).step_by(KC) {
                let dys = &mut dys[..KC.min(m_n - m0)];
                for (m, row) in dys.iter_mut().enumerate() {
                    let o = g * m_n + m0 + m;
                    strip.gather(conv, dy, o, row);
                    if let Some(db) = dbias.as_deref_mut() {
                        let mut sum = T::ZERO;
                        for v in &row[..strip.len] {
                            sum += *v;
                        }
                        db[o] += sum;
                    }
                }
                let (o0, mut k) = (g * m_n + m0, 0);
                while k < k_n {
                    if k_n - k >= MR {
                        input_block::<T, MR, FMA>(conv, weight, &strip, dys, g, o0, k, k_n, dx);
                        k += MR;
                    } else {
                        input_block::<T, 1, FMA>(conv, weight, &strip, dys, g, o0, k, k_n, dx);
                        k += 1;
                    }
                }
            }
        }
    }
}

/// Taps `k..k + R` of the input gradient of one strip, from output channels
/// `o0..o0 + dys.len()`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_block<T: Float, const R: usize, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    strip: &Strip,
    dys: &[[T; NC]],
    g: usize,
    o0: usize,
    k: usize,
    k_n: usize,
    dx: &mut [T],
) {
    let mut a = [[T::ZERO; R]; KC];
    for (r, a) in a[..dys.len()].iter_mut().enumerate() {
        a.copy_from_slice(&weight[(o0 + r) * k_n + k..][..R]);
    }
    let mut out = [[T::ZERO; NC]; R];
    for p in 0..strip.panels() {
        let mut acc = [[T::ZERO; NR]; R];
        tile::<T, R, FMA>(&a[..dys.len()], dys, p, &mut acc);
        for m in 0..R {
            out[m].as_chunks_mut::<NR>().0[p] = acc[m];
        }
    }
    for (i, row) in out.iter().enumerate() {
        scatter_cols_add(conv, dx, g, strip, k + i, row);
    }
}

/// Adds the weight gradient of a batch to `dweight`.
#[inline(always)]
pub(super) fn backward_weight<T: Float, const FMA: bool>(
    conv: &Conv,
    x: &[T],
    dy: &[T],
    dweight: &mut [T],
) {
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    let positions = x.len() / conv.x_row() * conv.out_plane();
    let mut cols = [[T::ZERO; NC]; KC];
    let mut row = [T::ZERO; NC];
    let mut dyt = [[T::ZERO; NC]; NC];
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            let strip = Strip::new(conv, n0, NC.min(positions - n0));
            let len = strip.len;
            for m0 in (0..m_n).step_by(NC) {
                let mc = NC.min(m_n - m0);
                // dyt[n][j]: output channel m0 + j at the strip's position n.
                for j in 0..NC {
                    if j < mc {
                        strip.gather(conv, dy, g * m_n + m0 + j, &mut row);
                    } else {
                        row.fill(T::ZERO);
                    }
                    for (n, d) in dyt[..len].iter_mut().enumerate() {
                        d[j] = row[n];
                    }
                }
                for k0 in (0..k_n).step_by(KC) {
                    let cols = &mut cols[..KC.min(k_n - k0)];
                    pack_cols(conv, x, g, &strip, k0, cols);
                    let mut k = 0;
                    while k < cols.len() {
                        let at = Grad {
                            g,
                            m_n,
                            m0,
                            mc,
                            k_n,
                            k: k0 + k,
                        };
                        if cols.len() - k >= MR {
                            weight_block::<T, MR, FMA>(&cols[k..k + MR], &dyt[..len], at, dweight);
                            k += MR;
                        } else {
                            weight_block::<T, 1, FMA>(&cols[k..k + 1], &dyt[..len], at, dweight);
                            k += 1;
                        }
                    }
                }
            }
        }
    }
}

/// Where a block of the weight gradient goes: group `g` of `m_n` output
/// channels, columns `m0..m0 + mc` of them, taps from `k` on (of `k_n`).
#[derive(Clone, Copy)]
struct Grad {
    g: usize,
    m_n: usize,
    m0: usize,
    mc: usize,
    k_n: usize,
    k: usize,
}

/// `dweight[o][k + i] += Σ_n cols[i][n] * dyt[n][o]` for the block's taps.
#[inline(always)]
fn weight_block<T: Float, const R: usize, const FMA: bool>(
    cols: &[[T; NC]],
    dyt: &[[T; NC]],
    at: Grad,
    dweight: &mut [T],
) {
    let len = dyt.len();
    let mut a = [[T::ZERO; R]; NC];
    interleave(core::array::from_fn(|i| &cols[i][..len]), &mut a[..len]);
    for p in 0..at.mc.div_ceil(NR) {
        let mut acc = [[T::ZERO; NR]; R];
        tile::<T, R, FMA>(&a[..len], dyt, p, &mut acc);
        for j in 0..NR.min(at.mc - p * NR) {
            let o = at.g * at.m_n + at.m0 + p * NR + j;
            for i in 0..R {
                dweight[o * at.k_n + at.k + i] += acc[i][j];
            }
        }
    }
}
