//! Sliding-window geometry along one axis, shared by [`conv`](super::conv)
//! and [`pool`](super::pool): output lengths as PyTorch computes them, as
//! `const fn`s so generated code can size its arrays in const context.

/// The zero padding before and after one axis of a convolution's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Padding {
    /// Positions before the input (left, or top for the height axis).
    pub left: usize,
    /// Positions after the input (right, or bottom).
    pub right: usize,
}

impl Padding {
    /// The same padding on both sides, as PyTorch's `padding = p`.
    #[must_use]
    pub const fn symmetric(padding: usize) -> Self {
        Self {
            left: padding,
            right: padding,
        }
    }
}

/// PyTorch's `padding = "same"` (stride 1): the output as long as the input.
/// The total `dilation * (kernel - 1)` is split with `total / 2` on the left
/// and the rest on the right, so an even effective kernel pads one more on the
/// right (bottom).
///
/// # Panics
/// If `kernel` is 0 (in const context: a compile error).
#[must_use]
pub const fn same_padding(kernel: usize, dilation: usize) -> Padding {
    assert!(kernel >= 1, "the kernel size must be at least 1");
    let total = dilation * (kernel - 1);
    Padding {
        left: total / 2,
        right: total - total / 2,
    }
}

/// The output length of a convolution along one axis, as `torch.nn.Conv1d` /
/// `Conv2d`: `floor((len + left + right - dilation * (kernel - 1) - 1) /
/// stride) + 1`.
///
/// # Panics
/// If `kernel`, `stride` or `dilation` is 0, or the padded input is shorter
/// than the dilated kernel (PyTorch: "Kernel size can't be greater than actual
/// input size"). In const context a panic is a compile error.
#[must_use]
pub const fn conv_out_len(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
    dilation: usize,
) -> usize {
    let span = span(kernel, stride, dilation);
    let padded = len + padding.left + padding.right;
    assert!(
        padded >= span,
        "the padded input is shorter than the dilated kernel"
    );
    (padded - span) / stride + 1
}

/// The output length of a pool along one axis, as `torch.nn.MaxPool1d` /
/// `MaxPool2d` / `AvgPool*d` (`dilation = 1` for average pools): with
/// `room = len + 2 * padding - dilation * (kernel - 1) - 1`, it is
/// `room / stride + 1`, the division rounded up when `ceil_mode`; then, with
/// `ceil_mode`, one less if the last window would start in the right padding
/// (`(out - 1) * stride >= len + padding`). A window that starts inside the
/// input or the left padding is kept even if it runs past the right padding.
///
/// # Panics
/// If `kernel`, `stride` or `dilation` is 0, `padding > kernel / 2` (PyTorch:
/// "pad should be smaller than or equal to half of kernel size"), or the
/// padded input is shorter than the dilated kernel (PyTorch: "Output size is
/// too small"). In const context a panic is a compile error.
#[must_use]
pub const fn pool_out_len(
    len: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
    ceil_mode: bool,
) -> usize {
    let span = span(kernel, stride, dilation);
    assert!(
        padding <= kernel / 2,
        "pool padding must be at most half the kernel size"
    );
    let padded = len + 2 * padding;
    assert!(
        padded >= span,
        "the padded input is shorter than the dilated kernel"
    );
    let room = padded - span;
    if !ceil_mode {
        return room / stride + 1;
    }
    let out = room.div_ceil(stride) + 1;
    if (out - 1) * stride >= len + padding {
        out - 1
    } else {
        out
    }
}

/// The input positions a dilated kernel covers, `dilation * (kernel - 1) + 1`,
/// after checking the window's arguments.
const fn span(kernel: usize, stride: usize, dilation: usize) -> usize {
    assert!(kernel >= 1, "the kernel size must be at least 1");
    assert!(stride >= 1, "the stride must be at least 1");
    assert!(dilation >= 1, "the dilation must be at least 1");
    dilation * (kernel - 1) + 1
}

/// One axis of a sliding window as the kernels walk it: output position `o`
/// has taps `j in 0..kernel` at input positions `o * stride + j * dilation -
/// pad`; positions outside `0..len` are padding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    /// Input positions.
    pub len: usize,
    /// Output positions.
    pub out: usize,
    /// Taps of the kernel.
    pub kernel: usize,
    /// Input positions between consecutive outputs.
    pub stride: usize,
    /// Padding before the input (the padding after is implied by `out`).
    pub pad: usize,
    /// Input positions between consecutive taps.
    pub dilation: usize,
}

/// Consecutive indices `lo..hi` (outputs, or taps of a window) that read
/// inside the input, `first` being the input position the one at `lo` reads
/// (0 when the range is empty). Input positions step by the axis's stride
/// across outputs and by its dilation across taps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Span {
    pub lo: usize,
    pub hi: usize,
    pub first: usize,
}

impl Span {
    /// How many indices.
    #[inline]
    pub fn count(self) -> usize {
        self.hi - self.lo
    }
}

impl Axis {
    /// The axis of a 1-d kernel's missing height: one position, one tap.
    pub const POINT: Self = Self {
        len: 1,
        out: 1,
        kernel: 1,
        stride: 1,
        pad: 0,
        dilation: 1,
    };

