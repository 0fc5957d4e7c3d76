//! Pooling, 1-d and 2-d, forward and backward, as PyTorch's `MaxPool1d` /
//! `MaxPool2d`, `AvgPool1d` / `AvgPool2d` and the global (output size 1)
//! `AdaptiveAvgPool*d` / `AdaptiveMaxPool*d`.
//!
//! Rows are channel-major as PyTorch's `(N, C, L)` / `(N, C, H, W)`:
//! `[[T; L]; C]` and `[[[T; W]; H]; C]`; each channel is pooled on its own.
//! The geometry is in const generics and checked at compile time: kernel,
//! stride and dilation at least 1, padding (the same on both sides) at most
//! half the kernel, and an output length that [`pool_out_len`] gives with or
//! without `ceil_mode`. The output length is all the kernels need of
//! `ceil_mode`: a window that runs past the right padding just reads fewer
//! positions.
//!
//! - Max pools pad with -inf. Each output is its window's maximum, the first
//!   in window order (row-major) among equal values; a NaN wins (the last
//!   one), as in PyTorch. Backward routes each output's gradient to that
//!   position, summed where windows overlap; it finds the positions again
//!   from `x`, so nothing is saved. A window with no position inside the
//!   input (possible only when the dilation exceeds the input) gives -inf
//!   and no gradient.
//! - Average pools divide the window's sum by PyTorch's divisor, both in
//!   [`Float::Acc`] (`f64`), so an `f32` mean carries about one rounding
//!   of its own type, not one per position (a global pool's window is the
//!   whole channel). With `COUNT_INCLUDE_PAD` the divisor is the window clipped to
//!   the padded input `[-pad, len + pad)` (positions past the right padding,
//!   from `ceil_mode`, do not count); without, the positions inside the
//!   input. Backward gives each of those positions the output's gradient
//!   divided by the same divisor.
//! - The global pools are the max or the mean over all positions of a
//!   channel; their output keeps the spatial axes with size 1, as PyTorch's.

use super::window::{Axis, Span, pool_out_len};
use super::{Acc, check_backward, check_forward};
use crate::{Float, NormError, Row};

/// A pool's geometry, from an entry point's const generics.
#[derive(Clone, Copy, Debug)]
struct Pool {
    channels: usize,
    /// The height axis (a single point for 1-d).
    h: Axis,
    /// The width (1-d: length) axis.
    w: Axis,
}

/// One output and its window: output line `out_line` (of the `C * OUT_H` of
/// a row) at column `col`; the window's input lines `rows` (of the `C * H`,
/// every `h.dilation`) and columns `cols` (every `w.dilation`) inside the
/// input; and its output row and column, `oh` and `col`.
#[derive(Clone, Copy, Debug)]
struct Window {
    out_line: usize,
    oh: usize,
    col: usize,
    rows: Span,
    cols: Span,
}

impl Pool {
    /// Whether both axes are a window of 2 at stride 2, without padding or
    /// dilation, and every window lies inside the input.
    const fn is_plain_2x2(&self) -> bool {
        const fn plain(a: &Axis) -> bool {
            a.kernel == 2 && a.stride == 2 && a.pad == 0 && a.dilation == 1 && 2 * a.out <= a.len
        }
        plain(&self.h) && plain(&self.w)
    }

    /// Calls `f` for every output of a row, in memory order.
    #[inline(always)]
    fn each_window(&self, mut f: impl FnMut(Window)) {
        for c in 0..self.channels {
            for oh in 0..self.h.out {
                let mut rows = self.h.taps_of_output(oh);
                rows.first += c * self.h.len;
                for col in 0..self.w.out {
                    f(Window {
                        out_line: c * self.h.out + oh,
                        oh,
                        col,
                        rows,
                        cols: self.w.taps_of_output(col),
                    });
                }
            }
        }
    }

    /// The input positions of a window inside the input, row-major, as
    /// (line, column).
    #[inline(always)]
    fn positions(&self, win: Window) -> impl Iterator<Item = (usize, usize)> {
        let (h, w) = (self.h.dilation, self.w.dilation);
        (0..win.rows.count()).flat_map(move |i| {
            let line = win.rows.first + i * h;
            (0..win.cols.count()).map(move |j| (line, win.cols.first + j * w))
        })
    }
}

