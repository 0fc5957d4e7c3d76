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

impl SavedRows {
    /// The checks of a forward pass, for layers of your own: `y` has as many
    /// rows as `x`, and `x` at least one. Returns what backward checks
    /// against.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] (argument `"y"`) or
    /// [`NormError::EmptyBatch`].
    #[inline]
    pub fn check_forward(x_rows: usize, y_rows: usize) -> Result<Self, NormError> {
        crate::kernels::check_forward(x_rows, y_rows)?;
        Ok(Self { rows: x_rows })
    }

    /// The checks of a backward pass against the forward pass that saved
    /// `self`: `x` has its row count, `dy` and `dx` as many rows as `x`.
    ///
    /// # Errors
    /// [`NormError::SavedRowsMismatch`] or [`NormError::RowCountMismatch`]
    /// (argument `"dy"` or `"dx"`).
    #[inline]
    pub fn check_backward(
        self,
        x_rows: usize,
        dy_rows: usize,
        dx_rows: usize,
    ) -> Result<(), NormError> {
        crate::kernels::check_backward(self.rows, x_rows, dy_rows, dx_rows)
    }
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
    SavedRows::check_forward(x_rows, y_rows)
}

/// Checks a backward pass against the forward pass it undoes.
pub(crate) fn check_backward(
    saved: SavedRows,
    x_rows: usize,
    dy_rows: usize,
    dx_rows: usize,
) -> Result<(), NormError> {
    saved.check_backward(x_rows, dy_rows, dx_rows)
}
