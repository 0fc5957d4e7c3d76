//! Convolution layers, 1-d and 2-d: [`Conv1d`] and [`Conv2d`], PyTorch's
//! `torch.nn.Conv1d` and `Conv2d` with `padding_mode = "zeros"`, on the
//! [`conv`](crate::kernels::conv) kernels.
//!
//! Rows are channel-major, as PyTorch's `(N, C, L)` / `(N, C, H, W)`:
//! `[[T; L]; C]` and `[[[T; W]; H]; C]`. Every size is a const generic, in the
//! kernels' order: channels (`C_IN` in `GROUPS` groups of `C_IN_PER_GROUP`,
//! which stable Rust cannot compute as `C_IN / GROUPS` in a type), input and
//! output sizes, kernel, stride, left (top) padding, dilation, then `BIAS`
//! and the scalar type. The output size must be what PyTorch gives for the
//! padding on both sides, or for `padding = "same"` (stride 1, the left
//! padding [`same_padding`]'s, the output as long as the input); anything
//! else is a compile error. [`conv_out_len`] computes it in the type.
//!
//! Training vs inference: the same; a convolution has no running state.
//!
//! ```
//! use constnorm::Layer;
//! use constnorm::nn::Conv2d;
//! use constnorm::runtime::kernels::window::{Padding, conv_out_len};
//!
//! // torch.nn.Conv2d(2, 4, 3, stride=2, padding=1) on 9x9 images.
//! const OUT: usize = conv_out_len(9, 3, 2, Padding::symmetric(1), 1);
//! type Conv = Conv2d<2, 4, 1, 2, 9, 9, OUT, OUT, 3, 3, 2, 2, 1, 1, 1, 1, true>;
//! let mut conv = Conv::new();
//! constnorm::nn::init_seeded(&mut conv, 0);
//! let (y, _) = conv.forward_eval_array(&[[[[1.0; 9]; 9]; 2]]);
//! assert_eq!((OUT, y[0].len()), (5, 4));
//! ```
//!
//! An output size PyTorch would not give is a compile error:
//!
//! ```compile_fail
//! use constnorm::Layer;
//! // 9 with padding 1 and stride 2 gives 5, not 4.
//! type Conv = constnorm::nn::Conv2d<2, 4, 1, 2, 9, 9, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, true>;
//! let (y, _) = Conv::new().forward_eval_array(&[[[[1.0; 9]; 9]; 2]]);
//! ```

use super::{SavedRows, check_backward, check_forward};
use crate::kernels::conv;
use crate::kernels::window::{Padding, conv_out_len, same_padding};
use crate::state::{Key, Visit, VisitCounter, VisitCounterMut, VisitMut};
use crate::{Float, Gradients, Layer, NormError, Parameters, Row, StateDict};

/// Gradients of a convolution's `weight` (of type `Wt`, the layer's weight
/// array) and, when `BIAS`, its `bias`; `Default` is zeros. Without a bias,
/// `bias` stays zero and is not one of the [`Gradients`] arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvGrads<Wt: Row, const C_OUT: usize, const BIAS: bool> {
    /// Gradient of `weight`.
    pub weight: Wt,
    /// Gradient of `bias` (zero without a bias).
    pub bias: [Wt::Scalar; C_OUT],
}

impl<Wt: Row, const C_OUT: usize, const BIAS: bool> Default for ConvGrads<Wt, C_OUT, BIAS> {
    fn default() -> Self {
        Self {
            weight: Wt::ZERO,
            bias: [<Wt::Scalar as Float>::ZERO; C_OUT],
        }
    }
}

/// Array `i` of a convolution's parameters or of their gradients, in the
/// same order for both: 0 the weight, flattened, 1 the bias when `BIAS`.
#[inline]
fn array<'a, Wt: Row, const C_OUT: usize, const BIAS: bool>(
    weight: &'a Wt,
    bias: &'a [Wt::Scalar; C_OUT],
    i: usize,
) -> &'a [Wt::Scalar] {
    match i {
        0 => weight.as_flat(),
        1 if BIAS => bias,
        _ => &[],
    }
}

/// [`array`], mutable.
#[inline]
fn array_mut<'a, Wt: Row, const C_OUT: usize, const BIAS: bool>(
    weight: &'a mut Wt,
    bias: &'a mut [Wt::Scalar; C_OUT],
    i: usize,
) -> &'a mut [Wt::Scalar] {
    match i {
        0 => weight.as_flat_mut(),
        1 if BIAS => bias,
        _ => &mut [],
    }
}

