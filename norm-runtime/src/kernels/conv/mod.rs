//! Convolution, 1-d and 2-d, forward and backward, as `torch.nn.Conv1d` and
//! `Conv2d` with `padding_mode = "zeros"`.
//!
//! A batch is a slice of rows, a row channel-major as PyTorch's `(N, C, L)` /
//! `(N, C, H, W)`: `[[T; L]; C]` and `[[[T; W]; H]; C]`. The weight has
//! PyTorch's layout `[C_OUT][C_IN_PER_GROUP][K]` /
//! `[C_OUT][C_IN_PER_GROUP][KH][KW]`, the bias is optional.
//!
//! The geometry is in const generics, checked at compile time: the input
//! channels are `GROUPS * C_IN_PER_GROUP` (stable Rust cannot compute
//! `C_IN / GROUPS` in a type, so the quotient is its own parameter), the
//! output channels a multiple of `GROUPS`, and output channel `o` reads the
//! input channels of group `o / (C_OUT / GROUPS)`. Only the left (top)
//! padding is a parameter: the output length implies the right (bottom) one,
//! [`conv_out_len`](super::window::conv_out_len) gives the output length for
//! a padding and [`same_padding`](super::window::same_padding) PyTorch's
//! `"same"`. An output length shorter than zero right padding allows is a
//! compile error.
//!
//! How it runs (the geometry decides, never the batch, so an example gets
//! the same bits alone or in a batch of any size):
//!
//! - `lanes` (those of eight channels or more whose padded plane fits its
//!   buffer: forward passes of strided or short-row layers, backward passes
//!   without a channel multiplier) and `stencil` (the rest): output
//!   channels that each read one input channel
//!   (depthwise, with a channel multiplier under 4), eight channels to a
//!   vector over an interleaved, zero-padded copy of their planes, or as
//!   per-channel stencils over a zero-padded copy of the plane;
//! - `wide` (kxk forward passes, the input gradients of stride-1 ones
//!   as the forward pass of `dy` with transposed, flipped weights, and the
//!   weight gradients of maps of two strips of positions or more): the
//!   register-blocked micro-kernel reading straight from a zero-padded copy
//!   of the example, every tap a fixed offset from a position;
//! - `gemm`: everything else (other weight gradients, 1x1 convolutions, strided
//!   input gradients, inputs too large for the copy) as a matrix
//!   product over the im2col matrix, built a strip of positions at a time on
//!   the stack, through the same micro-kernel.
//!
//! Every path runs the copy compiled for AVX2 + FMA when the CPU has it (fused
//! multiply-adds) and the portable copy otherwise. A forward output is the
//! bias, then every tap in order (input channel, kernel row, kernel column),
//! one multiply-add each; the gradients sum over output channels, taps and
//! positions in an order the modules give. Nothing is allocated: the
//! buffers are on the stack, about 170 KiB of `f32` at most (340 KiB of
//! `f64`: the lanes' backward pass, dispatched in a function of its own;
//! the wide path's padded copy and gathered weights take 125 KiB),
//! whatever the layer. The unit tests check every path, portable
//! and fused, against the convolution written as its formula.

mod dots;
mod gemm;
mod lanes;
mod stencil;
mod wide;

#[cfg(test)]
mod tests;

use super::dispatch::dispatched;
use super::window::Axis;
use super::{check_backward, check_forward};
use crate::{Float, NormError, Row};

/// A convolution's geometry, from an entry point's const generics.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Conv {
    c_out: usize,
    groups: usize,
    c_in_per_group: usize,
    /// The height axis (a single point for 1-d).
    h: Axis,
    /// The width (1-d: length) axis.
    w: Axis,
}

