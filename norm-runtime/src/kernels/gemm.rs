//! Matrix-matrix products over a batch, for `Linear`'s large layers: the
//! forward `y = x Wᵀ + b`, and the backward `dx = dy W`, `gW += dyᵀ x`,
//! `gb += Σₙ dy[n]`, with `W` as rows `[T; IN]` in PyTorch's `(out, in)`
//! layout.
//!
//! Register blocks: each block keeps a few outputs of a few examples in
//! accumulators while it walks the shared operand once, so every value
//! loaded feeds several multiply-adds (the matrix-vector code of
//! [`matvec`](super::matvec) loads a weight for one multiply-add per
//! example). The sizes are the layer's constants and the operands fit in
//! the caches at the sizes this runs for, so the matrices are not packed;
//! the only scratch is a strip of inputs of [`GW_CHUNK`] examples copied to
//! the stack for the weight gradient (2 KiB), and nothing is allocated.
//!
//! Each output is summed in exactly the order of the row-by-row code of
//! [`matvec`](super::matvec): a forward output as [`dot`](super::matvec::dot)
//! does (eight lanes over the inputs, the lanes summed as a fixed tree, the
//! tail, then the bias), `dx[n][i]` over the outputs in order, `gW[o][i]`
//! and `gb[o]` over the batch in order. The blocking changes which values
//! are in registers together, never the operations on any one value, so
//! the results are the same bits as row by row, for any batch size and any
//! block shape. With `FMA` the multiply-adds are fused (only in the copy
//! compiled for AVX2 + FMA); the compiler turns each block's eight lanes,
//! or its strip of neighbouring inputs, into vector registers.

use super::reduce::madd;
use crate::Float;

/// Lanes of a forward accumulator: [`dot`](super::matvec::dot)'s eight.
const LANES: usize = 8;

