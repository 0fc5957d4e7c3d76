//! Padding layers, 1-d and 2-d: PyTorch's `ReflectionPad1d` / `2d`,
//! `ReplicationPad1d` / `2d`, `ConstantPad1d` / `2d` and `ZeroPad1d` / `2d`,
//! with its asymmetric `(left, right[, top, bottom])` padding.
//!
//! Rows are channel-major, `[[T; L]; C]` and `[[[T; W]; H]; C]`; every
//! channel is padded alike. The padded sizes are const generics too (stable
//! Rust cannot compute them in a type) and must be `L + LEFT + RIGHT` (and
//! `H + TOP + BOTTOM`): a compile error otherwise, as is a reflection
//! padding of the input's length or more (PyTorch's rule: reflection never
//! repeats the edge value, so it reaches at most `L - 1` values in).
//!
//! Backward adds each output gradient into the input value it was read from
//! (reflected and replicated values take several), and a filled value
//! passes no gradient.
//!
//! Training vs inference: the same; no parameters, no state.

use super::{SavedRows, check_backward, check_forward};
use crate::{Float, Layer, NoGrads, NormError};
use core::fmt::Debug;
use core::marker::PhantomData;

/// What a padded position reads: [`Reflect`], [`Replicate`] or
/// [`Constant`].
pub trait PadMode: Copy + Debug + Default + PartialEq {
    /// The input index that output index `o` reads on an axis of `len`
    /// values padded by `before` in front, or `None` for the fill value.
    /// `o < before + len + after` and (for [`Reflect`]) `before, after <
    /// len`, which the layers check at compile time.
    fn source(o: usize, before: usize, len: usize) -> Option<usize>;

    /// Whether the padding must be less than the input's length (reflection).
    const PADDING_BELOW_LEN: bool = false;
}

/// Reflection without repeating the edge: `[a, b, c]` padded by 2 on both
/// sides is `[c, b, a, b, c, b, a]` (PyTorch's `ReflectionPad`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reflect;

/// The edge value repeated: `[a, b, c]` padded by 2 is `[a, a, a, b, c, c,
/// c]` (PyTorch's `ReplicationPad`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replicate;

/// A fill value, the layer's `value` (0 by default): PyTorch's
/// `ConstantPad` and `ZeroPad`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Constant;

impl PadMode for Reflect {
    const PADDING_BELOW_LEN: bool = true;

    #[inline]
    fn source(o: usize, before: usize, len: usize) -> Option<usize> {
        Some(if o < before {
            before - o
        } else if o - before < len {
            o - before
        } else {
            // o - before = len - 1 + k reads len - 1 - k.
            2 * (len - 1) + before - o
        })
    }
}

impl PadMode for Replicate {
    #[inline]
    fn source(o: usize, before: usize, len: usize) -> Option<usize> {
        Some(o.saturating_sub(before).min(len - 1))
    }
}

impl PadMode for Constant {
    #[inline]
    fn source(o: usize, before: usize, len: usize) -> Option<usize> {
        o.checked_sub(before).filter(|&i| i < len)
    }
}

/// Pads every channel of a `[[T; L]; C]` row by `LEFT` values in front and
/// `RIGHT` behind, into `[[T; LO]; C]` (`LO = L + LEFT + RIGHT`), as the
/// mode `M` says: use it through [`ReflectionPad1d`], [`ReplicationPad1d`],
/// [`ConstantPad1d`] or [`ZeroPad1d`]. Silero VAD's front end is
/// `ReflectionPad1d<1, 576, 0, 64, 640>` (PyTorch's `ReflectionPad1d((0,
/// 64))` on 576 samples).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad1d<
    M,
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T = f32,
> {
    /// The fill value of [`Constant`] padding (PyTorch's `value`); the other
    /// modes ignore it.
    pub value: T,
    marker: PhantomData<M>,
}

/// Pads every channel of a `[[[T; W]; H]; C]` row by `LEFT`, `RIGHT`
/// columns and `TOP`, `BOTTOM` rows (PyTorch's `(left, right, top,
/// bottom)`), into `[[[T; WO]; HO]; C]`, as the mode `M` says: use it
/// through [`ReflectionPad2d`], [`ReplicationPad2d`], [`ConstantPad2d`] or
/// [`ZeroPad2d`]. A reflected corner is reflected on both axes, as in
/// PyTorch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad2d<
    M,
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T = f32,
> {
    /// The fill value of [`Constant`] padding (PyTorch's `value`); the other
    /// modes ignore it.
    pub value: T,
    marker: PhantomData<M>,
}

