//! Both paths, portable and fused, against the convolution written as its
//! formula, over geometries chosen to reach every branch: strips that cross
//! examples, tap chunks and output-channel chunks past the buffers, planes
//! too large for the stencils, strides, dilations, groups and padding.

use super::{Conv, backward_flat, dots, forward_flat, gemm, lanes, stencil, wide};
use crate::kernels::window::Axis;

/// The formula: `y[n][o][r][s] = b[o] + Σ w[o][c][i][j] x[n][g*cpg + c][r*sh + i*dh - ph][s*sw + j*dw - pw]`,
/// and its gradients, summed in `f64` one term at a time.
struct Reference {
    y: Vec<f64>,
    dx: Vec<f64>,
    dw: Vec<f64>,
    db: Vec<f64>,
}

fn reference(conv: &Conv, w: &[f64], b: &[f64], x: &[f64], dy: &[f64]) -> Reference {
    let batch = x.len() / conv.x_row();
    let (m_n, k_n) = (conv.m_per_group(), conv.k_per_group());
    let mut r = Reference {
        y: vec![0.0; batch * conv.y_row()],
        dx: vec![0.0; x.len()],
        dw: vec![0.0; w.len()],
        db: vec![0.0; conv.c_out],
    };
    let (h, wa) = (conv.h, conv.w);
    for n in 0..batch {
        for o in 0..conv.c_out {
            let g = o / m_n;
            for oh in 0..h.out {
                for ow in 0..wa.out {
                    let yi = n * conv.y_row() + o * conv.out_plane() + oh * wa.out + ow;
                    let mut acc = b[o];
                    r.db[o] += dy[yi];
                    for k in 0..k_n {
                        let (ci, tap) = (k / (h.kernel * wa.kernel), k % (h.kernel * wa.kernel));
                        let (kh, kw) = (tap / wa.kernel, tap % wa.kernel);
                        let ih = (oh * h.stride + kh * h.dilation) as isize - h.pad as isize;
                        let iw = (ow * wa.stride + kw * wa.dilation) as isize - wa.pad as isize;
                        if ih < 0 || iw < 0 || ih >= h.len as isize || iw >= wa.len as isize {
                            continue;
                        }
                        let c = g * conv.c_in_per_group + ci;
                        let xi = n * conv.x_row()
                            + c * conv.in_plane()
                            + ih as usize * wa.len
                            + iw as usize;
                        acc += w[o * k_n + k] * x[xi];
                        r.dx[xi] += w[o * k_n + k] * dy[yi];
                        r.dw[o * k_n + k] += x[xi] * dy[yi];
                    }
                    r.y[yi] = acc;
                }
            }
        }
    }
    r
}

/// Deterministic values in [-1, 1).
fn values(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        })
        .collect()
}

/// `(c_in, c_out, groups, [h, kh, sh, ph, dh], [w, kw, sw, pw, dw])`, the
/// output sizes PyTorch's.
type Case = (usize, usize, usize, [usize; 5], [usize; 5]);

fn axis([len, kernel, stride, pad, dilation]: [usize; 5]) -> Axis {
    let out = (len + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
    Axis::new(len, out, kernel, stride, pad, dilation)
}

/// The bits of each value, for comparisons that tell -0 from +0.
fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|v| v.to_bits()).collect()
}

fn geometry((c_in, c_out, groups, h, w): Case) -> Conv {
    Conv::new(c_in, c_out, groups, c_in / groups, axis(h), axis(w))
}

const ONE: [usize; 5] = [1, 1, 1, 0, 1];