/// The sum of a forward accumulator's lanes, in `dot`'s tree.
#[inline(always)]
fn lane_sum<T: Float>(a: [T; LANES]) -> T {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `out[n][o] = x[n] · w[o]` for a block of `NB` examples and `OB` rows of
/// the weight, in `dot`'s order.
#[inline(always)]
fn dot_block<T: Float, const IN: usize, const NB: usize, const OB: usize, const FMA: bool>(
    x: &[[T; IN]; NB],
    w: &[[T; IN]; OB],
) -> [[T; OB]; NB] {
    let mut acc = [[[T::ZERO; LANES]; OB]; NB];
    let full = IN - IN % LANES;
    for c in 0..IN / LANES {
        for n in 0..NB {
            let x = &x[n].as_chunks::<LANES>().0[c];
            for o in 0..OB {
                let w = &w[o].as_chunks::<LANES>().0[c];
                for k in 0..LANES {
                    acc[n][o][k] = madd::<T, FMA>(x[k], w[k], acc[n][o][k]);
                }
            }
        }
    }
    let mut out = [[T::ZERO; OB]; NB];
    for n in 0..NB {
        for o in 0..OB {
            let mut sum = lane_sum(acc[n][o]);
            for j in full..IN {
                sum = madd::<T, FMA>(x[n][j], w[o][j], sum);
            }
            out[n][o] = sum;
        }
    }
    out
}

/// Blocks of examples that [`forward`] takes through every weight row
/// together: their inputs (16 KiB for 16 examples of 256 `f32`) stay in the
/// first-level cache while the weights stream past.
const PANEL_BLOCKS: usize = 4;

/// `y[n][o] = x[n] · w[o] + b[o]` for the examples of `x` (blocks of `NB`),
/// a panel of [`PANEL_BLOCKS`] blocks at a time, `OB` weight rows at a time
/// (the rows past the last full block one at a time).
#[inline(always)]
fn forward_examples<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const OB: usize,
    const FMA: bool,
>(
    w: &[[T; IN]; OUT],
    b: &[T; OUT],
    x: &[[[T; IN]; NB]],
    y: &mut [[[T; OUT]; NB]],
) {
    let (wb, w_rest) = w.as_chunks::<OB>();
    for (x, y) in x.chunks(PANEL_BLOCKS).zip(y.chunks_mut(PANEL_BLOCKS)) {
        for (k, w) in wb.iter().enumerate() {
            for (x, y) in x.iter().zip(y.iter_mut()) {
                let dots = dot_block::<T, IN, NB, OB, FMA>(x, w);
                for n in 0..NB {
                    for o in 0..OB {
                        y[n][k * OB + o] = dots[n][o] + b[k * OB + o];
                    }
                }
            }
        }
        for (r, w) in w_rest.iter().enumerate() {
            let o = wb.len() * OB + r;
            for (x, y) in x.iter().zip(y.iter_mut()) {
                let dots = dot_block::<T, IN, NB, 1, FMA>(x, core::array::from_ref(w));
                for n in 0..NB {
                    y[n][o] = dots[n][0] + b[o];
                }
            }
        }
    }
}

/// `y = x Wᵀ + b` over a batch: blocks of `NB` examples, then the rest one
/// at a time.
#[inline(always)]
pub(super) fn forward<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const OB: usize,
    const FMA: bool,
>(
    w: &[[T; IN]; OUT],
    b: &[T; OUT],
    x: &[[T; IN]],
    y: &mut [[T; OUT]],
) {
    let (xb, x_rest) = x.as_chunks::<NB>();
    let (yb, y_rest) = y.as_chunks_mut::<NB>();
    forward_examples::<T, IN, OUT, NB, OB, FMA>(w, b, xb, yb);
    forward_examples::<T, IN, OUT, 1, OB, FMA>(
        w,
        b,
        x_rest.as_chunks::<1>().0,
        y_rest.as_chunks_mut::<1>().0,
    );
}

/// `dx[n][s J + j] = Σₒ dy[n][o] w[o][s J + j]` for `NB` examples and the
/// `J` inputs of strip `s`, summed over the outputs in order.
#[inline(always)]
fn dx_block<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const J: usize,
    const FMA: bool,
>(
    w: &[[T; IN]; OUT],
    dy: &[[T; OUT]; NB],
    dx: &mut [[T; IN]; NB],
    s: usize,
) {
    let mut acc = [[T::ZERO; J]; NB];
    for (o, w) in w.iter().enumerate() {
        let w = &w.as_chunks::<J>().0[s];
        for n in 0..NB {
            let d = dy[n][o];
            for j in 0..J {
                acc[n][j] = madd::<T, FMA>(d, w[j], acc[n][j]);
            }
        }
    }
    for n in 0..NB {
        dx[n].as_chunks_mut::<J>().0[s] = acc[n];
    }
}

/// [`dx_block`] over every input of `NB` examples: strips of `J` inputs,
/// then of `LANES`, then of one.
#[inline(always)]
fn dx_strips<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const J: usize,
    const FMA: bool,
>(
    w: &[[T; IN]; OUT],
    dy: &[[T; OUT]; NB],
    dx: &mut [[T; IN]; NB],
) {
    let (full, eights) = (IN - IN % J, IN - IN % LANES);
    for s in 0..IN / J {
        dx_block::<T, IN, OUT, NB, J, FMA>(w, dy, dx, s);
    }
    for s in full / LANES..eights / LANES {
        dx_block::<T, IN, OUT, NB, LANES, FMA>(w, dy, dx, s);
    }
    for i in eights..IN {
        dx_block::<T, IN, OUT, NB, 1, FMA>(w, dy, dx, i);
    }
}

/// Examples per pass of the weight gradient: their strip of inputs is
/// copied to the stack (contiguous, so the strided rows of `x` do not fight
/// over the same cache sets), and their rows of `dy` stay in the
/// first-level cache while every block of rows of `gw` takes them.
const GW_CHUNK: usize = 32;

/// `gw[r][s J + j] += Σₙ dy[n][o0 + r] xs[n][j]` for the `OB` rows from
/// `o0`, with `xs` the examples' strip `s` of inputs, summed over the
/// examples in order.
#[inline(always)]
fn gw_block<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const OB: usize,
    const J: usize,
    const FMA: bool,
>(
    xs: &[[T; J]],
    dy: &[[T; OUT]],
    gw: &mut [[T; IN]; OB],
    o0: usize,
    s: usize,
) {
    let mut acc = [[T::ZERO; J]; OB];
    for r in 0..OB {
        acc[r] = gw[r].as_chunks::<J>().0[s];
    }
    for (x, dy) in xs.iter().zip(dy) {
        for r in 0..OB {
            let d = dy[o0 + r];
            for j in 0..J {
                acc[r][j] = madd::<T, FMA>(d, x[j], acc[r][j]);
            }
        }
    }
    for r in 0..OB {
        gw[r].as_chunks_mut::<J>().0[s] = acc[r];
    }
}

/// [`gw_block`] for strip `s` of every row, for a chunk of at most
/// [`GW_CHUNK`] examples: the strip copied out, then blocks of `OB` rows,
/// then one row at a time.
#[inline(always)]
fn gw_strip<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const OB: usize,
    const J: usize,
    const FMA: bool,
>(
    x: &[[T; IN]],
    dy: &[[T; OUT]],
    gw: &mut [[T; IN]; OUT],
    s: usize,
) {
    let mut strip = [[T::ZERO; J]; GW_CHUNK];
    for (xs, x) in strip.iter_mut().zip(x) {
        *xs = x.as_chunks::<J>().0[s];
    }
    let xs = &strip[..x.len().min(GW_CHUNK)];
    let (gwb, gw_rest) = gw.as_chunks_mut::<OB>();
    let rest_from = gwb.len() * OB;
    for (k, gw) in gwb.iter_mut().enumerate() {
        gw_block::<T, IN, OUT, OB, J, FMA>(xs, dy, gw, k * OB, s);
    }
    for (r, gw) in gw_rest.iter_mut().enumerate() {
        let gw = core::array::from_mut(gw);
        gw_block::<T, IN, OUT, 1, J, FMA>(xs, dy, gw, rest_from + r, s);
    }
}

/// The backward pass over a batch: `dx = dy W` (overwritten), `gw += dyᵀ
/// x`, `gb += Σₙ dy[n]`. `dx` in blocks of `NB` examples by `J` inputs,
/// `gw` in blocks of `OB` rows by `J` inputs.
#[inline(always)]
pub(super) fn backward<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const OB: usize,
    const J: usize,
    const FMA: bool,
>(
    w: &[[T; IN]; OUT],
    x: &[[T; IN]],
    dy: &[[T; OUT]],
    dx: &mut [[T; IN]],
    gw: &mut [[T; IN]; OUT],
    gb: &mut [T; OUT],
) {
    // `dx`: blocks of examples, strips of `J` inputs, then `LANES`, then
    // one at a time; each block walks the rows of `w` in order.
    const { assert!(J.is_multiple_of(LANES), "strips of whole lanes") };
    let (full, eights) = (IN - IN % J, IN - IN % LANES);
    let (dyb, dy_rest) = dy.as_chunks::<NB>();
    let (dxb, dx_rest) = dx.as_chunks_mut::<NB>();
    for (dy, dx) in dyb.iter().zip(dxb) {
        dx_strips::<T, IN, OUT, NB, J, FMA>(w, dy, dx);
    }
    for (dy, dx) in dy_rest.iter().zip(dx_rest) {
        let (dy, dx) = (core::array::from_ref(dy), core::array::from_mut(dx));
        dx_strips::<T, IN, OUT, 1, J, FMA>(w, dy, dx);
    }
    // `gw`: chunks of examples in order, each strip by strip.
    for (x, dy) in x.chunks(GW_CHUNK).zip(dy.chunks(GW_CHUNK)) {
        for s in 0..IN / J {
            gw_strip::<T, IN, OUT, OB, J, FMA>(x, dy, gw, s);
        }
        for s in full / LANES..eights / LANES {
            gw_strip::<T, IN, OUT, OB, LANES, FMA>(x, dy, gw, s);
        }
        for i in eights..IN {
            gw_strip::<T, IN, OUT, OB, 1, FMA>(x, dy, gw, i);
        }
    }
    for dy in dy {
        for (gb, d) in gb.iter_mut().zip(dy) {
            *gb += *d;
        }
    }
}
