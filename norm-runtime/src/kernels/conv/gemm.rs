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
//! [`NR`] columns of accumulators (twelve 8-lane AVX2 registers for `f32`),
//! each step one broadcast from the packed left operand and one row of the
//! right (the forward pass broadcasts straight from the weight rows,
//! [`tile_rows`]). In the copy compiled for AVX2 + FMA the compiler turns each
//! accumulator row into vector registers and the multiply-adds into fused
//! ones; the portable copy is the same code.
//!
//! Per strip the packing costs `K * NC` copies against `M * K * NC`
//! multiply-adds, so it is cheap from about 8 output channels on; layers
//! with one input channel per group and few output channels per group
//! (depthwise) go to [`stencil`](super::stencil) instead. The buffers are
//! about 14,000 values (56 KiB of `f32`), whatever the layer's size.
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
use crate::kernels::window::Span;

/// Output positions per strip.
pub(super) const NC: usize = 64;
/// Taps (or reduction rows) per packed chunk.
pub(super) const KC: usize = 128;
/// Rows of the micro-kernel's largest accumulator block: 6 x 16 is twelve
/// 8-lane registers of `f32`, enough independent multiply-adds to cover
/// the FMA latency on both pipes; blocks of 4 (eight registers) and of 1
/// take the rest.
const MR: usize = 6;

/// The rows of the next block when `remaining` rows are left: 6 for 6, 7
/// and 10 or more, 4 for 4, 5, 8 and 9, else 1 (so 8 = 4 + 4 and 16 = 6 +
/// 6 + 4, never a row left alone where a 4-block fits).
#[inline(always)]
pub(super) fn block_rows(remaining: usize) -> usize {
    match remaining {
        6 | 7 | 10.. => MR,
        4 | 5 | 8 | 9 => 4,
        _ => 1,
    }
}

/// Columns of the micro-kernel's accumulator block.
pub(super) const NR: usize = 16;

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

/// [`tile`] with the left operand read from `R` rows of the weights
/// themselves and the right one from `b`, reduction row `r` at `r * step`
/// (`acc[m][j] += Σ_r rows[m][r] * b[r * step + panel * NR + j]`, the same
/// operations in the same order): each weight is broadcast straight from
/// its row, with no interleaved copy of the weights per strip (which cost a
/// fifth of the multiply-adds' time in the pointwise layers, perf), and `b`
/// is either the packed strip (`step = NC`) or, for a pointwise
/// convolution, the input planes themselves (`step` one plane).
#[inline(always)]
fn tile_rows<T: Float, const R: usize, const FMA: bool>(
    rows: [&[T]; R],
    (b, step): (&[T], usize),
    panel: usize,
    acc: &mut [[T; NR]; R],
) {
    let kc = rows[0].len();
    let rows: [&[T]; R] = core::array::from_fn(|m| &rows[m][..kc]);
    let mut c = *acc;
    for r in 0..kc {
        let b: &[T; NR] = b[r * step + panel * NR..][..NR].try_into().unwrap();
        for m in 0..R {
            let a = rows[m][r];
            for j in 0..NR {
                c[m][j] = madd::<T, FMA>(a, b[j], c[m][j]);
            }
        }
    }
    *acc = c;
}

/// A run of a strip's consecutive positions on one output line: example
/// `ex`, output row `oh`, output columns `ow..ow + len`, from strip lane
/// `lane` on.
#[derive(Clone, Copy, Debug)]
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
    const EMPTY: Self = Self {
        len: 0,
        runs: [Run {
            ex: 0,
            oh: 0,
            ow: 0,
            len: 0,
            lane: 0,
        }; NC],
        count: 0,
    };

    /// Sets the strip to positions `n0..n0 + len`.
    fn set(&mut self, conv: &Conv, n0: usize, len: usize) {
        let strip = self;
        strip.len = len;
        strip.count = 0;
        let plane = conv.out_plane();
        // Runs cross output lines where the input is read in the same order.
        let line = if conv.same_plane() { plane } else { conv.w.out };
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
            super::copy_run(
                &mut out[run.lane..run.lane + run.len],
                &y[from..from + run.len],
            );
        }
        out[self.len..].fill(T::ZERO);
    }

    /// The inverse of [`gather`](Self::gather): writes the strip's lanes of
    /// `row` into channel `channel` of `y`.
    fn scatter<T: Float>(&self, conv: &Conv, y: &mut [T], channel: usize, row: &[T; NC]) {
        let (plane, line, y_row) = (conv.out_plane(), conv.w.out, conv.y_row());
        for run in self.runs() {
            let to = run.ex * y_row + channel * plane + run.oh * line + run.ow;
            super::copy_run(&mut y[to..to + run.len], &row[run.lane..run.lane + run.len]);
        }
    }
}