const CASES: &[Case] = &[
    // Pointwise, a strip crossing examples (5x5 planes).
    (16, 24, 1, [5, 1, 1, 0, 1], [5, 1, 1, 0, 1]),
    // Pointwise strips read from the input planes in place: whole panels,
    // a 7x7 plane whose last panel reads on into the next channel (in
    // place for the first example, packed for the last, where that would
    // pass the end), and taps past one chunk (K = 130 > KC).
    (8, 6, 1, [8, 1, 1, 0, 1], [8, 1, 1, 0, 1]),
    (6, 8, 1, [7, 1, 1, 0, 1], [7, 1, 1, 0, 1]),
    (130, 6, 1, [4, 1, 1, 0, 1], [4, 1, 1, 0, 1]),
    // Dense 3x3, padding 1; odd channel counts leave one-row blocks.
    (3, 7, 1, [9, 3, 1, 1, 1], [8, 3, 1, 1, 1]),
    // Stride 2, a stride-2 1x1 shortcut.
    (4, 8, 1, [9, 3, 2, 1, 1], [9, 3, 2, 1, 1]),
    (4, 8, 1, [8, 1, 2, 0, 1], [8, 1, 2, 0, 1]),
    // KWS's stem: one input channel, a tall kernel, stride 2.
    (1, 12, 1, [13, 10, 2, 5, 1], [6, 4, 2, 1, 1]),
    // Taps past one chunk (K = 288 > KC) and a dilation.
    (32, 5, 1, [6, 3, 1, 2, 2], [5, 3, 1, 1, 1]),
    // Output channels past one chunk of the input gradient (M > KC).
    (2, 260, 1, [2, 1, 1, 0, 1], [3, 1, 1, 0, 1]),
    // Groups of several channels.
    (6, 9, 3, [7, 3, 1, 1, 1], [7, 3, 1, 1, 1]),
    // Depthwise 3x3 and 5x5, strides 1, 2, (2, 1); a channel multiplier.
    (5, 5, 5, [7, 3, 1, 1, 1], [5, 3, 1, 1, 1]),
    (4, 4, 4, [9, 5, 2, 2, 1], [10, 5, 2, 2, 1]),
    (3, 3, 3, [8, 3, 2, 1, 1], [9, 3, 1, 1, 1]),
    (3, 6, 3, [6, 3, 1, 0, 1], [6, 3, 1, 2, 1]),
    // Stride 2 on odd sizes: the last column phase is one value longer.
    (4, 4, 4, [7, 3, 2, 1, 1], [7, 3, 2, 1, 1]),
    (2, 6, 2, [5, 3, 1, 1, 2], [5, 3, 1, 1, 1]),
    // Depthwise on a plane too large for the stencil buffers.
    (2, 2, 2, [100, 3, 1, 1, 1], [100, 3, 1, 1, 1]),
    // Padding larger than the kernel reaches.
    (2, 2, 2, [4, 3, 1, 3, 1], [4, 3, 1, 3, 1]),
    (2, 3, 1, [4, 3, 1, 3, 1], [4, 3, 1, 3, 1]),
    // Stride 1 read from the padded copy: a ResNet 3x3, groups of 6 output
    // channels, a 3x5 kernel with padding past it, 1-d.
    (16, 16, 1, [8, 3, 1, 1, 1], [8, 3, 1, 1, 1]),
    (8, 12, 2, [5, 3, 1, 1, 1], [5, 3, 1, 1, 1]),
    (4, 8, 1, [6, 3, 1, 2, 1], [7, 5, 1, 3, 1]),
    (4, 6, 1, ONE, [17, 3, 1, 1, 1]),
    // 1-d: k = 3 stride 2, and an STFT-like k = 16 stride 8.
    (4, 6, 1, ONE, [17, 3, 2, 1, 1]),
    (1, 10, 1, ONE, [40, 16, 8, 0, 1]),
    (3, 3, 3, ONE, [12, 3, 1, 1, 1]),
    // A few output positions per example (the dot path): Silero VAD's
    // encoder on 4 frames, stride 2 down to 2 and 1, a 2x3 map with
    // padding on both axes.
    (12, 9, 1, ONE, [4, 3, 1, 1, 1]),
    (8, 6, 1, ONE, [4, 3, 2, 1, 1]),
    (6, 5, 1, ONE, [2, 3, 2, 1, 1]),
    (5, 7, 1, [2, 3, 1, 1, 1], [3, 3, 1, 1, 1]),
    // Depthwise on maps of 2 and 3 rows, where the stencils skip the kernel
    // rows that read only padding: stride 1, (2, 1), a dilation.
    (3, 3, 3, [2, 5, 1, 2, 1], [20, 5, 1, 2, 1]),
    (4, 4, 4, [3, 5, 2, 2, 1], [18, 5, 1, 2, 1]),
    (2, 2, 2, [3, 3, 1, 2, 2], [17, 3, 1, 1, 1]),
    // Eight channels or more to a vector: KWS's 25x5 (shortened), a
    // partial last block, stride 2 and (2, 1) 5x5, a multiplier of 2 over
    // 10 outputs, a dilation, a 1-d row, a 3x3 map down to 2x2, and a
    // padding past the kernel's reach.
    (16, 16, 16, [7, 3, 1, 1, 1], [5, 3, 1, 1, 1]),
    (11, 11, 11, [6, 3, 1, 1, 1], [7, 3, 1, 1, 1]),
    (9, 9, 9, [11, 5, 2, 2, 1], [12, 5, 2, 2, 1]),
    (8, 8, 8, [9, 5, 2, 2, 1], [10, 5, 1, 2, 1]),
    (5, 10, 5, [6, 3, 1, 1, 1], [7, 3, 1, 1, 1]),
    (8, 8, 8, [7, 3, 1, 2, 2], [7, 3, 1, 2, 2]),
    (12, 12, 12, ONE, [21, 3, 2, 1, 1]),
    (8, 8, 8, [3, 3, 2, 1, 1], [3, 3, 2, 1, 1]),
    (8, 8, 8, [4, 3, 1, 3, 1], [3, 3, 1, 3, 1]),
    // Weight gradients read from the padded copy (two strips of wide
    // positions or more): a 3x3 over three strips, the last partial;
    // stride 2; output channels past one panel in groups of 10; a 5x3
    // kernel with dilation.
    (4, 8, 1, [12, 3, 1, 1, 1], [12, 3, 1, 1, 1]),
    (4, 6, 1, [24, 3, 2, 1, 1], [20, 3, 2, 1, 1]),
    (6, 20, 2, [12, 3, 1, 1, 1], [11, 3, 1, 1, 1]),
    (3, 5, 1, [14, 5, 1, 2, 2], [13, 3, 1, 0, 1]),
    // Rows too long for the lanes' forward pass but not for their backward
    // pass, a partial last block.
    (10, 10, 10, [12, 3, 1, 1, 1], [20, 3, 1, 1, 1]),
];

