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
//! A direct convolution: for each weight tap, a multiply-add along output
//! lines, so the inner loop walks the output contiguously (and the input with
//! the stride). Sums run in the layer's own type, in the order bias, input
//! channel, kernel row, kernel column.

use super::window::{Axis, Span};
use super::{check_backward, check_forward, reduce};
use crate::{Float, NormError, Row};

/// A convolution's geometry, from an entry point's const generics.
#[derive(Clone, Copy, Debug)]
struct Conv {
    c_out: usize,
    groups: usize,
    c_in_per_group: usize,
    /// The height axis (a single point for 1-d).
    h: Axis,
    /// The width (1-d: length) axis.
    w: Axis,
}

/// One weight tap along one output line: the flat weight index `weight`,
/// output line `out_line` (of the `C_OUT * OUT_H` lines of a row) at the
/// outputs `cols.lo..cols.hi`, which read input line `in_line` (of the
/// `C_IN * H`) from `cols.first` on, every `w.stride`.
#[derive(Clone, Copy, Debug)]
struct Tap {
    weight: usize,
    out_line: usize,
    in_line: usize,
    cols: Span,
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

    /// Calls `f` for every weight tap and output line it touches inside the
    /// input: output channel, input channel of its group, kernel row, kernel
    /// column, output row, in that order.
    #[inline(always)]
    fn each_tap(&self, mut f: impl FnMut(Tap)) {
        let per_group = self.c_out / self.groups;
        for o in 0..self.c_out {
            let first_channel = o / per_group * self.c_in_per_group;
            for ci in 0..self.c_in_per_group {
                let in_plane = (first_channel + ci) * self.h.len;
                let taps = (o * self.c_in_per_group + ci) * self.h.kernel;
                for kh in 0..self.h.kernel {
                    let rows = self.h.outputs_of_tap(kh);
                    for kw in 0..self.w.kernel {
                        let cols = self.w.outputs_of_tap(kw);
                        if cols.count() == 0 {
                            continue;
                        }
                        let weight = (taps + kh) * self.w.kernel + kw;
                        for (i, oh) in (rows.lo..rows.hi).enumerate() {
                            f(Tap {
                                weight,
                                out_line: o * self.h.out + oh,
                                in_line: in_plane + rows.first + i * self.h.stride,
                                cols,
                            });
                        }
                    }
                }
            }
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

/// The inputs a tap reads, one per output of `cols`.
#[inline(always)]
fn strided<T>(line: &[T], cols: Span, stride: usize) -> impl Iterator<Item = &T> {
    line[cols.first..].iter().step_by(stride)
}

/// Forward pass of one row (flat `x`, `y`, weight).
#[inline(always)]
fn forward_row<T: Float, const W: usize, const OUT_W: usize>(
    conv: &Conv,
    weight: &[T],
    bias: Option<&[T]>,
    x: &[T],
    y: &mut [T],
) {
    match bias {
        Some(bias) => {
            for (plane, b) in y.chunks_exact_mut(conv.h.out * OUT_W).zip(bias) {
                plane.fill(*b);
            }
        }
        None => y.fill(T::ZERO),
    }
    let (x, _) = x.as_chunks::<W>();
    let (y, _) = y.as_chunks_mut::<OUT_W>();
    conv.each_tap(|tap| {
        let w = weight[tap.weight];
        let xs = strided(&x[tap.in_line], tap.cols, conv.w.stride);
        for (y, x) in y[tap.out_line][tap.cols.lo..tap.cols.hi].iter_mut().zip(xs) {
            *y += w * *x;
        }
    });
}

/// Backward pass of one row: writes `dx`, adds to `dweight` and `dbias`.
#[inline(always)]
fn backward_row<T: Float, const W: usize, const OUT_W: usize>(
    conv: &Conv,
    weight: &[T],
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    dweight: &mut [T],
    dbias: Option<&mut [T]>,
) {
    if let Some(dbias) = dbias {
        for (db, plane) in dbias.iter_mut().zip(dy.chunks_exact(conv.h.out * OUT_W)) {
            let [sum] = reduce::sums::<T, 1, false>(plane.len(), |i| [plane[i]]);
            *db += sum;
        }
    }
    dx.fill(T::ZERO);
    let (x, _) = x.as_chunks::<W>();
    let (dy, _) = dy.as_chunks::<OUT_W>();
    let (dx, _) = dx.as_chunks_mut::<W>();
    let stride = conv.w.stride;
    conv.each_tap(|tap| {
        let dys = &dy[tap.out_line][tap.cols.lo..tap.cols.hi];
        let w = weight[tap.weight];
        let dxs = dx[tap.in_line][tap.cols.first..].iter_mut().step_by(stride);
        for (dx, dy) in dxs.zip(dys) {
            *dx += w * *dy;
        }
        let mut dot = T::ZERO;
        for (x, dy) in strided(&x[tap.in_line], tap.cols, stride).zip(dys) {
            dot += *x * *dy;
        }
        dweight[tap.weight] += dot;
    });
}

/// The public forward and backward pass of each dimensionality: its const
/// generics, row and weight types, the line lengths of its rows (input,
/// output) and its geometry.
macro_rules! conv_entry_points {
    ($(
        $(#[$doc:meta])*
        $forward:ident, $backward:ident, [$($generics:tt)*],
        x = $x:ty, y = $y:ty, weight = $weight:ty, lines = [$w:ident, $out_w:ident],
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
            for (x, y) in x.iter().zip(y) {
                forward_row::<T, $w, $out_w>(&conv, weight.as_flat(), bias, x.as_flat(), y.as_flat_mut());
            }
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
            for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
                backward_row::<T, $w, $out_w>(
                    &conv,
                    weight.as_flat(),
                    x.as_flat(),
                    dy.as_flat(),
                    dx.as_flat_mut(),
                    dweight.as_flat_mut(),
                    dbias.as_deref_mut().map(|b| b.as_mut_slice()),
                );
            }
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
        lines = [L, OUT_L],
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
        weight = [[[[T; KW]; KH]; C_IN_PER_GROUP]; C_OUT], lines = [W, OUT_W],
        geometry = Conv::new(C_IN, C_OUT, GROUPS, C_IN_PER_GROUP,
            conv_axis(Axis::new(H, OUT_H, KH, STRIDE_H, PAD_TOP, DILATION_H)),
            conv_axis(Axis::new(W, OUT_W, KW, STRIDE_W, PAD_LEFT, DILATION_W)));
}