/// `torch.nn.ReflectionPad1d((LEFT, RIGHT))` on `C` channels of `L`.
pub type ReflectionPad1d<
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T = f32,
> = Pad1d<Reflect, C, L, LEFT, RIGHT, LO, T>;
/// `torch.nn.ReplicationPad1d((LEFT, RIGHT))` on `C` channels of `L`.
pub type ReplicationPad1d<
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T = f32,
> = Pad1d<Replicate, C, L, LEFT, RIGHT, LO, T>;
/// `torch.nn.ConstantPad1d((LEFT, RIGHT), value)` on `C` channels of `L`
/// (the value: [`Pad1d::with_value`]; 0 by default).
pub type ConstantPad1d<
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T = f32,
> = Pad1d<Constant, C, L, LEFT, RIGHT, LO, T>;
/// `torch.nn.ZeroPad1d((LEFT, RIGHT))`: [`ConstantPad1d`] with its default
/// value 0.
pub type ZeroPad1d<
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T = f32,
> = Pad1d<Constant, C, L, LEFT, RIGHT, LO, T>;

/// `torch.nn.ReflectionPad2d((LEFT, RIGHT, TOP, BOTTOM))`.
pub type ReflectionPad2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T = f32,
> = Pad2d<Reflect, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>;
/// `torch.nn.ReplicationPad2d((LEFT, RIGHT, TOP, BOTTOM))`.
pub type ReplicationPad2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T = f32,
> = Pad2d<Replicate, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>;
/// `torch.nn.ConstantPad2d((LEFT, RIGHT, TOP, BOTTOM), value)` (the value:
/// [`Pad2d::with_value`]; 0 by default).
pub type ConstantPad2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T = f32,
> = Pad2d<Constant, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>;
/// `torch.nn.ZeroPad2d((LEFT, RIGHT, TOP, BOTTOM))`: [`ConstantPad2d`] with
/// its default value 0.
pub type ZeroPad2d<
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T = f32,
> = Pad2d<Constant, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>;

/// Compile-time checks of one padded axis.
const fn check_axis(len: usize, before: usize, after: usize, out: usize, below_len: bool) {
    assert!(len > 0, "padding: the input must not be empty");
    assert!(
        out == len + before + after,
        "padding: the output length must be the input's plus both paddings"
    );
    assert!(
        !below_len || (before < len && after < len),
        "reflection padding must be less than the input's length (PyTorch's rule)"
    );
}

/// `Parameters`, `StateDict` (nothing), `new`, `with_value`, `Default` and
/// serde (the fill value) of a padding layer.
macro_rules! pad_layer {
    ([$($generics:tt)*] $layer:ty) => {
        impl<$($generics)*> $layer {
            /// The layer, filling with 0 (used only by [`Constant`] padding).
            #[must_use]
            pub const fn new() -> Self {
                Self { value: T::ZERO, marker: PhantomData }
            }

            /// The layer filling with `value` (PyTorch's `ConstantPad`
            /// `value`).
            #[must_use]
            pub const fn with_value(value: T) -> Self {
                Self { value, marker: PhantomData }
            }
        }

        impl<$($generics)*> Default for $layer {
            fn default() -> Self {
                Self::new()
            }
        }

        // SAFETY: `init_at` writes the whole value (a fill value and a
        // zero-sized marker).
        unsafe impl<$($generics)*> crate::network::InPlace for $layer {
            #[inline]
            unsafe fn init_at(p: *mut Self) {
                // SAFETY: the caller's `p` is valid for writes and aligned.
                unsafe { p.write(Self::new()) }
            }
        }

        super::no_parameters!([$($generics)*] $layer, scalar = T);

        /// The fill value (feature `serde`).
        #[cfg(feature = "serde")]
        impl<$($generics)*> serde::Serialize for $layer {
            fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
                serializer.serialize_f64(self.value.to_f64())
            }
        }

        /// The fill value (feature `serde`).
        #[cfg(feature = "serde")]
        impl<'de, $($generics)*> serde::Deserialize<'de> for $layer {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <f64 as serde::Deserialize>::deserialize(deserializer)?;
                Ok(Self::with_value(T::from_f64(value)))
            }
        }
    };
}

pad_layer!([M: PadMode, const C: usize, const L: usize, const LEFT: usize, const RIGHT: usize, const LO: usize, T: Float] Pad1d<M, C, L, LEFT, RIGHT, LO, T>);
pad_layer!([M: PadMode, const C: usize, const H: usize, const W: usize, const LEFT: usize, const RIGHT: usize, const TOP: usize, const BOTTOM: usize, const HO: usize, const WO: usize, T: Float] Pad2d<M, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>);

