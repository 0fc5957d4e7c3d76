//! Matrix-vector products for one example at a time (recurrent cells,
//! attention): `y = W x + b`, and its backward `dx += Wᵀ d`, `dW += d xᵀ`,
//! with `W` as rows `[T; N]` in PyTorch's `(out, in)` layout.

use super::dispatch::dispatched;
use super::reduce::madd;
use crate::Float;

/// `w · x` with eight independent accumulators (lane `k` takes the values
/// `i % 8 == k`); with `FMA`, fused multiply-adds. The order of the sums is
/// fixed by the code either way.
#[inline(always)]
fn dot_with<T: Float, const N: usize, const FMA: bool>(w: &[T; N], x: &[T; N]) -> T {
    let mut acc = [T::ZERO; 8];
    let (xc, xtail) = x.as_chunks::<8>();
    let (wc, wtail) = w.as_chunks::<8>();
    for (xc, wc) in xc.iter().zip(wc) {
        for k in 0..8 {
            acc[k] = madd::<T, FMA>(xc[k], wc[k], acc[k]);
        }
    }
    let mut sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, w) in xtail.iter().zip(wtail) {
        sum = madd::<T, FMA>(*x, *w, sum);
    }
    sum
}

/// `w · x`, the portable arithmetic of [`affine`].
#[inline]
#[must_use]
pub fn dot<T: Float, const N: usize>(w: &[T; N], x: &[T; N]) -> T {
    dot_with::<T, N, false>(w, x)
}

/// Matrices of fewer values than this (rows times inputs) run the
/// portable code inline; larger ones the copy compiled for AVX2 + FMA when
/// the CPU has them (picked at run time), whose fused multiply-adds change
/// the last bits. A streaming step and a whole-sequence pass call the same
/// code, so they agree bit for bit on any one machine.
pub(crate) const MATVEC_DISPATCH_MIN_VALUES: usize = 1024;

/// [`affine`]'s arithmetic. With `FMA` (only in the copy compiled for
/// AVX2 + FMA, so only on CPUs that have them) each row is one call of the
/// explicit vector code [`Float::dot8_fma`]: the compiler vectorizes the
/// portable loop across rows instead, gathering strided values, which ran
/// several times slower. Both give the same bits.
fn affine_rows<T: Float, const N: usize, const FMA: bool>(
    w: &[[T; N]],
    b: &[T],
    x: &[T; N],
    y: &mut [T],
) {
    if FMA {
        let (blocks, rest) = w.as_chunks::<4>();
        let (yb, y_rest) = y.as_chunks_mut::<4>();
        for ((w, y), b) in blocks.iter().zip(yb).zip(b.chunks_exact(4)) {
            let rows = [&w[0][..], &w[1][..], &w[2][..], &w[3][..]];
            // SAFETY: `FMA` is set only in the copy `dispatched!` compiles
            // for AVX2 + FMA and runs where the CPU has both.
            let dots = unsafe { T::dot8x4_fma(rows, x) };
            for k in 0..4 {
                y[k] = dots[k] + b[k];
            }
        }
        let b_rest = &b[blocks.len() * 4..];
        for ((y, w), b) in y_rest.iter_mut().zip(rest).zip(b_rest) {
            // SAFETY: as above.
            *y = unsafe { T::dot8_fma(w, x) } + *b;
        }
    } else {
        for ((y, w), b) in y.iter_mut().zip(w).zip(b) {
            *y = dot_with::<T, N, false>(w, x) + *b;
        }
    }
}

dispatched! {
    /// [`affine_rows`], dispatched by size.
    fn affine_dispatched[T: Float, const N: usize](w: &[[T; N]], b: &[T], x: &[T; N], y: &mut [T])
        = affine_rows::<T, N>, portable below MATVEC_DISPATCH_MIN_VALUES;
}

/// `y[r] = w[r] · x + b[r]` for every row `r` of `w`.
///
/// # Panics
/// If `b` or `y` is not as long as `w`.
#[inline]
pub fn affine<T: Float, const N: usize>(w: &[[T; N]], b: &[T], x: &[T; N], y: &mut [T]) {
    assert!(
        b.len() == w.len() && y.len() == w.len(),
        "affine: `b` and `y` need a value per row of `w`"
    );
    affine_dispatched::<T, N>(w.len() * N, w, b, x, y);
}