impl Conv {
    /// Checks the channel counts and builds the geometry (in const context,
    /// so a mismatch is a compile error).
    const fn new(
        c_in: usize,
        c_out: usize,
        groups: usize,
        c_in_per_group: usize,
        h: Axis,
        w: Axis,
    ) -> Self {
        assert!(groups >= 1, "GROUPS must be at least 1");
        assert!(
            c_in == groups * c_in_per_group,
            "C_IN must be GROUPS * C_IN_PER_GROUP"
        );
        assert!(
            c_out.is_multiple_of(groups),
            "C_OUT must be a multiple of GROUPS"
        );
        Self {
            c_out,
            groups,
            c_in_per_group,
            h,
            w,
        }
    }

    /// Values of one input channel.
    fn in_plane(&self) -> usize {
        self.h.len * self.w.len
    }

    /// Values of one output channel.
    fn out_plane(&self) -> usize {
        self.h.out * self.w.out
    }

    /// Values of one example's input.
    fn x_row(&self) -> usize {
        self.groups * self.c_in_per_group * self.in_plane()
    }

    /// Values of one example's output.
    fn y_row(&self) -> usize {
        self.c_out * self.out_plane()
    }

    /// Output channels per group.
    fn m_per_group(&self) -> usize {
        self.c_out / self.groups
    }

    /// Whether each output reads the input at its own position only (1x1,
    /// stride 1, no padding), so the planes coincide.
    fn same_plane(&self) -> bool {
        let same = |a: &Axis| a.kernel == 1 && a.stride == 1 && a.pad == 0 && a.out == a.len;
        same(&self.h) && same(&self.w)
    }

    /// Weights per output channel: input channels of its group times taps.
    fn k_per_group(&self) -> usize {
        self.c_in_per_group * self.h.kernel * self.w.kernel
    }
}

/// Along one axis, the padded positions the outputs read (from the first
/// padding position to the last position read) and how many input
/// positions are among them: what a padded copy must hold.
fn reads(a: Axis) -> (usize, usize) {
    let reach = (a.out - 1) * a.stride + (a.kernel - 1) * a.dilation + 1;
    (reach, a.len.min(reach.saturating_sub(a.pad)))
}

/// `dst.copy_from_slice(src)` for the short runs of small maps (a row of 5
/// values of KWS's 25x5 planes, a strip's run of a 6x6 map): eight, four,
/// then one value at a time, inline. `copy_from_slice` of a length known
/// only at run time calls the C library's `memmove`, whose call costs more
/// than such a copy: 20% of KWS's time at batch 1 went to those calls
/// (perf). Longer runs still take `copy_from_slice`.
#[inline(always)]
pub(super) fn copy_run<T: Copy>(dst: &mut [T], src: &[T]) {
    assert_eq!(dst.len(), src.len(), "copy_run: lengths differ");
    if dst.len() > 32 {
        dst.copy_from_slice(src);
        return;
    }
    let (d8, dst) = dst.as_chunks_mut::<8>();
    let (s8, src) = src.as_chunks::<8>();
    for (d, s) in d8.iter_mut().zip(s8) {
        *d = *s;
    }
    let (d4, dst) = dst.as_chunks_mut::<4>();
    let (s4, src) = src.as_chunks::<4>();
    if let (Some(d), Some(s)) = (d4.first_mut(), s4.first()) {
        *d = *s;
    }
    // At most three left: a pair and a value, spelled out, so that no loop
    // is turned back into a call to `memmove`.
    let (d2, dst) = dst.as_chunks_mut::<2>();
    let (s2, src) = src.as_chunks::<2>();
    if let (Some(d), Some(s)) = (d2.first_mut(), s2.first()) {
        *d = *s;
    }
    if let (Some(d), Some(s)) = (dst.first_mut(), src.first()) {
        *d = *s;
    }
}

