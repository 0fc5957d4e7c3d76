//! A lookup table of learned vectors.

use super::params::parameter_arrays;
use crate::{Float, NormError};
use rand::RngExt;

/// `y[i] = weight[indices[i]]`, PyTorch's `torch.nn.Embedding(NUM, DIM,
/// padding_idx)`: `weight` has PyTorch's layout `[NUM][DIM]` under the
/// state-dict key `"weight"` (shape `[NUM, DIM]`), and
/// [`reset_parameters`](crate::Parameters::reset_parameters) draws PyTorch's
/// initialization, every weight from N(0, 1), then zeroes the row at
/// `padding_idx`.
///
/// Indices are not rows of floats, so `Embedding` is not a
/// [`Layer`](crate::Layer): [`forward`](Self::forward) and
/// [`backward`](Self::backward) take a slice of indices (one output row per
/// index), and [`forward_seq`](Self::forward_seq) /
/// [`backward_seq`](Self::backward_seq) fixed-length sequences of them.
///
/// `padding_idx` works as in PyTorch: its row is looked up like any other
/// (it is zero only if nothing changed it since initialization) but never
/// gets a gradient. It is configuration, not state: the state dict and serde
/// hold `weight` only, and a deserialized layer has no `padding_idx`.
///
/// Training vs inference: the same (PyTorch's `max_norm`, which renormalizes
/// rows in the forward pass, and `scale_grad_by_freq` are not supported).
#[derive(Clone, Debug, PartialEq)]
pub struct Embedding<const NUM: usize, const DIM: usize, T: Float = f32> {
    /// `weight[i]`, the vector of index `i`: PyTorch's `[num_embeddings,
    /// embedding_dim]`.
    pub weight: [[T; DIM]; NUM],
    /// The index whose row gets no gradient (and is zeroed by
    /// `reset_parameters`), PyTorch's `padding_idx`; `None` for none.
    pub padding_idx: Option<usize>,
}

/// Gradient of an [`Embedding`]'s `weight`; `Default` is zeros.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingGrads<const NUM: usize, const DIM: usize, T: Float = f32> {
    /// Gradient of `weight`.
    pub weight: [[T; DIM]; NUM],
}

impl<const NUM: usize, const DIM: usize, T: Float> Embedding<NUM, DIM, T> {
    /// All weights zero, no `padding_idx`.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            weight: [[T::ZERO; DIM]; NUM],
            padding_idx: None,
        }
    }

    /// [`new`](Self::new) built straight on the heap, with no copy on the
    /// stack: for tables too large for it (50,000 words of 256 values are
    /// 49 MiB) in debug builds and on small thread stacks.
    #[cfg(feature = "std")]
    #[must_use]
    pub fn new_boxed() -> Box<Self> {
        crate::network::boxed::<Self>()
    }

    /// The layer with `padding_idx` set (PyTorch's non-negative
    /// `padding_idx`; a negative one `-k` is `NUM - k` here).
    ///
    /// # Panics
    /// If `padding_idx >= NUM`, as PyTorch's constructor refuses it.
    #[must_use]
    pub const fn with_padding_idx(mut self, padding_idx: usize) -> Self {
        assert!(padding_idx < NUM, "padding_idx must be below NUM");
        self.padding_idx = Some(padding_idx);
        self
    }

    /// Looks up one row per index: `y[i] = weight[indices[i]]`.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] (argument `"y"`) if `y` does not have
    /// one row per index, [`NormError::EmptyBatch`] if there are no
    /// indices, [`NormError::IndexOutOfRange`] for the first index `>= NUM`.
    /// Nothing is written then.
    #[inline]
    pub fn forward(&self, indices: &[usize], y: &mut [[T; DIM]]) -> Result<(), NormError> {
        super::check_forward(indices.len(), y.len())?;
        check_indices::<NUM>(indices)?;
        for (i, y) in indices.iter().zip(y) {
            *y = self.weight[*i];
        }
        Ok(())
    }

    /// Adds (`+=`) `dy[i]` to the gradient of row `indices[i]`, for every
    /// `i` (so the rows of repeated indices add up), except the row of
    /// `padding_idx`.
    ///
    /// # Errors
    /// [`NormError::RowCountMismatch`] (argument `"dy"`) if `dy` does not
    /// have one row per index, [`NormError::IndexOutOfRange`] for the first
    /// index `>= NUM`. `grads` is untouched then.
    #[inline]
    pub fn backward(
        &self,
        indices: &[usize],
        dy: &[[T; DIM]],
        grads: &mut EmbeddingGrads<NUM, DIM, T>,
    ) -> Result<(), NormError> {
        check_rows("dy", indices.len(), dy.len())?;
        check_indices::<NUM>(indices)?;
        for (i, dy) in indices.iter().zip(dy) {
            if Some(*i) == self.padding_idx {
                continue;
            }
            for (g, d) in grads.weight[*i].iter_mut().zip(dy) {
                *g += *d;
            }
        }
        Ok(())
    }

    /// [`forward`](Self::forward) on sequences of `S` indices (PyTorch's
    /// input of shape `(N, S)`, output `(N, S, DIM)`).
    ///
    /// # Errors
    /// As [`forward`](Self::forward), with rows counted as sequences; the
    /// position of an index out of range is in `indices.as_flattened()`
    /// (`row * S + step`).
    #[inline]
    pub fn forward_seq<const S: usize>(
        &self,
        indices: &[[usize; S]],
        y: &mut [[[T; DIM]; S]],
    ) -> Result<(), NormError> {
        super::check_forward(indices.len(), y.len())?;
        self.forward(indices.as_flattened(), y.as_flattened_mut())
    }

    /// [`backward`](Self::backward) on sequences of `S` indices.
    ///
    /// # Errors
    /// As [`backward`](Self::backward), with rows counted as sequences; the
    /// position of an index out of range is in `indices.as_flattened()`.
    #[inline]
    pub fn backward_seq<const S: usize>(
        &self,
        indices: &[[usize; S]],
        dy: &[[[T; DIM]; S]],
        grads: &mut EmbeddingGrads<NUM, DIM, T>,
    ) -> Result<(), NormError> {
        check_rows("dy", indices.len(), dy.len())?;
        self.backward(indices.as_flattened(), dy.as_flattened(), grads)
    }
}