fn affine_backward_rows<T: Float, const N: usize, const FMA: bool>(
    w: &[[T; N]],
    x: &[T; N],
    d: &[T],
    dx: &mut [T; N],
    gw: &mut [[T; N]],
    gb: &mut [T],
) {
    for (((w, d), gw), gb) in w.iter().zip(d).zip(gw).zip(gb) {
        let d = *d;
        for ((dx, w), (gw, x)) in dx.iter_mut().zip(w).zip(gw.iter_mut().zip(x)) {
            *dx = madd::<T, FMA>(d, *w, *dx);
            *gw = madd::<T, FMA>(d, *x, *gw);
        }
        *gb += d;
    }
}

dispatched! {
    /// [`affine_backward_rows`], dispatched by size.
    fn affine_backward_dispatched[T: Float, const N: usize](
        w: &[[T; N]],
        x: &[T; N],
        d: &[T],
        dx: &mut [T; N],
        gw: &mut [[T; N]],
        gb: &mut [T],
    ) = affine_backward_rows::<T, N>, portable below MATVEC_DISPATCH_MIN_VALUES;
}

/// The backward pass of [`affine`] for an upstream gradient `d` (one value
/// per row of `w`): `dx += wᵀ d`, `gw[r] += d[r] x`, `gb[r] += d[r]`.
///
/// # Panics
/// If `d`, `gw` or `gb` is not as long as `w`.
#[inline]
pub fn affine_backward<T: Float, const N: usize>(
    w: &[[T; N]],
    x: &[T; N],
    d: &[T],
    dx: &mut [T; N],
    gw: &mut [[T; N]],
    gb: &mut [T],
) {
    assert!(
        d.len() == w.len() && gw.len() == w.len() && gb.len() == w.len(),
        "affine_backward: `d`, `gw` and `gb` need a value (row) per row of `w`"
    );
    affine_backward_dispatched::<T, N>(w.len() * N, w, x, d, dx, gw, gb);
}

/// `y += a x`, fused where `FMA`.
#[inline(always)]
fn axpy<T: Float, const FMA: bool>(a: T, x: &[T], y: &mut [T]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y = madd::<T, FMA>(a, *x, *y);
    }
}

fn batch_backward_rows<T: Float, const IN: usize, const OUT: usize, const FMA: bool>(
    w: &[[T; IN]; OUT],
    x: &[[T; IN]],
    dy: &[[T; OUT]],
    dx: &mut [[T; IN]],
    gw: &mut [[T; IN]; OUT],
    gb: &mut [T; OUT],
) {
    for (dy, dx) in dy.iter().zip(dx.iter_mut()) {
        *dx = [T::ZERO; IN];
        for (d, w) in dy.iter().zip(w) {
            axpy::<T, FMA>(*d, w, dx);
        }
    }
    for (r, (gw, gb)) in gw.iter_mut().zip(gb.iter_mut()).enumerate() {
        for (x, dy) in x.iter().zip(dy) {
            axpy::<T, FMA>(dy[r], x, gw);
            *gb += dy[r];
        }
    }
}

dispatched! {
    /// [`batch_backward_rows`], dispatched by size.
    fn batch_backward_dispatched[T: Float, const IN: usize, const OUT: usize](
        w: &[[T; IN]; OUT],
        x: &[[T; IN]],
        dy: &[[T; OUT]],
        dx: &mut [[T; IN]],
        gw: &mut [[T; IN]; OUT],
        gb: &mut [T; OUT],
    ) = batch_backward_rows::<T, IN, OUT>, portable below MATVEC_DISPATCH_MIN_VALUES;
}

/// The backward pass of [`affine`] over a batch (a `Linear` layer's):
/// `dx[n] = wᵀ dy[n]` (overwritten), `gw += Σₙ dy[n] x[n]ᵀ`, `gb += Σₙ
/// dy[n]`, for as many rows as `x` (`dy` and `dx` as long). Each value is
/// summed in the same order as [`affine_backward`] row by row would (over
/// the outputs for `dx`, over the batch for `gw` and `gb`), but the loops
/// run so that `dx[n]` and `gw[r]` stay in cache while the other operand
/// streams past: the weight gradient is written once per batch, not once
/// per example.
///
/// # Panics
/// If `dy` or `dx` does not have a row per row of `x`.
#[inline]
pub fn affine_backward_batch<T: Float, const IN: usize, const OUT: usize>(
    w: &[[T; IN]; OUT],
    x: &[[T; IN]],
    dy: &[[T; OUT]],
    dx: &mut [[T; IN]],
    gw: &mut [[T; IN]; OUT],
    gb: &mut [T; OUT],
) {
    assert!(
        dy.len() == x.len() && dx.len() == x.len(),
        "affine_backward_batch: `dy` and `dx` need a row per row of `x`"
    );
    batch_backward_dispatched::<T, IN, OUT>(IN * OUT, w, x, dy, dx, gw, gb);
}