/// [`forward_flat`] in `f64`, in a frame of its own, as the library calls
/// it (through its dispatched entry point): inlined, every path's stack
/// buffers would add up in the caller's frame with the backward pass's,
/// past a test thread's 2 MiB in a debug build.
#[inline(never)]
fn forward<const FMA: bool>(conv: &Conv, w: &[f64], b: Option<&[f64]>, x: &[f64], y: &mut [f64]) {
    forward_flat::<f64, FMA>(conv, w, b, x, y);
}

/// A backward pass in `f64`.
type Backward = fn(&Conv, &[f64], &[f64], &[f64], &mut [f64], &mut [f64], Option<&mut [f64]>);

/// The backward pass in `f64` by the path the library takes
/// ([`backward_any`](super::backward_any)): [`lanes::backward`] or
/// [`backward_flat`], called through a pointer so that each runs in a
/// frame of its own (see [`forward`]).
fn backward<const FMA: bool>(
    conv: &Conv,
    w: &[f64],
    x: &[f64],
    dy: &[f64],
    dx: &mut [f64],
    dw: &mut [f64],
    db: Option<&mut [f64]>,
) {
    let path: Backward = if lanes::takes_backward(conv) {
        lanes::backward::<f64, FMA>
    } else {
        backward_flat::<f64, FMA>
    };
    path(conv, w, x, dy, dx, dw, db);
}

fn check<const FMA: bool>(case: Case, batch: usize) {
    let conv = geometry(case);
    let x = values(1, batch * conv.x_row());
    let w = values(2, conv.c_out * conv.k_per_group());
    let b = values(3, conv.c_out);
    let dy = values(4, batch * conv.y_row());
    let want = reference(&conv, &w, &b, &x, &dy);

    let mut y = vec![f64::NAN; want.y.len()];
    forward::<FMA>(&conv, &w, Some(&b), &x, &mut y);
    let mut dx = vec![f64::NAN; x.len()];
    let mut dw = vec![0.5; w.len()];
    let mut db = vec![0.25; b.len()];
    backward::<FMA>(&conv, &w, &x, &dy, &mut dx, &mut dw, Some(&mut db));

    let close = |name: &str, got: &[f64], want: &[f64], offset: f64| {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - offset - w).abs() <= 1e-12 * (1.0 + w.abs()),
                "{case:?} batch {batch} FMA {FMA}: {name}[{i}] = {} but the formula gives {w}",
                g - offset
            );
        }
    };
    close("y", &y, &want.y, 0.0);
    close("dx", &dx, &want.dx, 0.0);
    close("dweight", &dw, &want.dw, 0.5);
    close("dbias", &db, &want.db, 0.25);

    // Alone, each example gets the bits it got in the batch.
    for n in 0..batch {
        let mut alone = vec![0.0; conv.y_row()];
        forward::<FMA>(
            &conv,
            &w,
            Some(&b),
            &x[n * conv.x_row()..][..conv.x_row()],
            &mut alone,
        );
        assert_eq!(
            alone,
            y[n * conv.y_row()..][..conv.y_row()],
            "{case:?} example {n}"
        );
    }
}

