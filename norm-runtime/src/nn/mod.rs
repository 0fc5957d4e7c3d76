//! The pieces around normalization layers that make a small network:
//! [`Linear`], the activations [`Relu`], [`Tanh`] and [`Gelu`], the losses
//! [`cross_entropy`] and [`mse`], and the optimizers [`Sgd`] and [`Adam`].
//! All have fixed sizes and allocate nothing; numerics follow PyTorch.
//!
//! `#[network]` (in `constnorm`) chains layers into a model; the optimizers
//! update any [`Parameters`], a single layer or a whole
//! network.

mod activation;
mod linear;
mod loss;
mod optim;

pub use activation::{Activation, Elementwise, Gelu, GeluFn, Relu, ReluFn, Tanh, TanhFn};
pub use linear::{Linear, LinearGrads};
pub use loss::{cross_entropy, mse};
pub use optim::{Adam, Sgd};

use crate::{NormError, Parameters};
use rand::SeedableRng;

/// What stateless layers ([`Linear`], the activations) save for backward:
/// the number of rows of the forward pass, so that backward can check it got
/// the same batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedRows {
    /// Rows of the forward pass.
    pub rows: usize,
}

/// Initializes every parameter of `model` from a generator seeded with
/// `seed`, as PyTorch's `reset_parameters` does (Kaiming-uniform for
/// `Linear`; weight 1, bias 0 for normalization layers). The same seed gives
/// the same parameters on every run and machine.
pub fn init_seeded<P: Parameters>(model: &mut P, seed: u64) {
    model.reset_parameters(&mut rand::rngs::StdRng::seed_from_u64(seed));
}

/// Checks a forward pass: as many output rows as input rows, at least one.
pub(crate) fn check_forward(x_rows: usize, y_rows: usize) -> Result<SavedRows, NormError> {
    crate::kernels::check_forward(x_rows, y_rows)?;
    Ok(SavedRows { rows: x_rows })
}

/// Checks a backward pass against the forward pass it undoes.
pub(crate) fn check_backward(
    saved: SavedRows,
    x_rows: usize,
    dy_rows: usize,
    dx_rows: usize,
) -> Result<(), NormError> {
    crate::kernels::check_backward(saved.rows, x_rows, dy_rows, dx_rows)
}