/// One axis of a pool, checked: padding at most half the kernel, and an
/// output length PyTorch gives with or without `ceil_mode`.
const fn pool_axis(axis: Axis) -> Axis {
    assert!(
        axis.out == out_len(axis, false) || axis.out == out_len(axis, true),
        "the output length must be pool_out_len(..) with or without ceil_mode"
    );
    axis
}

/// [`pool_out_len`] of an axis's input, kernel, stride, padding and dilation.
const fn out_len(axis: Axis, ceil_mode: bool) -> usize {
    pool_out_len(
        axis.len,
        axis.kernel,
        axis.stride,
        axis.pad,
        axis.dilation,
        ceil_mode,
    )
}

/// Whether `v` is NaN (`Float` has no `is_nan`).
#[inline(always)]
fn is_nan<T: Float>(v: T) -> bool {
    v.partial_cmp(&v).is_none()
}

/// What a pool does with a window, forward and backward.
trait Reduce {
    /// Whether this is the maximum (which has a fast path for 2x2 windows).
    const MAX: bool = false;

    /// The output of a window of `x` (the lines of a row).
    fn output<T: Float, const W: usize>(pool: &Pool, x: &[[T; W]], win: Window) -> T;

    /// Adds the share of the window's output gradient `dy` to each of its
    /// inputs in `dx`.
    fn route<T: Float, const W: usize>(
        pool: &Pool,
        x: &[[T; W]],
        win: Window,
        dy: T,
        dx: &mut [[T; W]],
    );
}

/// Forward pass of one row (flat `x` and `y`).
#[inline(always)]
fn forward_row<R: Reduce, T: Float, const W: usize, const OUT_W: usize>(
    pool: &Pool,
    x: &[T],
    y: &mut [T],
) {
    let (x, _) = x.as_chunks::<W>();
    let (y, _) = y.as_chunks_mut::<OUT_W>();
    if R::MAX && pool.is_plain_2x2() {
        max_2x2(pool, x, y);
        return;
    }
    pool.each_window(|win| y[win.out_line][win.col] = R::output(pool, x, win));
}

/// `MaxPool2d(2)` without padding or dilation, every window inside the
/// input: each output the maximum of its four inputs in PyTorch's window
/// order and rule (`v > max || isnan(v)`), without the general window walk.
#[inline(always)]
fn max_2x2<T: Float, const W: usize, const OUT_W: usize>(
    pool: &Pool,
    x: &[[T; W]],
    y: &mut [[T; OUT_W]],
) {
    let (h, out_h) = (pool.h.len, pool.h.out);
    for (line, y) in y.iter_mut().enumerate() {
        let (c, oh) = (line / out_h, line % out_h);
        let (a, b) = (&x[c * h + 2 * oh], &x[c * h + 2 * oh + 1]);
        for (ow, y) in y.iter_mut().enumerate() {
            let mut max = a[2 * ow];
            for v in [a[2 * ow + 1], b[2 * ow], b[2 * ow + 1]] {
                if v > max || is_nan(v) {
                    max = v;
                }
            }
            *y = max;
        }
    }
}

/// Backward pass of one row: writes `dx`.
#[inline(always)]
fn backward_row<R: Reduce, T: Float, const W: usize, const OUT_W: usize>(
    pool: &Pool,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
) {
    dx.fill(T::ZERO);
    let (x, _) = x.as_chunks::<W>();
    let (dy, _) = dy.as_chunks::<OUT_W>();
    let (dx, _) = dx.as_chunks_mut::<W>();
    pool.each_window(|win| R::route(pool, x, win, dy[win.out_line][win.col], dx));
}

/// The maximum, routing the gradient to its position.
struct Max;

/// The mean with PyTorch's divisor (see the module docs).
struct Avg<const COUNT_INCLUDE_PAD: bool>;

impl Max {
    /// The position (line, column) of the window's maximum as PyTorch picks
    /// it, `val > max || isnan(val)` in window order: the first of equal
    /// values, but the last NaN.
    #[inline(always)]
    fn argmax<T: Float, const W: usize>(
        pool: &Pool,
        x: &[[T; W]],
        win: Window,
    ) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize, T)> = None;
        for (line, col) in pool.positions(win) {
            let v = x[line][col];
            if best.is_none_or(|(_, _, max)| v > max || is_nan(v)) {
                best = Some((line, col, v));
            }
        }
        best.map(|(line, col, _)| (line, col))
    }
}