/// Kernel taps whose output spans are kept, per axis.
const SPAN_TAPS: usize = 16;

/// The outputs each kernel row and column reads inside the input
/// ([`Axis::outputs_of_tap`](crate::kernels::window::Axis)), worked out
/// once per call for the first [`SPAN_TAPS`] taps of each axis.
struct Spans {
    rows: [Span; SPAN_TAPS],
    cols: [Span; SPAN_TAPS],
}

impl Spans {
    fn new(conv: &Conv) -> Self {
        let at = |axis: crate::kernels::window::Axis, tap: usize| {
            axis.outputs_of_tap(tap.min(axis.kernel - 1))
        };
        Self {
            rows: core::array::from_fn(|t| at(conv.h, t)),
            cols: core::array::from_fn(|t| at(conv.w, t)),
        }
    }

    #[inline(always)]
    fn rows(&self, conv: &Conv, kh: usize) -> Span {
        match self.rows.get(kh) {
            Some(span) => *span,
            None => conv.h.outputs_of_tap(kh),
        }
    }

    #[inline(always)]
    fn cols(&self, conv: &Conv, kw: usize) -> Span {
        match self.cols.get(kw) {
            Some(span) => *span,
            None => conv.w.outputs_of_tap(kw),
        }
    }
}

/// Where tap `k` of group `g` reads the input.
#[derive(Clone, Copy)]
struct TapReads {
    /// The input plane's first value in example 0.
    plane: usize,
    rows: Span,
    cols: Span,
    /// Whether output and input planes coincide (1x1, stride 1, no
    /// padding): a run then reads its own positions, across lines.
    same_plane: bool,
}

impl TapReads {
    #[inline(always)]
    fn new(conv: &Conv, spans: &Spans, g: usize, k: usize) -> Self {
        let (kh_n, kw_n) = (conv.h.kernel, conv.w.kernel);
        let (ci, tap) = (k / (kh_n * kw_n), k % (kh_n * kw_n));
        Self {
            plane: (g * conv.c_in_per_group + ci) * conv.in_plane(),
            rows: spans.rows(conv, tap / kw_n),
            cols: spans.cols(conv, tap % kw_n),
            same_plane: conv.same_plane(),
        }
    }

    /// The input offset of the run's first column read, and the run's
    /// columns `lo..hi` (relative to the run) that read inside the input;
    /// `None` when the run's row reads the padding.
    #[inline(always)]
    fn of(&self, conv: &Conv, run: &Run) -> Option<(usize, usize, usize)> {
        let at = run.ex * conv.x_row() + self.plane;
        if self.same_plane {
            return Some((at + run.ow, 0, run.len));
        }
        if run.oh < self.rows.lo || run.oh >= self.rows.hi {
            return None;
        }
        let ih = self.rows.first + (run.oh - self.rows.lo) * conv.h.stride;
        let lo = self.cols.lo.clamp(run.ow, run.ow + run.len);
        let hi = self.cols.hi.clamp(lo, run.ow + run.len);
        let first = if lo < hi {
            self.cols.first + (lo - self.cols.lo) * conv.w.stride
        } else {
            0
        };
        Some((at + ih * conv.w.len + first, lo - run.ow, hi - run.ow))
    }
}

