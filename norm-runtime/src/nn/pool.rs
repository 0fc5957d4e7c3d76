//! Pooling layers, 1-d and 2-d, on the [`pool`](crate::kernels::pool)
//! kernels: [`MaxPool1d`], [`MaxPool2d`], [`AvgPool1d`], [`AvgPool2d`] and
//! the global [`AdaptiveAvgPool1d`], [`AdaptiveAvgPool2d`],
//! [`AdaptiveMaxPool1d`], [`AdaptiveMaxPool2d`] (PyTorch's adaptive pools
//! with output size 1).
//!
//! Rows are channel-major, as PyTorch's `(N, C, L)` / `(N, C, H, W)`:
//! `[[T; L]; C]` and `[[[T; W]; H]; C]`. Every size is a const generic, in
//! the kernels' order. The output size must be [`pool_out_len`] of the input
//! with or without `ceil_mode` (the only thing the layer needs of it), the
//! padding at most half the kernel, kernel, stride and dilation at least 1:
//! the kernels check all of it at compile time. The module docs of
//! [`pool`](crate::kernels::pool) say how ties, NaN and padding are treated.
//!
//! Training vs inference: the same; a pool has no parameters or state.
//!
//! [`pool_out_len`]: crate::kernels::window::pool_out_len

use super::{SavedRows, check_backward, check_forward};
use crate::kernels::pool;
use crate::{Float, Layer, NoGrads, NormError};
use core::marker::PhantomData;

