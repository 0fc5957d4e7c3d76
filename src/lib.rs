#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

pub use norm_macros::normalize;
#[cfg(feature = "ndarray")]
pub use norm_runtime::NormalizationNdarray;
pub use norm_runtime::{
    AffineGrads, BatchSaved, Float, Folded, FoundShape, InstanceSaved, LayerSaved, Mode, NoGrads,
    NormError, Normalization, Row, RowSaved, WeightGrads,
};

/// The runtime crate, for its numeric [`kernels`](norm_runtime::kernels).
pub use norm_runtime as runtime;

/// What the generated code names; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use norm_runtime::kernels::batch::Running;
    pub use norm_runtime::kernels::{Affine, GradsMut, batch, instance, rows};
}