impl Reduce for Max {
    const MAX: bool = true;

    #[inline(always)]
    fn output<T: Float, const W: usize>(pool: &Pool, x: &[[T; W]], win: Window) -> T {
        Self::argmax(pool, x, win)
            .map_or(T::from_f64(f64::NEG_INFINITY), |(line, col)| x[line][col])
    }

    #[inline(always)]
    fn route<T: Float, const W: usize>(
        pool: &Pool,
        x: &[[T; W]],
        win: Window,
        dy: T,
        dx: &mut [[T; W]],
    ) {
        if let Some((line, col)) = Self::argmax(pool, x, win) {
            dx[line][col] += dy;
        }
    }
}

impl<const COUNT_INCLUDE_PAD: bool> Avg<COUNT_INCLUDE_PAD> {
    /// PyTorch's divisor of a window; 0 for a window with no position inside
    /// the input, whose output PyTorch leaves 0.
    #[inline(always)]
    fn divisor(pool: &Pool, win: Window) -> usize {
        let inside = win.rows.count() * win.cols.count();
        if COUNT_INCLUDE_PAD && inside > 0 {
            pool.h.window_in_padded(win.oh) * pool.w.window_in_padded(win.col)
        } else {
            inside
        }
    }
}

impl<const COUNT_INCLUDE_PAD: bool> Reduce for Avg<COUNT_INCLUDE_PAD> {
    #[inline(always)]
    fn output<T: Float, const W: usize>(pool: &Pool, x: &[[T; W]], win: Window) -> T {
        let divisor = Self::divisor(pool, win);
        if divisor == 0 {
            return T::ZERO;
        }
        let mut sum = <Acc<T>>::ZERO;
        for (line, col) in pool.positions(win) {
            sum += x[line][col].to_acc();
        }
        T::from_acc(sum / <Acc<T>>::from_usize(divisor))
    }

    #[inline(always)]
    fn route<T: Float, const W: usize>(
        pool: &Pool,
        _x: &[[T; W]],
        win: Window,
        dy: T,
        dx: &mut [[T; W]],
    ) {
        let divisor = Self::divisor(pool, win);
        if divisor > 0 {
            let share = dy / T::from_usize(divisor);
            for (line, col) in pool.positions(win) {
                dx[line][col] += share;
            }
        }
    }
}

/// The public forward and backward pass of each pool: its const generics,
/// row types, the line lengths of its rows (input, output), its geometry and
/// what it does with a window.
macro_rules! pool_entry_points {
    ($(
        $(#[$doc:meta])*
        $forward:ident, $backward:ident, [$($generics:tt)*], x = $x:ty, y = $y:ty,
        lines = [$w:ident, $out_w:expr], geometry = $geometry:expr, reduce = $reduce:ty;
    )*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// [`NormError::RowCountMismatch`] if `y.len() != x.len()`,
        /// [`NormError::EmptyBatch`] if `x` is empty; `y` is untouched then.
        #[inline]
        pub fn $forward<T: Float, $($generics)*>(x: &[$x], y: &mut [$y]) -> Result<(), NormError> {
            let pool = const { $geometry };
            check_forward(x.len(), y.len())?;
            for (x, y) in x.iter().zip(y) {
                forward_row::<$reduce, T, $w, { $out_w }>(&pool, x.as_flat(), y.as_flat_mut());
            }
            Ok(())
        }

        #[doc = concat!("Backward pass of [`", stringify!($forward), "`], same geometry: writes the")]
        /// gradient with respect to `x` into `dx` (see the [module
        /// docs](self) for where each output's gradient goes). `x` is the
        /// forward pass's input (average pools read only its row count).
        ///
        /// # Errors
        /// [`NormError::RowCountMismatch`] if `dy` or `dx` has a different
        /// number of rows than `x`; nothing is written then.
        #[inline]
        pub fn $backward<T: Float, $($generics)*>(
            x: &[$x],
            dy: &[$y],
            dx: &mut [$x],
        ) -> Result<(), NormError> {
            let pool = const { $geometry };
            check_backward(x.len(), x.len(), dy.len(), dx.len())?;
            for ((x, dy), dx) in x.iter().zip(dy).zip(dx) {
                backward_row::<$reduce, T, $w, { $out_w }>(&pool, x.as_flat(), dy.as_flat(), dx.as_flat_mut());
            }
            Ok(())
        }
    )*};
}