#[test]
fn both_paths_follow_the_formula() {
    for &case in CASES {
        for batch in [1, 3] {
            check::<false>(case, batch);
            check::<true>(case, batch);
        }
    }
}

#[test]
fn without_bias_the_forward_starts_from_zero() {
    let conv = geometry((3, 4, 1, [5, 3, 1, 1, 1], [5, 3, 1, 1, 1]));
    let x = values(5, conv.x_row());
    let w = values(6, conv.c_out * conv.k_per_group());
    let want = reference(&conv, &w, &[0.0; 4], &x, &vec![0.0; conv.y_row()]);
    let mut y = vec![0.0; conv.y_row()];
    forward::<true>(&conv, &w, None, &x, &mut y);
    for (g, w) in y.iter().zip(&want.y) {
        assert!((g - w).abs() <= 1e-12);
    }
}

#[test]
fn the_cases_reach_both_paths() {
    let stencils = CASES
        .iter()
        .filter(|&&c| stencil::takes(&geometry(c)))
        .count();
    assert!(stencils >= 6, "{stencils} cases take the stencils");
    assert!(CASES.len() - stencils >= 10);
    // The large depthwise plane and the wide multiplier go to im2col.
    assert!(!stencil::takes(&geometry((
        2,
        2,
        2,
        [100, 3, 1, 1, 1],
        [100, 3, 1, 1, 1]
    ))));
    assert!(!stencil::takes(&geometry((
        1,
        12,
        1,
        [13, 10, 2, 5, 1],
        [6, 4, 2, 1, 1]
    ))));
}

#[test]
fn the_lanes_path_gives_the_stencils_bits() {
    let mut taken = 0;
    for &case in CASES {
        let conv = geometry(case);
        if !lanes::takes(&conv) {
            continue;
        }
        taken += 1;
        // The stencils' row-by-row layout skips the taps on padding rows,
        // which may turn a -0 into +0: compared through `==` there.
        let skips = stencil::rows_worth_skipping(&conv);
        let x = values(10, 3 * conv.x_row());
        let w = values(11, conv.c_out * conv.k_per_group());
        let b = values(12, conv.c_out);
        for bias in [None, Some(b.as_slice())] {
            let mut lanes_y = vec![0.0; 3 * conv.y_row()];
            let mut stencil_y = vec![1.0; 3 * conv.y_row()];
            lanes::forward::<f64, true>(&conv, &w, bias, &x, &mut lanes_y);
            stencil::forward::<f64, true>(&conv, &w, bias, &x, &mut stencil_y);
            if skips {
                assert_eq!(lanes_y, stencil_y, "{case:?}");
            } else {
                assert_eq!(bits(&lanes_y), bits(&stencil_y), "{case:?}");
            }
        }
    }
    assert!(taken >= 9, "{taken} cases take the lanes path");
    // Not fewer than eight channels, nor a multiplier of 4, nor stride-1
    // rows of eight outputs or more (the stencils' vectors).
    assert!(!lanes::takes(&geometry((
        5,
        5,
        5,
        [7, 3, 1, 1, 1],
        [5, 3, 1, 1, 1]
    ))));
    assert!(!lanes::takes(&geometry((
        2,
        8,
        2,
        [7, 3, 1, 1, 1],
        [5, 3, 1, 1, 1]
    ))));
    assert!(!lanes::takes(&geometry((
        8,
        8,
        8,
        [7, 3, 1, 1, 1],
        [8, 3, 1, 1, 1]
    ))));
    assert!(lanes::takes(&geometry((
        8,
        8,
        8,
        [7, 3, 1, 1, 1],
        [7, 3, 1, 1, 1]
    ))));
}