impl<Wt: Row, const C_OUT: usize, const BIAS: bool> Gradients<Wt::Scalar>
    for ConvGrads<Wt, C_OUT, BIAS>
{
    const ARRAYS: usize = 1 + BIAS as usize;

    #[inline]
    fn array(&self, i: usize) -> &[Wt::Scalar] {
        array::<Wt, C_OUT, BIAS>(&self.weight, &self.bias, i)
    }

    #[inline]
    fn array_mut(&mut self, i: usize) -> &mut [Wt::Scalar] {
        array_mut::<Wt, C_OUT, BIAS>(&mut self.weight, &mut self.bias, i)
    }
}

/// Whether `out` is a convolution's output length along one axis for the
/// left padding `pad`: with the same padding on the right (PyTorch's
/// `padding = pad`), or PyTorch's `padding = "same"` (stride 1, the output as
/// long as the input).
const fn is_conv_out_len(
    len: usize,
    out: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> bool {
    (stride == 1 && pad == same_padding(kernel, dilation).left && out == len)
        || out == conv_out_len(len, kernel, stride, Padding::symmetric(pad), dilation)
}

/// The struct of each dimensionality and its impls: its const generics (and
/// their names), row and weight types, kernels, the output-size check and
/// PyTorch's name.
macro_rules! conv_layers {
    ($(
        $(#[$doc:meta])*
        $layer:ident, [$($generics:tt)*], [$($args:ident),*],
        x = $x:ty, y = $y:ty, weight = $weight:ty,
        kernels = $forward:ident, $backward:ident,
        check = $check:expr, $message:literal;
    )*) => {$(
        $(#[$doc])*
        ///
        /// `weight` has PyTorch's layout and state-dict name, `bias` is a
        /// parameter and a state-dict entry only when `BIAS` (it stays zero
        /// otherwise), and
        /// [`reset_parameters`](Parameters::reset_parameters) draws
        /// PyTorch's default initialization: weight and bias uniform in
        /// ±1/√`fan_in`, `fan_in = C_IN_PER_GROUP *` the kernel size.
        #[doc = concat!("[`", stringify!($layer), "::new`]")]
        /// is all zeros; use [`init_seeded`](super::init_seeded) or
        /// `reset_parameters` for a trainable start.
        ///
        /// Training vs inference: the same; the layer has no running state.
        #[derive(Clone, Debug, PartialEq)]
        pub struct $layer<$($generics)*, const BIAS: bool, T: Float = f32> {
            /// The kernel, PyTorch's `[C_OUT, C_IN_PER_GROUP, kernel...]`.
            pub weight: $weight,
            /// `bias[o]`; zero and unused without `BIAS`.
            pub bias: [T; C_OUT],
        }

        impl<$($generics)*, const BIAS: bool, T: Float> $layer<$($args),*, BIAS, T> {
            /// The shapes of `weight` and `bias` in a state dict.
            const WEIGHT_SHAPE: &'static [usize] = <$weight as Row>::SHAPE;
            const BIAS_SHAPE: &'static [usize] = &[C_OUT];

            /// All weights and biases zero.
            #[must_use]
            pub const fn new() -> Self {
                Self {
                    weight: <$weight as Row>::ZERO,
                    bias: [T::ZERO; C_OUT],
                }
            }

            /// [`new`](Self::new) built straight on the heap, with no copy on
            /// the stack, for layers too large for it.
            #[cfg(feature = "std")]
            #[must_use]
            pub fn new_boxed() -> Box<Self> {
                crate::network::boxed::<Self>()
            }

            /// This convolution followed by a batch norm in inference mode, as
            /// one convolution (PyTorch's
            /// `torch.nn.utils.fusion.fuse_conv_bn_eval`): with the batch
            /// norm's [`fold`](crate::Folded) `y = scale * z + shift`,
            /// `weight[o] = scale[o] * weight[o]` and
            /// `bias[o] = scale[o] * bias[o] + shift[o]`, so the result has a
            /// bias even when this convolution has none. The batch norm must
            /// have `C_OUT` channels, which the types check.
            #[must_use]
            pub fn fuse_batch_norm(&self, bn: &crate::Folded<T, C_OUT>) -> $layer<$($args),*, true, T> {
                let mut weight = self.weight;
                for (w, scale) in weight.iter_mut().zip(&bn.scale) {
                    for v in Row::as_flat_mut(w) {
                        *v *= *scale;
                    }
                }
                // Without `BIAS` the bias is zero.
                let bias = core::array::from_fn(|o| bn.scale[o] * self.bias[o] + bn.shift[o]);
                $layer { weight, bias }
            }

            /// The output size is PyTorch's (a compile error otherwise).
            const fn check_output_size() {
                assert!($check, $message);
            }
        }

        // SAFETY: `init_at` writes the kernel one output channel at a time
        // and then the bias, so a valid (all-zero) layer is left at `p`.
        unsafe impl<$($generics)*, const BIAS: bool, T: Float> crate::network::InPlace
            for $layer<$($args),*, BIAS, T>
        {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned, and
                // so is each field's place in it.
                unsafe {
                    crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
                    core::ptr::addr_of_mut!((*p).bias).write([T::ZERO; C_OUT]);
                }
            }
        }

        impl<$($generics)*, const BIAS: bool, T: Float> Default for $layer<$($args),*, BIAS, T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<$($generics)*, const BIAS: bool, T: Float> Parameters for $layer<$($args),*, BIAS, T> {
            type Scalar = T;
            type Grads = ConvGrads<$weight, C_OUT, BIAS>;

            #[inline]
            fn parameter(&self, i: usize) -> &[T] {
                array::<$weight, C_OUT, BIAS>(&self.weight, &self.bias, i)
            }

            #[inline]
            fn parameter_mut(&mut self, i: usize) -> &mut [T] {
                array_mut::<$weight, C_OUT, BIAS>(&mut self.weight, &mut self.bias, i)
            }

            fn reset_parameters<G: rand::Rng + ?Sized>(&mut self, rng: &mut G) {
                let fan_in = <$weight as Row>::LEN.checked_div(C_OUT).unwrap_or(0);
                let bias: &mut [T] = if BIAS { &mut self.bias } else { &mut [] };
                super::kaiming_uniform(rng, fan_in, self.weight.as_flat_mut(), bias);
            }
        }

        impl<$($generics)*, const BIAS: bool, T: Float> Layer for $layer<$($args),*, BIAS, T> {
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
                const { Self::check_output_size() };
                let saved = check_forward(x.len(), y.len())?;
                let bias = BIAS.then_some(&self.bias);
                conv::$forward::<T, $($args),*>(&self.weight, bias, x, y)?;
                Ok(saved)
            }

            #[inline]
            fn backward(
                &self,
                x: &[$x],
                saved: &SavedRows,
                dy: &[$y],
                dx: &mut [$x],
                grads: &mut Self::Grads,
            ) -> Result<(), NormError> {
                const { Self::check_output_size() };
                check_backward(*saved, x.len(), dy.len(), dx.len())?;
                let dbias = BIAS.then_some(&mut grads.bias);
                conv::$backward::<T, $($args),*>(&self.weight, x, dy, dx, &mut grads.weight, dbias)
            }
        }

        impl<$($generics)*, const BIAS: bool, T: Float> StateDict for $layer<$($args),*, BIAS, T> {
            type Scalar = T;

            fn visit_arrays(&self, f: &mut Visit<'_, T>) {
                f(&Key::leaf("weight"), Self::WEIGHT_SHAPE, self.weight.as_flat());
                if BIAS {
                    f(&Key::leaf("bias"), Self::BIAS_SHAPE, &self.bias);
                }
            }

            fn visit_arrays_mut(&mut self, f: &mut VisitMut<'_, T>) {
                f(&Key::leaf("weight"), Self::WEIGHT_SHAPE, self.weight.as_flat_mut());
                if BIAS {
                    f(&Key::leaf("bias"), Self::BIAS_SHAPE, &mut self.bias);
                }
            }

            fn visit_counters(&self, _: &mut VisitCounter<'_>) {}

            fn visit_counters_mut(&mut self, _: &mut VisitCounterMut<'_>) {}
        }

        /// Under PyTorch's names, `weight` as nested arrays in its shape,
        /// `bias` only when `BIAS` (feature `serde`).
        #[cfg(feature = "serde")]
        impl<$($generics)*, const BIAS: bool, T: Float + serde::Serialize> serde::Serialize
            for $layer<$($args),*, BIAS, T>
        {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use crate::serde_layer::{field, serialize};
                let fields = [field("weight", &self.weight), field("bias", &self.bias)];
                let name = stringify!($layer);
                serialize::<S, T>(serializer, name, &fields[..1 + BIAS as usize], &[])
            }
        }

        /// Missing, unknown or duplicate fields and wrong lengths are errors;
        /// without `BIAS`, a `bias` field is unknown (feature `serde`).
        #[cfg(feature = "serde")]
        impl<'de, $($generics)*, const BIAS: bool, T: Float + serde::Deserialize<'de>>
            serde::Deserialize<'de> for $layer<$($args),*, BIAS, T>
        {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                use crate::serde_layer::{deserialize, field_mut};
                let mut layer = Self::new();
                let mut fields = [
                    field_mut("weight", &mut layer.weight),
                    field_mut("bias", &mut layer.bias),
                ];
                let name = stringify!($layer);
                deserialize::<D, T>(deserializer, name, &mut fields[..1 + BIAS as usize], &mut [])?;
                Ok(layer)
            }
        }
    )*};
}

conv_layers! {
    /// A 1-d convolution, PyTorch's `torch.nn.Conv1d(C_IN, C_OUT, K,
    /// STRIDE, PAD, DILATION, GROUPS, BIAS)` on inputs of length `L`
    /// (`padding = "same"`: `PAD = same_padding(K, DILATION).left`,
    /// `OUT_L = L`); see [`conv1d_forward`](conv::conv1d_forward) for the
    /// formula.
    Conv1d,
        [const C_IN: usize, const C_OUT: usize, const GROUPS: usize,
         const C_IN_PER_GROUP: usize, const L: usize, const OUT_L: usize, const K: usize,
         const STRIDE: usize, const PAD: usize, const DILATION: usize],
        [C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, L, OUT_L, K, STRIDE, PAD, DILATION],
        x = [[T; L]; C_IN], y = [[T; OUT_L]; C_OUT], weight = [[[T; K]; C_IN_PER_GROUP]; C_OUT],
        kernels = conv1d_forward, conv1d_backward,
        check = is_conv_out_len(L, OUT_L, K, STRIDE, PAD, DILATION),
            "Conv1d: OUT_L must be conv_out_len(L, K, STRIDE, Padding::symmetric(PAD), DILATION), or L for padding \"same\"";
    /// A 2-d convolution, PyTorch's `torch.nn.Conv2d(C_IN, C_OUT, (KH, KW),
    /// (STRIDE_H, STRIDE_W), (PAD_TOP, PAD_LEFT), (DILATION_H, DILATION_W),
    /// GROUPS, BIAS)` on `H x W` inputs (`padding = "same"`: the top and
    /// left padding [`same_padding`]'s, `OUT_H = H`, `OUT_W = W`); see
    /// [`conv2d_forward`](conv::conv2d_forward) for the formula.
    Conv2d,
        [const C_IN: usize, const C_OUT: usize, const GROUPS: usize,
         const C_IN_PER_GROUP: usize, const H: usize, const W: usize, const OUT_H: usize,
         const OUT_W: usize, const KH: usize, const KW: usize, const STRIDE_H: usize,
         const STRIDE_W: usize, const PAD_TOP: usize, const PAD_LEFT: usize,
         const DILATION_H: usize, const DILATION_W: usize],
        [C_IN, C_OUT, GROUPS, C_IN_PER_GROUP, H, W, OUT_H, OUT_W, KH, KW, STRIDE_H, STRIDE_W,
         PAD_TOP, PAD_LEFT, DILATION_H, DILATION_W],
        x = [[[T; W]; H]; C_IN], y = [[[T; OUT_W]; OUT_H]; C_OUT],
        weight = [[[[T; KW]; KH]; C_IN_PER_GROUP]; C_OUT],
        kernels = conv2d_forward, conv2d_backward,
        check = is_conv_out_len(H, OUT_H, KH, STRIDE_H, PAD_TOP, DILATION_H)
            && is_conv_out_len(W, OUT_W, KW, STRIDE_W, PAD_LEFT, DILATION_W),
            "Conv2d: OUT_H and OUT_W must be conv_out_len(..) of H and W with the padding on both sides, or H and W for padding \"same\"";
}

// SAFETY: `init_at` writes both fields, `weight` one output channel at a
// time (zeros) and `bias`, so a valid value, equal to `Default`, is left at
// `p`.
unsafe impl<T: Float, const K: usize, const C_IN_G: usize, const C_OUT: usize, const BIAS: bool>
    crate::network::InPlace for ConvGrads<[[[T; K]; C_IN_G]; C_OUT], C_OUT, BIAS>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
            core::ptr::addr_of_mut!((*p).bias).write([T::ZERO; C_OUT]);
        }
    }
}

// SAFETY: as the 1-d impl above, for a 2-d kernel.
unsafe impl<
    T: Float,
    const KW: usize,
    const KH: usize,
    const C_IN_G: usize,
    const C_OUT: usize,
    const BIAS: bool,
> crate::network::InPlace for ConvGrads<[[[[T; KW]; KH]; C_IN_G]; C_OUT], C_OUT, BIAS>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
            core::ptr::addr_of_mut!((*p).bias).write([T::ZERO; C_OUT]);
        }
    }
}