impl<const NUM: usize, const DIM: usize, T: Float> Default for Embedding<NUM, DIM, T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Fails unless `argument` has one row per index.
#[inline]
fn check_rows(argument: &'static str, indices: usize, found: usize) -> Result<(), NormError> {
    if found == indices {
        Ok(())
    } else {
        Err(NormError::RowCountMismatch {
            argument,
            expected: indices,
            found,
        })
    }
}

/// Fails at the first index that is not below `NUM`.
#[inline]
fn check_indices<const NUM: usize>(indices: &[usize]) -> Result<(), NormError> {
    match indices.iter().position(|&i| i >= NUM) {
        Some(position) => Err(NormError::IndexOutOfRange {
            index: indices[position],
            position,
            len: NUM,
        }),
        None => Ok(()),
    }
}

/// A standard normal value by the Box-Muller transform (in `f64`, with
/// `libm`, so it is the same with and without `std`).
fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
}

parameter_arrays! {
    impl[const NUM: usize, const DIM: usize, T: Float] Embedding<NUM, DIM, T>,
    grads EmbeddingGrads<NUM, DIM, T>, scalar T, name "Embedding";
    reset(layer, rng) {
        for v in layer.weight.as_flattened_mut() {
            *v = T::from_f64(standard_normal(rng));
        }
        if let Some(row) = layer.padding_idx.and_then(|i| layer.weight.get_mut(i)) {
            *row = [T::ZERO; DIM];
        }
    }
    weight: "weight", shape [NUM, DIM];
}

// SAFETY: `init_at` writes both fields, `weight` row by row (zeros) and
// `padding_idx` (`None`), so a valid layer, equal to `new()`, is left at `p`.
unsafe impl<const NUM: usize, const DIM: usize, T: Float> crate::network::InPlace
    for Embedding<NUM, DIM, T>
{
    #[inline]
    unsafe fn init_at(p: *mut Self) {
        // SAFETY: the caller's `p` is valid for writes and aligned, and so is
        // each field's place in it.
        unsafe {
            crate::network::fill_rows(core::ptr::addr_of_mut!((*p).weight));
            core::ptr::addr_of_mut!((*p).padding_idx).write(None);
        }
    }
}
