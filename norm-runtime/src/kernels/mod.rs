//! Numeric kernels the generated layers call.
//!
//! Every kernel is generic over the row type (an array of the layer's exact
//! size) and takes the layer's geometry as constants, so each generated layer
//! gets its own copy, specialized to its sizes. They take the layer's arrays
//! by reference and allocate nothing.
//!
//! - [`rows`]: statistics of contiguous segments of each row: layer norm
//!   (the whole row), RMS norm (the whole row, not centred), group norm (one
//!   segment per group of channels) and instance norm (one per channel).
//! - [`batch`]: statistics of each channel over the batch and its spatial
//!   positions, with running averages for inference.
//! - [`fold`]: batch norm's inference pass folded into one multiply-add per
//!   value.
//! - [`sync`]: batch norm with the statistics of a batch split across
//!   data-parallel workers (PyTorch's `SyncBatchNorm`).
//! - [`instance`]: instance norm that also tracks running statistics.
//! - [`conv`]: 1-d and 2-d convolution (`Conv1d`, `Conv2d`).
//! - [`pool`]: 1-d and 2-d max and average pools, and global pools.
//! - [`matvec`]: matrix-vector products for one example (recurrent cells,
//!   attention).
//! - [`window`]: output lengths and padding of sliding windows, as `const fn`.
//!
//! ([`batch`] also re-exports the public items of [`fold`] and [`sync`],
//! which were first written there.)
//!
//! Small `f32` batches are computed in `f64` and rounded once (the private
//! `straight` kernels). Otherwise statistics are computed in the layer's own
//! type with a rough mean, deviation sums (the corrected two-pass algorithm)
//! and the mean kept as an unevaluated sum `hi + lo` (details in [`rows`]):
//! stable for inputs far from zero, and a constant input gives exactly zero
//! variance and exactly the bias. Large batches run code compiled for AVX2 +
//! FMA when the CPU has it.
//!
//! What the kinds share sits in private modules, never in one kind's file:
//! `reduce` (sums over independent lanes, multiply-add, Fast2Sum), `stats`
//! (mean and variance in the wider type when the layer's type overflows, and
//! the update of running averages) and `dispatch` (the size thresholds and
//! the macro that writes every SIMD-dispatched entry point).

// Index loops over lanes and channels are deliberate here: they walk several
// arrays in lockstep, a shape the compiler vectorizes.
#![allow(clippy::needless_range_loop)]

pub mod batch;
pub mod conv;
pub(crate) mod dispatch;
pub mod fold;
mod gemm;
pub mod instance;
mod layout;
pub mod matvec;
mod parallel;
pub mod pool;
pub(crate) mod reduce;
pub mod rows;
pub(crate) mod simd;
mod stats;
mod straight;
pub mod sync;
pub mod window;

use crate::{Float, NormError, Row};

/// The accumulator type of a scalar.
type Acc<T> = <T as Float>::Acc;

/// Flat views of the weight and bias, when present.
type FlatParams<'a, T> = (Option<&'a [T]>, Option<&'a [T]>);

/// The learned scale and shift, for the parameters the layer has. `P` is the
/// parameter array: the row type for layer and RMS norm, `[T; C]` (one per
/// channel) for the others.
#[derive(Debug)]
pub struct Affine<'a, P> {
    /// The scale (PyTorch's `weight`, gamma), if the layer has one.
    pub weight: Option<&'a P>,
    /// The shift (PyTorch's `bias`, beta), if the layer has one.
    pub bias: Option<&'a P>,
}

impl<P> Clone for Affine<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Affine<'_, P> {}

impl<'a, P: Row> Affine<'a, P> {
    /// The parameters as flat slices.
    #[inline]
    fn flat(self) -> FlatParams<'a, P::Scalar> {
        (self.weight.map(Row::as_flat), self.bias.map(Row::as_flat))
    }
}

/// Where backward accumulates the parameter gradients, for the parameters the
/// layer has.
#[derive(Debug)]
pub struct GradsMut<'a, P> {
    /// Accumulator of the `weight` gradient.
    pub weight: Option<&'a mut P>,
    /// Accumulator of the `bias` gradient.
    pub bias: Option<&'a mut P>,
}

/// Fails, naming the first, unless every argument `(name, rows)` has
/// `x_rows` rows.
#[inline]
pub(crate) fn check_same_rows(
    x_rows: usize,
    args: &[(&'static str, usize)],
) -> Result<(), NormError> {
    match args.iter().find(|(_, found)| *found != x_rows) {
        Some(&(argument, found)) => Err(NormError::RowCountMismatch {
            argument,
            expected: x_rows,
            found,
        }),
        None => Ok(()),
    }
}

/// Checks the arguments of a forward pass.
#[inline]
pub(crate) fn check_forward(x_rows: usize, y_rows: usize) -> Result<(), NormError> {
    check_same_rows(x_rows, &[("y", y_rows)])?;
    if x_rows == 0 {
        return Err(NormError::EmptyBatch);
    }
    Ok(())
}

/// Checks the arguments of a backward pass against the forward pass it undoes.
#[inline]
pub(crate) fn check_backward(
    saved_rows: usize,
    x_rows: usize,
    dy_rows: usize,
    dx_rows: usize,
) -> Result<(), NormError> {
    if x_rows != saved_rows {
        return Err(NormError::SavedRowsMismatch {
            expected: saved_rows,
            found: x_rows,
        });
    }
    check_same_rows(x_rows, &[("dy", dy_rows), ("dx", dx_rows)])
}