pool_entry_points! {
    /// 1-d max pool, `torch.nn.MaxPool1d(K, STRIDE, PAD, DILATION,
    /// ceil_mode)` on `C` channels of length `L`: `y[n][c][t]` is the maximum
    /// of `x[n][c][t * STRIDE + j * DILATION - PAD]` over `j in 0..K`, padding
    /// -inf. `OUT_L` is [`pool_out_len`] with the layer's `ceil_mode`.
    max_pool1d_forward, max_pool1d_backward,
        [const C: usize, const L: usize, const OUT_L: usize, const K: usize,
         const STRIDE: usize, const PAD: usize, const DILATION: usize],
        x = [[T; L]; C], y = [[T; OUT_L]; C], lines = [L, OUT_L],
        geometry = Pool {
            channels: C,
            h: Axis::POINT,
            w: pool_axis(Axis::new(L, OUT_L, K, STRIDE, PAD, DILATION)),
        },
        reduce = Max;
    /// 2-d max pool, `torch.nn.MaxPool2d((KH, KW), (STRIDE_H, STRIDE_W),
    /// (PAD_H, PAD_W), (DILATION_H, DILATION_W), ceil_mode)` on `C` channels
    /// of `H x W`: the maximum of each window, padding -inf. `OUT_H` and
    /// `OUT_W` are [`pool_out_len`] with the layer's `ceil_mode`.
    max_pool2d_forward, max_pool2d_backward,
        [const C: usize, const H: usize, const W: usize, const OUT_H: usize, const OUT_W: usize,
         const KH: usize, const KW: usize, const STRIDE_H: usize, const STRIDE_W: usize,
         const PAD_H: usize, const PAD_W: usize, const DILATION_H: usize, const DILATION_W: usize],
        x = [[[T; W]; H]; C], y = [[[T; OUT_W]; OUT_H]; C], lines = [W, OUT_W],
        geometry = Pool {
            channels: C,
            h: pool_axis(Axis::new(H, OUT_H, KH, STRIDE_H, PAD_H, DILATION_H)),
            w: pool_axis(Axis::new(W, OUT_W, KW, STRIDE_W, PAD_W, DILATION_W)),
        },
        reduce = Max;
    /// 1-d average pool, `torch.nn.AvgPool1d(K, STRIDE, PAD, ceil_mode,
    /// COUNT_INCLUDE_PAD)` on `C` channels of length `L`: each window's sum
    /// over PyTorch's divisor (see the [module docs](self)). `OUT_L` is
    /// [`pool_out_len`] (dilation 1) with the layer's `ceil_mode`.
    avg_pool1d_forward, avg_pool1d_backward,
        [const C: usize, const L: usize, const OUT_L: usize, const K: usize,
         const STRIDE: usize, const PAD: usize, const COUNT_INCLUDE_PAD: bool],
        x = [[T; L]; C], y = [[T; OUT_L]; C], lines = [L, OUT_L],
        geometry = Pool {
            channels: C,
            h: Axis::POINT,
            w: pool_axis(Axis::new(L, OUT_L, K, STRIDE, PAD, 1)),
        },
        reduce = Avg<COUNT_INCLUDE_PAD>;
    /// 2-d average pool, `torch.nn.AvgPool2d((KH, KW), (STRIDE_H, STRIDE_W),
    /// (PAD_H, PAD_W), ceil_mode, COUNT_INCLUDE_PAD)` on `C` channels of
    /// `H x W` (`divisor_override = None`): each window's sum over PyTorch's
    /// divisor (see the [module docs](self)). `OUT_H` and `OUT_W` are
    /// [`pool_out_len`] (dilation 1) with the layer's `ceil_mode`.
    avg_pool2d_forward, avg_pool2d_backward,
        [const C: usize, const H: usize, const W: usize, const OUT_H: usize, const OUT_W: usize,
         const KH: usize, const KW: usize, const STRIDE_H: usize, const STRIDE_W: usize,
         const PAD_H: usize, const PAD_W: usize, const COUNT_INCLUDE_PAD: bool],
        x = [[[T; W]; H]; C], y = [[[T; OUT_W]; OUT_H]; C], lines = [W, OUT_W],
        geometry = Pool {
            channels: C,
            h: pool_axis(Axis::new(H, OUT_H, KH, STRIDE_H, PAD_H, 1)),
            w: pool_axis(Axis::new(W, OUT_W, KW, STRIDE_W, PAD_W, 1)),
        },
        reduce = Avg<COUNT_INCLUDE_PAD>;
    /// Global 1-d average pool, `torch.nn.AdaptiveAvgPool1d(1)`: the mean of
    /// each channel's `L` values, as `(N, C, 1)`.
    adaptive_avg_pool1d_forward, adaptive_avg_pool1d_backward,
        [const C: usize, const L: usize],
        x = [[T; L]; C], y = [[T; 1]; C], lines = [L, 1],
        geometry = Pool { channels: C, h: Axis::POINT, w: Axis::whole(L) },
        reduce = Avg<false>;
    /// Global 2-d average pool, `torch.nn.AdaptiveAvgPool2d((1, 1))`: the
    /// mean of each channel's `H x W` values, as `(N, C, 1, 1)`.
    adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward,
        [const C: usize, const H: usize, const W: usize],
        x = [[[T; W]; H]; C], y = [[[T; 1]; 1]; C], lines = [W, 1],
        geometry = Pool { channels: C, h: Axis::whole(H), w: Axis::whole(W) },
        reduce = Avg<false>;
    /// Global 1-d max pool, `torch.nn.AdaptiveMaxPool1d(1)`: the maximum of
    /// each channel's `L` values (the first of equal ones), as `(N, C, 1)`.
    adaptive_max_pool1d_forward, adaptive_max_pool1d_backward,
        [const C: usize, const L: usize],
        x = [[T; L]; C], y = [[T; 1]; C], lines = [L, 1],
        geometry = Pool { channels: C, h: Axis::POINT, w: Axis::whole(L) },
        reduce = Max;
    /// Global 2-d max pool, `torch.nn.AdaptiveMaxPool2d((1, 1))`: the maximum
    /// of each channel's `H x W` values (the first of equal ones, row-major),
    /// as `(N, C, 1, 1)`.
    adaptive_max_pool2d_forward, adaptive_max_pool2d_backward,
        [const C: usize, const H: usize, const W: usize],
        x = [[[T; W]; H]; C], y = [[[T; 1]; 1]; C], lines = [W, 1],
        geometry = Pool { channels: C, h: Axis::whole(H), w: Axis::whole(W) },
        reduce = Max;
}