/// Copies rows `k0..k0 + rows.len()` of group `g`'s im2col matrix, at the
/// strip's positions, into `rows` (lanes past the strip are zero).
fn pack_cols<T: Float>(
    conv: &Conv,
    spans: &Spans,
    x: &[T],
    g: usize,
    strip: &Strip,
    k0: usize,
    rows: &mut [[T; NC]],
) {
    let stride = conv.w.stride;
    for (i, row) in rows.iter_mut().enumerate() {
        let reads = TapReads::new(conv, spans, g, k0 + i);
        for run in strip.runs() {
            let out = &mut row[run.lane..run.lane + run.len];
            let Some((from, lo, hi)) = reads.of(conv, run) else {
                out.fill(T::ZERO);
                continue;
            };
            out[..lo].fill(T::ZERO);
            out[hi..].fill(T::ZERO);
            let dst = &mut out[lo..hi];
            if !dst.is_empty() {
                let src = &x[from..from + (dst.len() - 1) * stride + 1];
                super::copy_every(dst, src, stride);
            }
        }
        row[strip.len..].fill(T::ZERO);
    }
}

/// Adds row `k` of a strip of group `g`'s im2col gradient onto `dx`, where
/// that tap read it (col2im).
fn scatter_cols_add<T: Float>(
    conv: &Conv,
    spans: &Spans,
    dx: &mut [T],
    g: usize,
    strip: &Strip,
    k: usize,
    row: &[T; NC],
) {
    let stride = conv.w.stride;
    let reads = TapReads::new(conv, spans, g, k);
    for run in strip.runs() {
        let Some((to, lo, hi)) = reads.of(conv, run) else {
            continue;
        };
        let src = &row[run.lane + lo..run.lane + hi];
        if stride == 1 {
            for (d, s) in dx[to..to + src.len()].iter_mut().zip(src) {
                *d += *s;
            }
        } else if !src.is_empty() {
            let dx = &mut dx[to..to + (src.len() - 1) * stride + 1];
            for (i, s) in src.iter().enumerate() {
                dx[i * stride] += *s;
            }
        }
    }
}

/// The packed left operands and results of a register block, for blocks
/// of 6, 4 and 1 rows (the paths that share the micro-kernel run one of
/// the three through [`with_block!`](super::with_block)).
pub(super) struct Blocks<T> {
    pub(super) a6: [[T; MR]; KC],
    pub(super) a4: [[T; 4]; KC],
    pub(super) a1: [[T; 1]; KC],
    pub(super) out6: [[T; NC]; MR],
    pub(super) out4: [[T; NC]; 4],
    pub(super) out1: [[T; NC]; 1],
}

impl<T: Float> Blocks<T> {
    pub(super) fn new() -> Self {
        Self {
            a6: [[T::ZERO; MR]; KC],
            a4: [[T::ZERO; 4]; KC],
            a1: [[T::ZERO; 1]; KC],
            out6: [[T::ZERO; NC]; MR],
            out4: [[T::ZERO; NC]; 4],
            out1: [[T::ZERO; NC]; 1],
        }
    }
}

/// The stack buffers of one call, zeroed once.
struct Scratch<T> {
    spans: Spans,
    strip: Strip,
    /// A chunk of im2col rows (forward, weight gradient) or of output
    /// gradient rows (input gradient).
    rows: [[T; NC]; KC],
    blocks: Blocks<T>,
}

