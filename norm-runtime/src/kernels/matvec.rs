//! Matrix-vector products for one example at a time (recurrent cells,
//! attention): `y = W x + b`, and its backward `dx += Wᵀ d`, `dW += d xᵀ`,
//! with `W` as rows `[T; N]` in PyTorch's `(out, in)` layout.

use super::dispatch::dispatched;
use super::gemm;
use super::reduce::madd;
use crate::Float;

/// `w · x` with eight independent accumulators (lane `k` takes the values
/// `i % 8 == k`); with `FMA`, fused multiply-adds. The order of the sums is
/// fixed by the code either way.
#[inline(always)]
fn dot_with<T: Float, const N: usize, const FMA: bool>(w: &[T; N], x: &[T; N]) -> T {
    dot_slices::<T, FMA>(w, x)
}

/// [`dot_with`] over slices of one length (the convolutions' depthwise
/// weight gradients, whose lines are sized at run time).
#[inline(always)]
pub(crate) fn dot_slices<T: Float, const FMA: bool>(w: &[T], x: &[T]) -> T {
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

/// [`affine_backward_batch`]'s arithmetic for small layers: example by
/// example for `dx`, row by row for `gw`.
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

/// Whether a scalar is four bytes wide: the register blocks of
/// [`gemm`] take twice as many `f64` registers.
const fn narrow<T>() -> bool {
    core::mem::size_of::<T>() <= 4
}

/// [`affine_batch`]'s arithmetic for large layers, in register blocks
/// (the same bits as [`affine_rows`] example by example).
// Inlined into each copy `dispatched!` compiles: called, it would run
// without the copy's target features (its `mul_add` a library call).
#[inline(always)]
fn batch_forward_blocks<T: Float, const IN: usize, const OUT: usize, const FMA: bool>(
    w: &[[T; IN]; OUT],
    b: &[T; OUT],
    x: &[[T; IN]],
    y: &mut [[T; OUT]],
) {
    if narrow::<T>() {
        gemm::forward::<T, IN, OUT, 4, 3, FMA>(w, b, x, y);
    } else {
        gemm::forward::<T, IN, OUT, 2, 3, FMA>(w, b, x, y);
    }
}

dispatched! {
    /// [`batch_forward_blocks`], dispatched by size.
    fn batch_forward_dispatched[T: Float, const IN: usize, const OUT: usize](
        w: &[[T; IN]; OUT],
        b: &[T; OUT],
        x: &[[T; IN]],
        y: &mut [[T; OUT]],
    ) = batch_forward_blocks::<T, IN, OUT>, portable below MATVEC_DISPATCH_MIN_VALUES;
}

/// `y[n] = w x[n] + b` for every example `n` of `x` (a `Linear` layer's
/// forward pass): the same bits as [`affine`] example by example, but
/// layers of at least 1024 weights run as a blocked matrix-matrix product
/// (several examples and weight rows per block, so each value loaded
/// feeds several multiply-adds).
///
/// # Panics
/// If `y` does not have a row per row of `x`.
#[inline]
pub fn affine_batch<T: Float, const IN: usize, const OUT: usize>(
    w: &[[T; IN]; OUT],
    b: &[T; OUT],
    x: &[[T; IN]],
    y: &mut [[T; OUT]],
) {
    assert!(
        y.len() == x.len(),
        "affine_batch: `y` needs a row per row of `x`"
    );
    if IN * OUT < MATVEC_DISPATCH_MIN_VALUES {
        for (x, y) in x.iter().zip(y) {
            affine_rows::<T, IN, false>(w, b, x, y);
        }
    } else {
        batch_forward_dispatched::<T, IN, OUT>(IN * OUT, w, b, x, y);
    }
}

/// [`affine_backward_batch`]'s arithmetic for large layers, in register
/// blocks (the same bits as [`batch_backward_rows`]).
// Inlined into each copy `dispatched!` compiles: called, it would run
// without the copy's target features (its `mul_add` a library call).
#[inline(always)]
fn batch_backward_blocks<T: Float, const IN: usize, const OUT: usize, const FMA: bool>(
    w: &[[T; IN]; OUT],
    x: &[[T; IN]],
    dy: &[[T; OUT]],
    dx: &mut [[T; IN]],
    gw: &mut [[T; IN]; OUT],
    gb: &mut [T; OUT],
) {
    if narrow::<T>() {
        gemm::backward::<T, IN, OUT, 6, 6, 16, FMA>(w, x, dy, dx, gw, gb);
    } else {
        gemm::backward::<T, IN, OUT, 4, 4, 8, FMA>(w, x, dy, dx, gw, gb);
    }
}

dispatched! {
    /// [`batch_backward_blocks`], dispatched by size.
    fn batch_backward_dispatched[T: Float, const IN: usize, const OUT: usize](
        w: &[[T; IN]; OUT],
        x: &[[T; IN]],
        dy: &[[T; OUT]],
        dx: &mut [[T; IN]],
        gw: &mut [[T; IN]; OUT],
        gb: &mut [T; OUT],
    ) = batch_backward_blocks::<T, IN, OUT>, portable below MATVEC_DISPATCH_MIN_VALUES;
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
    if IN * OUT < MATVEC_DISPATCH_MIN_VALUES {
        batch_backward_rows::<T, IN, OUT, false>(w, x, dy, dx, gw, gb);
    } else {
        batch_backward_dispatched::<T, IN, OUT>(IN * OUT, w, x, dy, dx, gw, gb);
    }
}

#[cfg(test)]
mod tests {
    //! The blocked batch code against the row-by-row code (the same bits,
    //! with and without fused multiply-adds, whichever CPU runs the test)
    //! and against sums in `f64` (within the error bound of any order of
    //! summation), at sizes that are not multiples of any block, batches
    //! below and above a block and a chunk of the weight gradient.
    use super::*;

    /// Deterministic values in about ±2 with varied magnitudes.
    fn value(k: usize) -> f64 {
        let k = k as f64;
        (k * 0.7548776662).fract() * 4.0 - 2.0 + (k * 1.3).sin() * 1e-3
    }

    fn rows<T: Float, const N: usize>(n: usize, seed: usize) -> Vec<[T; N]> {
        (0..n)
            .map(|r| core::array::from_fn(|i| T::from_f64(value(seed + r * N + i))))
            .collect()
    }

    /// `|a - b| <= 2 n eps Σ|terms|` (plus the smallest normal), the
    /// bound on the error of a sum of `n` products in any order, with
    /// room for the reference's own rounding.
    fn assert_within<T: Float>(ours: T, reference: f64, abs_sum: f64, n: usize, what: &str) {
        let eps = if core::mem::size_of::<T>() == 4 {
            f64::from(f32::EPSILON)
        } else {
            f64::EPSILON
        };
        let bound = 2.0 * (n as f64 + 1.0) * eps * abs_sum + 1e-300;
        let err = (ours.to_f64() - reference).abs();
        assert!(
            err <= bound,
            "{what}: {} vs {reference} (error {err:e}, bound {bound:e})",
            ours.to_f64()
        );
    }

    fn check<T: Float, const IN: usize, const OUT: usize, const FMA: bool>(batch: usize) {
        let w: [[T; IN]; OUT] = rows::<T, IN>(OUT, 1).try_into().unwrap();
        let b: [T; OUT] = core::array::from_fn(|o| T::from_f64(value(7 + o)));
        let x = rows::<T, IN>(batch, 1000);
        let dy = rows::<T, OUT>(batch, 5000);
        let what = |s: &str| format!("{s} {}x{IN}->{OUT} batch {batch} fma {FMA}", T::NAME);

        // Forward: the bits of the row code, and near the f64 sums.
        let mut y = vec![[T::ZERO; OUT]; batch];
        batch_forward_blocks::<T, IN, OUT, FMA>(&w, &b, &x, &mut y);
        for (n, (x, y)) in x.iter().zip(&y).enumerate() {
            for o in 0..OUT {
                let row = dot_with::<T, IN, FMA>(&w[o], x) + b[o];
                assert_eq!(
                    y[o].to_f64().to_bits(),
                    row.to_f64().to_bits(),
                    "{}",
                    what("y")
                );
                let terms = (0..IN).map(|i| w[o][i].to_f64() * x[i].to_f64());
                let exact = terms.clone().sum::<f64>() + b[o].to_f64();
                let abs = terms.map(f64::abs).sum::<f64>() + b[o].to_f64().abs();
                assert_within(y[o], exact, abs, IN + 1, &what(&format!("y[{n}][{o}]")));
            }
        }

        // Backward, onto gradients that already hold a value (they
        // accumulate): the bits of the row code, and near the f64 sums.
        let start: [[T; IN]; OUT] = rows::<T, IN>(OUT, 9000).try_into().unwrap();
        let gb0: [T; OUT] = core::array::from_fn(|o| T::from_f64(value(300 + o)));
        let (mut dx, mut gw, mut gb) = (vec![[T::ONE; IN]; batch], start, gb0);
        batch_backward_blocks::<T, IN, OUT, FMA>(&w, &x, &dy, &mut dx, &mut gw, &mut gb);
        let (mut dx_rows, mut gw_rows, mut gb_rows) = (vec![[T::ONE; IN]; batch], start, gb0);
        batch_backward_rows::<T, IN, OUT, FMA>(
            &w,
            &x,
            &dy,
            &mut dx_rows,
            &mut gw_rows,
            &mut gb_rows,
        );
        let bits = |v: &[T]| v.iter().map(|v| v.to_f64().to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(dx.as_flattened()),
            bits(dx_rows.as_flattened()),
            "{}",
            what("dx")
        );
        assert_eq!(
            bits(gw.as_flattened()),
            bits(gw_rows.as_flattened()),
            "{}",
            what("gw")
        );
        assert_eq!(bits(&gb), bits(&gb_rows), "{}", what("gb"));
        for n in 0..batch {
            for i in 0..IN {
                let terms = (0..OUT).map(|o| dy[n][o].to_f64() * w[o][i].to_f64());
                let abs = terms.clone().map(f64::abs).sum();
                assert_within(dx[n][i], terms.sum(), abs, OUT, &what("dx"));
            }
        }
        for o in 0..OUT {
            for i in 0..IN {
                let terms = (0..batch).map(|n| dy[n][o].to_f64() * x[n][i].to_f64());
                let abs = terms.clone().map(f64::abs).sum::<f64>() + start[o][i].to_f64().abs();
                let exact = terms.sum::<f64>() + start[o][i].to_f64();
                assert_within(gw[o][i], exact, abs, batch + 1, &what("gw"));
            }
            let terms = (0..batch).map(|n| dy[n][o].to_f64());
            let abs = terms.clone().map(f64::abs).sum::<f64>() + gb0[o].to_f64().abs();
            assert_within(
                gb[o],
                terms.sum::<f64>() + gb0[o].to_f64(),
                abs,
                batch + 1,
                &what("gb"),
            );
        }
    }

    macro_rules! sizes {
        ($($in:literal x $out:literal),*) => {
            $(
                for batch in [1, 3, 4, 5, 7, 33, 70] {
                    check::<f32, $in, $out, false>(batch);
                    check::<f32, $in, $out, true>(batch);
                    check::<f64, $in, $out, false>(batch);
                    check::<f64, $in, $out, true>(batch);
                }
            )*
        };
    }

    /// Sizes around every block: examples (4, 2 for `f64`), weight rows
    /// (3), strips of inputs (16 and 8 `f32`, 8 `f64`, then one), rows of
    /// the weight gradient (6), chunks of examples (32).
    #[test]
    fn blocked_batches_are_the_row_code_and_near_exact_sums() {
        sizes!(1 x 1, 7 x 5, 9 x 13, 17 x 4, 24 x 7, 33 x 3, 40 x 16, 70 x 11);
    }

    /// Through the public entry points, which pick the blocked code at
    /// 1024 weights and more and the row code below: the same bits as
    /// [`affine`] and [`affine_backward`] example by example (whichever
    /// copy the CPU runs, both sides run the same one).
    #[test]
    fn public_batch_entry_points_are_example_by_example() {
        fn one<const IN: usize, const OUT: usize>(batch: usize) {
            let w: [[f32; IN]; OUT] = rows::<f32, IN>(OUT, 3).try_into().unwrap();
            let b: [f32; OUT] = core::array::from_fn(|o| value(11 + o) as f32);
            let x = rows::<f32, IN>(batch, 100);
            let dy = rows::<f32, OUT>(batch, 700);
            let mut y = vec![[0.0; OUT]; batch];
            affine_batch(&w, &b, &x, &mut y);
            let (mut dx, mut gw, mut gb) = (vec![[0.0; IN]; batch], [[0.0; IN]; OUT], [0.0; OUT]);
            affine_backward_batch(&w, &x, &dy, &mut dx, &mut gw, &mut gb);
            let (mut gw_rows, mut gb_rows) = ([[0.0; IN]; OUT], [0.0; OUT]);
            for n in 0..batch {
                let mut row = [0.0; OUT];
                affine(&w, &b, &x[n], &mut row);
                assert_eq!(
                    row.map(f32::to_bits),
                    y[n].map(f32::to_bits),
                    "y {IN}->{OUT}"
                );
                let mut dx_row = [0.0; IN];
                affine_backward(&w, &x[n], &dy[n], &mut dx_row, &mut gw_rows, &mut gb_rows);
                assert_eq!(
                    dx_row.map(f32::to_bits),
                    dx[n].map(f32::to_bits),
                    "dx {IN}->{OUT}"
                );
            }
            assert_eq!(gw_rows.as_flattened(), gw.as_flattened(), "gw {IN}->{OUT}");
            assert_eq!(gb_rows, gb, "gb {IN}->{OUT}");
        }
        for batch in [1, 5, 64, 67] {
            one::<31, 33>(batch); // 1023 weights: the row code
            one::<32, 32>(batch); // 1024: the blocked code
            one::<37, 29>(batch);
            one::<64, 256>(batch);
        }
    }
}