#[cfg(test)]
mod tests {
    use super::{Axis, Max, Pool, Reduce, max_2x2};

    /// The 2x2 fast path gives the general window walk's values, bit for
    /// bit: ties, NaNs (the last NaN of a window wins in PyTorch's rule, and
    /// a NaN's payload shows which), infinities, odd sizes (a trailing row
    /// and column no window reads).
    #[test]
    fn max_2x2_is_the_general_walk() {
        const W: usize = 7;
        const OUT_W: usize = 3;
        let (c, h) = (3, 5);
        let pool = Pool {
            channels: c,
            h: Axis::new(h, 2, 2, 2, 0, 1),
            w: Axis::new(W, OUT_W, 2, 2, 0, 1),
        };
        assert!(pool.is_plain_2x2());
        let specials = [
            f32::NAN,
            f32::from_bits(0x7fc0_0001),
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            1.0,
            1.0,
        ];
        let mut s = 12345_u32;
        let x: Vec<[f32; W]> = (0..c * h)
            .map(|_| {
                core::array::from_fn(|_| {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    let i = (s >> 16) as usize;
                    if i.is_multiple_of(3) {
                        specials[i / 3 % specials.len()]
                    } else {
                        (i % 7) as f32 - 3.0
                    }
                })
            })
            .collect();
        let mut fast = vec![[0.0_f32; OUT_W]; c * 2];
        max_2x2(&pool, &x, &mut fast);
        let mut walk = vec![[0.0_f32; OUT_W]; c * 2];
        pool.each_window(|win| walk[win.out_line][win.col] = Max::output(&pool, &x, win));
        let bits =
            |y: &[[f32; OUT_W]]| -> Vec<u32> { y.iter().flatten().map(|v| v.to_bits()).collect() };
        assert_eq!(bits(&fast), bits(&walk));
        assert!(
            fast.iter().flatten().any(|v| v.is_nan()),
            "the data reach the NaN rule"
        );
    }
}