#[test]
fn the_lanes_backward_gives_the_stencils_input_gradient() {
    let (mut gathered, mut scattered) = (0, 0);
    for &case in CASES {
        let conv = geometry(case);
        if !lanes::takes_backward(&conv) {
            continue;
        }
        if conv.h.stride == 1 && conv.w.stride == 1 {
            gathered += 1;
        } else {
            scattered += 1;
        }
        let x = values(13, 3 * conv.x_row());
        let w = values(14, conv.c_out * conv.k_per_group());
        let dy = values(15, 3 * conv.y_row());
        let run = |lanes_path: bool| {
            let mut dx = vec![f64::NAN; x.len()];
            let mut dw = vec![0.5; w.len()];
            let mut db = vec![0.25; conv.c_out];
            let path: Backward = if lanes_path {
                lanes::backward::<f64, true>
            } else {
                stencil::backward::<f64, true>
            };
            path(&conv, &w, &x, &dy, &mut dx, &mut dw, Some(&mut db));
            (dx, dw, db)
        };
        let (lanes_dx, lanes_dw, lanes_db) = run(true);
        let (stencil_dx, stencil_dw, stencil_db) = run(false);
        // The input gradient sums the taps in order from zero on both
        // paths: the same bits.
        assert_eq!(bits(&lanes_dx), bits(&stencil_dx), "{case:?}");
        // The weight and bias gradients sum in another order.
        for (got, want) in lanes_dw
            .iter()
            .chain(&lanes_db)
            .zip(stencil_dw.iter().chain(&stencil_db))
        {
            assert!((got - want).abs() <= 1e-12 * (1.0 + want.abs()), "{case:?}");
        }
    }
    assert!(
        gathered >= 4 && scattered >= 4,
        "{gathered} stride-1 and {scattered} strided cases"
    );
    // A multiplier sums lanes into one input gradient: not taken; long rows
    // are.
    assert!(!lanes::takes_backward(&geometry((
        5,
        10,
        5,
        [6, 3, 1, 1, 1],
        [7, 3, 1, 1, 1]
    ))));
    assert!(lanes::takes_backward(&geometry((
        10,
        10,
        10,
        [12, 3, 1, 1, 1],
        [20, 3, 1, 1, 1]
    ))));
}

#[test]
fn the_cases_reach_the_padded_weight_gradient() {
    // Checked against the formula by `both_paths_follow_the_formula`.
    let taken = CASES
        .iter()
        .filter(|&&c| wide::takes_weight(&geometry(c)))
        .count();
    assert!(taken >= 4, "{taken} cases");
    // An 8x8 map is under two strips: its strips cross examples on the
    // im2col path instead.
    assert!(!wide::takes_weight(&geometry((
        16,
        16,
        1,
        [8, 3, 1, 1, 1],
        [8, 3, 1, 1, 1]
    ))));
}

#[test]
fn short_maps_skip_the_padding_rows() {
    // Checked against the formula by `both_paths_follow_the_formula`.
    let skipping = CASES
        .iter()
        .filter(|&&c| stencil::takes(&geometry(c)) && stencil::rows_worth_skipping(&geometry(c)))
        .count();
    assert!(skipping >= 2, "{skipping} stride-1 cases go row by row");
}

#[test]
fn small_maps_take_the_dot_path() {
    // Checked against the formula by `both_paths_follow_the_formula`.
    let dots = CASES.iter().filter(|&&c| dots::takes(&geometry(c))).count();
    assert!(dots >= 6, "{dots} cases take the dot path");
    // Not grouped ones, nor maps of more than eight positions.
    assert!(!dots::takes(&geometry((
        6,
        9,
        3,
        [2, 3, 1, 1, 1],
        [2, 3, 1, 1, 1]
    ))));
    assert!(!dots::takes(&geometry((
        4,
        4,
        1,
        [3, 3, 1, 1, 1],
        [3, 3, 1, 1, 1]
    ))));
}

#[test]
fn the_wide_path_gives_the_im2col_bits() {
    let mut taken = 0;
    for &case in CASES {
        let conv = geometry(case);
        if !wide::takes(&conv) {
            continue;
        }
        taken += 1;
        let x = values(7, 3 * conv.x_row());
        let w = values(8, conv.c_out * conv.k_per_group());
        let b = values(9, conv.c_out);
        let (mut wide_y, mut gemm_y) = (vec![0.0; 3 * conv.y_row()], vec![1.0; 3 * conv.y_row()]);
        wide::forward::<f64, true>(&conv, &w, Some(&b), &x, &mut wide_y);
        gemm::forward::<f64, true>(&conv, &w, Some(&b), &x, &mut gemm_y);
        assert_eq!(wide_y, gemm_y, "{case:?}");
    }
    assert!(taken >= 7, "{taken} cases take the wide path");
    let strided = CASES
        .iter()
        .filter(|&&c| wide::takes(&geometry(c)) && c.3[2] * c.4[2] > 1)
        .count();
    assert!(strided >= 3, "{strided} strided cases take the wide path");
    // Their input gradients too, as transposed convolutions (checked against
    // the formula by `both_paths_follow_the_formula`).
    let backward = CASES
        .iter()
        .filter(|&&c| wide::takes_backward(&geometry(c)))
        .count();
    assert!(
        backward >= 3,
        "{backward} cases take the wide input gradient"
    );
}