/// `dst[j] = src[j * stride]` for every `j` of `dst` (`src` reaching at
/// least `(dst.len() - 1) * stride + 1` values): a copy for stride 1, and
/// for stride 2 pairs, which the compiler shuffles eight at a time (a
/// stride-2 stem's im2col rows and phase planes are such reads).
#[inline(always)]
fn copy_every<T: Copy>(dst: &mut [T], src: &[T], stride: usize) {
    match stride {
        1 => copy_run(dst, &src[..dst.len()]),
        2 => {
            let (pairs, last) = src.as_chunks::<2>();
            let (dst, rest) = dst.split_at_mut(dst.len().min(pairs.len()));
            for (d, pair) in dst.iter_mut().zip(pairs) {
                *d = pair[0];
            }
            if let Some(d) = rest.first_mut() {
                *d = last[0];
            }
        }
        _ => {
            for (j, d) in dst.iter_mut().enumerate() {
                *d = src[j * stride];
            }
        }
    }
}

/// Copies input lines into their column phases (`axis` the width): input
/// column `iw < cols`, padded column `c = iw + pad`, goes to phase `c %
/// stride` at `c / stride` of that phase's line, which starts at
/// `phase_start(q)` for the first of `lines` and `r * step` further for the
/// `r`-th. With stride 1 the one phase is the padded line itself. The
/// phases are worked out once per plane rather than once per line (a
/// division or two each, which on a 25x5 plane cost as much as the copies).
#[inline(always)]
fn split_plane<'x, T: Copy + 'x>(
    axis: Axis,
    lines: impl Iterator<Item = &'x [T]> + Clone,
    cols: usize,
    dst: &mut [T],
    step: usize,
    phase_start: impl Fn(usize) -> usize,
) {
    each_phase(axis, cols, phase_start, |iw0, to, n| {
        for (r, line) in lines.clone().enumerate() {
            copy_every(&mut dst[to + r * step..][..n], &line[iw0..], axis.stride);
        }
    });
}

/// One phase along an axis: the input positions `first, first + stride,
/// ...` (`count` of them) go to positions `to, to + 1, ...` of the phase's
/// lines (columns) or of its plane (rows).
#[derive(Clone, Copy, Debug)]
struct Phase {
    first: usize,
    to: usize,
    count: usize,
}

/// Phase `q` of an axis of which `used` input positions are copied: padded
/// position `c = i + pad` goes to phase `c % stride` at `c / stride`
/// (`None` for a phase no copied position reaches, or `q >= stride`).
#[inline(always)]
fn phase(axis: Axis, q: usize, used: usize) -> Option<Phase> {
    let (s, pad) = (axis.stride, axis.pad);
    let first = (q + s - pad % s) % s;
    (q < s && first < used).then(|| Phase {
        first,
        to: (first + pad) / s,
        count: (used - first).div_ceil(s),
    })
}

/// For each column phase holding some of `cols` input columns: its first
/// input column, where it goes in the phase lines, and how many columns.
#[inline(always)]
fn each_phase(
    axis: Axis,
    cols: usize,
    phase_start: impl Fn(usize) -> usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    for q in 0..axis.stride {
        if let Some(p) = phase(axis, q, cols) {
            f(p.first, phase_start(q) + p.to, p.count);
        }
    }
}

/// One axis of a convolution, checked: an output no shorter than zero
/// padding on the right gives (PyTorch has no negative padding).
const fn conv_axis(axis: Axis) -> Axis {
    let span = axis.dilation * (axis.kernel - 1) + 1;
    let padded = axis.len + axis.pad;
    assert!(
        padded < span || axis.out > (padded - span) / axis.stride,
        "the output is shorter than zero right padding gives"
    );
    axis
}

/// The forward pass over a flat batch, by the path that takes the geometry.
#[inline(always)]
fn forward_flat<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    if lanes::takes(conv) {
        lanes::forward::<T, FMA>(conv, weight, bias, x, y);
    } else if stencil::takes(conv) {
        stencil::forward::<T, FMA>(conv, weight, bias, x, y);
    } else if dots::takes(conv) {
        dots::forward::<T, FMA>(conv, weight, bias, x, y);
    } else if wide::takes(conv) {
        wide::forward::<T, FMA>(conv, weight, bias, x, y);
    } else {
        gemm::forward::<T, FMA>(conv, weight, bias, x, y);
    }
}