impl<
    M: PadMode,
    const C: usize,
    const L: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const LO: usize,
    T: Float,
> Layer for Pad1d<M, C, L, LEFT, RIGHT, LO, T>
{
    type Input = [[T; L]; C];
    type Output = [[T; LO]; C];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[[[T; L]; C]],
        y: &mut [[[T; LO]; C]],
    ) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(
        &self,
        x: &[[[T; L]; C]],
        y: &mut [[[T; LO]; C]],
    ) -> Result<SavedRows, NormError> {
        const { check_axis(L, LEFT, RIGHT, LO, M::PADDING_BELOW_LEN) };
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().flatten().zip(y.iter_mut().flatten()) {
            for (o, y) in y.iter_mut().enumerate() {
                *y = M::source(o, LEFT, L).map_or(self.value, |i| x[i]);
            }
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[[[T; L]; C]],
        saved: &SavedRows,
        dy: &[[[T; LO]; C]],
        dx: &mut [[[T; L]; C]],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        const { check_axis(L, LEFT, RIGHT, LO, M::PADDING_BELOW_LEN) };
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for (dy, dx) in dy.iter().flatten().zip(dx.iter_mut().flatten()) {
            *dx = [T::ZERO; L];
            for (o, &dy) in dy.iter().enumerate() {
                if let Some(i) = M::source(o, LEFT, L) {
                    dx[i] += dy;
                }
            }
        }
        Ok(())
    }
}

impl<
    M: PadMode,
    const C: usize,
    const H: usize,
    const W: usize,
    const LEFT: usize,
    const RIGHT: usize,
    const TOP: usize,
    const BOTTOM: usize,
    const HO: usize,
    const WO: usize,
    T: Float,
> Layer for Pad2d<M, C, H, W, LEFT, RIGHT, TOP, BOTTOM, HO, WO, T>
{
    type Input = [[[T; W]; H]; C];
    type Output = [[[T; WO]; HO]; C];
    type Saved = SavedRows;
    const EVAL_PER_ROW: bool = true;

    #[inline]
    fn forward_train(
        &mut self,
        x: &[[[[T; W]; H]; C]],
        y: &mut [[[[T; WO]; HO]; C]],
    ) -> Result<SavedRows, NormError> {
        self.forward_eval(x, y)
    }

    #[inline]
    fn forward_eval(
        &self,
        x: &[[[[T; W]; H]; C]],
        y: &mut [[[[T; WO]; HO]; C]],
    ) -> Result<SavedRows, NormError> {
        const {
            check_axis(H, TOP, BOTTOM, HO, M::PADDING_BELOW_LEN);
            check_axis(W, LEFT, RIGHT, WO, M::PADDING_BELOW_LEN);
        };
        let saved = check_forward(x.len(), y.len())?;
        for (x, y) in x.iter().flatten().zip(y.iter_mut().flatten()) {
            for (oh, y) in y.iter_mut().enumerate() {
                let Some(h) = M::source(oh, TOP, H) else {
                    *y = [self.value; WO];
                    continue;
                };
                for (ow, y) in y.iter_mut().enumerate() {
                    *y = M::source(ow, LEFT, W).map_or(self.value, |w| x[h][w]);
                }
            }
        }
        Ok(saved)
    }

    #[inline]
    fn backward(
        &self,
        x: &[[[[T; W]; H]; C]],
        saved: &SavedRows,
        dy: &[[[[T; WO]; HO]; C]],
        dx: &mut [[[[T; W]; H]; C]],
        _: &mut NoGrads,
    ) -> Result<(), NormError> {
        const {
            check_axis(H, TOP, BOTTOM, HO, M::PADDING_BELOW_LEN);
            check_axis(W, LEFT, RIGHT, WO, M::PADDING_BELOW_LEN);
        };
        check_backward(*saved, x.len(), dy.len(), dx.len())?;
        for (dy, dx) in dy.iter().flatten().zip(dx.iter_mut().flatten()) {
            *dx = [[T::ZERO; W]; H];
            for (oh, dy) in dy.iter().enumerate() {
                let Some(h) = M::source(oh, TOP, H) else {
                    continue;
                };
                for (ow, &dy) in dy.iter().enumerate() {
                    if let Some(w) = M::source(ow, LEFT, W) {
                        dx[h][w] += dy;
                    }
                }
            }
        }
        Ok(())
    }
}
