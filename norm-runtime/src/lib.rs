//! Runtime of [constnorm](https://docs.rs/constnorm): the [`Normalization`]
//! trait every generated layer implements, its error type [`NormError`], and
//! the numeric [`kernels`] the generated code calls.
//!
//! Use it through the `constnorm` crate, whose `#[normalize]` attribute
//! generates the layers; this crate has no macro of its own.
//!
//! # Features
//! - `std` (default): square roots from the standard library; without it the
//!   crate is `#![no_std]` and takes them from `libm`.
//! - `ndarray` (default): [`NormalizationNdarray`], forward and backward on
//!   `ndarray` views.
//! - `safetensors`: the `safetensors_io` module, PyTorch state dicts in
//!   safetensors files.
//! - `serde`: the helpers behind the generated layers' `Serialize` and
//!   `Deserialize` impls.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

mod error;
mod float;
pub mod kernels;
#[cfg(feature = "ndarray")]
mod nd;
mod row;
#[cfg(feature = "safetensors")]
pub mod safetensors_io;
#[cfg(feature = "serde")]
#[doc(hidden)]
pub mod serde_layer;
mod state;
mod traits;

pub use error::{FoundShape, NormError};
pub use float::Float;
pub use kernels::batch::{BatchSaved, ChannelStats, Folded, GradSums};
pub use kernels::instance::InstanceSaved;
pub use kernels::rows::RowSaved;
#[cfg(feature = "ndarray")]
pub use nd::NormalizationNdarray;
pub use row::{Row, shape_of};
pub use state::{StateDict, Visit, VisitMut};
pub use traits::{AffineGrads, Mode, NoGrads, Normalization, WeightGrads};

/// The saved statistics of layer norm: per-row statistics, see [`RowSaved`].
pub type LayerSaved = RowSaved;