/// The backward pass over a flat batch, by the path that takes the
/// geometry.
#[inline(always)]
fn backward_flat<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
) {
    if stencil::takes(conv) {
        stencil::backward::<T, FMA>(conv, weight, x, dy, dx, dweight, dbias);
        return;
    }
    if wide::takes_backward(conv) {
        wide::backward_input::<T, FMA>(conv, weight, dy, dx);
        if let Some(dbias) = dbias {
            bias_grad(conv, dy, dbias);
        }
    } else {
        gemm::backward_input::<T, FMA>(conv, weight, dy, dx, dbias);
    }
    if wide::takes_weight(conv) {
        wide::backward_weight::<T, FMA>(conv, x, dy, dweight);
    } else {
        gemm::backward_weight::<T, FMA>(conv, x, dy, dweight);
    }
}

/// `dbias[o] += Σ dy[n][o][..]`, example by example.
fn bias_grad<T: Float>(conv: &Conv, dy: &[T], dbias: &mut [T]) {
    for dy in dy.chunks_exact(conv.y_row()) {
        for (db, plane) in dbias.iter_mut().zip(dy.chunks_exact(conv.out_plane())) {
            *db += sum(plane);
        }
    }
}

/// The values added in order: a bias gradient's terms.
#[inline(always)]
fn sum<T: Float>(values: &[T]) -> T {
    let mut sum = T::ZERO;
    for v in values {
        sum += *v;
    }
    sum
}

/// Runs `$call` with `$rows` (6, 4 or anything else: 1) as the const `$r`,
/// `$a` and `$out` the block buffers of that size in `$blocks` (a
/// `gemm::Blocks`): the three instances of a register-blocked step.
macro_rules! with_block {
    ($rows:expr, $blocks:expr, |$r:ident, $a:ident, $out:ident| $call:expr) => {
        match $rows {
            6 => {
                const $r: usize = 6;
                let ($a, $out) = (&mut $blocks.a6, &mut $blocks.out6);
                $call
            }
            4 => {
                const $r: usize = 4;
                let ($a, $out) = (&mut $blocks.a4, &mut $blocks.out4);
                $call
            }
            _ => {
                const $r: usize = 1;
                let ($a, $out) = (&mut $blocks.a1, &mut $blocks.out1);
                $call
            }
        }
    };
}
use with_block;

dispatched! {
    /// [`forward_flat`], compiled for AVX2 + FMA where the CPU has them.
    fn forward_dispatched[T: Float](
        conv: &Conv,
        weight: &[T],
        bias: Option<&[T]>,
        x: &[T],
        y: &mut [T],
    ) = forward_flat::<T>, portable below CONV_DISPATCH_MIN_VALUES;
}

dispatched! {
    /// [`backward_flat`], compiled for AVX2 + FMA where the CPU has them.
    #[allow(clippy::too_many_arguments)]
    fn backward_dispatched[T: Float](
        conv: &Conv,
        weight: &[T],
        x: &[T],
        dy: &[T],
        dx: &mut [T],
        dweight: &mut [T],
        dbias: Option<&mut [T]>,
    ) = backward_flat::<T>, portable below CONV_DISPATCH_MIN_VALUES;
}

/// The backward pass over a flat batch: [`lanes::backward`] where it takes
/// the geometry, else [`backward_flat`], each dispatched in a function of
/// its own. Inlined into one, the paths' stack buffers add up in a debug
/// build's frame (the lanes' take 170 KiB of `f32`): past a 2 MiB test
/// thread in `tests/cnn_fixture.rs`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn backward_any<T: Float>(
    values: usize,
    conv: &Conv,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
) {
    if lanes::takes_backward(conv) {
        lanes_backward_dispatched::<T>(values, conv, weight, x, dy, dx, dweight, dbias);
    } else {
        backward_dispatched::<T>(values, conv, weight, x, dy, dx, dweight, dbias);
    }
}