impl<T: Float> Scratch<T> {
    fn new(conv: &Conv) -> Self {
        Self {
            spans: Spans::new(conv),
            strip: Strip::EMPTY,
            rows: [[T::ZERO; NC]; KC],
            blocks: Blocks::new(),
        }
    }
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
    let plane = conv.out_plane();
    let positions = x.len() / conv.x_row() * plane;
    let s = &mut Scratch::<T>::new(conv);
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            let len = NC.min(positions - n0);
            s.strip.set(conv, n0, len);
            for k0 in (0..k_n).step_by(KC) {
                let kc = KC.min(k_n - k0);
                // A pointwise strip inside one example reads its input
                // planes where they are: row `k` of its im2col matrix is
                // the strip's positions in input channel `k`. The last
                // panel's lanes past the strip read on into the next
                // plane (computed, then dropped by the scatter), so only
                // when that stays inside `x`.
                let (ex, p0) = (n0 / plane, n0 % plane);
                let first = ex * conv.x_row() + (g * conv.c_in_per_group + k0) * plane + p0;
                let direct = conv.same_plane()
                    && p0 + len <= plane
                    && first + (kc - 1) * plane + s.strip.panels() * NR <= x.len();
                let b = if direct {
                    (&x[first..], plane)
                } else {
                    pack_cols(conv, &s.spans, x, g, &s.strip, k0, &mut s.rows[..kc]);
                    (s.rows[..kc].as_flattened(), NC)
                };
                let mut m0 = 0;
                while m0 < m_n {
                    let at = Block {
                        o0: g * m_n + m0,
                        k0,
                        k_n,
                    };
                    let rows_n = block_rows(m_n - m0);
                    super::with_block!(rows_n, s.blocks, |R, _a, out| {
                        forward_block::<T, R, FMA>(conv, weight, bias, &s.strip, b, kc, at, out, y)
                    });
                    m0 += rows_n;
                }
            }
        }
    }
}

/// Where a forward block is: output channels from `o0`, taps from `k0`, of
/// `k_n` per output channel.
#[derive(Clone, Copy)]
struct Block {
    o0: usize,
    k0: usize,
    k_n: usize,
}

/// Output channels `o0..o0 + R` of one strip and tap chunk of `kc` taps,
/// their im2col rows in `b` (see [`tile_rows`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_block<T: Float, const R: usize, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    strip: &Strip,
    b: (&[T], usize),
    kc: usize,
    at: Block,
    out: &mut [[T; NC]; R],
    y: &mut [T],
) {
    let o0 = at.o0;
    let rows: [&[T]; R] = core::array::from_fn(|m| &weight[(o0 + m) * at.k_n + at.k0..][..kc]);
    for (m, out) in out.iter_mut().enumerate() {
        if at.k0 == 0 {
            out.fill(bias.map_or(T::ZERO, |b| b[o0 + m]));
        } else {
            strip.gather(conv, y, o0 + m, out);
        }
    }
    for p in 0..strip.panels() {
        let mut acc: [[T; NR]; R] = core::array::from_fn(|m| out[m].as_chunks::<NR>().0[p]);
        tile_rows::<T, R, FMA>(rows, b, p, &mut acc);
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
    let s = &mut Scratch::<T>::new(conv);
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            s.strip.set(conv, n0, NC.min(positions - n0));
            for m0 in (0..m_n).step_by(KC) {
                let mc = KC.min(m_n - m0);
                for (m, row) in s.rows[..mc].iter_mut().enumerate() {
                    let o = g * m_n + m0 + m;
                    s.strip.gather(conv, dy, o, row);
                    if let Some(db) = dbias.as_deref_mut() {
                        db[o] += super::sum(&row[..s.strip.len]);
                    }
                }
                let (o0, mut k) = (g * m_n + m0, 0);
                while k < k_n {
                    let at = Block { o0, k0: k, k_n };
                    let dys = &s.rows[..mc];
                    let rows_n = block_rows(k_n - k);
                    super::with_block!(rows_n, s.blocks, |R, a, out| input_block::<T, R, FMA>(
                        conv, weight, &s.spans, &s.strip, dys, g, at, a, out, dx
                    ));
                    k += rows_n;
                }
            }
        }
    }
}