/// The struct of each pool and its impls: its const generics (and their
/// names), row types and kernels.
macro_rules! pool_layers {
    ($(
        $(#[$doc:meta])*
        $layer:ident, [$($generics:tt)*], [$($args:ident),*], x = $x:ty, y = $y:ty,
        kernels = $forward:ident, $backward:ident;
    )*) => {$(
        $(#[$doc])*
        ///
        /// Training vs inference: the same; no parameters, no state.
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $layer<$($generics)*, T: Float = f32> {
            marker: PhantomData<T>,
        }

        super::stateless_layer!([$($generics)*, T: Float] $layer<$($args),*, T>, scalar = T);

        impl<$($generics)*, T: Float> Layer for $layer<$($args),*, T> {
            type Input = $x;
            type Output = $y;
            type Saved = SavedRows;
            const EVAL_PER_ROW: bool = true;

            #[inline]
            fn forward_train(&mut self, x: &[$x], y: &mut [$y]) -> Result<SavedRows, NormError> {
                self.forward_eval(x, y)
            }

            #[inline]
            fn forward_eval(&self, x: &[$x], y: &mut [$y]) -> Result<SavedRows, NormError> {
                let saved = check_forward(x.len(), y.len())?;
                pool::$forward::<T, $($args),*>(x, y)?;
                Ok(saved)
            }

            #[inline]
            fn backward(
                &self,
                x: &[$x],
                saved: &SavedRows,
                dy: &[$y],
                dx: &mut [$x],
                _: &mut NoGrads,
            ) -> Result<(), NormError> {
                check_backward(*saved, x.len(), dy.len(), dx.len())?;
                pool::$backward::<T, $($args),*>(x, dy, dx)
            }
        }
    )*};
}

pool_layers! {
    /// A 1-d max pool, PyTorch's `torch.nn.MaxPool1d(K, STRIDE, PAD,
    /// DILATION, ceil_mode)` on `C` channels of length `L`; `OUT_L` is
    /// `pool_out_len(L, K, STRIDE, PAD, DILATION, ceil_mode)`.
    MaxPool1d,
        [const C: usize, const L: usize, const OUT_L: usize, const K: usize,
         const STRIDE: usize, const PAD: usize, const DILATION: usize],
        [C, L, OUT_L, K, STRIDE, PAD, DILATION],
        x = [[T; L]; C], y = [[T; OUT_L]; C],
        kernels = max_pool1d_forward, max_pool1d_backward;
    /// A 2-d max pool, PyTorch's `torch.nn.MaxPool2d((KH, KW), (STRIDE_H,
    /// STRIDE_W), (PAD_H, PAD_W), (DILATION_H, DILATION_W), ceil_mode)` on
    /// `C` channels of `H x W`; `OUT_H` and `OUT_W` are `pool_out_len` of
    /// each axis.
    MaxPool2d,
        [const C: usize, const H: usize, const W: usize, const OUT_H: usize,
         const OUT_W: usize, const KH: usize, const KW: usize, const STRIDE_H: usize,
         const STRIDE_W: usize, const PAD_H: usize, const PAD_W: usize,
         const DILATION_H: usize, const DILATION_W: usize],
        [C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W, DILATION_H, DILATION_W],
        x = [[[T; W]; H]; C], y = [[[T; OUT_W]; OUT_H]; C],
        kernels = max_pool2d_forward, max_pool2d_backward;
    /// A 1-d average pool, PyTorch's `torch.nn.AvgPool1d(K, STRIDE, PAD,
    /// ceil_mode, COUNT_INCLUDE_PAD)` on `C` channels of length `L`; `OUT_L`
    /// is `pool_out_len(L, K, STRIDE, PAD, 1, ceil_mode)`.
    AvgPool1d,
        [const C: usize, const L: usize, const OUT_L: usize, const K: usize,
         const STRIDE: usize, const PAD: usize, const COUNT_INCLUDE_PAD: bool],
        [C, L, OUT_L, K, STRIDE, PAD, COUNT_INCLUDE_PAD],
        x = [[T; L]; C], y = [[T; OUT_L]; C],
        kernels = avg_pool1d_forward, avg_pool1d_backward;
    /// A 2-d average pool, PyTorch's `torch.nn.AvgPool2d((KH, KW),
    /// (STRIDE_H, STRIDE_W), (PAD_H, PAD_W), ceil_mode, COUNT_INCLUDE_PAD)`
    /// (`divisor_override = None`) on `C` channels of `H x W`; `OUT_H` and
    /// `OUT_W` are `pool_out_len` of each axis (dilation 1).
    AvgPool2d,
        [const C: usize, const H: usize, const W: usize, const OUT_H: usize,
         const OUT_W: usize, const KH: usize, const KW: usize, const STRIDE_H: usize,
         const STRIDE_W: usize, const PAD_H: usize, const PAD_W: usize,
         const COUNT_INCLUDE_PAD: bool],
        [C, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W, PAD_H, PAD_W, COUNT_INCLUDE_PAD],
        x = [[[T; W]; H]; C], y = [[[T; OUT_W]; OUT_H]; C],
        kernels = avg_pool2d_forward, avg_pool2d_backward;
    /// The mean of each of `C` channels of length `L`, PyTorch's
    /// `torch.nn.AdaptiveAvgPool1d(1)`: output `[[T; 1]; C]`.
    AdaptiveAvgPool1d, [const C: usize, const L: usize], [C, L],
        x = [[T; L]; C], y = [[T; 1]; C],
        kernels = adaptive_avg_pool1d_forward, adaptive_avg_pool1d_backward;
    /// The mean of each of `C` channels of `H x W`, PyTorch's
    /// `torch.nn.AdaptiveAvgPool2d(1)`: output `[[[T; 1]; 1]; C]`.
    AdaptiveAvgPool2d, [const C: usize, const H: usize, const W: usize], [C, H, W],
        x = [[[T; W]; H]; C], y = [[[T; 1]; 1]; C],
        kernels = adaptive_avg_pool2d_forward, adaptive_avg_pool2d_backward;
    /// The maximum of each of `C` channels of length `L`, PyTorch's
    /// `torch.nn.AdaptiveMaxPool1d(1)`: output `[[T; 1]; C]`.
    AdaptiveMaxPool1d, [const C: usize, const L: usize], [C, L],
        x = [[T; L]; C], y = [[T; 1]; C],
        kernels = adaptive_max_pool1d_forward, adaptive_max_pool1d_backward;
    /// The maximum of each of `C` channels of `H x W`, PyTorch's
    /// `torch.nn.AdaptiveMaxPool2d(1)`: output `[[[T; 1]; 1]; C]`.
    AdaptiveMaxPool2d, [const C: usize, const H: usize, const W: usize], [C, H, W],
        x = [[[T; W]; H]; C], y = [[[T; 1]; 1]; C],
        kernels = adaptive_max_pool2d_forward, adaptive_max_pool2d_backward;
}