/// [`lanes::backward`], under a name the dispatch can call.
#[inline(always)]
fn lanes_backward<T: Float, const FMA: bool>(
    conv: &Conv,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
) {
    lanes::backward::<T, FMA>(conv, weight, x, dy, dx, dweight, dbias);
}

dispatched! {
    /// [`lanes::backward`], compiled for AVX2 + FMA where the CPU has them.
    #[allow(clippy::too_many_arguments)]
    fn lanes_backward_dispatched[T: Float](
        conv: &Conv,
        weight: &[T],
        x: &[T],
        dy: &[T],
        dx: &mut [T],
        dweight: &mut [T],
        dbias: Option<&mut [T]>,
    ) = lanes_backward::<T>, portable below CONV_DISPATCH_MIN_VALUES;
}

/// Every convolution is dispatched: the choice must not depend on the batch
/// size, or an example would get other bits in a batch than alone.
const CONV_DISPATCH_MIN_VALUES: usize = 0;

/// A batch of 1-d rows as one flat slice.
#[inline(always)]
fn flat2<T, const A: usize, const B: usize>(x: &[[[T; A]; B]]) -> &[T] {
    x.as_flattened().as_flattened()
}

/// A batch of 1-d rows as one flat mutable slice.
#[inline(always)]
fn flat2_mut<T, const A: usize, const B: usize>(x: &mut [[[T; A]; B]]) -> &mut [T] {
    x.as_flattened_mut().as_flattened_mut()
}

/// A batch of 2-d rows as one flat slice.
#[inline(always)]
fn flat3<T, const A: usize, const B: usize, const C: usize>(x: &[[[[T; A]; B]; C]]) -> &[T] {
    x.as_flattened().as_flattened().as_flattened()
}

/// A batch of 2-d rows as one flat mutable slice.
#[inline(always)]
fn flat3_mut<T, const A: usize, const B: usize, const C: usize>(
    x: &mut [[[[T; A]; B]; C]],
) -> &mut [T] {
    x.as_flattened_mut().as_flattened_mut().as_flattened_mut()
}

/// The public forward and backward pass of each dimensionality: its const
/// generics, row and weight types, the line lengths of its rows (input,
/// output) and its geometry.
macro_rules! conv_entry_points {
    ($(
        $(#[$doc:meta])*
        $forward:ident, $backward:ident, [$($generics:tt)*],
        x = $x:ty, y = $y:ty, weight = $weight:ty, flat = [$flat:ident, $flat_mut:ident],
        geometry = $geometry:expr;
    )*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
        /// [`NormError::EmptyBatch`] if `x` is empty; `y` is untouched then.
        #[inline]
        pub fn $forward<T: Float, $($generics)*>(
            weight: &$weight,
            bias: Option<&[T; C_OUT]>,
            x: &[$x],
            y: &mut [$y],
        ) -> Result<(), NormError> {
            let conv = const { $geometry };
            check_forward(x.len(), y.len())?;
            let bias = bias.map(|b| b.as_slice());
            forward_dispatched::<T>(x.len(), &conv, weight.as_flat(), bias, $flat(x), $flat_mut(y));
            Ok(())
        }

        #[doc = concat!("Backward pass of [`", stringify!($forward), "`], same geometry.")]
        ///
        /// Writes the gradient with respect to `x` into `dx` and adds (`+=`)
        /// those of the weight and, if the layer has one (`Some`), the bias
        /// to `dweight` and `dbias`.
        ///
        /// # Errors
        /// [`NormError::RowCountMismatch`] if `dy` or `dx` has a different
        /// number of rows than `x`; nothing is written then.
        #[inline]
        pub fn $backward<T: Float, $($generics)*>(
            weight: &$weight,
            x: &[$x],
            dy: &[$y],
            dx: &mut [$x],
            dweight: &mut $weight,
            mut dbias: Option<&mut [T; C_OUT]>,
        ) -> Result<(), NormError> {
            let conv = const { $geometry };
            check_backward(x.len(), x.len(), dy.len(), dx.len())?;
            backward_any::<T>(
                x.len(),
                &conv,
                weight.as_flat(),
                $flat(x),
                $flat(dy),
                $flat_mut(dx),
                dweight.as_flat_mut(),
                dbias.as_deref_mut().map(|b| b.as_mut_slice()),
            );
            Ok(())
        }
    )*};
}