/// Taps `k0..k0 + R` of the input gradient of one strip, from output
/// channels `o0..o0 + dys.len()`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn input_block<T: Float, const R: usize, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    spans: &Spans,
    strip: &Strip,
    dys: &[[T; NC]],
    g: usize,
    at: Block,
    a: &mut [[T; R]; KC],
    out: &mut [[T; NC]; R],
    dx: &mut [T],
) {
    let a = &mut a[..dys.len()];
    for (r, a) in a.iter_mut().enumerate() {
        a.copy_from_slice(&weight[(at.o0 + r) * at.k_n + at.k0..][..R]);
    }
    for p in 0..strip.panels() {
        let mut acc = [[T::ZERO; NR]; R];
        tile::<T, R, FMA>(a, dys, p, &mut acc);
        for m in 0..R {
            out[m].as_chunks_mut::<NR>().0[p] = acc[m];
        }
    }
    for (i, row) in out.iter().enumerate() {
        scatter_cols_add(conv, spans, dx, g, strip, at.k0 + i, row);
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
    let s = &mut Scratch::<T>::new(conv);
    let mut row = [T::ZERO; NC];
    let mut dyt = [[T::ZERO; NC]; NC];
    for g in 0..conv.groups {
        for n0 in (0..positions).step_by(NC) {
            s.strip.set(conv, n0, NC.min(positions - n0));
            let len = s.strip.len;
            for m0 in (0..m_n).step_by(NC) {
                let mc = NC.min(m_n - m0);
                // dyt[n][j]: output channel m0 + j at the strip's position
                // n, for the panels the tiles read (zero past `mc`): a
                // layer of 16 output channels transposes 16 columns, not 64.
                for j in 0..mc.div_ceil(NR) * NR {
                    if j < mc {
                        s.strip.gather(conv, dy, g * m_n + m0 + j, &mut row);
                    } else {
                        row.fill(T::ZERO);
                    }
                    for (n, d) in dyt[..len].iter_mut().enumerate() {
                        d[j] = row[n];
                    }
                }
                for k0 in (0..k_n).step_by(KC) {
                    let kc = KC.min(k_n - k0);
                    pack_cols(conv, &s.spans, x, g, &s.strip, k0, &mut s.rows[..kc]);
                    let mut k = 0;
                    while k < kc {
                        let at = Grad {
                            g,
                            m_n,
                            m0,
                            mc,
                            k_n,
                            k: k0 + k,
                        };
                        let rows_n = block_rows(kc - k);
                        let cols = &s.rows[k..k + rows_n];
                        let dyt = &dyt[..len];
                        super::with_block!(
                            rows_n,
                            s.blocks,
                            |R, _a, _out| weight_block::<T, R, FMA>(cols, dyt, at, dweight)
                        );
                        k += rows_n;
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

/// `dweight[o][k + i] += Σ_n cols[i][n] * dyt[n][o]` for the block's taps,
/// each tap's value broadcast from its im2col row ([`tile_rows`]): an
/// interleaved copy of the rows per strip cost as many stores as the block
/// had multiply-adds' cycles.
#[inline(always)]
fn weight_block<T: Float, const R: usize, const FMA: bool>(
    cols: &[[T; NC]],
    dyt: &[[T; NC]],
    at: Grad,
    dweight: &mut [T],
) {
    let len = dyt.len();
    let rows: [&[T]; R] = core::array::from_fn(|i| &cols[i][..len]);
    let o0 = at.g * at.m_n + at.m0;
    add_weight_block::<T, R, FMA>(rows, dyt, (o0, at.mc, at.k), at.k_n, dweight);
}

/// `dweight[o0 + j][k + i] += Σ_n rows[i][n] * dyt[n][j]` for output
/// channels `o0..o0 + mc` (of `k_n` weights each), each tap's value
/// broadcast from its row ([`tile_rows`]), the positions in order.
#[inline(always)]
pub(super) fn add_weight_block<T: Float, const R: usize, const FMA: bool>(
    rows: [&[T]; R],
    dyt: &[[T; NC]],
    (o0, mc, k): (usize, usize, usize),
    k_n: usize,
    dweight: &mut [T],
) {
    for p in 0..mc.div_ceil(NR) {
        let mut acc = [[T::ZERO; NR]; R];
        tile_rows::<T, R, FMA>(rows, (dyt.as_flattened(), NC), p, &mut acc);
        for j in 0..NR.min(mc - p * NR) {
            let o = o0 + p * NR + j;
            for (i, acc) in acc.iter().enumerate() {
                dweight[o * k_n + k + i] += acc[j];
            }
        }
    }
}
