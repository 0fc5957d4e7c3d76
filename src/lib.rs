#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

pub use norm_macros::{
    avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d, network, normalize,
};
#[cfg(feature = "ndarray")]
pub use norm_runtime::NormalizationNdarray;
pub use norm_runtime::{
    AffineGrads, BatchSaved, ChannelStats, Float, Folded, FoundShape, GradSums, Gradients,
    InstanceSaved, Key, Layer, LayerSaved, Mode, Network, NoGrads, NormError, Normalization,
    Parameters, Row, RowSaved, StateDict, Visit, VisitCounter, VisitCounterMut, VisitMut,
    WeightGrads, nn, rand,
};

/// PyTorch state dicts in safetensors files (feature `safetensors`).
#[cfg(feature = "safetensors")]
pub use norm_runtime::safetensors_io as safetensors;

#[cfg(feature = "mpi")]
pub mod mpi;

#[cfg(feature = "models")]
pub mod models;

// The generated code names `::constnorm`, in this crate's own models too.
#[cfg(feature = "models")]
extern crate self as constnorm;

/// The runtime crate, for its numeric [`kernels`](norm_runtime::kernels).
pub use norm_runtime as runtime;

/// The type of a stacked or bidirectional recurrent layer, with PyTorch's
/// arguments: `stacked!(GruCell<I, H>, steps = S, layers = L,
/// bidirectional = true)` is `nn::GRU(I, H, num_layers=L,
/// bidirectional=True, batch_first=True)` over `S` steps, that is
/// [`nn::Stacked`]`<GruCell<I, H>, GruCell<{2 * H}, H>, S, 2, {L - 1}>`
/// with the upper layers' input size and the counts worked out. Any cell
/// type with input and hidden size as its first two arguments
/// (`RnnCell`, `GruCell`, `LstmCell`, `LnLstmCell`, `LnGruCell`; their
/// other arguments, single tokens such as `f64`, `false` or `ReluFn`,
/// follow as usual).
/// `bidirectional` defaults to `false`; sizes are literals or constants.
///
/// ```
/// use constnorm::nn::{GruCell, LstmCell, Stacked};
/// type BiGru = constnorm::stacked!(GruCell<12, 32>, steps = 20, layers = 2, bidirectional = true);
/// let _: Stacked<GruCell<12, 32>, GruCell<64, 32>, 20, 2, 1> = BiGru::default();
/// type Lstm3 = constnorm::stacked!(LstmCell<8, 16, f64, false>, steps = 5, layers = 3);
/// let _: Stacked<LstmCell<8, 16, f64, false>, LstmCell<16, 16, f64, false>, 5, 1, 2> =
///     Lstm3::default();
/// ```
#[macro_export]
macro_rules! stacked {
    (
        $cell:ident < $i:tt, $h:tt $(, $rest:tt)* $(,)? >,
        steps = $s:tt, layers = $l:tt $(, bidirectional = $bi:tt)? $(,)?
    ) => {
        $crate::nn::Stacked<
            $cell<$i, $h $(, $rest)*>,
            $cell<{ $crate::__directions!($($bi)?) * $h }, $h $(, $rest)*>,
            $s,
            { $crate::__directions!($($bi)?) },
            { $l - 1 },
        >
    };
}

/// `stacked!`'s directions: 2 when `bidirectional = true`, else 1. Not a
/// public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __directions {
    () => {
        1
    };
    (true) => {
        2
    };
    (false) => {
        1
    };
}

/// `Serialize` and `Deserialize` for a generated layer when constnorm's
/// `serde` feature is on (the generated code always invokes it; the feature
/// that counts is constnorm's, not the user crate's). Not a public API.
#[cfg(feature = "serde")]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_serde {
    ($ty:ident, $scalar:ty, [$($array:ident),*], [$($counter:ident),*]) => {
        #[automatically_derived]
        impl $crate::__private::serde_layer::serde::Serialize for $ty {
            #[inline]
            fn serialize<S>(&self, serializer: S) -> ::core::result::Result<S::Ok, S::Error>
            where
                S: $crate::__private::serde_layer::serde::Serializer,
            {
                $crate::__private::serde_layer::serialize::<S, $scalar>(
                    serializer,
                    ::core::stringify!($ty),
                    &[$($crate::__private::serde_layer::field(::core::stringify!($array), &self.$array)),*],
                    &[$((::core::stringify!($counter), self.$counter)),*],
                )
            }
        }

        #[automatically_derived]
        impl<'de> $crate::__private::serde_layer::serde::Deserialize<'de> for $ty {
            #[inline]
            fn deserialize<D>(deserializer: D) -> ::core::result::Result<Self, D::Error>
            where
                D: $crate::__private::serde_layer::serde::Deserializer<'de>,
            {
                let mut layer = Self::new();
                $crate::__private::serde_layer::deserialize::<D, $scalar>(
                    deserializer,
                    ::core::stringify!($ty),
                    &mut [$($crate::__private::serde_layer::field_mut(::core::stringify!($array), &mut layer.$array)),*],
                    &mut [$((::core::stringify!($counter), &mut layer.$counter)),*],
                )?;
                ::core::result::Result::Ok(layer)
            }
        }
    };
}

/// Without constnorm's `serde` feature: nothing. Not a public API.
#[cfg(not(feature = "serde"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_serde {
    ($($ignored:tt)*) => {};
}

/// Its input with constnorm's `std` feature, nothing without. Not a public
/// API.
#[cfg(feature = "std")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($item:tt)*) => { $($item)* };
}

/// Without constnorm's `std` feature: nothing. Not a public API.
#[cfg(not(feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_std {
    ($($item:tt)*) => {};
}

/// What the generated code names; not a public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "std")]
    pub use norm_runtime::boxed;
    pub use norm_runtime::kernels::batch::Running;
    pub use norm_runtime::kernels::{Affine, GradsMut, batch, instance, rows};
    pub use norm_runtime::rand;
    #[cfg(feature = "serde")]
    pub use norm_runtime::serde_layer;
    pub use norm_runtime::shape_of;
    pub use norm_runtime::{
        InPlace, SameScalar, add_assign, eval_tile, fill_rows, max_rows, residual_add,
        residual_add_rows,
    };
    #[cfg(feature = "std")]
    pub use std::boxed::Box;
}