conv_entry_points! {
    /// 1-d convolution, `torch.nn.Conv1d(C_IN, C_OUT, K, STRIDE, PAD,
    /// DILATION, GROUPS, bias)`: `y[n][o][t] = bias[o] + sum over the input
    /// channels c of o's group and j in 0..K of weight[o][c'][j] *
    /// x[n][c][t * STRIDE + j * DILATION - PAD]`, where `c'` is `c`'s index in
    /// its group and `x` is zero outside `0..L`.
    ///
    /// Geometry (see the [module docs](self)): `C_IN` input channels in
    /// `GROUPS` groups of `C_IN_PER_GROUP`, `C_OUT` output channels, input
    /// length `L`, output length `OUT_L` (which implies the right padding),
    /// kernel `K`, `STRIDE`, left padding `PAD`, `DILATION`.
    conv1d_forward, conv1d_backward,
        [const C_IN: usize, const C_OUT: usize, const GROUPS: usize, const C_IN_PER_GROUP: usize,
         const L: usize, const OUT_L: usize, const K: usize, const STRIDE: usize, const PAD: usize,
         const DILATION: usize],
        x = [[T; L]; C_IN], y = [[T; OUT_L]; C_OUT], weight = [[[T; K]; C_IN_PER_GROUP]; C_OUT],
        flat = [flat2, flat2_mut],
        geometry = Conv::new(C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, Axis::POINT,
            conv_axis(Axis::new(L, OUT_L, K, STRIDE, PAD, DILATION)));
    /// 2-d convolution, `torch.nn.Conv2d(C_IN, C_OUT, (KH, KW), (STRIDE_H,
    /// STRIDE_W), (PAD_TOP, PAD_LEFT), (DILATION_H, DILATION_W), GROUPS,
    /// bias)`: `y[n][o][r][s] = bias[o] + sum over the input channels c of
    /// o's group, i in 0..KH and j in 0..KW of weight[o][c'][i][j] *
    /// x[n][c][r * STRIDE_H + i * DILATION_H - PAD_TOP][s * STRIDE_W + j *
    /// DILATION_W - PAD_LEFT]`, where `c'` is `c`'s index in its group and `x`
    /// is zero outside the `H x W` input.
    ///
    /// Geometry (see the [module docs](self)): `C_IN` input channels in
    /// `GROUPS` groups of `C_IN_PER_GROUP`, `C_OUT` output channels, input
    /// `H x W`, output `OUT_H x OUT_W` (which imply the bottom and right
    /// padding), kernel `KH x KW`, strides, top and left padding, dilations.
    conv2d_forward, conv2d_backward,
        [const C_IN: usize, const C_OUT: usize, const GROUPS: usize, const C_IN_PER_GROUP: usize,
         const H: usize, const W: usize, const OUT_H: usize, const OUT_W: usize,
         const KH: usize, const KW: usize, const STRIDE_H: usize, const STRIDE_W: usize,
         const PAD_TOP: usize, const PAD_LEFT: usize, const DILATION_H: usize,
         const DILATION_W: usize],
        x = [[[T; W]; H]; C_IN], y = [[[T; OUT_W]; OUT_H]; C_OUT],
        weight = [[[[T; KW]; KH]; C_IN_PER_GROUP]; C_OUT], flat = [flat3, flat3_mut],
        geometry = Conv::new(C_IN, C_OUT, GROUPS, C_IN_PER_GROUP,
            conv_axis(Axis::new(H, OUT_H, KH, STRIDE_H, PAD_TOP, DILATION_H)),
            conv_axis(Axis::new(W, OUT_W, KW, STRIDE_W, PAD_LEFT, DILATION_W)));
}
