//! Runtime of [constnorm](https://docs.rs/constnorm): the [`Layer`],
//! [`Parameters`] and [`Normalization`] traits every generated layer
//! implements, the network pieces in [`nn`], its error type [`NormError`], and
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
//! - `mpi`: the `mpi_sync` module, SyncBatchNorm across processes over MPI.
//! - `serde`: the helpers behind the generated layers' `Serialize` and
//!   `Deserialize` impls.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

mod error;
mod float;
pub mod kernels;
#[cfg(feature = "mpi")]
pub mod mpi_sync;
#[cfg(feature = "ndarray")]
mod nd;
mod network;
pub mod nn;
#[cfg(feature = "std")]
pub mod npy;
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
pub use kernels::batch::BatchSaved;
pub use kernels::fold::Folded;
pub use kernels::instance::InstanceSaved;
pub use kernels::rows::RowSaved;
pub use kernels::sync::{ChannelStats, GradSums};
#[cfg(feature = "ndarray")]
pub use nd::NormalizationNdarray;
#[cfg(feature = "std")]
pub use network::boxed;
pub use network::{
    InPlace, Network, SameScalar, add_assign, eval_tile, fill_rows, max_rows, residual_add,
    residual_add_rows,
};
pub use row::{Row, shape_of};
pub use state::{Key, StateDict, Visit, VisitCounter, VisitCounterMut, VisitMut};
pub use traits::{
    AffineGrads, Gradients, Layer, Mode, NoGrads, Normalization, Parameters, WeightGrads,
};

/// The random-number crate [`Parameters::reset_parameters`] takes a generator from.
pub use rand;

/// The saved statistics of layer norm: per-row statistics, see [`RowSaved`].
pub type LayerSaved = RowSaved;