    /// One window over the whole axis (a global pool's).
    pub const fn whole(len: usize) -> Self {
        Self::new(len, 1, len, len, 0, 1)
    }

    /// Checks the common requirements (positive kernel, stride, dilation and
    /// output) and builds the axis.
    pub const fn new(
        len: usize,
        out: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        dilation: usize,
    ) -> Self {
        let _ = span(kernel, stride, dilation);
        assert!(out >= 1, "the output must have at least one position");
        Self {
            len,
            out,
            kernel,
            stride,
            pad,
            dilation,
        }
    }

    /// The outputs whose tap `tap` reads inside the input.
    #[inline]
    pub fn outputs_of_tap(self, tap: usize) -> Span {
        // Output o reads o * stride + offset - pad, inside 0..len.
        let offset = tap * self.dilation;
        let lo = self.pad.saturating_sub(offset).div_ceil(self.stride);
        let hi = match (self.len + self.pad).checked_sub(offset + 1) {
            Some(last) => (last / self.stride + 1).min(self.out),
            None => 0,
        };
        Self::span(lo, hi, |lo| lo * self.stride + offset - self.pad)
    }

    /// The taps of output `o`'s window that read inside the input.
    #[inline]
    pub fn taps_of_output(self, o: usize) -> Span {
        // Tap j reads o * stride + j * dilation - pad, inside 0..len.
        let start = o * self.stride;
        let lo = self.pad.saturating_sub(start).div_ceil(self.dilation);
        let hi = match (self.len + self.pad).checked_sub(start) {
            Some(room) => room.div_ceil(self.dilation).min(self.kernel),
            None => 0,
        };
        Self::span(lo, hi, |lo| start + lo * self.dilation - self.pad)
    }

    #[inline]
    fn span(lo: usize, hi: usize, first: impl FnOnce(usize) -> usize) -> Span {
        if lo < hi {
            Span {
                lo,
                hi,
                first: first(lo),
            }
        } else {
            Span {
                lo: hi,
                hi,
                first: 0,
            }
        }
    }

    /// Output `o`'s window clipped to the padded input `[-pad, len + pad)`:
    /// PyTorch's average-pool divisor with `count_include_pad` along this
    /// axis (positions past the right padding, from ceil_mode, do not count).
    #[inline]
    pub fn window_in_padded(self, o: usize) -> usize {
        let room = (self.len + 2 * self.pad).saturating_sub(o * self.stride);
        room.min(self.kernel)
    }
}

#[cfg(test)]
mod tests {
    use super::{Axis, Padding, Span, conv_out_len, pool_out_len, same_padding};

    #[test]
    fn lengths_follow_pytorch() {
        assert_eq!(conv_out_len(10, 3, 1, Padding::symmetric(0), 1), 8);
        assert_eq!(conv_out_len(12, 3, 2, Padding::symmetric(1), 2), 5);
        assert_eq!(same_padding(4, 1), Padding { left: 1, right: 2 });
        assert_eq!(same_padding(3, 2), Padding { left: 2, right: 2 });
        assert_eq!(conv_out_len(7, 4, 1, same_padding(4, 1), 1), 7);
        // MaxPool1d(3, stride 3, padding 1, ceil_mode) on 5: ceil gives 3,
        // whose last window would start in the right padding: dropped.
        assert_eq!(pool_out_len(5, 3, 3, 1, 1, true), 2);
        assert_eq!(pool_out_len(5, 3, 3, 1, 1, false), 2);
        assert_eq!(pool_out_len(8, 3, 2, 1, 1, true), 5);
        assert_eq!(pool_out_len(8, 3, 2, 1, 1, false), 4);
        assert_eq!(pool_out_len(10, 3, 2, 1, 2, true), 5);
    }

    /// Every tap of every output, classified by brute force, against the
    /// ranges the kernels use.
    #[test]
    fn spans_are_the_taps_inside_the_input() {
        for len in 1..7_usize {
            for kernel in 1..5 {
                for stride in 1..4 {
                    for pad in 0..4 {
                        for dilation in 1..4 {
                            let out = (len + 2 * pad + stride)
                                .saturating_sub(dilation * (kernel - 1) + 1)
                                / stride
                                + 1;
                            let axis = Axis::new(len, out, kernel, stride, pad, dilation);
                            let inside = |o: usize, j: usize| {
                                let p = (o * stride + j * dilation).checked_sub(pad)?;
                                (p < len).then_some(p)
                            };
                            let listed = |s: Span, step: usize| -> Vec<(usize, usize)> {
                                (s.lo..s.hi)
                                    .map(|i| (i, s.first + (i - s.lo) * step))
                                    .collect()
                            };
                            let at = format!("{len} {kernel} {stride} {pad} {dilation}");
                            for o in 0..out {
                                let taps = (0..kernel).filter_map(|j| Some((j, inside(o, j)?)));
                                let got = listed(axis.taps_of_output(o), dilation);
                                assert_eq!(got, taps.collect::<Vec<_>>(), "{at} o={o}");
                            }
                            for j in 0..kernel {
                                let outs = (0..out).filter_map(|o| Some((o, inside(o, j)?)));
                                let got = listed(axis.outputs_of_tap(j), stride);
                                assert_eq!(got, outs.collect::<Vec<_>>(), "{at} j={j}");
                            }
                        }
                    }
                }
            }
        }
    }
}
