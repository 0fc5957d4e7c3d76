//! The error type of every fallible runtime call.

use core::fmt;

/// Why a forward or backward call was refused.
///
/// A call that returns an error has changed nothing: the layer's running
/// statistics, `num_batches_tracked`, and the caller's gradient accumulators
/// are exactly as they were (output buffers may be partly written only where
/// documented, and in this version never are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NormError {
    /// An argument holds a different number of rows than `x`.
    RowCountMismatch {
        /// The argument's name (`"y"`, `"dy"` or `"dx"`).
        argument: &'static str,
        /// The number of rows of `x`.
        expected: usize,
        /// The number of rows of the argument.
        found: usize,
    },
    /// `backward` got an `x` with a different number of rows than the forward
    /// pass that produced its saved statistics.
    SavedRowsMismatch {
        /// Rows of the forward pass the statistics come from.
        expected: usize,
        /// Rows of the `x` given to `backward`.
        found: usize,
    },
    /// `x` has no rows.
    EmptyBatch,
    /// Batch-norm training saw a single value per channel, which has no
    /// variance. PyTorch raises "Expected more than 1 value per channel when
    /// training" for the same input.
    TooFewValuesPerChannel {
        /// Values each channel had (rows x spatial positions).
        values: usize,
    },
    /// An `ndarray` argument does not have one row per example with the
    /// layer's number of features.
    ShapeMismatch {
        /// The argument's name (`"x"` or `"dy"`).
        argument: &'static str,
        /// The number of values one example must have.
        expected_features: usize,
        /// The shape found.
        found: [usize; 2],
    },
}

impl fmt::Display for NormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::RowCountMismatch {
                argument,
                expected,
                found,
            } => write!(
                f,
                "`{argument}` has {found} rows but `x` has {expected}: they must match"
            ),
            Self::SavedRowsMismatch { expected, found } => write!(
                f,
                "`x` has {found} rows but the saved statistics come from a forward pass over {expected} rows: \
                 pass backward the same `x` as the forward call that returned them"
            ),
            Self::EmptyBatch => f.write_str("empty batch: `x` has no rows"),
            Self::TooFewValuesPerChannel { values } => write!(
                f,
                "Expected more than 1 value per channel when training, got {values}: \
                 batch norm needs at least 2 values per channel to estimate a variance \
                 (use a larger batch, or layer norm)"
            ),
            Self::ShapeMismatch {
                argument,
                expected_features,
                found,
            } => write!(
                f,
                "`{argument}` has shape ({}, {}) but the layer expects (batch, {expected_features})",
                found[0], found[1]
            ),
        }
    }
}

impl core::error::Error for NormError {}
