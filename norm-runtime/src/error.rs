//! The error type of every fallible runtime call.

use core::fmt;

/// Why a forward or backward call was refused.
///
/// A call that returns an error has changed nothing: the layer's running
/// statistics, `num_batches_tracked`, and the caller's gradient accumulators
/// are exactly as they were. Output buffers are untouched too, except after
/// [`NormError::NonFiniteStatistics`], where `y` may hold the batch's
/// non-finite outputs.
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
    /// An `ndarray` argument of shape `(batch, features)` does not have the
    /// layer's number of features per example.
    ShapeMismatch {
        /// The argument's name (`"x"` or `"dy"`).
        argument: &'static str,
        /// The number of values one example must have.
        expected_features: usize,
        /// The shape found.
        found: [usize; 2],
    },
    /// An `ndarray` argument of shape `(batch, ...)` does not have one
    /// example of the layer's row shape per batch entry.
    RowShapeMismatch {
        /// The argument's name (`"x"` or `"dy"`).
        argument: &'static str,
        /// The shape of one example (after the batch axis).
        expected: &'static [usize],
        /// The shape found, batch axis included.
        found: FoundShape,
    },
    /// A classification target is not a class index (`target >= classes`).
    TargetOutOfRange {
        /// The row of the target.
        row: usize,
        /// The target found.
        target: usize,
        /// The number of classes.
        classes: usize,
    },
    /// An embedding index is not a row of the table (`index >= len`).
    IndexOutOfRange {
        /// The index found.
        index: usize,
        /// Its position in the indices given (flattened, for sequences).
        position: usize,
        /// The number of rows of the table (`num_embeddings`).
        len: usize,
    },
    /// A network's `backward` was called before a forward pass filled the
    /// workspace.
    NoForwardPass,
    /// A training pass of a layer that tracks running statistics (batch
    /// norm, SyncBatchNorm, instance norm with `track_running_stats`) found
    /// a channel whose batch mean or variance is NaN or infinite: the batch
    /// holds a NaN or an infinity, or values whose squares overflow. The
    /// running statistics and `num_batches_tracked` are unchanged, so one
    /// bad batch cannot ruin every later inference (PyTorch would store the
    /// NaN); `y` may hold the batch's non-finite outputs. Inference passes do
    /// not check: NaN in gives NaN out.
    NonFiniteStatistics {
        /// The first such channel.
        channel: usize,
    },
    /// A query of self-attention may attend to no key: the key padding mask,
    /// with the causal mask if the layer has one, masks every key it could
    /// see (PyTorch's softmax returns NaN there).
    FullyMaskedQuery {
        /// The example (row of the batch).
        row: usize,
        /// The first query position with every key masked.
        query: usize,
    },
    /// A float attention mask holds a NaN or `+inf` (`-inf` masks a key).
    NonFiniteMask {
        /// The flat index of the first such value.
        index: usize,
    },
    /// A sequence length is past the sequence's steps, or 0 where a
    /// sequence must have a step (a recurrent layer's lengths are in
    /// `1..=steps`, as PyTorch's `pack_padded_sequence` takes them; a masked
    /// batch norm's in `0..=steps`).
    LengthOutOfRange {
        /// The example (row of the batch).
        row: usize,
        /// The length found.
        length: usize,
        /// The steps of a sequence.
        steps: usize,
    },
}

/// The shape of an array argument, kept without allocating (the first
/// [`FoundShape::KEPT`] dims, and the rank).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FoundShape {
    dims: [usize; FoundShape::KEPT],
    rank: usize,
}

impl FoundShape {
    /// How many dims are kept.
    pub const KEPT: usize = 8;

    /// Records a shape.
    #[must_use]
    pub fn new(shape: &[usize]) -> Self {
        let mut dims = [0; Self::KEPT];
        for (d, s) in dims.iter_mut().zip(shape) {
            *d = *s;
        }
        Self {
            dims,
            rank: shape.len(),
        }
    }

    /// The number of dims.
    #[must_use]
    pub const fn rank(&self) -> usize {
        self.rank
    }

    /// The dims kept (all of them up to rank 8).
    #[must_use]
    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank.min(Self::KEPT)]
    }
}

impl fmt::Display for FoundShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, d) in self.dims().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        if self.rank > Self::KEPT {
            f.write_str(", ...")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for NormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NonFiniteStatistics { channel } => write!(
                f,
                "the batch statistics of channel {channel} are not finite (a NaN or an \
                 infinity in the batch, or values too large to square): the running \
                 statistics were not updated"
            ),
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
            Self::RowShapeMismatch {
                argument,
                expected,
                found,
            } => {
                write!(
                    f,
                    "`{argument}` has shape {found} but the layer expects (batch"
                )?;
                for d in expected {
                    write!(f, ", {d}")?;
                }
                f.write_str(")")
            }
            Self::TargetOutOfRange {
                row,
                target,
                classes,
            } => write!(
                f,
                "target {target} of row {row} is not a class index: there are {classes} classes (0..{classes})"
            ),
            Self::IndexOutOfRange {
                index,
                position,
                len,
            } => write!(
                f,
                "index {index} at position {position} is out of range: the embedding has {len} rows (0..{len})"
            ),
            Self::LengthOutOfRange { row, length, steps } => write!(
                f,
                "example {row} has length {length}, out of range for sequences of {steps} steps"
            ),
            Self::NoForwardPass => f.write_str(
                "backward needs the saved values of a forward pass: run forward_train or forward_eval on this workspace first",
            ),
            Self::FullyMaskedQuery { row, query } => write!(
                f,
                "query {query} of row {row} may attend to no key: the masks (key padding, causal, attn_mask) \
                 mask every key it could see, and a softmax over no keys is NaN; \
                 leave at least one key unmasked for every query (the first key, under a causal mask)"
            ),
            Self::NonFiniteMask { index } => write!(
                f,
                "attn_mask holds NaN or +inf at flat index {index}: a float mask is added to the scores \
                 (use -inf to mask a key)"
            ),
        }
    }
}

impl core::error::Error for NormError {}
