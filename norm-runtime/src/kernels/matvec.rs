//! Matrix-vector products for one example at a time (recurrent cells,
//! attention): `y = W x + b`, and its backward `dx += Wᵀ d`, `dW += d xᵀ`,
//! with `W` as rows `[T; N]` in PyTorch's `(out, in)` layout.

use crate::Float;

/// `w · x` with four independent accumulators (so the compiler can keep
/// them in vector registers).
#[inline]
#[must_use]
pub fn dot<T: Float, const N: usize>(w: &[T; N], x: &[T; N]) -> T {
    let mut acc = [T::ZERO; 4];
    let (chunks, tail) = x.as_chunks::<4>();
    let (wchunks, wtail) = w.as_chunks::<4>();
    for (xc, wc) in chunks.iter().zip(wchunks) {
        for k in 0..4 {
            acc[k] += xc[k] * wc[k];
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (x, w) in tail.iter().zip(wtail) {
        sum += *x * *w;
    }
    sum
}

/// `y[r] = w[r] · x + b[r]` for every row `r` of `w` (`y` and `b` as long
/// as `w`).
#[inline]
pub fn affine<T: Float, const N: usize>(w: &[[T; N]], b: &[T], x: &[T; N], y: &mut [T]) {
    for ((y, w), b) in y.iter_mut().zip(w).zip(b) {
        *y = dot(w, x) + *b;
    }
}

/// The backward pass of [`affine`] for an upstream gradient `d` (one value
/// per row of `w`): `dx += wᵀ d`, `gw[r] += d[r] x`, `gb[r] += d[r]`.
#[inline]
pub fn affine_backward<T: Float, const N: usize>(
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
            *dx += d * *w;
            *gw += d * *x;
        }
        *gb += d;
    }
}
